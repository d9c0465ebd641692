// Races between requests of one user, or of two superusers: a login against a password
// change or an account deletion, two password changes, two deactivations; and access tokens
// bound to their session (the `sid` claim), so logout and refresh-token reuse end them at once.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import {
  api, signup, newUser, login, refresh, logout, me, changePassword, forgeToken, decodeClaims, pastGraceWindow,
  nowSeconds, sql, PASSWORD, fromAddress, randomIPv4,
} from './helpers.mjs';

const statuses = (responses) => responses.map((r) => r.status).sort();
const describeAll = (responses) => JSON.stringify(responses.map((r) => [r.status, r.body]));

/**
 * `count` logins with the user's current password, one every `gap` ms, each from its own
 * address so that none is throttled (5 attempts per account and address).
 */
const staggeredLogins = (email, count, gap) => Array.from({ length: count }, (_, i) => delay(i * gap)
  .then(() => login(email, PASSWORD, fromAddress(randomIPv4()))));

/** Every token pair from the logins that answered 200 is dead: refresh and me answer 401. */
async function assertAllRevoked(logins, why) {
  for (const res of logins.filter((r) => r.status === 200)) {
    assert.equal((await refresh(res.body.refresh_token)).status, 401, `a refresh token from a login ${why} is refused`);
    assert.equal((await me(res.body.access_token)).status, 401, `an access token from a login ${why} is refused`);
  }
}

describe('sessions bound to the credentials they were started with', () => {
  test('logins racing a password change leave no token that outlives the change; the new pair works', async () => {
    const { user, token } = await newUser();
    const newPassword = `changed ${randomUUID()}`;
    const logins = staggeredLogins(user.email, 8, 120);
    const change = changePassword(token, { current_password: PASSWORD, new_password: newPassword });
    const [changed, ...results] = await Promise.all([change, ...logins]);
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    for (const res of results) {
      assert.ok([200, 400].includes(res.status), `a login during the change answers 200 or 400, not ${res.status}: ${JSON.stringify(res.body)}`);
    }
    await assertAllRevoked(results, 'with the old password');
    assert.equal((await me(changed.body.access_token)).status, 200, "the password change's access token works");
    assert.equal((await refresh(changed.body.refresh_token)).status, 200, "the password change's refresh token works");
  });

  test('logins racing the deletion of the account answer 200 or 400, never 500, and leave no live token', async () => {
    const { user, token } = await newUser();
    const logins = staggeredLogins(user.email, 5, 80);
    const deletion = delay(150).then(() => api('/api/v1/auth/me', { method: 'DELETE', token }));
    const [deleted, ...results] = await Promise.all([deletion, ...logins]);
    assert.equal(deleted.status, 204, JSON.stringify(deleted.body));
    for (const res of results) {
      assert.ok([200, 400].includes(res.status), `a login during the deletion answers 200 or 400, not ${res.status}: ${JSON.stringify(res.body)}`);
    }
    await assertAllRevoked(results, 'of a deleted user');
  });
});

describe('access tokens bound to their session (sid)', () => {
  test("logout ends that login's access token at once; another login of the same user keeps working", async () => {
    const { user, token, refresh: refreshToken } = await newUser();
    const other = await login(user.email);
    const sid = decodeClaims(token).sid;
    assert.equal(typeof sid, 'string', 'the access token names its session');
    assert.notEqual(decodeClaims(other.body.access_token).sid, sid, 'each login is a session of its own');
    assert.equal((await me(token)).status, 200);
    assert.equal((await logout(refreshToken)).status, 204);
    assert.equal((await me(token)).status, 401, "the logged-out session's access token fails at once");
    assert.equal((await me(other.body.access_token)).status, 200, "another session's access token still works");
    const again = await login(user.email);
    assert.equal(again.status, 200);
    assert.equal((await me(token)).status, 401, 'still refused once the next login has forgotten the ended session');
  });

  test('presenting a used refresh token ends the access tokens of its session, from the login and from the refresh', async () => {
    const { user, token: fromLogin, refresh: first } = await newUser();
    const other = await login(user.email);
    const rotated = await refresh(first);
    assert.equal(rotated.status, 200);
    assert.equal((await me(rotated.body.access_token)).status, 200);
    await pastGraceWindow(first);
    assert.equal((await refresh(first)).status, 401, 'a refresh token works once, past its grace window');
    assert.equal((await me(fromLogin)).status, 401, "the login's access token fails at once");
    assert.equal((await me(rotated.body.access_token)).status, 401, "the refresh's access token fails at once");
    assert.equal((await me(other.body.access_token)).status, 200, 'another session of the user is untouched');
  });

  test('a token from before sessions were named (no sid) is refused, as past the cut-off; so is an unknown sid', async () => {
    const { user } = await newUser();
    const now = nowSeconds();
    const claims = { type: 'access_token', sub: String(user.id), ver: 0, iat: now, exp: now + 600 };
    assert.equal((await me(forgeToken(claims))).status, 401, 'a token without sid is refused');
    assert.equal((await me(forgeToken({ ...claims, sid: randomUUID() }))).status, 401, 'a token naming no session of ours is refused');
  });
});

describe('password change: compare-and-swap', () => {
  test('of two parallel changes from the same password exactly one wins, and the loser does not end its session', async () => {
    const { user, token } = await newUser();
    const passwords = [`first ${randomUUID()}`, `second ${randomUUID()}`];
    const address = randomIPv4();
    const results = await Promise.all(passwords.map((newPassword) => changePassword(
      token, { current_password: PASSWORD, new_password: newPassword }, fromAddress(address),
    )));
    // The loser answers 400 when it checked the password before the winner wrote (the
    // compare-and-swap refuses it), 401 when its token was already dead by then.
    const [first, second] = statuses(results);
    assert.ok(first === 200 && [400, 401].includes(second), describeAll(results));
    const winner = results.findIndex((r) => r.status === 200);
    const { access_token: access, refresh_token: refreshToken } = results[winner].body;
    assert.equal((await me(access)).status, 200, "the winner's new access token works");
    assert.equal((await refresh(refreshToken)).status, 200, "the winner's new refresh token works");
    const logins = [];
    for (const password of passwords) logins.push(await login(user.email, password, fromAddress(address)));
    assert.deepEqual(logins.map((r) => r.status), passwords.map((_, i) => (i === winner ? 200 : 400)), "only the winner's password logs in");
  });
});

describe('superusers deactivating each other', () => {
  test('at once: exactly one succeeds, the other is refused as already inactive', async () => {
    const [a, b] = (await Promise.all([signup(), signup()])).map((r) => r.body);
    try {
      await sql(`UPDATE users SET is_superuser = 1 WHERE id IN (${a.id}, ${b.id})`);
      const [tokenA, tokenB] = (await Promise.all([login(a.email), login(b.email)])).map((r) => r.body.access_token);
      const deactivate = (token, id) => api(`/api/v1/users/${id}`, { method: 'PATCH', token, json: { is_active: false } });
      const results = await Promise.all([deactivate(tokenA, b.id), deactivate(tokenB, a.id)]);
      assert.deepEqual(statuses(results), [200, 401], describeAll(results));
      const rows = await sql(`SELECT id, is_active FROM users WHERE id IN (${a.id}, ${b.id}) ORDER BY id`);
      const active = rows.filter((row) => row.is_active === 1).map((row) => row.id);
      const winner = results[0].status === 200 ? a.id : b.id;
      assert.deepEqual(active, [winner], `exactly the winner stays active: ${JSON.stringify(rows)}`);
    } finally {
      await sql(`DELETE FROM users WHERE id IN (${a.id}, ${b.id})`);
    }
  });
});
