// The second factor (TOTP, RFC 6238) end to end, with a TOTP client of the tests' own that
// computes real codes (tests/totp.mjs): setting up, turning on and off, logging in
// with a code or a recovery code, replays, wrong codes counted in parallel, the mfa_token's
// life, other sessions ending, what D1 holds, the QR code as Chromium draws it, and a
// deployment without MFA_ENCRYPTION_KEY.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, signup, login, me, refresh, changePassword, PASSWORD, sql, sqlText, fromAddress, randomIPv4,
  nowSeconds, startServer, launchChromium, randomEmail, logSince, superuserToken,
} from './helpers.mjs';
import { readFileSync, statSync } from 'node:fs';
import { authenticator, base32Decode, codeAt, stepNow } from './totp.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- The routes.

const setup = (token, password = PASSWORD, headers = {}) =>
  api('/api/v1/auth/mfa/totp/setup', { method: 'POST', token, json: { password }, headers });
const enable = (token, code, headers = {}) =>
  api('/api/v1/auth/mfa/totp/enable', { method: 'POST', token, json: { code }, headers });
const disable = (token, body, headers = {}) =>
  api('/api/v1/auth/mfa/totp', { method: 'DELETE', token, json: body, headers });
const verify = (mfaToken, code, headers = {}) =>
  api('/api/v1/auth/mfa/verify', { method: 'POST', json: { mfa_token: mfaToken, code }, headers });

const countOf = (statuses, status) => statuses.filter((s) => s === status).length;

/**
 * A new user with TOTP on, logged in from an address of its own: the authenticator, the
 * recovery codes, and the token pair the enabling answered with.
 */
async function enrolledUser() {
  const headers = fromAddress(randomIPv4());
  const { body: user } = await signup();
  const session = await login(user.email, PASSWORD, headers);
  assert.equal(session.status, 200, JSON.stringify(session.body));
  const started = await setup(session.body.access_token, PASSWORD, headers);
  assert.equal(started.status, 200, JSON.stringify(started.body));
  const app = authenticator(started.body.secret);
  const enabled = await enable(session.body.access_token, await app.code(), headers);
  assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
  return { user, headers, app, setup: started.body, enabled: enabled.body, firstSession: session.body };
}

/** Logs in with the password: the mfa_token of the second step. */
async function firstStep(email, headers) {
  const res = await login(email, PASSWORD, headers);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.mfa_required, true, JSON.stringify(res.body));
  return res.body.mfa_token;
}

describe('the TOTP client', () => {
  test('computes RFC 6238 Appendix B codes (SHA-1 seed, last six of eight digits)', () => {
    const seed = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'; // "12345678901234567890"
    assert.equal(codeAt(seed, Math.floor(59 / 30)), '287082');
    assert.equal(codeAt(seed, Math.floor(1111111109 / 30)), '081804');
    assert.equal(codeAt(seed, Math.floor(2000000000 / 30)), '279037');
  });
});

