// Signed-in devices (GET/DELETE /api/v1/auth/sessions), the refresh grace window
// (REFRESH_REUSE_SECONDS), and access tokens' iss, aud and kid with a key rotation
// (JWT_SECRET_PREVIOUS) on a second server.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  api, signup, newUser, login, refresh, logout, me, changePassword, decodeClaims, forgeToken,
  nowSeconds, sql, sqlText, pastGraceWindow, refreshTokenHash, startServer, launchChromium,
  BASE_URL, PASSWORD,
} from './helpers.mjs';

const FIREFOX_ON_MACOS = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0';
const CHROME_ON_ANDROID = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 Mobile Safari/537.36';
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const NOT_FOUND = { detail: 'Session not found' };

const sessions = (token) => api('/api/v1/auth/sessions', { token });
const endSession = (token, id) => api(`/api/v1/auth/sessions/${encodeURIComponent(id)}`, { method: 'DELETE', token });
const endOthers = (token) => api('/api/v1/auth/sessions', { method: 'DELETE', token });
const statuses = (responses) => responses.map((r) => r.status).sort();
const sidOf = (accessToken) => decodeClaims(accessToken).sid;

/** A second login of `email`, from a device that says `userAgent`. */
async function loginFrom(email, userAgent) {
  const res = await login(email, PASSWORD, { 'user-agent': userAgent });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return { token: res.body.access_token, refresh: res.body.refresh_token, sid: sidOf(res.body.access_token) };
}

const revokedAt = async (sid) => (await sql(`SELECT revoked_at FROM sessions WHERE id = ${sqlText(sid)}`))[0]?.revoked_at;

describe('GET /api/v1/auth/sessions', () => {
  test('lists each live session with its device, place and times, and marks the caller\'s own as current', async () => {
    const { user } = await newUser();
    const laptop = await loginFrom(user.email, FIREFOX_ON_MACOS);
    const phone = await loginFrom(user.email, CHROME_ON_ANDROID);
    const res = await sessions(laptop.token);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.headers.get('cache-control'), 'no-store', 'a user\'s own data is never cached');
    const byId = new Map(res.body.sessions.map((s) => [s.id, s]));
    assert.equal(res.body.sessions.length, 3, 'newUser\'s login, the laptop and the phone');
    assert.deepEqual(Object.keys(byId.get(laptop.sid)).sort(), ['city', 'country', 'created_at', 'current', 'id', 'last_used_at', 'user_agent']);
    assert.equal(byId.get(laptop.sid).user_agent, 'Firefox on macOS');
    assert.equal(byId.get(phone.sid).user_agent, 'Chrome on Android');
    assert.deepEqual(res.body.sessions.filter((s) => s.current).map((s) => s.id), [laptop.sid]);
    for (const session of res.body.sessions) {
      assert.match(session.created_at, RFC3339);
      assert.match(session.last_used_at, RFC3339);
      assert.ok(Math.abs(Date.parse(session.created_at) / 1000 - nowSeconds()) < 300, session.created_at);
      // request.cf: Cloudflare's geolocation; wrangler dev gives fixed values or none.
      assert.ok(session.country === null || /^[A-Z]{2}$/.test(session.country), `country ${session.country}`);
      assert.ok(session.city === null || typeof session.city === 'string', `city ${session.city}`);
    }
    const fromPhone = await sessions(phone.token);
    assert.deepEqual(fromPhone.body.sessions.filter((s) => s.current).map((s) => s.id), [phone.sid], 'current is per token');
    const stored = await sql(`SELECT user_agent FROM sessions WHERE id = ${sqlText(laptop.sid)}`);
    assert.deepEqual(stored, [{ user_agent: 'Firefox on macOS' }], 'the summary is stored, not the header');
  });

  test('shows no one else\'s sessions, and none that ended: logged out, refreshed-away after reuse, or from before a password change', async () => {
    const { user, token } = await newUser();
    const stranger = await newUser();
    const loggedOut = await loginFrom(user.email, 'curl/8.5.0');
    assert.equal((await logout(loggedOut.refresh)).status, 204);
    const ids = (await sessions(token)).body.sessions.map((s) => s.id);
    assert.deepEqual(ids, [sidOf(token)]);
    assert.ok(!ids.includes(sidOf(stranger.token)));

    const changed = await changePassword(token, { current_password: PASSWORD, new_password: 'a brand new secret' });
    assert.equal(changed.status, 200);
    const after = await sessions(changed.body.access_token);
    assert.deepEqual(after.body.sessions.map((s) => s.id), [sidOf(changed.body.access_token)], 'only the session the change started');
  });

  test('a session\'s last use moves on at a refresh, not at a read', async () => {
    const { token, refresh: refreshToken } = await newUser();
    const sid = sidOf(token);
    const longAgo = nowSeconds() - 86400;
    await sql(`UPDATE sessions SET last_used_at = ${longAgo} WHERE id = ${sqlText(sid)}`);
    assert.equal((await me(token)).status, 200);
    const listed = async (accessToken) => (await sessions(accessToken)).body.sessions.find((s) => s.id === sid);
    assert.equal(Date.parse((await listed(token)).last_used_at) / 1000, longAgo, 'reads write nothing');
    const renewed = await refresh(refreshToken);
    assert.equal(renewed.status, 200);
    const used = Date.parse((await listed(renewed.body.access_token)).last_used_at) / 1000;
    assert.ok(Math.abs(used - nowSeconds()) < 120, `refreshed just now: ${used}`);
  });

  test('needs a good token', async () => {
    assert.equal((await sessions()).status, 401);
    const { token, refresh: refreshToken } = await newUser();
    await logout(refreshToken);
    const res = await sessions(token);
    assert.equal(res.status, 401, 'the token of an ended session is refused');
    assert.equal(res.headers.get('www-authenticate'), 'Bearer');
  });
});

