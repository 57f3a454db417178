"""A scripted agent for weft's tests, built on the official Python MCP SDK.

Usage: agent.py TARGET MODE SCENARIO [ARG_JSON]
  ARG_JSON may hold "approval": approve | decline | cancel | late (with
  "late_s"): how weft's approval questions are answered (they are then
  listed under "asked" in the output).
  TARGET    an http(s) URL (ending in /sse: the legacy HTTP+SSE transport),
            or a JSON list [command, arg, ...] to spawn over stdio
  MODE      legacy | auto | 2026-07-28 (the SDK's connect modes)
  SCENARIO  see SCENARIOS below, or `refused` (a wrong key, then calls past a rate)

Prints one JSON object with what the agent observed; the Rust tests assert on it.
"""

import asyncio
import json
import os
import sys

import mcp.types as types
from mcp import Client, StdioServerParameters


def target(raw):
    if raw.startswith("http") and raw.endswith("/sse"):
        # The legacy HTTP+SSE transport (GET /sse, then POSTs).
        from mcp.client.sse import sse_client

        return sse_client(raw)
    if raw.startswith("http"):
        return raw
    argv = json.loads(raw)
    env = {k: v for k, v in os.environ.items() if k.startswith(("WEFT_", "PATH", "HOME"))}
    return StdioServerParameters(command=argv[0], args=argv[1:], env=env)


def text_of(result):
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


async def all_tools(c):
    names, cursor, pages = [], None, 0
    while True:
        page = await c.list_tools(cursor=cursor)
        pages += 1
        names += [t.name for t in page.tools]
        cursor = page.next_cursor
        if not cursor:
            return names, pages


async def basic(c, arg):
    names, pages = await all_tools(c)
    out = {"tools": names, "pages": pages}
    echo = await c.call_tool(arg["echo_tool"], {"message": "hello through weft"})
    out["echo"] = text_of(echo)
    if "policy" in arg:
        r = await c.call_tool(arg["policy"], arg.get("policy_input", {}))
        out["policy"] = {"error": bool(r.is_error), "structured": r.structured_content, "text": text_of(r)}
    found = await c.call_tool("weft_search_tools", {"query": arg.get("search", "echo")})
    out["search"] = found.structured_content
    res = await c.list_resources()
    out["resources"] = [str(r.uri) for r in res.resources]
    if res.resources:
        read = await c.read_resource(res.resources[0].uri)
        out["read_uri"] = str(read.contents[0].uri)
    prompts = await c.list_prompts()
    out["prompts"] = [p.name for p in prompts.prompts]
    try:
        await c.call_tool("no_such_tool_anywhere", {})
        out["unknown"] = "no error"
    except Exception as e:  # the SDK raises on a JSON-RPC error
        out["unknown"] = str(e)
    return out


async def progress(c, arg):
    seen = []

    async def on_progress(progress, total, message):
        seen.append(progress)

    if arg.get("list_first"):
        # A round trip first, so the session's handshake is settled at
        # the server before the call.
        await c.list_tools()
    r = await c.call_tool(arg["tool"], arg["args"], progress_callback=on_progress)
    return {"progress": seen, "error": bool(r.is_error), "text": text_of(r)}


async def call(c, arg):
    r = await c.call_tool(arg["tool"], arg.get("args", {}))
    return {"error": bool(r.is_error), "text": text_of(r), "structured": r.structured_content}


async def code(c, arg):
    """weft_run_code's description as listed, then each submission in
    arg["runs"] through it: result, error flag and the run report's calls."""
    names, _ = await all_tools(c)
    tools = (await c.list_tools()).tools
    description = next((t.description for t in tools if t.name == "weft_run_code"), None)
    runs = []
    for run in arg["runs"]:
        try:
            r = await c.call_tool("weft_run_code", run)
        except BaseException as e:
            runs.append({"rpc_error": (mcp_error(e) or {"message": repr(e)})["message"]})
            continue
        report = (getattr(r, "meta", None) or {}).get("weft/run", {})
        runs.append({
            "error": bool(r.is_error),
            "text": text_of(r),
            "structured": r.structured_content,
            "calls": [call["tool"] for call in report.get("calls", [])],
            "stdout": report.get("stdout"),
            "report": report,
        })
    return {"listed": "weft_run_code" in names, "tools": sorted(names), "description": description, "runs": runs}


async def listed(c, arg):
    names, _ = await all_tools(c)
    out = await call(c, arg)
    out["tools"] = names
    return out


async def cancel(c, arg):
    try:
        await c.call_tool(arg["tool"], arg.get("args", {}), read_timeout_seconds=arg.get("after", 1.0))
        return {"cancelled": False}
    except Exception as e:
        # The SDK sends notifications/cancelled when a request times out.
        after = await c.call_tool(arg["then"], arg.get("then_args", {}))
        return {"cancelled": True, "error": str(e), "after": text_of(after)}


async def sampling_cb(context, params):
    asked = params.messages[0].content.text if params.messages else ""
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text=f"sampled by the test agent: {asked[:40]}"),
        model="test-model",
        stop_reason="endTurn",
    )


async def elicitation_cb(context, params):
    return types.ElicitResult(action="accept", content={"color": "teal", "name": "weft"})


# The questions weft asked for approvals, in order.
ASKED = []


def approval_cb_for(answer, late_s):
    """Answers weft's approval questions: `approve`, `decline`, `cancel`,
    or `late` (approve after late_s seconds)."""

    async def approval_cb(context, params):
        ASKED.append(params.message)
        if answer == "late":
            await asyncio.sleep(late_s)
        if answer in ("approve", "late"):
            return types.ElicitResult(action="accept", content={"approve": True})
        return types.ElicitResult(action=answer)

    return approval_cb