describe('setting up and turning on TOTP', () => {
  test('setup needs the password, answers the secret, its otpauth URI and a QR code, and turns nothing on', async () => {
    const headers = fromAddress(randomIPv4());
    const { body: user } = await signup();
    const { body: tokens } = await login(user.email, PASSWORD, headers);
    const wrong = await setup(tokens.access_token, 'not the password', headers);
    assert.equal(wrong.status, 400);
    assert.deepEqual(wrong.body, { detail: 'Incorrect password' });
    const noToken = await api('/api/v1/auth/mfa/totp/setup', { method: 'POST', json: { password: PASSWORD } });
    assert.equal(noToken.status, 401);

    const res = await setup(tokens.access_token, PASSWORD, headers);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.match(res.body.secret, /^[A-Z2-7]{32}$/, '160 bits in base32');
    const uri = new URL(res.body.otpauth_uri);
    assert.equal(uri.protocol, 'otpauth:');
    assert.equal(uri.searchParams.get('secret'), res.body.secret);
    assert.equal(uri.searchParams.get('issuer'), 'Recipe API');
    assert.equal(uri.searchParams.get('digits'), '6');
    assert.equal(uri.searchParams.get('period'), '30');
    assert.ok(decodeURIComponent(uri.pathname).endsWith(`:${user.email}`), uri.pathname);
    assert.match(res.body.qr_svg, /<svg[\s\S]*<\/svg>\s*$/);

    const again = await login(user.email, PASSWORD, headers);
    assert.equal(again.status, 200);
    assert.ok(again.body.access_token, 'a pending secret asks for no code at login');
    assert.equal(again.body.mfa_required, undefined);
  });

  test('enable takes a current code only, answers ten recovery codes and a new pair, and ends every earlier session', async () => {
    const headers = fromAddress(randomIPv4());
    const { body: user } = await signup();
    const a = (await login(user.email, PASSWORD, headers)).body;
    const b = (await login(user.email, PASSWORD, headers)).body;
    const { body: started } = await setup(a.access_token, PASSWORD, headers);
    const app = authenticator(started.secret);

    const wrong = await enable(a.access_token, app.wrong(), headers);
    assert.equal(wrong.status, 400);
    assert.deepEqual(wrong.body, { detail: 'Invalid code' });
    assert.equal((await enable(a.access_token, 'abcd', headers)).status, 422, 'not a code at all');

    const res = await enable(a.access_token, await app.code(), headers);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.recovery_codes.length, 10);
    assert.equal(new Set(res.body.recovery_codes).size, 10);
    for (const code of res.body.recovery_codes) assert.match(code, /^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/);
    assert.equal(res.body.token_type, 'bearer');

    assert.equal((await me(b.access_token)).status, 401, "another session's access token stops at once");
    assert.equal((await refresh(b.refresh_token)).status, 401, "another session's refresh token stops");
    assert.equal((await me(a.access_token)).status, 401, "the caller's earlier access token stops too");
    assert.equal((await refresh(a.refresh_token)).status, 401, "and the caller's earlier refresh token");
    assert.equal((await me(res.body.access_token)).status, 200, 'the new pair works');
    assert.equal((await refresh(res.body.refresh_token)).status, 200, 'and refreshes');

    const twice = await enable(res.body.access_token, await app.code(), headers);
    assert.equal(twice.status, 400);
    assert.deepEqual(twice.body, { detail: 'Two-factor authentication is already on' });
    const resetup = await setup(res.body.access_token, PASSWORD, headers);
    assert.equal(resetup.status, 400, 'a factor that is on is not replaced by a new setup');
  });

  test('D1 holds the secret sealed and the recovery codes hashed, never in the clear', async () => {
    const { user, setup: started, enabled } = await enrolledUser();
    const [row] = await sql(`SELECT secret, enabled_at FROM totp_factors WHERE user_id = ${user.id}`);
    assert.ok(row.enabled_at > 0, 'the factor is on');
    const raw = base32Decode(started.secret);
    assert.match(row.secret, /^v1\.[A-Za-z0-9_-]+$/);
    for (const form of [started.secret, started.secret.toLowerCase(), raw.toString('hex'), raw.toString('base64').replace(/=+$/, ''), raw.toString('base64url'), raw.toString('latin1')]) {
      assert.ok(!row.secret.includes(form), `the stored secret does not hold it as ${form}`);
    }
    const codes = await sql(`SELECT code_hash FROM totp_recovery_codes WHERE user_id = ${user.id}`);
    assert.equal(codes.length, 10);
    const stored = JSON.stringify(codes);
    for (const code of enabled.recovery_codes) {
      assert.ok(!stored.includes(code) && !stored.includes(code.replaceAll('-', '')), 'no recovery code in the clear');
    }
  });
});

