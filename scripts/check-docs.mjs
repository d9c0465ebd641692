// Checks the documentation against the repository, offline and in well under a second:
// - every relative link in README.md and docs/*.md names a file that exists, and its
//   #fragment a heading of that file (GitHub's anchors);
// - every docs/….md that a tracked file mentions exists;
// - README.md's route table and docs/api.md name every route of src/api/routes.rs as
//   `METHOD /path`;
// - README.md's configuration table has a row for every setting: the vars in wrangler.toml
//   (top level and each environment), the names in .dev.vars.example, and the names src/
//   reads from the Worker's environment.
// Prints each problem and exits 1 if there is one.
//
//   node scripts/check-docs.mjs
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const read = (path) => readFileSync(join(root, path), "utf8");
const problems = [];

const docs = [
  "README.md",
  ...readdirSync(join(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`),
];

// Markdown outside fenced code blocks, with inline code spans blanked (a `](x)` inside
// backticks is not a link). Line numbers are kept.
function prose(text) {
  let fenced = false;
  return text.split("\n").map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return "";
    }
    return fenced ? "" : line;
  });
}

// GitHub's anchor for a heading: the rendered text, lower case, punctuation dropped,
// spaces as hyphens; repeats get -1, -2, ….
function anchors(path) {
  const seen = new Map();
  const result = new Set();
  for (const line of prose(read(path))) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const text = heading[1]
      .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
      .replace(/[`*]/g, "")
      .toLowerCase();
    const base = text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "").replace(/ /g, "-");
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

for (const path of docs) {
  prose(read(path)).forEach((line, index) => {
    const code = line.replace(/`[^`]*`/g, "``");
    for (const [, target] of code.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [file, fragment] = target.split("#");
      const where = `${path}:${index + 1}`;
      const linked = file === "" ? path : relative(root, resolve(root, dirname(path), file));
      if (!existsSync(join(root, linked))) {
        problems.push(`${where}: link to ${target}: ${linked} does not exist`);
        continue;
      }
      if (fragment === undefined) continue;
      if (!linked.endsWith(".md") || statSync(join(root, linked)).isDirectory()) {
        problems.push(`${where}: link to ${target}: a #fragment needs a Markdown file`);
      } else if (!anchors(linked).has(decodeURIComponent(fragment))) {
        problems.push(`${where}: link to ${target}: ${linked} has no heading #${fragment}`);
      }
    }
  });
}

// The repository's own files: git's list, or (outside a git checkout) a walk that skips what
// is built or installed.
function files() {
  try {
    return execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
      cwd: root,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).split("\0");
  } catch {
    const skip = new Set([".git", "node_modules", "target", "build", ".wrangler", ".tools"]);
    const walk = (dir) =>
      readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
        const path = dir ? `${dir}/${entry.name}` : entry.name;
        if (entry.isDirectory()) return skip.has(entry.name) ? [] : walk(path);
        return entry.isFile() ? [path] : [];
      });
    return walk("");
  }
}

// Mentions of docs/….md anywhere in the repository (comments in scripts, wrangler.toml, …).
const tracked = files()
  .filter((path) => path && !path.startsWith("node_modules/") && existsSync(join(root, path)))
  .filter((path) => !/\.(lock|png|ico|wasm|json)$/.test(path) && statSync(join(root, path)).size < 1e6);
for (const path of tracked) {
  for (const [mention] of read(path).matchAll(/(?<![\w/.-])docs\/[\w-]+\.md/g)) {
    if (!existsSync(join(root, mention))) problems.push(`${path}: mentions ${mention}, which does not exist`);
  }
}

// The route table: each arm of `method()` and `template()` maps routes to a method or path.
const routes = read("src/api/routes.rs");
function arms(fn) {
  const body = new RegExp(`pub fn ${fn}\\(self\\)[\\s\\S]*?\\n    }\\n`).exec(routes)?.[0] ?? "";
  const map = new Map();
  for (const [, names, value] of body.matchAll(/((?:Route::\w+\s*\|?\s*)+)=>\s*"([^"]+)"/g)) {
    for (const [, name] of names.matchAll(/Route::(\w+)/g)) map.set(name, value);
  }
  return map;
}
const methods = arms("method");
const templates = arms("template");
if (methods.size === 0 || methods.size !== templates.size) {
  problems.push("src/api/routes.rs: could not read the route table (method() and template()); update scripts/check-docs.mjs");
}
for (const [route, method] of methods) {
  const call = `\`${method} ${templates.get(route)}\``;
  for (const path of ["README.md", "docs/api.md"]) {
    if (!read(path).includes(call)) problems.push(`${path}: the route ${route} (${call}) is not in its route table`);
  }
}

// Settings: names the configuration table must have a row for ("| `NAME` |").
const settings = new Map();
let section = "";
for (const line of read("wrangler.toml").split("\n")) {
  const header = /^\s*\[+([^\]]+)\]+/.exec(line);
  if (header) section = header[1].trim();
  const name = /^\s*([A-Z][A-Z0-9_]*)\s*=/.exec(line)?.[1];
  if (name && /^(env\.[\w-]+\.)?vars$/.test(section)) settings.set(name, `wrangler.toml [${section}]`);
}
for (const line of read(".dev.vars.example").split("\n")) {
  const name = /^([A-Z][A-Z0-9_]*)=/.exec(line)?.[1];
  if (name) settings.set(name, ".dev.vars.example");
}
for (const path of tracked.filter((p) => p.startsWith("src/") && p.endsWith(".rs"))) {
  for (const [, name] of read(path).matchAll(/[(,]\s*"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"/g)) {
    settings.set(name, path);
  }
}
const readme = read("README.md");
for (const [name, source] of settings) {
  if (!readme.includes(`| \`${name}\` |`)) {
    problems.push(`README.md: the configuration table has no row for ${name} (from ${source})`);
  }
}

if (problems.length > 0) {
  console.error([...new Set(problems)].map((p) => `check-docs: ${p}`).join("\n"));
  process.exit(1);
}
console.log(
  `check-docs: ok (${docs.length} documents, links and anchors resolve; ${methods.size} routes and ${settings.size} settings documented)`,
);
