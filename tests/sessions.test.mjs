// Refresh tokens (rotation, reuse detection), logout, password change and account deletion.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  api, newUser, login, refresh, logout, me, createRecipe, decodeClaims, sql, sqlText, PASSWORD,
  superuserToken, pastGraceWindow, fromAddress, randomIPv4,
} from './helpers.mjs';

const sha256 = (text) => createHash('sha256').update(text).digest('base64url');
const statuses = (responses) => responses.map((r) => r.status).sort();

function changePassword(token, body, headers = {}) {
  return api('/api/v1/auth/password', { method: 'POST', token, json: body, headers });
}

describe('POST /api/v1/auth/refresh', () => {
  test('exchanges a refresh token for a new pair that works', async () => {
    const { user, refresh: first } = await newUser();
    const res = await refresh(first);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.token_type, 'bearer');
    assert.equal(res.body.expires_in, 30 * 60);
    assert.notEqual(res.body.refresh_token, first);
    assert.equal(decodeClaims(res.body.access_token).sub, String(user.id));
    assert.equal((await me(res.body.access_token)).body.email, user.email);
    const next = await refresh(res.body.refresh_token);
    assert.equal(next.status, 200, 'the new refresh token works in turn');
  });

  test('stores only a SHA-256 of each refresh token', async () => {
    const { user, refresh: token } = await newUser();
    const rows = await sql(
      `SELECT t.token_hash FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE s.user_id = ${user.id}`,
    );
    assert.deepEqual(rows.map((r) => r.token_hash), [sha256(token)]);
    const leaks = await sql(`SELECT count(*) AS n FROM refresh_tokens WHERE token_hash = ${sqlText(token)}`);
    assert.equal(leaks[0].n, 0);
  });

  test('a used refresh token presented again after the grace window ends the whole session', async () => {
    const { token: otherSessionAccess, refresh: otherSession, user } = await newUser();
    const second = await login(user.email);
    const stolen = second.body.refresh_token;
    const rotated = await refresh(stolen);
    assert.equal(rotated.status, 200);
    await pastGraceWindow(stolen);

    const replay = await refresh(stolen);
    assert.equal(replay.status, 401, 'a refresh token works once');
    assert.equal(replay.headers.get('www-authenticate'), 'Bearer');
    assert.equal((await refresh(rotated.body.refresh_token)).status, 401, 'its successor is revoked too');

    assert.equal((await me(otherSessionAccess)).status, 200);
    assert.equal((await refresh(otherSession)).status, 200, 'another login of the same user is untouched');
  });

  test('two parallel refreshes with the same token are one rotation and one retry: both get pairs, the token is used once', async () => {
    const { refresh: token } = await newUser();
    const results = await Promise.all([refresh(token), refresh(token)]);
    assert.deepEqual(statuses(results), [200, 200]);
    const rows = await sql(`SELECT count(*) AS n FROM refresh_tokens WHERE token_hash = ${sqlText(sha256(token))} AND used_at IS NOT NULL`);
    assert.equal(rows[0].n, 1);
  });

  test('an expired refresh token is refused', async () => {
    const { refresh: token } = await newUser();
    await sql(`UPDATE refresh_tokens SET expires_at = 1 WHERE token_hash = ${sqlText(sha256(token))}`);
    assert.equal((await refresh(token)).status, 401);
  });

  test('refuses what is not a refresh token, and bad bodies, without a 500', async () => {
    const { token: access } = await newUser();
    for (const bogus of ['', 'nope', access, 'A'.repeat(43), 'A'.repeat(5000)]) {
      const res = await refresh(bogus);
      assert.equal(res.status, 401, bogus.slice(0, 20));
      assert.deepEqual(res.body, { detail: 'Invalid or expired refresh token' });
    }
    const missing = await api('/api/v1/auth/refresh', { method: 'POST', json: {} });
    assert.equal(missing.status, 422);
    assert.deepEqual(missing.body.detail[0].loc, ['body', 'refresh_token']);
    const form = await api('/api/v1/auth/refresh', { method: 'POST', form: new URLSearchParams({ refresh_token: 'x' }) });
    assert.equal(form.status, 415);
  });
});

