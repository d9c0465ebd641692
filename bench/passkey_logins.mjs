// Password logins and passkey logins on one server, taking turns (bench/passkey.sh): signs a
// user up, registers an ES256 passkey for them from a software authenticator
// (tests/software-authenticator.mjs), warms both paths, then RUNS times a password login and
// a passkey login (its options fetched first, outside the measured window). Prints one line
// per login, as bench/login_cpu.py does:
//   NAME wall_ms server_cpu_ms start_us end_us
// server_cpu_ms: all of the server's workerd CPU across the request (/proc, as
// bench/server_cpu.py reads it); start_us, end_us: CLOCK_MONOTONIC in µs, the clock of V8's
// CPU profiles, for bench/worker_cpu.py's busy_between.
//
//   node bench/passkey_logins.mjs BASE_URL PGID RUNS
import { readdirSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { SoftwareAuthenticator } from '../tests/software-authenticator.mjs';

const [base, pgidText, runsText] = process.argv.slice(2);
const pgid = Number(pgidText);
const runs = Number(runsText);
const email = `bench-passkey-${randomBytes(4).toString('hex')}@example.com`;
const password = `bench-${randomBytes(8).toString('hex')}`;

/** CPU (ms) so far of the workerd processes in process group `pgid`: bench/server_cpu.py's. */
function serverCpuMs() {
  let ns = 0;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Field 5 (pgrp), after the command name in parentheses.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) !== pgid) continue;
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'workerd') continue;
      for (const task of readdirSync(`/proc/${pid}/task`)) {
        ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
      }
    } catch {
      // A process or thread that ended meanwhile.
    }
  }
  return ns / 1e6;
}

async function call(path, { json, form, token } = {}) {
  const headers = {};
  let body;
  if (json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(form).toString();
  }
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${base}${path}`, { method: 'POST', headers, body });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

function expect(res, status, what) {
  if (res.status !== status) {
    console.error(`bench: ${what} answered ${res.status}: ${JSON.stringify(res.body)}`);
    process.exit(1);
  }
  return res.body;
}

/** One request, timed: its wall time, the server's CPU across it, and when (µs, monotonic). */
async function timed(name, request) {
  const cpuBefore = serverCpuMs();
  const start = process.hrtime.bigint();
  await request();
  const end = process.hrtime.bigint();
  const cpu = serverCpuMs() - cpuBefore;
  return `${name} ${(Number(end - start) / 1e6).toFixed(3)} ${cpu.toFixed(3)} ${start / 1000n} ${end / 1000n}`;
}

expect(await call('/api/v1/auth/signup', { json: { email, password } }), 201, 'signup');
const passwordLogin = async () => expect(
  await call('/api/v1/auth/login', { form: { username: email, password } }), 200, 'password login');
const { access_token: token } = await passwordLogin();
const authenticator = new SoftwareAuthenticator(base);
const options = expect(await call('/api/v1/auth/passkeys/register/options', { token }), 200, 'register options');
expect(await call('/api/v1/auth/passkeys/register', { token, json: { credential: authenticator.register(options) } }),
  201, 'register');

let signCount = 0;
async function passkeyCredential() {
  const request = expect(await call('/api/v1/auth/passkeys/login/options'), 200, 'login options');
  signCount += 1;
  return authenticator.assert(request, signCount);
}
const passkeyLogin = async (credential) => expect(
  await call('/api/v1/auth/passkeys/login', { json: { credential } }), 200, 'passkey login');

// Warm the isolate and both paths.
await passwordLogin();
await passkeyLogin(await passkeyCredential());
for (let i = 0; i < runs; i += 1) {
  console.log(await timed('password', passwordLogin));
  const credential = await passkeyCredential();
  console.log(await timed('passkey', () => passkeyLogin(credential)));
}
