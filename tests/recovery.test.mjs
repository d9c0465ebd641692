// Password recovery and email verification, end to end: the worker sends through the mail
// catcher scripts/with-server.sh starts (MAIL_CATCHER_URL), and the tests read the emails
// there, follow their links, and check what the worker logged (WORKER_LOG). Second servers
// cover REQUIRE_VERIFIED_EMAIL and a deployment without an email API; the reset page is
// driven in Chromium.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import {
  api, signup, login, newUser, me, refresh, changePassword, randomEmail, PASSWORD, sql, BASE_URL,
  fromAddress, randomIPv4, randomIPv6Prefix, startServer, logSince, superuserToken,
  MAIL_CATCHER_URL, MAIL_CATCHER_API_KEY, mailTo, mailsTo, linkFrom, tokenFrom, launchChromium, MAIL_VARS
} from './helpers.mjs';

const RECOVERY_SENT = { detail: 'If that email is registered, a reset link has been sent' };
const PASSWORD_UPDATED = { detail: 'Password updated' };
const INVALID_TOKEN = { detail: 'Invalid or expired token' };
const TOO_MANY_RECOVERIES = { detail: 'Too many password recovery requests; try again later' };
const TOO_MANY_VERIFICATIONS = { detail: 'Too many verification emails requested; try again later' };
const RESET_SUBJECT = 'Reset your password';
const VERIFY_SUBJECT = 'Verify your email';
const EMAIL_FROM = 'Recipe API <no-reply@recipe-api.local>';
const TOKEN = /^[A-Za-z0-9_-]{43}$/;
const HOUR = 3600;
const NEW_PASSWORD = 'a brand new passphrase';

// Every address and token the tests use, to look for in the worker's log at the end.
const LOG_START = statSync(process.env.WORKER_LOG).size;
const secrets = new Set();
const remember = (...values) => { for (const value of values) secrets.add(value); return values[0]; };

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** POST /password-recovery from a client address of its own (so the per-address limit is not shared). */
function requestRecovery(email, { ip = randomIPv4(), base } = {}) {
  remember(email);
  return api('/api/v1/auth/password-recovery', { method: 'POST', json: { email }, headers: fromAddress(ip), base });
}

function resetPassword(token, newPassword = NEW_PASSWORD, { base } = {}) {
  return api('/api/v1/auth/reset-password', { method: 'POST', json: { token, new_password: newPassword }, base });
}

const verifyEmail = (token, { base } = {}) => api('/api/v1/auth/verify-email', { method: 'POST', json: { token }, base });
const resendVerification = (accessToken) => api('/api/v1/auth/verify-email/resend', { method: 'POST', token: accessToken });

/** The login form against any server. */
const loginAt = (base, username, password = PASSWORD) => api('/api/v1/auth/login', {
  method: 'POST', form: new URLSearchParams({ username, password }), base,
});

/** The reset email to `email` once it arrived (the worker sends after answering), and its token. */
async function resetMail(email, { count = 1 } = {}) {
  const message = await mailTo(email, { subject: RESET_SUBJECT, count });
  return { message, token: remember(tokenFrom(message)) };
}

/** A new user (logged in: `access`, `refresh`) who asked for a reset, and the token their email carries. */
async function userWithResetToken() {
  const { user, token: access, refresh: refreshToken } = await newUser();
  remember(user.email);
  assert.equal((await requestRecovery(user.email)).status, 202);
  const { message, token } = await resetMail(user.email);
  return { user, access, refresh: refreshToken, message, token };
}

/** The first log line, in `file` from `offset` on, that `match` accepts; polls for up to 15 s. */
async function waitForLog(match, { offset = 0, file } = {}) {
  for (let i = 0; i < 75; i++) {
    const line = logSince(offset, file).find(match);
    if (line) return line;
    await sleep(200);
  }
  assert.fail(`no matching log line in 15 s; email lines: ${JSON.stringify(logSince(offset, file).filter((v) => v.log === 'email'))}`);
}

const logOffset = () => statSync(process.env.WORKER_LOG).size;

function assertRetryAfter(res, max, what) {
  const seconds = Number(res.headers.get('retry-after'));
  assert.ok(Number.isInteger(seconds) && seconds >= 1 && seconds <= max, `${what}: Retry-After ${res.headers.get('retry-after')} is 1..${max} seconds`);
}

