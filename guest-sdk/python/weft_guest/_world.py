"""Wires a policy's ``run(input)`` to the ``run`` export of weft's
``policy`` world, and an adapter's ``@tool`` functions to the exports of
the ``adapter`` world. ``weft build`` generates the entry module that uses
it::

    import app
    from weft_guest._world import world_for
    WitWorld = world_for(app.run)

or, for an adapter::

    import adapter
    from weft_guest._world import adapter_world
    WitWorld = adapter_world()
"""

from __future__ import annotations

import json
from typing import Any, Callable

from . import _host
from ._host import log_traceback


def _failure(message: str) -> Exception:
    """The export's error value: componentize-py's ``Err(message)``."""
    return _host.HostError(message)


def invoke(run: Callable[[Any], Any], input: str) -> str:
    """Runs ``run`` on the JSON ``input`` and returns its result as JSON.

    Whatever goes wrong is raised as the export's error: invalid input, an
    exception that escapes ``run`` (its traceback goes to the run's log at
    level ``error``), or a result JSON cannot hold.
    """
    try:
        value = json.loads(input) if input.strip() else None
    except ValueError as e:
        raise _failure(f"the input is not valid JSON: {e}") from None
    try:
        result = run(value)
    except Exception as e:
        log_traceback(e)
        raise _failure(_describe(e)) from None
    try:
        return json.dumps(result, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise _failure(f"run() returned something that is not JSON: {e}") from None


def _describe(e: BaseException) -> str:
    from . import CallError

    if isinstance(e, CallError):
        return str(e)
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def world_for(run: Callable[[Any], Any]) -> type:
    """The ``WitWorld`` class componentize-py exports, calling ``run``."""
    import wit_world

    class WitWorld(wit_world.WitWorld):  # type: ignore[misc, name-defined]
        def run(self, input: str) -> str:
            return invoke(run, input)

    return WitWorld


def adapter_world() -> type:
    """The ``WitWorld`` class componentize-py exports for an adapter:
    ``list-tools`` and ``call-tool`` over the tools ``@tool`` registered."""
    import wit_world

    from . import _adapter

    if not _adapter.TOOLS:
        raise SystemExit("the adapter registers no tools: decorate its functions with @tool")
    listed = [
        _host.tool_info(
            t.name,
            t.title,
            t.description,
            json.dumps(t.input_schema, ensure_ascii=False),
            None if t.output_schema is None else json.dumps(t.output_schema, ensure_ascii=False),
            t.read_only,
        )
        for t in _adapter.tools()
    ]

    class WitWorld(wit_world.WitWorld):  # type: ignore[misc, name-defined]
        def list_tools(self) -> Any:
            return list(listed)

        def call_tool(self, tool: str, args: str) -> str:
            try:
                return _adapter.invoke(tool, args)
            except _adapter.Refused as e:
                raise _host.refusal(e.kind, e.message, tool) from None

    return WitWorld