describe('POST /api/v1/auth/logout', () => {
  test('ends the session of the refresh token, and only that one', async () => {
    const { user, refresh: mine } = await newUser();
    const other = await login(user.email);
    const res = await logout(mine);
    assert.equal(res.status, 204);
    assert.equal((await refresh(mine)).status, 401);
    assert.equal((await refresh(other.body.refresh_token)).status, 200);
  });

  test('a used token of the session logs it out as well', async () => {
    const { refresh: first } = await newUser();
    const { body: { refresh_token: current } } = await refresh(first);
    assert.equal((await logout(first)).status, 204);
    assert.equal((await refresh(current)).status, 401);
  });

  test('answers 204 for an unknown token and 422 without one', async () => {
    assert.equal((await logout('A'.repeat(43))).status, 204);
    assert.equal((await logout('nope')).status, 204);
    assert.equal((await api('/api/v1/auth/logout', { method: 'POST', json: {} })).status, 422);
  });
});

describe('POST /api/v1/auth/password', () => {
  test('changes the password; every earlier token of the user stops working at once', async () => {
    const { user, token: stolen, refresh: stolenRefresh } = await newUser();
    const { body: recipe } = await createRecipe(stolen);
    const elsewhere = await login(user.email);
    const res = await changePassword(stolen, { current_password: PASSWORD, new_password: 'a brand new secret' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(decodeClaims(res.body.access_token).ver, 1);

    assert.equal((await me(stolen)).status, 401, 'a stolen access token fails after a password change');
    assert.equal((await createRecipe(stolen)).status, 401, 'for writes too');
    const edit = { id: recipe.id, label: 'Hijacked' };
    assert.equal((await api('/api/v1/recipes/', { method: 'PUT', token: stolen, json: edit })).status, 401);
    assert.equal((await api(`/api/v1/recipes/${recipe.id}`, { method: 'DELETE', token: stolen })).status, 401);
    assert.equal((await api('/api/v1/recipes/my-recipes', { token: stolen })).status, 401);
    assert.equal((await api(`/api/v1/recipes/${recipe.id}`)).body.label, recipe.label, 'the recipe is untouched');
    assert.equal((await me(elsewhere.body.access_token)).status, 401);
    assert.equal((await refresh(stolenRefresh)).status, 401);
    assert.equal((await refresh(elsewhere.body.refresh_token)).status, 401);

    assert.equal((await me(res.body.access_token)).status, 200, 'the new pair works');
    assert.equal((await refresh(res.body.refresh_token)).status, 200);
    assert.equal((await login(user.email, PASSWORD)).status, 400);
    assert.equal((await login(user.email, 'a brand new secret')).status, 200);
  });

  test('refuses a wrong current password, the same password and a weak one, changing nothing', async () => {
    const { user, token } = await newUser();
    const wrong = await changePassword(token, { current_password: 'not my password', new_password: 'a brand new secret' });
    assert.equal(wrong.status, 400);
    assert.deepEqual(wrong.body, { detail: 'Incorrect password' });
    const same = await changePassword(token, { current_password: PASSWORD, new_password: PASSWORD });
    assert.equal(same.status, 400);
    const weak = await changePassword(token, { current_password: PASSWORD, new_password: 'short' });
    assert.equal(weak.status, 422);
    assert.deepEqual(weak.body.detail[0].loc, ['body', 'new_password']);
    assert.equal((await me(token)).status, 200, 'the token still works');
    assert.equal((await login(user.email, PASSWORD)).status, 200, 'the password is unchanged');
  });

  test('counts wrong current passwords per user, from any address, apart from the login counters', async () => {
    const { user, token } = await newUser();
    const from = (address) => ({ 'CF-Connecting-IP': address });
    const body = { current_password: 'not my password', new_password: 'a brand new secret' };
    for (let i = 0; i < 5; i++) {
      assert.equal((await changePassword(token, body, from(`198.51.100.${10 + i}`))).status, 400, `wrong password ${i + 1}`);
    }
    const limited = await changePassword(token, { ...body, current_password: PASSWORD }, from('198.51.100.99'));
    assert.equal(limited.status, 429, 'the sixth, from yet another address, is refused');
    assert.deepEqual(limited.body, { detail: 'Too many password changes; try again later' });
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.equal((await login(user.email, PASSWORD, from('198.51.100.10'))).status, 200, 'logins are not counted with it');
  });

  test('a right current password whose new one is refused (the same, or breached) gives its attempt back', async () => {
    const { token } = await newUser();
    for (let i = 0; i < 3; i++) {
      const same = await changePassword(token, { current_password: PASSWORD, new_password: PASSWORD });
      assert.equal(same.status, 400, JSON.stringify(same.body));
      const breached = await changePassword(token, { current_password: PASSWORD, new_password: 'password123' });
      assert.equal(breached.status, 400, JSON.stringify(breached.body));
      assert.match(breached.body.detail, /breach/);
    }
    const changed = await changePassword(token, { current_password: PASSWORD, new_password: 'a brand new secret' });
    assert.equal(changed.status, 200, `six refusals of the new password, then a change: ${JSON.stringify(changed.body)}`);
  });

  test('the owner changes the password while six clients log in with it without pause; no racing login outlives the change', async () => {
    const { user, token } = await newUser();
    // One address of their own, as six tabs or scripts of one person would have: the login
    // counters they fill are this test's alone.
    const headers = fromAddress(randomIPv4());
    let running = true;
    const issued = [];
    let answered = 0;
    const client = async () => {
      while (running) {
        const res = await login(user.email, PASSWORD, headers);
        answered += 1;
        if (res.status === 200) issued.push(res.body);
      }
    };
    const clients = Array.from({ length: 6 }, client);
    // Let the logins get going, so that some are always in flight when the change comes.
    while (answered < 12) await new Promise((resolve) => setTimeout(resolve, 20));
    const changed = await changePassword(token, { current_password: PASSWORD, new_password: 'changed under fire' }, headers);
    running = false;
    await Promise.all(clients);
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.ok(issued.length >= 1, 'logins succeeded before the change');
    for (const pair of issued) {
      assert.equal((await me(pair.access_token)).status, 401, 'an access token from a racing login is dead');
      assert.equal((await refresh(pair.refresh_token)).status, 401, 'and so is its refresh token');
    }
    assert.equal((await me(changed.body.access_token)).status, 200, 'the owner\'s new pair works');
    assert.equal((await login(user.email, PASSWORD, fromAddress(randomIPv4()))).status, 400, 'the old password is gone');
    const live = await sql(`SELECT count(*) AS n FROM sessions WHERE user_id = ${user.id} AND revoked_at IS NULL`);
    assert.equal(live[0].n, 1, 'one live session: the owner\'s new one');
  });

  test('needs a token', async () => {
    const res = await changePassword(undefined, { current_password: PASSWORD, new_password: 'a brand new secret' });
    assert.equal(res.status, 401);
  });
});

describe('DELETE /api/v1/auth/me', () => {
  test('deletes the account and its recipes; its tokens stop working at once', async () => {
    const { user, token, refresh: refreshToken } = await newUser();
    assert.equal((await createRecipe(token)).status, 201);
    const res = await api('/api/v1/auth/me', { method: 'DELETE', token });
    assert.equal(res.status, 204);
    assert.equal((await me(token)).status, 401);
    assert.equal((await refresh(refreshToken)).status, 401);
    assert.equal((await login(user.email)).status, 400);
    const left = await sql(`SELECT (SELECT count(*) FROM recipes WHERE submitter_id = ${user.id}) AS recipes,
      (SELECT count(*) FROM sessions WHERE user_id = ${user.id}) AS sessions`);
    assert.deepEqual(left[0], { recipes: 0, sessions: 0 });
  });

  test('a superuser cannot delete themselves', async () => {
    const res = await api('/api/v1/auth/me', { method: 'DELETE', token: await superuserToken() });
    assert.equal(res.status, 403);
  });

  test('needs a token', async () => {
    assert.equal((await api('/api/v1/auth/me', { method: 'DELETE' })).status, 401);
  });
});

describe('login', () => {
  test('forgets the sessions of a user that have ended', async () => {
    const { user, refresh: first } = await newUser();
    await logout(first);
    const again = await login(user.email);
    assert.equal(again.status, 200);
    const rows = await sql(`SELECT count(*) AS n FROM sessions WHERE user_id = ${user.id}`);
    assert.equal(rows[0].n, 1, 'the logged-out session is gone, the new one remains');
  });
});
