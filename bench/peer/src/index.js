// The benchmark's JavaScript peer: the recipe API's GET recipe, search, me and login, with
// the same SQL and the same wire format, as a Workers user would write them with Hono and
// Web Crypto. It reads the same schema (migrations/), and its access tokens have the recipe
// API's header and claims, so with the same JWT_SECRET and D1 each accepts the other's.
// Left out, as the benchmark never exercises them: login attempt counters, CORS, the request
// log, OpenAPI, and every other route (404).
import { Hono } from 'hono';
import { verify, sign } from 'hono/jwt';

const NOT_AUTHENTICATED = 'Not authenticated';
const INVALID_CREDENTIALS = 'Could not validate credentials';
const BAD_LOGIN = 'Incorrect username or password';
const LEEWAY_SECONDS = 60;
const RECIPE_COLUMNS = 'id, label, source, url, submitter_id';
// src/store/caller.rs: the caller's row while their token is good, in the statement itself.
const ME =
  'WITH me AS (SELECT id, first_name, surname, email, is_superuser, email_verified FROM users ' +
  'WHERE id = ?1 AND is_active = 1 AND token_version = ?2 AND (?3 IS NULL OR ' +
  'EXISTS (SELECT 1 FROM sessions WHERE sessions.id = ?3 ' +
  'AND sessions.user_id = ?1 AND sessions.revoked_at IS NULL))) ';
// src/store/recipes.rs: at most SEARCH_CANDIDATES candidates in id order, from the trigram
// index (or the first recipes, for a keyword with no trigram free of NUL), each checked with
// the exact test.
const SEARCH_CANDIDATES = 1000;
const SEARCH_TRIGRAMS = 16;
const SEARCH_BY_INDEX =
  'SELECT r.id, r.label, r.source, r.url, r.submitter_id ' +
  'FROM (SELECT rowid AS id FROM recipes_fts WHERE recipes_fts MATCH ?3 ' +
  'ORDER BY rowid LIMIT ?4) AS candidate ' +
  'CROSS JOIN recipes AS r ON r.id = candidate.id ' +
  'WHERE instr(lower(r.label), lower(?1)) > 0 ' +
  'ORDER BY candidate.id LIMIT ?2';
const SEARCH_BY_SCAN =
  'SELECT r.id, r.label, r.source, r.url, r.submitter_id ' +
  'FROM (SELECT id FROM recipes ORDER BY id LIMIT ?3) AS candidate ' +
  'CROSS JOIN recipes AS r ON r.id = candidate.id ' +
  'WHERE instr(lower(r.label), lower(?1)) > 0 ' +
  'ORDER BY candidate.id LIMIT ?2';

/** `index_query` of src/store/recipes.rs: the keyword's distinct trigrams, quoted, ANDed. */
function indexQuery(keyword) {
  const chars = [...keyword.replace(/[A-Z]/g, (c) => c.toLowerCase())];
  const trigrams = [];
  for (let i = 0; i + 3 <= chars.length; i++) {
    const trigram = chars.slice(i, i + 3).join('');
    if (!trigram.includes('\0') && !trigrams.includes(trigram)) trigrams.push(trigram);
  }
  const n = trigrams.length;
  if (n === 0) return null;
  const asked = n <= SEARCH_TRIGRAMS ? trigrams
    : Array.from({ length: SEARCH_TRIGRAMS }, (_, i) => trigrams[Math.floor((i * (n - 1)) / (SEARCH_TRIGRAMS - 1))]);
  return asked.map((t) => `"${t.replaceAll('"', '""')}"`).join(' AND ');
}

// strict: false answers paths with and without a trailing slash, as the recipe API does.
const app = new Hono({ strict: false });

