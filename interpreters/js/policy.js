// weft's code mode, in JavaScript: runs source an agent submits at run time.
//
// Input: {"language": "javascript", "code": "...", "input": ...}. The code is
// the body of a function of `input`: `return` gives the run's output. In
// scope with `input` is `tools`:
// - tools.call(server, tool, args): the tool's structured content, else its
//   text parsed as JSON, else its text; a failed call throws a CallError
//   (.kind, .server, .tool, .message);
// - tools.callAll([[server, tool, args], ...]): the calls at once, the
//   results in order, each a value or a CallError (returned, not thrown);
// - tools.list(server) and tools.search(query, limit = 10): the tools this
//   run may call;
// - tools.SERVER.TOOL(args): the same as tools.call, with names spelt as
//   `weft bindings --lang typescript` spells them (getSum for get-sum).
//
// console.log goes to the run report's stdout. A thrown error fails the run
// with its message and the line of the code it came from. There is no
// fetch, require or file system: each fails saying so.

import { CallError, ToolResult, call, callAll, listTools } from "weft-guest";

const NO_OUTSIDE = "code mode reaches the outside world only through `tools`";
// What `new Function` puts before the body: the code's line 1 is line 3.
const HEADER_LINES = 2;

class CodeError extends Error {
  constructor(message) {
    super(message);
    this.name = "CodeError";
  }
}

// The ASCII words of a name, split as weft's bindings generator does.
// Characters are classed by their code and read by index: the interpreter
// has no JIT, and a regular expression per character or a string iterator
// costs microseconds each, milliseconds on a run's first `tools.SERVER`.
function words(name) {
  const text = String(name);
  const out = [];
  let cur = "";
  let prevLower = false;
  for (let i = 0; i < text.length; ) {
    const code = text.codePointAt(i);
    const c = String.fromCodePoint(code);
    i += code > 0xffff ? 2 : 1;
    const upper = code >= 65 && code <= 90;
    const lowerOrDigit = (code >= 97 && code <= 122) || (code >= 48 && code <= 57);
    if (upper || lowerOrDigit) {
      if (upper && prevLower && cur) {
        out.push(cur);
        cur = "";
      }
      prevLower = lowerOrDigit;
      cur += c;
    } else {
      if (cur) out.push(cur);
      cur = "";
      prevLower = false;
      if (code > 127 && !/\s/u.test(c)) out.push(`u${code.toString(16).padStart(4, "0")}`);
    }
  }
  if (cur) out.push(cur);
  return out;
}

