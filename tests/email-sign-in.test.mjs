// Sign-in by email, end to end: the worker sends through the mail catcher that
// scripts/with-server.sh starts (MAIL_CATCHER_URL); the tests read the email there, use its
// link's token and its six-digit code, and check what the worker logged (WORKER_LOG). A second
// server covers EMAIL_SIGN_IN_SIGNUP=true; the link is opened in Chromium on /login.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import {
  api, newUser, signup, login, me, randomEmail, PASSWORD, sql, sqlText, nowSeconds, BASE_URL,
  fromAddress, randomIPv4, startServer, logSince, superuserToken,
  mailTo, mailsTo, launchChromium, MAIL_VARS
} from './helpers.mjs';
import { authenticator } from './totp.mjs';

const SENT = { detail: 'If that email can sign in, a sign-in link and code have been sent' };
const BAD = { detail: 'Invalid or expired sign-in link or code' };
const TOO_MANY_CODES = { detail: 'Too many wrong codes; ask for a new sign-in email' };
const TOO_MANY_EMAILS = { detail: 'Too many sign-in emails requested; try again later' };
const FOREIGN = { detail: "redirect_to must be an http(s) URL on this API's origin or one in BACKEND_CORS_ORIGINS" };
const SUBJECT = 'Your sign-in link and code';
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

const LOG_START = statSync(process.env.WORKER_LOG).size;
const secrets = new Set();
const remember = (...values) => { for (const value of values) secrets.add(value); return values[0]; };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** POST /email-sign-in from a client address of its own (so per-address limits are not shared). */
function ask(email, { redirectTo, ip = randomIPv4(), base, headers = {} } = {}) {
  remember(email);
  const json = redirectTo === undefined ? { email } : { email, redirect_to: redirectTo };
  return api('/api/v1/auth/email-sign-in', { method: 'POST', json, headers: { ...fromAddress(ip), ...headers }, base });
}

const verify = (json, { ip = randomIPv4(), base } = {}) =>
  api('/api/v1/auth/email-sign-in/verify', { method: 'POST', json, headers: fromAddress(ip), base });

/** The newest sign-in email to `email` once `count` arrived: its link, token and code. */
async function signInMail(email, { count = 1 } = {}) {
  const message = await mailTo(email, { subject: SUBJECT, count });
  const link = /https?:\/\/\S+#email_token=[A-Za-z0-9_-]+/.exec(message.text)?.[0];
  assert.ok(link, `a link with #email_token= in: ${message.text}`);
  const token = remember(new URLSearchParams(new URL(link).hash.slice(1)).get('email_token'));
  const code = remember(/sign-in code: (\d{6})/.exec(message.text)?.[1]);
  assert.ok(code, `a six-digit code in: ${message.text}`);
  return { message, link, token, code };
}

/**
 * A new user whose email is verified (a signup's is not until its link is followed: a sign-in
 * by email would take such an account over, see below), with an access token.
 */
async function verifiedUser() {
  const made = await newUser();
  await sql(`UPDATE users SET email_verified = 1 WHERE id = ${made.user.id}`);
  return made;
}

/** A new verified user who asked for a sign-in email, and what it carries. */
async function userWithMail() {
  const made = await verifiedUser();
  assert.equal((await ask(made.user.email)).status, 202);
  return { ...made, ...(await signInMail(made.user.email)) };
}

/** Six digits other than `code`. */
const wrongCode = (code, n = 1) => String((Number(code) + n) % 1_000_000).padStart(6, '0');

/** The request log line for the request sent with this `cf-ray`; polls for up to 10 s. */
async function requestLine(cfRay, file) {
  for (let i = 0; i < 50; i++) {
    const line = logSince(0, file).find((value) => value.log === 'request' && value.cf_ray === cfRay);
    if (line) return line;
    await sleep(200);
  }
  assert.fail(`no request line with cf_ray ${cfRay}`);
}

