// weft-guest: write weft policies and adapters in JavaScript.
//
// A policy is an ES module (`policy.js`) that exports `run(input)`: it gets
// the run's input as a parsed JSON value and returns the output (any value
// JSON.stringify accepts). An adapter is an ES module (`adapter.js`) that
// registers tools with `tool(name, options, fn)`. `weft build` bundles
// either with this module and turns it into a Wasm component for the
// `policy` or the `adapter` world of weft:mcp@0.2.0, whose imports are
// reached below.

import { callTool, callTools, listTools as hostListTools } from "weft:mcp/tools@0.2.0";
import { log as hostLog, progress as hostProgress } from "weft:mcp/host-log@0.2.0";
import { config as hostConfig } from "weft:mcp/config@0.2.0";

// The engine's own fetch() cannot work in weft, which offers no wasi:http
// (`weft build` leaves HTTP out of the engine): called, it would abort the
// run with a bare trap. This one fails the way fetch() fails, saying why.
globalThis.fetch = function fetch() {
  return Promise.reject(
    new TypeError("fetch() is not available in a weft policy: reach other systems through MCP tools, with call()"),
  );
};

/** A failed call: its kind (a WIT error-kind, like "not-found"), the host's
 * message, and the server and tool that were called. */
export class CallError extends Error {
  constructor(kind, message, server, tool) {
    super(message);
    this.name = "CallError";
    this.kind = kind;
    this.server = server;
    this.tool = tool;
  }

  toString() {
    return `CallError: ${this.server}.${this.tool}: ${this.kind}: ${this.message}`;
  }
}

/** A tool's result: the whole MCP CallToolResult, with helpers. */
export class ToolResult {
  constructor(json) {
    /** The whole result (`content`, `structuredContent`, `_meta`). */
    this.json = json;
  }

  /** The text of every text block, joined by newlines. */
  get text() {
    const blocks = this.json && Array.isArray(this.json.content) ? this.json.content : [];
    return blocks
      .filter((b) => b && b.type === "text" && typeof b.text === "string")
      .map((b) => b.text)
      .join("\n");
  }

  /** The structured content, or undefined when the tool returned none. */
  get structured() {
    const s = this.json == null || typeof this.json !== "object" ? undefined : this.json.structuredContent;
    return s == null ? undefined : s;
  }

