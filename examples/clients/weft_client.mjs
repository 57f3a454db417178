// An agent of your own, on the TypeScript MCP SDK (1.x), connected to
// `weft serve --http` with a tenant key: it lists the tenant's tools and
// calls one.
//
//   WEFT_URL=http://127.0.0.1:8765/mcp WEFT_KEY=weft_... node weft_client.mjs

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const url = new URL(process.env.WEFT_URL ?? "http://127.0.0.1:8765/mcp");
// The key travels as a bearer token on every request.
const transport = new StreamableHTTPClientTransport(url, {
  requestInit: { headers: { Authorization: `Bearer ${process.env.WEFT_KEY}` } },
});
const client = new Client({ name: "my-agent", version: "1.0.0" });
await client.connect(transport);
const { tools } = await client.listTools();
console.log("tools:", tools.map((tool) => tool.name).join(", "));
const result = await client.callTool({ name: "everything__echo", arguments: { message: "hi" } });
console.log(result.isError ? "error:" : "result:", result.content[0].text);
await client.close();
