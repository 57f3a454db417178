// A JavaScript adapter for weft's tests (tests/adapters_polyglot.rs):
// tools with schemas, one built on server-everything, an async one,
// failing tools and hostile ones.

import { ToolError, call, config, tool } from "weft-guest";

const none = { type: "object", properties: {}, additionalProperties: false };

tool(
  "describe",
  {
    description: "Reports its arguments back.",
    title: "Describe",
    readOnly: true,
    inputSchema: {
      type: "object",
      properties: { name: { type: "string" }, count: { type: "integer" } },
      required: ["name"],
      additionalProperties: false,
    },
  },
  ({ name, count = 1 }) => ({ name, count, types: [typeof name, typeof count] }),
);

tool(
  "echo_through",
  {
    description: "Echoes through server-everything.",
    inputSchema: { type: "object", properties: { message: { type: "string" } }, required: ["message"] },
  },
  ({ message }) => call("everything", "echo", { message }).text,
);

tool(
  "later",
  {
    description: "Answers from a Promise.",
    inputSchema: { type: "object", properties: { message: { type: "string" } }, required: ["message"] },
  },
  async ({ message }) => {
    await Promise.resolve();
    return `${message}, later`;
  },
);

tool("settings", { description: "The adapter's config.", inputSchema: none }, () => ({ config: config() }));

tool(
  "fail",
  { description: "Throws a RangeError.", inputSchema: { type: "object", properties: { why: { type: "string" } } } },
  ({ why }) => {
    throw new RangeError(why);
  },
);

tool("refuse", { description: "Fails with a kind of its own." }, () => {
  throw new ToolError("not today", "invalid-args");
});

tool("spin", { description: "Never returns." }, () => {
  for (;;) {}
});

tool("hoard", { description: "Takes memory until stopped." }, () => {
  const kept = [];
  for (;;) kept.push(new Uint8Array(8 << 20));
});