/** The log lines from `offset` of `file` that `match` accepts, once there are `atLeast` (the log is written a little after the answer); polls for up to 10 s. */
async function logged(match, { atLeast = 1, offset = LOG_START, file } = {}) {
  let lines = [];
  for (let i = 0; i < 50; i++) {
    lines = logSince(offset, file).filter(match);
    if (lines.length >= atLeast) return lines;
    await sleep(200);
  }
  assert.fail(`${lines.length} of ${atLeast} matching log line(s) in 10 s`);
}

const count = (responses, status) => responses.filter((res) => res.status === status).length;

describe('sign-in by email: the link and the code', () => {
  test('one email carries a link to /login#email_token= and a code; the link signs in, and the code signs in on another client', async () => {
    const { user } = await verifiedUser();
    const res = await ask(user.email);
    assert.equal(res.status, 202);
    assert.deepEqual(res.body, SENT);
    const { message, link, token, code } = await signInMail(user.email);
    assert.deepEqual(message.to, [user.email]);
    assert.match(token, TOKEN, 'the token is 256 bits in base64url');
    assert.equal(link, `${BASE_URL}/login#email_token=${token}`, 'the link lands on /login by default, the token in the fragment');
    for (const part of [message.text, message.html]) {
      assert.ok(part.includes(code), 'the code is in the text and the HTML');
      assert.ok(part.includes('10 minutes'), "the link's expiry is stated");
    }
    assert.match(message.html, /font-size: 2em[^>]*>\d{6}</, 'the HTML shows the code large');

    const byLink = await verify({ token });
    assert.equal(byLink.status, 200, JSON.stringify(byLink.body));
    assert.equal(byLink.body.token_type, 'bearer');
    assert.ok(byLink.body.refresh_token, 'a token pair, as a password login answers');
    const mine = await me(byLink.body.access_token);
    assert.equal(mine.status, 200);
    assert.equal(mine.body.email, user.email);
    assert.equal(mine.body.email_verified, true, 'signing in by email proves the address');

    // A second email; its code, typed on another device (another address).
    assert.equal((await ask(user.email)).status, 202);
    const second = await signInMail(user.email, { count: 2 });
    const byCode = await verify({ email: user.email.toUpperCase(), code: second.code });
    assert.equal(byCode.status, 200, JSON.stringify(byCode.body));
    assert.equal((await me(byCode.body.access_token)).body.id, user.id);
    const sessions = await sql(`SELECT count(*) AS n FROM sessions WHERE user_id = ${user.id} AND revoked_at IS NULL`);
    assert.equal(sessions[0].n, 3, 'each sign-in started a session of its own, beside the password login\'s');
    assert.equal((await login(user.email)).status, 200, 'the password of a verified account still works');
    const events = await logged((v) => v.event === 'email_sign_in' && v.user_id === user.id, { atLeast: 2 });
    assert.equal(events.length, 2, JSON.stringify(events));
    assert.equal(events[0].created, false);
  });

  test('once either is used, both are dead', async () => {
    const first = await userWithMail();
    assert.equal((await verify({ email: first.user.email, code: first.code })).status, 200);
    const link = await verify({ token: first.token });
    assert.equal(link.status, 400, 'the link died with the code');
    assert.deepEqual(link.body, BAD);
    assert.equal((await verify({ email: first.user.email, code: first.code })).status, 400, 'the code works once');

    const second = await userWithMail();
    assert.equal((await verify({ token: second.token })).status, 200);
    assert.equal((await verify({ email: second.user.email, code: second.code })).status, 400, 'the code died with the link');
    assert.equal((await verify({ token: second.token })).status, 400, 'the link works once');
    const rows = await sql(`SELECT count(*) AS n FROM email_sign_ins WHERE email IN (${sqlText(first.user.email)}, ${sqlText(second.user.email)})`);
    assert.equal(rows[0].n, 0, 'a used email leaves no row');
  });

  test('links sent at once with one token sign in once', async () => {
    const { token } = await userWithMail();
    const answers = await Promise.all(Array.from({ length: 5 }, () => verify({ token })));
    assert.deepEqual(answers.map((res) => res.status).sort(), [200, 400, 400, 400, 400]);
  });

  test('a newer email kills the older one', async () => {
    const older = await userWithMail();
    assert.equal((await ask(older.user.email)).status, 202);
    const newer = await signInMail(older.user.email, { count: 2 });
    assert.notEqual(newer.token, older.token);
    assert.equal((await verify({ token: older.token })).status, 400, 'the older link is dead');
    if (older.code !== newer.code) {
      assert.equal((await verify({ email: older.user.email, code: older.code })).status, 400, 'the older code is dead');
    }
    assert.equal((await verify({ email: older.user.email, code: newer.code })).status, 200);
  });

  test('5 wrong codes, then the right one: 429, and the link is dead too', async () => {
    const { user, code, token } = await userWithMail();
    for (let i = 1; i <= 5; i++) {
      const wrong = await verify({ email: user.email, code: wrongCode(code, i) });
      assert.equal(wrong.status, 400, `wrong code ${i}: ${JSON.stringify(wrong.body)}`);
      assert.deepEqual(wrong.body, BAD);
    }
    const right = await verify({ email: user.email, code });
    assert.equal(right.status, 429, 'the sixth code is refused, right or not');
    assert.deepEqual(right.body, TOO_MANY_CODES);
    const wait = Number(right.headers.get('retry-after'));
    assert.ok(wait > 0 && wait <= 600, `Retry-After within the email's 10 minutes: ${wait}`);
    assert.equal((await verify({ token })).status, 400, 'the link died with the code');
    await logged((v) => v.event === 'email_sign_in_refused' && v.reason === 'too_many_codes');
  });

  test('10 wrong codes sent in parallel: at most 5 are checked', async () => {
    const { user, code } = await userWithMail();
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => verify({ email: user.email, code: wrongCode(code, i + 1) })),
    );
    assert.equal(count(answers, 400), 5, `5 checked: ${answers.map((res) => res.status)}`);
    assert.equal(count(answers, 429), 5, 'the rest refused before their check');
    const [row] = await sql(`SELECT tries FROM email_sign_ins WHERE email = ${sqlText(user.email)}`);
    assert.equal(row.tries, 6, 'counted up to one past the limit, and no further');
    assert.equal((await verify({ email: user.email, code })).status, 429, 'the right code comes too late');
  });

  test('a code is good only for the address it went to', async () => {
    const a = await userWithMail();
    const b = await verifiedUser();
    const res = await verify({ email: b.user.email, code: a.code });
    assert.equal(res.status, 400);
    assert.equal((await verify({ email: a.user.email, code: a.code })).status, 200);
  });

  test('malformed requests are 422, FastAPI-shaped, and write nothing', async () => {
    for (const json of [{ email: 'not-an-email' }, {}, { email: 'a@example.com', redirect_to: 5 }]) {
      const res = await api('/api/v1/auth/email-sign-in', { method: 'POST', json, headers: fromAddress(randomIPv4()) });
      assert.equal(res.status, 422, JSON.stringify(json));
      assert.ok(Array.isArray(res.body.detail));
    }
    for (const json of [{ email: 'a@example.com', code: '12345' }, { email: 'a@example.com', code: 'abcdef' }, { code: '123456' }, {}, { token: 7 }]) {
      const res = await verify(json);
      assert.equal(res.status, 422, JSON.stringify(json));
      assert.ok(Array.isArray(res.body.detail));
    }
    for (const token of ['', 'short', 'x'.repeat(43), randomBytes(32).toString('base64url')]) {
      const res = await verify({ token });
      assert.equal(res.status, 400, token);
      assert.deepEqual(res.body, BAD);
    }
  });
});