describe('password recovery: the request', () => {
  test('a registered email gets 202 and exactly one email, from EMAIL_FROM, whose link opens the reset form', async () => {
    const { user } = await newUser();
    const res = await requestRecovery(user.email);
    assert.equal(res.status, 202);
    assert.deepEqual(res.body, RECOVERY_SENT);

    const { message, token } = await resetMail(user.email);
    assert.deepEqual(message.to, [user.email]);
    assert.equal(message.from, EMAIL_FROM);
    assert.match(token, TOKEN, 'the token is 256 bits in base64url (43 characters)');
    const link = linkFrom(message);
    assert.equal(link, `${BASE_URL}/reset-password#token=${token}`, 'RESET_PASSWORD_URL defaults to the API\'s own page; the token is in the fragment, which no request carries');
    assert.ok(message.html.includes(token), 'the HTML part carries the same link');
    await sleep(1500);
    assert.equal((await mailsTo(user.email, { subject: RESET_SUBJECT })).length, 1, 'one request, one email');

    const page = await fetch(link);
    const html = await page.text();
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /^text\/html/);
    for (const part of ['id="reset-form"', 'name="new_password"', 'name="confirm_password"', 'id="status"', 'type="submit"']) {
      assert.ok(html.includes(part), `the page has ${part}`);
    }
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.doesNotMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/, 'no inline script');
  });

  test('an unknown email gets the same status, body and headers, and no email is sent', async () => {
    const { user } = await newUser();
    const unknown = remember(randomEmail());
    const [known, stranger] = await Promise.all([requestRecovery(user.email), requestRecovery(unknown)]);
    assert.equal(stranger.status, known.status);
    assert.deepEqual(stranger.body, known.body);
    for (const header of ['content-type', 'content-length', 'cache-control', 'retry-after']) {
      assert.equal(stranger.headers.get(header), known.headers.get(header), header);
    }
    await resetMail(user.email); // the known one's email arrived: both were handled by now
    await sleep(3000);
    assert.deepEqual(await mailsTo(unknown), [], 'nothing is sent to an address with no account');
  });

  test('a malformed email is 422, as signup answers it', async () => {
    for (const email of ['not-an-email', '', 'a@']) {
      const res = await requestRecovery(email);
      assert.equal(res.status, 422, `${JSON.stringify(email)}: ${JSON.stringify(res.body)}`);
      assert.ok(Array.isArray(res.body.detail), 'FastAPI-shaped');
    }
  });

  test('the 6th request for one email within the hour is 429 with Retry-After, whatever the letter case or address', async () => {
    const email = remember(randomEmail());
    for (let i = 0; i < 5; i++) {
      const res = await requestRecovery(email);
      assert.equal(res.status, 202, `request ${i + 1} of 5`);
    }
    const sixth = await requestRecovery(email.toUpperCase());
    assert.equal(sixth.status, 429, 'unknown emails count too, and case does not make a new email');
    assert.deepEqual(sixth.body, TOO_MANY_RECOVERIES);
    assertRetryAfter(sixth, HOUR, 'the per-email limit');
    const other = await requestRecovery(remember(randomEmail()));
    assert.equal(other.status, 202, 'another email is not held back');
  });

  test('of 25 requests sent at once from one address, 20 answer 202 and 5 answer 429', async () => {
    const ip = randomIPv4();
    const results = await Promise.all(Array.from({ length: 25 }, () => requestRecovery(remember(randomEmail()), { ip })));
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 202).length, 20, `the per-address limit is 20: ${statuses}`);
    assert.equal(statuses.filter((s) => s === 429).length, 5, `${statuses}`);
    for (const res of results.filter((r) => r.status === 429)) {
      assert.deepEqual(res.body, TOO_MANY_RECOVERIES);
      assertRetryAfter(res, HOUR, 'the per-address limit');
    }
    assert.equal((await requestRecovery(remember(randomEmail()))).status, 202, 'another address is not held back');
  });

  test('an IPv6 client is limited by its /64', async () => {
    const prefix = randomIPv6Prefix();
    for (let i = 1; i <= 20; i++) {
      assert.equal((await requestRecovery(remember(randomEmail()), { ip: `${prefix}::${i.toString(16)}` })).status, 202, `request ${i}`);
    }
    const next = await requestRecovery(remember(randomEmail()), { ip: `${prefix}::ffff` });
    assert.equal(next.status, 429, 'another address in the same /64 is the same client');
  });
});

