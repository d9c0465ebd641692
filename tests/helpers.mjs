// Shared by the HTTP tests: the server under test comes from scripts/with-server.sh.
import { createHmac, pbkdf2Sync, randomBytes, randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export const BASE_URL = process.env.BASE_URL;
if (!BASE_URL) throw new Error('BASE_URL is not set: run the tests with scripts/test.sh');

export async function api(path, { method = 'GET', json, form, body, headers = {}, token } = {}) {
  const init = { method, headers: { ...headers } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['content-type'] = 'application/json';
  } else if (form !== undefined) {
    init.body = form;
  } else if (body !== undefined) {
    init.body = body;
  }
  if (token) init.headers.authorization = `Bearer ${token}`;
  const response = await fetch(BASE_URL + path, init);
  const text = await response.text();
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    data = text;
  }
  return { status: response.status, headers: response.headers, body: data };
}

export const randomEmail = () => `cook-${randomUUID()}@example.com`;
export const PASSWORD = 'correct horse battery';

export function signup(fields = {}) {
  return api('/api/v1/auth/signup', {
    method: 'POST',
    json: { email: randomEmail(), password: PASSWORD, ...fields },
  });
}

export function login(username, password = PASSWORD) {
  return api('/api/v1/auth/login', {
    method: 'POST',
    form: new URLSearchParams({ username, password }),
  });
}

/** A fresh user, an access token and a refresh token for them. */
export async function newUser(fields = {}) {
  const created = await signup(fields);
  if (created.status !== 201) throw new Error(`signup failed: ${JSON.stringify(created)}`);
  const session = await login(created.body.email, fields.password ?? PASSWORD);
  if (session.status !== 200) throw new Error(`login failed: ${JSON.stringify(session)}`);
  return { user: created.body, token: session.body.access_token, refresh: session.body.refresh_token };
}

export function refresh(refreshToken) {
  return api('/api/v1/auth/refresh', { method: 'POST', json: { refresh_token: refreshToken } });
}

export function logout(refreshToken) {
  return api('/api/v1/auth/logout', { method: 'POST', json: { refresh_token: refreshToken } });
}

export const me = (token) => api('/api/v1/auth/me', { token });

const b64url = (value) => Buffer.from(value).toString('base64url');

/** Signs any header and claims with HS256 and `key` (default: the server's own secret). */
export function forgeToken(claims, { header = { alg: 'HS256', typ: 'JWT' }, key = process.env.TEST_JWT_SECRET } = {}) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);

export function decodeClaims(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

/** A PHC string as the worker stores it, computed by Node's OpenSSL-backed PBKDF2. */
export function phcHash(password, iterations) {
  const salt = randomBytes(16);
  const hash = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const b64 = (bytes) => bytes.toString('base64').replace(/=+$/, '');
  return `$pbkdf2-sha256$i=${iterations},l=32$${b64(salt)}$${b64(hash)}`;
}

/** Runs SQL against the server's local D1 and returns the rows. */
export async function sql(command) {
  const { stdout } = await promisify(execFile)(
    'npx',
    ['wrangler', 'd1', 'execute', 'DB', '--local', '--persist-to', process.env.D1_PERSIST_DIR, '--json', '--command', command],
    { env: { ...process.env, WRANGLER_SEND_METRICS: 'false' } },
  );
  return JSON.parse(stdout)[0].results;
}

export const sqlText = (value) => `'${String(value).replaceAll("'", "''")}'`;

/** Runs the project's seed script against the server's local D1. */
export async function seedAgain() {
  await promisify(execFile)('scripts/seed.sh', ['--local', '--persist-to', process.env.D1_PERSIST_DIR], {
    env: process.env,
  });
}

export const SUPERUSER = { email: 'admin@recipeapi.com', password: process.env.FIRST_SUPERUSER_PASSWORD };

/** An access token of the seeded superuser. */
export async function superuserToken() {
  const res = await login(SUPERUSER.email, SUPERUSER.password);
  if (res.status !== 200) throw new Error(`superuser login failed: ${JSON.stringify(res)}`);
  return res.body.access_token;
}

/** A recipe body with a label unique to this run, so searches see only this test's rows. */
export const recipeBody = (fields = {}) => ({
  label: `Soup ${randomUUID().slice(0, 8)}`,
  source: 'Gran',
  url: 'https://example.com/soup',
  ...fields,
});

export function createRecipe(token, fields = {}) {
  return api('/api/v1/recipes/', { method: 'POST', token, json: recipeBody(fields) });
}
