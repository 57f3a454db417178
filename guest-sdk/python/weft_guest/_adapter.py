"""Adapters in Python: tools registered with ``@tool``, served through
the ``list-tools`` and ``call-tool`` exports of weft's ``adapter`` world.

Registration happens when ``weft build`` imports the adapter's module (so
schemas are made once, at build time, and live in the component's
snapshot). A call finds the tool by name, binds the JSON arguments to the
function's parameters, runs it and turns what it returns, or raises, into
the export's answer.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, TypeVar, Union, overload

from ._schema import JsonSchema, SchemaError, input_schema, split_doc
from ._host import log_traceback

F = TypeVar("F", bound=Callable[..., Any])


class ToolError(Exception):
    """Raise it in a tool to fail the call with a message and a kind.

    ``kind`` is one of the WIT error kinds (see :data:`weft_guest.KINDS`);
    the default, ``tool-error``, says the tool ran and failed. Any other
    exception that escapes a tool fails it the same way, its message being
    the exception's type and text.

    >>> e = ToolError("no such customer", kind="not-found")
    >>> (e.kind, e.message)
    ('not-found', 'no such customer')
    """

    kind: str
    message: str

    def __init__(self, message: str, kind: str = "tool-error") -> None:
        from . import KINDS

        if kind not in KINDS:
            raise ValueError(f"{kind!r} is not an error kind: use one of {', '.join(KINDS)}")
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Tool:
    """One registered tool: what ``list-tools`` says, and what runs."""

    name: str
    description: str
    title: Optional[str]
    read_only: bool
    input_schema: JsonSchema
    output_schema: Optional[JsonSchema]
    fn: Callable[..., Any]
    #: Values for optional parameters an agent left out (``Optional`` ones).
    fallbacks: Dict[str, Any]
    #: The ``Enum`` class of each parameter annotated with one.
    enums: Dict[str, Any]
    signature: inspect.Signature


#: Every tool registered so far, by name, in order.
TOOLS: Dict[str, Tool] = {}


def _register(
    fn: Callable[..., Any],
    name: Optional[str],
    description: Optional[str],
    title: Optional[str],
    read_only: bool,
    schema: Optional[JsonSchema],
    output_schema: Optional[JsonSchema],
) -> None:
    tool_name = name if name is not None else fn.__name__
    if not tool_name or len(tool_name) > 128:
        raise SchemaError(f"{tool_name!r} cannot name a tool: use 1 to 128 characters")
    if tool_name in TOOLS:
        raise SchemaError(f"two tools are named {tool_name!r}")
    derived, fallbacks, enums = input_schema(fn, tool_name)
    if schema is not None:
        if not isinstance(schema, dict) or schema.get("type", "object") != "object":
            raise SchemaError(f"tool {tool_name!r}: schema= must be a JSON Schema of an object")
        derived, fallbacks, enums = schema, {}, {}
    for s in (derived, output_schema):
        try:
            json.dumps(s, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise SchemaError(f"tool {tool_name!r}: the schema is not JSON: {e}") from None
    text = description if description is not None else split_doc(fn.__doc__)[0]
    TOOLS[tool_name] = Tool(
        name=tool_name,
        description=text,
        title=title,
        read_only=read_only,
        input_schema=derived,
        output_schema=output_schema,
        fn=fn,
        fallbacks=fallbacks,
        enums=enums,
        signature=inspect.signature(fn),
    )


@overload
def tool(fn: F) -> F: ...


@overload
def tool(
    *,
    name: Optional[str] = None,
    description: Optional[str] = None,
    title: Optional[str] = None,
    read_only: bool = False,
    schema: Optional[JsonSchema] = None,
    output_schema: Optional[JsonSchema] = None,
) -> Callable[[F], F]: ...


def tool(
    fn: Optional[F] = None,
    *,
    name: Optional[str] = None,
    description: Optional[str] = None,
    title: Optional[str] = None,
    read_only: bool = False,
    schema: Optional[JsonSchema] = None,
    output_schema: Optional[JsonSchema] = None,
) -> Union[F, Callable[[F], F]]:
    """Registers a function as one of the adapter's tools.

    Use it bare (``@tool``) or with options (``@tool(read_only=True)``).
    The tool's name is the function's unless ``name`` is given; its
    description is the docstring (without its ``Args:`` section, whose
    lines describe the arguments) unless ``description`` is given. The
    input schema comes from the parameters' type hints; ``schema`` gives
    one instead (the arguments then arrive as keywords: take them with
    ``**args``). ``read_only`` sets the ``readOnlyHint`` annotation.

    The function returns the result: a string becomes its text; anything
    else JSON can hold becomes JSON text, and a dict is also the
    structured content; a :class:`~weft_guest.ToolResult` (say, from
    :func:`~weft_guest.call`) is passed on as it is.
    """

    def register(f: F) -> F:
        _register(f, name, description, title, read_only, schema, output_schema)
        return f

    return register(fn) if fn is not None else register


def tools() -> List[Tool]:
    """The registered tools, in the order they were registered."""
    return list(TOOLS.values())


class Refused(Exception):
    """A call the export answers with a call-error of ``kind``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _result(value: Any) -> str:
    from . import ToolResult

    if isinstance(value, ToolResult) and isinstance(value.json, dict):
        return json.dumps(value.json, ensure_ascii=False, allow_nan=False)
    try:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise Refused("internal", f"the tool returned something that is not JSON: {e}") from None
    result: Dict[str, Any] = {"content": [{"type": "text", "text": text}]}
    if isinstance(value, dict):
        result["structuredContent"] = value
    return json.dumps(result, ensure_ascii=False, allow_nan=False)


def describe(e: BaseException) -> str:
    """An exception as a call's error message: its type and its text."""
    from . import CallError

    if isinstance(e, CallError):
        return f"CallError: {e}"
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def invoke(name: str, args: str) -> str:
    """Runs the tool ``name`` on the JSON ``args``; returns a
    CallToolResult as JSON, or raises :class:`Refused`."""
    entry = TOOLS.get(name)
    if entry is None:
        raise Refused("not-found", f"this adapter has no tool {name!r}")
    try:
        value = json.loads(args) if args.strip() else {}
    except ValueError as e:
        raise Refused("invalid-args", f"the arguments are not valid JSON: {e}") from None
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise Refused("invalid-args", "the arguments must be a JSON object")
    kwargs = {**entry.fallbacks, **value}
    for key, cls in entry.enums.items():
        if key in kwargs and not isinstance(kwargs[key], cls):
            try:
                kwargs[key] = cls(kwargs[key])
            except ValueError as e:
                raise Refused("invalid-args", f"the arguments do not fit {name}: {key}: {e}") from None
    try:
        entry.signature.bind(**kwargs)
    except TypeError as e:
        raise Refused("invalid-args", f"the arguments do not fit {name}: {e}") from None
    try:
        out = entry.fn(**kwargs)
    except ToolError as e:
        raise Refused(e.kind, e.message) from None
    except Exception as e:
        log_traceback(e)
        raise Refused("tool-error", describe(e)) from None
    return _result(out)
