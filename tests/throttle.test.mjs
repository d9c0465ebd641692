// Attempt limits: logins per account and client address and per address, counted before the
// password is checked (so parallel guesses cannot slip past the limit); IPv6 clients keyed by
// their /64; the counters as D1 stores them; the absolute session lifetime; and the signup
// limit per address, on a second server with a low one.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  api, signup, newUser, login, refresh, randomEmail, PASSWORD, sql, sqlText, nowSeconds,
  fromAddress, randomIPv4, randomIPv6Prefix, startServer,
} from './helpers.mjs';

const WINDOW = 15 * 60;
const THROTTLED = { detail: 'Too many failed login attempts; try again later' };
const countOf = (statuses, status) => statuses.filter((s) => s === status).length;
/** The /64 next to `prefix` (its last group's lowest bit flipped): the same /48, another /64. */
const neighbour = (prefix) => prefix.replace(/[0-9a-f]+$/, (group) => (parseInt(group, 16) ^ 1).toString(16));

/** The attempts rows whose key is one of `keys`, by key. */
async function attempts(keys) {
  const rows = await sql(`SELECT key, count, expires_at FROM attempts WHERE key IN (${keys.map(sqlText).join(', ')})`);
  return Object.fromEntries(rows.map((row) => [row.key, row]));
}

function assertRetryAfter(res, max, what) {
  const seconds = Number(res.headers.get('retry-after'));
  assert.ok(Number.isInteger(seconds) && seconds >= 1 && seconds <= max, `${what}: Retry-After ${res.headers.get('retry-after')} is 1..${max} seconds`);
}

describe('login throttling', () => {
  test('of 30 wrong passwords sent at once for one account from one address, exactly 5 are checked and 25 answer 429', async () => {
    const { body: user } = await signup();
    const attacker = randomIPv4();
    const results = await Promise.all(Array.from({ length: 30 }, () => login(user.email, 'wrong password', fromAddress(attacker))));
    const statuses = results.map((r) => r.status);
    assert.equal(countOf(statuses, 400), 5, `exactly the limit of 5 reach the password check: ${statuses}`);
    assert.equal(countOf(statuses, 429), 25, `every other attempt is refused: ${statuses}`);
    for (const res of results.filter((r) => r.status === 429)) {
      assert.deepEqual(res.body, THROTTLED);
      assertRetryAfter(res, WINDOW, 'a throttled login');
    }
    const right = await login(user.email, PASSWORD, fromAddress(attacker));
    assert.equal(right.status, 429, 'the right password from that address waits out the window too');
    assert.deepEqual(right.body, THROTTLED);
    const owner = await login(user.email, PASSWORD, fromAddress(randomIPv4()));
    assert.equal(owner.status, 200, "the attacker's attempts do not lock the owner out elsewhere");
  });

  test('an IPv6 client is throttled by its /64: another address of it waits, another /64 logs in', async () => {
    const { body: user } = await signup();
    const prefix = randomIPv6Prefix();
    for (let i = 0; i < 5; i++) {
      const res = await login(user.email, 'wrong password', fromAddress(`${prefix}::1`));
      assert.equal(res.status, 400, `wrong password ${i + 1} of 5 is checked`);
    }
    const sameNetwork = await login(user.email, PASSWORD, fromAddress(`${prefix}::ffff`));
    assert.equal(sameNetwork.status, 429, 'a new address in the same /64 is the same client');
    assert.deepEqual(sameNetwork.body, THROTTLED);
    const otherNetwork = await login(user.email, PASSWORD, fromAddress(`${neighbour(prefix)}::1`));
    assert.equal(otherNetwork.status, 200, 'the next /64 (same /48) is another client');
  });
});