describe('logging in with a second factor', () => {
  test('the right password answers an mfa_token and no access token; the token and a code give a session', async () => {
    const { user, headers, app, enabled } = await enrolledUser();
    const first = await login(user.email, PASSWORD, headers);
    assert.equal(first.status, 200);
    assert.equal(first.body.mfa_required, true);
    assert.equal(first.body.token_type, 'mfa');
    assert.equal(first.body.expires_in, 300);
    assert.equal(first.body.access_token, undefined, 'no access token before the second factor');
    assert.equal(first.body.refresh_token, undefined);
    assert.equal((await login(user.email, 'wrong password', headers)).status, 400, 'a wrong password still says so');

    const res = await verify(first.body.mfa_token, await app.code(), headers);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.token_type, 'bearer');
    const claims = JSON.parse(Buffer.from(res.body.access_token.split('.')[1], 'base64url'));
    assert.ok(claims.sid, 'a session with its sid, as a password login makes');
    assert.equal((await me(res.body.access_token)).status, 200);
    assert.equal((await refresh(res.body.refresh_token)).status, 200);

    const reused = await verify(first.body.mfa_token, enabled.recovery_codes[0], headers);
    assert.equal(reused.status, 401, 'the mfa_token works once');
    assert.deepEqual(reused.body, { detail: 'Invalid or expired MFA token' });
  });

  test('a code is refused again within its step: at login after enabling, and at a second login', async () => {
    const { user, headers, app } = await enrolledUser();
    const enablingCode = app.used();
    const token = await firstStep(user.email, headers);
    const replayed = await verify(token, enablingCode, headers);
    assert.equal(replayed.status, 400, 'the code that turned TOTP on does not log in');
    assert.deepEqual(replayed.body, { detail: 'Invalid code' });

    const code = await app.code();
    assert.equal((await verify(token, code, headers)).status, 200, 'a wrong code did not use the mfa_token up');
    const second = await firstStep(user.email, headers);
    const again = await verify(second, code, headers);
    assert.equal(again.status, 400, 'the same code at the next login, within its 30 seconds');
    const [row] = await sql(`SELECT last_step FROM totp_factors WHERE user_id = ${user.id}`);
    assert.ok(row.last_step >= stepNow() - 1, `the used step is stored: ${row.last_step}`);
  });

  test('the same code sent at once with two mfa_tokens logs in once', async () => {
    const { user, headers, app } = await enrolledUser();
    const [t1, t2] = [await firstStep(user.email, headers), await firstStep(user.email, headers)];
    const code = await app.code();
    const results = await Promise.all([verify(t1, code, headers), verify(t2, code, headers)]);
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 400], `one step, one login: ${statuses}`);
  });

  test('a recovery code logs in once; another works after it', async () => {
    const { user, headers, enabled } = await enrolledUser();
    const [first, second] = enabled.recovery_codes;
    const token = await firstStep(user.email, headers);
    const res = await verify(token, first.toUpperCase(), headers);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal((await me(res.body.access_token)).status, 200);

    const next = await firstStep(user.email, headers);
    const reused = await verify(next, first, headers);
    assert.equal(reused.status, 400, 'a recovery code works once');
    assert.deepEqual(reused.body, { detail: 'Invalid code' });
    assert.equal((await verify(next, second.replaceAll('-', ''), headers)).status, 200, 'the next code works');
    const left = await sql(`SELECT count(*) AS n FROM totp_recovery_codes WHERE user_id = ${user.id}`);
    assert.equal(left[0].n, 8);
  });

  test('of 10 wrong codes sent at once, exactly 5 are checked and 5 answer 429; the right code then waits too', async () => {
    const { user, headers, app } = await enrolledUser();
    const token = await firstStep(user.email, headers);
    const wrong = app.wrong();
    const results = await Promise.all(Array.from({ length: 10 }, () => verify(token, wrong, headers)));
    const statuses = results.map((r) => r.status);
    assert.equal(countOf(statuses, 400), 5, `exactly the limit of 5 reach the check: ${statuses}`);
    assert.equal(countOf(statuses, 429), 5, `every other one is refused: ${statuses}`);
    for (const res of results.filter((r) => r.status === 429)) {
      assert.deepEqual(res.body, { detail: 'Too many wrong codes; try again later' });
      const seconds = Number(res.headers.get('retry-after'));
      assert.ok(seconds >= 1 && seconds <= 900, `Retry-After ${seconds}`);
    }
    const right = await verify(token, await app.code(), fromAddress(randomIPv4()));
    assert.equal(right.status, 429, 'the limit is the account’s, from any address');
    const [counter] = await sql(`SELECT count FROM attempts WHERE key = ${sqlText(`totp:${user.id}`)}`);
    assert.equal(counter.count, 6, 'a counter stops one past its limit');
  });

  test('a password change kills an outstanding mfa_token', async () => {
    const { user, headers, app, enabled } = await enrolledUser();
    const token = await firstStep(user.email, headers);
    const changed = await changePassword(enabled.access_token, { current_password: PASSWORD, new_password: 'a brand new password' }, headers);
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    const res = await verify(token, await app.code(), headers);
    assert.equal(res.status, 401);
    assert.deepEqual(res.body, { detail: 'Invalid or expired MFA token' });
  });

  test('an mfa_token lives five minutes', async () => {
    const { user, headers, enabled } = await enrolledUser();
    const before = nowSeconds();
    const token = await firstStep(user.email, headers);
    const rows = await sql(`SELECT expires_at FROM mfa_tokens WHERE user_id = ${user.id} AND claimed_by IS NULL`);
    assert.equal(rows.length, 1, 'stored by its hash, one row');
    assert.ok(rows[0].expires_at >= before + 300 && rows[0].expires_at <= nowSeconds() + 300, `expires_at ${rows[0].expires_at}`);
    assert.equal((await sql(`SELECT count(*) AS n FROM mfa_tokens WHERE token_hash = ${sqlText(token)}`))[0].n, 0, 'not stored in the clear');
    await sql(`UPDATE mfa_tokens SET expires_at = ${nowSeconds() - 1} WHERE user_id = ${user.id}`);
    const res = await verify(token, enabled.recovery_codes[0], headers);
    assert.equal(res.status, 401, 'expired');
    assert.equal((await sql(`SELECT count(*) AS n FROM totp_recovery_codes WHERE user_id = ${user.id}`))[0].n, 10, 'the recovery code was not used up');
    const offset = statSync(process.env.WORKER_LOG).size;
    assert.equal((await api('/cdn-cgi/local/scheduled?cron=0+*+*+*+*')).status, 200);
    let line;
    for (let i = 0; i < 50 && !line; i++) {
      line = logSince(offset).find((value) => value.log === 'cleanup');
      if (!line) await sleep(100);
    }
    assert.ok(line?.mfa_tokens >= 1, `the cleanup deletes expired mfa_tokens: ${JSON.stringify(line)}`);
    assert.equal((await sql(`SELECT count(*) AS n FROM mfa_tokens WHERE user_id = ${user.id}`))[0].n, 0);
  });
});

