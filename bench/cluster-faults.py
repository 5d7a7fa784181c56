#!/usr/bin/env python3
"""Faults under load for `parley serve --cluster`: nothing acknowledged may be lost.

Starts its own nats-server (JetStream, temporary store) and three nodes, runs senders on every
node (each reconnecting to the next node when its own dies), then SIGKILLs a node mid-run
KILLS times (restarting it each time), then SIGKILLs nats-server and restarts it on the same
store. At the end it pages every room's whole history from one node and checks that every
acknowledged message is there exactly once, with the id its ack gave.

Usage: bench/cluster-faults.py [KILLS] [RATE_PER_SENDER]
Environment: PARLEY (default: the Release build), NATS (default: nats-server). Ports 19850-19853.
"""
import json, os, signal, socket, subprocess, sys, tempfile, threading, time

KILLS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
RATE = float(sys.argv[2]) if len(sys.argv) > 2 else 50
PARLEY = os.environ.get("PARLEY", "src/Parley.Cli/bin/Release/net10.0/parley")
NATS = os.environ.get("NATS", "nats-server")
NATS_PORT, PORTS = 19850, [19851, 19852, 19853]
ROOMS = ["general", "random", "help"]
work = tempfile.mkdtemp(prefix="parley-faults-")
procs = {}

def start_nats():
    procs["nats"] = subprocess.Popen([NATS, "-js", "-a", "127.0.0.1", "-p", str(NATS_PORT), "-sd", f"{work}/js"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(NATS_PORT)

def start_node(i):
    procs[i] = subprocess.Popen([PARLEY, "serve", "--port", str(PORTS[i]), "--web-port", "0", "--data", f"{work}/n{i}",
                                 "--cluster", f"nats://127.0.0.1:{NATS_PORT}", "--node-name", f"n{i}",
                                 "--log-level", "Warning", "--summary-interval", "3600"],
                                stdout=subprocess.DEVNULL, stderr=open(f"{work}/n{i}.log", "a"))
    wait_port(PORTS[i])

def wait_port(port):
    for _ in range(400):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close(); return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"port {port} never opened")

class Sender(threading.Thread):
    def __init__(self, n):
        super().__init__(daemon=True)
        self.n, self.node, self.room = n, n % 3, ROOMS[n % 3]
        self.acked, self.errors, self.maybe, self.unconfirmed, self.reconnects = {}, 0, 0, 0, 0
        self.stop = False
    def connect(self):
        while not self.stop:
            try:
                s = socket.create_connection(("127.0.0.1", PORTS[self.node]), timeout=2)
                f = s.makefile("rwb"); s.settimeout(None)
                self.read(f, "login_successful")
                f.write((json.dumps({"_ct": "join_room", "r": self.room}) + "\n").encode()); f.flush()
                self.read(f, "user_joined_room")
                return s, f
            except (OSError, ValueError, ConnectionError):
                self.node = (self.node + 1) % 3; time.sleep(0.2)
    def read(self, f, et):
        while True:
            line = f.readline()
            if not line: raise ConnectionError("closed")
            e = json.loads(line)
            if e["_et"] == et: return e
    def run(self):
        seq = 0
        while not self.stop:
            s, f = self.connect()
            inflight = {}
            def reader():
                try:
                    for line in f:
                        e = json.loads(line)
                        if e["_et"] == "message_ack":
                            self.acked[inflight.pop(e["ref"])] = e["id"]
                        elif e["_et"] == "error" and e.get("ct") == "send_message":
                            inflight.pop(e.get("ref"), None); self.errors += 1
                            if "may still be stored" in e["message"]: self.maybe += 1
                except (OSError, ValueError):
                    pass
            t = threading.Thread(target=reader, daemon=True); t.start()
            try:
                while not self.stop:
                    seq += 1; content = f"s{self.n}-{seq}"; inflight[seq] = content
                    f.write((json.dumps({"_ct": "send_message", "r": self.room, "c": content, "ref": seq}) + "\n").encode()); f.flush()
                    time.sleep(1 / RATE)
                    if not t.is_alive(): raise ConnectionError("reader ended")
                time.sleep(1.5)  # the last acks
            except (OSError, ConnectionError):
                pass
            s.close(); t.join(2)
            self.unconfirmed += len(inflight)  # lost with the connection: maybe stored, not acked
            if not self.stop:
                self.reconnects += 1; self.node = (self.node + 1) % 3

def history(port, room):
    s = socket.create_connection(("127.0.0.1", port)); f = s.makefile("rwb")
    def read(et):
        while True:
            e = json.loads(f.readline())
            if e["_et"] == et: return e
    read("login_successful"); out = []; before = None
    while True:
        cmd = {"_ct": "history", "r": room, "limit": 200}
        if before is not None: cmd["before"] = before
        f.write((json.dumps(cmd) + "\n").encode()); f.flush()
        page = read("history"); out = page["ms"] + out
        if not page["more"] or not page["ms"]: break
        before = page["ms"][0]["id"]
    s.close(); return out

try:
    start_nats()
    for i in range(3): start_node(i)
    time.sleep(2)
    senders = [Sender(n) for n in range(6)]
    for x in senders: x.start()
    time.sleep(3)
    for k in range(KILLS):
        victim = k % 3
        procs[victim].send_signal(signal.SIGKILL); procs[victim].wait()
        print(f"kill {k + 1}: node n{victim} SIGKILLed", flush=True)
        time.sleep(2); start_node(victim); time.sleep(3)
    procs["nats"].send_signal(signal.SIGKILL); procs["nats"].wait()
    print("nats-server SIGKILLed", flush=True)
    time.sleep(2); start_nats(); print("nats-server restarted on the same store", flush=True)
    time.sleep(6)
    for x in senders: x.stop = True
    for x in senders: x.join(10)
    time.sleep(1)
    stored = {}
    for room in ROOMS:
        for m in history(PORTS[0], room):
            stored.setdefault(m["c"], []).append(m["id"])
    acked = {c: i for x in senders for c, i in x.acked.items()}
    missing = [c for c in acked if c not in stored]
    wrong_id = [c for c, i in acked.items() if c in stored and i not in stored[c]]
    twice = [c for c, ids in stored.items() if len(ids) > 1]
    print(json.dumps({
        "kills": KILLS, "acked": len(acked), "stored": sum(len(v) for v in stored.values()),
        "acked_missing": len(missing), "acked_wrong_id": len(wrong_id), "stored_twice": len(twice),
        "refused_unavailable": sum(x.errors for x in senders), "refused_may_be_stored": sum(x.maybe for x in senders),
        "unconfirmed_at_disconnect": sum(x.unconfirmed for x in senders), "reconnects": sum(x.reconnects for x in senders),
    }))
    sys.exit(1 if missing or wrong_id or twice else 0)
finally:
    for p in procs.values():
        if p.poll() is None: p.kill()