function camel(name) {
  return words(name)
    .map((w, i) => (i === 0 ? w.toLowerCase() : w[0].toUpperCase() + w.slice(1).toLowerCase()))
    .join("");
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function info(t) {
  return {
    server: t.server,
    name: t.name,
    title: t.title,
    description: t.description,
    inputSchema: t.inputSchema,
    outputSchema: t.outputSchema,
    readOnly: t.readOnly,
  };
}

// What a JSON text can start with (after white space).
const JSON_START = /^\s*[{["\-0-9tfn]/;

// result.value(), without trying to parse text that cannot be JSON
// ("Echo: hi"): a failed parse throws, which costs more than the call's own
// work in the sandbox.
function value(result) {
  const s = result.structured;
  if (s !== undefined) return s;
  const text = result.text;
  return JSON_START.test(text) ? result.value() : text;
}

// `tools` for one run; `list` gives the tools it may call.
function makeTools(list = listTools) {
  let servers = null;
  const namespaces = () => {
    if (servers) return servers;
    const byServer = new Map();
    const all = list().slice().sort((a, b) => (a.server + "\0" + a.name < b.server + "\0" + b.name ? -1 : 1));
    for (const t of all) {
      if (!byServer.has(t.server)) byServer.set(t.server, new Map());
      const names = byServer.get(t.server);
      for (const alias of [IDENT.test(t.name) ? t.name : camel(t.name), camel(t.name)]) {
        if (!names.has(alias)) names.set(alias, t.name);
      }
    }
    servers = new Map();
    for (const [server, names] of [...byServer].sort()) {
      const ns = serverNamespace(server, names);
      for (const alias of [IDENT.test(server) ? server : camel(server), camel(server)]) {
        if (!servers.has(alias)) servers.set(alias, ns);
      }
    }
    return servers;
  };
  const methods = {
    call: (server, tool, args) => value(call(server, tool, args ?? {})),
    callAll: (calls) => callAll(calls).map((r) => (r instanceof CallError ? r : value(r))),
    list: (server) => listTools(server).map(info),
    search: (query, limit = 10) => {
      const wanted = new Set(words(query).map((w) => w.toLowerCase()));
      return listTools()
        .map((t) => {
          const have = new Set(words(`${t.server} ${t.name} ${t.title ?? ""} ${t.description}`).map((w) => w.toLowerCase()));
          return [[...wanted].filter((w) => have.has(w)).length, t];
        })
        .filter(([score]) => score > 0)
        .sort((a, b) => b[0] - a[0] || (a[1].server + a[1].name < b[1].server + b[1].name ? -1 : 1))
        .slice(0, Math.max(0, Number(limit) || 0))
        .map(([, t]) => info(t));
    },
  };
  return new Proxy(methods, {
    get(target, prop) {
      if (typeof prop !== "string" || prop === "then" || prop === "toJSON") return undefined;
      if (Object.hasOwn(target, prop)) return target[prop];
      // A server this run sees no tools of is asked by the name as given:
      // the router's answer (`denied`, `not-found`) is the answer.
      return namespaces().get(prop) ?? serverNamespace(prop, new Map());
    },
  });
}

function serverNamespace(server, names) {
  return new Proxy(
    {},
    {
      get(_target, prop) {
        if (typeof prop !== "string") return undefined;
        if (prop === "then") return undefined;
        const tool = names.get(prop) ?? prop;
        return (args) => value(call(server, tool, args ?? {}));
      },
    },
  );
}

function refuse(what) {
  return () => {
    const e = new Error(`${what} is not available: ${NO_OUTSIDE}`);
    e.name = "NotAvailableError";
    throw e;
  };
}

// The line of the submitted code a thrown error came from, if its stack
// names one.
function codeLine(e) {
  const stack = e instanceof Error && typeof e.stack === "string" ? e.stack : "";
  const m = /> Function:(\d+):\d+/.exec(stack);
  if (m) return Number(m[1]) - HEADER_LINES;
  if (e instanceof SyntaxError && typeof e.lineNumber === "number") return e.lineNumber - HEADER_LINES;
  return undefined;
}

function describe(e) {
  if (e instanceof CodeError) return e.message;
  if (e instanceof CallError) return e.toString();
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return `thrown: ${String(e)}`;
}

export function run(input) {
  const request = input && typeof input === "object" ? input : {};
  const language = request.language ?? "javascript";
  if (language !== "javascript" && language !== "js") {
    throw new CodeError(`this interpreter runs javascript, not ${JSON.stringify(language)}`);
  }
  if (typeof request.code !== "string") {
    throw new CodeError("`code` (the program's source, a string) is required");
  }
  let body;
  try {
    body = new Function("input", "tools", "fetch", "require", "CallError", request.code);
  } catch (e) {
    const line = codeLine(e);
    throw new CodeError(`${describe(e)}${line ? ` (line ${line})` : ""}`);
  }
  try {
    return body(request.input, makeTools(), refuse("fetch"), refuse("require"), CallError);
  } catch (e) {
    const line = codeLine(e);
    throw new CodeError(`${describe(e)}${line ? ` (line ${line})` : ""}`);
  }
}

// The interpreter is built from a snapshot taken after this module's top
// level ran, and every run starts from it. The engine compiles a function
// the first time it runs, so a function first run inside a run is compiled
// again in every run: the lookup of `tools.SERVER.TOOL` and the reading of
// a result are run once here, on made-up tools (no host call), so that
// they are compiled in the snapshot.
{
  const warm = makeTools(() => [
    { server: "warm-up", name: "warm-Up_tool" },
    { server: "warm-up", name: "other" },
  ]);
  if (typeof warm.warmUp.warmUpTool !== "function" || typeof warm.search !== "function") {
    throw new Error("the interpreter's warm-up found no tool");
  }
  value(new ToolResult({ content: [{ type: "text", text: "[1]" }] }));
  value(new ToolResult({ content: [{ type: "text", text: "Echo: x" }] }));
  value(new ToolResult({ structuredContent: { a: 1 } }));
  describe(new CallError("not-found", "warm-up", "warm-up", "other"));
}

// The global `fetch` goes too, for code that reaches it through globalThis.
try {
  globalThis.fetch = refuse("fetch");
} catch {
  // A read-only global stays, and fails on its own: there is no network.
}