describe('turning TOTP off', () => {
  test('needs the password and a current code; ends every other session; login then asks for no code', async () => {
    const { user, headers, app, enabled } = await enrolledUser();
    const other = await verify(await firstStep(user.email, headers), await app.code(), headers);
    assert.equal(other.status, 200);
    const caller = enabled.access_token;

    assert.equal((await disable(caller, { password: 'wrong password', code: app.wrong() }, headers)).status, 400);
    const noCode = await disable(caller, { password: PASSWORD, code: app.wrong() }, headers);
    assert.equal(noCode.status, 400);
    assert.deepEqual(noCode.body, { detail: 'Invalid code' });
    assert.equal((await disable(caller, { password: PASSWORD }, headers)).status, 422, 'the code is required');

    const res = await disable(caller, { password: PASSWORD, code: await app.code() }, headers);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal((await me(res.body.access_token)).status, 200, 'the new pair works');
    assert.equal((await me(other.body.access_token)).status, 401, "another session's access token stops at once");
    assert.equal((await refresh(other.body.refresh_token)).status, 401, "another session's refresh token stops");
    assert.equal((await me(caller)).status, 401, "the caller's earlier token stops too");

    const after = await login(user.email, PASSWORD, headers);
    assert.equal(after.status, 200);
    assert.ok(after.body.access_token, 'login gives tokens again');
    for (const table of ['totp_factors', 'totp_recovery_codes']) {
      assert.equal((await sql(`SELECT count(*) AS n FROM ${table} WHERE user_id = ${user.id}`))[0].n, 0, `${table} is empty`);
    }
  });

  test('a recovery code stands in for the code', async () => {
    const { user, headers, enabled } = await enrolledUser();
    const res = await disable(enabled.access_token, { password: PASSWORD, code: enabled.recovery_codes[3] }, headers);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.ok((await login(user.email, PASSWORD, headers)).body.access_token);
  });
});

