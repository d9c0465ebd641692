// Backups, run for real on a local D1 (scripts/backup.sh, as `make backup` and `make restore`
// run it remotely): a database in use is exported, wiped, imported into the empty place with
// its search index rebuilt, and served again; its data, its migrations and search come back,
// and every session from before the restore is over.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { api, randomEmail, PASSWORD, sql, startServer } from './helpers.mjs';

const run = promisify(execFile);
/** scripts/backup.sh with these arguments; its output, or a rejection with it. */
const backup = (...args) => run('scripts/backup.sh', args, { env: process.env, maxBuffer: 1 << 24 });

const work = mkdtempSync(join(tmpdir(), 'recipe-api-backup-test-'));
const d1 = join(work, 'd1');
const folder = join(work, 'backup');
const vars = { JWT_SECRET: process.env.TEST_JWT_SECRET };

/** Signs a new user up and in on `base`; their email, tokens and a recipe of theirs. */
async function userWithRecipe(base) {
  const email = randomEmail();
  const created = await api('/api/v1/auth/signup', { method: 'POST', base, json: { email, password: PASSWORD } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const session = await api('/api/v1/auth/login', {
    method: 'POST', base, form: new URLSearchParams({ username: email, password: PASSWORD }),
  });
  assert.equal(session.status, 200, JSON.stringify(session.body));
  const label = `Backup Broth ${randomUUID().slice(0, 8)}`;
  const recipe = await api('/api/v1/recipes/', {
    method: 'POST', base, token: session.body.access_token,
    json: { label, source: 'Gran', url: 'https://example.com/broth' },
  });
  assert.equal(recipe.status, 201, JSON.stringify(recipe.body));
  return { email, access: session.body.access_token, refresh: session.body.refresh_token, recipe: recipe.body };
}

const search = (base, keyword) => api(`/api/v1/recipes/search?keyword=${encodeURIComponent(keyword)}`, { base });

describe('scripts/backup.sh on a local D1', () => {
  let server;
  after(async () => {
    await server?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('export, wipe, import: data, migrations and search come back, and every earlier session is over', async () => {
    server = await startServer(vars, { d1 });
    const ada = await userWithRecipe(server.base);
    const migrations = await sql('SELECT id, name FROM d1_migrations ORDER BY id', { d1 });
    const keyword = ada.recipe.label.slice(-8);
    assert.deepEqual((await search(server.base, keyword)).body.results, [ada.recipe], 'found before the backup');
    await server.stop();

    const exported = await backup('export', '--local', '--persist-to', d1, '--out', folder);
    const tables = readFileSync(join(folder, 'tables.sql'), 'utf8');
    assert.doesNotMatch(tables, /CREATE VIRTUAL TABLE|recipes_fts_(data|idx|config|docsize)/, 'no search index or its shadow tables');
    assert.match(tables, /INSERT INTO "d1_migrations"/, 'the migrations table is in the backup');
    assert.match(tables, /CREATE TRIGGER recipes_fts_insert/, "the index's triggers are");
    const index = readFileSync(join(folder, 'search-index.sql'), 'utf8');
    assert.match(index, /^CREATE VIRTUAL TABLE recipes_fts USING fts5\(/);
    assert.match(index, /INSERT INTO "recipes_fts" \("recipes_fts"\) VALUES \('rebuild'\);/);
    const manifest = JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8'));
    assert.equal(manifest.rows.users, 1);
    assert.equal(manifest.rows.recipes, 1);
    assert.equal(manifest.rows.d1_migrations, migrations.length);
    assert.deepEqual(Object.keys(manifest.rows).filter((t) => t.startsWith('recipes_fts') || t.startsWith('_cf_')), []);
    assert.deepEqual(manifest.virtual_tables, ['recipes_fts']);

    rmSync(d1, { recursive: true, force: true });
    assert.ok(!existsSync(d1), 'the database is gone');
    const imported = await backup('import', '--local', '--persist-to', d1, folder);
    assert.match(imported.stdout, /the search index is whole/, imported.stdout);
    assert.match(imported.stdout, /ended every session/, imported.stdout);

    // startServer applies the migrations first: with d1_migrations restored there is none to
    // apply (without it, the first would fail on a table that exists).
    server = await startServer(vars, { d1 });
    assert.deepEqual(await sql('SELECT id, name FROM d1_migrations ORDER BY id', { d1 }), migrations);
    const found = await search(server.base, keyword);
    assert.equal(found.status, 200, JSON.stringify(found.body));
    assert.deepEqual(found.body.results, [ada.recipe], 'search finds the recipe through the rebuilt index');
    const recipe = await api(`/api/v1/recipes/${ada.recipe.id}`, { base: server.base });
    assert.deepEqual(recipe.body, ada.recipe);

    const me = await api('/api/v1/auth/me', { base: server.base, token: ada.access });
    assert.equal(me.status, 401, `an access token from before the restore: ${JSON.stringify(me.body)}`);
    const refreshed = await api('/api/v1/auth/refresh', { method: 'POST', base: server.base, json: { refresh_token: ada.refresh } });
    assert.equal(refreshed.status, 401, `a refresh token from before the restore: ${JSON.stringify(refreshed.body)}`);
    const login = await api('/api/v1/auth/login', {
      method: 'POST', base: server.base, form: new URLSearchParams({ username: ada.email, password: PASSWORD }),
    });
    assert.equal(login.status, 200, `the password came back with the account: ${JSON.stringify(login.body)}`);
    assert.equal((await api('/api/v1/auth/me', { base: server.base, token: login.body.access_token })).status, 200);

    // A recipe added after the restore is indexed by the restored triggers.
    const later = await api('/api/v1/recipes/', {
      method: 'POST', base: server.base, token: login.body.access_token,
      json: { label: `Backup Stew ${randomUUID().slice(0, 8)}`, source: 'Gran', url: 'https://example.com/stew' },
    });
    assert.equal(later.status, 201);
    assert.deepEqual((await search(server.base, later.body.label.slice(-8))).body.results, [later.body]);

    // end-sessions, as after a Time Travel restore: on the live database, every session ends.
    const ended = await backup('end-sessions', '--local', '--persist-to', d1);
    assert.match(ended.stdout, /ended every session/, ended.stdout);
    const afterwards = await api('/api/v1/auth/me', { base: server.base, token: login.body.access_token });
    assert.equal(afterwards.status, 401, 'a session from after the restore, ended by end-sessions');
  });

  test('import refuses a database that is not empty, and changes nothing', async () => {
    const before = await sql('SELECT id, token_version FROM users ORDER BY id', { d1 });
    await assert.rejects(backup('import', '--local', '--persist-to', d1, folder), (error) => {
      assert.match(error.stderr, /is not empty/, error.stderr);
      return true;
    });
    assert.deepEqual(await sql('SELECT id, token_version FROM users ORDER BY id', { d1 }), before);
  });

  test('import refuses a folder that is not a backup, and a remote restore without a new database named', async () => {
    await assert.rejects(backup('import', '--local', '--persist-to', join(work, 'other'), work), (error) => {
      assert.match(error.stderr, /tables\.sql is missing/, error.stderr);
      return true;
    });
    await assert.rejects(backup('import', '--env', 'production', folder), (error) => {
      assert.match(error.stderr, /name the new database to restore into/, error.stderr);
      return true;
    });
    await assert.rejects(backup('export', '--env', 'prod'), (error) => {
      assert.match(error.stderr, /unknown environment 'prod'/, error.stderr);
      return true;
    });
  });
});
