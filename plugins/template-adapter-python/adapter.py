"""The smallest useful adapter: start a new one with
`weft new --adapter --lang python NAME`.

It offers two tools. `greet` answers from its own code and its config
(`[servers.NAME.config] greeting = "..."`); `shout` is built on another
server's tool (server-everything's `echo`, granted to the adapter as
`grants = ["everything.echo"]`).
"""

from typing import Optional

from weft_guest import call, config, tool


@tool(read_only=True)
def greet(name: str, times: int = 1, punctuation: Optional[str] = None) -> str:
    """Greets someone by name.

    Args:
        name: Whom to greet.
        times: How many times to say it.
        punctuation: What ends the greeting (default "!").
    """
    greeting = config().get("greeting", "Hello")
    return " ".join([f"{greeting}, {name}{punctuation or '!'}"] * max(1, min(times, 10)))


@tool
def shout(message: str) -> dict:
    """Says a message louder, through server-everything's echo.

    Args:
        message: What to say, louder.
    """
    echoed = call("everything", "echo", {"message": message.upper()})
    return {"shouted": echoed.text}
