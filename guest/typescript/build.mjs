// Builds a TypeScript tool component: esbuild bundles ENTRY (the widget
// HTML imported as text), componentize-js 0.23 (its JS API, no AOT) makes
// the component against wit/world.wit, or WORLD (a world `tool` that imports
// more). Usage: node build.mjs ENTRY OUT.wasm [WORLD.wit]
import { componentize } from "@bytecodealliance/componentize-js";
import { build } from "esbuild";
import { copyFile, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const [entry, out, world] = process.argv.slice(2);
const here = dirname(fileURLToPath(import.meta.url));
const work = resolve(`${out}.build`);
const wit = join(work, "wit");
await rm(work, { recursive: true, force: true });
await mkdir(join(wit, "deps"), { recursive: true });
await copyFile(world ?? join(here, "wit/world.wit"), join(wit, "world.wit"));
await copyFile(join(here, "../../wit/mcp-tool.wit"), join(wit, "deps/mcp-tool.wit"));
const wasi = join(here, "../python/wit/deps");
for (const file of await readdir(wasi)) await copyFile(join(wasi, file), join(wit, "deps", file));

const bundle = join(work, "bundle.js");
await build({
  entryPoints: [entry], bundle: true, format: "esm", target: "es2022", outfile: bundle,
  loader: { ".html": "text", ".md": "text" }, external: ["wasi:*"], logLevel: "warning",
});
const started = Date.now();
const { component } = await componentize({ sourcePath: bundle, witPath: wit, worldName: "tool" });
await writeFile(out, component);
await rm(work, { recursive: true, force: true });
console.log(`${out}: ${component.length} bytes, componentized in ${Date.now() - started} ms`);
