// Passkeys (WebAuthn) in Chromium with its virtual authenticator: registering, listing and
// renaming; username-less sign-in; a TOTP user's second step answered with a passkey;
// removal and the last way in kept; one challenge used by ten requests at once.
//
// Browsers refuse an IP address as an RP ID, so every ceremony runs on a page at
// http://localhost:PORT (the API's Swagger UI page, under its strict CSP), and its requests
// go from that page to its own origin: the RP ID is then `localhost`, by default.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import {
  api, signup, login, decodeClaims, fromAddress, randomIPv4, sql, sqlText, launchChromium,
  logSince, BASE_URL, PASSWORD,
} from './helpers.mjs';
import { authenticator } from './totp.mjs';
import { SoftwareAuthenticator } from './software-authenticator.mjs';

const LOCAL = BASE_URL.replace('127.0.0.1', 'localhost');
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

let browser;
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
});

/** A page at http://localhost:PORT with a virtual authenticator of its own. */
async function pageWithAuthenticator() {
  const page = await browser.newPage();
  await page.goto(`${LOCAL}/docs`);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  return page;
}

/** A request from the page to its own origin. */
function call(page, path, { method = 'POST', json, token } = {}) {
  return page.evaluate(async ({ path, method, json, token }) => {
    const headers = {};
    if (json !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(path, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
    const text = await res.text();
    let body;
    try { body = JSON.parse(text); } catch { body = text; }
    return { status: res.status, body };
  }, { path, method, json, token });
}

/** navigator.credentials.create with the server's options; the credential's toJSON(). */
function create(page, options) {
  return page.evaluate(async (options) => {
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
    const credential = await navigator.credentials.create({ publicKey });
    return credential.toJSON();
  }, options);
}

/** navigator.credentials.get with the server's options; the credential's toJSON(). */
function get(page, options) {
  return page.evaluate(async (options) => {
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
    const credential = await navigator.credentials.get({ publicKey });
    return credential.toJSON();
  }, options);
}

/** A new user signed in with their password: a fresh session. */
async function newSignedIn() {
  const headers = fromAddress(randomIPv4());
  const { body: user } = await signup();
  const session = await login(user.email, PASSWORD, headers);
  assert.equal(session.status, 200, JSON.stringify(session.body));
  return { user, headers, token: session.body.access_token };
}

/** Registers a passkey from `page` for the holder of `token`: the 201's body. */
async function register(page, token, name) {
  const options = await call(page, '/api/v1/auth/passkeys/register/options', { token });
  assert.equal(options.status, 200, JSON.stringify(options.body));
  const credential = await create(page, options.body);
  const res = await call(page, '/api/v1/auth/passkeys/register', { token, json: { credential, name } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { passkey: res.body, options: options.body, credential };
}

/** A username-less sign-in's credential, from `page`. */
async function signInCredential(page) {
  const options = await call(page, '/api/v1/auth/passkeys/login/options');
  assert.equal(options.status, 200, JSON.stringify(options.body));
  assert.deepEqual(options.body.allowCredentials, []);
  assert.equal(options.body.userVerification, 'required');
  return get(page, options.body);
}

describe('passkeys in Chromium', () => {
  test('register, list and rename a passkey; the options are WebAuthn\'s JSON forms', async () => {
    const { user, token } = await newSignedIn();
    const page = await pageWithAuthenticator();
    const { passkey, options, credential } = await register(page, token);
    assert.equal(options.rp.id, 'localhost');
    assert.equal(options.rp.name, 'Recipe API');
    assert.equal(options.user.name, user.email);
    assert.notEqual(options.user.id, String(user.id));
    assert.equal(Buffer.from(options.user.id, 'base64url').length, 32, 'a random handle');
    assert.equal(Buffer.from(options.challenge, 'base64url').length, 32);
    assert.deepEqual(options.pubKeyCredParams.map((p) => p.alg), [-8, -7, -257]);
    assert.equal(options.authenticatorSelection.residentKey, 'required');
    assert.equal(options.authenticatorSelection.userVerification, 'required');
    assert.equal(options.attestation, 'none');
    assert.deepEqual(options.excludeCredentials, []);

    assert.equal(passkey.credential_id, credential.id);
    assert.match(passkey.name, /Chrom/, 'named after the device');
    assert.match(passkey.created_at, RFC3339);
    assert.equal(passkey.last_used_at, null);
    const stored = await sql(`SELECT algorithm FROM passkeys WHERE id = ${passkey.id}`);
    assert.equal(stored[0].algorithm, -8, 'the virtual authenticator picks EdDSA');

    const again = await call(page, '/api/v1/auth/passkeys/register/options', { token });
    assert.deepEqual(again.body.excludeCredentials.map((c) => c.id), [credential.id]);
    assert.equal(again.body.user.id, options.user.id, 'the handle is stable');

    const renamed = await call(page, `/api/v1/auth/passkeys/${passkey.id}`, { method: 'PATCH', token, json: { name: 'Work laptop' } });
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
    assert.equal(renamed.body.name, 'Work laptop');
    const list = await call(page, '/api/v1/auth/passkeys', { method: 'GET', token });
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.map((p) => [p.id, p.name]), [[passkey.id, 'Work laptop']]);

    const other = await newSignedIn();
    const notTheirs = await call(page, `/api/v1/auth/passkeys/${passkey.id}`, { method: 'PATCH', token: other.token, json: { name: 'Mine' } });
    assert.equal(notTheirs.status, 404);
    await page.close();
  });

  test('registering needs a sign-in from the last 10 minutes, and the challenge is the user\'s', async () => {
    const { token } = await newSignedIn();
    const page = await pageWithAuthenticator();
    const options = await call(page, '/api/v1/auth/passkeys/register/options', { token });
    const credential = await create(page, options.body);
    const someoneElse = await newSignedIn();
    const theirs = await call(page, '/api/v1/auth/passkeys/register', { token: someoneElse.token, json: { credential } });
    assert.equal(theirs.status, 400, 'another user\'s challenge');
    await sql(`UPDATE sessions SET created_at = created_at - 601 WHERE id = ${sqlText(decodeClaims(token).sid)}`);
    const stale = await call(page, '/api/v1/auth/passkeys/register', { token, json: { credential } });
    assert.equal(stale.status, 403, JSON.stringify(stale.body));
    assert.match(stale.body.detail, /[Ss]ign in again/);
    const staleOptions = await call(page, '/api/v1/auth/passkeys/register/options', { token });
    assert.equal(staleOptions.status, 403);
    await page.close();
  });

  test('sign in username-less: a token pair, a new session, no password typed', async () => {
    const { user, token } = await newSignedIn();
    const page = await pageWithAuthenticator();
    const { passkey } = await register(page, token);
    const credential = await signInCredential(page);
    const res = await call(page, '/api/v1/auth/passkeys/login', { json: { credential } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.token_type, 'bearer');
    assert.ok(res.body.refresh_token);
    assert.notEqual(decodeClaims(res.body.access_token).sid, decodeClaims(token).sid, 'a new session');
    const me = await api('/api/v1/auth/me', { token: res.body.access_token });
    assert.equal(me.status, 200);
    assert.equal(me.body.email, user.email);
    const [row] = await sql(`SELECT sign_count, last_used_at FROM passkeys WHERE id = ${passkey.id}`);
    assert.ok(row.last_used_at > 0);

    // The same answer again, with the stored counter put back so that only the challenge's
    // single use can refuse it: the batch that records the challenge fails, nothing is written.
    await sql(`UPDATE passkeys SET sign_count = 0 WHERE id = ${passkey.id}`);
    const sessionsBefore = (await sql(`SELECT count(*) AS n FROM sessions WHERE user_id = ${user.id}`))[0].n;
    const offset = statSync(process.env.WORKER_LOG).size;
    const replay = await call(page, '/api/v1/auth/passkeys/login', { json: { credential } });
    assert.equal(replay.status, 400, 'a challenge works once');
    assert.deepEqual(replay.body, { detail: 'Invalid passkey' });
    let refusals = [];
    for (let i = 0; i < 50 && refusals.length === 0; i += 1) {
      await delay(100);
      refusals = logSince(offset).filter((line) => line.event === 'passkey_refused');
    }
    assert.deepEqual(refusals.map((line) => [line.ceremony, line.reason]), [['login', 'challenge']]);
    const sessionsAfter = (await sql(`SELECT count(*) AS n FROM sessions WHERE user_id = ${user.id}`))[0].n;
    assert.equal(sessionsAfter, sessionsBefore, 'no session from the replay');

    const unknown = structuredClone(await signInCredential(page));
    await sql(`DELETE FROM passkeys WHERE id = ${passkey.id}`);
    const gone = await call(page, '/api/v1/auth/passkeys/login', { json: { credential: unknown } });
    assert.deepEqual([gone.status, gone.body], [400, { detail: 'Invalid passkey' }], 'unknown: the same 400');
    await page.close();
  });

  test('an inactive user is refused', async () => {
    const { user, token } = await newSignedIn();
    const page = await pageWithAuthenticator();
    await register(page, token);
    await sql(`UPDATE users SET is_active = 0 WHERE id = ${user.id}`);
    const res = await call(page, '/api/v1/auth/passkeys/login', { json: { credential: await signInCredential(page) } });
    assert.deepEqual([res.status, res.body], [400, { detail: 'Inactive user' }]);
    await page.close();
  });

  test('a counter that went backwards refuses the sign-in and is logged as passkey_counter_regression', async () => {
    const { user, token } = await newSignedIn();
    const page = await pageWithAuthenticator();
    const { passkey } = await register(page, token);
    await sql(`UPDATE passkeys SET sign_count = 1000000 WHERE id = ${passkey.id}`);
    const offset = statSync(process.env.WORKER_LOG).size;
    const res = await call(page, '/api/v1/auth/passkeys/login', { json: { credential: await signInCredential(page) } });
    assert.deepEqual([res.status, res.body], [400, { detail: 'Invalid passkey' }]);
    let logged = [];
    for (let i = 0; i < 50 && logged.length === 0; i += 1) {
      await delay(100);
      logged = logSince(offset).filter((line) => line.event === 'passkey_counter_regression' && line.user_id === user.id);
    }
    assert.equal(logged.length, 1, 'one passkey_counter_regression line');
    assert.equal(logged[0].passkey_id, passkey.id);
    assert.equal(logged[0].stored, 1000000);
    const [row] = await sql(`SELECT sign_count, last_used_at FROM passkeys WHERE id = ${passkey.id}`);
    assert.deepEqual([row.sign_count, row.last_used_at], [1000000, null], 'nothing written');
    await page.close();
  });

  test('ten sign-ins with one challenge at once: exactly one succeeds', async () => {
    const { token } = await newSignedIn();
    const page = await pageWithAuthenticator();
    await register(page, token);
    const credential = await signInCredential(page);
    const statuses = await page.evaluate(async (credential) => {
      const one = () => fetch('/api/v1/auth/passkeys/login', {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ credential }),
      }).then((r) => r.status);
      return Promise.all(Array.from({ length: 10 }, one));
    }, credential);
    assert.deepEqual(statuses.sort(), [200, 400, 400, 400, 400, 400, 400, 400, 400, 400]);
    await page.close();
  });

  test('a TOTP user answers the second step with a passkey', async () => {
    const { user, headers, token } = await newSignedIn();
    const started = await api('/api/v1/auth/mfa/totp/setup', { method: 'POST', token, json: { password: PASSWORD }, headers });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    const app = authenticator(started.body.secret);
    const enabled = await api('/api/v1/auth/mfa/totp/enable', { method: 'POST', token, json: { code: await app.code() }, headers });
    assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
    const page = await pageWithAuthenticator();
    const first = await login(user.email, PASSWORD, headers);
    assert.deepEqual(first.body.methods, ['totp', 'recovery_code'], 'no passkey yet');
    await register(page, enabled.body.access_token);

    const step = await login(user.email, PASSWORD, headers);
    assert.equal(step.body.mfa_required, true);
    assert.deepEqual(step.body.methods, ['totp', 'recovery_code', 'passkey']);
    const mfaToken = step.body.mfa_token;
    const options = await call(page, '/api/v1/auth/mfa/passkey/options', { json: { mfa_token: mfaToken } });
    assert.equal(options.status, 200, JSON.stringify(options.body));
    assert.equal(options.body.allowCredentials.length, 1);
    const credential = await get(page, options.body);
    const verified = await call(page, '/api/v1/auth/mfa/verify', { json: { mfa_token: mfaToken, credential } });
    assert.equal(verified.status, 200, JSON.stringify(verified.body));
    assert.ok(verified.body.access_token);
    const me = await api('/api/v1/auth/me', { token: verified.body.access_token });
    assert.equal(me.body.email, user.email);
    const again = await call(page, '/api/v1/auth/mfa/verify', { json: { mfa_token: mfaToken, credential } });
    assert.equal(again.status, 401, 'the mfa_token is used up');

    // A second step's challenge is for its own mfa_token only.
    const other = await login(user.email, PASSWORD, headers);
    const crossed = await call(page, '/api/v1/auth/mfa/verify', { json: { mfa_token: other.body.mfa_token, credential } });
    assert.equal(crossed.status, 400, JSON.stringify(crossed.body));
    await page.close();
  });

  test('removing a passkey, and the last way in kept', async () => {
    const { user, token } = await newSignedIn();
    const page = await pageWithAuthenticator();
    const { passkey } = await register(page, token);
    // A user with no password (as provider sign-up makes them) and no identity.
    await sql(`UPDATE users SET hashed_password = '' WHERE id = ${user.id}`);
    const refused = await call(page, `/api/v1/auth/passkeys/${passkey.id}`, { method: 'DELETE', token });
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    assert.match(refused.body.detail, /last way/);

    // A second passkey, on another authenticator (the first is excluded on its own).
    const phone = await pageWithAuthenticator();
    const { passkey: second } = await register(phone, token, 'Phone');
    const removed = await call(page, `/api/v1/auth/passkeys/${passkey.id}`, { method: 'DELETE', token });
    assert.equal(removed.status, 204, JSON.stringify(removed.body));
    const list = await call(page, '/api/v1/auth/passkeys', { method: 'GET', token });
    assert.deepEqual(list.body.map((p) => p.id), [second.id]);
    const last = await call(page, `/api/v1/auth/passkeys/${second.id}`, { method: 'DELETE', token });
    assert.equal(last.status, 400, 'now the last way in');
    const missing = await call(page, `/api/v1/auth/passkeys/${passkey.id}`, { method: 'DELETE', token });
    assert.equal(missing.status, 404);

    await sql(`UPDATE sessions SET created_at = created_at - 601 WHERE id = ${sqlText(decodeClaims(token).sid)}`);
    await sql(`UPDATE users SET hashed_password = 'x' WHERE id = ${user.id}`);
    const stale = await call(page, `/api/v1/auth/passkeys/${second.id}`, { method: 'DELETE', token });
    assert.equal(stale.status, 403, 'removal needs a fresh session');
    await page.close();
    await phone.close();
  });
});

describe('passkeys from a software authenticator (ES256, node:crypto)', () => {
  /** A new user with a passkey of `authenticator`'s registered, and their address. */
  async function registered(authenticator) {
    const { headers, token } = await newSignedIn();
    const options = await api('/api/v1/auth/passkeys/register/options', { method: 'POST', token, headers });
    assert.equal(options.status, 200, JSON.stringify(options.body));
    const credential = authenticator.register(options.body);
    const res = await api('/api/v1/auth/passkeys/register', { method: 'POST', token, headers, json: { credential } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return { headers, passkey: res.body };
  }

  async function loginOptions(headers) {
    const res = await api('/api/v1/auth/passkeys/login/options', { method: 'POST', headers });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  }

  test('a DER ES256 signature verifies; another key\'s does not', async () => {
    const authenticator = new SoftwareAuthenticator(BASE_URL);
    const { headers } = await registered(authenticator);
    const good = authenticator.assert(await loginOptions(headers), 1);
    const ok = await api('/api/v1/auth/passkeys/login', { method: 'POST', headers, json: { credential: good } });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(decodeClaims(ok.body.access_token).type, 'access_token');
    // The same credential id and user handle, signed by a key that is not the passkey's.
    const impostor = new SoftwareAuthenticator(BASE_URL);
    impostor.credentialId = authenticator.credentialId;
    impostor.userHandle = authenticator.userHandle;
    const forged = impostor.assert(await loginOptions(headers), 2);
    const refused = await api('/api/v1/auth/passkeys/login', { method: 'POST', headers, json: { credential: forged } });
    assert.deepEqual([refused.status, refused.body], [400, { detail: 'Invalid passkey' }]);
  });

  test('two sign-ins with one counter value at once: the statement that writes lets exactly one through', async () => {
    const authenticator = new SoftwareAuthenticator(BASE_URL);
    const { headers, passkey } = await registered(authenticator);
    const offset = statSync(process.env.WORKER_LOG).size;
    // Two challenges, two assertions, one counter value: each passes every check on its own.
    const credentials = [
      authenticator.assert(await loginOptions(headers), 5),
      authenticator.assert(await loginOptions(headers), 5),
    ];
    const answers = await Promise.all(credentials.map((credential) => api('/api/v1/auth/passkeys/login', {
      method: 'POST', headers, json: { credential },
    })));
    assert.deepEqual(answers.map((res) => res.status).sort(), [200, 400], JSON.stringify(answers.map((r) => r.body)));
    const [row] = await sql(`SELECT sign_count FROM passkeys WHERE id = ${passkey.id}`);
    assert.equal(row.sign_count, 5);
    let logged = [];
    for (let i = 0; i < 50 && logged.length === 0; i += 1) {
      await delay(100);
      logged = logSince(offset).filter((line) => line.event === 'passkey_counter_regression' && line.passkey_id === passkey.id);
    }
    assert.equal(logged.length, 1, 'the one refused is logged');
    assert.equal(logged[0].presented, 5);
    const sessions = await sql(`SELECT count(*) AS n FROM sessions WHERE user_id = (SELECT user_id FROM passkeys WHERE id = ${passkey.id})`);
    assert.equal(sessions[0].n, 2, 'the password login\'s session and one passkey session');
  });
});
