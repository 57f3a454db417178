"""The bridge of a "code as policies" setup, minimal: it holds one MCP client
session to a server and lets short-lived Python orchestrators call its tools
over local HTTP.

Usage: bridge.py PORT COMMAND [ARG ...]
  Spawns COMMAND ARG ... as an MCP server over stdio, opens one session with
  the official Python SDK (`mcp`), then serves on 127.0.0.1:PORT

    POST /call  {"tool": NAME, "arguments": {...}}  ->  the CallToolResult as JSON

Requests are served one at a time on the one session, as an orchestrator's
sequential calls would be. The sandbox benchmark (tests/benches/sandbox.rs,
case 3) starts it once and times workflow.py against it.
"""

import asyncio
import os
import sys

import uvicorn
from mcp import Client, StdioServerParameters
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

session = None
lock = asyncio.Lock()


async def call(request: Request):
    body = await request.json()
    async with lock:
        result = await session.call_tool(body["tool"], body.get("arguments") or {})
    return JSONResponse(result.model_dump(mode="json", by_alias=True, exclude_none=True))


app = Starlette(routes=[Route("/call", call, methods=["POST"])])


async def main():
    global session
    port, argv = int(sys.argv[1]), sys.argv[2:]
    env = {k: v for k, v in os.environ.items() if k.startswith(("PATH", "HOME"))}
    server = StdioServerParameters(command=argv[0], args=argv[1:], env=env)
    async with Client(server, mode="legacy") as client:
        session = client
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        await uvicorn.Server(config).serve()


if __name__ == "__main__":
    asyncio.run(main())
