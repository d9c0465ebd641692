// The account pages in Chromium, found by their labels and roles as a person would: sign up,
// verify the email from the mail catcher, sign in, /account; staying signed in across a
// reload with no refresh token script can read; the cookie refused to other origins; TOTP
// on, then a sign-in with its code and with a recovery code; a provider sign-in landing on
// /account, linking and unlinking another; two devices, one signed out from the other; a
// password then a name changed; the account deleted; and each page's CSP and size.
import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { api, BASE_URL, PASSWORD, randomEmail, launchChromium, mailTo, linkFrom, sql, sqlText } from './helpers.mjs';
import { authenticator } from './totp.mjs';

const OIDC = process.env.OIDC_ISSUER_URL;
const GITHUB = process.env.GITHUB_STANDIN_URL;
const unique = () => randomUUID().slice(0, 8);

let browser;
before(async () => { browser = await launchChromium(); });
after(async () => { await browser?.close(); });

/** A new browser context (a device) and a page in it. */
async function device() {
  const context = await browser.newContext();
  const page = await context.newPage();
  return { context, page };
}

const ACCOUNT = `${BASE_URL}/account`;

async function signUpInBrowser(page, { email = randomEmail(), password = PASSWORD, first = 'Ada' } = {}) {
  await page.goto(`${BASE_URL}/signup`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByLabel('First name').fill(first);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL((url) => url.pathname === '/account');
  await page.getByRole('heading', { name: 'Profile' }).waitFor();
  return { email, password };
}

async function signInInBrowser(page, email, password = PASSWORD) {
  await page.goto(`${BASE_URL}/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

const atAccount = async (page) => {
  await page.waitForURL((url) => url.pathname === '/account');
  await page.getByRole('heading', { name: 'Profile' }).waitFor();
};

// Every cookie of the context: cookies(url) would leave out those whose path the URL is not under.
const refreshCookie = async (context) => (await context.cookies()).find((c) => c.name === 'refresh_token');

describe('sign up, verify, sign in', () => {
  test('a new account: signed in at once, the verification email followed, then signed in again with the password', async () => {
    const { page, context } = await device();
    const { email } = await signUpInBrowser(page);
    assert.match(await page.locator('#email-state').textContent(), /not verified yet/);
    const mail = await mailTo(email);
    await page.goto(linkFrom(mail));
    await page.getByRole('button', { name: 'Verify my email' }).click();
    await page.getByRole('status').filter({ hasText: /verified/i }).waitFor();
    await page.goto(ACCOUNT);
    await atAccount(page);
    assert.equal(await page.locator('#email-state').textContent(), 'verified');
    await page.getByRole('button', { name: 'Sign out', exact: true }).last().click();
    await page.waitForURL((url) => url.pathname === '/login');
    assert.equal(await refreshCookie(context), undefined, 'sign-out clears the cookie');
    await signInInBrowser(page, email);
    await atAccount(page);
    assert.equal(await page.locator('#email-address').textContent(), email);
    await context.close();
  });

  test('errors show next to the field: a wrong password at sign-in, a taken email at sign-up', async () => {
    const { page, context } = await device();
    const { email } = await signUpInBrowser(page);
    await page.getByRole('button', { name: 'Sign out', exact: true }).last().click();
    await page.waitForURL((url) => url.pathname === '/login');
    await signInInBrowser(page, email, 'not the password');
    await page.getByRole('alert').filter({ hasText: 'Incorrect username or password' }).waitFor();
    await page.goto(`${BASE_URL}/signup`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('alert').filter({ hasText: 'already exists' }).waitFor();
    await page.getByLabel('Email').fill('not-an-email');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.locator('[data-for="email"]').filter({ hasText: /.+/ }).waitFor();
    assert.equal(await page.getByLabel('Email').getAttribute('aria-invalid'), 'true');
    await context.close();
  });
});

describe('staying signed in', () => {
  test('a reload keeps the session; script sees no refresh token; the cookie is HttpOnly, Strict, on the auth routes only', async () => {
    const { page, context } = await device();
    const { email } = await signUpInBrowser(page);
    const cookie = await refreshCookie(context);
    assert.ok(cookie, 'the refresh token is in a cookie');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(cookie.path, '/api/v1/auth');
    assert.equal(await page.evaluate(() => document.cookie.includes('refresh_token')), false);
    assert.equal(await page.evaluate((value) => JSON.stringify({ ...localStorage, ...sessionStorage }).includes(value), cookie.value), false);
    await page.reload();
    await atAccount(page);
    assert.equal(await page.locator('#email-address').textContent(), email);
    assert.notEqual((await refreshCookie(context)).value, cookie.value, 'the reload rotated it');
    await context.close();
  });

  test('the cookie is read only from the API\'s own origin: another origin, or a request that names none, is refused', async () => {
    const { page, context } = await device();
    await signUpInBrowser(page);
    const { value } = await refreshCookie(context);
    const send = (headers) => api('/api/v1/auth/refresh', {
      method: 'POST', headers: { cookie: `refresh_token=${value}`, 'x-refresh-cookie': '1', ...headers },
    });
    for (const headers of [
      { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
      { origin: 'http://127.0.0.1:1', 'sec-fetch-site': 'same-site' },
      { 'sec-fetch-site': 'cross-site' },
      {},
    ]) {
      const res = await send(headers);
      assert.equal(res.status, 403, JSON.stringify(headers));
      assert.deepEqual(res.body, { detail: 'Cross-site request refused' });
    }
    // A cross-site form post cannot send the header: the cookie alone is not read.
    const form = await api('/api/v1/auth/refresh', {
      method: 'POST', headers: { cookie: `refresh_token=${value}`, origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1',
    });
    assert.ok([415, 422].includes(form.status), `${form.status}`);
    // None of that touched the session: the page still refreshes with it.
    await page.reload();
    await atAccount(page);
    const current = (await refreshCookie(context)).value;
    const own = await api('/api/v1/auth/refresh', {
      method: 'POST', headers: { cookie: `refresh_token=${current}`, 'x-refresh-cookie': '1', origin: BASE_URL },
    });
    assert.equal(own.status, 200, JSON.stringify(own.body));
    assert.equal(own.body.refresh_token, undefined, 'not in the body');
    assert.match(own.headers.get('set-cookie'), /^refresh_token=[^;]+; Path=\/api\/v1\/auth; Max-Age=\d+; HttpOnly; SameSite=Strict/);
    await context.close();
  });

  test('body clients see no change: the refresh token is in the answer, and refresh takes it in the body', async () => {
    const email = randomEmail();
    assert.equal((await api('/api/v1/auth/signup', { method: 'POST', json: { email, password: PASSWORD } })).status, 201);
    const login = await api('/api/v1/auth/login', { method: 'POST', form: new URLSearchParams({ username: email, password: PASSWORD }) });
    assert.equal(login.status, 200);
    assert.equal(login.headers.get('set-cookie'), null);
    const refreshed = await api('/api/v1/auth/refresh', { method: 'POST', json: { refresh_token: login.body.refresh_token } });
    assert.equal(refreshed.status, 200);
    assert.equal(typeof refreshed.body.refresh_token, 'string');
  });
});

describe('two-step sign-in', () => {
  test('TOTP on from /account, the recovery codes shown once; then a sign-in with a code, and one with a recovery code', async () => {
    const { page, context } = await device();
    const { email } = await signUpInBrowser(page);
    const section = page.locator('#two-step');
    await section.getByLabel('Your password, to set it up').fill(PASSWORD);
    await section.getByRole('button', { name: 'Set up two-step sign-in' }).click();
    await section.getByLabel('Code from the app').waitFor();
    const secret = (await page.locator('#totp-secret').textContent()).trim();
    assert.match(secret, /^[A-Z2-7]+$/);
    assert.equal(await page.getByRole('img', { name: 'QR code of the authenticator secret' }).isVisible(), true);
    const app = authenticator(secret);
    await section.getByLabel('Code from the app').fill(await app.code());
    await section.getByRole('button', { name: 'Turn on' }).click();
    await page.locator('#codes-list li').first().waitFor();
    const codes = await page.locator('#codes-list li').allTextContents();
    assert.equal(codes.length, 10);
    // Still signed in after the new pair.
    await page.reload();
    await atAccount(page);
    assert.equal(await page.locator('#codes-list li').count(), 0, 'shown once');

    await page.getByRole('button', { name: 'Sign out', exact: true }).last().click();
    await page.waitForURL((url) => url.pathname === '/login');
    await signInInBrowser(page, email);
    await page.getByLabel('Code from your authenticator app').fill(await app.code());
    await page.getByRole('button', { name: 'Continue', exact: true }).click();
    await atAccount(page);

    await page.getByRole('button', { name: 'Sign out', exact: true }).last().click();
    await page.waitForURL((url) => url.pathname === '/login');
    await signInInBrowser(page, email);
    await page.getByRole('button', { name: 'Use a recovery code' }).click();
    await page.getByLabel('Recovery code').fill(codes[0]);
    await page.getByRole('button', { name: 'Continue', exact: true }).click();
    await atAccount(page);

    // The same recovery code a second time is refused, next to the field's form.
    await page.getByRole('button', { name: 'Sign out', exact: true }).last().click();
    await page.waitForURL((url) => url.pathname === '/login');
    await signInInBrowser(page, email);
    await page.getByRole('button', { name: 'Use a recovery code' }).click();
    await page.getByLabel('Recovery code').fill(codes[0]);
    await page.getByRole('button', { name: 'Continue', exact: true }).click();
    await page.locator('#mfa-form').getByRole('alert').filter({ hasText: /.+/ }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/login');
    await context.close();
  });
});

describe('providers', () => {
  test('sign in through the OpenID provider, landing on /account; link the GitHub stand-in; unlink it', async () => {
    const { page, context } = await device();
    const providers = (await api('/api/v1/auth/oauth/providers')).body;
    const oidc = providers.find((p) => p.id === 'oidc');
    const github = providers.find((p) => p.id === 'github');
    const name = `grace.hopper-${unique()}`;
    await page.goto(`${BASE_URL}/login`);
    await page.getByRole('button', { name: `Continue with ${oidc.name}` }).click();
    await page.waitForURL((url) => url.href.startsWith(`${OIDC}/interaction/`));
    await page.locator('input[name="login"]').fill(name);
    await page.locator('input[name="password"]').fill('any password');
    await page.locator('button[type="submit"]').click();
    await page.getByRole('button', { name: 'Continue', exact: true }).click();
    await atAccount(page);
    assert.equal(await page.locator('#email-address').textContent(), `${name}@example.com`);
    assert.equal(new URL(page.url()).hash, '', 'no code left in the address bar');
    const linked = page.locator('#identity-list');
    await linked.getByText(`${oidc.name} · ${name}@example.com`).waitFor();

    const login = `hopper-${unique()}`;
    await page.getByRole('button', { name: `Link ${github.name}`, exact: true }).click();
    await page.waitForURL((url) => url.href.startsWith(`${GITHUB}/login/oauth/authorize?`));
    await page.locator('#login').fill(login);
    await page.locator('#email').fill(`${login}@elsewhere.example`);
    await page.getByRole('button', { name: 'Authorize' }).click();
    await atAccount(page);
    await linked.getByText(`${github.name} · ${login}@elsewhere.example`).waitFor();
    assert.equal(new URL(page.url()).hash, '');

    await page.getByRole('button', { name: `Unlink ${github.name}` }).click();
    await page.getByRole('button', { name: `Link ${github.name}`, exact: true }).waitFor();
    assert.equal(await linked.getByText(`${login}@elsewhere.example`).count(), 0);
    assert.equal(await page.getByRole('button', { name: `Unlink ${github.name}` }).count(), 0);
    await context.close();
  });

  test('linking an account of the provider that is someone else\'s is refused with identity_conflict', async () => {
    const providers = (await api('/api/v1/auth/oauth/providers')).body;
    const github = providers.find((p) => p.id === 'github');
    const login = `taken-${unique()}`;
    const linkFrom = async (page) => {
      await page.getByRole('button', { name: `Link ${github.name}`, exact: true }).click();
      await page.waitForURL((url) => url.href.startsWith(`${GITHUB}/login/oauth/authorize?`));
      await page.locator('#login').fill(login);
      await page.locator('#email').fill(`${login}@elsewhere.example`);
      await page.getByRole('button', { name: 'Authorize' }).click();
      await atAccount(page);
    };
    const first = await device();
    await signUpInBrowser(first.page);
    await linkFrom(first.page);
    await first.page.getByRole('button', { name: `Unlink ${github.name}` }).waitFor();
    const second = await device();
    await signUpInBrowser(second.page);
    await linkFrom(second.page);
    await second.page.locator('#linked').getByRole('alert').filter({ hasText: 'linked to another user' }).waitFor();
    await first.context.close();
    await second.context.close();
  });

  test('linking needs a session started in the last 10 minutes', async () => {
    const { page, context } = await device();
    const { email } = await signUpInBrowser(page);
    await sql(`UPDATE sessions SET created_at = created_at - 601 WHERE user_id = (SELECT id FROM users WHERE email = ${sqlText(email)})`);
    await page.getByRole('button', { name: /^Link / }).first().click();
    await page.locator('#linked').getByRole('alert').filter({ hasText: 'Sign in again' }).waitFor();
    await context.close();
  });
});

describe('devices', () => {
  test('two devices: one signs the other out, whose next action lands on /login', async () => {
    const a = await device();
    const { email } = await signUpInBrowser(a.page);
    const b = await device();
    await signInInBrowser(b.page, email);
    await atAccount(b.page);
    await a.page.reload();
    await atAccount(a.page);
    const list = a.page.locator('#device-list');
    await list.getByRole('button', { name: 'Sign out' }).first().waitFor();
    assert.equal(await list.getByRole('button', { name: 'Sign out' }).count(), 1, 'the other device, not this one');
    await list.getByRole('button', { name: 'Sign out' }).click();
    await list.getByText('this device').waitFor();
    await a.page.waitForFunction(() => document.querySelectorAll('#device-list button').length === 0);
    // B's access token may still be good for its lifetime; its session is not: a reload ends at /login.
    await b.page.reload();
    await b.page.waitForURL((url) => url.pathname === '/login');
    assert.equal(new URL(b.page.url()).searchParams.get('next'), '/account');
    await a.context.close();
    await b.context.close();
  });
});

describe('account changes', () => {
  test('change the password, then the name; then delete the account after typing its email', async () => {
    const { page, context } = await device();
    const { email } = await signUpInBrowser(page);
    const form = page.locator('#password-form');
    await form.getByLabel('Current password').fill('wrong password');
    await form.getByLabel('New password').fill('a brand new password');
    await form.getByRole('button', { name: 'Change password' }).click();
    await form.locator('[data-for="current_password"]').filter({ hasText: 'Incorrect password' }).waitFor();
    await form.getByLabel('Current password').fill(PASSWORD);
    await form.getByRole('button', { name: 'Change password' }).click();
    await form.getByRole('status').filter({ hasText: 'Changed' }).waitFor();

    const profile = page.locator('#profile-form');
    await profile.getByLabel('First name').fill('Grace');
    await profile.getByLabel('Surname').fill('Hopper');
    await profile.getByRole('button', { name: 'Save name' }).click();
    await profile.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    await page.reload();
    await atAccount(page);
    assert.equal(await profile.getByLabel('First name').inputValue(), 'Grace');
    assert.equal(await profile.getByLabel('Surname').inputValue(), 'Hopper');
    const old = await api('/api/v1/auth/login', { method: 'POST', form: new URLSearchParams({ username: email, password: PASSWORD }) });
    assert.equal(old.status, 400, 'the old password is gone');

    const remove = page.locator('#delete-form');
    await remove.getByLabel('Type your email to confirm').fill('someone@else.example');
    await remove.getByRole('button', { name: 'Delete my account' }).click();
    await remove.locator('[data-for="confirm_email"]').filter({ hasText: /.+/ }).waitFor();
    await remove.getByLabel('Type your email to confirm').fill(email);
    await remove.getByRole('button', { name: 'Delete my account' }).click();
    await page.waitForURL((url) => url.pathname === '/signup');
    const gone = await api('/api/v1/auth/login', { method: 'POST', form: new URLSearchParams({ username: email, password: 'a brand new password' }) });
    assert.equal(gone.status, 400);
    await context.close();
  });

  test('PATCH /api/v1/auth/me changes only the names it is given; null clears one', async () => {
    const email = randomEmail();
    await api('/api/v1/auth/signup', { method: 'POST', json: { email, password: PASSWORD, first_name: 'Ada', surname: 'Byron' } });
    const token = (await api('/api/v1/auth/login', { method: 'POST', form: new URLSearchParams({ username: email, password: PASSWORD }) })).body.access_token;
    let res = await api('/api/v1/auth/me', { method: 'PATCH', token, json: { surname: 'Lovelace' } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual([res.body.first_name, res.body.surname], ['Ada', 'Lovelace']);
    res = await api('/api/v1/auth/me', { method: 'PATCH', token, json: { first_name: null } });
    assert.deepEqual([res.body.first_name, res.body.surname], [null, 'Lovelace']);
    res = await api('/api/v1/auth/me', { method: 'PATCH', token, json: { first_name: 'x'.repeat(257) } });
    assert.equal(res.status, 422);
    res = await api('/api/v1/auth/me', { method: 'PATCH', json: { first_name: 'Eve' } });
    assert.equal(res.status, 401);
  });
});

describe('each page', () => {
  const PAGES = { '/login': 'login.js', '/signup': 'signup.js', '/forgot-password': 'forgot-password.js', '/account': 'account-page.js' };
  const BUDGET = 30 * 1024;

  for (const [path, script] of Object.entries(PAGES)) {
    test(`${path}: a strict CSP with no inline script; its JS and CSS within ${BUDGET / 1024} KiB gzip`, async () => {
      const res = await api(path);
      assert.equal(res.status, 200);
      const csp = res.headers.get('content-security-policy');
      const scriptSrc = /script-src ([^;]*)/.exec(csp)[1];
      assert.equal(scriptSrc, "'self'");
      assert.ok(!csp.includes('unsafe'), csp);
      assert.match(csp, /style-src 'sha256-[A-Za-z0-9+/=]+'/);
      assert.ok(res.body.includes(`<script type="module" src="/pages/${script}"></script>`));
      assert.equal((res.body.match(/<script/g) ?? []).length, 1, 'one script, not inline');
      const style = /<style>([\s\S]*?)<\/style>/.exec(res.body)[1];
      let bytes = gzipSync(style).length;
      for (const file of [script, 'session.js']) {
        const asset = await fetch(`${BASE_URL}/pages/${file}`);
        assert.equal(asset.status, 200, file);
        bytes += gzipSync(Buffer.from(await asset.arrayBuffer())).length;
      }
      assert.ok(bytes <= BUDGET, `${path}: ${bytes} bytes gzip`);
    });
  }

  test('every field has a label, and ?next= leads only to this origin', async () => {
    const { page, context } = await device();
    for (const path of Object.keys(PAGES).filter((p) => p !== '/account')) {
      await page.goto(`${BASE_URL}${path}`);
      const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input:not([type=hidden])')]
        .filter((input) => !input.labels?.length && !input.getAttribute('aria-labelledby')).map((input) => input.name));
      assert.deepEqual(unlabelled, [], path);
    }
    const { email } = await signUpInBrowser(page);
    await page.getByRole('button', { name: 'Sign out', exact: true }).last().click();
    await page.waitForURL((url) => url.pathname === '/login');
    for (const [next, landing] of [['//evil.example/x', '/account'], ['https://evil.example/', '/account'], ['/account?tab=1', '/account']]) {
      await page.goto(`${BASE_URL}/login?next=${encodeURIComponent(next)}`);
      await page.getByLabel('Email').fill(email);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.waitForURL((url) => url.origin === BASE_URL && url.pathname === landing);
      await page.getByRole('button', { name: 'Sign out', exact: true }).last().click();
      await page.waitForURL((url) => url.pathname === '/login');
    }
    await context.close();
  });
});
