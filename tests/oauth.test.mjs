// Sign-in with identity providers end to end, against a real OpenID provider
// (scripts/oidc-provider.mjs, the npm package oidc-provider) and the GitHub stand-in
// (scripts/github-oauth.mjs), both started by scripts/with-server.sh: the whole flow in
// Chromium, then by plain HTTP the browser-binding cookie, the one-time code (replayed, in
// parallel, expired, bound to the page by its required code_challenge, a planted one),
// redirect_to, provider refusals, unverified emails, the login counters (and a provider's
// unverified email that must not touch another account's), linking to and taking over
// existing accounts, unlinking, users without a password, inactive users, TOTP, the
// security log lines, and migration 0014's fill of existing identities.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  api, signup, login, newUser, me, refresh, PASSWORD, BASE_URL, sql, sqlText, logSince,
  launchChromium, superuserToken, fromAddress, randomIPv4, mailTo, tokenFrom, startServer,
  applyMigrations,
} from './helpers.mjs';
import { codeAt as totpCode, stepNow } from './totp.mjs';

const OIDC = process.env.OIDC_ISSUER_URL;
const GITHUB = process.env.GITHUB_STANDIN_URL;
if (!OIDC || !GITHUB) throw new Error('OIDC_ISSUER_URL and GITHUB_STANDIN_URL are not set: run the tests with scripts/with-server.sh');

const HOME = `${BASE_URL}/`;
const STATE_MISMATCH = { detail: 'Sign-in state does not match this browser; start again' };
const INVALID_CODE = { detail: 'Invalid or expired sign-in code' };
const INCORRECT = { detail: 'Incorrect username or password' };
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

const unique = () => randomUUID().slice(0, 8);
const countOf = (statuses, status) => statuses.filter((s) => s === status).length;

// ---- The worker's routes.

const providers = () => api('/api/v1/auth/oauth/providers');

/** A page's PKCE pair (RFC 7636): a random code_verifier it keeps, and its S256 code_challenge. */
function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/**
 * GET authorize with `redirect_to` (left out when undefined), the page's `challenge` (a fresh
 * one unless given; left out when null) and any `extra` query parameters.
 */
const authorize = (provider, redirectTo, headers = {}, { challenge = pkce().challenge, ...extra } = {}) => {
  const query = new URLSearchParams({
    ...(redirectTo === undefined ? {} : { redirect_to: redirectTo }),
    ...(challenge === null ? {} : { code_challenge: challenge, code_challenge_method: 'S256' }),
    ...extra,
  });
  return api(`/api/v1/auth/oauth/${provider}/authorize?${query}`, { redirect: 'manual', headers });
};
const callback = (url, cookie, headers = {}) => api(url.replace(BASE_URL, ''), {
  redirect: 'manual', headers: cookie ? { ...headers, cookie } : headers,
});
// Callbacks and exchanges count against the login counters of their client address, so each
// flow comes from an address of its own (as tests/auth.test.mjs's failed logins do).
/** POST the code with `verifier` as its code_verifier (left out when undefined). */
const exchange = (code, verifier, headers = fromAddress(randomIPv4())) => api('/api/v1/auth/oauth/token', {
  method: 'POST', json: { code, ...(verifier === undefined ? {} : { code_verifier: verifier }) }, headers,
});
const identities = (token) => api('/api/v1/auth/me/identities', { token });
const unlink = (token, provider) => api(`/api/v1/auth/me/identities/${provider}`, { method: 'DELETE', token });

/** The browser-binding cookie an authorize answer set, as a Cookie header value (name=value). */
function flowCookie(res) {
  const line = res.headers.getSetCookie().find((c) => /^(__Host-)?recipe_oauth=/.test(c));
  assert.ok(line, `authorize sets the recipe_oauth cookie: ${res.headers.getSetCookie()}`);
  return line.split(';')[0];
}

/** The parameters of a URL's fragment. */
const fragment = (url) => Object.fromEntries(new URLSearchParams(new URL(url).hash.slice(1)));

// ---- Signing in at the providers without a browser.

/**
 * Goes through the OpenID provider's development pages (login, then consent) from its
 * authorization URL `start`, with a cookie jar of its own; returns the URL it sends the
 * browser back to (the worker's callback, with code and state, or an error).
 */
async function signInAtOpenIdProvider(start, loginName) {
  const jar = new Map();
  const send = async (url, init = {}) => {
    const res = await fetch(url, {
      redirect: 'manual', ...init,
      headers: { ...init.headers, cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const at = pair.indexOf('=');
      jar.set(pair.slice(0, at), pair.slice(at + 1));
    }
    return res;
  };
  let res = await send(start);
  for (let step = 0; step < 10; step++) {
    const location = res.headers.get('location');
    if (location && !location.startsWith(OIDC) && !location.startsWith('/')) return location;
    if (location) {
      res = await send(new URL(location, OIDC));
      continue;
    }
    const html = await res.text();
    assert.equal(res.status, 200, `the provider's page: ${html.slice(0, 300)}`);
    const action = /action="([^"]+)"/.exec(html)?.[1];
    assert.ok(action, `a form on the provider's page: ${html.slice(0, 300)}`);
    const form = html.includes('name="login"')
      ? { prompt: 'login', login: loginName, password: 'any password' }
      : { prompt: 'consent' };
    res = await send(new URL(action, OIDC), { method: 'POST', body: new URLSearchParams(form) });
  }
  throw new Error('the OpenID provider did not send the browser back');
}

/** Submits the GitHub stand-in's sign-in form for the authorization URL `start`; returns where it redirects. */
async function signInAtGitHub(start, { login: loginName, email, verified = true, action = 'authorize' }) {
  const params = Object.fromEntries(new URL(start).searchParams);
  const form = { ...params, login: loginName, email, action, ...(verified ? { verified: 'true' } : {}) };
  const res = await fetch(`${GITHUB}/login/oauth/authorize`, { method: 'POST', redirect: 'manual', body: new URLSearchParams(form) });
  assert.equal(res.status, 302, `the stand-in's form: ${await res.text()}`);
  return res.headers.get('location');
}

/**
 * One sign-in up to the worker's callback: authorize (redirect_to `redirectTo`, the challenge
 * of `page`'s verifier), the provider's pages, and the callback with the flow's cookie. `as`
 * is the OpenID login name, or the GitHub {login, email, verified}. Returns the callback's
 * answer and the flow's parts, the page's verifier among them.
 */
async function signIn(provider, as, { redirectTo = HOME, headers = fromAddress(randomIPv4()), page = pkce() } = {}) {
  const started = await authorize(provider, redirectTo, headers, { challenge: page.challenge });
  assert.equal(started.status, 302, JSON.stringify(started.body));
  const cookie = flowCookie(started);
  const providerUrl = started.headers.get('location');
  const back = provider === 'oidc' ? await signInAtOpenIdProvider(providerUrl, as) : await signInAtGitHub(providerUrl, as);
  assert.ok(back.startsWith(`${BASE_URL}/api/v1/auth/oauth/${provider}/callback?`), `back at the callback: ${back}`);
  const res = await callback(back, cookie, headers);
  return { res, cookie, providerUrl, callbackUrl: back, location: res.headers.get('location'), verifier: page.verifier };
}

