// A deployment without a usable JWT_SECRET fails closed: a clear 500 for every request that
// needs the key, never a token signed with a weak or public one. Runs a second server on the same
// build with its own D1 and a too-short secret (helpers.mjs, startServer).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { randomEmail, PASSWORD, startServer } from './helpers.mjs';

describe('JWT_SECRET shorter than 32 bytes', () => {
  let server;
  before(async () => {
    server = await startServer({ JWT_SECRET: 'too-short' });
  });
  after(async () => {
    await server?.stop();
  });

  test('login and me answer 500 "Server misconfigured"; no token is issued', async () => {
    const { base } = server;
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

describe('JWT_SECRET copied from .dev.vars.example (long enough, but public)', () => {
  const placeholder = readFileSync('.dev.vars.example', 'utf8').match(/^JWT_SECRET=(.*)$/m)[1];
  let server;
  before(async () => {
    server = await startServer({ JWT_SECRET: placeholder });
  });
  after(async () => {
    await server?.stop();
  });

  test('login answers 500 "Server misconfigured", and the log names the placeholder', async () => {
    assert.ok(placeholder.length >= 32 && placeholder.includes('replace-with'), placeholder);
    const { base } = server;
    const email = randomEmail();
    const signup = await fetch(`${base}/api/v1/auth/signup`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD }),
    });
    assert.equal(signup.status, 201);
    const login = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', body: new URLSearchParams({ username: email, password: PASSWORD }) });
    assert.equal(login.status, 500);
    assert.deepEqual(await login.json(), { detail: "Server misconfigured; see the worker's log" });
    const log = readFileSync(server.log, 'utf8');
    assert.match(log, /JWT_SECRET is still the placeholder from the documentation/);
    assert.ok(!log.includes(placeholder), 'the value itself is not logged');
  });
});
