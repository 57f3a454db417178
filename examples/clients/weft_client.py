"""An agent of your own, on the Python MCP SDK (2.x), connected to
`weft serve --http` with a tenant key: it lists the tenant's tools and
calls one.

    WEFT_URL=http://127.0.0.1:8765/mcp WEFT_KEY=weft_... python weft_client.py
"""

import asyncio
import os

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


async def main(url: str, key: str) -> None:
    # The key travels as a bearer token on every request.
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            listed = await client.list_tools()
            print("tools:", ", ".join(tool.name for tool in listed.tools))
            result = await client.call_tool("everything__echo", {"message": "hi"})
            print("error:" if result.is_error else "result:", result.content[0].text)


asyncio.run(main(os.environ.get("WEFT_URL", "http://127.0.0.1:8765/mcp"), os.environ["WEFT_KEY"]))
