// Run by `weft build` for a JavaScript policy, with Node, from the build's
// scratch folder (its node_modules links to the componentize-js toolchain).
//
//   node js-build.mjs SOURCE_JS SDK_JS WIT_DIR OUT_WASM WORLD
//
// 1. rolldown bundles an entry module, the author's policy or adapter and
//    weft-guest (the SDK weft wrote next to this file) into one ES module;
//    the `weft:mcp/...` imports stay as they are, for the component's
//    imports. A policy's entry exports `run`; an adapter's imports the
//    adapter (which registers its tools) and exports `listTools` and
//    `callTool` from weft-guest.
// 2. componentize-js makes a component of it for WORLD (`policy` or
//    `adapter`), with the engine's HTTP support left out (weft offers no
//    wasi:http: components reach the network only through MCP tools).

import { rolldown } from "rolldown";
import { componentize } from "@bytecodealliance/componentize-js";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

const [policy, sdk, wit, out, world] = process.argv.slice(2);

const ENTRIES = {
  policy: [
    `import { run as policyRun } from ${JSON.stringify(policy)};`,
    `import { __runPolicy } from "weft-guest";`,
    `export function run(input) {`,
    `  return __runPolicy(policyRun, input);`,
    `}`,
    ``,
  ],
  adapter: [
    `import ${JSON.stringify(policy)};`,
    `import { __listTools, __callTool } from "weft-guest";`,
    `export function listTools() {`,
    `  return __listTools();`,
    `}`,
    `export function callTool(tool, args) {`,
    `  return __callTool(tool, args);`,
    `}`,
    ``,
  ],
};
const work = process.cwd();

async function main() {
  const entry = join(work, "entry.js");
  const lines = ENTRIES[world];
  if (!lines) throw new Error(`no such world: ${world}`);
  await writeFile(entry, lines.join("\n"));
  const bundle = await rolldown({
    input: entry,
    platform: "browser",
    external: [/^weft:mcp\//],
    resolve: { alias: { "weft-guest": sdk } },
    onLog(level, log, handler) {
      // An import nothing resolves would only fail inside the component.
      if (log.code === "UNRESOLVED_IMPORT" || log.code === "MISSING_EXPORT") handler("error", log);
      else handler(level, log);
    },
  });
  const bundled = join(work, "policy.bundle.js");
  try {
    await bundle.write({ file: bundled, format: "esm" });
  } finally {
    await bundle.close();
  }
  const { component } = await componentize({
    sourcePath: bundled,
    witPath: wit,
    worldName: world,
    disableFeatures: ["http", "fetch-event"],
  });
  await writeFile(out, component);
}

main().catch((e) => {
  console.error(e && e.message ? e.message : String(e));
  process.exit(1);
});