describe('DELETE /api/v1/auth/sessions/{id}', () => {
  test('ends one session: its access and refresh tokens stop working at once; the others go on', async () => {
    const { user, token } = await newUser();
    const phone = await loginFrom(user.email, CHROME_ON_ANDROID);
    assert.equal((await me(phone.token)).status, 200);
    const res = await endSession(token, phone.sid);
    assert.equal(res.status, 204, JSON.stringify(res.body));
    assert.equal((await me(phone.token)).status, 401, 'its access token fails at once');
    assert.equal((await refresh(phone.refresh)).status, 401, 'its refresh token too');
    assert.equal((await me(token)).status, 200, 'the caller\'s own session goes on');
    assert.deepEqual((await sessions(token)).body.sessions.map((s) => s.id), [sidOf(token)]);
    const again = await endSession(token, phone.sid);
    assert.equal(again.status, 404, 'an ended session is not found');
    assert.deepEqual(again.body, NOT_FOUND);
  });

  test('another user\'s session, or no session, is 404 and nothing changes', async () => {
    const { token } = await newUser();
    const victim = await newUser();
    for (const id of [sidOf(victim.token), 'no-such-session', 'x'.repeat(300), "' OR 1=1 --"]) {
      const res = await endSession(token, id);
      assert.equal(res.status, 404, id);
      assert.deepEqual(res.body, NOT_FOUND);
    }
    assert.equal((await me(victim.token)).status, 200, 'the other user\'s session is untouched');
    assert.equal(await revokedAt(sidOf(victim.token)), null);
  });

  test('ending one\'s own current session is a logout', async () => {
    const { token, refresh: refreshToken } = await newUser();
    assert.equal((await endSession(token, sidOf(token))).status, 204);
    assert.equal((await me(token)).status, 401);
    assert.equal((await refresh(refreshToken)).status, 401);
  });

  test('needs a good token: without one, or with an ended session\'s, 401 and nothing ends', async () => {
    const { user, token } = await newUser();
    const phone = await loginFrom(user.email, CHROME_ON_ANDROID);
    assert.equal((await endSession(undefined, phone.sid)).status, 401);
    const laptop = await loginFrom(user.email, FIREFOX_ON_MACOS);
    assert.equal((await endSession(token, laptop.sid)).status, 204);
    assert.equal((await endSession(laptop.token, phone.sid)).status, 401, 'an ended session cannot end others');
    assert.equal((await me(phone.token)).status, 200);
  });

  test('two devices ending each other at once: exactly one wins, and exactly one session stays live', async () => {
    const { user, token: first } = await newUser();
    const second = await loginFrom(user.email, CHROME_ON_ANDROID);
    const [a, b] = await Promise.all([endSession(first, second.sid), endSession(second.token, sidOf(first))]);
    assert.deepEqual(statuses([a, b]), [204, 401], `${a.status} ${b.status}`);
    const live = [(await me(first)).status, (await me(second.token)).status];
    assert.deepEqual(live.sort(), [200, 401]);
  });

  test('the same session ended five times at once: one 204, four 404', async () => {
    const { user, token } = await newUser();
    const phone = await loginFrom(user.email, CHROME_ON_ANDROID);
    const results = await Promise.all(Array.from({ length: 5 }, () => endSession(token, phone.sid)));
    assert.deepEqual(statuses(results), [204, 404, 404, 404, 404]);
  });

  test('a refresh racing the end of its session leaves nothing that works', async () => {
    const { user, token } = await newUser();
    const phone = await loginFrom(user.email, CHROME_ON_ANDROID);
    const [renewed, ended] = await Promise.all([refresh(phone.refresh), endSession(token, phone.sid)]);
    assert.equal(ended.status, 204);
    if (renewed.status === 200) {
      assert.equal((await me(renewed.body.access_token)).status, 401, 'the pair of the refresh that ran first is ended too');
      assert.equal((await refresh(renewed.body.refresh_token)).status, 401);
    } else {
      assert.equal(renewed.status, 401);
    }
    assert.equal((await refresh(phone.refresh)).status, 401);
  });
});

