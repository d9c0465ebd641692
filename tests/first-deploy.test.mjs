// The first-deploy checklist of docs/deploying.md, end to end: tests/deploy.test.sh runs each
// of its commands in order against a fake wrangler whose D1 statements go to this server's
// local D1, so `make superuser` really creates the superuser and the last step, `make smoke`,
// logs in as them here. Then the smoke check itself (scripts/smoke.mjs) against servers with
// Turnstile on: a real-looking secret passes, Cloudflare's always-pass test secret fails.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BASE_URL, startServer, mailTo, sql } from './helpers.mjs';

const run = promisify(execFile);

/** scripts/smoke.mjs against `base`; resolves with its exit code and output. */
async function smoke(base, args = [], env = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['scripts/smoke.mjs', base, ...args], {
      env: { ...process.env, ...env }, timeout: 120_000,
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    return { code: error.code, output: `${error.stdout}${error.stderr}` };
  }
}

describe('the first-deploy checklist', () => {
  test('runs command by command, from login to a smoke-tested superuser', { timeout: 600_000 }, async () => {
    let output;
    try {
      ({ stdout: output } = await run('tests/deploy.test.sh', ['checklist'], { env: process.env, timeout: 600_000 }));
    } catch (error) {
      assert.fail(`tests/deploy.test.sh checklist failed:\n${error.stdout}${error.stderr}`);
    }
    assert.match(output, /ok {4}deploy: checklist step 8: make smoke/);
    assert.match(output, /checklist: wrangler was called exactly so, in this order/);
    const email = output.match(/checklist: the superuser will be (\S+)/)?.[1] ?? '';
    // The checklist's superuser: created at the chosen count, unverified, and sent the link.
    const [user] = await sql(`SELECT is_superuser, email_verified, hashed_password FROM users WHERE email = '${email.replace(/'/g, "''")}'`);
    assert.ok(user, `no user ${email} in the server's D1:\n${output}`);
    assert.equal(user.is_superuser, 1);
    assert.equal(user.email_verified, 0, 'a new superuser is unverified until they follow the link');
    assert.match(user.hashed_password, /^\$pbkdf2-sha256\$i=(10000|600000),l=32\$/);
    const mail = await mailTo(email);
    assert.match(JSON.stringify(mail), /verify/i, 'the smoke check asked for the verification email');
  });
});

describe('make smoke (scripts/smoke.mjs)', () => {
  test('passes against this server, and says Turnstile is off here', async () => {
    const { code, output } = await smoke(BASE_URL);
    assert.equal(code, 0, output);
    assert.match(output, /answers/);
    assert.match(output, /sign-in with Local OpenID provider: its callback here is http:\/\/127\.0\.0\.1:\d+\/api\/v1\/auth\/oauth\/oidc\/callback/);
    assert.match(output, /Turnstile does not guard password recovery here/);
  });

  test('fails on a wrong password, and on a host that is not the API', async () => {
    const wrong = await smoke(BASE_URL, [process.env.FIRST_SUPERUSER], { SUPERUSER_PASSWORD: 'not-the-password' });
    assert.equal(wrong.code, 1, wrong.output);
    assert.match(wrong.output, /FAILED {2}login as .* answered 400/);
    const nowhere = await smoke(process.env.MAIL_CATCHER_URL);
    assert.equal(nowhere.code, 1, nowhere.output);
    assert.match(nowhere.output, /is this the API's host\?/);
  });

  describe('with Turnstile on', () => {
    const servers = {};
    before(async () => {
      // 2x…AA fails every token, as a real secret does a test widget's dummy token.
      for (const [name, secret] of [['real', '2x0000000000000000000000000000000AA'], ['always-pass', '1x0000000000000000000000000000000AA']]) {
        servers[name] = await startServer({
          JWT_SECRET: process.env.TEST_JWT_SECRET,
          TURNSTILE_SECRET_KEY: secret,
          TURNSTILE_VERIFY_URL: process.env.TURNSTILE_VERIFY_URL,
        });
      }
    });
    after(async () => {
      await Promise.all(Object.values(servers).map((server) => server.stop()));
    });

    test('a secret that refuses the dummy token passes', async () => {
      const { code, output } = await smoke(servers.real.base);
      assert.equal(code, 0, output);
      assert.match(output, /Turnstile guards password recovery and refuses a dummy token/);
    });

    test("Cloudflare's always-pass test secret fails the check", async () => {
      const { code, output } = await smoke(servers['always-pass'].base);
      assert.equal(code, 1, output);
      assert.match(output, /TURNSTILE_SECRET_KEY is Cloudflare's always-pass test secret/);
    });
  });
});
