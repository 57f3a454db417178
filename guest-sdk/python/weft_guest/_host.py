"""The host's imports, as componentize-py generates them for weft's
``policy`` and ``adapter`` worlds (the same imports), behind plain
functions; and the records the adapter world's exports return.

Outside a component (a policy's unit tests, a type checker) the generated
modules do not exist; every function here then raises ``RuntimeError``.
"""

from __future__ import annotations

import traceback
from typing import Any, List, Optional, Tuple

try:  # Present only inside a component built by `weft build`.
    from componentize_py_types import Err as _Err
    from componentize_py_types import Ok as _Ok
    from wit_world.imports import config as _config
    from wit_world.imports import host_log as _host_log
    from wit_world.imports import tools as _tools
    from wit_world.imports import types as _types

    HostError: Any = _Err
except ImportError:  # pragma: no cover - depends on where this runs
    _tools = _host_log = _types = _config = None

    class HostError(Exception):  # type: ignore[no-redef]
        """Stands in for componentize-py's ``Err`` outside a component."""

        value: Any = None


_OUTSIDE = (
    "weft_guest calls the weft host: build this policy or adapter with `weft build`, "
    "and run it with `weft run` (a policy) or serve it as `[servers.NAME] component = ...` (an adapter)"
)


def _need(module: Any) -> Any:
    if module is None:
        raise RuntimeError(_OUTSIDE)
    return module


def call_error(error: Any) -> Any:
    """A ``weft_guest.CallError`` from the WIT ``call-error`` record."""
    from . import CallError

    kind = error.kind.name.lower().replace("_", "-")
    return CallError(kind, error.message, error.server, error.tool)


def call_tool(server: str, tool: str, args: str) -> str:
    """The ``call-tool`` import; raises :data:`HostError`, whose ``.value`` is the call-error record."""
    return str(_need(_tools).call_tool(server, tool, args))


def call_tools(calls: List[Tuple[str, str, str]]) -> List[Tuple[bool, Any]]:
    """The ``call-tools`` import: ``(True, json)`` or ``(False, call-error)`` per call."""
    tools = _need(_tools)
    batch = [_types.ToolCall(server=s, tool=t, args=a) for s, t, a in calls]
    return [(isinstance(r, _Ok), r.value) for r in tools.call_tools(batch)]


def list_tools(server: Optional[str]) -> List[Any]:
    """The ``list-tools`` import."""
    return list(_need(_tools).list_tools(server))


def log(level: str, message: str) -> None:
    """The ``log`` import of ``host-log``."""
    _need(_host_log).log(level, message)


def progress(done: float, total: Optional[float], message: Optional[str]) -> None:
    """The ``progress`` import of ``host-log``."""
    _need(_host_log).progress(done, total, message)


def config() -> str:
    """The ``config`` import: the component's config table as JSON text."""
    return str(_need(_config).config())


def tool_info(name: str, title: Any, description: str, input_schema: str, output_schema: Any, read_only: bool) -> Any:
    """The WIT ``tool-info`` record of one of an adapter's tools."""
    return _need(_types).ToolInfo(
        server="",
        name=name,
        title=title,
        description=description,
        input_schema=input_schema,
        output_schema=output_schema,
        read_only=read_only,
    )


def refusal(kind: str, message: str, tool: str) -> Exception:
    """The ``call-tool`` export's error: ``Err(call-error)``."""
    types = _need(_types)
    record = types.CallError(
        kind=types.ErrorKind[kind.upper().replace("-", "_")],
        message=message,
        server="",
        tool=tool,
    )
    return HostError(record)  # type: ignore[no-any-return]


#: The most of a traceback sent to the run's log (its end: the innermost frames).
MAX_TRACEBACK = 16 * 1024


def log_traceback(e: BaseException) -> None:
    """Logs ``e``'s traceback at level ``error``, from the author's own
    frame on (the frame that caught it, weft's wiring, is not news)."""
    tb = e.__traceback__.tb_next if e.__traceback__ is not None else None
    trace = "".join(traceback.format_exception(type(e), e, tb))
    if len(trace) > MAX_TRACEBACK:
        trace = "…" + trace[-MAX_TRACEBACK:]
    try:
        log("error", trace.rstrip())
    except Exception:
        pass