describe('a superuser removing a user\'s second factor', () => {
  const reset = (token, id) => api(`/api/v1/users/${id}/mfa/totp`, { method: 'DELETE', token });

  test('ends every session of the user, who then logs in with the password alone; logged once', async () => {
    const { user, headers, app, enabled } = await enrolledUser();
    const other = await verify(await firstStep(user.email, headers), await app.code(), headers);
    assert.equal(other.status, 200);
    const pending = await firstStep(user.email, headers);
    const admin = await superuserToken();
    const adminId = (await me(admin)).body.id;
    const offset = statSync(process.env.WORKER_LOG).size;

    const res = await reset(admin, user.id);
    assert.equal(res.status, 204, JSON.stringify(res.body));
    for (const session of [enabled, other.body]) {
      assert.equal((await me(session.access_token)).status, 401, 'its access tokens stop at once');
      assert.equal((await refresh(session.refresh_token)).status, 401, 'and its refresh tokens');
    }
    assert.equal((await verify(pending, await app.code(), headers)).status, 401, 'a pending second step ends');
    for (const table of ['totp_factors', 'totp_recovery_codes', 'mfa_tokens']) {
      assert.equal((await sql(`SELECT count(*) AS n FROM ${table} WHERE user_id = ${user.id}`))[0].n, 0, `${table} is empty`);
    }
    const after = await login(user.email, PASSWORD, headers);
    assert.equal(after.status, 200);
    assert.ok(after.body.access_token, 'the password alone gives tokens');

    const again = await reset(admin, user.id);
    assert.equal(again.status, 400, 'nothing left to remove');
    assert.deepEqual(again.body, { detail: 'This user has no second factor' });
    assert.equal((await me(after.body.access_token)).status, 200, 'and nothing ended');

    await sleep(200);
    const events = logSince(offset).filter((line) => line.event === 'second_factor_reset');
    assert.deepEqual(events.map(({ user_id, by }) => ({ user_id, by })), [{ user_id: user.id, by: adminId }]);
  });

  test('only another superuser may: the user, a stranger and an admin for themself are refused; an unknown user is 404', async () => {
    const { user, enabled } = await enrolledUser();
    assert.equal((await reset(enabled.access_token, user.id)).status, 403, 'not a superuser');
    assert.equal((await reset(undefined, user.id)).status, 401);
    const admin = await superuserToken();
    const adminId = (await me(admin)).body.id;
    assert.equal((await reset(admin, adminId)).status, 403, 'not one\'s own');
    assert.equal((await reset(admin, 987654321)).status, 404);
    assert.equal((await reset(admin, 'me')).status, 422);
    assert.equal((await sql(`SELECT count(*) AS n FROM totp_factors WHERE user_id = ${user.id}`))[0].n, 1, 'the factor stays');
    assert.equal((await me(enabled.access_token)).status, 200, 'and the session');
  });

  test('sent twice at once, one removes it and the other finds nothing to remove', async () => {
    const { user } = await enrolledUser();
    const admin = await superuserToken();
    const statuses = (await Promise.all([reset(admin, user.id), reset(admin, user.id)])).map((r) => r.status).sort();
    assert.deepEqual(statuses, [204, 400]);
  });
});

