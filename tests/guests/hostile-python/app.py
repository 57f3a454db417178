"""A hostile Python policy for weft's sandbox tests: `{"attack": NAME}` picks
what it tries.

- `spin`: loops forever without calling out;
- `memory`: allocates 1 MiB blocks until something stops it;
- `recurse`: recurses without end (Python's own recursion limit);
- `deep`: the same with Python's recursion limit lifted, so the Wasm stack ends it;
- `flood`: calls `everything.echo` without end;
- `passwd`: reads /etc/passwd;
- `environ`: returns the environment it sees;
- `socket`: opens a TCP connection to 127.0.0.1:`{"port"}`;
- `sleep`: sleeps `{"ms"}` milliseconds (wasi clocks), then returns;
- `raise`: raises ValueError (a policy's own error, with a traceback);
- `echo`: behaves, returning its input.
"""

import os
import sys
import time
from typing import Any, Dict, List

from weft_guest import call


def _recurse(n: int) -> int:
    return _recurse(n + 1) + 1


def run(input: Any) -> Any:
    args: Dict[str, Any] = input if isinstance(input, dict) else {}
    attack = args.get("attack")
    if attack == "spin":
        x = 0
        while True:
            x = (x * 6364136223846793005 + 1) % (1 << 64)
    if attack == "memory":
        hoard: List[bytearray] = []
        while True:
            hoard.append(bytearray(1 << 20))
    if attack == "recurse":
        return _recurse(1)
    if attack == "deep":
        sys.setrecursionlimit(10**9)
        return _recurse(1)
    if attack == "flood":
        n = 0
        while True:
            try:
                call("everything", "echo", {"message": str(n)})
            except Exception:
                pass
            n += 1
    if attack == "passwd":
        with open("/etc/passwd") as f:
            return f.read()
    if attack == "environ":
        return dict(os.environ)
    if attack == "socket":
        import socket

        s = socket.create_connection(("127.0.0.1", int(args.get("port", 1))), timeout=2)
        s.close()
        return "connected"
    if attack == "sleep":
        time.sleep(float(args.get("ms", 1000)) / 1000)
        return "slept"
    if attack == "raise":
        raise ValueError("the policy refused")
    return {"echo": input}
