// A hostile JavaScript policy: {"attack": NAME} picks what it does.
//
// - spin: an infinite loop that never calls out;
// - memory: allocates until something stops it;
// - recurse: unbounded recursion;
// - flood: calls a tool forever;
// - fetch: tries the network with fetch();
// - file: tries to load /etc/passwd as a module (the only file access
//   the engine offers JavaScript);
// - env: looks for the environment (process.env and friends);
// - throw: throws a TypeError from a nested function;
// - uncaught: lets the CallError of an ungranted call escape;
// - noop: behaves, returning its input (for benchmarks);
// - echo (the default): behaves, calling everything.echo with {"n"}.

import { call } from "weft-guest";

function recurse(n) {
  return recurse(n + 1) + 1;
}

function checkInput(value) {
  if (typeof value !== "number") throw new TypeError(`n must be a number, not ${typeof value}`);
  return value;
}

function caught(f) {
  try {
    return { ok: f() };
  } catch (e) {
    return { error: String(e) };
  }
}

export async function run(input) {
  switch (input?.attack ?? "echo") {
    case "spin": {
      let x = 0;
      for (;;) x = (x * 1103515245 + 12345) | 0;
    }
    case "memory": {
      const hoard = [];
      for (;;) hoard.push(new Uint8Array(1 << 20).fill(1));
    }
    case "recurse":
      return recurse(0);
    case "flood":
      for (let n = 0; ; n++) caught(() => call("everything", "echo", { message: String(n) }));
    case "fetch":
      try {
        const r = await fetch("http://127.0.0.1:9/");
        return { reached: true, status: r.status };
      } catch (e) {
        return { reached: false, error: String(e) };
      }
    case "file":
      try {
        // Built at run time, so that the bundler does not read it first.
        const path = ["", "etc", "passwd"].join("/");
        const m = await import(path);
        return { read: true, keys: Object.keys(m) };
      } catch (e) {
        return { read: false, error: String(e) };
      }
    case "env":
      return {
        process: typeof process,
        env: caught(() => process.env),
        deno: typeof Deno,
        bun: typeof Bun,
      };
    case "noop":
      return input;
    case "throw":
      return checkInput(input.n);
    case "uncaught":
      return call("nowhere", "nothing", {}).text;
    default: {
      const r = call("everything", "echo", { message: String(input?.n ?? 0) });
      return { echo: r.text };
    }
  }
}
