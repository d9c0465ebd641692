// Breached passwords (docs/security.md#breached-passwords): every route that sets a password
// asks the range API before hashing, and refuses a listed one with 400. The suite's server
// asks the Pwned Passwords stand-in scripts/with-server.sh starts (PWNED_STANDIN_URL), which
// records the paths it was asked; second servers point PWNED_PASSWORDS_URL at a range API that
// is unreachable, answers garbage, a 503 or nothing, and show the password let through with a
// `breach_check_unavailable` line on their log; others turn the check off or misconfigure it.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import {
  api, signup, newUser, login, me, changePassword, randomEmail, PASSWORD, sql, sqlText,
  fromAddress, randomIPv4, superuserToken, startServer, logSince, mailTo, tokenFrom,
} from './helpers.mjs';

const STANDIN = process.env.PWNED_STANDIN_URL;
// Listed by scripts/pwned-passwords.mjs; the suite's own PASSWORD is not.
const BREACHED = 'password123';
const ALSO_BREACHED = 'correct horse battery staple';
// Listed by the stand-in with count 0, as padding: not a breach.
const PADDING_ONLY = 'padding is not a breach';
const REFUSED = { detail: 'This password has appeared in a data breach, so it is unsafe to use; choose another one' };

const sha1 = (text) => createHash('sha1').update(text, 'utf8').digest('hex').toUpperCase();
const unlisted = () => `an unlisted passphrase ${randomUUID()}`;

/** What the stand-in was asked, newest first: [{path, prefix, add_padding, ...}]. */
async function asked() {
  const res = await fetch(`${STANDIN}/api/requests`);
  assert.equal(res.status, 200);
  return res.json();
}

/** The request log line the worker wrote for the request sent with this `cf-ray`. */
async function requestLine(cfRay, file) {
  for (let i = 0; i < 50; i++) {
    const line = logSince(0, file).find((value) => value.log === 'request' && value.cf_ray === cfRay);
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`no request line with cf_ray ${cfRay}`);
}

const storedHash = async (userId, d1) => (await sql(`SELECT hashed_password FROM users WHERE id = ${userId}`, { d1 }))[0].hashed_password;

function resetPassword(token, newPassword) {
  return api('/api/v1/auth/reset-password', { method: 'POST', json: { token, new_password: newPassword } });
}