describe('sign-in by email: who may, and what it costs', () => {
  test('unknown versus known email: the same answer, the same statements in the request log, no email and no account', async () => {
    const { user } = await newUser();
    const unknown = remember(randomEmail());
    const [rayKnown, rayUnknown] = [randomUUID(), randomUUID()];
    const [known, stranger] = await Promise.all([
      ask(user.email, { headers: { 'cf-ray': rayKnown } }),
      ask(unknown, { headers: { 'cf-ray': rayUnknown } }),
    ]);
    assert.equal(stranger.status, known.status);
    assert.deepEqual(stranger.body, known.body);
    for (const header of ['content-type', 'content-length', 'cache-control', 'retry-after']) {
      assert.equal(stranger.headers.get(header), known.headers.get(header), header);
    }
    const [lineKnown, lineUnknown] = [await requestLine(rayKnown), await requestLine(rayUnknown)];
    assert.equal(lineUnknown.d1_round_trips, lineKnown.d1_round_trips, 'the same round trips');
    assert.equal(lineUnknown.d1_statements, lineKnown.d1_statements, 'the same statements');
    assert.ok(lineKnown.d1_statements >= 4, `the counters and the issue: ${JSON.stringify(lineKnown)}`);
    assert.equal(lineUnknown.pbkdf2_iterations, 0);

    await signInMail(user.email); // the known one's email arrived: both were handled by now
    await sleep(2000);
    assert.deepEqual(await mailsTo(unknown), [], 'nothing is sent to an address with no account');
    const res = await verify({ email: unknown, code: '123456' });
    assert.equal(res.status, 400);
    const [rows] = await sql(`SELECT (SELECT count(*) FROM users WHERE email = ${sqlText(unknown)}) AS users,
      (SELECT count(*) FROM email_sign_ins WHERE email = ${sqlText(unknown)}) AS sign_ins`);
    assert.deepEqual(rows, { users: 0, sign_ins: 0 }, 'no account, and no row, with EMAIL_SIGN_IN_SIGNUP off');
  });

  test('sends are limited per email: 5 an hour, from any address, unknown emails too', async () => {
    for (const email of [(await newUser()).user.email, randomEmail()]) {
      for (let i = 0; i < 5; i++) assert.equal((await ask(email)).status, 202, `send ${i + 1}`);
      const sixth = await ask(email.toUpperCase());
      assert.equal(sixth.status, 429, 'case does not make another email');
      assert.deepEqual(sixth.body, TOO_MANY_EMAILS);
      const wait = Number(sixth.headers.get('retry-after'));
      assert.ok(wait > 3000 && wait <= 3600, `Retry-After: ${wait}`);
    }
  });

  test('a TOTP user gets mfa_required: the email is not a second factor', async () => {
    const { user, token: access } = await verifiedUser();
    const setup = await api('/api/v1/auth/mfa/totp/setup', { method: 'POST', token: access, json: { password: PASSWORD } });
    assert.equal(setup.status, 200, JSON.stringify(setup.body));
    const app = authenticator(setup.body.secret);
    const enabled = await api('/api/v1/auth/mfa/totp/enable', { method: 'POST', token: access, json: { code: await app.code() } });
    assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
    assert.equal((await ask(user.email)).status, 202);
    const { token } = await signInMail(user.email);
    const res = await verify({ token });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.mfa_required, true);
    assert.equal(res.body.access_token, undefined, 'no tokens before the second step');
    const second = await api('/api/v1/auth/mfa/verify', { method: 'POST', json: { mfa_token: res.body.mfa_token, code: await app.code() } });
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.equal((await me(second.body.access_token)).body.id, user.id);
  });

  test('an inactive user is refused, nothing of theirs changes, and they get no more emails', async () => {
    const { user } = await newUser(); // unverified: a sign-in would take the account over
    assert.equal((await ask(user.email)).status, 202);
    const { token } = await signInMail(user.email);
    const admin = await superuserToken();
    const off = await api(`/api/v1/users/${user.id}`, { method: 'PATCH', token: admin, json: { is_active: false } });
    assert.equal(off.status, 200, JSON.stringify(off.body));
    const res = await verify({ token });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, { detail: 'Inactive user' });
    await logged((v) => v.event === 'email_sign_in_refused' && v.reason === 'inactive_user');
    const [row] = await sql(`SELECT email_verified, hashed_password <> '' AS has_password FROM users WHERE id = ${user.id}`);
    assert.deepEqual(row, { email_verified: 0, has_password: 1 }, 'a refused sign-in writes nothing of the user\'s');
    assert.equal((await ask(user.email)).status, 202, 'the same answer');
    await sleep(2000);
    assert.equal((await mailsTo(user.email, { subject: SUBJECT })).length, 1, 'no email to an inactive user');
  });

  test('an unverified account is taken over: its password, sessions and second factor end', async () => {
    // Someone signed up with the address first, with a password and TOTP of their own.
    const created = await signup();
    assert.equal(created.status, 201);
    const email = remember(created.body.email);
    const squatter = await login(email);
    assert.equal(squatter.status, 200);
    const access = squatter.body.access_token;
    const setup = await api('/api/v1/auth/mfa/totp/setup', { method: 'POST', token: access, json: { password: PASSWORD } });
    const enabled = await api('/api/v1/auth/mfa/totp/enable', { method: 'POST', token: access, json: { code: await authenticator(setup.body.secret).code() } });
    assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
    assert.equal((await ask(email)).status, 202);
    const { code } = await signInMail(email);
    const res = await verify({ email, code });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.ok(res.body.access_token, 'signed in: the squatter\'s second factor is gone');
    assert.equal((await login(email)).status, 400, 'the password set before the address was proven is gone');
    assert.equal((await api('/api/v1/auth/refresh', { method: 'POST', json: { refresh_token: enabled.body.refresh_token } })).status, 401, 'their sessions ended');
    const [row] = await sql(`SELECT email_verified, hashed_password FROM users WHERE id = ${created.body.id}`);
    assert.deepEqual(row, { email_verified: 1, hashed_password: '' });
    assert.equal((await me(res.body.access_token)).status, 200, 'the new session lives');
  });

  test('redirect_to: another origin is refused; this origin and BACKEND_CORS_ORIGINS are the link', async () => {
    const { user } = await newUser();
    for (const redirectTo of ['https://evil.example/login', 'javascript:alert(1)', '//evil.example/', 'http://user@localhost:3000/']) {
      const res = await ask(user.email, { redirectTo });
      assert.equal(res.status, 400, redirectTo);
      assert.deepEqual(res.body, FOREIGN);
    }
    await sleep(1500);
    assert.deepEqual(await mailsTo(user.email, { subject: SUBJECT }), [], 'nothing sent for a refused redirect_to');
    assert.equal((await ask(user.email, { redirectTo: 'http://localhost:3000/signed-in?x=1' })).status, 202);
    const { link, token } = await signInMail(user.email);
    assert.equal(link, `http://localhost:3000/signed-in?x=1#email_token=${token}`);
    assert.equal((await ask(user.email, { redirectTo: `${BASE_URL}/login?next=/account` })).status, 202);
    const own = await signInMail(user.email, { count: 2 });
    assert.equal(own.link, `${BASE_URL}/login?next=/account#email_token=${own.token}`);
  });

  test('the cleanup deletes expired sign-in emails and keeps live ones', async () => {
    const now = nowSeconds();
    const [past, live] = [randomEmail(), randomEmail()];
    await sql(`INSERT INTO email_sign_ins (email, token_hash, code_hash, created_at, expires_at) VALUES
      (${sqlText(past)}, ${sqlText(randomUUID())}, 'x', ${now - 700}, ${now - 100}),
      (${sqlText(live)}, ${sqlText(randomUUID())}, 'x', ${now}, ${now + 600})`);
    const offset = statSync(process.env.WORKER_LOG).size;
    assert.equal((await api('/cdn-cgi/local/scheduled?cron=0+*+*+*+*')).status, 200);
    let line;
    for (let i = 0; i < 50 && !line; i++) {
      line = logSince(offset).find((v) => v.log === 'cleanup');
      if (!line) await sleep(100);
    }
    assert.ok(line, 'a cleanup line');
    assert.ok(line.email_sign_ins >= 1, JSON.stringify(line));
    const rows = await sql(`SELECT email FROM email_sign_ins WHERE email IN (${sqlText(past)}, ${sqlText(live)})`);
    assert.deepEqual(rows.map((row) => row.email), [live]);
  });

  test('the log holds no address, token or code', async () => {
    await sleep(500);
    const text = JSON.stringify(logSince(LOG_START));
    for (const secret of secrets) {
      assert.ok(!text.includes(secret), `the log must not hold ${secret}`);
    }
    await logged((v) => v.event === 'email_sign_in_sent');
    await logged((v) => v.log === 'email' && v.purpose === 'email_sign_in' && v.outcome === 'sent');
  });
});

