#!/usr/bin/env python3
"""Pages a room's whole history back through `parley serve`, memory first, then the journal.

Starts its own server (a fresh data folder, a small in-memory history so nearly everything
comes from the journal), sends N messages, pages back with `before` = the first id of each page,
checks every message came once and in order, restarts the server and pages again. Prints the
time per page. Python standard library only: an independent client of the NDJSON protocol.

  python3 bench/clients/history_paging.py PATH/TO/parley [N] [--journal-mb MB]
"""
import json, os, shutil, signal, socket, subprocess, sys, tempfile, time

binary = sys.argv[1]
count = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else 20000
journal_mb = sys.argv[sys.argv.index('--journal-mb') + 1] if '--journal-mb' in sys.argv else '1024'
port = 9777
data = tempfile.mkdtemp(prefix='parley-history-')


def start():
    global server
    server = subprocess.Popen([binary, 'serve', '--port', str(port), '--data', data, '--history-kb', '4',
                               '--journal-mb', journal_mb, '--log-level', 'Warning', '--max-commands-per-second', '100000'],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        if server.poll() is not None:
            raise SystemExit(f'the server exited ({server.returncode}): is port {port} in use?')
        try:
            return server, Client(socket.create_connection(('127.0.0.1', port)))
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit('the server did not start')


class Client:
    def __init__(self, sock):
        self.sock, self.lines = sock, sock.makefile('rb')

    def send(self, command):
        self.sock.sendall((json.dumps(command) + '\n').encode())

    def wait(self, event):
        while True:
            e = json.loads(self.lines.readline())
            if e.get('_et') == event:
                return e


def page_back(client):
    contents, before, pages, slowest, started = [], None, 0, 0.0, time.perf_counter()
    while True:
        command = {'_ct': 'history', 'r': 'general', 'limit': 200}
        if before is not None:
            command['before'] = before
        t = time.perf_counter()
        client.send(command)
        page = client.wait('history')
        slowest = max(slowest, time.perf_counter() - t)
        pages += 1
        assert page['ms'] or not page['more'], 'an empty page must end paging'
        contents[0:0] = [m['c'] for m in page['ms']]
        if not page['more']:
            return contents, pages, time.perf_counter() - started, slowest
        before = page['ms'][0]['id']


server = None
try:
    server, client = start()
    client.wait('login_successful')
    client.send({'_ct': 'join_room', 'r': 'general'})
    client.wait('room_participation')
    for i in range(count):
        client.send({'_ct': 'send_message', 'r': 'general', 'c': f'm{i}-' + 'x' * 100, 'ref': i})
        if i % 500 == 499 or i == count - 1:
            # Read as we go: a client that reads nothing falls past its send queue (1 MiB of
            # its own acks and messages) and is disconnected as a slow consumer.
            while client.wait('message_ack').get('ref') != i:
                pass

    for label in ('live', 'after a restart'):
        if label != 'live':
            server.send_signal(signal.SIGTERM)
            server.wait()
            server, client = start()
            client.wait('login_successful')
        contents, pages, elapsed, slowest = page_back(client)
        numbers = [int(c[1:c.index('-')]) for c in contents]
        assert numbers == list(range(numbers[0], count)), 'a message missing, repeated or out of order'
        print(f'{label}: {len(contents)} messages (m{numbers[0]}..m{count - 1}) in {pages} pages, '
              f'{elapsed * 1000 / pages:.2f} ms a page, slowest {slowest * 1000:.1f} ms')
finally:
    if server is not None and server.poll() is None:
        server.send_signal(signal.SIGTERM)
        server.wait()
    shutil.rmtree(data, ignore_errors=True)