describe('password recovery: the reset', () => {
  test('resetting ends every session: old access and refresh tokens 401, the new password logs in, the old one does not', async () => {
    const { user, access, refresh: refreshToken, token } = await userWithResetToken();
    const res = await resetPassword(token);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body, PASSWORD_UPDATED);
    assert.equal((await me(access)).status, 401, 'the old access token is refused');
    assert.equal((await refresh(refreshToken)).status, 401, 'the old refresh token is refused');
    assert.equal((await login(user.email, NEW_PASSWORD)).status, 200, 'the new password logs in');
    const old = await login(user.email, PASSWORD);
    assert.equal(old.status, 400);
    assert.deepEqual(old.body, { detail: 'Incorrect username or password' });
  });

  test('a token works once', async () => {
    const { user, token } = await userWithResetToken();
    assert.equal((await resetPassword(token)).status, 200);
    const again = await resetPassword(token, 'yet another passphrase');
    assert.equal(again.status, 400);
    assert.deepEqual(again.body, INVALID_TOKEN);
    assert.equal((await login(user.email, NEW_PASSWORD)).status, 200, 'the second attempt changed nothing');
  });

  test('of 5 resets sent at once with one token, exactly one succeeds', async () => {
    const { user, token } = await userWithResetToken();
    const passwords = Array.from({ length: 5 }, (_, i) => `parallel passphrase ${i}`);
    const results = await Promise.all(passwords.map((password) => resetPassword(token, password)));
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, 1, `one 200: ${statuses}`);
    assert.equal(statuses.filter((s) => s === 400).length, 4, `the rest 400: ${statuses}`);
    for (const res of results.filter((r) => r.status === 400)) assert.deepEqual(res.body, INVALID_TOKEN);
    const winner = passwords[statuses.indexOf(200)];
    assert.equal((await login(user.email, winner)).status, 200, 'the password set is the winner\'s');
  });

  test('an expired token is refused and the password stays', async () => {
    const { user, token } = await userWithResetToken();
    await sql(`UPDATE email_tokens SET expires_at = 0 WHERE user_id = ${user.id}`);
    const res = await resetPassword(token);
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, INVALID_TOKEN);
    assert.equal((await login(user.email, PASSWORD)).status, 200);
  });

  test('a newer request invalidates the older token', async () => {
    const { user, token: older } = await userWithResetToken();
    assert.equal((await requestRecovery(user.email)).status, 202);
    const { token: newer } = await resetMail(user.email, { count: 2 });
    assert.notEqual(newer, older);
    const stale = await resetPassword(older);
    assert.equal(stale.status, 400);
    assert.deepEqual(stale.body, INVALID_TOKEN);
    assert.equal((await resetPassword(newer)).status, 200, 'the newest token still works');
  });

  test('a password change invalidates an outstanding token', async () => {
    const { user, access, token } = await userWithResetToken();
    const changed = await changePassword(access, { current_password: PASSWORD, new_password: 'changed the usual way' });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    const res = await resetPassword(token);
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, INVALID_TOKEN);
    assert.equal((await login(user.email, 'changed the usual way')).status, 200);
  });

  test('a new password the policy refuses is 422 and leaves the token usable', async () => {
    const { user, token } = await userWithResetToken();
    const short = await resetPassword(token, 'short');
    assert.equal(short.status, 422, JSON.stringify(short.body));
    assert.equal((await resetPassword(token)).status, 200, 'the token was not spent on a refused password');
    assert.equal((await login(user.email, NEW_PASSWORD)).status, 200);
  });

  test('made-up, malformed and empty tokens are 400 with the same message', async () => {
    for (const token of [randomBytes(32).toString('base64url'), 'x', '../../etc', randomBytes(300).toString('hex')]) {
      const res = await resetPassword(token);
      assert.equal(res.status, 400, `${token.slice(0, 20)}: ${JSON.stringify(res.body)}`);
      assert.deepEqual(res.body, INVALID_TOKEN);
    }
  });

  test('a verification token is not a reset token', async () => {
    const { user } = await newUser();
    const token = remember(tokenFrom(await mailTo(user.email, { subject: VERIFY_SUBJECT })));
    const res = await resetPassword(token);
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, INVALID_TOKEN);
    assert.equal((await login(user.email, PASSWORD)).status, 200);
  });
});

