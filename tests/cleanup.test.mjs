// The scheduled cleanup (src/scheduled.rs, the Cron Trigger in wrangler.toml). The local
// runtime runs the scheduled handler on `GET /cdn-cgi/local/scheduled?cron=...` (under
// scripts/with-server.sh as under `wrangler dev`). Rows that must go and rows that must stay
// are made through the API and aged in the database; after a run exactly the ended ones are gone, the summary is logged
// (WORKER_LOG), and live sessions still refresh, reuse detection included.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { api, newUser, refresh, logout, sql, sqlText, nowSeconds, logSince } from './helpers.mjs';

const LOG = process.env.WORKER_LOG;
const DAY = 24 * 3600;
const sha256 = (text) => createHash('sha256').update(text).digest('base64url');
const list = (values) => values.map(sqlText).join(', ');
const sorted = (values) => [...values].sort();

/** The `{"log":"cleanup",…}` lines written to the worker's log from byte `offset` on. */
const cleanupLines = (offset) => logSince(offset).filter((value) => value.log === 'cleanup');

/** Runs the scheduled handler once and returns its log line. */
async function runCleanup() {
  const offset = statSync(LOG).size;
  const res = await api('/cdn-cgi/local/scheduled?cron=0+*+*+*+*');
  assert.equal(res.status, 200, `the scheduled handler: ${JSON.stringify(res.body)}`);
  for (let i = 0; i < 50; i++) {
    const lines = cleanupLines(offset);
    if (lines.length > 0) {
      assert.equal(lines.length, 1, `one line per run: ${JSON.stringify(lines)}`);
      return lines[0];
    }
    await delay(100);
  }
  assert.fail('no {"log":"cleanup"} line in the worker log');
}

describe('scheduled cleanup (GET /cdn-cgi/local/scheduled)', () => {
  test('deletes expired tokens, ended sessions and stale counters, and nothing else', async () => {
    assert.ok(LOG, 'scripts/with-server.sh exports WORKER_LOG');
    const now = nowSeconds();
    const run = randomUUID();

    // live: a fresh login. rotated: refreshed twice, its first token then aged past expiry
    // (it goes), its second (used, unexpired) stays for reuse detection. loggedOut: revoked.
    // tooOld: login 91 days ago (SESSION_MAX_DAYS is 90). oldButLive: 89 days ago.
    // allExpired: its only token expired.
    const made = [];
    for (let i = 0; i < 6; i++) made.push(await newUser());
    const [live, rotated, loggedOut, tooOld, oldButLive, allExpired] = made;
    const r1 = rotated.refresh;
    const r2 = (await refresh(r1)).body.refresh_token;
    const r3res = await refresh(r2);
    assert.equal(r3res.status, 200);
    const r3 = r3res.body.refresh_token;
    assert.equal((await logout(loggedOut.refresh)).status, 204);

    const id = (who) => who.user.id;
    const users = [live, rotated, loggedOut, tooOld, oldButLive, allExpired].map(id);
    const tokens = {
      live: sha256(live.refresh), r1: sha256(r1), r2: sha256(r2), r3: sha256(r3),
      loggedOut: sha256(loggedOut.refresh), tooOld: sha256(tooOld.refresh),
      oldButLive: sha256(oldButLive.refresh), allExpired: sha256(allExpired.refresh),
    };
    const bulk = 2500; // more than one batch of 1000: the run takes several rounds
    await sql(`
      UPDATE refresh_tokens SET expires_at = ${now - 60} WHERE token_hash IN (${list([tokens.r1, tokens.allExpired])});
      UPDATE sessions SET created_at = created_at - ${91 * DAY} WHERE user_id = ${id(tooOld)};
      UPDATE sessions SET created_at = created_at - ${89 * DAY} WHERE user_id = ${id(oldButLive)};
      INSERT INTO attempts (key, count, expires_at) VALUES
        (${sqlText(`cleanup:${run}:past`)}, 3, ${now - 1}),
        (${sqlText(`cleanup:${run}:future`)}, 3, ${now + 600});
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${bulk})
        INSERT INTO attempts (key, count, expires_at)
        SELECT ${sqlText(`cleanup:${run}:bulk:`)} || i, 1, ${now - 3600} FROM n;
    `);

    const state = async () => {
      const [row] = await sql(`SELECT
        (SELECT json_group_array(user_id) FROM sessions WHERE user_id IN (${users.join(', ')})) AS sessions,
        (SELECT json_group_array(token_hash) FROM refresh_tokens WHERE token_hash IN (${list(Object.values(tokens))})) AS tokens,
        (SELECT json_group_array(key) FROM attempts WHERE key IN (${list([`cleanup:${run}:past`, `cleanup:${run}:future`])})) AS attempts,
        (SELECT count(*) FROM attempts WHERE instr(key, ${sqlText(`cleanup:${run}:bulk:`)}) = 1) AS bulk`);
      return {
        sessions: sorted(JSON.parse(row.sessions)),
        tokens: sorted(JSON.parse(row.tokens)),
        attempts: sorted(JSON.parse(row.attempts)),
        bulk: row.bulk,
      };
    };
    const before = await state();
    assert.deepEqual(before.sessions, sorted(users), 'every user has a session before the run');
    assert.deepEqual(before.tokens, sorted(Object.values(tokens)));
    assert.equal(before.attempts.length, 2);
    assert.equal(before.bulk, bulk);

    const line = await runCleanup();
    assert.equal(line.cron, '0 * * * *');
    assert.equal(line.error, undefined, JSON.stringify(line));
    assert.equal(line.complete, true, JSON.stringify(line));
    assert.ok(line.refresh_tokens >= 2, JSON.stringify(line));
    assert.ok(line.sessions >= 3, JSON.stringify(line));
    assert.ok(line.attempts >= bulk + 1, JSON.stringify(line));
    assert.ok(line.rounds >= 3, `${bulk} counters take three rounds of 1000: ${JSON.stringify(line)}`);

    const after = await state();
    assert.deepEqual(after.sessions, sorted([id(live), id(rotated), id(oldButLive)]), 'the live sessions stay');
    assert.deepEqual(
      after.tokens,
      sorted([tokens.live, tokens.r2, tokens.r3, tokens.oldButLive]),
      'unexpired tokens of live sessions stay, used ones included; the rest go',
    );
    assert.deepEqual(after.attempts, [`cleanup:${run}:future`]);
    assert.equal(after.bulk, 0);

    // A second run finds nothing more of ours.
    const again = await runCleanup();
    assert.equal(again.complete, true);
    assert.deepEqual(await state(), after);

    // Live sessions still refresh, the 89-day-old one included.
    const renewed = await refresh(live.refresh);
    assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
    assert.equal((await refresh(renewed.body.refresh_token)).status, 200);
    assert.equal((await refresh(oldButLive.refresh)).status, 200);
    // Ended ones do not.
    for (const ended of [loggedOut, tooOld, allExpired]) {
      assert.equal((await refresh(ended.refresh)).status, 401);
    }
    // The used token that was kept is still recognised as reuse: it ends its session.
    assert.equal((await refresh(r2)).status, 401, 'reuse');
    assert.equal((await refresh(r3)).status, 401, 'the session of a reused token is over');
  });
});
