// Shared by the HTTP tests: the server under test comes from scripts/with-server.sh.
import { createHash, createHmac, pbkdf2Sync, randomBytes, randomInt, randomUUID } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const BASE_URL = process.env.BASE_URL;
if (!BASE_URL) throw new Error('BASE_URL is not set: run the tests with scripts/test.sh');

/**
 * One request, on a connection of its own; `base` is another server's address (see
 * startServer), BASE_URL by default; `redirect: 'manual'` returns a redirect as it is. workerd closes a connection that has been idle for 5 s,
 * and a request sent on it at that moment is lost; a new connection each time leaves no
 * such moment.
 */
export async function api(path, { method = 'GET', json, form, body, headers = {}, token, base = BASE_URL, redirect = 'follow' } = {}) {
  const init = { method, redirect, headers: { ...headers, connection: 'close' } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['content-type'] = 'application/json';
  } else if (form !== undefined) {
    init.body = form;
  } else if (body !== undefined) {
    init.body = body;
  }
  if (token) init.headers.authorization = `Bearer ${token}`;
  // Sent once, never again: a request the worker may already have carried out is not repeated.
  const response = await fetch(base + path, init).catch((error) => {
    throw new Error(`${method} ${path}: no answer: ${error.cause?.message ?? error.message}`, { cause: error });
  });
  const text = await response.text();
  // The worker answers every error with JSON; a 503 without it comes from a layer in front of
  // the worker, which cannot say whether the worker ran the request. Not a result to assert on.
  if (response.status === 503 && !response.headers.get('content-type')?.includes('json')) {
    throw new Error(`${method} ${path}: a 503 that is not the worker's (not JSON): ${text.slice(0, 200)}`);
  }
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    data = text;
  }
  return { status: response.status, headers: response.headers, body: data };
}

export const randomEmail = () => `cook-${randomUUID()}@example.com`;
export const PASSWORD = 'correct horse battery';

export function signup(fields = {}, { headers, base } = {}) {
  return api('/api/v1/auth/signup', {
    method: 'POST',
    json: { email: randomEmail(), password: PASSWORD, ...fields },
    headers,
    base,
  });
}

/** The OAuth2 password form; `headers` e.g. fromAddress(...) or an Origin. */
export function login(username, password = PASSWORD, headers = {}) {
  return api('/api/v1/auth/login', {
    method: 'POST',
    form: new URLSearchParams({ username, password }),
    headers,
  });
}

/** A fresh user, an access token and a refresh token for them. */
export async function newUser(fields = {}) {
  const created = await signup(fields);
  if (created.status !== 201) throw new Error(`signup failed: ${JSON.stringify(created)}`);
  const session = await login(created.body.email, fields.password ?? PASSWORD);
  if (session.status !== 200) throw new Error(`login failed: ${JSON.stringify(session)}`);
  return { user: created.body, token: session.body.access_token, refresh: session.body.refresh_token };
}

export function refresh(refreshToken) {
  return api('/api/v1/auth/refresh', { method: 'POST', json: { refresh_token: refreshToken } });
}

export function logout(refreshToken) {
  return api('/api/v1/auth/logout', { method: 'POST', json: { refresh_token: refreshToken } });
}

export const me = (token) => api('/api/v1/auth/me', { token });

export function changePassword(token, body, headers = {}) {
  return api('/api/v1/auth/password', { method: 'POST', token, json: body, headers });
}

/** The client address the worker sees (CF-Connecting-IP; the runtime sets 127.0.0.1 otherwise). */
export const fromAddress = (address) => ({ 'cf-connecting-ip': address });

/**
 * An IPv4 address of the benchmarking range 198.18.0.0/15 (RFC 2544), picked at random so
 * that the throttle counters of different tests, files and runs never meet.
 */
export function randomIPv4() {
  const n = randomInt(0, 2 ** 9);
  return `198.${18 + (n >> 8)}.${n & 255}.${randomInt(1, 255)}`;
}

