"""Write weft policies and adapters in Python.

A policy is one function from JSON input to JSON output that calls MCP
tools on the servers weft connects to. Put it in ``app.py``::

    from weft_guest import call

    def run(input: dict) -> dict:
        now = call("time", "get_current_time", {"timezone": "UTC"})
        return {"now": now.value()}

and build it with ``weft build``. Calls go through the host's router, so
grants, timeouts and error kinds are the host's: a call outside the
policy's grants raises :class:`CallError` with ``kind == "denied"`` and
never reaches the server.

An adapter offers tools of its own: functions registered with
:func:`tool`, their input schemas derived from their type hints. Put it in
``adapter.py``::

    from weft_guest import call, tool

    @tool(read_only=True)
    def shout(message: str) -> str:
        "Says a message louder, through server-everything's echo."
        return call("everything", "echo", {"message": message.upper()}).text

Only the standard library is used. Outside a weft sandbox there is no host
to answer: :class:`ToolResult` and :class:`CallError` work anywhere (for a
policy's own unit tests), while the functions that call the host raise
:class:`RuntimeError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, List, Optional, Tuple, Union

from . import _host

__all__ = [
    "CallError",
    "ToolError",
    "ToolInfo",
    "ToolResult",
    "call",
    "call_all",
    "config",
    "list_tools",
    "log",
    "progress",
    "tool",
]

#: The error kinds of weft's WIT contract, as :attr:`CallError.kind` holds them.
KINDS: Tuple[str, ...] = (
    "not-found",
    "denied",
    "invalid-args",
    "timeout",
    "rate-limited",
    "unavailable",
    "tool-error",
    "limit-exceeded",
    "internal",
)


class CallError(Exception):
    """A failed call: its kind, a message, and the server and tool called.

    ``kind`` is one of :data:`KINDS`:

    - ``not-found``: no such server or tool, or one outside the policy's view;
    - ``denied``: the grants do not allow the tool; the server never saw it;
    - ``invalid-args``: the arguments do not fit the tool's schema;
    - ``timeout``: the server did not answer in time, or the run's time ran out;
    - ``rate-limited``: the server or the tenant asked to slow down;
    - ``unavailable``: the server is down, crashed or unreachable;
    - ``tool-error``: the tool ran and returned ``isError: true``;
    - ``limit-exceeded``: a limit of this run was hit (such as the number of calls);
    - ``internal``: anything else.

    >>> e = CallError("denied", "not granted", "git", "git_commit")
    >>> (e.kind, e.server, e.tool, str(e))
    ('denied', 'git', 'git_commit', 'git.git_commit: denied: not granted')
    """

    kind: str
    message: str
    server: str
    tool: str

    def __init__(self, kind: str, message: str, server: str, tool: str) -> None:
        super().__init__(f"{server}.{tool}: {kind}: {message}")
        self.kind = kind
        self.message = message
        self.server = server
        self.tool = tool


class ToolResult:
    """A tool's result: the whole MCP ``CallToolResult``, with helpers.

    >>> r = ToolResult({"content": [{"type": "text", "text": '{"n": 3}'}]})
    >>> (r.text, r.structured, r.value())
    ('{"n": 3}', None, {'n': 3})
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def __repr__(self) -> str:
        return f"ToolResult({self._raw!r})"

    @property
    def json(self) -> Any:
        """The whole result as JSON (``content``, ``structuredContent``, ``_meta``).

        >>> ToolResult({"content": [], "_meta": {"k": 1}}).json["_meta"]["k"]
        1
        """
        return self._raw

    @property
    def text(self) -> str:
        """The text of every text block, joined by newlines.

        >>> ToolResult({"content": [
        ...     {"type": "text", "text": "a"},
        ...     {"type": "image", "data": "", "mimeType": "image/png"},
        ...     {"type": "text", "text": "b"},
        ... ]}).text
        'a\\nb'
        """
        blocks = self._raw.get("content") if isinstance(self._raw, dict) else None
        if not isinstance(blocks, list):
            return ""
        return "\n".join(
            b["text"]
            for b in blocks
            if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
        )

    @property
    def structured(self) -> Any:
        """The structured content, or ``None`` if the tool returned none.

        >>> ToolResult({"content": [], "structuredContent": {"temp": 21}}).structured
        {'temp': 21}
        """
        if isinstance(self._raw, dict):
            return self._raw.get("structuredContent")
        return None

    def value(self) -> Any:
        """The structured content, else the text parsed as JSON, else the text.

        >>> ToolResult({"content": [{"type": "text", "text": "not json"}]}).value()
        'not json'
        """
        structured = self.structured
        if structured is not None:
            return structured
        text = self.text
        try:
            return _strict_loads(text)
        except ValueError:
            return text


