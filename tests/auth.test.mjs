// /api/v1/auth: every row of the contract's auth table, error rows included.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, signup, login, newUser, randomEmail, PASSWORD, forgeToken, nowSeconds, decodeClaims,
  phcHash, sql, sqlText,
} from './helpers.mjs';

const USER_KEYS = ['email', 'email_verified', 'first_name', 'id', 'is_superuser', 'surname'];

describe('POST /api/v1/auth/signup', () => {
  test('creates a user and returns it with 201, without any password or hash', async () => {
    const email = randomEmail();
    const res = await signup({ email, first_name: 'Ada', surname: 'Lovelace' });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.deepEqual(Object.keys(res.body).sort(), USER_KEYS);
    assert.equal(res.body.email, email);
    assert.equal(res.body.first_name, 'Ada');
    assert.equal(res.body.surname, 'Lovelace');
    assert.equal(res.body.is_superuser, false);
    assert.ok(Number.isInteger(res.body.id));
  });

  test('names are optional and come back as null', async () => {
    const res = await signup();
    assert.equal(res.status, 201);
    assert.equal(res.body.first_name, null);
    assert.equal(res.body.surname, null);
  });

  test('ignores is_superuser and the unknown fields the React frontend sends', async () => {
    const res = await signup({ is_superuser: true, full_name: 'Eve', is_active: true });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.is_superuser, false);
    const [row] = await sql(`SELECT is_superuser FROM users WHERE id = ${res.body.id}`);
    assert.equal(row.is_superuser, 0);
  });

  test('stores a salted PBKDF2-SHA256 PHC hash with the configured iterations', async () => {
    const res = await signup();
    const [row] = await sql(`SELECT hashed_password FROM users WHERE id = ${res.body.id}`);
    assert.match(row.hashed_password, /^\$pbkdf2-sha256\$i=600000,l=32\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  });

  test('answers 400 for an email that exists, in any case', async () => {
    const email = randomEmail();
    assert.equal((await signup({ email })).status, 201);
    for (const again of [email, email.toUpperCase()]) {
      const res = await signup({ email: again });
      assert.equal(res.status, 400);
      assert.deepEqual(res.body, { detail: 'The user with this email already exists in the system' });
    }
    const rows = await sql(`SELECT count(*) AS n FROM users WHERE email = ${sqlText(email)}`);
    assert.equal(rows[0].n, 1);
  });

  test('concurrent signups for one email: exactly one 201, the rest 400, one row', async () => {
    const email = randomEmail();
    const results = await Promise.all(Array.from({ length: 5 }, () => signup({ email })));
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [201, 400, 400, 400, 400], JSON.stringify(results.map((r) => r.body)));
    const rows = await sql(`SELECT count(*) AS n FROM users WHERE email = ${sqlText(email)}`);
    assert.equal(rows[0].n, 1);
  });

  const invalid = [
    ['an invalid email', { email: 'not-an-email', password: PASSWORD }, ['body', 'email'], 'value_error.email'],
    ['a short password', { email: 'a@example.com', password: 'short' }, ['body', 'password'], 'value_error.any_str.min_length'],
    ['a missing email', { password: PASSWORD }, ['body', 'email'], 'value_error.missing'],
    ['a missing password', { email: 'a@example.com' }, ['body', 'password'], 'value_error.missing'],
    ['a non-string email', { email: 42, password: PASSWORD }, ['body', 'email'], 'type_error.str'],
    ['a 257-character first name', { email: 'a@example.com', password: PASSWORD, first_name: 'x'.repeat(257) }, ['body', 'first_name'], 'value_error.any_str.max_length'],
  ];
  for (const [name, json, loc, type] of invalid) {
    test(`answers 422 at ${loc.join('.')} for ${name}`, async () => {
      const res = await api('/api/v1/auth/signup', { method: 'POST', json });
      assert.equal(res.status, 422, JSON.stringify(res.body));
      const error = res.body.detail.find((e) => e.loc.join('.') === loc.join('.'));
      assert.ok(error, `no error at ${loc}: ${JSON.stringify(res.body)}`);
      assert.equal(error.type, type);
      assert.equal(typeof error.msg, 'string');
    });
  }

  test('answers 422, not 500, for malformed JSON and for JSON that is not an object', async () => {
    for (const body of ['{"email": ', 'not json', '[1,2]', '"text"', '']) {
      const res = await api('/api/v1/auth/signup', {
        method: 'POST', body, headers: { 'content-type': 'application/json' },
      });
      assert.equal(res.status, 422, `${JSON.stringify(body)} → ${JSON.stringify(res.body)}`);
      assert.equal(res.body.detail[0].loc[0], 'body');
    }
  });

  test('a rejected signup writes nothing', async () => {
    const email = randomEmail();
    await api('/api/v1/auth/signup', { method: 'POST', json: { email, password: 'short' } });
    const rows = await sql(`SELECT count(*) AS n FROM users WHERE email = ${sqlText(email)}`);
    assert.equal(rows[0].n, 0);
  });

  test('accepts the path with and without a trailing slash', async () => {
    const res = await api('/api/v1/auth/signup/', { method: 'POST', json: { email: randomEmail(), password: PASSWORD } });
    assert.equal(res.status, 201);
  });
});