describe('with EMAIL_SIGN_IN_SIGNUP=true (a second server)', () => {
  let server;
  before(async () => {
    server = await startServer({
      JWT_SECRET: randomBytes(32).toString('hex'),
      ...MAIL_VARS,
      EMAIL_SIGN_IN_SIGNUP: 'true',
    });
  });
  after(async () => {
    await server?.stop();
  });

  test('an unknown address gets an email, and its first sign-in creates the account, verified and without a password', async () => {
    const email = remember(randomEmail());
    const res = await ask(email, { base: server.base });
    assert.equal(res.status, 202);
    assert.deepEqual(res.body, SENT);
    const { code, link } = await signInMail(email);
    assert.ok(link.startsWith(`${server.base}/login#email_token=`), link);
    const [before] = await sql(`SELECT count(*) AS n FROM users WHERE email = ${sqlText(email)}`, { d1: server.d1 });
    assert.equal(before.n, 0, 'no account until the sign-in succeeds');
    const signedIn = await verify({ email, code }, { base: server.base });
    assert.equal(signedIn.status, 200, JSON.stringify(signedIn.body));
    const mine = await api('/api/v1/auth/me', { token: signedIn.body.access_token, base: server.base });
    assert.equal(mine.status, 200);
    assert.equal(mine.body.email, email);
    assert.equal(mine.body.email_verified, true);
    const [row] = await sql(`SELECT hashed_password FROM users WHERE email = ${sqlText(email)}`, { d1: server.d1 });
    assert.equal(row.hashed_password, '', 'no password');
    await logged((v) => v.event === 'email_sign_in' && v.created === true, { offset: 0, file: server.log });

    // The next sign-in finds the account.
    assert.equal((await ask(email, { base: server.base })).status, 202);
    const again = await signInMail(email, { count: 2 });
    const second = await verify({ token: again.token }, { base: server.base });
    assert.equal(second.status, 200);
    assert.equal((await api('/api/v1/auth/me', { token: second.body.access_token, base: server.base })).body.id, mine.body.id);
  });
});