// A D1 session per request, as the recipe API opens one (src/store/mod.rs): from the
// client's bookmark, else any replica for reads and the primary for writes; its latest
// bookmark goes back in x-d1-bookmark. Then the recipe API's security headers on every
// answer, and no-store on auth answers.
const BOOKMARK = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/;
app.use('*', async (c, next) => {
  const bookmark = c.req.header('x-d1-bookmark');
  const start = bookmark && BOOKMARK.test(bookmark) ? bookmark : c.req.method === 'GET' ? 'first-unconstrained' : 'first-primary';
  const session = c.env.DB.withSession(start);
  c.set('db', session);
  await next();
  const h = c.res.headers;
  const seen = session.getBookmark();
  if (seen) h.set('x-d1-bookmark', seen);
  h.append('Vary', 'Origin');
  h.set('X-Content-Type-Options', 'nosniff');
  h.set('Referrer-Policy', 'no-referrer');
  h.set('X-Frame-Options', 'DENY');
  h.set('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
  if (c.req.path.startsWith('/api/v1/auth')) h.set('Cache-Control', 'no-store');
});

const detail = (c, status, message) => c.json({ detail: message }, status);
const unauthorized = (c, message) => {
  c.header('WWW-Authenticate', 'Bearer');
  return detail(c, 401, message);
};
const fieldError = (loc, msg, type, ctx) => ({ loc, msg, type, ...(ctx && { ctx }) });

app.get('/api/v1/recipes/search', async (c) => {
  const keyword = c.req.query('keyword');
  const maxResults = c.req.query('max_results');
  const errors = [];
  const chars = keyword === undefined ? 0 : [...keyword].length;
  if (keyword !== undefined && chars > 256) {
    errors.push(fieldError(['query', 'keyword'], 'ensure this value has at most 256 characters',
      'value_error.any_str.max_length', { limit_value: 256 }));
  }
  if (keyword !== undefined && chars < 3) {
    errors.push(fieldError(['query', 'keyword'], 'ensure this value has at least 3 characters',
      'value_error.any_str.min_length', { limit_value: 3 }));
  }
  let limit = 10;
  if (maxResults !== undefined) {
    limit = /^-?\d+$/.test(maxResults) ? Number(maxResults) : NaN;
    if (Number.isNaN(limit)) {
      errors.push(fieldError(['query', 'max_results'], 'value is not a valid integer', 'type_error.integer'));
    } else if (limit < 1 || limit > 100) {
      const [bound, word, type] = limit < 1 ? [1, 'greater', 'ge'] : [100, 'less', 'le'];
      errors.push(fieldError(['query', 'max_results'], `ensure this value is ${word} than or equal to ${bound}`,
        `value_error.number.not_${type}`, { limit_value: bound }));
    }
  }
  if (errors.length) return c.json({ detail: errors }, 422);
  const db = c.get('db');
  const trigrams = keyword === undefined ? null : indexQuery(keyword);
  const statement =
    keyword === undefined
      ? db.prepare(`SELECT ${RECIPE_COLUMNS} FROM recipes ORDER BY id LIMIT ?1`).bind(limit)
      : trigrams === null
        ? db.prepare(SEARCH_BY_SCAN).bind(keyword, limit, SEARCH_CANDIDATES)
        : db.prepare(SEARCH_BY_INDEX).bind(keyword, limit, trigrams, SEARCH_CANDIDATES);
  const { results } = await statement.all();
  return c.json({ results });
});

app.get('/api/v1/recipes/:recipe_id', async (c) => {
  const segment = c.req.param('recipe_id');
  if (!/^[+-]?\d+$/.test(segment) || !Number.isSafeInteger(Number(segment))) {
    return c.json({ detail: [fieldError(['path', 'recipe_id'], 'value is not a valid integer', 'type_error.integer')] }, 422);
  }
  const id = Number(segment);
  const recipe = await c.get('db').prepare(`SELECT ${RECIPE_COLUMNS} FROM recipes WHERE id = ?1`).bind(id).first();
  if (!recipe) return detail(c, 404, `Recipe with ID ${id} not found`);
  return c.json(recipe);
});

// The bearer token's claims, checked as src/security/token.rs does: HS256 only, `exp`
// required (60 s leeway), `iat` not in the future, type access_token, `sub` a canonical id.
async function caller(c) {
  const header = c.req.header('Authorization');
  if (!header) return { error: NOT_AUTHENTICATED };
  const space = header.indexOf(' ');
  const [scheme, token] = space < 0 ? [header, ''] : [header.slice(0, space), header.slice(space + 1)];
  if (scheme.toLowerCase() !== 'bearer') return { error: NOT_AUTHENTICATED };
  let claims;
  try {
    if (token.length > 4096) throw new Error('too long');
    claims = await verify(token, c.env.JWT_SECRET, { alg: 'HS256', exp: false, iat: false, nbf: false });
  } catch {
    return { error: INVALID_CREDENTIALS };
  }
  const now = Math.floor(Date.now() / 1000);
  const id = Number(claims.sub);
  const good =
    Number.isInteger(claims.exp) && claims.exp + LEEWAY_SECONDS > now &&
    !(Number.isInteger(claims.iat) && claims.iat > now + LEEWAY_SECONDS) &&
    claims.type === 'access_token' &&
    typeof claims.sub === 'string' && Number.isSafeInteger(id) && id > 0 && String(id) === claims.sub;
  if (!good) return { error: INVALID_CREDENTIALS };
  return { id, version: Number.isInteger(claims.ver) ? claims.ver : 0, session: claims.sid ?? null };
}

app.get('/api/v1/auth/me', async (c) => {
  const who = await caller(c);
  if (who.error) return unauthorized(c, who.error);
  const me = await c.get('db').prepare(`${ME}SELECT * FROM me`).bind(who.id, who.version, who.session).first();
  if (!me) return unauthorized(c, INVALID_CREDENTIALS);
  return c.json({ ...me, is_superuser: me.is_superuser !== 0, email_verified: me.email_verified !== 0 });
});

const unpadded = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/=+$/, '');
const urlSafe = (bytes) => unpadded(bytes).replace(/\+/g, '-').replace(/\//g, '_');
const fromB64 = (text) => Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
const encoder = new TextEncoder();

async function pbkdf2(password, salt, iterations) {
  const key = await crypto.subtle.importKey('raw', encoder.encode(password), 'PBKDF2', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, key, 256);
  return new Uint8Array(bits);
}

// `$pbkdf2-sha256$i=N,l=32$<salt>$<hash>` (src/security/password.rs); Web Crypto takes at
// most 100 000 iterations on Cloudflare, so only hashes within that are checked here.
async function verifyPassword(password, phc) {
  const parts = phc.split('$');
  const params = Object.fromEntries((parts[2] ?? '').split(',').map((p) => p.split('=')));
  const iterations = Number(params.i);
  if (parts[1] !== 'pbkdf2-sha256' || parts.length !== 5 || !(iterations > 0 && iterations <= 100000)) return false;
  const expected = fromB64(parts[4]);
  const actual = await pbkdf2(password, fromB64(parts[3]), iterations);
  return expected.length === actual.length && crypto.subtle.timingSafeEqual(expected, actual);
}

const random = (n) => crypto.getRandomValues(new Uint8Array(n));
const sha256 = async (text) => new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text)));