describe('a breached password is refused wherever a password is set, and an unlisted one passes', () => {
  test('signup: 400 before any hash and no user; an unlisted password signs up', async () => {
    const email = randomEmail();
    const cfRay = `breach-${randomUUID()}`;
    const refused = await api('/api/v1/auth/signup', {
      method: 'POST', json: { email, password: BREACHED }, headers: { ...fromAddress(randomIPv4()), 'cf-ray': cfRay },
    });
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.body, REFUSED);
    assert.deepEqual(await sql(`SELECT id FROM users WHERE email = ${sqlText(email)}`), [], 'no user is written');
    const line = await requestLine(cfRay);
    assert.equal(line.pbkdf2_iterations, 0, 'refused before the password is hashed');

    const other = await api('/api/v1/auth/signup', { method: 'POST', json: { email, password: ALSO_BREACHED } });
    assert.deepEqual(other.body, REFUSED, 'any listed password, not one');
    const created = await signup({ email, password: PASSWORD });
    assert.equal(created.status, 201, 'the same email with an unlisted password');
  });

  test('password change: 400 after the current password is checked; nothing changes, and an unlisted one changes it', async () => {
    const { user, token } = await newUser();
    const before = await storedHash(user.id);
    // From addresses of their own: a refused change counts as a login attempt.
    const wrongCurrent = await changePassword(token, { current_password: 'not the password', new_password: BREACHED }, fromAddress(randomIPv4()));
    assert.equal(wrongCurrent.status, 400);
    assert.deepEqual(wrongCurrent.body, { detail: 'Incorrect password' }, 'the current password is checked first');
    const refused = await changePassword(token, { current_password: PASSWORD, new_password: BREACHED }, fromAddress(randomIPv4()));
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.body, REFUSED);
    assert.equal(await storedHash(user.id), before, 'the stored hash is unchanged');
    assert.equal((await me(token)).status, 200, 'the session lives on');
    const next = unlisted();
    const changed = await changePassword(token, { current_password: PASSWORD, new_password: next });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.equal((await login(user.email, next)).status, 200);
  });

  test('reset by an emailed link: 400, and the link works at once for an unlisted password', async () => {
    const { user } = await newUser();
    const recovery = await api('/api/v1/auth/password-recovery', { method: 'POST', json: { email: user.email }, headers: fromAddress(randomIPv4()) });
    assert.equal(recovery.status, 202);
    const token = tokenFrom(await mailTo(user.email, { subject: 'Reset your password' }));
    const before = await storedHash(user.id);
    const refused = await resetPassword(token, BREACHED);
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.body, REFUSED);
    assert.equal(await storedHash(user.id), before, 'the stored hash is unchanged');
    const claims = await sql(`SELECT claimed_until FROM email_tokens WHERE user_id = ${user.id} AND purpose = 'reset'`);
    assert.deepEqual(claims, [{ claimed_until: null }], 'the link is not used up, nor held by a claim');
    const next = unlisted();
    const reset = await resetPassword(token, next);
    assert.equal(reset.status, 200, `the same link, straight away: ${JSON.stringify(reset.body)}`);
    assert.equal((await login(user.email, next)).status, 200);
  });

  test('a superuser setting a user\'s password: 400 and nothing changes; an unlisted one is set', async () => {
    const admin = await superuserToken();
    const { user, token } = await newUser();
    const before = await storedHash(user.id);
    const refused = await api(`/api/v1/users/${user.id}/password`, { method: 'POST', token: admin, json: { new_password: BREACHED } });
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.body, REFUSED);
    assert.equal(await storedHash(user.id), before);
    assert.equal((await me(token)).status, 200, 'the user\'s tokens still work');
    const next = unlisted();
    const set = await api(`/api/v1/users/${user.id}/password`, { method: 'POST', token: admin, json: { new_password: next } });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal((await login(user.email, next)).status, 200);
  });

  test('a suffix that the answer lists only as padding (count 0) is not a breach', async () => {
    const hash = sha1(PADDING_ONLY);
    const range = await fetch(`${STANDIN}/range/${hash.slice(0, 5)}`, { headers: { 'add-padding': 'true' } });
    assert.match(await range.text(), new RegExp(`^${hash.slice(5)}:0\\r?$`, 'm'), 'the stand-in pads with it');
    const created = await signup({ password: PADDING_ONLY });
    assert.equal(created.status, 201, JSON.stringify(created.body));
  });
});

describe('what leaves the API', () => {
  test('the range API is asked only for 5-character prefixes, with Add-Padding: true', async () => {
    const password = unlisted();
    const hash = sha1(password);
    assert.equal((await signup({ password })).status, 201);
    const requests = await asked();
    const mine = requests.filter((r) => r.prefix === hash.slice(0, 5));
    assert.ok(mine.length >= 1, 'the signup asked for its prefix');
    assert.ok(requests.length > 1, 'the suite\'s other password writes asked too');
    for (const request of requests) {
      assert.match(request.path, /^(\/(garbage|hang|status\/\d{3}))?\/range\/[0-9A-F]{5}$/, `only an upper-case 5-character prefix: ${request.path}`);
      assert.equal(request.add_padding, 'true', request.path);
    }
    assert.ok(!JSON.stringify(requests).includes(hash.slice(5)), 'never the rest of the hash');
    assert.ok(!JSON.stringify(requests).includes(password), 'never the password');
  });
});

/** A port on 127.0.0.1 with nothing listening on it. */
const closedPort = () => new Promise((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    server.close(() => resolve(port));
  });
});

