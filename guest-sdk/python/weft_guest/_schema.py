"""JSON Schemas from a tool function's signature, for ``@tool``.

Each parameter becomes a property of an object schema, typed from its
annotation; a parameter without a default (and not ``Optional``) is
required. The docstring's first part is the tool's description, and a
Google-style ``Args:`` section describes the properties.

Only types JSON can carry are accepted; anything else fails at
decoration time, when ``weft build`` imports the module, so a schema never
promises what the tool cannot take.
"""

from __future__ import annotations

import enum
import inspect
import json
import re
import types
import typing
from typing import Any, Callable, Dict, List, Optional, Tuple

JsonSchema = Dict[str, Any]

_SIMPLE: Dict[Any, str] = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
}


class SchemaError(TypeError):
    """A parameter whose type has no JSON Schema."""


def _union_args(hint: Any) -> Optional[Tuple[Any, ...]]:
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(hint)
    return None


def _nullable(schema: JsonSchema) -> JsonSchema:
    """``schema`` that also accepts ``null``."""
    kind = schema.get("type")
    if isinstance(kind, str) and "enum" not in schema:
        return {**schema, "type": [kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def schema_of(hint: Any, where: str) -> JsonSchema:
    """The JSON Schema of one annotation; ``where`` names it in errors.

    >>> schema_of(Optional[List[int]], "x")
    {'type': ['array', 'null'], 'items': {'type': 'integer'}}
    >>> schema_of(typing.Literal["a", "b"], "x")
    {'enum': ['a', 'b'], 'type': 'string'}
    """
    if hint is inspect.Parameter.empty or hint is Any or hint is object:
        return {}
    if hint is None or hint is type(None):
        return {"type": "null"}
    if hint in _SIMPLE:
        return {"type": _SIMPLE[hint]}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum([m.value for m in hint], where)
    members = _union_args(hint)
    if members is not None:
        rest = [m for m in members if m is not type(None)]
        inner = (
            schema_of(rest[0], where)
            if len(rest) == 1
            else {"anyOf": [schema_of(m, where) for m in rest]}
        )
        return _nullable(inner) if len(rest) < len(members) else inner
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        schema = schema_of(args[0], where)
        notes = [a for a in args[1:] if isinstance(a, str)]
        if notes:
            schema = {**schema, "description": " ".join(notes)}
        return schema
    if origin is typing.Literal:
        return _enum(list(args), where)
    if hint in (list, tuple, set, frozenset) or origin in (list, tuple, set, frozenset):
        array: JsonSchema = {"type": "array"}
        if origin is tuple and args and args[-1] is not Ellipsis:
            array["prefixItems"] = [schema_of(a, where) for a in args]
            array["minItems"] = array["maxItems"] = len(args)
        elif args:
            array["items"] = schema_of(args[0], where)
        return array
    if hint is dict or origin is dict:
        obj: JsonSchema = {"type": "object"}
        if len(args) == 2:
            if args[0] is not str:
                raise SchemaError(f"{where}: JSON object keys are strings, not {args[0]!r}")
            value = schema_of(args[1], where)
            if value:
                obj["additionalProperties"] = value
        return obj
    raise SchemaError(
        f"{where}: no JSON Schema for the type {hint!r}: use str, int, float, bool, "
        "list[...], dict[str, ...], Optional[...], Literal[...], an Enum or Any, "
        "or give @tool(schema=...)"
    )


def _enum(values: List[Any], where: str) -> JsonSchema:
    for v in values:
        try:
            json.dumps(v, allow_nan=False)
        except (TypeError, ValueError):
            raise SchemaError(f"{where}: the choice {v!r} is not JSON") from None
    schema: JsonSchema = {"enum": values}
    kinds = {_SIMPLE.get(type(v)) for v in values}
    if len(kinds) == 1 and None not in kinds:
        schema["type"] = kinds.pop()
    return schema


_ARGS_HEADER = re.compile(r"^(Args|Arguments|Parameters):\s*$")
_ARG_LINE = re.compile(r"^(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")


def split_doc(doc: Optional[str]) -> Tuple[str, Dict[str, str]]:
    """The description and the per-argument notes of a docstring.

    >>> split_doc('''Greets someone.
    ...
    ...     Args:
    ...         name: Whom to greet.
    ...         times (int): How often,
    ...             at most ten.
    ...     ''')
    ('Greets someone.', {'name': 'Whom to greet.', 'times': 'How often, at most ten.'})
    """
    text = inspect.cleandoc(doc) if doc else ""
    lines = text.splitlines()
    head: List[str] = []
    notes: Dict[str, str] = {}
    i = 0
    while i < len(lines):
        if not _ARGS_HEADER.match(lines[i].strip()):
            head.append(lines[i])
            i += 1
            continue
        i += 1
        current: Optional[str] = None
        indent: Optional[int] = None
        while i < len(lines):
            line = lines[i]
            if not line.strip():
                i += 1
                current = None
                continue
            depth = len(line) - len(line.lstrip())
            if depth == 0:
                break
            if indent is None:
                indent = depth
            found = _ARG_LINE.match(line.strip()) if depth == indent else None
            if found:
                current = found.group(1).lstrip("*")
                notes[current] = found.group(3).strip()
            elif current is not None:
                notes[current] = f"{notes[current]} {line.strip()}".strip()
            i += 1
    return "\n".join(head).strip(), notes


def input_schema(
    fn: Callable[..., Any], tool: str
) -> Tuple[JsonSchema, Dict[str, Any], Dict[str, Any]]:
    """The input schema of ``fn``; the default each optional parameter
    gets when an agent leaves it out (``None`` for an ``Optional`` one
    without a default of its own); and the ``Enum`` class of each
    parameter annotated with one, whose values arrive as members."""
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as e:
        raise SchemaError(f"tool {tool!r}: cannot read its type hints: {e}") from None
    _, notes = split_doc(fn.__doc__)
    properties: Dict[str, JsonSchema] = {}
    required: List[str] = []
    fallbacks: Dict[str, Any] = {}
    enums: Dict[str, Any] = {}
    open_ended = False
    for name, p in inspect.signature(fn).parameters.items():
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            open_ended = True
            continue
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.POSITIONAL_ONLY):
            raise SchemaError(
                f"tool {tool!r}: parameter {name!r} cannot be given by name; "
                "a tool's arguments arrive as a JSON object"
            )
        hint = hints.get(name, inspect.Parameter.empty)
        prop = schema_of(hint, f"tool {tool!r}, parameter {name!r}")
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            enums[name] = hint
        if name in notes and "description" not in prop:
            prop = {**prop, "description": notes[name]}
        if p.default is not inspect.Parameter.empty:
            default = p.default.value if isinstance(p.default, enum.Enum) else p.default
            try:
                json.dumps(default, allow_nan=False)
                prop = {**prop, "default": default}
            except (TypeError, ValueError):
                pass
        elif _union_args(hint) is not None and type(None) in typing.get_args(hint):
            fallbacks[name] = None
        else:
            required.append(name)
        properties[name] = prop
    schema: JsonSchema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if not open_ended:
        schema["additionalProperties"] = False
    return schema, fallbacks, enums