@dataclass(frozen=True)
class ToolInfo:
    """A tool the policy may call, as :func:`list_tools` returns it."""

    #: The server's name in weft's config.
    server: str
    #: The tool's own name on that server (no prefix).
    name: str
    title: Optional[str]
    description: str
    #: The JSON Schema of the arguments, parsed.
    input_schema: Any
    #: The JSON Schema of the structured result, parsed, if the tool has one.
    output_schema: Any
    #: From the tool's ``readOnlyHint`` annotation.
    read_only: bool


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _strict_loads(text: str) -> Any:
    """``json.loads`` without the NaN and Infinity that JSON does not have."""
    return json.loads(text, parse_constant=_reject_constant)


def _args_text(args: Any) -> str:
    return "" if args is None else json.dumps(args, ensure_ascii=False, allow_nan=False)


def _result(text: str) -> ToolResult:
    try:
        return ToolResult(_strict_loads(text))
    except ValueError:
        return ToolResult(text)


def call(server: str, tool: str, args: Any = None) -> ToolResult:
    """Calls ``tool`` on ``server`` with a dict of arguments (or ``None``).

    A result with ``isError: true`` raises :class:`CallError` with kind
    ``tool-error``; see :class:`CallError` for the other kinds.
    """
    try:
        return _result(_host.call_tool(server, tool, _args_text(args)))
    except _host.HostError as e:
        raise _host.call_error(e.value) from None


def call_all(
    calls: Iterable[Tuple[str, str, Any]],
) -> List[Union[ToolResult, CallError]]:
    """Calls several tools concurrently; the results come back in order.

    Each item is a :class:`ToolResult`, or the :class:`CallError` of that
    call (returned, not raised): a failed call does not fail the others.
    """
    batch = [(server, tool, _args_text(args)) for server, tool, args in calls]
    out: List[Union[ToolResult, CallError]] = []
    for ok, payload in _host.call_tools(batch):
        out.append(_result(payload) if ok else _host.call_error(payload))
    return out


def list_tools(server: Optional[str] = None) -> List[ToolInfo]:
    """The tools this policy may call (only granted ones), on one server or all."""

    def schema(text: Optional[str]) -> Any:
        if text is None:
            return None
        try:
            return _strict_loads(text)
        except ValueError:
            return text

    return [
        ToolInfo(
            server=t.server,
            name=t.name,
            title=t.title,
            description=t.description,
            input_schema=schema(t.input_schema),
            output_schema=schema(t.output_schema),
            read_only=t.read_only,
        )
        for t in _host.list_tools(server)
    ]


def log(level: str, message: str) -> None:
    """Writes a line to the run's log (``error``, ``warn``, ``info`` or ``debug``)."""
    _host.log(level, str(message))


def progress(done: float, total: Optional[float] = None, message: Optional[str] = None) -> None:
    """Reports progress; ``weft serve`` forwards it to the agent."""
    _host.progress(float(done), None if total is None else float(total), message)


def config() -> Any:
    """The adapter's ``[servers.NAME.config]`` table as JSON (``{}`` when
    there is none; a policy always gets ``{}``)."""
    try:
        return _strict_loads(_host.config())
    except ValueError:
        return {}


from ._adapter import ToolError, tool  # noqa: E402  (they use the names above)
