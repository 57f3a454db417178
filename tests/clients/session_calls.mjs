// An agent on the TypeScript MCP SDK (1.x, the handshake era, streamable
// HTTP) that makes N calls in one session, for tests/replicas.rs: behind
// a load balancer, every request after `initialize` may reach another
// weft replica.
//
// Usage: node session_calls.mjs NODE_MODULES URL KEY TOOL N
//   NODE_MODULES  the folder that holds @modelcontextprotocol/sdk
//   URL           weft's /mcp (through the load balancer)
//   KEY           a tenant's key, sent as a bearer token
//   TOOL          the tool to call N times, with {"message": "I"}
//
// Prints one JSON object: {"session": id, "ok": count, "texts": [...],
// "errors": [...]}; the session id is read before and after the calls.

import path from "node:path";
import { pathToFileURL } from "node:url";

const [modules, url, key, tool, n] = process.argv.slice(2);
const load = (p) => import(pathToFileURL(path.join(modules, "@modelcontextprotocol/sdk/dist/esm", p)).href);
const { Client } = await load("client/index.js");
const { StreamableHTTPClientTransport } = await load("client/streamableHttp.js");

const client = new Client({ name: "weft-replica-test", version: "1.0.0" }, { capabilities: {} });
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${key}` } },
});
await client.connect(transport);
const session = transport.sessionId;
const texts = [];
const errors = [];
for (let i = 0; i < Number(n); i++) {
  try {
    const result = await client.callTool({ name: tool, arguments: { message: String(i) } });
    if (result.isError) {
      errors.push(JSON.stringify(result.content));
    } else {
      texts.push(result.content?.[0]?.text ?? "");
    }
  } catch (e) {
    errors.push(String(e?.message ?? e));
  }
}
const after = transport.sessionId;
await client.close();
console.log(JSON.stringify({ session, after, ok: texts.length, texts, errors }));