describe('DELETE /api/v1/auth/sessions', () => {
  test('ends every session but the current one', async () => {
    const { user, token } = await newUser();
    const devices = [
      await loginFrom(user.email, CHROME_ON_ANDROID),
      await loginFrom(user.email, FIREFOX_ON_MACOS),
      await loginFrom(user.email, 'curl/8.5.0'),
    ];
    const stranger = await newUser();
    const res = await endOthers(token);
    assert.equal(res.status, 204, JSON.stringify(res.body));
    for (const device of devices) {
      assert.equal((await me(device.token)).status, 401, `${device.sid}: access token fails at once`);
      assert.equal((await refresh(device.refresh)).status, 401);
    }
    assert.equal((await me(token)).status, 200);
    assert.deepEqual((await sessions(token)).body.sessions.map((s) => s.id), [sidOf(token)]);
    assert.equal((await me(stranger.token)).status, 200, 'no one else\'s');
    assert.equal((await endOthers(token)).status, 204, 'nothing more to end is fine');
    assert.equal((await endOthers()).status, 401);
  });

  test('two devices each ending the others at once: one wins, the other is refused, one session is left', async () => {
    const { user, token } = await newUser();
    const phone = await loginFrom(user.email, CHROME_ON_ANDROID);
    const results = await Promise.all([endOthers(token), endOthers(phone.token)]);
    assert.deepEqual(statuses(results), [204, 401]);
    const rows = await sql(`SELECT count(*) AS n FROM sessions WHERE user_id = ${user.id} AND revoked_at IS NULL`);
    assert.equal(rows[0].n, 1);
  });
});

