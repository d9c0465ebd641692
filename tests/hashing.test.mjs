// Password hashing: the PBKDF2 work of each request, counted in its log line
// (`pbkdf2_iterations`); logins that cost the same whatever the email, however many
// iterations each stored hash was made with; and hashing that lets the isolate's other
// requests through while it runs.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import {
  api, signup, randomEmail, PASSWORD, phcHash, sql, sqlText, startServer, logSince,
  fromAddress, randomIPv4, mailTo, tokenFrom, MAIL_VARS
} from './helpers.mjs';

const LOGIN = '/api/v1/auth/login';
const DEFAULT_ITERATIONS = 600000;

/** One request with its own cf-ray; its answer and, from `log`, its request line. */
async function traced(path, options, log = process.env.WORKER_LOG) {
  const offset = statSync(log).size;
  const ray = `ray-${randomUUID()}`;
  const res = await api(path, { ...options, headers: { ...options?.headers, 'cf-ray': ray } });
  for (let i = 0; i < 50; i++) {
    const line = logSince(offset, log).find((value) => value.log === 'request' && value.cf_ray === ray);
    if (line) return { ...res, line };
    await delay(100);
  }
  assert.fail(`no request line with cf_ray ${ray}`);
}

const loginForm = (username, password = PASSWORD) => ({
  method: 'POST',
  form: new URLSearchParams({ username, password }),
});

describe('with PASSWORD_ITERATIONS as deployed (600000)', () => {
  test('signup runs one hash at the configured count; a password change checks the current one and hashes the new one', async () => {
    const email = randomEmail();
    const created = await traced('/api/v1/auth/signup', { method: 'POST', json: { email, password: PASSWORD } });
    assert.equal(created.status, 201);
    assert.equal(created.line.pbkdf2_iterations, DEFAULT_ITERATIONS);
    const session = await api(LOGIN, loginForm(email));
    assert.equal(session.status, 200);
    const changed = await traced('/api/v1/auth/password', {
      method: 'POST', token: session.body.access_token,
      json: { current_password: PASSWORD, new_password: 'another long passphrase' },
    });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.equal(changed.line.pbkdf2_iterations, 2 * DEFAULT_ITERATIONS);
  });

  test('a right password, a wrong one and an unknown email, sent at once, run the same iterations', async () => {
    const email = randomEmail();
    assert.equal((await signup({ email })).status, 201);
    const [right, wrong, unknown] = await Promise.all([
      traced(LOGIN, loginForm(email)),
      traced(LOGIN, loginForm(email, 'not the password')),
      traced(LOGIN, loginForm(randomEmail())),
    ]);
    assert.deepEqual([right.status, wrong.status, unknown.status], [200, 400, 400]);
    assert.ok(right.line.pbkdf2_iterations >= DEFAULT_ITERATIONS, JSON.stringify(right.line));
    assert.equal(wrong.line.pbkdf2_iterations, right.line.pbkdf2_iterations);
    assert.equal(unknown.line.pbkdf2_iterations, right.line.pbkdf2_iterations);
  });

  test('a user without a password (signed up through a provider) is refused as a wrong password, after the same work, and adds no cost', async () => {
    const email = randomEmail();
    const costs = async () => sql('SELECT iterations, hashes FROM password_costs ORDER BY iterations');
    const before = await costs();
    await sql(`INSERT INTO users (email, hashed_password, email_verified) VALUES (${sqlText(email)}, '', 1)`);
    assert.deepEqual(await costs(), before, 'an empty hash is not counted as one');
    const [passwordless, unknown] = await Promise.all([
      traced(LOGIN, loginForm(email, 'any password at all')),
      traced(LOGIN, loginForm(randomEmail())),
    ]);
    assert.equal(passwordless.status, 400);
    assert.deepEqual(passwordless.body, { detail: 'Incorrect username or password' });
    assert.equal(passwordless.line.pbkdf2_iterations, unknown.line.pbkdf2_iterations);
    assert.ok(passwordless.line.pbkdf2_iterations >= DEFAULT_ITERATIONS);
    await sql(`DELETE FROM users WHERE email = ${sqlText(email)}`);
    assert.deepEqual(await costs(), before, 'nor its deletion');
  });
});

