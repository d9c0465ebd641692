// User management by superusers: list, read, activate/deactivate, delete, reset a password.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { api, newUser, login, refresh, me, createRecipe, sql, PASSWORD, superuserToken } from './helpers.mjs';

let admin;
before(async () => {
  admin = await superuserToken();
});

const users = (path = '', options = {}) => api(`/api/v1/users${path}`, { token: admin, ...options });
const setActive = (id, isActive) => users(`/${id}`, { method: 'PATCH', json: { is_active: isActive } });

describe('superusers only', () => {
  test('everyone else gets 403, and no token 401', async () => {
    const { user, token } = await newUser();
    for (const [method, path, json] of [
      ['GET', ''],
      ['GET', `/${user.id}`],
      ['PATCH', `/${user.id}`, { is_active: false }],
      ['DELETE', `/${user.id}`],
      ['POST', `/${user.id}/password`, { new_password: 'taken over!' }],
    ]) {
      const res = await users(path, { method, json, token });
      assert.equal(res.status, 403, `${method} ${path}`);
      assert.deepEqual(res.body, { detail: "The user doesn't have enough privileges" });
      assert.equal((await api(`/api/v1/users${path}`, { method, json })).status, 401, `${method} ${path}`);
    }
    assert.equal((await me(token)).status, 200, 'nothing happened to the user');
    assert.equal((await login(user.email)).status, 200);
  });
});

describe('GET /api/v1/users', () => {
  test('pages through every user by id, with the total count', async () => {
    await newUser();
    const all = await users('/?limit=100');
    assert.equal(all.status, 200);
    const [{ n }] = await sql('SELECT count(*) AS n FROM users');
    assert.equal(all.body.count, n);
    const firstTwo = await users('?limit=2');
    assert.equal(firstTwo.body.data.length, 2);
    const next = await users('?skip=1&limit=1');
    assert.deepEqual(next.body.data[0], firstTwo.body.data[1]);
    assert.deepEqual(Object.keys(next.body.data[0]).sort(), ['email', 'email_verified', 'first_name', 'id', 'is_active', 'is_superuser', 'surname']);
    assert.deepEqual((await users(`?skip=${n}`)).body.data, []);
  });

  test('validates skip and limit', async () => {
    for (const query of ['limit=0', 'limit=101', 'skip=-1', 'skip=x']) {
      const res = await users(`?${query}`);
      assert.equal(res.status, 422, query);
      assert.equal(res.body.detail[0].loc[0], 'query');
    }
  });
});

describe('GET /api/v1/users/{user_id}', () => {
  test('reads one user with their status; 404 and 422 otherwise', async () => {
    const { user } = await newUser({ first_name: 'Grace' });
    const res = await users(`/${user.id}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { ...user, is_active: true });
    assert.equal((await users('/999999999')).status, 404);
    const bad = await users('/abc');
    assert.equal(bad.status, 422);
    assert.deepEqual(bad.body.detail[0].loc, ['path', 'user_id']);
  });
});

describe('PATCH /api/v1/users/{user_id}', () => {
  test('a deactivated user can neither use their tokens nor log in; reactivation does not revive old tokens', async () => {
    const { user, token, refresh: refreshToken } = await newUser();
    const off = await setActive(user.id, false);
    assert.equal(off.status, 200);
    assert.equal(off.body.is_active, false);
    assert.equal((await me(token)).status, 401);
    assert.equal((await refresh(refreshToken)).status, 401);
    const denied = await login(user.email);
    assert.equal(denied.status, 400);
    assert.deepEqual(denied.body, { detail: 'Inactive user' });
    const wrong = await login(user.email, 'not the password');
    assert.deepEqual(wrong.body, { detail: 'Incorrect username or password' }, 'inactivity is told only to the password holder');

    const on = await setActive(user.id, true);
    assert.equal(on.body.is_active, true);
    assert.equal((await me(token)).status, 401, 'tokens from before stay dead');
    const back = await login(user.email);
    assert.equal(back.status, 200);
    assert.equal((await me(back.body.access_token)).status, 200);
  });

  test('validates the body; 404 for nobody; a superuser cannot deactivate themselves', async () => {
    const { user } = await newUser();
    const missing = await users(`/${user.id}`, { method: 'PATCH', json: {} });
    assert.equal(missing.status, 422);
    assert.deepEqual(missing.body.detail[0].loc, ['body', 'is_active']);
    assert.equal((await users(`/${user.id}`, { method: 'PATCH', json: { is_active: 'no' } })).status, 422);
    assert.equal((await setActive(999999999, false)).status, 404);
    const self = (await me(admin)).body;
    assert.equal((await setActive(self.id, false)).status, 403);
    assert.equal((await me(admin)).status, 200);
  });
});

describe('DELETE /api/v1/users/{user_id}', () => {
  test('deletes the user and their recipes; their tokens stop working', async () => {
    const { user, token } = await newUser();
    assert.equal((await createRecipe(token)).status, 201);
    assert.equal((await users(`/${user.id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await me(token)).status, 401);
    assert.equal((await users(`/${user.id}`)).status, 404);
    const [{ n }] = await sql(`SELECT count(*) AS n FROM recipes WHERE submitter_id = ${user.id}`);
    assert.equal(n, 0);
    assert.equal((await users(`/${user.id}`, { method: 'DELETE' })).status, 404);
  });

  test('a superuser cannot delete themselves', async () => {
    const self = (await me(admin)).body;
    assert.equal((await users(`/${self.id}`, { method: 'DELETE' })).status, 403);
  });
});

describe('POST /api/v1/users/{user_id}/password', () => {
  test('resets the password; every token of the user stops working', async () => {
    const { user, token, refresh: refreshToken } = await newUser();
    const res = await users(`/${user.id}/password`, { method: 'POST', json: { new_password: 'set by the admin' } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.email, user.email);
    assert.equal((await me(token)).status, 401);
    assert.equal((await refresh(refreshToken)).status, 401);
    assert.equal((await login(user.email, PASSWORD)).status, 400);
    assert.equal((await login(user.email, 'set by the admin')).status, 200);
  });

  test('validates the new password; 404 for nobody', async () => {
    const { user } = await newUser();
    const weak = await users(`/${user.id}/password`, { method: 'POST', json: { new_password: 'short' } });
    assert.equal(weak.status, 422);
    assert.equal((await login(user.email)).status, 200, 'unchanged');
    assert.equal((await users('/999999999/password', { method: 'POST', json: { new_password: 'long enough' } })).status, 404);
  });
});