app.post('/api/v1/auth/login', async (c) => {
  const type = c.req.header('Content-Type') ?? '';
  const form = type.startsWith('application/x-www-form-urlencoded') ? await c.req.parseBody() : {};
  const missing = ['username', 'password'].filter((k) => typeof form[k] !== 'string');
  if (missing.length) {
    return c.json({ detail: missing.map((k) => fieldError(['body', k], 'field required', 'value_error.missing')) }, 422);
  }
  const db = c.get('db');
  const found = await db
    .prepare('SELECT id, is_active, hashed_password, token_version FROM users WHERE email = ?1')
    .bind(form.username)
    .first();
  // An unknown user costs the same PBKDF2 as a wrong password.
  const dummy = `$pbkdf2-sha256$i=${c.env.PASSWORD_ITERATIONS},l=32$c2FsdHNhbHRzYWx0c2FsdA$${'A'.repeat(43)}`;
  const ok = await verifyPassword(form.password.normalize('NFKC'), found?.hashed_password ?? dummy);
  if (!ok || !found) return detail(c, 400, BAD_LOGIN);
  if (!found.is_active) return detail(c, 400, 'Inactive user');
  const now = Math.floor(Date.now() / 1000);
  const sessionId = urlSafe(random(16));
  const refresh = urlSafe(random(32));
  const expiresAt = now + Number(c.env.REFRESH_TOKEN_EXPIRE_DAYS) * 86400;
  // src/store/sessions.rs: the session only while the user keeps the version just read.
  const [, tokens] = await db.batch([
    db.prepare('INSERT INTO sessions (id, user_id, created_at, token_version) SELECT ?1, id, ?3, token_version ' +
      'FROM users WHERE id = ?2 AND token_version = ?4 AND is_active = 1 RETURNING id')
      .bind(sessionId, found.id, now, found.token_version),
    db.prepare('INSERT INTO refresh_tokens (token_hash, session_id, expires_at) SELECT ?1, id, ?3 FROM sessions WHERE id = ?2 RETURNING 1')
      .bind(urlSafe(await sha256(refresh)), sessionId, expiresAt),
  ]);
  if (!tokens.results.length) return detail(c, 400, BAD_LOGIN);
  const lifetime = Number(c.env.ACCESS_TOKEN_EXPIRE_MINUTES) * 60;
  const claims = { type: 'access_token', sub: String(found.id), ver: found.token_version, sid: sessionId, exp: now + lifetime, iat: now };
  const access = await sign(claims, c.env.JWT_SECRET, 'HS256');
  return c.json({ access_token: access, token_type: 'bearer', refresh_token: refresh, expires_in: lifetime });
});

app.notFound((c) => detail(c, 404, 'Not Found'));

export default app;