/**
 * The first four groups of a random IPv6 /64 in 2001:db8::/32 (RFC 3849), as the worker
 * writes them: lower-case hex, no leading zeros, no zero group. `${prefix}::1` is an address
 * in it, and `${prefix}::/64` is how it is keyed.
 */
export function randomIPv6Prefix() {
  const group = () => randomInt(0x1000, 0x10000).toString(16);
  return `2001:db8:${group()}:${group()}`;
}

const b64url = (value) => Buffer.from(value).toString('base64url');

/** Signs any header and claims with HS256 and `key` (default: the server's own secret). */
export function forgeToken(claims, { header = { alg: 'HS256', typ: 'JWT' }, key = process.env.TEST_JWT_SECRET } = {}) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);

export function decodeClaims(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

/** A PHC string as the worker stores it, computed by Node's OpenSSL-backed PBKDF2. */
export function phcHash(password, iterations) {
  const salt = randomBytes(16);
  const hash = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const b64 = (bytes) => bytes.toString('base64').replace(/=+$/, '');
  return `$pbkdf2-sha256$i=${iterations},l=32$${b64(salt)}$${b64(hash)}`;
}

/**
 * wrangler, run by the Node that runs the tests (the project's, node_modules/.bin/node, put
 * first on PATH by scripts/with-server.sh), as every script runs it.
 */
const WRANGLER = fileURLToPath(new URL('../node_modules/wrangler/bin/wrangler.js', import.meta.url));
const SERVE = fileURLToPath(new URL('../scripts/serve.mjs', import.meta.url));
const wranglerEnv = () => ({ ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' });

/**
 * Runs SQL against the server's local D1 (or a second server's, `d1` from startServer) and
 * returns the rows. The running server holds the same SQLite file; while it writes, the
 * command can fail with SQLITE_BUSY (nothing ran), and is tried again.
 */
export async function sql(command, { d1 = process.env.D1_PERSIST_DIR } = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [WRANGLER, 'd1', 'execute', 'DB', '--local', '--persist-to', d1, '--json', '--command', command],
        { env: wranglerEnv() },
      );
      return JSON.parse(stdout)[0].results;
    } catch (error) {
      if (attempt >= 5 || !/SQLITE_BUSY|database is locked/.test(`${error.message}${error.stderr ?? ''}`)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}

export const sqlText = (value) => `'${String(value).replaceAll("'", "''")}'`;

/** The stored hash of a refresh token (SHA-256, base64url). */
export const refreshTokenHash = (token) => createHash('sha256').update(token).digest('base64url');

/**
 * Moves a used refresh token's use `seconds` into the past, beyond REFRESH_REUSE_SECONDS
 * (default 10): presenting it again then counts as reuse, not as a retry. No sleeping.
 */
export async function pastGraceWindow(refreshToken, seconds = 3600) {
  await sql(`UPDATE refresh_tokens SET used_at = used_at - ${seconds} WHERE token_hash = ${sqlText(refreshTokenHash(refreshToken))}`);
}

/** Runs the project's seed script against the server's local D1, as scripts/with-server.sh does. */
export async function seedAgain() {
  await promisify(execFile)('scripts/seed.sh', ['--local', '--persist-to', process.env.D1_PERSIST_DIR, '--sample'], {
    env: process.env,
  });
}

/** The local superuser scripts/with-server.sh seeds. */
export const SUPERUSER = { email: process.env.FIRST_SUPERUSER, password: process.env.FIRST_SUPERUSER_PASSWORD };

/** An access token of the seeded superuser. */
export async function superuserToken() {
  const res = await login(SUPERUSER.email, SUPERUSER.password);
  if (res.status !== 200) throw new Error(`superuser login failed: ${JSON.stringify(res)}`);
  return res.body.access_token;
}

/** A recipe body with a label unique to this run, so searches see only this test's rows. */
export const recipeBody = (fields = {}) => ({
  label: `Soup ${randomUUID().slice(0, 8)}`,
  source: 'Gran',
  url: 'https://example.com/soup',
  ...fields,
});

export function createRecipe(token, fields = {}) {
  return api('/api/v1/recipes/', { method: 'POST', token, json: recipeBody(fields) });
}

/** Ports this process handed out: the kernel may offer a port it just closed again, and two
 * servers started at once must not be given one port (one would wait forever on the other). */
const handedOut = new Set();

/** A port free now that this process has not handed out before. */
async function freePort() {
  for (;;) {
    const port = await new Promise((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port: given } = server.address();
        server.close(() => resolve(given));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

function wrangler(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRANGLER, ...args], { stdio: 'ignore', env: wranglerEnv() });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`wrangler ${args.join(' ')}: exit ${code}`))));
  });
}

