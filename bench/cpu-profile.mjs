// A V8 CPU profile of the worker's own isolate while a command runs: connects to the
// DevTools protocol that `wrangler dev --inspector-port` serves (wrangler forwards it to
// workerd's inspector for the user worker, `core:user:<name>`), starts V8's sampling
// profiler, runs the command, stops the profiler and writes the profile. The profile
// names the bundle's script only as `shim.js` or `index.js`; so that its samples can be told
// apart by the module they came from (ours, or wrangler dev's middleware), it also gets
// `sections`: for each bundled script in it, where each module begins (esbuild's
// `// path/of/module` comments) and which lines call `console`, read through the debugger
// after the profile was stopped.
//
//   node bench/cpu-profile.mjs INSPECTOR_PORT OUT.cpuprofile -- COMMAND [ARGS...]
//
// Exits with the command's status. The command's output passes through.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import WebSocket from 'ws';

const [port, out, dashes, ...command] = process.argv.slice(2);
if (dashes !== '--' || command.length === 0) {
  console.error('usage: node bench/cpu-profile.mjs INSPECTOR_PORT OUT.cpuprofile -- COMMAND [ARGS...]');
  process.exit(2);
}

const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
await new Promise((resolve, reject) => {
  ws.once('open', resolve);
  ws.once('error', reject);
});

let nextId = 1;
const pending = new Map();
ws.on('message', (data) => {
  const message = JSON.parse(data);
  const waiter = pending.get(message.id);
  if (!waiter) return; // events (console messages and the like)
  pending.delete(message.id);
  if (message.error) waiter.reject(new Error(`${waiter.method}: ${message.error.message}`));
  else waiter.resolve(message.result);
});
function send(method, params = {}, timeoutMs = 30_000) {
  const id = nextId++;
  ws.send(JSON.stringify({ id, method, params }));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${method}: no answer in ${timeoutMs} ms`)), timeoutMs);
    pending.set(id, {
      method,
      resolve: (r) => (clearTimeout(timer), resolve(r)),
      reject: (e) => (clearTimeout(timer), reject(e)),
    });
  });
}

// Debugger.enable announces every script already parsed; only after the profile, as the
// debugger may slow what it watches.
const parsed = new Map();
ws.on('message', (data) => {
  const message = JSON.parse(data);
  if (message.method === 'Debugger.scriptParsed') parsed.set(message.params.scriptId, message.params.url);
});

/** scriptId -> [[first line (0-based), module path], ...] for the bundled scripts among ids. */
async function sections(ids) {
  await send('Debugger.enable');
  const found = {};
  for (const [scriptId, url] of parsed) {
    if (!ids.has(scriptId) || !/^file:.*\.m?js$/.test(url)) continue;
    const { scriptSource } = await send('Debugger.getScriptSource', { scriptId });
    const starts = [];
    const consoleLines = [];
    scriptSource.split('\n').forEach((line, index) => {
      const module = /^\/\/ ((?:\.{0,2}\/)?[\w@.\-/]+\.[cm]?[jt]s)$/.exec(line);
      if (module) starts.push([index, module[1]]);
      if (/\bconsole\.\w+\(/.test(line)) consoleLines.push(index);
    });
    found[scriptId] = { url, starts, consoleLines };
  }
  await send('Debugger.disable');
  return found;
}

await send('Profiler.enable');
await send('Profiler.start');
const status = await new Promise((resolve) => {
  spawn(command[0], command.slice(1), { stdio: 'inherit' }).on('exit', (code) => resolve(code ?? 1));
});
const { profile } = await send('Profiler.stop', {}, 120_000);
profile.sections = await sections(new Set(profile.nodes.map((n) => n.callFrame.scriptId)));
writeFileSync(out, JSON.stringify(profile));
ws.close();
process.exit(status);
