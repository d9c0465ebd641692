// Read replication and the request log: every request runs in one D1 session, responses
// carry its bookmark, a client sends it back to read its own writes, and each request leaves
// one JSON line on the log (WORKER_LOG) with its route template and what D1 did for it.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { api, newUser, createRecipe, signup, randomEmail, sql, sqlText, PASSWORD, logSince } from './helpers.mjs';

const BOOKMARK = 'x-d1-bookmark';

/** Waits (up to ~3 s) for the request log line carrying this cf-ray. */
async function requestLine(offset, ray) {
  for (let i = 0; i < 30; i++) {
    const line = logSince(offset).find((value) => value.log === 'request' && value.cf_ray === ray);
    if (line) return line;
    await delay(100);
  }
  assert.fail(`no request line with cf_ray ${ray}`);
}

describe('D1 sessions and bookmarks (x-d1-bookmark)', () => {
  test('responses that used D1 carry the session bookmark, reads and writes alike', async () => {
    const read = await api('/api/v1/recipes/1');
    assert.equal(read.status, 200);
    assert.match(read.headers.get(BOOKMARK) ?? '', /^[0-9a-f]+(-[0-9a-f]+)+$/i, 'a read has one');
    const created = await signup();
    assert.equal(created.status, 201);
    assert.ok(created.headers.get(BOOKMARK), 'a write has one');
    assert.equal((await api('/docs')).headers.get(BOOKMARK), null, 'a page that uses no D1 has none');
  });

  test('a client that sends back the bookmark of its write reads that write', async () => {
    const { token } = await newUser();
    const created = await createRecipe(token);
    const bookmark = created.headers.get(BOOKMARK);
    assert.ok(bookmark);
    const read = await api(`/api/v1/recipes/${created.body.id}`, { headers: { [BOOKMARK]: bookmark } });
    assert.equal(read.status, 200);
    assert.deepEqual(read.body, created.body);
    assert.ok(read.headers.get(BOOKMARK), 'the resumed session hands out its latest bookmark');
  });

  test('a malformed bookmark is a 400 with a clear detail, and nothing is written', async () => {
    for (const bad of ['not a bookmark', 'first-primary', '0000-<x>', 'f'.repeat(300)]) {
      const email = randomEmail();
      const res = await api('/api/v1/auth/signup', {
        method: 'POST', json: { email, password: PASSWORD }, headers: { [BOOKMARK]: bad },
      });
      assert.equal(res.status, 400, bad);
      assert.deepEqual(res.body, { detail: 'Invalid x-d1-bookmark header' });
      assert.equal((await sql(`SELECT count(*) AS n FROM users WHERE email = ${sqlText(email)}`))[0].n, 0);
    }
    const read = await api('/api/v1/recipes/1', { headers: { [BOOKMARK]: 'nope' } });
    assert.equal(read.status, 400);
  });

  test('browsers may read the bookmark (CORS exposes it)', async () => {
    const { headers } = await api('/api/v1/recipes/1', { headers: { origin: 'http://localhost:3000' } });
    assert.match(headers.get('access-control-expose-headers') ?? '', /x-d1-bookmark/i);
  });
});

describe('request log (WORKER_LOG)', () => {
  test('one JSON line per request: method, route template, status, D1 counters from meta, cf-ray', async () => {
    const offset = statSync(process.env.WORKER_LOG).size;
    const ray = `ray-${randomUUID()}`;
    assert.equal((await api('/api/v1/recipes/1', { headers: { 'cf-ray': ray } })).status, 200);
    const line = await requestLine(offset, ray);
    assert.equal(line.method, 'GET');
    assert.equal(line.route, '/api/v1/recipes/{recipe_id}', 'the template, not the path');
    assert.equal(line.status, 200);
    assert.equal(line.d1_round_trips, 1);
    assert.equal(line.d1_statements, 1);
    assert.ok(line.d1_rows_read >= 1, `rows read from D1's meta: ${JSON.stringify(line)}`);
    assert.equal(line.d1_rows_written, 0);
    assert.equal(line.user_id, null);

    const missing = `ray-${randomUUID()}`;
    assert.equal((await api('/api/v1/nope/here', { headers: { 'cf-ray': missing } })).status, 404);
    const unmatched = await requestLine(offset, missing);
    assert.equal(unmatched.route, null);
    assert.equal(unmatched.d1_statements, 0);
  });

  test("an authenticated request names its user, a write counts rows written, and no secret is logged", async () => {
    const { user, token, refresh } = await newUser();
    const offset = statSync(process.env.WORKER_LOG).size;
    const ray = `ray-${randomUUID()}`;
    const created = await createRecipe(token, {});
    assert.equal(created.status, 201);
    const me = await api('/api/v1/auth/me', { token, headers: { 'cf-ray': ray } });
    assert.equal(me.status, 200);
    const line = await requestLine(offset, ray);
    assert.equal(line.route, '/api/v1/auth/me');
    assert.equal(line.user_id, user.id);
    const writes = logSince(offset).filter((value) => value.log === 'request' && value.route === '/api/v1/recipes' && value.method === 'POST');
    assert.ok(writes.some((value) => value.user_id === user.id && value.d1_rows_written >= 1), JSON.stringify(writes));
    const text = JSON.stringify(logSince(offset));
    for (const secret of [token, refresh, user.email, PASSWORD]) {
      assert.ok(!text.includes(secret), 'no token, email or password in the log');
    }
    const refused = `ray-${randomUUID()}`;
    await api('/api/v1/auth/me', { token: 'x.y.z', headers: { 'cf-ray': refused } });
    assert.equal((await requestLine(offset, refused)).user_id, null, 'a refused token names nobody');
  });
});