/**
 * Applies the project's migrations `files` (names in migrations/, e.g. those before one under
 * test) to the local D1 at `d1` as a deploy does (`wrangler d1 migrations apply`), from a
 * folder of their own inside `d1`; called again with more files, it applies those. For
 * checking what a migration does to rows written before it. Query the D1 with sql(…, { d1 }).
 */
export async function applyMigrations(d1, files) {
  const dir = join(d1, 'migrations-under-test');
  mkdirSync(join(dir, 'migrations'), { recursive: true });
  for (const file of files) {
    copyFileSync(fileURLToPath(new URL(`../migrations/${file}`, import.meta.url)), join(dir, 'migrations', file));
  }
  // The database id of wrangler.toml's DB, so that sql(), which reads that file, finds it.
  writeFileSync(join(dir, 'wrangler.toml'), [
    'name = "migrations-under-test"',
    'compatibility_date = "2025-01-01"',
    '[[d1_databases]]',
    'binding = "DB"',
    'database_name = "recipe-api"',
    'database_id = "00000000-0000-0000-0000-000000000000"',
    'migrations_dir = "migrations"',
    '',
  ].join('\n'));
  await wrangler(['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', d1, '--config', join(dir, 'wrangler.toml')]);
}

/**
 * A second server on the same build, served as the first one is (scripts/serve.mjs), with
 * its own new, migrated D1 and the given vars (e.g. { JWT_SECRET: 'too-short' }) on top of
 * wrangler.toml's and of PWNED_PASSWORDS_URL (the suite's breached-password stand-in, as the
 * first server has it; a test may give another); `config` is DEPLOYED_CONFIG for the edge and
 * write limits as deployed (the suite's own, SERVED_CONFIG, are raised). With `d1`, a
 * persist directory of the caller's (e.g. an earlier server's, stopped since), it serves that
 * D1 instead, migrated (`migrate: false`: as it is), and leaves it in place when it stops. Returns its address, the path of its output (`log`, for logSince;
 * gone after stop), its D1 (`d1`, for sql) and a `stop` that ends it by its process group
 * and removes its files.
 */
