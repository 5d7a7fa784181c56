#!/usr/bin/env python3
"""Idle keep-alive connections against an HTTP server, and what they cost it.

python3 bench/clients/http_idle.py PARLEY_BINARY [COUNT]   (starts `parley http` itself)

Starts `parley http` over an empty-ish folder on a free port, measures its RSS, opens COUNT
keep-alive connections, sends one GET on each and reads the response (so every connection
has been served once and is now idle between requests), measures RSS again, checks every
connection is still open and still answers, and prints the RSS per connection. Stdlib only.
"""
import os, re, resource, selectors, socket, subprocess, sys, tempfile, time

def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))

def main():
    binary = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 1024), hard))
    root = tempfile.mkdtemp(prefix="parley-idle-")
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<p>Hello</p>\n")
    server = subprocess.Popen([binary, "http", "--root", root, "--port", "0", "--log-level", "Warning",
                               "--max-connections", str(count + 100)], stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        port = int(re.search(r"listening on \S+:(\d+)", line).group(1))
        request = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()

        def get(s):
            s.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data or not data.endswith(b"<p>Hello</p>\n"):
                chunk = s.recv(4096)
                if not chunk:
                    raise RuntimeError("closed")
                data += chunk
            assert data.startswith(b"HTTP/1.1 200"), data[:40]

        probe = socket.create_connection(("127.0.0.1", port))
        get(probe)
        time.sleep(1)
        before = rss_kb(server.pid)
        conns = []
        started = time.time()
        for i in range(count):
            s = socket.create_connection(("127.0.0.1", port))
            get(s)
            conns.append(s)
        opened = time.time() - started
        time.sleep(2)
        after = rss_kb(server.pid)
        # every one still open and answering
        alive = 0
        for s in conns:
            get(s)
            alive += 1
        per = (after - before) / count
        print(f"connections {count} opened in {opened:.1f} s, all {alive} still answering; "
              f"server RSS {before/1024:.1f} MB -> {after/1024:.1f} MB: {per:.2f} KB per idle keep-alive connection")
        for s in conns:
            s.close()
    finally:
        server.terminate()
        server.wait(timeout=20)

if __name__ == "__main__":
    main()
