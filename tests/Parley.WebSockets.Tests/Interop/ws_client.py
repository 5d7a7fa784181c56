"""An independent WebSocket client (Python's `websockets`, Debian's python3-websockets) against Parley.

Usage: ws_client.py URI. Exercises text echo, a fragmented message, ping/pong and the close
handshake, printing one line per check; exits non-zero on the first failure.
"""
import asyncio
import sys

import websockets


async def main(uri: str) -> None:
    async with websockets.connect(uri, max_size=2**20, compression=None) as ws:
        await ws.send("hello from python")
        assert await ws.recv() == "hello from python"
        print("echo ok")

        text = "fragmented ünïcödé " * 50
        await ws.send([text[:7], text[7:300], text[300:]])  # an iterable is sent as fragments
        assert await ws.recv() == text
        print("fragments ok")

        pong = await ws.ping(b"probe")
        await asyncio.wait_for(pong, 5)
        print("ping ok")

        await ws.close(code=4000, reason="done")
        assert ws.close_code == 4000, ws.close_code
        print("close ok", ws.close_code)


asyncio.run(main(sys.argv[1]))