describe('delivery', () => {
  test('the catcher saw the configured key, as Resend would (Authorization: Bearer EMAIL_API_KEY)', async () => {
    const { user } = await userWithResetToken();
    const [message] = await mailsTo(user.email, { subject: RESET_SUBJECT });
    assert.equal(message.authorization, `Bearer ${MAIL_CATCHER_API_KEY}`);
  });

  test('a failed delivery still answers 202 and is logged as failed, without the address', async () => {
    const email = remember(`bounce-${randomUUID()}@example.com`);
    const created = await signup({ email });
    assert.equal(created.status, 201);
    const offset = logOffset();
    const res = await requestRecovery(email);
    assert.equal(res.status, 202);
    assert.deepEqual(res.body, RECOVERY_SENT);
    const line = await waitForLog((v) => v.log === 'email' && v.purpose === 'password_recovery' && v.outcome === 'failed', { offset });
    assert.equal(line.status, 500, 'the email API\'s status is logged');
    assert.ok(!JSON.stringify(line).includes(email));
  });

  test('the mail catcher refuses a missing or wrong key as Resend does', async () => {
    const body = JSON.stringify({ from: EMAIL_FROM, to: ['x@example.com'], subject: 's', text: 't' });
    const post = (headers) => fetch(`${MAIL_CATCHER_URL}/emails`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    assert.equal((await post({})).status, 401);
    assert.equal((await post({ authorization: 'Bearer wrong' })).status, 403);
    const bad = await fetch(`${MAIL_CATCHER_URL}/emails`, { method: 'POST', headers: { authorization: `Bearer ${MAIL_CATCHER_API_KEY}` }, body: '{' });
    assert.equal(bad.status, 422);
  });
});

describe('email verification', () => {
  test('signup sends one "Verify your email" message; its GET page does not verify, POST /verify-email does, once', async () => {
    const created = await signup();
    assert.equal(created.status, 201);
    assert.equal(created.body.email_verified, false);
    const email = remember(created.body.email);
    const message = await mailTo(email, { subject: VERIFY_SUBJECT });
    const token = remember(tokenFrom(message));
    assert.match(token, TOKEN);
    assert.equal(linkFrom(message), `${BASE_URL}/verify-email#token=${token}`);
    await sleep(1000);
    assert.equal((await mailsTo(email, { subject: VERIFY_SUBJECT })).length, 1);

    const session = await login(email);
    assert.equal(session.status, 200, 'REQUIRE_VERIFIED_EMAIL is off: an unverified user logs in');
    const access = session.body.access_token;
    const page = await fetch(linkFrom(message));
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /^text\/html/);
    assert.equal((await me(access)).body.email_verified, false, 'opening the link (as a link scanner would) verifies nothing');

    const res = await verifyEmail(token);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body, { detail: 'Email verified' });
    assert.equal((await me(access)).body.email_verified, true);
    const again = await verifyEmail(token);
    assert.equal(again.status, 400);
    assert.deepEqual(again.body, INVALID_TOKEN);
  });

  test('resend sends a second email whose link replaces the first; once verified, resend is 400', async () => {
    const { user, token: access } = await newUser();
    remember(user.email);
    const first = remember(tokenFrom(await mailTo(user.email, { subject: VERIFY_SUBJECT })));
    const res = await resendVerification(access);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.deepEqual(res.body, { detail: 'Verification email sent' });
    const token = remember(tokenFrom(await mailTo(user.email, { subject: VERIFY_SUBJECT, count: 2 })));
    assert.notEqual(token, first);
    assert.deepEqual((await verifyEmail(first)).body, INVALID_TOKEN, 'the first link stopped working');
    assert.equal((await verifyEmail(token)).status, 200);
    const done = await resendVerification(access);
    assert.equal(done.status, 400);
    assert.deepEqual(done.body, { detail: 'Email already verified' });
    assert.equal((await resendVerification(undefined)).status, 401, 'resend needs a login');
  });

  test('the 6th resend within the hour is 429 with Retry-After', async () => {
    const { user, token: access } = await newUser();
    remember(user.email);
    for (let i = 0; i < 5; i++) {
      assert.equal((await resendVerification(access)).status, 202, `resend ${i + 1} of 5`);
    }
    const sixth = await resendVerification(access);
    assert.equal(sixth.status, 429);
    assert.deepEqual(sixth.body, TOO_MANY_VERIFICATIONS);
    assertRetryAfter(sixth, HOUR, 'the resend limit');
  });

  test('an expired or made-up verification token is refused', async () => {
    const { user, token: access } = await newUser();
    const token = remember(tokenFrom(await mailTo(user.email, { subject: VERIFY_SUBJECT })));
    await sql(`UPDATE email_tokens SET expires_at = 0 WHERE user_id = ${user.id}`);
    assert.deepEqual((await verifyEmail(token)).body, INVALID_TOKEN);
    assert.deepEqual((await verifyEmail(randomBytes(32).toString('base64url'))).body, INVALID_TOKEN);
    assert.equal((await me(access)).body.email_verified, false);
  });

  test('a reset token does not verify an email', async () => {
    const { user, token } = await userWithResetToken();
    const res = await verifyEmail(token);
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, INVALID_TOKEN);
    const session = await login(user.email);
    assert.equal((await me(session.body.access_token)).body.email_verified, false);
  });

  test('the seeded superuser is verified', async () => {
    assert.equal((await me(await superuserToken())).body.email_verified, true);
  });
});

