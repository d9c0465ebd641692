// A deployment without a usable JWT_SECRET fails closed: a clear 500 for every request that
// needs the key, never a token signed with a weak one. Runs a second server on the same
// build with its own D1 and a too-short secret, and stops it by its process group.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomEmail, PASSWORD } from './helpers.mjs';

const freePort = () => new Promise((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    server.close(() => resolve(port));
  });
});

describe('JWT_SECRET shorter than 32 bytes', () => {
  let server;
  let dir;
  let base;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'recipe-api-weak-secret-'));
    writeFileSync(join(dir, 'vars'), 'JWT_SECRET=too-short\n');
    const [port, inspector] = [await freePort(), await freePort()];
    base = `http://127.0.0.1:${port}`;
    await new Promise((resolve, reject) => {
      const migrate = spawn('npx', ['wrangler', 'd1', 'migrations', 'apply', 'DB', '--local', '--persist-to', join(dir, 'd1')], { stdio: 'ignore' });
      migrate.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`migrations: ${code}`))));
    });
    server = spawn('npx', [
      'wrangler', 'dev', '--config', process.env.SERVED_CONFIG, '--local', '--ip', '127.0.0.1',
      '--port', String(port), '--inspector-port', String(inspector), '--persist-to', join(dir, 'd1'),
      '--env-file', join(dir, 'vars'), '--show-interactive-dev-session=false',
    ], { detached: true, stdio: 'ignore', env: { ...process.env, WRANGLER_SEND_METRICS: 'false' } });
    for (let i = 0; i < 240; i++) {
      try {
        await fetch(`${base}/api/v1/nope`);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    throw new Error('the second server did not start');
  });
  after(() => {
    if (server) {
      try { process.kill(-server.pid, 'SIGTERM'); } catch { /* already gone */ }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('login and me answer 500 "Server misconfigured"; no token is issued', async () => {
    const email = randomEmail();
    const signup = await fetch(`${base}/api/v1/auth/signup`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD }),
    });
    assert.equal(signup.status, 201, 'signup does not need the key');
    const login = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', body: new URLSearchParams({ username: email, password: PASSWORD }) });
    assert.equal(login.status, 500);
    const body = await login.json();
    assert.deepEqual(body, { detail: "Server misconfigured; see the worker's log" });
    const me = await fetch(`${base}/api/v1/auth/me`, { headers: { authorization: 'Bearer x.y.z' } });
    assert.equal(me.status, 500);
  });
});
