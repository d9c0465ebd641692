// Passkeys on the account pages in Chromium, with its virtual authenticator, found by labels
// and roles as a person would: a passkey added on /account, renamed, used on /login with no
// email or password typed, and removed; a TOTP user's second step answered with a passkey;
// a stale session's "sign in again". And the pages themselves: TOTP's state shown on load,
// the sign-in done with the keyboard alone, no sideways scrolling at 320 px, and the
// system's dark preference followed.
//
// Browsers refuse an IP address as an RP ID, so the pages are opened at http://localhost:PORT.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, PASSWORD, randomEmail, launchChromium, sql, sqlText } from './helpers.mjs';
import { authenticator } from './totp.mjs';

const LOCAL = BASE_URL.replace('127.0.0.1', 'localhost');

let browser;
before(async () => { browser = await launchChromium(); });
after(async () => { await browser?.close(); });

/** A new browser context (a device) with a page that has a virtual authenticator (unless
 * `authenticator` is false). The page logs its navigator.credentials.get calls in its
 * session storage, which outlives a navigation: each call's mediation, and whether every
 * earlier call of the same page had been aborted when it began.
 *
 * The virtual authenticator answers the autofill's request at once, as a person picking
 * their passkey in the email field would; `autofill: false` makes the browser say it has
 * no passkey autofill, for the flows that start elsewhere. */
async function device(options = {}, { autofill = true, authenticator = true } = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  if (!autofill) {
    await page.addInitScript(() => {
      PublicKeyCredential.isConditionalMediationAvailable = async () => false;
    });
  }
  await page.addInitScript(() => {
    const signals = [];
    const get = navigator.credentials.get.bind(navigator.credentials);
    navigator.credentials.get = (request) => {
      const log = JSON.parse(sessionStorage.getItem('passkey-requests') || '[]');
      log.push({ mediation: request.mediation ?? 'optional', earlierAborted: signals.every((s) => s?.aborted) });
      sessionStorage.setItem('passkey-requests', JSON.stringify(log));
      signals.push(request.signal);
      return get(request);
    };
  });
  if (!authenticator) return { context, page };
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  return { context, page };
}

const requests = (page) => page.evaluate(() => JSON.parse(sessionStorage.getItem('passkey-requests') || '[]'));

