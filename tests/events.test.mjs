// Security events on the worker's log: one JSON line each, with an "event" member, for an
// operator to search and alert on; and never a password, token or email in the log.
// scripts/with-server.sh exports WORKER_LOG, the file wrangler dev's output goes to.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import {
  api, newUser, login, refresh, me, changePassword, PASSWORD, SUPERUSER, superuserToken,
  fromAddress, randomIPv4, logSince, pastGraceWindow,
} from './helpers.mjs';

const LOG = process.env.WORKER_LOG;

/** The security events on the log from byte `offset` on. */
const eventsSince = (offset) => logSince(offset).filter((value) => typeof value.event === 'string');

const same = (a, b) => a !== undefined && a !== null && String(a) === String(b);

describe('security events (WORKER_LOG)', () => {
  test('throttling, refresh reuse, password change, reset and deactivation are logged, each once, as JSON lines', async () => {
    assert.ok(LOG, 'scripts/with-server.sh exports WORKER_LOG');
    const offset = statSync(LOG).size;
    const admin = await superuserToken();
    const adminId = (await me(admin)).body.id;
    const { user, token, refresh: firstRefresh } = await newUser();
    const secrets = { 'the password': PASSWORD, 'the admin password': SUPERUSER.password, 'the email': user.email, 'the admin token': admin, 'the first access token': token, 'the first refresh token': firstRefresh };

    // Throttled login: 5 wrong passwords from one address, then a 429.
    const address = randomIPv4();
    const wrong = `wrong ${randomUUID()}`;
    secrets['the wrong password'] = wrong;
    for (let i = 0; i < 5; i++) assert.equal((await login(user.email, wrong, fromAddress(address))).status, 400);
    assert.equal((await login(user.email, wrong, fromAddress(address))).status, 429);

    // Cross-site login refused.
    const crossSite = await login(user.email, wrong, { ...fromAddress(randomIPv4()), origin: 'https://evil.example' });
    assert.equal(crossSite.status, 403);

    // Password change (it ends the first session), then refresh reuse in the new one.
    const changedPassword = `changed ${randomUUID()}`;
    secrets['the new password'] = changedPassword;
    const changed = await changePassword(token, { current_password: PASSWORD, new_password: changedPassword });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    secrets['the access token of the change'] = changed.body.access_token;
    secrets['the refresh token of the change'] = changed.body.refresh_token;
    const rotated = await refresh(changed.body.refresh_token);
    assert.equal(rotated.status, 200);
    secrets['the rotated access token'] = rotated.body.access_token;
    secrets['the rotated refresh token'] = rotated.body.refresh_token;
    await pastGraceWindow(changed.body.refresh_token);
    assert.equal((await refresh(changed.body.refresh_token)).status, 401, 'reuse');

    // A superuser resets the password, then deactivates the user.
    const resetPassword = `reset ${randomUUID()}`;
    secrets['the reset password'] = resetPassword;
    const reset = await api(`/api/v1/users/${user.id}/password`, { method: 'POST', token: admin, json: { new_password: resetPassword } });
    assert.equal(reset.status, 200, JSON.stringify(reset.body));
    const deactivated = await api(`/api/v1/users/${user.id}`, { method: 'PATCH', token: admin, json: { is_active: false } });
    assert.equal(deactivated.status, 200, JSON.stringify(deactivated.body));

    const expected = {
      login_throttled: (e) => e.scope === 'account' && e.client === address
        && Number.isInteger(e.retry_after) && e.retry_after >= 1 && e.retry_after <= 15 * 60,
      cross_site_refused: () => true,
      password_changed: (e) => same(e.user_id, user.id),
      refresh_reuse: (e) => same(e.user_id, user.id),
      password_reset: (e) => same(e.user_id, user.id) && same(e.by, adminId),
      user_deactivated: (e) => same(e.user_id, user.id) && same(e.by, adminId),
    };
    const matching = (events) => Object.fromEntries(Object.entries(expected)
      .map(([name, fits]) => [name, events.filter((e) => e.event === name && fits(e))]));
    let found;
    for (let waited = 0; ; waited += 100) {
      found = matching(eventsSince(offset));
      if (Object.values(found).every((lines) => lines.length > 0) || waited >= 3000) break;
      await delay(100);
    }
    await delay(200); // a duplicate line would have arrived by now
    found = matching(eventsSince(offset));
    for (const [name, lines] of Object.entries(found)) {
      assert.equal(lines.length, 1, `one ${name} line for this test's request: ${JSON.stringify(eventsSince(offset))}`);
    }

    const log = readFileSync(LOG, 'utf8');
    for (const [what, secret] of Object.entries(secrets)) {
      assert.ok(secret && !log.includes(secret), `the log must not contain ${what}`);
    }
  });
});