NOTES = []


def roots_cb_for(uris):
    async def roots_cb(context):
        return types.ListRootsResult(roots=[types.Root(uri=u) for u in uris])

    return roots_cb


async def until(c, arg):
    """Calls arg["tool"] until its text holds arg["expect"] (30 s at most):
    the last text and how many calls it took."""
    text, tries = "", 0
    deadline = asyncio.get_running_loop().time() + 30
    while asyncio.get_running_loop().time() < deadline:
        tries += 1
        text = text_of(await c.call_tool(arg["tool"], arg.get("args", {})))
        if arg["expect"] in text:
            break
        await asyncio.sleep(0.05)
    return {"text": text, "tries": tries}


async def note_message(message):
    method = getattr(message, "method", None) or getattr(getattr(message, "root", None), "method", None)
    params = getattr(message, "params", None) or getattr(getattr(message, "root", None), "params", None)
    uri = getattr(params, "uri", None)
    NOTES.append(f"{method} {uri}" if uri else str(method))


async def changes(c, arg):
    """Subscribes to a resource, then makes the upstream change its lists
    and that resource; reports the notifications that arrived."""
    await c.subscribe_resource(arg["subscribe"])
    for step in arg["steps"]:
        await c.call_tool(step["tool"], step.get("args", {}))
    wanted = arg["expect"]
    for _ in range(int(arg.get("wait", 15) * 10)):
        if all(any(n.startswith(w) for n in NOTES) for w in wanted):
            break
        await asyncio.sleep(0.1)
    res = await c.list_resources()
    return {"notifications": NOTES, "resources": [str(r.uri) for r in res.resources]}


def keyed(url, key):
    """A streamable HTTP (or, for a URL ending in /sse, legacy SSE)
    transport to `url` that sends `key` as a bearer token."""
    if url.endswith("/sse"):
        from mcp.client.sse import sse_client

        return sse_client(url, headers={"Authorization": f"Bearer {key}"})
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
    return streamable_http_client(url, http_client=http)


def mcp_error(e):
    """The MCPError in `e` (raised alone or inside an exception group)."""
    from mcp.shared.exceptions import MCPError

    if isinstance(e, MCPError):
        return {"code": e.error.code, "message": e.error.message, "data": e.error.data}
    for inner in getattr(e, "exceptions", ()):
        found = mcp_error(inner)
        if found:
            return found
    cause = e.__cause__ or e.__context__
    return mcp_error(cause) if cause is not None else None


async def refused(raw, mode, arg):
    """A wrong key, then calls past a tenant's rate: what the SDK raised."""
    out = {}
    try:
        async with Client(keyed(raw, "weft_not_a_key"), mode=mode) as c:
            # A stateless client sends nothing until its first request.
            await c.list_tools()
            out["bad_key"] = "listed"
    except BaseException as e:  # an exception group, from the SDK's task group
        out["bad_key"] = mcp_error(e) or repr(e)
    async with Client(keyed(raw, arg["key"]), mode=mode) as c:
        for i in range(arg["calls"]):
            try:
                await c.call_tool(arg["tool"], {"message": str(i)})
            except BaseException as e:
                out["over_rate"] = mcp_error(e) or repr(e)
                out["after"] = i
                break
    return out




async def sequence(c, arg):
    """Every tool as listed (description, read-only hint, input schema),
    then each call in arg["calls"] in order: its error flag, text and
    structured content, or the JSON-RPC error it got."""
    tools, cursor = [], None
    while True:
        page = await c.list_tools(cursor=cursor)
        tools += page.tools
        cursor = page.next_cursor
        if not cursor:
            break
    listed = {
        t.name: {
            "description": t.description,
            "read_only": bool(t.annotations and t.annotations.read_only_hint),
            "input_schema": t.input_schema,
        }
        for t in tools
    }
    calls = []
    for one in arg["calls"]:
        try:
            calls.append(await call(c, one))
        except Exception as e:  # a JSON-RPC error: kept, the session goes on
            calls.append({"rpc_error": mcp_error(e) or repr(e)})
    return {"tools": listed, "calls": calls}


SCENARIOS = {
    "basic": basic, "progress": progress, "call": call, "listed": listed, "cancel": cancel,
    "code": code, "changes": changes, "sequence": sequence, "until": until,
}


async def main():
    raw, mode, scenario = sys.argv[1], sys.argv[2], sys.argv[3]
    arg = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    kwargs = {"mode": mode, "message_handler": note_message}
    if arg.get("sampling"):
        kwargs["sampling_callback"] = sampling_cb
    if arg.get("elicitation"):
        kwargs["elicitation_callback"] = elicitation_cb
    if "approval" in arg:
        kwargs["elicitation_callback"] = approval_cb_for(arg["approval"], arg.get("late_s", 0))
    if "roots" in arg:
        kwargs["list_roots_callback"] = roots_cb_for(arg["roots"])
    if scenario == "refused":
        out = await refused(raw, mode, arg)
    else:
        # With a tenant's key, over HTTP.
        transport = keyed(raw, arg["key"]) if "key" in arg else target(raw)
        async with Client(transport, **kwargs) as c:
            out = await SCENARIOS[scenario](c, arg)
    if "approval" in arg:
        out["asked"] = ASKED
    print(json.dumps(out, default=str))


asyncio.run(main())
