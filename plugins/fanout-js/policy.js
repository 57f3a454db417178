// Fan-out/fan-in: ask several servers at once and merge their answers into
// one snapshot. All calls go out concurrently (`callAll`), so the run takes
// as long as the slowest server, not the sum. The JavaScript port of
// plugins/fanout.
//
// Input: {"repo": "/path/to/repo", "timezones": ["UTC", "Asia/Tokyo"]}.

import { CallError, callAll, progress } from "weft-guest";

export function run(input) {
  const repo = input?.repo;
  if (typeof repo !== "string") throw new Error("input.repo (a git repository path) is required");
  const zones = Array.isArray(input.timezones) ? input.timezones.filter((z) => typeof z === "string") : ["UTC"];
  const calls = [
    ["git", "git_status", { repo_path: repo }],
    ["git", "git_log", { repo_path: repo, max_count: 3 }],
    ["memory", "read_graph", {}],
    ...zones.map((zone) => ["time", "get_current_time", { timezone: zone }]),
  ];
  progress(0, calls.length, "asking every server at once");
  const merged = {};
  const times = {};
  const failures = [];
  callAll(calls).forEach((result, i) => {
    const [server, tool] = calls[i];
    if (result instanceof CallError) {
      failures.push({ call: `${server}.${tool}`, kind: result.kind, message: result.message });
    } else if (tool === "get_current_time") {
      const v = result.value();
      const zone = typeof v?.timezone === "string" ? v.timezone : "?";
      times[zone] = v?.datetime ?? null;
    } else {
      merged[`${server}.${tool}`] = result.value();
    }
  });
  merged.times = times;
  merged.failures = failures;
  return merged;
}