export async function startServer(vars, { config = process.env.SERVED_CONFIG, d1, migrate = true } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'recipe-api-second-'));
  const varsFile = join(dir, 'vars');
  const logFile = join(dir, 'server.log');
  const persist = d1 ?? join(dir, 'd1');
  const all = { PWNED_PASSWORDS_URL: process.env.PWNED_PASSWORDS_URL, ...vars };
  writeFileSync(varsFile, Object.entries(all).filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${name}=${value}\n`).join(''));
  const [port, inspector] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${port}`;
  let server;
  let log;
  const stop = async () => {
    if (server && server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      try { process.kill(-server.pid, 'SIGTERM'); } catch { /* already gone */ }
      const timeout = new Promise((resolve) => setTimeout(resolve, 5000, 'timeout'));
      if ((await Promise.race([exited, timeout])) === 'timeout') {
        try { process.kill(-server.pid, 'SIGKILL'); } catch { /* already gone */ }
      }
    }
    if (log !== undefined) closeSync(log);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    if (migrate) await wrangler(['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persist]);
    log = openSync(logFile, 'w');
    server = spawn(process.execPath, [
      SERVE, '--config', config, '--ip', '127.0.0.1', '--port', String(port),
      '--inspector-port', String(inspector), '--persist-to', persist, '--env-file', varsFile,
    ], { detached: true, stdio: ['ignore', log, log], env: wranglerEnv() });
    server.on('error', () => { /* reported below as "did not start" */ });
    for (let i = 0; i < 240; i++) {
      if (server.exitCode !== null) break;
      try {
        await fetch(`${base}/api/v1/nope`, { signal: AbortSignal.timeout(5000) });
        return { base, log: logFile, d1: persist, stop };
      } catch {
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    throw new Error(`the second server did not start:\n${readFileSync(logFile, 'utf8').slice(-4000)}`);
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * The JSON objects the worker logged from byte `offset` of WORKER_LOG on (the server's
 * output, exported by scripts/with-server.sh), or of `file` (a second server's `log`);
 * wrangler's own lines are skipped.
 */
export function logSince(offset, file = process.env.WORKER_LOG) {
  const text = readFileSync(file).subarray(offset).toString('utf8');
  const values = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\x1b\[[0-9;]*m/g, '').trim();
    const start = line.indexOf('{');
    if (start < 0) continue;
    try {
      const value = JSON.parse(line.slice(start));
      if (value && typeof value === 'object') values.push(value);
    } catch {
      // Not a JSON line: wrangler's own output.
    }
  }
  return values;
}

// ---- Email: the mail catcher (scripts/mail-catcher.mjs) the server sends through.

/** The catcher's address and key, exported by scripts/with-server.sh. */
export const MAIL_CATCHER_URL = process.env.MAIL_CATCHER_URL;
export const MAIL_CATCHER_API_KEY = process.env.MAIL_CATCHER_API_KEY;
/** The vars that make a second server (startServer) send its email through the catcher. */
export const MAIL_VARS = { EMAIL_API_URL: `${MAIL_CATCHER_URL}/emails`, EMAIL_API_KEY: MAIL_CATCHER_API_KEY };

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every message the catcher holds for `address` (and `subject`, if given), newest first. */
export async function mailsTo(address, { subject } = {}) {
  if (!MAIL_CATCHER_URL) throw new Error('MAIL_CATCHER_URL is not set: run the tests with scripts/with-server.sh');
  const res = await fetch(`${MAIL_CATCHER_URL}/api/messages?to=${encodeURIComponent(address)}`);
  if (res.status !== 200) throw new Error(`mail catcher: ${res.status} ${await res.text()}`);
  const messages = await res.json();
  return subject === undefined ? messages : messages.filter((message) => message.subject === subject);
}

/**
 * The newest message to `address` (with `subject`, if given), once at least `count` have
 * arrived: the worker sends after answering, so this polls for up to `timeoutMs`.
 */
export async function mailTo(address, { subject, count = 1, timeoutMs = 15000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const messages = await mailsTo(address, { subject });
    if (messages.length >= count) return messages[0];
    if (Date.now() > deadline) {
      throw new Error(`${messages.length} of ${count} message(s) to ${address}${subject ? ` "${subject}"` : ''} arrived in ${timeoutMs} ms`);
    }
    await sleep(200);
  }
}

/** The first link in a message's text part that carries a token: #token=, or ?token= as links sent before. */
export function linkFrom(message) {
  const link = /https?:\/\/\S+[?&#]token=[A-Za-z0-9_-]+/.exec(message.text)?.[0];
  if (!link) throw new Error(`no link with a token in: ${message.text}`);
  return link;
}

/** The token of a link: in its fragment (#token=), or in its query as links sent before. */
export function tokenOfLink(link) {
  const url = new URL(link);
  return new URLSearchParams(url.hash.slice(1)).get('token') ?? url.searchParams.get('token');
}

/** The token of the message's link. */
export const tokenFrom = (message) => tokenOfLink(linkFrom(message));

// ---- Chromium (Debian's /usr/bin/chromium, driven through playwright-core).

// Flags that let Debian's Chromium run headless as root on a machine with no outside network.
// Playwright gives each launch a new, empty profile of its own.
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** A headless Chromium; close it when done. */
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
}