describe('refresh grace window (REFRESH_REUSE_SECONDS, 10 here): one live refresh token per session', () => {
  const liveTokens = async (sid) => (await sql(
    `SELECT count(*) AS n FROM refresh_tokens WHERE session_id = ${sqlText(sid)} AND used_at IS NULL`,
  ))[0].n;

  test('five refreshes at once with one token: five pairs with one and the same refresh token, and one live token in D1', async () => {
    const { token, refresh: once } = await newUser();
    const sid = sidOf(token);
    const results = await Promise.all(Array.from({ length: 5 }, () => refresh(once)));
    assert.deepEqual(statuses(results), [200, 200, 200, 200, 200], JSON.stringify(results.map((r) => r.body)));
    assert.deepEqual(results.map((r) => sidOf(r.body.access_token)), Array(5).fill(sid), 'one session');
    assert.equal(new Set(results.map((r) => r.body.refresh_token)).size, 1, 'one and the same refresh token');
    assert.notEqual(results[0].body.refresh_token, once);
    assert.equal(await revokedAt(sid), null, 'the session survives');
    for (const result of results) {
      assert.equal((await me(result.body.access_token)).status, 200, 'each access token works');
    }
    assert.equal(await liveTokens(sid), 1, 'the session has exactly one unused refresh token');
    const used = await sql(`SELECT used_at, successor_hash FROM refresh_tokens WHERE token_hash = ${sqlText(refreshTokenHash(once))}`);
    assert.equal(used.length, 1);
    assert.notEqual(used[0].used_at, null, 'the token was used once, by the first');
    assert.equal(used[0].successor_hash, refreshTokenHash(results[0].body.refresh_token), 'its successor is recorded');
    const next = await refresh(results[0].body.refresh_token);
    assert.equal(next.status, 200, 'the one successor goes on');
    assert.equal(await liveTokens(sid), 1);
  });

  test('two tabs refreshing with one token at the same moment both stay signed in, on one chain', async () => {
    const { token, refresh: once } = await newUser();
    const [tabA, tabB] = await Promise.all([refresh(once), refresh(once)]);
    assert.deepEqual([tabA.status, tabB.status], [200, 200]);
    assert.equal(tabA.body.refresh_token, tabB.body.refresh_token);
    // Later, each tab refreshes in its turn with the token it holds: the first rotates it,
    // the second (within the window) is answered with that rotation's successor.
    const laterA = await refresh(tabA.body.refresh_token);
    const laterB = await refresh(tabB.body.refresh_token);
    assert.deepEqual([laterA.status, laterB.status], [200, 200]);
    assert.equal(laterA.body.refresh_token, laterB.body.refresh_token);
    assert.equal((await me(laterB.body.access_token)).status, 200);
    assert.equal(await liveTokens(sidOf(token)), 1);
  });

  test('one retry after another within the window gets the same refresh token; the window runs from the first use', async () => {
    const { token, refresh: once } = await newUser();
    const first = await refresh(once);
    const retry = await refresh(once);
    assert.equal(first.status, 200);
    assert.equal(retry.status, 200, 'a client whose answer was lost retries');
    assert.equal(retry.body.refresh_token, first.body.refresh_token, 'and gets the token it lost');
    assert.equal(sidOf(retry.body.access_token), sidOf(token));
    const hash = sqlText(refreshTokenHash(once));
    // Times from D1's own clock, so the time the sql() call takes does not count.
    const secondsAgo = (n) => `CAST(strftime('%s', 'now') AS INTEGER) - ${n}`;
    await sql(`UPDATE refresh_tokens SET used_at = ${secondsAgo(6)} WHERE token_hash = ${hash}`);
    const retried = await refresh(once);
    const retriedAt = nowSeconds();
    assert.equal(retried.status, 200, '6 s after its rotation: still a retry');
    assert.equal(retried.body.refresh_token, first.body.refresh_token);
    const [row] = await sql(`SELECT used_at FROM refresh_tokens WHERE token_hash = ${hash}`);
    assert.ok(row.used_at <= retriedAt - 5, `a retry does not move the window (used_at ${row.used_at}, retried at ${retriedAt})`);
    assert.equal(await liveTokens(sidOf(token)), 1);
    await sql(`UPDATE refresh_tokens SET used_at = ${secondsAgo(10)} WHERE token_hash = ${hash}`);
    assert.equal((await refresh(once)).status, 401, '10 s after: reuse');
    assert.notEqual(await revokedAt(sidOf(token)), null);
  });

  test('a thief\'s retry inside the window gains nothing the owner does not also hold, and reuse still ends the session', async () => {
    const { token, refresh: stolen } = await newUser();
    const sid = sidOf(token);
    const owner = await refresh(stolen);
    const thief = await refresh(stolen);
    assert.deepEqual([owner.status, thief.status], [200, 200]);
    assert.equal(thief.body.refresh_token, owner.body.refresh_token, 'the thief holds the owner\'s token, not a chain of its own');
    assert.equal(sidOf(thief.body.access_token), sid);
    const devices = await sessions(owner.body.access_token);
    assert.equal(devices.body.sessions.length, 1, 'one session in the device list');
    assert.equal(await liveTokens(sid), 1, 'one live refresh token');
    // The owner refreshes on; once the thief's copy is past its window, presenting it is
    // reuse and ends the session for both.
    const ownerNext = await refresh(owner.body.refresh_token);
    assert.equal(ownerNext.status, 200);
    await pastGraceWindow(owner.body.refresh_token);
    assert.equal((await refresh(thief.body.refresh_token)).status, 401, 'the thief\'s copy is reuse');
    assert.notEqual(await revokedAt(sid), null, 'the session ends');
    assert.equal((await refresh(ownerNext.body.refresh_token)).status, 401);
    assert.equal((await me(ownerNext.body.access_token)).status, 401);
  });

  test('after the window, reuse ends the session: every pair of it, the retries\' included', async () => {
    const { token, refresh: once } = await newUser();
    const first = await refresh(once);
    const retry = await refresh(once);
    assert.equal(retry.status, 200);
    await pastGraceWindow(once);
    const reuse = await refresh(once);
    assert.equal(reuse.status, 401);
    assert.deepEqual(reuse.body, { detail: 'Invalid or expired refresh token' });
    for (const pair of [first.body, retry.body]) {
      assert.equal((await me(pair.access_token)).status, 401);
      assert.equal((await refresh(pair.refresh_token)).status, 401);
    }
    assert.equal((await me(token)).status, 401);
  });

  test('after the window, five presentations at once: none gets a pair and the session ends', async () => {
    const { token, refresh: once } = await newUser();
    const next = await refresh(once);
    await pastGraceWindow(once);
    const results = await Promise.all(Array.from({ length: 5 }, () => refresh(once)));
    assert.deepEqual(statuses(results), [401, 401, 401, 401, 401]);
    assert.notEqual(await revokedAt(sidOf(token)), null);
    assert.equal((await refresh(next.body.refresh_token)).status, 401);
  });

  test('a retry cannot revive a session that was logged out', async () => {
    const { refresh: once } = await newUser();
    const next = await refresh(once);
    assert.equal((await logout(next.body.refresh_token)).status, 204);
    assert.equal((await refresh(once)).status, 401);
  });

  test('a retry across a JWT_SECRET rotation gets the token its rotation issued (servers one after the other on one D1)', async () => {
    const keyA = randomBytes(32).toString('hex');
    const keyB = randomBytes(32).toString('hex');
    const on = (server) => (refreshToken) => api('/api/v1/auth/refresh', { method: 'POST', base: server.base, json: { refresh_token: refreshToken } });
    const d1 = mkdtempSync(join(tmpdir(), 'recipe-api-refresh-rotation-'));
    let server = await startServer({ JWT_SECRET: keyA }, { d1 });
    let first;
    let once;
    try {
      const created = await signup({}, { base: server.base });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const session = await api('/api/v1/auth/login', {
        method: 'POST', base: server.base, form: new URLSearchParams({ username: created.body.email, password: PASSWORD }),
      });
      once = session.body.refresh_token;
      first = await on(server)(once);
      assert.equal(first.status, 200, JSON.stringify(first.body));
    } finally {
      await server.stop();
    }
    server = await startServer({ JWT_SECRET: keyB, JWT_SECRET_PREVIOUS: keyA }, { d1 });
    try {
      // The second server took seconds to start: the rotation is moved to just now, so the
      // retry falls within its window.
      await sql(`UPDATE refresh_tokens SET used_at = CAST(strftime('%s', 'now') AS INTEGER) WHERE token_hash = ${sqlText(refreshTokenHash(once))}`, { d1 });
      const retry = await on(server)(once);
      assert.equal(retry.status, 200, JSON.stringify(retry.body));
      assert.equal(retry.body.refresh_token, first.body.refresh_token, 'the successor the previous key derived');
      const live = await sql(`SELECT count(*) AS n FROM refresh_tokens WHERE session_id = ${sqlText(sidOf(first.body.access_token))} AND used_at IS NULL`, { d1 });
      assert.equal(live[0].n, 1);
    } finally {
      await server.stop();
      rmSync(d1, { recursive: true, force: true });
    }
  });
});

