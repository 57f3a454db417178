"""The relay matrix's agent (tests/relay_matrix.rs), on the official Python
MCP SDK (mcp 2.x, the main venv): it answers everything a server may ask
on a tool call's stream, and records what arrived.

Usage: relay_agent.py TARGET MODE TOOL [TOOL ...]
  TARGET  an http(s) URL (streamable HTTP), or a JSON list
          [command, arg, ...] to spawn over stdio
  MODE    legacy (the 2025-11-25 handshake) | 2026-07-28
  TOOL    tools to call, one after the other, without arguments;
          NAME*N calls NAME N times in a row

Its answers: sampling, the text SAMPLED; elicitation, `accept` with
{"colour": "teal"} in form mode and `accept` in URL mode; roots, ROOTS.
It opts in to log messages at `debug`: each 2026-07-28 request names the
level, and in the handshake era it sends `logging/setLevel` once.

Prints one JSON object: for each tool, a list with one record per call:
its result text and error flag (or the error raised), the progress values
and log messages that arrived during the call, and the requests the agent
was asked.
"""

import asyncio
import json
import os
import sys
import warnings

import mcp.types as types
from mcp import Client, StdioServerParameters

SAMPLED = "sampled by the relay agent"
COLOUR = "teal"
ROOTS = ["file:///relay/one", "file:///relay/two"]
# One call may take this long; a request that is never answered fails the
# call rather than the whole run.
CALL_SECONDS = float(os.environ.get("RELAY_CALL_SECONDS", "10"))

ASKED = []
LOGS = []


def target(raw):
    if raw.startswith("http"):
        return raw
    argv = json.loads(raw)
    env = {k: v for k, v in os.environ.items() if k.startswith(("PATH", "HOME"))}
    return StdioServerParameters(command=argv[0], args=argv[1:], env=env)


async def on_sampling(context, params):
    ASKED.append("sampling")
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text=SAMPLED),
        model="relay-model",
        stop_reason="endTurn",
    )


async def on_elicitation(context, params):
    mode = getattr(params, "mode", None) or "form"
    ASKED.append(f"elicitation/{mode}")
    if mode == "url":
        return types.ElicitResult(action="accept")
    return types.ElicitResult(action="accept", content={"colour": COLOUR})


async def on_roots(context):
    ASKED.append("roots")
    return types.ListRootsResult(roots=[types.Root(uri=u) for u in ROOTS])


async def on_log(params):
    LOGS.append(params.data if isinstance(params.data, str) else json.dumps(params.data))


def describe(e):
    """A one-line description of an exception (or of the first leaf of an
    exception group)."""
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    error = getattr(e, "error", None)
    if error is not None and hasattr(error, "code"):
        return f"MCP error {error.code}: {error.message}"
    return f"{type(e).__name__}: {e}"


async def call(c, tool):
    progress = []

    async def on_progress(value, total, message):
        progress.append(value)

    ASKED.clear()
    LOGS.clear()
    out = {}
    try:
        with_timeout = asyncio.wait_for(
            c.call_tool(tool, {}, read_timeout_seconds=CALL_SECONDS, progress_callback=on_progress),
            CALL_SECONDS + 2,
        )
        r = await with_timeout
        text = "\n".join(b.text for b in r.content if getattr(b, "type", "") == "text")
        out = {"text": text, "is_error": bool(r.is_error)}
    except asyncio.TimeoutError:
        out = {"raised": f"no answer within {CALL_SECONDS + 2} s"}
    except Exception as e:  # the SDK raises on a JSON-RPC error or a timeout
        out = {"raised": describe(e)}
    out.update(progress=progress, logs=list(LOGS), asked=list(ASKED))
    return out


async def main():
    raw, mode, tools = sys.argv[1], sys.argv[2], sys.argv[3:]
    results = {}
    try:
        async with Client(
            target(raw),
            mode=mode,
            sampling_callback=on_sampling,
            elicitation_callback=on_elicitation,
            list_roots_callback=on_roots,
            logging_callback=on_log,
            log_level="debug",
        ) as c:
            if mode == "legacy":
                # A handshake-era agent opts in to log messages with
                # logging/setLevel (a server without logging refuses it).
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        await c.set_logging_level("debug")
                except Exception:
                    pass
            for spec in tools:
                tool, _, times = spec.partition("*")
                results[tool] = [await call(c, tool) for _ in range(int(times or 1))]
    except BaseException as e:  # the connection itself failed
        for spec in tools:
            results.setdefault(spec.partition("*")[0], [{"raised": f"connection: {describe(e)}"}])
    print(json.dumps(results))


asyncio.run(main())
