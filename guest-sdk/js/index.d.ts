// Types of weft-guest, the JavaScript SDK for weft policies and adapters.

/** Why a call failed (the WIT `error-kind` of weft:mcp@0.2.0). */
export type ErrorKind =
  | "not-found"
  | "denied"
  | "invalid-args"
  | "timeout"
  | "rate-limited"
  | "unavailable"
  | "tool-error"
  | "limit-exceeded"
  | "internal";

/** A failed call, naming what was called. */
export class CallError extends Error {
  readonly name: "CallError";
  readonly kind: ErrorKind;
  readonly server: string;
  readonly tool: string;
  constructor(kind: ErrorKind, message: string, server: string, tool: string);
}

/** A tool's result: the whole MCP CallToolResult, with helpers. */
export class ToolResult {
  constructor(json: unknown);
  /** The whole result (`content`, `structuredContent`, `_meta`). */
  readonly json: any;
  /** The text of every text block, joined by newlines. */
  readonly text: string;
  /** The structured content, or undefined when the tool returned none. */
  readonly structured: any;
  /** The structured content, else the text parsed as JSON, else the text. */
  value(): any;
}

/** A tool this policy may call. */
export interface ToolInfo {
  server: string;
  /** The tool's own name on its server (no prefix). */
  name: string;
  title?: string;
  description: string;
  /** JSON Schema of the arguments. */
  inputSchema: any;
  outputSchema?: any;
  /** From the tool's `readOnlyHint` annotation. */
  readOnly: boolean;
}

/** Calls `tool` on `server`; throws a CallError when the call fails. */
export function call(server: string, tool: string, args?: Record<string, unknown> | null): ToolResult;

/** Runs the calls concurrently; each item is a ToolResult or a CallError, in order. */
export function callAll(
  calls: Iterable<readonly [server: string, tool: string, args?: Record<string, unknown> | null]>,
): Array<ToolResult | CallError>;

/** The tools this policy may call, on one server or all. */
export function listTools(server?: string | null): ToolInfo[];

/** Writes a line to the run's log. */
export function log(level: "error" | "warn" | "info" | "debug", message: string): void;

/** Reports progress; `weft serve` forwards it to the agent. */
export function progress(done: number, total?: number | null, message?: string | null): void;

/** What `weft build` wires a policy's `run` to; policies do not call it. */
export function __runPolicy(run: (input: any) => unknown, input: string): string | Promise<string>;

/** The adapter's `[servers.NAME.config]` table (`{}` when there is none; a
 * policy always gets `{}`). */
export function config(): Record<string, any>;

/** Thrown in a tool, fails the call with this message and kind (default
 * "tool-error"). Anything else a tool throws is a "tool-error" naming it. */
export class ToolError extends Error {
  readonly name: "ToolError";
  readonly kind: ErrorKind;
  constructor(message: string, kind?: ErrorKind);
}

/** A JSON Schema (an object schema for a tool's input). */
export type JsonSchema = { [key: string]: unknown };

/** How a tool is described to agents. */
export interface ToolOptions {
  description?: string;
  title?: string;
  /** JSON Schema of the arguments (an object schema). Default: no arguments. */
  inputSchema?: JsonSchema;
  /** JSON Schema of the structured result, if the tool promises one. */
  outputSchema?: JsonSchema;
  /** Sets the `readOnlyHint` annotation. */
  readOnly?: boolean;
}

/** What a tool may return: a string (its text), a ToolResult (passed on),
 * or any JSON value (its JSON text; an object is also the structured
 * content), or a Promise of one. */
export type ToolReturn = string | ToolResult | unknown;

/** Registers one of the adapter's tools; returns `fn`. */
export function tool<A extends Record<string, any> = Record<string, any>>(
  name: string,
  options: ToolOptions,
  fn: (args: A) => ToolReturn | Promise<ToolReturn>,
): (args: A) => ToolReturn | Promise<ToolReturn>;
export function tool<A extends Record<string, any> = Record<string, any>>(
  name: string,
  fn: (args: A) => ToolReturn | Promise<ToolReturn>,
): (args: A) => ToolReturn | Promise<ToolReturn>;

/** What `weft build` exports as an adapter's list-tools; adapters do not call it. */
export function __listTools(): unknown[];

/** What `weft build` exports as an adapter's call-tool; adapters do not call it. */
export function __callTool(name: string, args: string): string | Promise<string>;
