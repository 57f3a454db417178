"""Fan-out/fan-in, in Python: the port of plugins/fanout.

Asks several servers at once and merges their answers into one snapshot.
All calls go out concurrently (`call_all`), so the run takes as long as
the slowest server, not the sum.

Input: {"repo": "/path/to/repo", "timezones": ["UTC", "Asia/Tokyo"]}.
"""

from typing import Any, Dict, List, Tuple

from weft_guest import CallError, call_all, progress


def run(input: Any) -> Dict[str, Any]:
    args: Dict[str, Any] = input if isinstance(input, dict) else {}
    repo = args.get("repo")
    if not isinstance(repo, str):
        raise ValueError("input.repo (a git repository path) is required")
    zones = args.get("timezones")
    if isinstance(zones, list):
        zones = [z for z in zones if isinstance(z, str)]
    else:
        zones = ["UTC"]
    calls: List[Tuple[str, str, Any]] = [
        ("git", "git_status", {"repo_path": repo}),
        ("git", "git_log", {"repo_path": repo, "max_count": 3}),
        ("memory", "read_graph", {}),
    ]
    calls += [("time", "get_current_time", {"timezone": zone}) for zone in zones]
    progress(0, len(calls), "asking every server at once")
    merged: Dict[str, Any] = {}
    times: Dict[str, Any] = {}
    failures: List[Dict[str, str]] = []
    for (server, tool, _), result in zip(calls, call_all(calls)):
        if isinstance(result, CallError):
            failures.append({"call": f"{server}.{tool}", "kind": result.kind, "message": result.message})
        elif tool == "get_current_time":
            v = result.value()
            answer = v if isinstance(v, dict) else {}
            zone = answer.get("timezone")
            times[zone if isinstance(zone, str) else "?"] = answer.get("datetime")
        else:
            merged[f"{server}.{tool}"] = result.value()
    merged["times"] = times
    merged["failures"] = failures
    return merged