describe('with REQUIRE_VERIFIED_EMAIL=true (a second server)', () => {
  let server;
  before(async () => {
    server = await startServer({
      JWT_SECRET: randomBytes(32).toString('hex'),
      ...MAIL_VARS,
      REQUIRE_VERIFIED_EMAIL: 'true',
    });
  });
  after(async () => {
    await server?.stop();
  });

  test('an unverified user with the right password is told so, a wrong password gets the usual answer, a verified user logs in', async () => {
    const created = await signup({}, { base: server.base });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const email = remember(created.body.email);

    const unverified = await loginAt(server.base, email);
    assert.equal(unverified.status, 400);
    assert.deepEqual(unverified.body, { detail: 'Email not verified' });
    const wrong = await loginAt(server.base, email, 'wrong password');
    assert.equal(wrong.status, 400);
    assert.deepEqual(wrong.body, { detail: 'Incorrect username or password' }, 'only the password holder learns the email is unverified');

    const message = await mailTo(email, { subject: VERIFY_SUBJECT });
    assert.ok(linkFrom(message).startsWith(`${server.base}/verify-email#token=`), 'the link points at the server that sent it');
    assert.equal((await verifyEmail(remember(tokenFrom(message)), { base: server.base })).status, 200);
    const verified = await loginAt(server.base, email);
    assert.equal(verified.status, 200, JSON.stringify(verified.body));
  });
});

describe('without EMAIL_API_URL (a second server)', () => {
  let server;
  before(async () => {
    server = await startServer({ JWT_SECRET: randomBytes(32).toString('hex') });
  });
  after(async () => {
    await server?.stop();
  });

  test('recovery still answers 202, sends nothing and logs that delivery is not configured', async () => {
    const created = await signup({}, { base: server.base });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const email = remember(created.body.email);
    const res = await requestRecovery(email, { base: server.base });
    assert.equal(res.status, 202);
    assert.deepEqual(res.body, RECOVERY_SENT);
    const line = await waitForLog((v) => v.log === 'email' && v.purpose === 'password_recovery', { file: server.log });
    assert.equal(line.outcome, 'not_configured');
    assert.equal(line.status, null);
    assert.deepEqual(await mailsTo(email), []);
  });
});