describe('access tokens: iss, aud, kid and a key rotation (a second server)', () => {
  // The suite's key becomes the previous one; the second server signs with a new key, and
  // has its own issuer, audience and no grace window.
  const previousKey = process.env.TEST_JWT_SECRET;
  const currentKey = randomBytes(32).toString('hex');
  const kidOf = (key) => createHash('sha256').update('recipe-api kid\0').update(key).digest().subarray(0, 8).toString('base64url');
  const ISSUER = 'https://api.second.example';
  const AUDIENCE = 'second-clients';
  let server;
  before(async () => {
    server = await startServer({
      JWT_SECRET: currentKey,
      JWT_SECRET_PREVIOUS: previousKey,
      JWT_ISSUER: ISSUER,
      JWT_AUDIENCE: AUDIENCE,
      REFRESH_REUSE_SECONDS: '0',
    });
  });
  after(async () => {
    await server?.stop();
  });

  async function loginThere() {
    const created = await signup({}, { base: server.base });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const res = await api('/api/v1/auth/login', {
      method: 'POST', base: server.base, form: new URLSearchParams({ username: created.body.email, password: PASSWORD }),
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  }
  const meThere = (token) => api('/api/v1/auth/me', { token, base: server.base });

  test('tokens carry the configured iss and aud and the current key\'s kid, never the previous key\'s', async () => {
    const { access_token: token } = await loginThere();
    const header = JSON.parse(Buffer.from(token.split('.')[0], 'base64url'));
    assert.equal(header.kid, kidOf(currentKey));
    assert.notEqual(header.kid, kidOf(previousKey));
    const claims = decodeClaims(token);
    assert.equal(claims.iss, ISSUER);
    assert.equal(claims.aud, AUDIENCE);
    const resigned = forgeToken(claims, { header, key: currentKey });
    assert.equal(resigned, token, 'signed with the current key');
    assert.equal((await meThere(token)).status, 200);
  });

  test('a token signed with the previous key still works; one of an unknown key, issuer or audience does not', async () => {
    const { access_token: token } = await loginThere();
    const claims = decodeClaims(token);
    const signedBefore = forgeToken(claims, { header: { alg: 'HS256', typ: 'JWT', kid: kidOf(previousKey) }, key: previousKey });
    assert.equal((await meThere(signedBefore)).status, 200, 'rotating JWT_SECRET logs no one out');
    const legacy = { type: 'access_token', sub: claims.sub, ver: claims.ver, sid: claims.sid, iat: claims.iat, exp: claims.exp };
    assert.equal((await meThere(forgeToken(legacy, { key: previousKey }))).status, 200, 'a token from before kid, iss and aud, signed with the previous key');

    const unknownKey = randomBytes(32).toString('hex');
    const bad = {
      'an unknown key with its own kid': forgeToken(claims, { header: { alg: 'HS256', kid: kidOf(unknownKey) }, key: unknownKey }),
      'the previous kid, another key': forgeToken(claims, { header: { alg: 'HS256', kid: kidOf(previousKey) }, key: unknownKey }),
      'the current kid, the previous key': forgeToken(claims, { header: { alg: 'HS256', kid: kidOf(currentKey) }, key: previousKey }),
      'the default issuer': forgeToken({ ...claims, iss: 'recipe-api' }, { header: { alg: 'HS256', kid: kidOf(currentKey) }, key: currentKey }),
      'the default audience': forgeToken({ ...claims, aud: 'recipe-api' }, { header: { alg: 'HS256', kid: kidOf(currentKey) }, key: currentKey }),
      'no kid, another key': forgeToken(legacy, { key: unknownKey }),
    };
    for (const [name, forged] of Object.entries(bad)) {
      const res = await meThere(forged);
      assert.equal(res.status, 401, name);
      assert.deepEqual(res.body, { detail: 'Could not validate credentials' }, name);
    }
    assert.equal((await me(token)).status, 401, 'the suite\'s server, which has only the old key, refuses the new key\'s tokens');
  });

  test('REFRESH_REUSE_SECONDS=0: no grace, an immediate second presentation is reuse', async () => {
    const { refresh_token: once, access_token: token } = await loginThere();
    const refreshThere = (refreshToken) => api('/api/v1/auth/refresh', { method: 'POST', base: server.base, json: { refresh_token: refreshToken } });
    assert.equal((await refreshThere(once)).status, 200);
    assert.equal((await refreshThere(once)).status, 401);
    assert.equal((await meThere(token)).status, 401, 'the session ended');
  });
});

describe('the session list in Chromium', () => {
  let browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  test('a page on the API\'s origin lists its sessions, and a logout from another device drops that one from the list', async () => {
    const { user } = await newUser();
    const page = await browser.newPage();
    const problems = [];
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(`${BASE_URL}/docs`);
    const browserUserAgent = await page.evaluate(() => navigator.userAgent);
    // The browser logs in itself, so its session records its own user agent.
    const here = await page.evaluate(async ({ email, password }) => {
      const res = await fetch('/api/v1/auth/login', { method: 'POST', body: new URLSearchParams({ username: email, password }) });
      return res.json();
    }, { email: user.email, password: PASSWORD });
    assert.ok(here.access_token, JSON.stringify(here));
    const other = await loginFrom(user.email, FIREFOX_ON_MACOS);
    const list = () => page.evaluate(async (token) => {
      const res = await fetch('/api/v1/auth/sessions', { headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, body: await res.json() };
    }, here.access_token);

    const before = await list();
    assert.equal(before.status, 200);
    const mine = before.body.sessions.find((s) => s.current);
    assert.equal(mine.id, sidOf(here.access_token));
    assert.match(mine.user_agent, /^(Chrome|Chromium) on Linux$/, `${browserUserAgent} → ${mine.user_agent}`);
    assert.ok(before.body.sessions.some((s) => s.id === other.sid && s.user_agent === 'Firefox on macOS'));

    assert.equal((await logout(other.refresh)).status, 204, 'the other device logs out, over HTTP');
    const afterLogout = await list();
    assert.equal(afterLogout.status, 200);
    assert.ok(!afterLogout.body.sessions.some((s) => s.id === other.sid), 'the list no longer shows it');
    assert.ok(afterLogout.body.sessions.some((s) => s.id === mine.id && s.current));
    assert.deepEqual(problems, []);
    await page.close();
  });
});

// The session id is random: ids guessed in the wrong shape are simply not found.
test('a random session id is not found', async () => {
  const { token } = await newUser();
  assert.equal((await endSession(token, randomUUID())).status, 404);
});