describe('throttle counters in D1 (attempts)', () => {
  test('a wrong login from an IPv6 address is counted under its /64, for the address and for the account (email lower-cased)', async () => {
    const { body: user } = await signup();
    const prefix = randomIPv6Prefix();
    const before = nowSeconds();
    const res = await login(user.email.toUpperCase(), 'wrong password', fromAddress(`${prefix}::5`));
    assert.equal(res.status, 400);
    const address = `ip:${prefix}::/64`;
    const account = `account:${user.email}|${prefix}::/64`;
    const rows = await attempts([address, account]);
    assert.ok(rows[address], `a row ${address}: ${JSON.stringify(rows)}`);
    assert.ok(rows[account], `a row ${account}: ${JSON.stringify(rows)}`);
    for (const key of [address, account]) {
      assert.equal(rows[key].count, 1, `${key} counts the one attempt`);
      assert.ok(rows[key].expires_at > before && rows[key].expires_at <= nowSeconds() + WINDOW + 60, `${key} expires within the 15-minute window: ${rows[key].expires_at}`);
    }
  });

  test('an IPv4 address is used as it is; a success gives its counts back and clears the account', async () => {
    const { body: user } = await signup();
    const ip = randomIPv4();
    assert.equal((await login(user.email, 'wrong password', fromAddress(ip))).status, 400);
    assert.equal((await login(user.email, PASSWORD, fromAddress(ip))).status, 200);
    const address = `ip:${ip}`;
    const account = `account:${user.email}|${ip}`;
    const rows = await attempts([address, account]);
    assert.equal(rows[address]?.count, 1, `the failure stays counted for the address, the success is given back: ${JSON.stringify(rows)}`);
    assert.ok(!rows[account] || rows[account].count === 0, `the success clears the account's counter: ${JSON.stringify(rows)}`);
  });

  test('a request without a readable client address is counted by account alone, in no shared ip bucket', async () => {
    const { body: user } = await signup();
    const res = await login(user.email, 'wrong password', { 'cf-connecting-ip': 'not-an-ip' });
    assert.equal(res.status, 400);
    const mine = await sql(`SELECT key, count FROM attempts WHERE instr(key, ${sqlText(user.email)}) > 0`);
    assert.deepEqual(mine, [{ key: `account:${user.email}`, count: 1 }], 'only the account key, without an address');
    const shared = await sql("SELECT key FROM attempts WHERE key IN ('ip:unknown', 'ip:not-an-ip', 'ip:', 'ip:null', 'ip:None')");
    assert.deepEqual(shared, [], 'no bucket shared by every request without an address');
  });
});

describe('absolute session lifetime (SESSION_MAX_DAYS, default 90)', () => {
  test('a session started over 90 days ago cannot be refreshed; one started 89 days ago can', async () => {
    const old = await newUser();
    const young = await newUser();
    await sql(`UPDATE sessions SET created_at = created_at - CASE user_id WHEN ${old.user.id} THEN 91*86400 ELSE 89*86400 END
      WHERE user_id IN (${old.user.id}, ${young.user.id})`);
    const expired = await refresh(old.refresh);
    assert.equal(expired.status, 401, 'a session ends 90 days after its login, however often it was refreshed');
    assert.deepEqual(expired.body, { detail: 'Invalid or expired refresh token' });
    assert.equal((await refresh(young.refresh)).status, 200, 'a younger session refreshes');
  });
});

describe('signups per client address (SIGNUP_LIMIT_PER_HOUR, here 3)', () => {
  let server;
  before(async () => {
    server = await startServer({
      JWT_SECRET: randomBytes(32).toString('hex'), SIGNUP_LIMIT_PER_HOUR: 3, PASSWORD_ITERATIONS: 1000,
    });
  });
  after(async () => {
    await server?.stop();
  });

  const signupAt = (address, email = randomEmail()) => signup({ email }, { base: server.base, headers: fromAddress(address) });
  const loginAt = (email) => api('/api/v1/auth/login', {
    base: server.base, method: 'POST', form: new URLSearchParams({ username: email, password: PASSWORD }),
  });

  test('of 6 signups sent at once from one address exactly 3 are created; another address still signs up', async () => {
    const address = randomIPv4();
    const emails = Array.from({ length: 6 }, () => randomEmail());
    const results = await Promise.all(emails.map((email) => signupAt(address, email)));
    const statuses = results.map((r) => r.status);
    assert.equal(countOf(statuses, 201), 3, `exactly the limit is created: ${statuses}`);
    assert.equal(countOf(statuses, 429), 3, `the rest are refused: ${statuses}`);
    for (const [i, res] of results.entries()) {
      if (res.status !== 429) continue;
      assert.deepEqual(res.body, { detail: 'Too many signups from this address; try again later' });
      assertRetryAfter(res, 3600, 'a throttled signup');
      assert.equal((await loginAt(emails[i])).status, 400, 'a refused signup created no user');
    }
    const created = results.findIndex((r) => r.status === 201);
    assert.equal((await loginAt(emails[created])).status, 200, 'a created user logs in');
    assert.equal((await signupAt(randomIPv4())).status, 201, 'another address is not limited');
  });

  test('an IPv6 client is limited by its /64', async () => {
    const prefix = randomIPv6Prefix();
    for (let i = 0; i < 3; i++) assert.equal((await signupAt(`${prefix}::1`)).status, 201, `signup ${i + 1} of 3`);
    const sameNetwork = await signupAt(`${prefix}::2`);
    assert.equal(sameNetwork.status, 429, 'a new address in the same /64 is the same client');
    assertRetryAfter(sameNetwork, 3600, 'a throttled signup');
    assert.equal((await signupAt(`${neighbour(prefix)}::1`)).status, 201, 'the next /64 is not limited');
  });
});