describe('security events', () => {
  test('turning on, a recovery code and turning off are logged for the user, with no secret, code or token', async () => {
    const offset = statSync(process.env.WORKER_LOG).size;
    const { user, headers, setup: started, enabled } = await enrolledUser();
    const token = await firstStep(user.email, headers);
    assert.equal((await verify(token, enabled.recovery_codes[0], headers)).status, 200);
    const off = await disable(enabled.access_token, { password: PASSWORD, code: enabled.recovery_codes[1] }, headers);
    assert.equal(off.status, 200, JSON.stringify(off.body));
    const expected = ['second_factor_enabled', 'recovery_code_used', 'recovery_code_used', 'second_factor_disabled'];
    let events = [];
    for (let i = 0; i < 50 && events.length < expected.length; i++) {
      events = logSince(offset).filter((line) => line.log === 'security' && line.user_id === user.id);
      if (events.length < expected.length) await sleep(100);
    }
    assert.deepEqual(events.map((e) => e.event), expected, JSON.stringify(events));
    const log = readFileSync(process.env.WORKER_LOG).subarray(offset).toString('utf8');
    for (const secret of [started.secret, token, ...enabled.recovery_codes.slice(0, 2)]) {
      assert.ok(!log.includes(secret), 'nothing secret reaches the log');
    }
  });
});

describe('the QR code in Chromium', () => {
  test('the setup answer’s SVG draws a square of dark and light modules', async () => {
    const headers = fromAddress(randomIPv4());
    const { body: user } = await signup();
    const { body: tokens } = await login(user.email, PASSWORD, headers);
    const { body: started } = await setup(tokens.access_token, PASSWORD, headers);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.setContent('<!doctype html><body style="margin:0;background:#fff"><img id="qr"></body>');
      const drawn = await page.evaluate(async (svg) => {
        const img = document.getElementById('qr');
        img.src = `data:image/svg+xml;base64,${btoa(svg)}`;
        await img.decode();
        const canvas = document.createElement('canvas');
        [canvas.width, canvas.height] = [img.naturalWidth, img.naturalHeight];
        const context = canvas.getContext('2d');
        context.drawImage(img, 0, 0);
        const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
        let dark = 0;
        for (let i = 0; i < data.length; i += 4) if (data[i] < 64 && data[i + 3] > 0) dark++;
        const box = img.getBoundingClientRect();
        return { width: box.width, height: box.height, dark, pixels: data.length / 4 };
      }, started.qr_svg);
      assert.ok(drawn.width >= 200 && drawn.width === drawn.height, `a square of at least 200 px: ${JSON.stringify(drawn)}`);
      const share = drawn.dark / drawn.pixels;
      assert.ok(share > 0.2 && share < 0.7, `dark modules cover part of it: ${JSON.stringify(drawn)}`);
    } finally {
      await browser.close();
    }
  });
});

describe('a deployment without MFA_ENCRYPTION_KEY', () => {
  let server;
  before(async () => {
    server = await startServer({ JWT_SECRET: process.env.TEST_JWT_SECRET });
  });
  after(async () => {
    await server?.stop();
  });

  test('the second factor routes answer 500 "Server misconfigured" and log why; signup and login work', async () => {
    const { base } = server;
    const email = randomEmail();
    assert.equal((await signup({ email }, { base })).status, 201);
    const session = await api('/api/v1/auth/login', { method: 'POST', form: new URLSearchParams({ username: email, password: PASSWORD }), base });
    assert.equal(session.status, 200, 'a user without TOTP logs in');
    assert.ok(session.body.access_token);
    const res = await api('/api/v1/auth/mfa/totp/setup', { method: 'POST', token: session.body.access_token, json: { password: PASSWORD }, base });
    assert.equal(res.status, 500);
    assert.deepEqual(res.body, { detail: "Server misconfigured; see the worker's log" });
    const verified = await api('/api/v1/auth/mfa/verify', { method: 'POST', json: { mfa_token: 'x', code: '123456' }, base });
    assert.equal(verified.status, 500, 'verify fails closed too');
    assert.match(readFileSync(server.log, 'utf8'), /MFA_ENCRYPTION_KEY is not set/);
  });
});
