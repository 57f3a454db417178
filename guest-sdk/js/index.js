// weft-guest: write weft policies in JavaScript.
//
// A policy is an ES module (`policy.js`) that exports `run(input)`: it gets
// the run's input as a parsed JSON value and returns the output (any value
// JSON.stringify accepts). `weft build` bundles it with this module and
// turns it into a Wasm component for the `policy` world of weft:mcp@0.2.0,
// whose imports are reached below.

import { callTool, callTools, listTools as hostListTools } from "weft:mcp/tools@0.2.0";
import { log as hostLog, progress as hostProgress } from "weft:mcp/host-log@0.2.0";

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
  // The frames from __runPolicy down are weft's wiring, not the policy.
  const wiring = frames.findIndex((f) => f.startsWith("__runPolicy@"));
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