describe('a second server whose PASSWORD_ITERATIONS was lowered to 10000', () => {
  const CONFIGURED = 10000;
  let server;
  const on = (path, options = {}) => traced(path, { ...options, base: server.base }, server.log);
  const query = (command) => sql(command, { d1: server.d1 });
  /** Puts a user straight into the database, with a hash made at `iterations`. */
  async function plant(iterations) {
    const email = randomEmail();
    await query(`INSERT INTO users (email, hashed_password) VALUES (${sqlText(email)}, ${sqlText(phcHash(PASSWORD, iterations))})`);
    return email;
  }
  const tokenOf = async (email, password = PASSWORD) => {
    const res = await api(LOGIN, { ...loginForm(email, password), base: server.base });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.access_token;
  };
  /** password_costs' live rows, and the same counted from the users' hashes themselves. */
  async function costs() {
    const [row] = await query(`SELECT
      (SELECT json_group_array(json_object('iterations', iterations, 'hashes', hashes))
         FROM (SELECT * FROM password_costs WHERE hashes > 0 ORDER BY iterations)) AS costs,
      (SELECT json_group_array(hashed_password) FROM users) AS hashes`);
    const counted = new Map();
    for (const phc of JSON.parse(row.hashes)) {
      const iterations = Number(/\$i=(\d+)/.exec(phc)[1]);
      counted.set(iterations, (counted.get(iterations) ?? 0) + 1);
    }
    const fromUsers = [...counted].sort((a, b) => a[0] - b[0]).map(([iterations, hashes]) => ({ iterations, hashes }));
    return { table: JSON.parse(row.costs), fromUsers };
  }
  /** Asserts that password_costs counts the users' hashes; the counts in use. */
  async function assertCostsMatchUsers(what) {
    const { table, fromUsers } = await costs();
    assert.deepEqual(table, fromUsers, `password_costs after ${what}`);
    return table.map((row) => row.iterations);
  }

  before(async () => {
    server = await startServer({
      JWT_SECRET: process.env.TEST_JWT_SECRET,
      PASSWORD_ITERATIONS: String(CONFIGURED),
      SIGNUP_LIMIT_PER_HOUR: '100000',
      ...MAIL_VARS,
    });
  });
  after(() => server?.stop());

  test('an unknown email runs as many iterations as a user hashed at 200000 and one hashed at 10000, and logins stay 3 round trips', async () => {
    const strong = await plant(200000);
    const weak = randomEmail();
    const created = await on('/api/v1/auth/signup', { method: 'POST', json: { email: weak, password: PASSWORD } });
    assert.equal(created.status, 201);
    assert.equal(created.line.pbkdf2_iterations, CONFIGURED, 'new hashes at the configured count');

    const cases = {
      'unknown email': [randomEmail(), PASSWORD, 400],
      'user at 200000, wrong password': [strong, 'not the password', 400],
      'user at 200000, right password': [strong, PASSWORD, 200],
      'user at 10000, wrong password': [weak, 'not the password', 400],
      'user at 10000, right password': [weak, PASSWORD, 200],
    };
    const answers = await Promise.all(Object.values(cases).map(([email, password]) => on(LOGIN, loginForm(email, password))));
    Object.keys(cases).forEach((name, i) => {
      const { status, line } = answers[i];
      assert.equal(status, cases[name][2], name);
      assert.equal(line.pbkdf2_iterations, 200000, `${name}: ${JSON.stringify(line)}`);
      assert.equal(line.d1_round_trips, status === 200 ? 3 : 2, `${name}: the costs are read with the credentials`);
    });
    const [row] = await query(`SELECT hashed_password FROM users WHERE email = ${sqlText(strong)}`);
    assert.match(row.hashed_password, /^\$pbkdf2-sha256\$i=200000,/, 'a stronger hash is kept');

    // Once no stored hash has 200000 iterations, logins run the highest count left.
    await query(`DELETE FROM users WHERE email = ${sqlText(strong)}`);
    const after = await on(LOGIN, loginForm(randomEmail()));
    assert.equal(after.line.pbkdf2_iterations, CONFIGURED);
  });

  test('password_costs follows every write of a hash: signup, rehash at login, password change, both resets, deletion', async () => {
    // One user per path, each hashed at a count of its own (planted in one statement), so
    // the count left behind by a path that forgot to update the table would show.
    const counts = { admin: CONFIGURED, rehash: 1000, change: 20000, reset: 30000, recover: 40000, leave: 50000 };
    const emails = Object.fromEntries(Object.keys(counts).map((name) => [name, randomEmail()]));
    await query(`INSERT INTO users (email, hashed_password, is_superuser) VALUES ${Object.keys(counts).map((name) => (
      `(${sqlText(emails[name])}, ${sqlText(phcHash(PASSWORD, counts[name]))}, ${name === 'admin' ? 1 : 0})`
    )).join(', ')}`);
    const planted = await assertCostsMatchUsers('planting users with SQL');
    for (const count of Object.values(counts)) assert.ok(planted.includes(count), `${count} in ${planted}`);

    const signedUp = await on('/api/v1/auth/signup', { method: 'POST', json: { email: randomEmail(), password: PASSWORD } });
    assert.equal(signedUp.status, 201);

    const upgraded = await on(LOGIN, loginForm(emails.rehash));
    assert.equal(upgraded.status, 200);
    const highest = Math.max(...Object.values(counts));
    assert.equal(upgraded.line.pbkdf2_iterations, highest + CONFIGURED, 'the check, at the highest count in use, then the new hash');

    const changed = await on('/api/v1/auth/password', {
      method: 'POST', token: await tokenOf(emails.change),
      json: { current_password: PASSWORD, new_password: 'another long passphrase' },
    });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.equal(changed.line.pbkdf2_iterations, 20000 + CONFIGURED, 'the stored hash checked, then the new one');

    const [{ id }] = await query(`SELECT id FROM users WHERE email = ${sqlText(emails.reset)}`);
    const byAdmin = await on(`/api/v1/users/${id}/password`, {
      method: 'POST', token: await tokenOf(emails.admin), json: { new_password: 'set by the admin' },
    });
    assert.equal(byAdmin.status, 200, JSON.stringify(byAdmin.body));
    assert.equal(byAdmin.line.pbkdf2_iterations, CONFIGURED);

    const asked = await api('/api/v1/auth/password-recovery', { method: 'POST', json: { email: emails.recover }, base: server.base });
    assert.equal(asked.status, 202);
    const token = tokenFrom(await mailTo(emails.recover));
    const recovered = await on('/api/v1/auth/reset-password', {
      method: 'POST', json: { token, new_password: 'recovered by email' },
    });
    assert.equal(recovered.status, 200, JSON.stringify(recovered.body));
    assert.equal(recovered.line.pbkdf2_iterations, CONFIGURED);

    const deleted = await api('/api/v1/auth/me', { method: 'DELETE', token: await tokenOf(emails.leave), base: server.base });
    assert.equal(deleted.status, 204);

    const left = await assertCostsMatchUsers('a signup, a rehash, a change, two resets and a deletion');
    assert.deepEqual(left, [CONFIGURED], 'every hash is now at the configured count');
  });

  test('a refused request runs no PBKDF2: 422, cross-site, throttled, a made-up reset token, a read', async () => {
    const email = await plant(CONFIGURED);
    const refused = {
      422: await on(LOGIN, { method: 'POST', form: new URLSearchParams({ username: email }) }),
      403: await on(LOGIN, { ...loginForm(email), headers: { origin: 'https://evil.example' } }),
      'made-up token': await on('/api/v1/auth/reset-password', {
        method: 'POST', json: { token: 'x'.repeat(43), new_password: 'a new passphrase' },
      }),
      read: await on('/api/v1/recipes/1'),
    };
    const address = fromAddress(randomIPv4());
    for (let i = 0; i < 5; i++) {
      const wrong = await on(LOGIN, { ...loginForm(email, 'not the password'), headers: address });
      assert.equal(wrong.status, 400);
      assert.ok(wrong.line.pbkdf2_iterations >= CONFIGURED, 'each counted attempt is checked');
    }
    refused[429] = await on(LOGIN, { ...loginForm(email), headers: address });
    assert.deepEqual(
      Object.fromEntries(Object.entries(refused).map(([name, { status, line }]) => [name, [status, line.pbkdf2_iterations]])),
      { 422: [422, 0], 403: [403, 0], 'made-up token': [400, 0], read: [404, 0], 429: [429, 0] },
    );
  });

  test('while a long hash runs, the same isolate answers other requests', async (t) => {
    // 2 000 000 iterations: a second or more of CPU in wasm, the derivation's slices
    // a few ms each. In one piece, a request sent meanwhile would wait for all of it.
    const slow = await plant(2000000);
    try {
      let loginDone = false;
      const loggingIn = on(LOGIN, loginForm(slow, 'not the password')).finally(() => { loginDone = true; });
      // Let the login reach its hash (two D1 round trips before it).
      await delay(100);
      let answeredMeanwhile = 0;
      while (!loginDone) {
        const read = await api('/api/v1/recipes/1', { base: server.base });
        assert.equal(read.status, 404);
        if (!loginDone) answeredMeanwhile += 1;
      }
      const { status, line } = await loggingIn;
      assert.equal(status, 400);
      assert.equal(line.pbkdf2_iterations, 2000000);
      t.diagnostic(`${answeredMeanwhile} reads answered while the login hashed`);
      assert.ok(answeredMeanwhile >= 10, `${answeredMeanwhile} reads were answered while the login hashed`);
    } finally {
      await query(`DELETE FROM users WHERE email = ${sqlText(slow)}`);
    }
  });
});