describe('the sign-in page in Chromium', () => {
  let browser;
  before(async () => { browser = await launchChromium(); });
  after(async () => { await browser?.close(); });

  /** A new browser context on /login, where "Email me a sign-in link" was asked for `email`. */
  async function askOnLogin(email) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${BASE_URL}/login`);
    await page.getByLabel('Your address, for a sign-in link').fill(email);
    await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
    return { context, page };
  }

  test('"Email me a sign-in link" on /login, then the link, opened in the browser, signs in and lands on /account', async () => {
    const { user } = await newUser();
    const { context, page } = await askOnLogin(user.email);
    await page.getByLabel('Six-digit sign-in code').waitFor();
    const { link } = await signInMail(user.email);
    assert.ok(link.startsWith(`${BASE_URL}/login#email_token=`), link);
    // Opened from the mailbox: a tab of its own.
    const opened = await context.newPage();
    await opened.goto(link);
    await opened.waitForURL((url) => url.pathname === '/account');
    await opened.getByRole('heading', { name: 'Profile' }).waitFor();
    assert.equal(new URL(opened.url()).hash, '', 'the token left the address bar');
    await context.close();
  });

  test('the link opened in the tab already on /login (only the fragment changes) signs in too', async () => {
    const { user } = await newUser();
    const { context, page } = await askOnLogin(user.email);
    const { link } = await signInMail(user.email);
    await page.goto(link);
    await page.waitForURL((url) => url.pathname === '/account');
    await context.close();
  });

  test('the code typed on /login signs in', async () => {
    const { user } = await newUser();
    const { context, page } = await askOnLogin(user.email);
    const { code } = await signInMail(user.email);
    await page.getByLabel('Six-digit sign-in code').fill(code);
    await page.getByRole('button', { name: 'Sign in with the code' }).click();
    await page.waitForURL((url) => url.pathname === '/account');
    await context.close();
  });
});