describe('the reset page in Chromium', () => {
  let browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  test('the link from the email opens the form; a new password there shows "Password updated" and logs in', async () => {
    const { user, message } = await userWithResetToken();
    const page = await browser.newPage();
    const problems = [];
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('requestfailed', (request) => problems.push(`${request.url()} ${request.failure()?.errorText}`));

    const requested = [];
    page.on('request', (request) => requested.push(request.url()));
    await page.goto(linkFrom(message));
    assert.equal(page.url(), `${BASE_URL}/reset-password`, 'the page took the token out of the address bar');
    await page.locator('input[name="new_password"]').fill(NEW_PASSWORD);
    await page.locator('input[name="confirm_password"]').fill(NEW_PASSWORD);
    await page.locator('#reset-form [type="submit"]').click();
    await page.locator('#status', { hasText: 'Password updated' }).waitFor({ timeout: 15000 });
    assert.equal((await page.locator('#status').innerText()).trim(), 'Password updated');
    assert.deepEqual(problems, [], 'no console errors, CSP violations or failed requests');
    const token = tokenFrom(message);
    assert.deepEqual(requested.filter((url) => url.includes(token)), [], 'no request URL carried the token');
    await page.close();

    const res = await login(user.email, NEW_PASSWORD);
    assert.equal(res.status, 200, 'the new password logs in over HTTP');
  });

  test('a link sent before tokens moved to the fragment (?token=) still works, and the token leaves the address bar', async () => {
    const { user, token } = await userWithResetToken();
    const page = await browser.newPage();
    await page.goto(`${BASE_URL}/reset-password?token=${token}`);
    assert.equal(page.url(), `${BASE_URL}/reset-password`);
    await page.locator('input[name="new_password"]').fill(NEW_PASSWORD);
    await page.locator('input[name="confirm_password"]').fill(NEW_PASSWORD);
    await page.locator('#reset-form [type="submit"]').click();
    await page.locator('#status', { hasText: 'Password updated' }).waitFor({ timeout: 15000 });
    await page.close();
    assert.equal((await login(user.email, NEW_PASSWORD)).status, 200);
  });

  test('two different passwords are caught on the page, and the token stays usable', async () => {
    const { user, message, token } = await userWithResetToken();
    const page = await browser.newPage();
    await page.goto(linkFrom(message));
    await page.locator('input[name="new_password"]').fill(NEW_PASSWORD);
    await page.locator('input[name="confirm_password"]').fill(`${NEW_PASSWORD} typo`);
    await page.locator('#reset-form [type="submit"]').click();
    await page.locator('#status', { hasText: /\S/ }).waitFor({ timeout: 15000 });
    assert.notEqual((await page.locator('#status').innerText()).trim(), 'Password updated');
    await page.close();
    assert.equal((await login(user.email, PASSWORD)).status, 200, 'the password did not change');
    assert.equal((await resetPassword(token)).status, 200, 'the token was not spent');
  });

  test('the verification link\'s button verifies the email', async () => {
    const { user, token: access } = await newUser();
    remember(user.email);
    const message = await mailTo(user.email, { subject: VERIFY_SUBJECT });
    remember(tokenFrom(message));
    const page = await browser.newPage();
    const problems = [];
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(linkFrom(message));
    assert.equal(page.url(), `${BASE_URL}/verify-email`, 'the page took the token out of the address bar');
    await page.locator('#verify-form [type="submit"]').click();
    await page.locator('#status', { hasText: 'Email verified' }).waitFor({ timeout: 15000 });
    assert.deepEqual(problems, []);
    await page.close();
    assert.equal((await me(access)).body.email_verified, true);
  });
});

describe('the worker log', () => {
  test('email log lines have the documented fields, and no line names an address or a token', async () => {
    const lines = logSince(LOG_START);
    const emailLines = lines.filter((v) => v.log === 'email');
    assert.ok(emailLines.length > 0, 'sends are logged');
    for (const line of emailLines) {
      assert.ok(['password_recovery', 'verify_email'].includes(line.purpose), JSON.stringify(line));
      assert.ok(['sent', 'failed', 'not_configured'].includes(line.outcome), JSON.stringify(line));
    }
    assert.ok(emailLines.some((v) => v.outcome === 'sent' && v.status === 200), 'a delivered email is logged as sent with the API\'s status');
    const text = lines.map((v) => JSON.stringify(v)).join('\n').toLowerCase();
    const leaked = [...secrets].filter((secret) => secret && text.includes(secret.toLowerCase()));
    assert.deepEqual(leaked, [], 'no address or token in the worker\'s log lines');
  });
});
