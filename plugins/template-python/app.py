"""The smallest useful policy: start a new one with `weft new --lang python NAME`.

Input: {"message": "..."}. Output: what server-everything's `echo` tool
(granted as `everything.echo`) answers, and the tools this policy may call.
"""

from weft_guest import call, list_tools


def run(input: dict) -> dict:
    message = (input or {}).get("message") or "hello from a weft policy"
    echoed = call("everything", "echo", {"message": message})
    granted = [f"{t.server}.{t.name}" for t in list_tools()]
    return {"echo": echoed.text, "granted": granted}