/** A sign-in that must succeed: its one-time code (and the callback's answer). */
async function signInCode(provider, as, options) {
  const flow = await signIn(provider, as, options);
  assert.equal(flow.res.status, 302, JSON.stringify(flow.res.body));
  const { code, error, error_description: description } = fragment(flow.location);
  assert.ok(code, `a code in ${flow.location} (error ${error}: ${description})`);
  return { ...flow, code };
}

/** A sign-in through to a token pair: the login's answer. */
async function signInTokens(provider, as, options) {
  const { code, verifier } = await signInCode(provider, as, options);
  const res = await exchange(code, verifier);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

/** A sign-in that must be refused: the error code and description in the redirect's fragment. */
async function signInRefused(provider, as, options) {
  const flow = await signIn(provider, as, options);
  assert.equal(flow.res.status, 302, JSON.stringify(flow.res.body));
  const hash = fragment(flow.location);
  assert.equal(hash.code, undefined, `no code in ${flow.location}`);
  return { ...flow, ...hash };
}

const githubAccount = (fields = {}) => {
  const name = `cook-${unique()}`;
  return { login: name, email: `${name}@example.com`, verified: true, ...fields };
};

/** The GitHub stand-in's record of the requests it got, newest first. */
const githubRequests = async (path) => (await fetch(`${GITHUB}/api/requests${path ? `?path=${encodeURIComponent(path)}` : ''}`)).json();

const usersWithEmail = async (email) => (await sql(`SELECT count(*) AS n FROM users WHERE email = ${sqlText(email)}`))[0].n;

// ---- The security log (WORKER_LOG).

const LOG = process.env.WORKER_LOG;
const logOffset = () => statSync(LOG).size;

/** The oauth_* lines from `offset` on, once `fits` holds for them (the worker may log after answering). */
async function oauthEvents(offset, fits = (events) => events.length > 0) {
  let events = [];
  for (let waited = 0; waited <= 3000; waited += 100) {
    events = logSince(offset).filter((e) => e.log === 'security' && /^oauth_/.test(e.event ?? ''));
    if (fits(events)) return events;
    await delay(100);
  }
  return events;
}

async function assertSignInLogged(offset, provider, userId, outcome) {
  const events = await oauthEvents(offset, (found) => found.some((e) => e.event === 'oauth_sign_in'));
  const lines = events.filter((e) => e.event === 'oauth_sign_in');
  assert.equal(lines.length, 1, `one oauth_sign_in line: ${JSON.stringify(events)}`);
  assert.deepEqual(
    { event: lines[0].event, provider: lines[0].provider, user_id: Number(lines[0].user_id), outcome: lines[0].outcome },
    { event: 'oauth_sign_in', provider, user_id: userId, outcome },
  );
}

async function assertRefusalLogged(offset, provider, reason) {
  const events = await oauthEvents(offset, (found) => found.some((e) => e.event === 'oauth_refused'));
  const lines = events.filter((e) => e.event === 'oauth_refused');
  assert.equal(lines.length, 1, `one oauth_refused line: ${JSON.stringify(events)}`);
  assert.equal(lines[0].provider, provider, JSON.stringify(lines[0]));
  assert.equal(lines[0].reason, reason, JSON.stringify(lines[0]));
  assert.equal(events.filter((e) => e.event === 'oauth_sign_in').length, 0, 'and no sign-in');
}

// ---- The tests.

describe('the providers list', () => {
  test('lists the enabled providers (GitHub and the OpenID provider, not Google) with their absolute authorize URLs', async () => {
    const res = await providers();
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.map((p) => p.id), ['github', 'oidc'], 'Google has no client id here; the order is google, github, oidc');
    const oidc = res.body.find((p) => p.id === 'oidc');
    assert.deepEqual(oidc, { id: 'oidc', name: 'Local OpenID provider', authorize_url: `${BASE_URL}/api/v1/auth/oauth/oidc/authorize` });
    const github = res.body.find((p) => p.id === 'github');
    assert.equal(github.authorize_url, `${BASE_URL}/api/v1/auth/oauth/github/authorize`);
    assert.ok(typeof github.name === 'string' && github.name.length > 0, `a label: ${github.name}`);
  });

  test('the authorize URLs are on the origin the list was asked of', async () => {
    // The same server by another name: the flow must start on the host its callback reaches.
    const other = BASE_URL.replace('127.0.0.1', 'localhost');
    const res = await api('/api/v1/auth/oauth/providers', { base: other });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.map((p) => p.authorize_url), [
      `${other}/api/v1/auth/oauth/github/authorize`, `${other}/api/v1/auth/oauth/oidc/authorize`,
    ]);
  });
});

describe('in Chromium', () => {
  let browser;
  after(async () => { await browser?.close(); });
  /** The verifier each page's sign-in began with, as the app's page would keep it. */
  const verifiers = new WeakMap();

  /** Opens the provider's authorize URL as a sign-in button would; returns the page. */
  async function start(provider) {
    browser ??= await launchChromium();
    const list = await providers();
    const { authorize_url: url } = list.body.find((p) => p.id === provider);
    const page = await browser.newPage();
    const { verifier, challenge } = pkce();
    verifiers.set(page, verifier);
    const query = new URLSearchParams({ redirect_to: HOME, code_challenge: challenge, code_challenge_method: 'S256' });
    await page.goto(`${url}?${query}`, { waitUntil: 'domcontentloaded' });
    return page;
  }

  /** Waits for the page to be back at the API's home with a code; exchanges it; returns /me. */
  async function finish(page) {
    await page.waitForURL((url) => url.href.startsWith(`${HOME}#`), { waitUntil: 'commit' });
    const landed = page.url();
    const { code, error } = fragment(landed);
    assert.ok(code, `back at ${landed} with a code (error: ${error})`);
    assert.equal(landed, `${HOME}#code=${code}`, 'the code in the fragment, nothing else');
    const cookies = await page.context().cookies(BASE_URL);
    assert.equal(cookies.find((c) => /recipe_oauth$/.test(c.name)), undefined, 'the flow cookie is cleared');
    await page.close();
    const pair = await exchange(code, verifiers.get(page));
    assert.equal(pair.status, 200, JSON.stringify(pair.body));
    assert.equal(pair.body.token_type, 'bearer');
    const profile = await me(pair.body.access_token);
    assert.equal(profile.status, 200, JSON.stringify(profile.body));
    return { pair: pair.body, profile: profile.body };
  }

  test('the OpenID provider: its login page, its consent page, then back at the app with a code for a new, verified user', async () => {
    const name = `ada.lovelace-${unique()}`;
    const offset = logOffset();
    const page = await start('oidc');
    assert.ok(page.url().startsWith(`${OIDC}/interaction/`), `at the provider's login page: ${page.url()}`);
    await page.locator('input[name="login"]').fill(name);
    await page.locator('input[name="password"]').fill('any password');
    await page.locator('button[type="submit"]').click();
    await page.getByRole('button', { name: 'Continue' }).click();
    const { pair, profile } = await finish(page);
    assert.equal(profile.email, `${name}@example.com`);
    assert.equal(profile.email_verified, true, 'the provider said the email is verified');
    assert.equal(profile.first_name, 'Ada', 'given_name');
    assert.match(profile.surname ?? '', /^Lovelace/, 'family_name');
    const linked = await identities(pair.access_token);
    assert.equal(linked.status, 200, JSON.stringify(linked.body));
    assert.equal(linked.body.length, 1);
    assert.deepEqual({ provider: linked.body[0].provider, email: linked.body[0].email }, { provider: 'oidc', email: profile.email });
    assert.match(linked.body[0].created_at, RFC3339);
    await assertSignInLogged(offset, 'oidc', profile.id, 'created');
  });

  test('the GitHub stand-in: its form, then back at the app with a code for a new, verified user', async () => {
    const account = githubAccount();
    const offset = logOffset();
    const page = await start('github');
    assert.ok(page.url().startsWith(`${GITHUB}/login/oauth/authorize?`), `at the stand-in's form: ${page.url()}`);
    assert.equal(await page.locator('h1').textContent(), 'Sign in to GitHub (local stand-in)');
    await page.locator('#login').fill(account.login);
    await page.locator('#email').fill(account.email);
    assert.equal(await page.locator('#verified').isChecked(), true, 'verified by default');
    await page.getByRole('button', { name: 'Authorize' }).click();
    const { profile } = await finish(page);
    assert.equal(profile.email, account.email, 'the primary email, not the noreply one listed first');
    assert.equal(profile.email_verified, true);
    await assertSignInLogged(offset, 'github', profile.id, 'created');
  });
});