describe('POST /api/v1/auth/login', () => {
  test('returns a bearer token for an urlencoded OAuth2 password form', async () => {
    const { body: user } = await signup();
    const res = await api('/api/v1/auth/login', {
      method: 'POST',
      form: new URLSearchParams({ grant_type: 'password', username: user.email, password: PASSWORD, scope: '', client_id: '', client_secret: '' }),
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.token_type, 'bearer');
    const claims = decodeClaims(res.body.access_token);
    assert.equal(claims.type, 'access_token');
    assert.equal(claims.sub, String(user.id));
    assert.equal(claims.exp - claims.iat, 30 * 60, 'short-lived, as wrangler.toml configures');
    assert.equal(res.body.expires_in, 30 * 60);
    assert.equal(claims.ver, 0);
    assert.match(res.body.refresh_token, /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(Object.keys(res.body).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type']);
    assert.ok(Math.abs(claims.iat - nowSeconds()) < 120);
    assert.equal(claims.iss, 'recipe-api', 'JWT_ISSUER');
    assert.equal(claims.aud, 'recipe-api', 'JWT_AUDIENCE');
    assert.match(claims.sid, /^[A-Za-z0-9_-]{22}$/);
    const header = JSON.parse(Buffer.from(res.body.access_token.split('.')[0], 'base64url'));
    assert.equal(header.alg, 'HS256');
    assert.match(header.kid, /^[A-Za-z0-9_-]{11}$/, 'the key is named by a short fingerprint');
    assert.ok(!process.env.TEST_JWT_SECRET.includes(header.kid) && !header.kid.includes(process.env.TEST_JWT_SECRET.slice(0, 8)), 'never by the key itself');
  });

  test('accepts multipart/form-data, as the React frontend posts it', async () => {
    const { body: user } = await signup();
    const form = new FormData();
    form.append('username', user.email);
    form.append('password', PASSWORD);
    const res = await api('/api/v1/auth/login', { method: 'POST', form });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(decodeClaims(res.body.access_token).sub, String(user.id));
  });

  test('matches the email case-insensitively', async () => {
    const { body: user } = await signup();
    const res = await login(user.email.toUpperCase());
    assert.equal(res.status, 200);
  });

  test('a wrong password and an unknown email get the same 400', async () => {
    const { body: user } = await signup();
    const wrong = await login(user.email, 'not the password');
    const unknown = await login(randomEmail());
    for (const res of [wrong, unknown]) {
      assert.equal(res.status, 400);
      assert.deepEqual(res.body, { detail: 'Incorrect username or password' });
    }
    assert.equal(wrong.headers.get('content-type'), unknown.headers.get('content-type'));
  });

  test('answers 422 for missing fields, a JSON body, or a grant_type other than password', async () => {
    const cases = [
      [new URLSearchParams({ username: 'a@example.com' }), ['body.password']],
      [new URLSearchParams({}), ['body.username', 'body.password']],
      [new URLSearchParams({ username: 'a@example.com', password: 'x', grant_type: 'client_credentials' }), ['body.grant_type']],
    ];
    for (const [form, locs] of cases) {
      const res = await api('/api/v1/auth/login', { method: 'POST', form });
      assert.equal(res.status, 422, JSON.stringify(res.body));
      assert.deepEqual(res.body.detail.map((e) => e.loc.join('.')), locs);
    }
    const json = await api('/api/v1/auth/login', { method: 'POST', json: { username: 'a@example.com', password: 'x' } });
    assert.equal(json.status, 422);
  });

  test('upgrades a hash with fewer iterations than configured at the next login', async () => {
    const email = randomEmail();
    const weak = phcHash(PASSWORD, 1000);
    await sql(`INSERT INTO users (email, hashed_password) VALUES (${sqlText(email)}, ${sqlText(weak)})`);
    const res = await login(email);
    assert.equal(res.status, 200, 'a hash made by OpenSSL PBKDF2 verifies');
    const [row] = await sql(`SELECT hashed_password FROM users WHERE email = ${sqlText(email)}`);
    assert.match(row.hashed_password, /^\$pbkdf2-sha256\$i=600000,/);
    assert.equal((await login(email)).status, 200, 'the upgraded hash verifies');
  });
});

describe('GET /api/v1/auth/me', () => {
  test('returns the user the token was issued to', async () => {
    const { user, token } = await newUser({ first_name: 'Grace' });
    const res = await api('/api/v1/auth/me', { token });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { ...user, mfa_enabled: false, has_password: true });
  });

  test('says whether TOTP is on (set up and confirmed) and whether the user has a password', async () => {
    const { user, token } = await newUser();
    const me = async () => {
      const res = await api('/api/v1/auth/me', { token });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return [res.body.mfa_enabled, res.body.has_password];
    };
    await sql(`INSERT INTO totp_factors (user_id, secret, created_at) VALUES (${user.id}, 'pending', 0)`);
    assert.deepEqual(await me(), [false, true], 'set up, not yet confirmed: off');
    await sql(`UPDATE totp_factors SET enabled_at = 1 WHERE user_id = ${user.id}`);
    assert.deepEqual(await me(), [true, true]);
    // A provider sign-up has no password.
    await sql(`UPDATE users SET hashed_password = '' WHERE id = ${user.id}`);
    assert.deepEqual(await me(), [true, false]);
  });

  test('without a token or with another scheme: 401 Not authenticated, WWW-Authenticate: Bearer', async () => {
    for (const headers of [{}, { authorization: 'Basic dXNlcjpwYXNz' }]) {
      const res = await api('/api/v1/auth/me', { headers });
      assert.equal(res.status, 401);
      assert.deepEqual(res.body, { detail: 'Not authenticated' });
      assert.equal(res.headers.get('www-authenticate'), 'Bearer');
    }
  });

  test('any bad token: 401 Could not validate credentials, WWW-Authenticate: Bearer', async () => {
    const { user, token } = await newUser();
    const now = nowSeconds();
    // The shape tokens had before they carried iss, aud and kid: still accepted until they expire.
    const { sid } = decodeClaims(token);
    const good = { type: 'access_token', sub: String(user.id), sid, iat: now, exp: now + 3600 };
    const { sid: _, ...noSid } = good;
    const keyed = { ...good, iss: 'recipe-api', aud: 'recipe-api' };
    const kid = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString()).kid;
    const [head, payload] = token.split('.');
    const { exp, ...noExp } = good;
    const cases = {
      garbage: 'not-a-token',
      'alg none': `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`,
      'stripped signature': `${head}.${payload}.`,
      'HS512 header': forgeToken(good, { header: { alg: 'HS512' } }),
      'RS256 header': forgeToken(good, { header: { alg: 'RS256', typ: 'JWT' } }),
      'another key': forgeToken(good, { key: 'x'.repeat(64) }),
      expired: forgeToken({ ...good, iat: now - 7200, exp: now - 3600 }),
      'missing exp': forgeToken(noExp),
      'wrong type': forgeToken({ ...good, type: 'refresh_token' }),
      'unknown user': forgeToken({ ...good, sub: '987654321' }),
      'non-numeric sub': forgeToken({ ...good, sub: 'admin' }),
      'extra whitespace': ` ${token}`,
      'altered payload': `${head}.${Buffer.from(JSON.stringify({ ...good, sub: '1' })).toString('base64url')}.${token.split('.')[2]}`,
      'iat in the future': forgeToken({ ...good, iat: now + 3600 }),
      oversized: forgeToken({ ...good, padding: 'x'.repeat(8000) }),
      'no sid (from before sessions)': forgeToken(noSid),
      'another issuer': forgeToken({ ...keyed, iss: 'another-service' }, { header: { alg: 'HS256', kid } }),
      'another audience': forgeToken({ ...keyed, aud: 'another-api' }, { header: { alg: 'HS256', kid } }),
      'kid but no iss or aud': forgeToken(good, { header: { alg: 'HS256', kid } }),
      'an unknown kid': forgeToken(keyed, { header: { alg: 'HS256', kid: 'AAAAAAAAAAA' } }),
      'our kid, another key': forgeToken(keyed, { header: { alg: 'HS256', kid }, key: 'x'.repeat(64) }),
    };
    assert.equal((await api('/api/v1/auth/me', { token: forgeToken(good) })).status, 200, 'the forging key is right');
    assert.equal((await api('/api/v1/auth/me', { token: forgeToken(keyed, { header: { alg: 'HS256', kid } }) })).status, 200, 'and so are iss, aud and kid');
    for (const [name, bad] of Object.entries(cases)) {
      const res = await api('/api/v1/auth/me', { headers: { authorization: `Bearer ${bad}` } });
      assert.equal(res.status, 401, name);
      assert.deepEqual(res.body, { detail: 'Could not validate credentials' }, name);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer', name);
    }
  });

  test("a deleted user's token stops working", async () => {
    const { user, token } = await newUser();
    assert.equal((await api('/api/v1/auth/me', { token })).status, 200);
    await sql(`DELETE FROM users WHERE id = ${user.id}`);
    for (const path of ['/api/v1/auth/me', '/api/v1/recipes/my-recipes/']) {
      const res = await api(path, { token });
      assert.equal(res.status, 401, path);
      assert.deepEqual(res.body, { detail: 'Could not validate credentials' }, path);
    }
  });
});

describe('routing', () => {
  test('unknown paths are 404 and wrong methods 405, in FastAPI shape', async () => {
    const missing = await api('/api/v1/nope');
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body, { detail: 'Not Found' });
    const wrong = await api('/api/v1/auth/me', { method: 'POST' });
    assert.equal(wrong.status, 405);
    assert.deepEqual(wrong.body, { detail: 'Method Not Allowed' });
    assert.equal(wrong.headers.get('allow'), 'GET, PATCH, DELETE');
  });
});
