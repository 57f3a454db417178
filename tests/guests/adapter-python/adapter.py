"""A Python adapter for weft's tests (tests/adapters_polyglot.rs): typed
tools whose schemas come from their hints, a tool built on
server-everything, a tool with a schema of its own, failing tools and
hostile ones."""

from enum import Enum
from typing import Any, Dict, List, Literal, Optional

from weft_guest import ToolError, call, config, tool


class Color(Enum):
    RED = "red"
    BLUE = "blue"


@tool(read_only=True, title="Describe")
def describe(
    name: str,
    count: int,
    ratio: float,
    loud: bool,
    tags: List[str],
    scores: Dict[str, int],
    note: Optional[str],
    color: Color = Color.RED,
    mode: Literal["fast", "slow"] = "fast",
    level: int = 3,
) -> Dict[str, Any]:
    """Reports its arguments back, typed.

    Args:
        name: Who is asking.
        count: How many.
    """
    return {
        "name": name,
        "count": count,
        "ratio": ratio,
        "loud": loud,
        "tags": tags,
        "scores": scores,
        "note": note,
        "color": color.value,
        "mode": mode,
        "level": level,
        "types": [type(v).__name__ for v in (name, count, ratio, loud, tags, scores, note)],
    }


@tool
def echo_through(message: str) -> str:
    """Echoes through server-everything."""
    return call("everything", "echo", {"message": message}).text


@tool(name="sum", description="Adds numbers.", schema={
    "type": "object",
    "properties": {"numbers": {"type": "array", "items": {"type": "number"}}},
    "required": ["numbers"],
})
def add(**args: Any) -> float:
    return float(sum(args["numbers"]))


@tool
def settings() -> Dict[str, Any]:
    """The adapter's config."""
    return {"config": config()}


@tool
def fail(why: str) -> str:
    """Raises a ValueError."""
    raise ValueError(why)


@tool
def refuse() -> str:
    """Fails with a kind of its own."""
    raise ToolError("not today", kind="invalid-args")


@tool
def spin() -> str:
    """Never returns."""
    while True:
        pass


@tool
def hoard() -> str:
    """Takes memory until stopped."""
    kept = []
    while True:
        kept.append(bytearray(1 << 20))
