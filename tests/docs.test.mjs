// /docs and /api/v1/openapi.json: the original tutorial's journey in a real browser —
// open the docs, Authorize with email and password, "Try it out" on /auth/me, get 200.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { api, signup, PASSWORD, BASE_URL, launchChromium } from './helpers.mjs';

describe('OpenAPI document', () => {
  test('is served at /api/v1/openapi.json with the password flow against the login route', async () => {
    const res = await api('/api/v1/openapi.json');
    assert.equal(res.status, 200);
    assert.match(res.body.openapi, /^3\./);
    const flow = res.body.components.securitySchemes.OAuth2PasswordBearer.flows.password;
    assert.equal(flow.tokenUrl, '/api/v1/auth/login');
    for (const path of ['/api/v1/auth/signup', '/api/v1/auth/login', '/api/v1/auth/me', '/api/v1/recipes/{recipe_id}']) {
      assert.ok(res.body.paths[path], `${path} is documented`);
    }
  });

  test('is the committed assets/api/v1/openapi.json, served as a static asset, which a unit test keeps equal to the annotations', async () => {
    const res = await api('/api/v1/openapi.json');
    assert.match(res.headers.get('content-type'), /^application\/json/);
    assert.equal(res.headers.get('access-control-allow-origin'), '*', 'any origin\'s tools may read it');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    const committed = JSON.parse(readFileSync(new URL('../assets/api/v1/openapi.json', import.meta.url), 'utf8'));
    assert.deepEqual(res.body, committed);
  });

  test('other methods are refused with 405', async () => {
    const res = await api('/api/v1/openapi.json', { method: 'POST', json: {} });
    assert.equal(res.status, 405);
  });
});

describe('Swagger UI at /docs', () => {
  let browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  test('Authorize with email and password, then Try it out on /auth/me answers 200 with the user', async () => {
    const { body: user } = await signup({ first_name: 'Swagger' });
    const page = await browser.newPage();
    const problems = [];
    page.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()); });
    page.on('requestfailed', (request) => problems.push(`${request.url()} ${request.failure()?.errorText}`));

    await page.goto(`${BASE_URL}/docs`);
    await page.locator('button.authorize').first().click();
    await page.locator('#oauth_username').fill(user.email);
    await page.locator('#oauth_password').fill(PASSWORD);
    await page.locator('.auth-btn-wrapper button.authorize').click();
    const modal = page.locator('.modal-ux');
    await modal.locator('button', { hasText: 'Logout' }).waitFor();
    await modal.locator('button', { hasText: 'Close' }).click();

    const me = page.locator('#operations-auth-me');
    await me.locator('.opblock-summary').click();
    await me.locator('button.try-out__btn').click();
    await me.locator('button.execute').click();
    const status = me.locator('.live-responses-table .response .response-col_status').first();
    await status.waitFor();
    assert.equal((await status.innerText()).trim(), '200');
    const body = await me.locator('.live-responses-table .response-col_description pre').first().innerText();
    assert.equal(JSON.parse(body).email, user.email);
    assert.deepEqual(problems, [], 'no console errors, CSP violations or failed requests');
    await page.close();
  });
});