  /** The structured content, else the text parsed as JSON, else the text. */
  value() {
    const s = this.structured;
    if (s !== undefined) return s;
    const text = this.text;
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
}

function argsText(args) {
  return args == null ? "" : JSON.stringify(args);
}

function toResult(text) {
  try {
    return new ToolResult(JSON.parse(text));
  } catch {
    return new ToolResult(text);
  }
}

// The host's call-error record (or anything else a failed import throws) as
// a CallError naming the call.
function toCallError(e, server, tool) {
  const p = e && typeof e === "object" && "payload" in e ? e.payload : e;
  if (p && typeof p === "object" && typeof p.kind === "string") {
    return new CallError(p.kind, String(p.message), String(p.server), String(p.tool));
  }
  return new CallError("internal", String(p), server, tool);
}

/** Calls `tool` on `server` with an object of arguments (or nothing).
 * Returns a ToolResult; throws a CallError when the call fails (a result
 * with `isError: true` is a CallError of kind "tool-error"). */
export function call(server, tool, args) {
  let text;
  try {
    text = callTool(String(server), String(tool), argsText(args));
  } catch (e) {
    throw toCallError(e, String(server), String(tool));
  }
  return toResult(text);
}

/** Runs the calls (`[[server, tool, args], ...]`) concurrently. Returns an
 * array in the same order whose items are ToolResult or CallError: a failed
 * call is returned, not thrown, and does not fail the others. */
export function callAll(calls) {
  const list = Array.from(calls, ([server, tool, args]) => ({
    server: String(server),
    tool: String(tool),
    args: argsText(args),
  }));
  return callTools(list).map((r, i) => {
    const { server, tool } = list[i];
    if (r && r.tag === "ok") return toResult(r.val);
    return toCallError(r ? r.val : r, server, tool);
  });
}

function parseSchema(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The tools this policy may call (only granted ones), on one server or
 * all: `{server, name, title, description, inputSchema, outputSchema,
 * readOnly}`, with the schemas parsed. */
export function listTools(server) {
  return hostListTools(server == null ? undefined : String(server)).map((t) => ({
    server: t.server,
    name: t.name,
    title: t.title == null ? undefined : t.title,
    description: t.description,
    inputSchema: parseSchema(t.inputSchema),
    outputSchema: t.outputSchema == null ? undefined : parseSchema(t.outputSchema),
    readOnly: t.readOnly,
  }));
}

/** Writes a line to the run's log (`error`, `warn`, `info` or `debug`). */
export function log(level, message) {
  hostLog(String(level), String(message));
}

/** Reports progress; `weft serve` forwards it to the agent. */
export function progress(done, total, message) {
  hostProgress(Number(done), total == null ? undefined : Number(total), message == null ? undefined : String(message));
}

/** The adapter's `[servers.NAME.config]` table, parsed (`{}` when there is
 * none; a policy always gets `{}`). */
export function config() {
  try {
    return JSON.parse(hostConfig());
  } catch {
    return {};
  }
}

// The run's error text for a thrown value: a plain Error's message, the
// class name before it for any other error, or the value as text.
function describe(e) {
  if (e instanceof CallError) return e.toString();
  if (e instanceof Error) return e.name === "Error" ? e.message : `${e.name}: ${e.message}`;
  return String(e);
}

// The most stack frames logged: deep recursion would repeat one frame
// hundreds of times.
const MAX_FRAMES = 32;

function stackOf(e) {
  if (!(e instanceof Error) || typeof e.stack !== "string") return "";
  let frames = e.stack.trimEnd().split("\n");
  // The frames from __runPolicy (or __callTool) down are weft's wiring,
  // not the author's code.
  const wiring = frames.findIndex((f) => f.startsWith("__runPolicy@") || f.startsWith("__callTool@"));
  if (wiring >= 0) frames = frames.slice(0, wiring);
  if (frames.length <= MAX_FRAMES) return frames.join("\n");
  return [...frames.slice(0, MAX_FRAMES), `... ${frames.length - MAX_FRAMES} more frames`].join("\n");
}

function fail(e) {
  const text = describe(e);
  const stack = stackOf(e);
  hostLog("error", stack ? `${text}\n${stack}` : text);
  // What a thrown string means to the export: the `err` of its result.
  throw text;
}

function output(value) {
  const text = JSON.stringify(value === undefined ? null : value);
  if (text === undefined) throw new TypeError(`run returned a ${typeof value}, which is not JSON`);
  return text;
}

/** Wires an author's `run(input)` to the component's export: `weft build`
 * generates the call; policies do not use it. */
export function __runPolicy(run, input) {
  let value;
  try {
    value = input.trim() === "" ? null : JSON.parse(input);
  } catch (e) {
    throw `the input is not valid JSON: ${e.message}`;
  }
  let result;
  try {
    if (typeof run !== "function") throw new TypeError("policy.js must export a function `run(input)`");
    result = run(value);
  } catch (e) {
    fail(e);
  }
  if (result && typeof result.then === "function") {
    return Promise.resolve(result).then(output).catch(fail);
  }
  try {
    return output(result);
  } catch (e) {
    fail(e);
  }
}

// ---- Adapters ----

// The WIT error kinds, as a ToolError's kind may name them.
const KINDS = [
  "not-found",
  "denied",
  "invalid-args",
  "timeout",
  "rate-limited",
  "unavailable",
  "tool-error",
  "limit-exceeded",
  "internal",
];

/** Throw it in a tool to fail the call with a message and a kind (one of
 * the WIT error kinds; "tool-error", the default, says the tool ran and
 * failed). Anything else a tool throws fails it as a "tool-error" whose
 * message is the error's name and message. */
export class ToolError extends Error {
  constructor(message, kind = "tool-error") {
    if (!KINDS.includes(kind)) {
      throw new TypeError(`${JSON.stringify(kind)} is not an error kind: use one of ${KINDS.join(", ")}`);
    }
    super(message);
    this.name = "ToolError";
    this.kind = kind;
  }
}

// The tools registered so far, by name, in order.
const TOOLS = new Map();

/** Registers one of the adapter's tools: `name`, options `{description,
 * title, inputSchema, outputSchema, readOnly}` (all optional; the input
 * schema defaults to an object that takes no arguments) and `fn(args)`,
 * which gets the arguments as an object and returns the result (a string
 * becomes its text; anything else JSON text, and an object the structured
 * content too; a ToolResult from `call` is passed on as it is), or a
 * Promise of it. Returns `fn`. */
export function tool(name, options, fn) {
  if (typeof options === "function" && fn === undefined) {
    fn = options;
    options = {};
  }
  options = options ?? {};
  if (typeof name !== "string" || name.length === 0 || name.length > 128) {
    throw new TypeError(`${JSON.stringify(name)} cannot name a tool: use a string of 1 to 128 characters`);
  }
  if (TOOLS.has(name)) throw new TypeError(`two tools are named ${JSON.stringify(name)}`);
  if (typeof fn !== "function") throw new TypeError(`tool ${JSON.stringify(name)}: the last argument must be its function`);
  const schema = options.inputSchema ?? { type: "object", properties: {}, additionalProperties: false };
  if (schema === null || typeof schema !== "object" || Array.isArray(schema) || (schema.type ?? "object") !== "object") {
    throw new TypeError(`tool ${JSON.stringify(name)}: inputSchema must be a JSON Schema of an object`);
  }
  TOOLS.set(name, {
    info: {
      server: "",
      name,
      title: options.title == null ? undefined : String(options.title),
      description: String(options.description ?? ""),
      inputSchema: JSON.stringify(schema),
      outputSchema: options.outputSchema == null ? undefined : JSON.stringify(options.outputSchema),
      readOnly: Boolean(options.readOnly),
    },
    fn,
  });
  return fn;
}

function refusal(kind, message, tool) {
  return { kind, message: String(message), server: "", tool };
}

function toolResult(value, name) {
  if (value instanceof ToolResult && value.json && typeof value.json === "object") {
    return JSON.stringify(value.json);
  }
  const text = typeof value === "string" ? value : JSON.stringify(value === undefined ? null : value);
  if (text === undefined) {
    throw refusal("internal", `the tool returned a ${typeof value}, which is not JSON`, name);
  }
  const result = { content: [{ type: "text", text }] };
  if (value !== null && typeof value === "object" && !Array.isArray(value)) result.structuredContent = value;
  return JSON.stringify(result);
}

function toolFailure(e, name) {
  if (e instanceof ToolError) throw refusal(e.kind, e.message, name);
  const text = describe(e);
  const stack = stackOf(e);
  try {
    hostLog("error", stack ? `${text}\n${stack}` : text);
  } catch {
    // The log is best effort; the call's error says what happened.
  }
  throw refusal("tool-error", text, name);
}

/** What `weft build` exports as the adapter's `list-tools`; adapters do
 * not call it. */
export function __listTools() {
  return Array.from(TOOLS.values(), (t) => ({ ...t.info }));
}

/** What `weft build` exports as the adapter's `call-tool`; adapters do
 * not call it. */
export function __callTool(name, args) {
  const entry = TOOLS.get(name);
  if (!entry) throw refusal("not-found", `this adapter has no tool ${JSON.stringify(name)}`, name);
  let value;
  try {
    value = args.trim() === "" ? {} : JSON.parse(args);
  } catch (e) {
    throw refusal("invalid-args", `the arguments are not valid JSON: ${e.message}`, name);
  }
  if (value === null) value = {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw refusal("invalid-args", "the arguments must be a JSON object", name);
  }
  let out;
  try {
    out = entry.fn(value);
  } catch (e) {
    toolFailure(e, name);
  }
  if (out && typeof out.then === "function") {
    return Promise.resolve(out).then(
      (v) => toolResult(v, name),
      (e) => toolFailure(e, name),
    );
  }
  return toolResult(out, name);
}
