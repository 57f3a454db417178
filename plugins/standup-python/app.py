"""A daily stand-up report from four servers, in Python: the port of
plugins/standup.

Recent commits (`git`), the project's files (`files`), the date (`time`),
and the finished report stored in the knowledge graph (`memory`) so
tomorrow's run can refer to it.

Input: {"repo": "/path/to/repo", "dir": "/path/to/project", "timezone": "UTC"}.
"""

import json
from typing import Any, Dict, List

from weft_guest import CallError, ToolResult, call, call_all, log


def _lines(text: str) -> List[str]:
    """Lines split on \\n, without a trailing \\r (as the Rust original splits them)."""
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def run(input: Any) -> Dict[str, Any]:
    args: Dict[str, Any] = input if isinstance(input, dict) else {}
    repo = args.get("repo")
    if not isinstance(repo, str):
        raise ValueError("input.repo is required")
    folder = args.get("dir")
    folder = folder if isinstance(folder, str) else repo
    zone = args.get("timezone")
    zone = zone if isinstance(zone, str) else "UTC"

    # The three reads are independent: ask all at once.
    results = call_all(
        [
            ("time", "get_current_time", {"timezone": zone}),
            ("git", "git_log", {"repo_path": repo, "max_count": 5}),
            ("files", "list_directory", {"path": folder}),
        ]
    )
    for r in results:
        if isinstance(r, CallError):
            raise r
    now, commits_result, files = (r for r in results if isinstance(r, ToolResult))

    now_value = now.value()
    datetime = now_value.get("datetime") if isinstance(now_value, dict) else None
    date = datetime[:10] if isinstance(datetime, str) else ""
    commits = [
        line.strip()[len("Message:") :].strip().strip("'")
        for line in _lines(commits_result.text)
        if line.strip().startswith("Message:")
    ]
    listing = _lines(files.text)
    file_count = sum(1 for line in listing if line.startswith("[FILE]"))
    dir_count = sum(1 for line in listing if line.startswith("[DIR]"))

    report = f"Stand-up {date}\n\nYesterday's commits:\n"
    for c in commits:
        report += f"- {c}\n"
    report += f"\nThe project has {file_count} files and {dir_count} folders at the top level.\n"

    entity = f"standup {date}"
    call(
        "memory",
        "create_entities",
        {"entities": [{"name": entity, "entityType": "standup", "observations": [report]}]},
    )
    log("info", f"stored the report as {json.dumps(entity, ensure_ascii=False)}")
    return {"date": date, "commits": commits, "files": file_count, "report": report, "stored_as": entity}