describe('a range API without a usable answer lets the password through, logged (second servers)', () => {
  const servers = {};
  before(async () => {
    const urls = {
      unreachable: `http://127.0.0.1:${await closedPort()}/range/`,
      garbage: `${STANDIN}/garbage/range/`,
      status: `${STANDIN}/status/503/range/`,
      hang: `${STANDIN}/hang/range/`,
    };
    await Promise.all(Object.entries(urls).map(async ([name, url]) => {
      servers[name] = await startServer({ PWNED_PASSWORDS_URL: url, JWT_SECRET: process.env.TEST_JWT_SECRET });
    }));
  });
  after(async () => Promise.all(Object.values(servers).map((server) => server.stop())));

  /** The breach_check_unavailable events on a server's log. */
  const unavailable = (server) => logSince(0, server.log).filter((line) => line.event === 'breach_check_unavailable');

  for (const [name, reason, status] of [
    ['unreachable', 'unreachable', null],
    ['garbage', 'unreadable', 200],
    ['status', 'status', 503],
    ['hang', 'timeout', null],
  ]) {
    test(`${name}: a listed password signs up, and the log says ${reason}`, async () => {
      const server = servers[name];
      const started = Date.now();
      const created = await api('/api/v1/auth/signup', { method: 'POST', json: { email: randomEmail(), password: BREACHED }, base: server.base });
      const took = Date.now() - started;
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const events = unavailable(server);
      assert.deepEqual(events, [{ log: 'security', event: 'breach_check_unavailable', route: '/api/v1/auth/signup', reason, status }]);
      if (name === 'hang') {
        assert.ok(took >= 1000, `it waited for the range API's second (${took} ms)`);
        assert.ok(took < 8000, `and not for much more (${took} ms)`);
      }
    });
  }

  test('unreachable: a password change to a listed password goes through too, logged', async () => {
    const server = servers.unreachable;
    const email = randomEmail();
    const on = (path, init) => api(path, { method: 'POST', base: server.base, ...init });
    assert.equal((await on('/api/v1/auth/signup', { json: { email, password: PASSWORD } })).status, 201);
    const session = await on('/api/v1/auth/login', { form: new URLSearchParams({ username: email, password: PASSWORD }) });
    assert.equal(session.status, 200);
    const changed = await on('/api/v1/auth/password', { token: session.body.access_token, json: { current_password: PASSWORD, new_password: ALSO_BREACHED } });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.ok(unavailable(server).some((line) => line.route === '/api/v1/auth/password' && line.reason === 'unreachable'));
  });
});

describe('PWNED_PASSWORDS (second servers)', () => {
  test('off: nothing is asked and a listed password is accepted', async () => {
    // A path of its own, to tell from the stand-in's records that this server asked nothing.
    const path = `/status/418/range/`;
    const before = (await asked()).filter((r) => r.path.startsWith(path)).length;
    const server = await startServer({ PWNED_PASSWORDS: 'off', PWNED_PASSWORDS_URL: `${STANDIN}${path}` });
    try {
      const created = await api('/api/v1/auth/signup', { method: 'POST', json: { email: randomEmail(), password: BREACHED }, base: server.base });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal((await asked()).filter((r) => r.path.startsWith(path)).length, before, 'the range API was not asked');
      assert.deepEqual(logSince(0, server.log).filter((line) => line.event === 'breach_check_unavailable'), []);
    } finally {
      await server.stop();
    }
  });

  test('a value other than on or off: the routes that set a password fail closed with a 500 naming it', async () => {
    const server = await startServer({ PWNED_PASSWORDS: 'yes' });
    try {
      const email = randomEmail();
      const res = await api('/api/v1/auth/signup', { method: 'POST', json: { email, password: unlisted() }, base: server.base });
      assert.equal(res.status, 500);
      assert.deepEqual(res.body, { detail: "Server misconfigured; see the worker's log" });
      assert.deepEqual(await sql(`SELECT id FROM users WHERE email = ${sqlText(email)}`, { d1: server.d1 }), []);
      const line = logSince(0, server.log).find((value) => value.log === 'request' && value.status === 500);
      assert.match(line?.error ?? '', /PWNED_PASSWORDS is "yes"; it must be "on" or "off"/);
      const read = await api('/api/v1/recipes/search/?keyword=chicken', { base: server.base });
      assert.equal(read.status, 200, 'routes that set no password are unaffected');
    } finally {
      await server.stop();
    }
  });
});
