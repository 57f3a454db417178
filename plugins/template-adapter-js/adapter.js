// The smallest useful adapter: start a new one with
// `weft new --adapter --lang js NAME`.
//
// It offers two tools. `greet` answers from its own code and its config
// (`[servers.NAME.config] greeting = "..."`); `shout` is built on another
// server's tool (server-everything's `echo`, granted to the adapter as
// `grants = ["everything.echo"]`).

import { call, config, tool } from "weft-guest";

tool(
  "greet",
  {
    description: "Greets someone by name.",
    readOnly: true,
    inputSchema: {
      type: "object",
      properties: {
        name: { type: "string", description: "Whom to greet." },
        times: { type: "integer", description: "How many times to say it.", default: 1 },
      },
      required: ["name"],
      additionalProperties: false,
    },
  },
  ({ name, times = 1 }) => {
    const greeting = config().greeting ?? "Hello";
    return Array(Math.max(1, Math.min(times, 10))).fill(`${greeting}, ${name}!`).join(" ");
  },
);

tool(
  "shout",
  {
    description: "Says a message louder, through server-everything's echo.",
    inputSchema: {
      type: "object",
      properties: { message: { type: "string", description: "What to say, louder." } },
      required: ["message"],
      additionalProperties: false,
    },
  },
  ({ message }) => ({ shouted: call("everything", "echo", { message: message.toUpperCase() }).text }),
);
