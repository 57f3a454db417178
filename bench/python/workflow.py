"""One workflow of a "code as policies" orchestrator: a fresh Python process
that makes N sequential `echo` calls through the bridge (bridge.py) with
nothing but the standard library, then prints a one-line JSON summary.

Usage: workflow.py URL N     (URL: the bridge, e.g. http://127.0.0.1:8123)
"""

import json
import sys
import urllib.request


def call(url, tool, arguments):
    req = urllib.request.Request(
        url + "/call",
        data=json.dumps({"tool": tool, "arguments": arguments}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def main():
    url, n = sys.argv[1].rstrip("/"), int(sys.argv[2])
    ok, last = 0, ""
    for i in range(n):
        result = call(url, "echo", {"message": str(i)})
        if not result.get("isError"):
            ok += 1
        texts = [c.get("text", "") for c in result.get("content", []) if c.get("type") == "text"]
        last = "\n".join(texts)
    print(json.dumps({"calls": n, "ok": ok, "last": last}))


if __name__ == "__main__":
    main()
