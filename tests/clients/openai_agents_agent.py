"""An agent for weft's tests built on the OpenAI Agents SDK's MCP client, used
unmodified and without a model (tests/foreign_clients.rs runs it with
"$WEFT_TOOLS/venv-openai-agents/bin/python").

Usage: openai_agents_agent.py TARGET ARG_JSON
  TARGET    an http(s) URL (MCPServerStreamableHttp), or a JSON list
            [command, arg, ...] to spawn over stdio (MCPServerStdio)
  ARG_JSON  {"style": "keep" | "per_call",
               keep: one connection lists the tools and makes every call;
               per_call: one connection lists them, and each call opens its own
             "calls": [{"tool": NAME, "args": {...}}, ...],
             "invoke": {"tool": NAME, "args": {...}}}
               (optional: that tool invoked as an Agent's run would, through
               the function tool the SDK makes of it, on the listing connection)

The SDK connects with the Python MCP SDK's mode "auto". Prints one JSON object
with what the agent observed: the tool names `server.list_tools()` gives, the
function tools an `Agent` with strict schemas makes of them, each call's
protocol version and result (or JSON-RPC error), and the invoked function
tool's output. The Rust tests assert on it.
"""

import asyncio
import json
import os
import sys

from agents import Agent, RunContextWrapper, set_tracing_disabled
from agents.mcp import MCPServerStdio, MCPServerStreamableHttp
from agents.tool_context import ToolContext
from mcp.shared.exceptions import MCPError


def server(raw):
    if raw.startswith("http"):
        return MCPServerStreamableHttp({"url": raw}, name="weft")
    argv = json.loads(raw)
    env = {k: v for k, v in os.environ.items() if k.startswith(("WEFT_", "PATH", "HOME", "XDG_"))}
    return MCPServerStdio({"command": argv[0], "args": argv[1:], "env": env}, name="weft")


def text_of(content):
    return "\n".join(c.text for c in content if getattr(c, "type", "") == "text")


async def call(s, one):
    out = {"protocol": s.session.protocol_version}
    try:
        result = await s.call_tool(one["tool"], one.get("args", {}))
        out.update(error=bool(result.is_error), text=text_of(result.content))
    except MCPError as e:  # a JSON-RPC error: kept, the connection goes on
        out.update(error=True, rpc_error={"code": e.error.code, "message": e.error.message})
    return out


async def invoke(s, one):
    """The tool as an Agent's run calls it when the model asks for it."""
    agent = Agent(name="weft-test", mcp_servers=[s], mcp_config={"convert_schemas_to_strict": True})
    tools = await agent.get_mcp_tools(RunContextWrapper(context=None))
    tool = next(t for t in tools if t.name == one["tool"])
    args = json.dumps(one.get("args", {}))
    ctx = ToolContext(context=None, tool_name=tool.name, tool_call_id="call-1", tool_arguments=args)
    output = await tool.on_invoke_tool(ctx, args)
    return sorted(t.name for t in tools), output


async def main():
    # No model and no network: the SDK's trace export stays off.
    set_tracing_disabled(True)
    raw, arg = sys.argv[1], json.loads(sys.argv[2])
    out = {"calls": [], "connections": 0}
    s = server(raw)
    await s.connect()
    try:
        out["connections"] += 1
        out["tools"] = sorted(t.name for t in await s.list_tools())
        out["listed_on"] = s.session.protocol_version
        if "invoke" in arg:
            out["agent_tools"], out["invoked"] = await invoke(s, arg["invoke"])
        if arg["style"] == "keep":
            for one in arg["calls"]:
                out["calls"].append(await call(s, one))
    finally:
        await s.cleanup()
    if arg["style"] == "per_call":
        for one in arg["calls"]:
            s = server(raw)
            await s.connect()
            try:
                out["connections"] += 1
                out["calls"].append(await call(s, one))
            finally:
                await s.cleanup()
    print(json.dumps(out, default=str))


asyncio.run(main())
