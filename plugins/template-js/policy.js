// The smallest useful policy: copy this folder to start a new one.
//
// Input: {"message": "..."}. Output: what server-everything's `echo` tool
// (granted as `everything.echo`) answers, and the tools this policy may call.

import { call, listTools } from "weft-guest";

export function run(input) {
  const message = typeof input?.message === "string" ? input.message : "hello from a weft policy";
  const echoed = call("everything", "echo", { message });
  const granted = listTools().map((t) => `${t.server}.${t.name}`);
  return { echo: echoed.text, granted };
}
