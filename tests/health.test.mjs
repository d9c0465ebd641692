// The probes: GET /healthz answers from the edge without D1, GET /readyz asks D1 one
// `SELECT 1`; what each costs is read from its request log line. A second server whose D1
// file is not a database shows /readyz failing while /healthz still answers.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { api, logSince, startServer } from './helpers.mjs';

/** The request log line of the request sent with this cf-ray, from `file` (default WORKER_LOG). */
async function requestLine(offset, ray, file) {
  for (let i = 0; i < 30; i++) {
    const line = logSince(offset, file).find((value) => value.log === 'request' && value.cf_ray === ray);
    if (line) return line;
    await delay(100);
  }
  assert.fail(`no request line with cf_ray ${ray}`);
}

/** A probe, its answer and its log line. */
async function probe(path, { base, log = process.env.WORKER_LOG } = {}) {
  const offset = statSync(log).size;
  const ray = randomUUID();
  const res = await api(path, { base, headers: { 'cf-ray': ray } });
  return { res, line: await requestLine(offset, ray, log) };
}

describe('GET /healthz', () => {
  test('answers 200 {"status": "ok"}, uncached, without a D1 round trip', async () => {
    const { res, line } = await probe('/healthz');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: 'ok' });
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('x-d1-bookmark'), null, 'no D1 session was opened');
    assert.equal(line.route, '/healthz');
    assert.equal(line.d1_round_trips, 0, JSON.stringify(line));
    assert.equal(line.d1_statements, 0, JSON.stringify(line));
  });
});

describe('GET /readyz', () => {
  test('answers 200 after exactly one D1 round trip of one statement, reading no row', async () => {
    const { res, line } = await probe('/readyz/');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body, { status: 'ok' });
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(line.route, '/readyz');
    assert.equal(line.d1_round_trips, 1, JSON.stringify(line));
    assert.equal(line.d1_statements, 1, JSON.stringify(line));
    assert.equal(line.d1_rows_written, 0, JSON.stringify(line));
  });
});

describe('a server whose D1 is broken', () => {
  const d1 = mkdtempSync(join(tmpdir(), 'recipe-api-broken-d1-'));
  let server;
  before(async () => {
    // A D1 that was migrated, then its SQLite file overwritten: D1 itself fails every query.
    const good = await startServer({}, { d1 });
    await good.stop();
    const dir = join(d1, 'v3', 'd1', 'miniflare-D1DatabaseObject');
    // The database's file; metadata.sqlite is Miniflare's own.
    const files = readdirSync(dir).filter((name) => name.endsWith('.sqlite') && name !== 'metadata.sqlite');
    assert.equal(files.length, 1, `one database file in ${dir}: ${files}`);
    for (const name of readdirSync(dir).filter((name) => name.startsWith(files[0]))) rmSync(join(dir, name));
    writeFileSync(join(dir, files[0]), Buffer.alloc(8192, 'not a database. '));
    server = await startServer({}, { d1, migrate: false });
  });
  after(async () => {
    await server?.stop();
    rmSync(d1, { recursive: true, force: true });
  });

  test('/readyz answers 503 with a detail, Retry-After, and the cause in its log line', async () => {
    const { res, line } = await probe('/readyz', { base: server.base, log: server.log });
    assert.equal(res.status, 503, JSON.stringify(res.body));
    assert.deepEqual(res.body, { detail: "Not ready: the database failed; see the worker's log" });
    assert.equal(res.headers.get('retry-after'), '1');
    assert.equal(line.status, 503);
    assert.equal(line.d1_round_trips, 1, JSON.stringify(line));
    assert.match(line.error ?? '', /readiness check/, `the cause is logged: ${JSON.stringify(line)}`);
  });

  test('/healthz still answers 200: it never asks D1', async () => {
    const { res, line } = await probe('/healthz', { base: server.base, log: server.log });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: 'ok' });
    assert.equal(line.d1_round_trips, 0);
  });

  test('a route that needs D1 answers 5xx in FastAPI\'s shape, not a hang', async () => {
    const res = await api('/api/v1/recipes/1', { base: server.base });
    assert.ok(res.status >= 500, `${res.status} ${JSON.stringify(res.body)}`);
    assert.equal(typeof res.body.detail, 'string');
  });
});
