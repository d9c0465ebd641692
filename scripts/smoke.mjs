#!/usr/bin/env node
// Checks a deployed API from outside, as its clients reach it, after `make deploy`; stops at
// the first failure with exit 1. Plain Node, no dependencies.
//
//   node scripts/smoke.mjs https://api.your-domain [EMAIL]       (make smoke URL=… EMAIL=…)
//
// 1. GET /api/v1/openapi.json: the Worker answers on that host.
// 2. GET /api/v1/auth/oauth/providers: the sign-in providers, each with the callback URL to
//    register at it for this host (a sign-in ends on the host it started on).
// 3. Turnstile, with a recovery request for an address nobody has (nothing is sent): without
//    a widget's token it must answer 403 when Turnstile guards recovery; then with the dummy
//    token Cloudflare's test widgets produce, 403 again. A 202 there means the secret is
//    Cloudflare's always-pass test secret 1x…AA, which guards nothing: a failure.
// 4. With EMAIL (the superuser): logs in (password from SUPERUSER_PASSWORD, else a prompt),
//    GET /api/v1/auth/me must say superuser; an unverified email gets the verification email
//    (its link verifies it, and its arrival proves email works); then logs out.
import { stdin, stdout } from 'node:process';

const [base, email] = process.argv.slice(2);
if (!base || !/^https?:\/\/[^/]+\/?$/.test(base)) {
  console.error('usage: smoke.mjs https://<the host make deploy printed> [EMAIL]');
  process.exit(2);
}
const origin = base.replace(/\/$/, '');

const ok = (what) => console.log(`smoke: ok      ${what}`);
const note = (what) => console.log(`smoke: note    ${what}`);
function fail(what) {
  console.error(`smoke: FAILED  ${what}`);
  process.exit(1);
}

async function call(path, { method = 'GET', json, form, token, headers = {} } = {}) {
  const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(30_000), redirect: 'manual' };
  if (json !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(json);
  }
  if (form !== undefined) init.body = new URLSearchParams(form);
  if (token) init.headers.authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(`${origin}${path}`, init);
  } catch (error) {
    fail(`${method} ${origin}${path}: no answer (${error.cause?.code ?? error.message})`);
  }
  const text = await res.text();
  let body = text;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body };
}

/** A line typed at the terminal without echo. */
function askHidden(question) {
  if (!stdin.isTTY) fail('no SUPERUSER_PASSWORD in the environment and no terminal to ask for it');
  stdout.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve) => {
    let value = '';
    const onData = (chunk) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off('data', onData);
          stdout.write('\n');
          resolve(value);
          return;
        }
        if (ch === '\u0003') process.exit(130);
        value = ch === '\u007f' ? value.slice(0, -1) : value + ch;
      }
    };
    stdin.on('data', onData);
  });
}

// 1.
const openapi = await call('/api/v1/openapi.json');
if (openapi.status !== 200 || typeof openapi.body !== 'object') {
  fail(`GET /api/v1/openapi.json answered ${openapi.status}: is this the API's host?`);
}
ok(`${origin} answers (OpenAPI ${openapi.body.info?.version ?? '?'})`);

// 2.
const providers = await call('/api/v1/auth/oauth/providers');
if (providers.status !== 200) fail(`GET /api/v1/auth/oauth/providers answered ${providers.status}: ${JSON.stringify(providers.body)}`);
const list = Array.isArray(providers.body) ? providers.body : providers.body.providers ?? [];
if (list.length === 0) ok('no sign-in providers');
for (const provider of list) {
  const id = provider.id ?? provider.name;
  ok(`sign-in with ${provider.name ?? id}: its callback here is ${origin}/api/v1/auth/oauth/${id}/callback`);
}

// 3.
const nobody = { email: 'nobody@smoke-test.invalid' };
const bare = await call('/api/v1/auth/password-recovery', { method: 'POST', json: nobody });
if (bare.status === 202) {
  note('Turnstile does not guard password recovery here (no TURNSTILE_SECRET_KEY, or TURNSTILE_ON)');
} else if (bare.status === 403) {
  const dummy = await call('/api/v1/auth/password-recovery', {
    method: 'POST', json: nobody, headers: { 'cf-turnstile-response': 'XXXX.DUMMY.TOKEN.XXXX' },
  });
  if (dummy.status === 202) {
    fail("Turnstile accepts a test widget's dummy token: TURNSTILE_SECRET_KEY is Cloudflare's always-pass " +
      "test secret (1x…AA). Put the widget's own secret: npx wrangler secret put TURNSTILE_SECRET_KEY --env …");
  }
  if (dummy.status !== 403) fail(`recovery with a dummy Turnstile token answered ${dummy.status}: ${JSON.stringify(dummy.body)}`);
  ok('Turnstile guards password recovery and refuses a dummy token');
} else {
  fail(`POST /api/v1/auth/password-recovery answered ${bare.status}: ${JSON.stringify(bare.body)}`);
}

// 4.
if (email) {
  const password = process.env.SUPERUSER_PASSWORD || await askHidden(`Password of ${email}: `);
  const login = await call('/api/v1/auth/login', { method: 'POST', form: { username: email, password } });
  if (login.status === 200 && login.body.mfa_required) {
    note(`${email} has TOTP on: the password is right; finish a login in a client to check the rest`);
  } else if (login.status !== 200) {
    fail(`login as ${email} answered ${login.status}: ${JSON.stringify(login.body)}` +
      (login.status === 403 ? ' (Turnstile on login? TURNSTILE_ON)' : ''));
  } else {
    const { access_token: token, refresh_token: refreshToken } = login.body;
    const me = await call('/api/v1/auth/me', { token });
    if (me.status !== 200) fail(`GET /api/v1/auth/me answered ${me.status}: ${JSON.stringify(me.body)}`);
    if (me.body.is_superuser !== true) fail(`${email} logs in but is not a superuser (make superuser)`);
    ok(`${email} logs in, and is a superuser`);
    if (me.body.email_verified) {
      ok(`${email} is verified`);
    } else {
      const resend = await call('/api/v1/auth/verify-email/resend', { method: 'POST', token });
      if (resend.status !== 202) fail(`asking for the verification email answered ${resend.status}: ${JSON.stringify(resend.body)}`);
      note(`a verification email is on its way to ${email}: follow its link (that verifies the ` +
        'address, and shows that email arrives); none within minutes? see the email lines in the log');
    }
    const logout = await call('/api/v1/auth/logout', { method: 'POST', json: { refresh_token: refreshToken } });
    if (logout.status !== 204) fail(`logout answered ${logout.status}`);
    ok('logged out again');
  }
}
console.log(`smoke: ${origin} passed`);
