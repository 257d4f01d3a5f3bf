#!/usr/bin/env node
// Run after regenerating package-lock.json on a registry mirror that lacks workerd's macOS/Windows
// builds: `npm install` then leaves them out of the lock and `npm ci` refuses it as out of sync.
// Adds lock entries for workerd's platform packages that the npm mirror here does not serve,
// so `npm ci`'s package.json ⇄ lock consistency check passes. Run from the project root.
import { readFileSync, writeFileSync } from "node:fs";
const lock = JSON.parse(readFileSync("package-lock.json", "utf8"));
const base = lock.packages["node_modules/@cloudflare/workerd-linux-64"];
const want = { "darwin-64": ["darwin", "x64"], "darwin-arm64": ["darwin", "arm64"], "windows-64": ["win32", "x64"] };
const packages = {};
const add = (n) => {
  const [os, cpu] = want[n];
  packages[`node_modules/@cloudflare/workerd-${n}`] ??= { version: base.version, cpu: [cpu], dev: true, license: base.license, optional: true, os: [os], engines: base.engines };
};
for (const [k, v] of Object.entries(lock.packages)) {
  if (k === "node_modules/@cloudflare/workerd-linux-64") { if (!lock.packages["node_modules/@cloudflare/workerd-darwin-64"]) add("darwin-64"); if (!lock.packages["node_modules/@cloudflare/workerd-darwin-arm64"]) add("darwin-arm64"); }
  packages[k] = v;
  if (k === "node_modules/@cloudflare/workerd-linux-arm64" && !lock.packages["node_modules/@cloudflare/workerd-windows-64"]) add("windows-64");
}
lock.packages = packages;
writeFileSync("package-lock.json", JSON.stringify(lock, null, 2) + "\n");
