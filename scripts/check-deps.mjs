#!/usr/bin/env node
// Module-boundary check, run by CI (`npm run check:deps`). Dependency-free on purpose.
//
// 1. No import cycle between the folders of src/ (a folder is a layer: `scim` is a pure core,
//    `directory` and `sessions` are use cases over D1 and Durable Objects, `admin`/`dev` are routes).
//    The entry modules (src/app.ts, src/index.ts) may import anything; nothing imports them.
// 2. The pure cores import nothing outside themselves: src/scim/** (SCIM filter, PATCH engine,
//    projection, cursor codec), src/access/policy/** (the Access policy evaluator) and src/gateway/rules/**
//    (the Gateway expression parser and rule engine) never import
//    Hono, D1, Durable Objects or any other part of src/ (zod, for the policy schemas, is allowed).
// 3. Nothing in the repository points at a file outside it (users only have the repository).
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const src = path.join(root, "src");
const ENTRIES = new Set(["app.ts", "index.ts"]);
/** Pure cores: folder → module specifiers they may import besides their own files. */
/** Pure cores: folder under src/ → packages they may import besides their own files. */
const PURE = { scim: [], "access/policy": ["zod"], "gateway/rules": ["zod"] };
/** The pure core a src/ file belongs to, if any. */
const pureCoreOf = (file) => Object.keys(PURE).find((dir) => file.startsWith(path.join(src, dir) + path.sep));
const problems = [];

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) walk(full, out);
    else if (/\.(ts|mts|mjs|js)$/.test(name) && !name.endsWith(".d.ts")) out.push(full);
  }
  return out;
}

/** Every static and dynamic import/export-from specifier of a module (comments stripped). */
function specifiers(text) {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
  const out = [];
  for (const m of code.matchAll(/\b(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)|\bimport\s*["']([^"']+)["']/g)) {
    out.push(m[1] ?? m[2] ?? m[3]);
  }
  return out;
}

/** The node a src/ file belongs to: its top folder, or the file itself at the top level. */
function nodeOf(file) {
  const rel = path.relative(src, file);
  const [first] = rel.split(path.sep);
  return rel.includes(path.sep) ? first : rel;
}

const edges = new Map();
for (const file of walk(src)) {
  const from = nodeOf(file);
  const core = pureCoreOf(file);
  for (const spec of specifiers(readFileSync(file, "utf8"))) {
    if (!spec.startsWith(".")) {
      if (core && !PURE[core].includes(spec)) problems.push(`${path.relative(root, file)}: the pure core "${core}" imports "${spec}"`);
      continue;
    }
    const target = path.resolve(path.dirname(file), spec);
    const targetFile = target.endsWith(".ts") ? target : `${target}.ts`;
    if (core && pureCoreOf(targetFile) !== core) problems.push(`${path.relative(root, file)}: the pure core "${core}" imports ${spec}`);
    if (!target.startsWith(src + path.sep)) continue; // ../schema and the like
    const to = nodeOf(targetFile);
    if (to === from) continue;
    if (ENTRIES.has(to) && !ENTRIES.has(from)) problems.push(`${path.relative(root, file)}: imports the entry module ${to}`);
    if (!edges.has(from)) edges.set(from, new Map());
    if (!edges.get(from).has(to)) edges.get(from).set(to, `${path.relative(root, file)} → ${spec}`);
  }
}

// Cycle search over the folder graph (entries excluded: they sit on top by design).
const state = new Map();
const stack = [];
function visit(node) {
  state.set(node, "open");
  stack.push(node);
  for (const [next, via] of edges.get(node) ?? []) {
    if (ENTRIES.has(node)) continue;
    if (state.get(next) === "open") {
      const cycle = stack.slice(stack.indexOf(next)).concat(next);
      const vias = cycle.slice(0, -1).map((n, i) => edges.get(n).get(cycle[i + 1]));
      problems.push(`import cycle between folders: ${cycle.join(" → ")}\n    ${vias.join("\n    ")}`);
    } else if (!state.has(next)) visit(next);
  }
  stack.pop();
  state.set(node, "done");
}
for (const node of edges.keys()) if (!state.has(node) && !ENTRIES.has(node)) visit(node);

// No pointer outside the repository (a sibling checkout's design notes, say).
const OUTSIDE = /\.\.\/shared\b|\bDESIGN\.md\b/;
function scan(dir) {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === ".git" || name === ".wrangler" || name === "package-lock.json") continue;
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) scan(full);
    else if (/\.(ts|mts|mjs|js|json|md|toml|sh)$/.test(name) && full !== path.join(root, "scripts", "check-deps.mjs")) {
      readFileSync(full, "utf8").split("\n").forEach((line, i) => {
        if (OUTSIDE.test(line)) problems.push(`${path.relative(root, full)}:${i + 1}: points outside the repository`);
      });
    }
  }
}
scan(root);

if (problems.length > 0) {
  console.error(`check-deps: ${problems.length} problem(s)\n- ${problems.join("\n- ")}`);
  process.exit(1);
}
console.log(`check-deps: ${edges.size} folders, no cycle; pure cores clean; nothing points outside the repository`);
