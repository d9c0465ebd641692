// The second factor (TOTP, RFC 6238) end to end, with a TOTP client of the tests' own that
// computes real codes (tests/totp.mjs): setting up, turning on and off, logging in
// with a code or a recovery code, replays, wrong codes counted in parallel, the mfa_token's
// life, other sessions ending, what D1 holds, the QR code as Chromium draws it, a
// deployment without MFA_ENCRYPTION_KEY, and a rotation of the key (servers one after the
// other on one D1).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, signup, login, me, refresh, changePassword, PASSWORD, sql, sqlText, fromAddress, randomIPv4,
  nowSeconds, startServer, launchChromium, randomEmail, logSince, superuserToken,
} from './helpers.mjs';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

// ---- The stored form, computed here as the worker is meant to (src/security/mfa_key.rs).

/** A key's id in a sealed secret: base64url of the first 8 bytes of SHA-256(label ‖ key). */
const kidOf = (hex) => createHash('sha256').update('recipe-api mfa kid\0').update(Buffer.from(hex, 'hex'))
  .digest().subarray(0, 8).toString('base64url');

/**
 * `secret` (bytes) sealed with the 64-hex `key` for user `userId`: AES-256-GCM, the user's id
 * as associated data; `v1.` (as stored before keys had ids) or `v2.<kid>.`.
 */
function sealed(key, userId, secret, version = 'v2') {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(key, 'hex'), nonce);
  cipher.setAAD(Buffer.from(`totp-secret:user:${userId}`));
  const body = Buffer.concat([nonce, cipher.update(secret), cipher.final(), cipher.getAuthTag()]).toString('base64url');
  return version === 'v1' ? `v1.${body}` : `v2.${kidOf(key)}.${body}`;
}

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
    const kid = kidOf(process.env.TEST_MFA_ENCRYPTION_KEY);
    assert.ok(row.secret.startsWith(`v2.${kid}.`), `sealed by the current key, named by its kid: ${row.secret}`);
    assert.match(row.secret, /^v2\.[A-Za-z0-9_-]{11}\.[A-Za-z0-9_-]+$/);
    assert.ok(!row.secret.includes(process.env.TEST_MFA_ENCRYPTION_KEY.slice(0, 16)), 'not the key');
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

    // The cleanup skips sealing afresh, and says nothing is wrong.
    const offset = statSync(server.log).size;
    assert.equal((await api('/cdn-cgi/local/scheduled?cron=*/5+*+*+*+*', { base })).status, 200);
    let line;
    for (let i = 0; i < 50 && !line; i++) {
      line = logSince(offset, server.log).find((value) => value.log === 'cleanup');
      if (!line) await sleep(100);
    }
    assert.ok(line, 'a cleanup line');
    assert.equal(line.error, undefined, JSON.stringify(line));
    assert.equal(line.totp_resealed, 0);
    assert.equal(line.complete, true);
  });
});