describe('authorize', () => {
  test('redirects to the OpenID provider with the code flow, PKCE (S256), state and nonce, and sets the flow cookie', async () => {
    const res = await authorize('oidc', HOME);
    assert.equal(res.status, 302, JSON.stringify(res.body));
    const location = new URL(res.headers.get('location'));
    const discovery = await (await fetch(`${OIDC}/.well-known/openid-configuration`)).json();
    assert.equal(`${location.origin}${location.pathname}`, discovery.authorization_endpoint);
    const q = Object.fromEntries(location.searchParams);
    assert.equal(q.response_type, 'code');
    assert.equal(q.client_id, process.env.OIDC_STANDIN_CLIENT_ID);
    assert.equal(q.redirect_uri, `${BASE_URL}/api/v1/auth/oauth/oidc/callback`);
    assert.deepEqual(q.scope.split(' ').sort(), ['email', 'openid', 'profile']);
    assert.match(q.state, /^[A-Za-z0-9_-]{16,}$/);
    assert.match(q.nonce, /^[A-Za-z0-9_-]{16,}$/);
    assert.match(q.code_challenge, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(q.code_challenge_method, 'S256');
    const cookieLine = res.headers.getSetCookie().find((c) => c.startsWith('recipe_oauth='));
    assert.ok(cookieLine, `a recipe_oauth cookie over http: ${res.headers.getSetCookie()}`);
    const attributes = cookieLine.split(';').slice(1).map((a) => a.trim().toLowerCase());
    for (const wanted of ['path=/', 'max-age=600', 'httponly', 'samesite=lax']) {
      assert.ok(attributes.includes(wanted), `${wanted} in ${cookieLine}`);
    }
    assert.ok(!attributes.includes('secure'), 'not Secure over http (the browser would drop it)');
    const again = await authorize('oidc', HOME);
    const q2 = Object.fromEntries(new URL(again.headers.get('location')).searchParams);
    assert.notEqual(q2.state, q.state, 'a new state each time');
    assert.notEqual(q2.nonce, q.nonce, 'a new nonce each time');
    assert.notEqual(q2.code_challenge, q.code_challenge, 'a new verifier each time');
  });

  test('redirects to GitHub with its scopes, PKCE and state, and no nonce', async () => {
    const res = await authorize('github', HOME);
    assert.equal(res.status, 302, JSON.stringify(res.body));
    const location = new URL(res.headers.get('location'));
    assert.equal(`${location.origin}${location.pathname}`, `${GITHUB}/login/oauth/authorize`);
    const q = Object.fromEntries(location.searchParams);
    assert.equal(q.client_id, process.env.GITHUB_STANDIN_CLIENT_ID);
    assert.equal(q.redirect_uri, `${BASE_URL}/api/v1/auth/oauth/github/callback`);
    assert.deepEqual(q.scope.split(' ').sort(), ['read:user', 'user:email']);
    assert.match(q.state, /^[A-Za-z0-9_-]{16,}$/);
    assert.equal(q.code_challenge_method, 'S256');
    assert.match(q.code_challenge, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(q.nonce, undefined);
    flowCookie(res);
  });

  test('an unknown or disabled provider is a 404', async () => {
    for (const provider of ['nope', 'google', 'OIDC']) {
      const res = await authorize(provider, HOME);
      assert.equal(res.status, 404, `${provider}: ${JSON.stringify(res.body)}`);
      assert.deepEqual(res.body, { detail: 'Unknown identity provider' });
      assert.deepEqual(res.headers.getSetCookie().filter((c) => c.includes('recipe_oauth')), [], 'no cookie');
    }
  });

  test('redirect_to: missing is the API\'s /login page, another origin or another scheme a 400, an origin of BACKEND_CORS_ORIGINS is accepted', async () => {
    const missing = await authorize('oidc', undefined);
    assert.equal(missing.status, 302, JSON.stringify(missing.body));
    const back = await signInAtOpenIdProvider(missing.headers.get('location'), `nowhere-${unique()}`);
    const cookie = missing.headers.getSetCookie()[0].split(';')[0];
    const landed = await callback(back, cookie);
    assert.equal(landed.status, 302);
    assert.match(landed.headers.get('location'), new RegExp(`^${BASE_URL}/login#code=`));
    for (const target of [
      'https://evil.example/', 'http://127.0.0.1.evil.example/', `${BASE_URL.replace('http:', 'https:')}/`,
      'javascript:alert(1)', 'data:text/html,hi', '//evil.example/', '/relative', `${BASE_URL.replace(/:\d+$/, ':1')}/`,
    ]) {
      const res = await authorize('oidc', target);
      assert.equal(res.status, 400, `${target}: ${res.status} ${JSON.stringify(res.body)}`);
      assert.match(res.body.detail, /^redirect_to/, target);
      assert.deepEqual(res.headers.getSetCookie().filter((c) => c.includes('recipe_oauth')), [], `no cookie for ${target}`);
    }
    const allowed = await authorize('oidc', 'http://localhost:3000/signed-in?from=menu');
    assert.equal(allowed.status, 302, JSON.stringify(allowed.body));
  });
});

describe('the callback', () => {
  test('a frontend origin of BACKEND_CORS_ORIGINS gets the code at its own page, the fragment it had replaced', async () => {
    const target = 'http://localhost:3000/signed-in?from=menu';
    const { location, res } = await signInCode('oidc', `cook-${unique()}`, { redirectTo: `${target}#old` });
    assert.match(location, /^http:\/\/localhost:3000\/signed-in\?from=menu#code=[^&#]+$/);
    const cleared = res.headers.getSetCookie().find((c) => /^(__Host-)?recipe_oauth=/.test(c));
    assert.ok(cleared && /max-age=0/i.test(cleared), `the cookie is cleared: ${cleared}`);
  });

  test('a state that is not the cookie\'s is refused with 400, and GitHub is not asked for a token', async () => {
    const account = githubAccount();
    const started = await authorize('github', HOME);
    const cookie = flowCookie(started);
    const back = await signInAtGitHub(started.headers.get('location'), account);
    const url = new URL(back);
    const code = url.searchParams.get('code');
    url.searchParams.set('state', `${url.searchParams.get('state')}x`);
    const offset = logOffset();
    const res = await callback(url.href, cookie);
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.deepEqual(res.body, STATE_MISMATCH);
    await assertRefusalLogged(offset, 'github', 'state');
    const asked = (await githubRequests('/login/oauth/access_token')).filter((r) => r.params.code === code);
    assert.deepEqual(asked, [], 'nothing fetched');
    assert.equal(await usersWithEmail(account.email), 0, 'nothing written');
  });

  test('without the cookie (another browser) the callback is refused with 400', async () => {
    const account = githubAccount();
    const started = await authorize('github', HOME);
    const back = await signInAtGitHub(started.headers.get('location'), account);
    const res = await callback(back, undefined);
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.deepEqual(res.body, STATE_MISMATCH);
    const tampered = flowCookie(started).replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    const forged = await callback(back, tampered);
    assert.equal(forged.status, 400, `a cookie with a bad signature: ${JSON.stringify(forged.body)}`);
    assert.deepEqual(forged.body, STATE_MISMATCH);
    assert.equal(await usersWithEmail(account.email), 0);
  });

  test('the cookie of a GitHub flow does not complete an OpenID flow, even with its state', async () => {
    const github = await authorize('github', HOME);
    const githubState = new URL(github.headers.get('location')).searchParams.get('state');
    const res = await callback(`${BASE_URL}/api/v1/auth/oauth/oidc/callback?code=whatever&state=${githubState}`, flowCookie(github));
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.deepEqual(res.body, STATE_MISMATCH);
    // And a real OpenID callback with the GitHub cookie.
    const name = `cook-${unique()}`;
    const oidc = await authorize('oidc', HOME);
    const back = await signInAtOpenIdProvider(oidc.headers.get('location'), name);
    const crossed = await callback(back, flowCookie(github));
    assert.equal(crossed.status, 400, JSON.stringify(crossed.body));
    assert.equal(await usersWithEmail(`${name}@example.com`), 0);
  });

  test('the provider\'s ?error=access_denied (Cancel at GitHub) comes back to the app as #error=access_denied', async () => {
    const started = await authorize('github', HOME);
    const back = await signInAtGitHub(started.headers.get('location'), { action: 'cancel' });
    assert.match(back, /[?&]error=access_denied/);
    const offset = logOffset();
    const res = await callback(back, flowCookie(started));
    assert.equal(res.status, 302, JSON.stringify(res.body));
    const location = res.headers.get('location');
    assert.ok(location.startsWith(`${HOME}#`), location);
    const hash = fragment(location);
    assert.equal(hash.error, 'access_denied');
    assert.ok(hash.error_description, 'with a description');
    assert.equal(hash.code, undefined);
    await assertRefusalLogged(offset, 'github', 'denied');
  });

  test('the provider\'s own [a-z_] error code is passed on; anything else becomes access_denied, never injected', async () => {
    const start = logOffset();
    for (const [sent, expected] of [
      ['temporarily_unavailable', 'temporarily_unavailable'],
      ['<script>alert(1)</script>', 'access_denied'],
      ['x&code=planted', 'access_denied'],
    ]) {
      const started = await authorize('oidc', HOME);
      const state = new URL(started.headers.get('location')).searchParams.get('state');
      const res = await callback(`${BASE_URL}/api/v1/auth/oauth/oidc/callback?${new URLSearchParams({ error: sent, error_description: '<b>bad</b>', state })}`, flowCookie(started));
      assert.equal(res.status, 302, JSON.stringify(res.body));
      const hash = fragment(res.headers.get('location'));
      assert.equal(hash.error, expected, `${sent}: ${res.headers.get('location')}`);
      assert.equal(hash.code, undefined);
      assert.ok(!res.headers.get('location').includes('<'), 'nothing of the provider\'s text is copied raw');
    }
    // The worker logs after answering: its three lines come before the next test's.
    const lines = await oauthEvents(start, (events) => events.length >= 3);
    assert.deepEqual(lines.map((e) => e.reason), ['denied', 'denied', 'denied']);
  });

  test('an unverified email at the provider neither creates nor links an account: #error=email_not_verified', async () => {
    const name = `unverified-${unique()}`;
    let offset = logOffset();
    const oidc = await signInRefused('oidc', name);
    assert.equal(oidc.error, 'email_not_verified', JSON.stringify(oidc));
    assert.equal(await usersWithEmail(`${name}@example.com`), 0);
    await assertRefusalLogged(offset, 'oidc', 'email_not_verified');

    const account = githubAccount({ verified: false });
    offset = logOffset();
    const github = await signInRefused('github', account);
    assert.equal(github.error, 'email_not_verified', 'the primary email is unverified (the noreply one is verified, and not primary)');
    assert.equal(await usersWithEmail(account.email), 0);
    await assertRefusalLogged(offset, 'github', 'email_not_verified');

    // Nor links to an existing account with that email.
    const { user, token } = await newUser({ email: `unverified-${unique()}@example.com` });
    const linked = await signInRefused('oidc', user.email);
    assert.equal(linked.error, 'email_not_verified');
    assert.equal((await me(token)).status, 200, 'the existing account is untouched');
    assert.equal((await login(user.email, PASSWORD)).status, 200);
  });

  test('GitHub is asked as documented: the code with its PKCE verifier and the client\'s credentials, then /user and /user/emails with the token', async () => {
    const account = githubAccount();
    const { providerUrl, callbackUrl } = await signInCode('github', account);
    const challenge = new URL(providerUrl).searchParams.get('code_challenge');
    const code = new URL(callbackUrl).searchParams.get('code');
    const [tokenRequest] = (await githubRequests('/login/oauth/access_token')).filter((r) => r.params.code === code);
    assert.ok(tokenRequest, 'the token endpoint was asked');
    assert.equal(tokenRequest.answer, 'access_token');
    assert.match(tokenRequest.accept ?? '', /application\/json/);
    assert.equal(tokenRequest.params.client_id, process.env.GITHUB_STANDIN_CLIENT_ID);
    assert.equal(tokenRequest.params.client_secret, process.env.GITHUB_STANDIN_CLIENT_SECRET);
    assert.equal(tokenRequest.params.redirect_uri, `${BASE_URL}/api/v1/auth/oauth/github/callback`);
    assert.equal(createHash('sha256').update(tokenRequest.params.code_verifier ?? '').digest('base64url'), challenge, 'the verifier of the challenge');
    const after = Date.parse(tokenRequest.received_at);
    for (const path of ['/user', '/user/emails']) {
      const [request] = (await githubRequests(path)).filter((r) => Date.parse(r.received_at) >= after);
      assert.ok(request, `${path} was asked`);
      assert.equal(request.answer, '200', path);
      assert.match(request.authorization ?? '', /^Bearer gho_/, path);
      assert.equal(request.accept, 'application/vnd.github+json', path);
      assert.equal(request.user_agent, 'recipe-api', path);
    }
  });
});

describe('a key rotation', () => {
  test('a flow begun before JWT_SECRET was rotated still ends well after; one sealed with an unknown key does not', async () => {
    const rotated = await startServer({
      JWT_SECRET: randomBytes(32).toString('hex'),
      JWT_SECRET_PREVIOUS: process.env.TEST_JWT_SECRET,
      GITHUB_CLIENT_ID: process.env.GITHUB_STANDIN_CLIENT_ID,
      GITHUB_CLIENT_SECRET: process.env.GITHUB_STANDIN_CLIENT_SECRET,
      GITHUB_URL: GITHUB,
      GITHUB_API_URL: GITHUB,
    });
    try {
      // Begun here, under the key the other server keeps as JWT_SECRET_PREVIOUS; the user
      // cancels at the provider, which is enough to see whether the flow's cookie opens.
      const started = await authorize('github', HOME);
      const state = new URL(started.headers.get('location')).searchParams.get('state');
      const cancelled = `/api/v1/auth/oauth/github/callback?error=access_denied&state=${state}`;
      const after = await api(cancelled, { redirect: 'manual', headers: { cookie: flowCookie(started) }, base: rotated.base });
      assert.equal(after.status, 302, JSON.stringify(after.body));
      assert.equal(fragment(after.headers.get('location')).error, 'access_denied');
      // Begun on the rotated server, under a key this one has never had.
      const query = new URLSearchParams({ redirect_to: `${rotated.base}/`, code_challenge: pkce().challenge });
      const elsewhere = await api(`/api/v1/auth/oauth/github/authorize?${query}`, { redirect: 'manual', base: rotated.base });
      const theirs = new URL(elsewhere.headers.get('location')).searchParams.get('state');
      const refused = await callback(`${BASE_URL}/api/v1/auth/oauth/github/callback?error=access_denied&state=${theirs}`, flowCookie(elsewhere));
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.deepEqual(refused.body, STATE_MISMATCH);
    } finally {
      await rotated.stop();
    }
  });
});

describe('the one-time code', () => {
  test('gives the same token pair as a password login, once; a replay is a 400', async () => {
    const { code, verifier } = await signInCode('oidc', `cook-${unique()}`);
    const first = await exchange(code, verifier);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const { user } = await newUser();
    const passwordLogin = await login(user.email);
    assert.deepEqual(Object.keys(first.body).sort(), Object.keys(passwordLogin.body).sort(), 'the shape of a login');
    assert.equal(first.body.token_type, 'bearer');
    const claims = JSON.parse(Buffer.from(first.body.access_token.split('.')[1], 'base64url'));
    assert.ok(claims.sid, 'a session, as a password login has');
    const renewed = await refresh(first.body.refresh_token);
    assert.equal(renewed.status, 200, 'its refresh token works');
    const replay = await exchange(code, verifier);
    assert.equal(replay.status, 400, JSON.stringify(replay.body));
    assert.deepEqual(replay.body, INVALID_CODE);
  });

  test('10 parallel exchanges of one code: exactly one 200', async () => {
    const { code, verifier } = await signInCode('github', githubAccount());
    const answers = await Promise.all(Array.from({ length: 10 }, () => exchange(code, verifier)));
    const statuses = answers.map((r) => r.status);
    assert.equal(countOf(statuses, 200), 1, `statuses: ${statuses}`);
    assert.equal(countOf(statuses, 400), 9, `statuses: ${statuses}`);
    for (const refused of answers.filter((r) => r.status === 400)) assert.deepEqual(refused.body, INVALID_CODE);
  });

  test('bound to the page by its code_challenge: exchanged only with the verifier, not with another; without one it is a 422 and stays unused', async () => {
    const page = pkce();
    const { code, providerUrl } = await signInCode('github', githubAccount(), { page });
    assert.notEqual(new URL(providerUrl).searchParams.get('code_challenge'), page.challenge, 'the page\'s challenge is not the one sent to the provider');
    const without = await exchange(code);
    assert.equal(without.status, 422, JSON.stringify(without.body));
    assert.deepEqual(without.body.detail.map((e) => e.loc), [['body', 'code_verifier']]);
    const malformed = await exchange(code, 'short');
    assert.equal(malformed.status, 422, JSON.stringify(malformed.body));
    const another = await exchange(code, pkce().verifier);
    assert.equal(another.status, 400, JSON.stringify(another.body));
    assert.deepEqual(another.body, INVALID_CODE);
    const right = await exchange(code, page.verifier);
    assert.equal(right.status, 200, JSON.stringify(right.body));
    assert.equal((await exchange(code, page.verifier)).status, 400, 'once');
  });

  test('login CSRF with a planted code: an attacker cannot start a sign-in without a challenge, and their code does not work with the victim\'s page\'s verifier, nor without one', async () => {
    // The attacker's first move was a sign-in begun without code_challenge, whose code any
    // page would exchange: refused before anything happens.
    const attackerAddress = fromAddress(randomIPv4());
    const offset = logOffset();
    const unbound = await authorize('github', HOME, attackerAddress, { challenge: null });
    assert.equal(unbound.status, 422, JSON.stringify(unbound.body));
    assert.deepEqual(unbound.body.detail, [{ loc: ['query', 'code_challenge'], msg: 'field required', type: 'value_error.missing' }]);
    assert.equal(unbound.headers.get('location'), null, 'not sent to the provider');
    assert.deepEqual(unbound.headers.getSetCookie().filter((c) => c.includes('recipe_oauth')), [], 'no flow cookie');
    let line;
    for (let waited = 0; !line && waited <= 3000; waited += 100) {
      line = logSince(offset).find((e) => e.log === 'request' && e.route === '/api/v1/auth/oauth/{provider}/authorize' && e.status === 422);
      if (!line) await delay(100);
    }
    assert.ok(line, 'the refusal\'s request line');
    assert.equal(line.d1_round_trips, 0, `refused before any D1: ${JSON.stringify(line)}`);
    // So the attacker signs in with a challenge of their own and stops at the redirect with
    // the code, for their own account, which they plant in a link to the victim's page.
    const attacker = githubAccount();
    const attackerPage = pkce();
    const { code } = await signInCode('github', attacker, { page: attackerPage, headers: attackerAddress });
    // The victim's page keeps its own verifier (it began a sign-in of its own), and posts
    // the planted code with it; or, a page that lost it, with none.
    const victimPage = pkce();
    const withVictims = await exchange(code, victimPage.verifier);
    assert.equal(withVictims.status, 400, JSON.stringify(withVictims.body));
    assert.deepEqual(withVictims.body, INVALID_CODE);
    assert.equal(withVictims.body.access_token, undefined, 'the victim is not signed in as the attacker');
    const withNone = await exchange(code);
    assert.equal(withNone.status, 422, JSON.stringify(withNone.body));
    const hash = createHash('sha256').update(code).digest('base64url');
    const stored = await sql(`SELECT client_challenge FROM sign_in_codes WHERE code_hash = ${sqlText(hash)}`);
    assert.deepEqual(stored, [{ client_challenge: attackerPage.challenge }], 'the code is bound to the attacker\'s page and not used up');
    const nullable = await sql("SELECT \"notnull\" AS required FROM pragma_table_info('sign_in_codes') WHERE name = 'client_challenge'");
    assert.deepEqual(nullable, [{ required: 1 }], 'a code without a challenge cannot be stored');
  });

  test('a code_challenge that is not S256 is a 422', async () => {
    const plain = await authorize('github', HOME, {}, { challenge: 'a'.repeat(43), code_challenge_method: 'plain' });
    assert.equal(plain.status, 422, JSON.stringify(plain.body));
    assert.deepEqual(plain.body.detail[0].loc, ['query', 'code_challenge_method']);
    const short = await authorize('github', HOME, {}, { challenge: 'too-short' });
    assert.equal(short.status, 422, JSON.stringify(short.body));
    assert.deepEqual(short.body.detail[0].loc, ['query', 'code_challenge']);
  });

  test('a code past its 60 seconds is a 400', async () => {
    const { code, verifier } = await signInCode('github', githubAccount());
    const hash = createHash('sha256').update(code).digest('base64url');
    const moved = await sql(`UPDATE sign_in_codes SET expires_at = expires_at - 61 WHERE code_hash = ${sqlText(hash)} RETURNING code_hash`);
    assert.equal(moved.length, 1, 'the code is stored by its SHA-256');
    const res = await exchange(code, verifier);
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.deepEqual(res.body, INVALID_CODE);
    // The scheduled cleanup deletes it.
    const offset = logOffset();
    assert.equal((await api('/cdn-cgi/local/scheduled?cron=0+*+*+*+*')).status, 200);
    let line;
    for (let i = 0; i < 50 && !line; i++) {
      line = logSince(offset).find((value) => value.log === 'cleanup');
      if (!line) await delay(100);
    }
    assert.ok(line?.sign_in_codes >= 1, `the cleanup deletes expired sign-in codes: ${JSON.stringify(line)}`);
    assert.equal((await sql(`SELECT count(*) AS n FROM sign_in_codes WHERE code_hash = ${sqlText(hash)}`))[0].n, 0);
  });

  test('an unknown code is a 400, a missing one a 422', async () => {
    const unknown = await exchange('not-a-code-anyone-was-given', pkce().verifier);
    assert.equal(unknown.status, 400);
    assert.deepEqual(unknown.body, INVALID_CODE);
    const missing = await api('/api/v1/auth/oauth/token', { method: 'POST', json: {} });
    assert.equal(missing.status, 422, JSON.stringify(missing.body));
    assert.deepEqual(missing.body.detail.map((e) => e.loc), [['body', 'code'], ['body', 'code_verifier']]);
  });
});

describe('the login counters', () => {
  test('sign-ins count as logins: after 5 refused for one account from one address, #error=too_many_requests there, not elsewhere', async () => {
    const address = fromAddress(randomIPv4());
    const account = githubAccount({ verified: false });
    const start = logOffset();
    for (let i = 0; i < 5; i++) {
      const refused = await signInRefused('github', account, { headers: address });
      assert.equal(refused.error, 'email_not_verified', `attempt ${i + 1}: ${JSON.stringify(refused)}`);
    }
    // The worker logs after answering: the fifth refusal's line comes before what follows.
    await oauthEvents(start, (events) => events.length >= 5);
    const offset = logOffset();
    const throttled = await signInRefused('github', { ...account, verified: true }, { headers: address });
    assert.equal(throttled.error, 'too_many_requests', JSON.stringify(throttled));
    assert.ok(throttled.error_description, 'with a description');
    await assertRefusalLogged(offset, 'github', 'throttled');
    assert.equal(await usersWithEmail(account.email), 0, 'nothing written');
    const elsewhere = await signInTokens('github', { ...account, verified: true });
    assert.ok(elsewhere.access_token, 'the same account from another address signs in');
  });

  // An attacker's provider account, linked with their own address, whose provider then lets
  // them say their email is the victim's (unverified): its sign-ins must neither count nor
  // settle the victim's failed logins.
  async function attackerAndVictim() {
    const { user: victim } = await newUser({ email: `victim-${unique()}@example.com` });
    const attacker = githubAccount();
    const first = await signInTokens('github', attacker);
    const attackerId = (await me(first.access_token)).body.id;
    return { victim, attacker, attackerId, claimingVictim: { ...attacker, email: victim.email, verified: false } };
  }

  const wrongPassword = (email, address) => login(email, 'not the password at all', address);

  test('an unverified provider email does not wipe the victim\'s failed logins: 4 wrong passwords, a sign-in claiming the victim\'s address, then the 6th wrong password is 429', async () => {
    const { victim, attackerId, claimingVictim } = await attackerAndVictim();
    const address = fromAddress(randomIPv4());
    for (let i = 1; i <= 4; i++) assert.equal((await wrongPassword(victim.email, address)).status, 400, `wrong password ${i}`);
    const pair = await signInTokens('github', claimingVictim, { headers: address });
    assert.equal((await me(pair.access_token)).body.id, attackerId, 'the attacker signs in as themselves');
    assert.equal((await wrongPassword(victim.email, address)).status, 400, 'wrong password 5: the limit, still checked');
    const sixth = await wrongPassword(victim.email, address);
    assert.equal(sixth.status, 429, `wrong password 6 is over the limit, the count intact: ${JSON.stringify(sixth.body)}`);
    assert.ok(Number(sixth.headers.get('retry-after')) > 0, 'with Retry-After');
  });

  test('5 wrong passwords for the victim, then a sign-in whose unverified email claims the victim\'s address: the sign-in goes through and the victim\'s next wrong password is still 429', async () => {
    const { victim, attackerId, claimingVictim } = await attackerAndVictim();
    const address = fromAddress(randomIPv4());
    for (let i = 1; i <= 5; i++) assert.equal((await wrongPassword(victim.email, address)).status, 400, `wrong password ${i}`);
    const offset = logOffset();
    const pair = await signInTokens('github', claimingVictim, { headers: address });
    assert.equal((await me(pair.access_token)).body.id, attackerId, 'not throttled by the victim\'s counter, nor signed in as the victim');
    await assertSignInLogged(offset, 'github', attackerId, 'returning');
    const next = await wrongPassword(victim.email, address);
    assert.equal(next.status, 429, JSON.stringify(next.body));
    const counted = await sql(`SELECT count FROM attempts WHERE key = ${sqlText(`account:${victim.email}|${address['cf-connecting-ip']}`)}`);
    assert.deepEqual(counted, [{ count: 6 }], 'the victim\'s counter: 5 failures and the refused 6th, nothing of the sign-in');
  });
});

describe('accounts', () => {
  test('signing in again with the same identity is the same user (returning), even once the provider calls the email unverified', async () => {
    const account = githubAccount();
    const first = await signInTokens('github', account);
    const id = (await me(first.access_token)).body.id;
    let offset = logOffset();
    const second = await signInTokens('github', account);
    assert.equal((await me(second.access_token)).body.id, id);
    await assertSignInLogged(offset, 'github', id, 'returning');
    offset = logOffset();
    const unverified = await signInTokens('github', { ...account, verified: false });
    assert.equal((await me(unverified.access_token)).body.id, id, 'an identity already linked still signs in');
    await assertSignInLogged(offset, 'github', id, 'returning');
  });

  test('a verified account with the provider\'s email is linked; its password still works', async () => {
    const { user, token } = await newUser({ email: `cook-${unique()}@example.com` });
    const verification = tokenFrom(await mailTo(user.email, { subject: 'Verify your email' }));
    const verified = await api('/api/v1/auth/verify-email', { method: 'POST', json: { token: verification } });
    assert.equal(verified.status, 200, JSON.stringify(verified.body));
    const offset = logOffset();
    const pair = await signInTokens('oidc', user.email);
    const profile = (await me(pair.access_token)).body;
    assert.equal(profile.id, user.id, 'the same user');
    await assertSignInLogged(offset, 'oidc', user.id, 'linked');
    assert.equal((await login(user.email, PASSWORD)).status, 200, 'the password still works');
    assert.equal((await me(token)).status, 200, 'their other session goes on');
    const linked = await identities(pair.access_token);
    assert.deepEqual(linked.body.map((i) => [i.provider, i.email]), [['oidc', user.email]]);
  });

  test('an unverified pre-registered account is taken over: the squatter\'s password, sessions and reset link stop working', async () => {
    const email = `cook-${unique()}@example.com`;
    const squatter = await newUser({ email });
    const recovery = await api('/api/v1/auth/password-recovery', { method: 'POST', json: { email }, headers: fromAddress(randomIPv4()) });
    assert.equal(recovery.status, 202, JSON.stringify(recovery.body));
    const resetToken = tokenFrom(await mailTo(email, { subject: 'Reset your password' }));
    // The squatter turns TOTP on too: it must not stand between the owner and the account.
    const setup = await api('/api/v1/auth/mfa/totp/setup', { method: 'POST', token: squatter.token, json: { password: PASSWORD } });
    assert.equal(setup.status, 200, JSON.stringify(setup.body));
    const enabled = await api('/api/v1/auth/mfa/totp/enable', { method: 'POST', token: squatter.token, json: { code: totpCode(setup.body.secret, stepNow()) } });
    assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
    // Enabling TOTP ended the squatter's other sessions and gave them a new pair.
    squatter.token = enabled.body.access_token ?? squatter.token;
    squatter.refresh = enabled.body.refresh_token ?? squatter.refresh;
    // And a passkey of theirs (stored as registration stores one).
    const passkeys = () => sql(`SELECT count(*) AS n FROM passkeys WHERE user_id = ${squatter.user.id}`);
    await sql(`INSERT INTO passkeys (user_id, credential_id, public_key, algorithm, backup_eligible, backed_up, name, created_at) \
      VALUES (${squatter.user.id}, 'squatter-${unique()}', 'pQECAyYgASFYIA', -7, 0, 0, 'theirs', unixepoch())`);
    assert.equal((await passkeys())[0].n, 1);
    const offset = logOffset();
    const pair = await signInTokens('oidc', email);
    assert.equal(pair.mfa_required, undefined, `the squatter's TOTP is gone: ${JSON.stringify(pair)}`);
    const profile = (await me(pair.access_token)).body;
    assert.equal(profile.id, squatter.user.id, 'the same row, now the provider\'s user\'s');
    assert.equal(profile.email_verified, true);
    await assertSignInLogged(offset, 'oidc', squatter.user.id, 'took_over');

    const byPassword = await login(email, PASSWORD);
    assert.equal(byPassword.status, 400, 'the squatter\'s password is gone');
    assert.deepEqual(byPassword.body, INCORRECT);
    assert.equal((await refresh(squatter.refresh)).status, 401, 'their refresh token is dead');
    assert.equal((await me(squatter.token)).status, 401, 'their access token is dead');
    const reset = await api('/api/v1/auth/reset-password', { method: 'POST', json: { token: resetToken, new_password: 'the squatter comes back' } });
    assert.equal(reset.status, 400, `their reset link is dead: ${JSON.stringify(reset.body)}`);
    assert.equal((await passkeys())[0].n, 0, 'their passkey is gone');
    assert.equal((await me(pair.access_token)).status, 200, 'the new owner\'s session lives');
    const linked = await identities(pair.access_token);
    assert.deepEqual(linked.body.map((i) => [i.provider, i.email]), [['oidc', email]]);
  });

  test('a second identity of the same provider for an email already linked is refused: #error=identity_conflict', async () => {
    const email = `cook-${unique()}@example.com`;
    await signInTokens('github', githubAccount({ email }));
    const offset = logOffset();
    const other = await signInRefused('github', githubAccount({ email }));
    assert.equal(other.error, 'identity_conflict');
    await assertRefusalLogged(offset, 'github', 'identity_conflict');
    assert.equal(await usersWithEmail(email), 1);
  });

  test('a user without a password gets the same 400 as a wrong password at password login', async () => {
    const name = `cook-${unique()}`;
    await signInTokens('oidc', name);
    for (const password of [PASSWORD, 'x'.repeat(12)]) {
      const res = await login(`${name}@example.com`, password);
      assert.equal(res.status, 400, `password ${JSON.stringify(password)}: ${JSON.stringify(res.body)}`);
      assert.deepEqual(res.body, INCORRECT);
    }
  });

  test('an inactive user is refused: #error=inactive_user, at first link as on return', async () => {
    const admin = await superuserToken();
    const { user } = await newUser({ email: `cook-${unique()}@example.com` });
    await sql(`UPDATE users SET email_verified = 1 WHERE id = ${user.id}`);
    const off = await api(`/api/v1/users/${user.id}`, { method: 'PATCH', token: admin, json: { is_active: false } });
    assert.equal(off.status, 200, JSON.stringify(off.body));
    let offset = logOffset();
    const first = await signInRefused('oidc', user.email);
    assert.equal(first.error, 'inactive_user');
    await assertRefusalLogged(offset, 'oidc', 'inactive_user');

    const account = githubAccount();
    const pair = await signInTokens('github', account);
    const id = (await me(pair.access_token)).body.id;
    assert.equal((await api(`/api/v1/users/${id}`, { method: 'PATCH', token: admin, json: { is_active: false } })).status, 200);
    offset = logOffset();
    const returning = await signInRefused('github', account);
    assert.equal(returning.error, 'inactive_user');
    await assertRefusalLogged(offset, 'github', 'inactive_user');
  });

  test('a user with TOTP on gets mfa_required from the code exchange, then a token pair for a TOTP code', async () => {
    const { user, token } = await newUser({ email: `cook-${unique()}@example.com` });
    await sql(`UPDATE users SET email_verified = 1 WHERE id = ${user.id}`);
    const started = await api('/api/v1/auth/mfa/totp/setup', { method: 'POST', token, json: { password: PASSWORD } });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    const { secret } = started.body;
    const enabledStep = stepNow();
    const enabled = await api('/api/v1/auth/mfa/totp/enable', { method: 'POST', token, json: { code: totpCode(secret, enabledStep) } });
    assert.equal(enabled.status, 200, JSON.stringify(enabled.body));

    const { code, verifier } = await signInCode('oidc', user.email);
    const res = await exchange(code, verifier);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.mfa_required, true, JSON.stringify(res.body));
    assert.equal(res.body.access_token, undefined, 'no token before the second factor');
    const verified = await api('/api/v1/auth/mfa/verify', { method: 'POST', json: { mfa_token: res.body.mfa_token, code: totpCode(secret, Math.max(enabledStep + 1, stepNow())) } });
    assert.equal(verified.status, 200, JSON.stringify(verified.body));
    assert.equal((await me(verified.body.access_token)).body.id, user.id);
  });
});

describe('identities', () => {
  test('lists a user\'s identities; needs a token', async () => {
    assert.equal((await api('/api/v1/auth/me/identities')).status, 401);
    const { token } = await newUser();
    const none = await identities(token);
    assert.equal(none.status, 200);
    assert.deepEqual(none.body, []);
  });

  test('the last way in cannot be unlinked; with a password it can; an identity not linked is a 404', async () => {
    const name = `cook-${unique()}`;
    const pair = await signInTokens('oidc', name);
    const last = await unlink(pair.access_token, 'oidc');
    assert.equal(last.status, 400, JSON.stringify(last.body));
    assert.match(last.body.detail, /set a password or link another identity first$/);
    const missing = await unlink(pair.access_token, 'github');
    assert.equal(missing.status, 404, JSON.stringify(missing.body));
    assert.deepEqual(missing.body, { detail: 'No identity of this provider is linked' });
    assert.equal((await identities(pair.access_token)).body.length, 1, 'still linked');

    const { user, token } = await newUser({ email: `cook-${unique()}@example.com` });
    await sql(`UPDATE users SET email_verified = 1 WHERE id = ${user.id}`);
    await signInTokens('oidc', user.email);
    const withPassword = await unlink(token, 'oidc');
    assert.equal(withPassword.status, 204, JSON.stringify(withPassword.body));
    assert.deepEqual((await identities(token)).body, []);
    assert.equal((await login(user.email, PASSWORD)).status, 200);
  });

  test('two identities and no password, both unlinked in parallel: exactly one 204, and one stays', async () => {
    const email = `cook-${unique()}@example.com`;
    const pair = await signInTokens('oidc', email);
    const offset = logOffset();
    const viaGithub = await signInTokens('github', githubAccount({ email }));
    const id = (await me(pair.access_token)).body.id;
    assert.equal((await me(viaGithub.access_token)).body.id, id, 'GitHub linked to the same user');
    await assertSignInLogged(offset, 'github', id, 'linked');
    assert.deepEqual((await identities(pair.access_token)).body.map((i) => i.provider).sort(), ['github', 'oidc']);

    const answers = await Promise.all([unlink(pair.access_token, 'oidc'), unlink(pair.access_token, 'github')]);
    const statuses = answers.map((r) => r.status).sort();
    assert.deepEqual(statuses, [204, 400], JSON.stringify(answers.map((r) => r.body)));
    const left = await identities(pair.access_token);
    assert.equal(left.body.length, 1, `one way in is left: ${JSON.stringify(left.body)}`);
  });
});

describe('the security log', () => {
  test('sign-in lines name the provider, the user and the outcome, and never the email or the code', async () => {
    const name = `cook-${unique()}`;
    const offset = logOffset();
    const { code } = await signInCode('oidc', name);
    const events = await oauthEvents(offset);
    const text = JSON.stringify(logSince(offset));
    assert.ok(!text.includes(`${name}@example.com`), 'no email in the log');
    assert.ok(!text.includes(code), 'no code in the log');
    assert.equal(events.length, 1, JSON.stringify(events));
    assert.equal(events[0].outcome, 'created');
  });
});

describe('migration 0014', () => {
  test('fills the issuer of existing identities from their provider (oidc: not recorded), keeps the release before it linking, and drops codes without a challenge', async () => {
    const d1 = mkdtempSync(join(tmpdir(), 'recipe-api-migration-'));
    try {
      const before = readdirSync('migrations').filter((file) => /^\d{4}_.*\.sql$/.test(file) && file < '0014').sort();
      await applyMigrations(d1, before);
      const challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
      await sql(`INSERT INTO users (id, email, hashed_password, email_verified) VALUES
          (1, 'g@example.com', '', 1), (2, 'h@example.com', '', 1), (3, 'o@example.com', '', 1);
        INSERT INTO identities (provider, subject, user_id, email, created_at) VALUES
          ('google', '42', 1, 'g@example.com', 1), ('github', '42', 2, 'h@example.com', 2), ('oidc', '42', 3, 'o@example.com', 3);
        INSERT INTO sign_in_codes (code_hash, user_id, token_version, expires_at, client_challenge) VALUES
          ('unbound', 1, 0, 4102444800, NULL), ('bound', 2, 0, 4102444800, '${challenge}');`, { d1 });
      await applyMigrations(d1, ['0014_identity_issuer.sql']);
      const identities = await sql('SELECT provider, issuer, subject, user_id FROM identities ORDER BY user_id', { d1 });
      assert.deepEqual(identities, [
        { provider: 'google', issuer: 'https://accounts.google.com', subject: '42', user_id: 1 },
        { provider: 'github', issuer: 'https://github.com', subject: '42', user_id: 2 },
        { provider: 'oidc', issuer: '', subject: '42', user_id: 3 },
      ]);
      const codes = await sql('SELECT code_hash, client_challenge FROM sign_in_codes', { d1 });
      assert.deepEqual(codes, [{ code_hash: 'bound', client_challenge: challenge }]);
      // The release before this one names no issuer when it links: it still can, unrecorded.
      await sql("INSERT INTO users (id, email, hashed_password, email_verified) VALUES (4, 'p@example.com', '', 1); INSERT INTO identities (provider, subject, user_id, email, created_at) VALUES ('github', '7', 4, 'p@example.com', 4)", { d1 });
      assert.deepEqual(await sql('SELECT issuer FROM identities WHERE user_id = 4', { d1 }), [{ issuer: '' }]);
      // One identity per provider per user, and per (issuer, subject). wrangler prints a
      // refused statement's error on its standard output.
      const refusal = (command) => sql(command, { d1 }).then(() => 'accepted', (error) => `${error.stdout}`);
      const identity = (values) => `INSERT INTO identities (provider, issuer, subject, user_id, email, created_at) VALUES ${values}`;
      assert.match(await refusal(identity("('github', 'https://ghe.example', '8', 2, 'h@example.com', 5)")), /UNIQUE constraint failed: identities\.user_id, identities\.provider/);
      assert.match(await refusal(identity("('oidc', 'https://github.com', '42', 4, 'p@example.com', 5)")), /UNIQUE constraint failed: identities\.issuer, identities\.subject/);
      await sql(identity("('oidc', 'https://idp.example', '42', 4, 'p@example.com', 5)"), { d1 });
      assert.match(await refusal("INSERT INTO sign_in_codes (code_hash, user_id, token_version, expires_at) VALUES ('none', 1, 0, 4102444800)"), /NOT NULL constraint failed: sign_in_codes\.client_challenge/);
    } finally {
      rmSync(d1, { recursive: true, force: true });
    }
  });
});
