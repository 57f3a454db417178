// A daily stand-up report from four servers: recent commits (`git`), the
// project's files (`files`), the date (`time`), and the finished report
// stored in the knowledge graph (`memory`) so tomorrow's run can refer to
// it. The JavaScript port of plugins/standup.
//
// Input: {"repo": "/path/to/repo", "dir": "/path/to/project", "timezone": "UTC"}.

import { CallError, call, callAll, log } from "weft-guest";

export function run(input) {
  const repo = input?.repo;
  if (typeof repo !== "string") throw new Error("input.repo is required");
  const dir = typeof input.dir === "string" ? input.dir : repo;
  const zone = typeof input.timezone === "string" ? input.timezone : "UTC";

  // The three reads are independent: ask all at once.
  const [now, commitsResult, files] = callAll([
    ["time", "get_current_time", { timezone: zone }],
    ["git", "git_log", { repo_path: repo, max_count: 5 }],
    ["files", "list_directory", { path: dir }],
  ]).map((r) => {
    if (r instanceof CallError) throw r;
    return r;
  });

  const datetime = now.value()?.datetime;
  const date = typeof datetime === "string" ? [...datetime].slice(0, 10).join("") : "";
  const lines = (text) => text.split("\n").map((l) => l.replace(/\r$/, ""));
  const commits = lines(commitsResult.text)
    .map((l) => l.trim())
    .filter((l) => l.startsWith("Message:"))
    .map((l) => l.slice("Message:".length).trim().replace(/^'+|'+$/g, ""));
  const listing = lines(files.text);
  const fileCount = listing.filter((l) => l.startsWith("[FILE]")).length;
  const dirCount = listing.filter((l) => l.startsWith("[DIR]")).length;

  let report = `Stand-up ${date}\n\nYesterday's commits:\n`;
  for (const c of commits) report += `- ${c}\n`;
  report += `\nThe project has ${fileCount} files and ${dirCount} folders at the top level.\n`;

  const entity = `standup ${date}`;
  call("memory", "create_entities", {
    entities: [{ name: entity, entityType: "standup", observations: [report] }],
  });
  log("info", `stored the report as ${JSON.stringify(entity)}`);
  return { date, commits, files: fileCount, report, stored_as: entity };
}