describe('rotating MFA_ENCRYPTION_KEY (servers one after the other on one D1)', () => {
  const keyA = randomBytes(32).toString('hex');
  const keyB = randomBytes(32).toString('hex');
  const unrelatedKey = randomBytes(32).toString('hex');
  const vars = (mfa) => ({ JWT_SECRET: process.env.TEST_JWT_SECRET, SIGNUP_LIMIT_PER_HOUR: '100000', ...mfa });
  let d1;
  let server;
  const serve = async (mfa) => {
    await server?.stop();
    server = await startServer(vars(mfa), { d1 });
    return server;
  };
  const on = (path, init = {}) => api(path, { ...init, base: server.base });
  const logIn = (email) => on('/api/v1/auth/login', { method: 'POST', form: new URLSearchParams({ username: email, password: PASSWORD }) });
  const secretOf = async (id) => (await sql(`SELECT secret FROM totp_factors WHERE user_id = ${id}`, { d1 }))[0].secret;

  /** A user with TOTP on (or only set up, `on: false`) on the current server. */
  async function enrol({ on: turnOn = true } = {}) {
    const email = randomEmail();
    const created = await signup({ email }, { base: server.base });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const session = await logIn(email);
    const started = await on('/api/v1/auth/mfa/totp/setup', { method: 'POST', token: session.body.access_token, json: { password: PASSWORD } });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    const app = authenticator(started.body.secret);
    let enabled;
    if (turnOn) {
      enabled = await on('/api/v1/auth/mfa/totp/enable', { method: 'POST', token: session.body.access_token, json: { code: await app.code() } });
      assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
    }
    return { id: created.body.id, email, app, token: session.body.access_token, enabled: enabled?.body };
  }

  /** Both steps of a login with a code of `app` (or `code`): the second step's answer. */
  async function logInWithCode({ email, app }, code) {
    const first = await logIn(email);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.mfa_required, true, JSON.stringify(first.body));
    return on('/api/v1/auth/mfa/verify', { method: 'POST', json: { mfa_token: first.body.mfa_token, code: code ?? await app.code() } });
  }

  /** Runs the scheduled handler on the current server: its `{"log":"cleanup"}` line. */
  async function cleanup() {
    const offset = statSync(server.log).size;
    const res = await on('/cdn-cgi/local/scheduled?cron=*/5+*+*+*+*');
    assert.equal(res.status, 200, `the scheduled handler: ${JSON.stringify(res.body)}`);
    for (let i = 0; i < 50; i++) {
      const lines = logSince(offset, server.log).filter((value) => value.log === 'cleanup');
      if (lines.length > 0) return lines[0];
      await sleep(100);
    }
    assert.fail('no {"log":"cleanup"} line in the log');
  }

  before(() => {
    d1 = mkdtempSync(join(tmpdir(), 'recipe-api-rotation-'));
  });
  after(async () => {
    await server?.stop();
    rmSync(d1, { recursive: true, force: true });
  });

  test('secrets sealed with the old key open while it is previous, the cleanup seals them afresh, then the old key can go', async () => {
    // Key A: users enrol. One row is rewritten as stored before keys had ids (v1, key A), one
    // as sealed by a key that is not configured anywhere.
    await serve({ MFA_ENCRYPTION_KEY: keyA });
    const sealedByA = await enrol();
    const storedV1 = await enrol();
    const later = await enrol();
    const pending = await enrol({ on: false });
    const racers = await Promise.all([1, 2, 3, 4].map(() => enrol({ on: false })));
    const lost = await enrol();
    for (const user of [sealedByA, storedV1, later, pending, lost]) {
      assert.ok((await secretOf(user.id)).startsWith(`v2.${kidOf(keyA)}.`), 'sealed by A, named by its kid');
    }
    const raw = (user) => base32Decode(user.app.secret);
    await sql(`UPDATE totp_factors SET secret = ${sqlText(sealed(keyA, storedV1.id, raw(storedV1), 'v1'))} WHERE user_id = ${storedV1.id}`, { d1 });
    const lostRow = sealed(unrelatedKey, lost.id, raw(lost));
    await sql(`UPDATE totp_factors SET secret = ${sqlText(lostRow)} WHERE user_id = ${lost.id}`, { d1 });
    const v1Row = await secretOf(storedV1.id);
    assert.match(v1Row, /^v1\./);

    // Key B, with A as previous: A's rows open, by kid or (v1) by trying.
    await serve({ MFA_ENCRYPTION_KEY: keyB, MFA_ENCRYPTION_KEY_PREVIOUS: keyA });
    const byA = await logInWithCode(sealedByA);
    assert.equal(byA.status, 200, JSON.stringify(byA.body));
    assert.ok(byA.body.access_token);
    assert.ok((await secretOf(sealedByA.id)).startsWith(`v2.${kidOf(keyA)}.`), 'a login seals nothing afresh');
    // A row moved to another user still does not open (the 500 comes before the code counts).
    await sql(`UPDATE totp_factors SET secret = ${sqlText(await secretOf(sealedByA.id))} WHERE user_id = ${storedV1.id}`, { d1 });
    const refused = await logInWithCode(storedV1, storedV1.app.wrong());
    assert.equal(refused.status, 500, 'the row of another user does not open');
    await sql(`UPDATE totp_factors SET secret = ${sqlText(v1Row)} WHERE user_id = ${storedV1.id}`, { d1 });
    const byV1 = await logInWithCode(storedV1);
    assert.equal(byV1.status, 200, `a v1 row opens with the previous key: ${JSON.stringify(byV1.body)}`);

    // The cleanup seals A's rows afresh with B and leaves the one neither key opens. Factors
    // turned on while it runs: each either turns on (sealed afresh by the enabling, and the
    // cleanup's write finds the row changed) or is refused as an invalid code, when the
    // cleanup's write came first, and the same code then works.
    const codes = await Promise.all(racers.map((racer) => racer.app.code()));
    const enableWith = (racer, code) => on('/api/v1/auth/mfa/totp/enable', { method: 'POST', token: racer.token, json: { code } });
    const [line, ...raced] = await Promise.all([cleanup(), ...racers.map((racer, i) => enableWith(racer, codes[i]))]);
    const refusedWhileResealed = raced.filter((res) => res.status === 400);
    for (const res of raced) {
      assert.ok(res.status === 200 || (res.status === 400 && res.body.detail === 'Invalid code'), JSON.stringify(res.body));
    }
    for (const [i, res] of raced.entries()) {
      if (res.status !== 400) continue;
      const retried = await enableWith(racers[i], codes[i]);
      assert.equal(retried.status, 200, `the same code again: ${JSON.stringify(retried.body)}`);
    }
    assert.equal(line.error, undefined, JSON.stringify(line));
    // A's four rows, the pending one and the v1 one included, and the racers the cleanup
    // wrote first: every one refused, and any read after the cleanup's write.
    assert.ok(
      line.totp_resealed >= 4 + refusedWhileResealed.length && line.totp_resealed <= 4 + racers.length,
      `${refusedWhileResealed.length} refused: ${JSON.stringify(line)}`,
    );
    assert.equal(line.totp_unreadable, 1, JSON.stringify(line));
    assert.equal(line.complete, true, JSON.stringify(line));
    for (const racer of racers) {
      const [row] = await sql(`SELECT secret, enabled_at FROM totp_factors WHERE user_id = ${racer.id}`, { d1 });
      assert.ok(row.enabled_at > 0 && row.secret.startsWith(`v2.${kidOf(keyB)}.`), JSON.stringify(row));
      const codesLeft = await sql(`SELECT count(*) AS n FROM totp_recovery_codes WHERE user_id = ${racer.id}`, { d1 });
      assert.equal(codesLeft[0].n, 10);
    }
    for (const user of [sealedByA, storedV1, later, pending]) {
      assert.ok((await secretOf(user.id)).startsWith(`v2.${kidOf(keyB)}.`), `user ${user.id} is sealed by B now`);
    }
    assert.equal(await secretOf(lost.id), lostRow, 'a row neither key opens is left as it is');
    const again = await cleanup();
    assert.equal(again.totp_resealed, 0, JSON.stringify(again));
    assert.equal(again.totp_unreadable, 1, JSON.stringify(again));
    const left = await sql(`SELECT count(*) AS n FROM totp_factors WHERE substr(secret, 1, 15) <> ${sqlText(`v2.${kidOf(keyB)}.`)}`, { d1 });
    assert.equal(left[0].n, 1, "the runbook's check: only the unreadable row is left");

    // Key B alone: every resealed row opens; the previous key is not needed.
    await serve({ MFA_ENCRYPTION_KEY: keyB });
    const alone = await logInWithCode(later);
    assert.equal(alone.status, 200, JSON.stringify(alone.body));
    const turnedOn = await on('/api/v1/auth/mfa/totp/enable', { method: 'POST', token: pending.token, json: { code: await pending.app.code() } });
    assert.equal(turnedOn.status, 200, `a factor set up under A, resealed while pending, turns on: ${JSON.stringify(turnedOn.body)}`);
    const off = await on('/api/v1/auth/mfa/totp', {
      method: 'DELETE', token: sealedByA.enabled.access_token, json: { password: PASSWORD, code: sealedByA.enabled.recovery_codes[0] },
    });
    assert.equal(off.status, 200, `a factor resealed while on turns off: ${JSON.stringify(off.body)}`);
    assert.equal((await sql(`SELECT count(*) AS n FROM totp_factors WHERE user_id = ${sealedByA.id}`, { d1 }))[0].n, 0);
  });

  test('a key that sealed none of the rows, or a malformed previous key, is refused as before, and the log says why', async () => {
    await serve({ MFA_ENCRYPTION_KEY: keyA });
    const user = await enrol();
    await serve({ MFA_ENCRYPTION_KEY: randomBytes(32).toString('hex') });
    let offset = statSync(server.log).size;
    const unrelated = await logInWithCode(user, user.app.wrong());
    assert.equal(unrelated.status, 500);
    assert.deepEqual(unrelated.body, { detail: "Server misconfigured; see the worker's log" });
    assert.match(readFileSync(server.log, 'utf8').slice(offset), /neither MFA_ENCRYPTION_KEY nor MFA_ENCRYPTION_KEY_PREVIOUS opens/);
    const line = await cleanup();
    assert.equal(line.error, undefined, JSON.stringify(line));
    assert.equal(line.totp_resealed, 0, 'without a previous key the cleanup seals nothing afresh');
    assert.equal(line.totp_unreadable, 0, 'and reads no factor');

    await serve({ MFA_ENCRYPTION_KEY: keyB, MFA_ENCRYPTION_KEY_PREVIOUS: keyA.replace(/^../, 'zz') });
    offset = statSync(server.log).size;
    const malformed = await logInWithCode(user, user.app.wrong());
    assert.equal(malformed.status, 500);
    assert.match(readFileSync(server.log, 'utf8').slice(offset), /MFA_ENCRYPTION_KEY_PREVIOUS must be 64 hex characters/);
    const failed = await cleanup();
    assert.match(failed.error ?? '', /MFA_ENCRYPTION_KEY_PREVIOUS/, JSON.stringify(failed));
    assert.equal(failed.totp_resealed, 0);
    assert.ok((await secretOf(user.id)).startsWith(`v2.${kidOf(keyA)}.`), 'nothing sealed afresh');
  });
});

