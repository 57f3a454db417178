// An agent on the TypeScript MCP SDK (1.x, the handshake era) that
// declares elicitation and answers weft's approval questions, for
// tests/approvals.rs.
//
// Usage: node approval_agent.mjs NODE_MODULES ANSWER TOOL ARGS_JSON COMMAND [ARG ...]
//   NODE_MODULES  the folder that holds @modelcontextprotocol/sdk
//   ANSWER        approve | decline: what it answers every question
//   TOOL          the tool to call, with ARGS_JSON as its arguments
//   COMMAND ...   weft serve over stdio
//
// Prints one JSON object: {"asked": [messages], "error": bool, "text": ...}.

import path from "node:path";
import { pathToFileURL } from "node:url";

const [modules, answer, tool, argsJson, command, ...args] = process.argv.slice(2);
const load = (p) => import(pathToFileURL(path.join(modules, "@modelcontextprotocol/sdk/dist/esm", p)).href);
const { Client } = await load("client/index.js");
const { StdioClientTransport } = await load("client/stdio.js");
const { ElicitRequestSchema } = await load("types.js");

const asked = [];
const client = new Client(
  { name: "weft-approval-test", version: "1.0.0" },
  { capabilities: { elicitation: { form: {} } } },
);
client.setRequestHandler(ElicitRequestSchema, async (request) => {
  asked.push(request.params.message);
  if (answer === "approve") {
    return { action: "accept", content: { approve: true } };
  }
  return { action: "decline" };
});
const transport = new StdioClientTransport({
  command,
  args,
  env: { PATH: process.env.PATH, HOME: process.env.HOME, WEFT_LOG: "error" },
  stderr: "inherit",
});
await client.connect(transport);
const result = await client.callTool({ name: tool, arguments: JSON.parse(argsJson) });
const text = (result.content ?? [])
  .filter((c) => c.type === "text")
  .map((c) => c.text)
  .join("\n");
console.log(JSON.stringify({ asked, error: Boolean(result.isError), text }));
await client.close();
