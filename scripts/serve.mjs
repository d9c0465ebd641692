// Serves the built worker (build/, from scripts/build.sh) with Miniflare, the local runtime
// under `wrangler dev`, and nothing in front of it: the HTTP tests talk to workerd itself.
// `wrangler dev` puts a proxy worker, in a workerd process of its own, in front of the
// worker, and keeps a pool of connections to it. When one of them closes just as a request
// goes out on it (both ends time an idle connection out after 5 s; a password hash holding
// the worker's thread makes that moment longer), the proxy answers a POST or DELETE itself,
// a 503 "Your worker restarted mid-request", and cannot say whether the worker ran it.
//
// The worker gets what `wrangler dev` would give it, read from the same wrangler.toml by
// wrangler's own code (bindings, vars, assets, compatibility date, cron triggers), the same
// local D1 files (`--persist-to DIR` as wrangler's, so `wrangler d1 execute --local
// --persist-to DIR` sees the same database), and on top the vars of `--env-file` and `--var`.
// The worker's console lines go to stdout. Cron triggers run on
// `GET /cdn-cgi/local/scheduled?cron=...`, as under `wrangler dev`.
//
//   node scripts/serve.mjs --config wrangler.toml --port 8787 [--ip 127.0.0.1]
//       [--inspector-port 9229] --persist-to DIR [--env-file FILE]... [--var NAME:VALUE]...
//
// Runs until SIGINT or SIGTERM.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Log, LogLevel, Miniflare, convertV4MiniflareOptions } from 'miniflare';

// wrangler's notes on what it read (e.g. that .dev.vars has secrets, which are not used
// here) would only mislead; its warnings and errors stay.
process.env.WRANGLER_LOG ??= 'warn';
const { unstable_getMiniflareWorkerOptions, unstable_readConfig } = await import('wrangler');

const { values: args } = parseArgs({
  options: {
    config: { type: 'string', default: 'wrangler.toml' },
    ip: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    'inspector-port': { type: 'string' },
    'persist-to': { type: 'string' },
    'env-file': { type: 'string', multiple: true, default: [] },
    var: { type: 'string', multiple: true, default: [] },
  },
});
if (!args.port || !args['persist-to']) {
  console.error('usage: node scripts/serve.mjs --config FILE --port N --persist-to DIR [--inspector-port N] [--env-file FILE]... [--var NAME:VALUE]...');
  process.exit(2);
}

/** NAME=value lines, as .dev.vars and the test vars are written; `#` starts a comment line. */
function readVars(file) {
  const vars = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/.exec(line);
    if (!match) continue;
    let value = match[2].trim();
    if (/^(["']).*\1$/.test(value)) value = value.slice(1, -1);
    vars[match[1]] = value;
  }
  return vars;
}

/**
 * The main module and every module it imports by a relative path, as `wrangler dev` would
 * bundle them (worker-build's output is already one script and its wasm): JavaScript as ES
 * modules, other files by wrangler's module rules (`*.wasm` as compiled wasm).
 */
function collectModules(main, rules) {
  const typeOf = (path) => {
    if (/\.m?js$/.test(path)) return 'ESModule';
    const rule = rules.find(({ include }) => include.some((glob) => path.endsWith(glob.replace(/^\*\*\/\*/, ''))));
    if (!rule) throw new Error(`${path}: no module rule for this kind of file`);
    return rule.type;
  };
  const modules = [];
  const seen = new Set();
  const visit = (path) => {
    if (seen.has(path)) return;
    seen.add(path);
    const type = typeOf(path);
    modules.push({ type, path });
    if (type !== 'ESModule') return;
    const source = readFileSync(path, 'utf8');
    for (const [, specifier] of source.matchAll(/\b(?:import|export)\s*(?:[\w$*{}\s,]*?\s*from\s*)?["'](\.{1,2}\/[^"']+)["']/g)) {
      visit(resolve(dirname(path), specifier));
    }
  };
  visit(main);
  return modules;
}

const configPath = resolve(args.config);
const config = unstable_readConfig({ config: configPath });
// Its `bindings` are the vars with .dev.vars on top: replaced below.
const { workerOptions: { modulesRules, bindings, ...workerOptions }, main } = unstable_getMiniflareWorkerOptions(configPath);
if (!main) throw new Error(`${configPath} names no main module`);
// As `wrangler dev --env-file`: wrangler.toml's [vars], then the files' vars (and not
// .dev.vars), then --var.
const vars = { ...config.vars };
for (const file of args['env-file']) Object.assign(vars, readVars(file));
for (const pair of args.var) {
  const at = pair.indexOf(':');
  if (at < 1) throw new Error(`--var ${pair}: expected NAME:VALUE`);
  vars[pair.slice(0, at)] = pair.slice(at + 1);
}

const root = dirname(configPath);
const mf = new Miniflare(convertV4MiniflareOptions({
  rootPath: root,
  host: args.ip,
  port: Number(args.port),
  inspectorPort: args['inspector-port'] === undefined ? undefined : Number(args['inspector-port']),
  // wrangler's layout under --persist-to.
  resourcePersistencePath: join(resolve(args['persist-to']), 'v3'),
  // A fixed request.cf instead of one fetched from Cloudflare.
  cf: false,
  unsafeTriggerHandlers: true,
  log: new Log(LogLevel.INFO),
  logRequests: false,
  // The worker's console lines, one per line, as the tests read them (WORKER_LOG).
  handleStructuredLogs: ({ message }) => process.stdout.write(`${message}\n`),
  telemetry: { enabled: false },
  workers: [{
    ...workerOptions,
    name: config.name,
    modulesRoot: root,
    modules: collectModules(main, modulesRules),
    bindings: vars,
  }],
}));

const url = await mf.ready;
console.log(`serve: ${config.name} (${main}) on ${url.href}`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await mf.dispose();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
