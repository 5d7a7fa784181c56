"""An independent WebSocket echo server (Python's `websockets`) for Parley's client.

Usage: ws_server.py. Prints "listening PORT" and echoes every message until stdin closes.
"""
import asyncio
import sys

import websockets


async def echo(ws, path=None):
    async for message in ws:
        await ws.send(message)


async def main() -> None:
    async with websockets.serve(echo, "127.0.0.1", 0, compression=None, ping_interval=0.2, ping_timeout=5) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"listening {port}", flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


asyncio.run(main())