async function signUp(page, email = randomEmail()) {
  await page.goto(`${LOCAL}/signup`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await atAccount(page);
  return email;
}

async function atAccount(page) {
  await page.waitForURL((url) => url.pathname === '/account');
  await page.getByRole('heading', { name: 'Profile' }).waitFor();
}

async function signOut(page) {
  await page.getByRole('button', { name: 'Sign out', exact: true }).last().click();
  await page.waitForURL((url) => url.pathname === '/login');
}

/** Adds a passkey from /account, named `name` or not; its row in the list. */
async function addPasskey(page, name) {
  const form = page.locator('#passkey-add');
  if (name) await form.getByLabel('Name of the new passkey').fill(name);
  await form.getByRole('button', { name: 'Add a passkey' }).click();
  await form.getByRole('status').filter({ hasText: 'Added' }).waitFor();
  const list = page.locator('#passkey-list');
  await list.getByRole('button', { name: /^Remove / }).first().waitFor();
  return list;
}

async function turnOnTotp(page) {
  const section = page.locator('#two-step');
  assert.equal(await section.locator('#totp-state').textContent(), 'off');
  await section.getByLabel('Your password, to set it up').fill(PASSWORD);
  await section.getByRole('button', { name: 'Set up two-step sign-in' }).click();
  await section.getByLabel('Code from the app').waitFor();
  const app = authenticator((await page.locator('#totp-secret').textContent()).trim());
  await section.getByLabel('Code from the app').fill(await app.code());
  await section.getByRole('button', { name: 'Turn on' }).click();
  await page.locator('#codes-list li').first().waitFor();
  return app;
}

describe('passkeys on /account and /login', () => {
  test('add a passkey on /account and rename it; sign out; sign in with it typing nothing; remove it', async () => {
    const { page, context } = await device({}, { autofill: false });
    const email = await signUp(page);
    const list = page.locator('#passkey-list');
    await list.getByText('No passkeys yet.').waitFor();
    await addPasskey(page);
    assert.match(await list.locator('li span').first().textContent(), /^.*Chrom.* · added .* · not used yet$/, 'named after the device');

    await list.getByRole('button', { name: /^Rename / }).click();
    await list.getByLabel('New name').fill('Work laptop');
    await list.getByRole('button', { name: 'Save name' }).click();
    await list.getByRole('button', { name: 'Rename Work laptop' }).waitFor();
    const focused = () => page.evaluate(() => document.activeElement.getAttribute('aria-label') || document.activeElement.textContent);
    assert.equal(await focused(), 'Rename Work laptop', 'the keyboard\'s place is kept');
    await page.reload();
    await atAccount(page);
    await list.getByText(/^Work laptop · added /).waitFor();

    await signOut(page);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await atAccount(page);
    assert.equal(await page.locator('#email-address').textContent(), email);
    assert.deepEqual(await requests(page), [{ mediation: 'optional', earlierAborted: true }]);
    await list.getByText(/^Work laptop · added .* · last used /).waitFor();

    await list.getByRole('button', { name: 'Remove Work laptop' }).click();
    await list.getByText('No passkeys yet.').waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Add a passkey');
    const [{ n }] = await sql(`SELECT count(*) AS n FROM passkeys WHERE user_id = (SELECT id FROM users WHERE email = ${sqlText(email)})`);
    assert.equal(n, 0);
    await context.close();
  });

  test('the email field\'s passkey autofill signs in once the browser answers it, with nothing typed or clicked', async () => {
    const { page, context } = await device();
    const email = await signUp(page);
    await addPasskey(page, 'Laptop');
    await page.evaluate(() => sessionStorage.removeItem('passkey-requests'));
    const signedIn = page.waitForResponse((res) => res.url().endsWith('/api/v1/auth/passkeys/login') && res.status() === 200);
    await page.getByRole('button', { name: 'Sign out', exact: true }).last().click();
    await signedIn;
    await atAccount(page);
    assert.equal(await page.locator('#email-address').textContent(), email);
    assert.deepEqual(await requests(page), [{ mediation: 'conditional', earlierAborted: true }]);
    await context.close();
  });

  test('/login asks for the autofill on the email field, and aborts it before "Sign in with a passkey" asks', async () => {
    // No authenticator: every request waits, so the page's own aborting is what shows.
    const { page, context } = await device({}, { authenticator: false });
    await page.goto(`${LOCAL}/login`);
    assert.equal(await page.getByLabel('Email').getAttribute('autocomplete'), 'username webauthn');
    await page.waitForFunction(() => sessionStorage.getItem('passkey-requests')?.includes('conditional'));
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.waitForFunction(() => sessionStorage.getItem('passkey-requests')?.includes('optional'));
    assert.deepEqual(await requests(page), [
      { mediation: 'conditional', earlierAborted: true },
      { mediation: 'optional', earlierAborted: true },
    ]);
    await context.close();
  });

  test('a TOTP user: /account shows TOTP on after a reload, and the second step on /login is answered with a passkey', async () => {
    const { page, context } = await device({}, { autofill: false });
    const email = await signUp(page);
    await turnOnTotp(page);
    assert.equal(await page.locator('#totp-state').textContent(), 'on');
    await page.reload();
    await atAccount(page);
    assert.equal(await page.locator('#totp-state').textContent(), 'on');
    assert.equal(await page.getByRole('button', { name: 'Set up two-step sign-in' }).isVisible(), false);
    assert.equal(await page.getByRole('button', { name: 'Turn off two-step sign-in' }).isVisible(), true);
    await addPasskey(page, 'Phone');

    await signOut(page);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByLabel('Code from your authenticator app').waitFor();
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    await atAccount(page);
    await page.locator('#passkey-list').getByText(/^Phone · added .* · last used /).waitFor();
    await context.close();
  });

  test('a stale session: adding a passkey says to sign in again, next to the button, with a way to do it', async () => {
    const { page, context } = await device();
    const email = await signUp(page);
    await sql(`UPDATE sessions SET created_at = created_at - 601 WHERE user_id = (SELECT id FROM users WHERE email = ${sqlText(email)})`);
    const form = page.locator('#passkey-add');
    await form.getByRole('button', { name: 'Add a passkey' }).click();
    const alert = form.getByRole('alert').filter({ hasText: 'Sign in again' });
    await alert.waitFor();
    await alert.getByRole('button', { name: 'Sign in again' }).click();
    await page.waitForURL((url) => url.pathname === '/login');
    assert.equal(new URL(page.url()).searchParams.get('next'), '/account');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await atAccount(page);
    await addPasskey(page, 'Fresh');
    await context.close();
  });

  test('a user without a password is told how to set one, and cannot remove their last passkey', async () => {
    const { page, context } = await device();
    const email = await signUp(page);
    await addPasskey(page, 'Only way in');
    await sql(`UPDATE users SET hashed_password = '' WHERE email = ${sqlText(email)}`);
    await page.reload();
    await atAccount(page);
    const password = page.locator('#password-form');
    await password.getByText('You have no password').waitFor();
    assert.equal(await password.getByRole('link', { name: 'ask for a password email' }).getAttribute('href'), '/forgot-password');
    assert.equal(await password.getByLabel('Current password').isVisible(), false);
    assert.match(await page.locator('#totp-state').textContent(), /needs a password/);
    const list = page.locator('#passkey-list');
    await list.getByRole('button', { name: 'Remove Only way in' }).click();
    await list.getByRole('alert').filter({ hasText: 'last way to sign in' }).waitFor();
    await context.close();
  });
});

describe('the pages for everyone', () => {
  test('the whole sign-in with the keyboard alone: Tab and Enter, each focused control visibly outlined', async () => {
    const { page, context } = await device();
    const email = await signUp(page);
    await signOut(page);
    const focused = () => page.evaluate(() => {
      const element = document.activeElement;
      const style = getComputedStyle(element);
      return { name: element.name || element.textContent.trim(), outline: style.outlineStyle, width: parseFloat(style.outlineWidth) };
    });
    await page.keyboard.press('Tab');
    let now = await focused();
    assert.equal(now.name, 'username');
    assert.ok(now.outline !== 'none' && now.width >= 2, JSON.stringify(now));
    await page.keyboard.type(email);
    await page.keyboard.press('Tab');
    now = await focused();
    assert.equal(now.name, 'password');
    assert.ok(now.outline !== 'none' && now.width >= 2, JSON.stringify(now));
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Tab');
    now = await focused();
    assert.equal(now.name, 'Sign in');
    assert.ok(now.outline !== 'none' && now.width >= 2, JSON.stringify(now));
    await page.keyboard.press('Enter');
    await atAccount(page);
    await context.close();
  });

  test('at 320 px wide no page scrolls sideways', async () => {
    const { page, context } = await device({ viewport: { width: 320, height: 640 } });
    const width = () => page.evaluate(() => document.scrollingElement.scrollWidth);
    for (const path of ['/login', '/signup', '/forgot-password']) {
      await page.goto(`${LOCAL}${path}`);
      await page.locator('main h1').waitFor();
      assert.ok((await width()) <= 320, `${path}: ${await width()} px`);
    }
    await signUp(page);
    await addPasskey(page, 'A passkey with a rather long name for a narrow screen');
    await page.locator('#device-list li').first().waitFor();
    assert.ok((await width()) <= 320, `/account: ${await width()} px`);
    await page.locator('#passkey-list').getByRole('button', { name: /^Rename / }).click();
    assert.ok((await width()) <= 320, `/account, renaming: ${await width()} px`);
    await context.close();
  });

  test('the system\'s dark preference changes the page\'s background', async () => {
    const backgrounds = {};
    for (const colorScheme of ['light', 'dark']) {
      const context = await browser.newContext({ colorScheme });
      const page = await context.newPage();
      for (const path of ['/login', '/signup']) {
        await page.goto(`${LOCAL}${path}`);
        await page.locator('main h1').waitFor();
        backgrounds[`${colorScheme} ${path}`] = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      }
      await context.close();
    }
    for (const path of ['/login', '/signup']) {
      assert.notEqual(backgrounds[`light ${path}`], backgrounds[`dark ${path}`], JSON.stringify(backgrounds));
    }
  });
});
