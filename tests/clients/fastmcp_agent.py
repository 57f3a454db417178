"""An agent for weft's tests built on fastmcp's `Client`, used unmodified
(tests/foreign_clients.rs runs it with "$WEFT_TOOLS/venv-fastmcp/bin/python").

Usage: fastmcp_agent.py TARGET ARG_JSON
  TARGET    an http(s) URL (streamable HTTP), or a JSON list
            [command, arg, ...] to spawn over stdio
  ARG_JSON  {"mode": "legacy" | "auto" | "2026-07-28",   (fastmcp's connect modes)
             "style": "keep" | "per_call",
               keep: one connection lists the tools and makes every call;
               per_call: one connection lists them, and each call opens its own
             "sampling": true,     (answer sampling/createMessage requests)
             "elicitation": true,  (accept elicitation/create with a name)
             "calls": [{"tool": NAME, "args": {...}}, ...]}

Prints one JSON object with what the agent observed: the tool names listed,
each connection's protocol version and session id, each call's outcome as
fastmcp gives it (an error result raises ToolError, a JSON-RPC error
MCPError), and the sampling and elicitation requests it answered. The Rust
tests assert on it.
"""

import asyncio
import json
import os
import sys

from fastmcp import Client
from fastmcp.client.elicitation import ElicitResult
from fastmcp.client.transports import StdioTransport
from fastmcp.exceptions import ToolError
from mcp.shared.exceptions import MCPError

SAMPLED = []
ELICITED = []


async def sample(messages, params, context):
    """Answers a relayed sampling request without a model: says what it was asked."""
    asked = messages[0].content.text if messages else ""
    SAMPLED.append({"asked": asked, "system": params.system_prompt, "max_tokens": params.max_tokens})
    return f"fastmcp sampled: {asked}"


async def elicit(message, response_type, params, context):
    """Accepts a relayed elicitation request with a name and a ticked box."""
    ELICITED.append({"message": message, "required": params.requested_schema.get("required")})
    # Keys in sorted order: the server prints them as they arrive, and weft
    # (as JSON allows) does not keep an object's key order.
    return ElicitResult(action="accept", content={"check": True, "name": "fastmcp agent"})


def transport(raw):
    if raw.startswith("http"):
        return raw
    argv = json.loads(raw)
    env = {k: v for k, v in os.environ.items() if k.startswith(("WEFT_", "PATH", "HOME", "XDG_"))}
    return StdioTransport(command=argv[0], args=argv[1:], env=env)


def client(raw, arg):
    kwargs = {"mode": arg.get("mode", "auto")}
    if arg.get("sampling"):
        kwargs["sampling_handler"] = sample
    if arg.get("elicitation"):
        kwargs["elicitation_handler"] = elicit
    return Client(transport(raw), **kwargs)


def text_of(content):
    return "\n".join(c.text for c in content if getattr(c, "type", "") == "text")


def where(c):
    """The connection's negotiated protocol version and HTTP session id."""
    session = getattr(c.transport, "get_session_id", lambda: None)()
    return {"protocol": c.protocol_version, "session": session}


async def call(c, one):
    out = where(c)
    try:
        result = await c.call_tool(one["tool"], one.get("args", {}))
        out.update(error=bool(result.is_error), text=text_of(result.content), raised=None)
    except ToolError as e:  # fastmcp raises a tool's error result
        out.update(error=True, text=str(e), raised="ToolError")
    except MCPError as e:  # a JSON-RPC error: kept, the connection goes on
        out.update(error=True, rpc_error={"code": e.error.code, "message": e.error.message})
    return out


async def main():
    raw, arg = sys.argv[1], json.loads(sys.argv[2])
    out = {"calls": [], "connections": 0}
    c = client(raw, arg)
    async with c:
        out["connections"] += 1
        out["tools"] = sorted(t.name for t in await c.list_tools())
        out["listed_on"] = where(c)
        if arg["style"] == "keep":
            for one in arg["calls"]:
                out["calls"].append(await call(c, one))
    if arg["style"] == "per_call":
        for one in arg["calls"]:
            c = client(raw, arg)
            async with c:
                out["connections"] += 1
                out["calls"].append(await call(c, one))
    out["sampled"] = SAMPLED
    out["elicited"] = ELICITED
    print(json.dumps(out, default=str))


asyncio.run(main())
