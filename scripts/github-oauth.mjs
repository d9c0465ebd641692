#!/usr/bin/env node
// A local stand-in for GitHub's OAuth app endpoints and the two REST API routes a sign-in
// reads, so "Sign in with GitHub" can run during `make dev` and in the tests without
// reaching GitHub. Plain Node, no dependencies; listens on 127.0.0.1 only and keeps codes,
// tokens and what it was asked in memory (the newest 5000 requests).
//
//   node scripts/github-oauth.mjs [--port 8028] --client-id ID [--client-secret SECRET]
//   (the secret may instead come from the environment variable GITHUB_CLIENT_SECRET, which
//   keeps it out of the process list)
//
// It follows GitHub's documentation (docs.github.com: "Authorizing OAuth apps", REST
// "Users" and "Emails"); the worker is pointed at it with GITHUB_URL (the first three
// routes) and GITHUB_API_URL (the last two), both http://127.0.0.1:PORT.
//
// Routes:
//   GET  /login/oauth/authorize    client_id, redirect_uri, state, scope, code_challenge,
//                                  code_challenge_method (S256 only; PKCE is optional, as on
//                                  GitHub) -> a sign-in form: a login name, an email, whether
//                                  the email is verified (checked by default), an optional
//                                  display name. An unknown client_id -> 404.
//   POST /login/oauth/authorize    the form -> 302 to redirect_uri?code=…&state=…, or with
//                                  "Cancel": ?error=access_denied&error_description=…&state=…
//   POST /login/oauth/access_token client_id, client_secret, code, redirect_uri, code_verifier,
//                                  form-encoded or JSON. With `Accept: application/json` ->
//                                  {access_token, token_type: "bearer", scope} (the scope
//                                  comma-separated, as GitHub writes it), else the same
//                                  form-encoded. Refusals are 200s with {error,
//                                  error_description, error_uri}, as GitHub answers:
//                                  incorrect_client_credentials, redirect_uri_mismatch,
//                                  bad_verification_code (unknown, used, expired after 10 min,
//                                  or a code_verifier that does not match the challenge).
//                                  A code is good for one exchange.
//   GET  /user                     `Authorization: Bearer TOKEN` (or `token TOKEN`) and a
//                                  User-Agent, as GitHub requires -> {id, login, name, email,
//                                  …}; no token -> 401 "Requires authentication", an unknown
//                                  one -> 401 "Bad credentials", no User-Agent -> 403.
//   GET  /user/emails              the same -> [{email, primary, verified, visibility}]: the
//                                  signed-in email (primary; verified as the form said) after
//                                  the account's noreply address (verified, not primary). Needs
//                                  the user:email (or user) scope, else 404 as on GitHub.
//   GET  /api/requests             what it was asked at the last three routes, newest first,
//                                  as JSON: {method, path, params, accept, user_agent,
//                                  authorization, content_type, received_at, answer}; params
//                                  include the client secret, since only test secrets belong
//                                  here. ?path=/user keeps those to one path.
//   DELETE /api/requests           forgets them -> 204
//
// A login's id is derived from its name, so it is the same after a restart (GitHub's ids
// never change for an account). Logs one line per sign-in and token exchange to stdout (never
// a secret, code or token); exits cleanly on SIGTERM and SIGINT.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { HOST, escapeHtml, parseArgs, readBody, refuse, send, sendJson, serve } from './local-server.mjs';

const KEEP = 5000;
const MAX_BODY = 64 * 1024;
const CODE_LIFETIME_MS = 10 * 60 * 1000;
const DOCS = 'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors';

const options = parseArgs('github-oauth', process.argv.slice(2), {
  defaults: { port: 8028, clientSecret: process.env.GITHUB_CLIENT_SECRET || undefined },
  flags: { '--port': ['port', Number], '--client-id': ['clientId'], '--client-secret': ['clientSecret'] },
  usage: 'github-oauth.mjs [--port 8028] --client-id ID [--client-secret SECRET]',
});
if (!options.clientId || !options.clientSecret) {
  refuse('github-oauth', '--client-id and --client-secret (or GITHUB_CLIENT_SECRET) are required');
}
const codes = new Map(); // code -> the grant it stands for, until exchanged or expired
const tokens = new Map(); // access token -> the account and scope
const received = []; // newest first

// The form posts to this server, which then redirects to the application: no form-action
// directive, since Chromium applies it to the redirect's target too.
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

/** A REST API error in GitHub's shape. */
const apiError = (res, status, message, documentation = 'https://docs.github.com/rest') =>
  sendJson(res, status, { message, documentation_url: documentation, status: String(status) });

/** The parameters of a form-encoded or JSON body (strings only); {} for anything else. */
function parameters(contentType, text) {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'application/json') {
    try {
      const value = JSON.parse(text);
      if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
      return Object.fromEntries(Object.entries(value).filter(([, v]) => typeof v === 'string'));
    } catch {
      return {};
    }
  }
  if (type === 'application/x-www-form-urlencoded' || type === '') return Object.fromEntries(new URLSearchParams(text));
  return {};
}

function sameSecret(given, expected) {
  const a = Buffer.from(String(given ?? ''));
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

const randomToken = (bytes) => randomBytes(bytes).toString('base64url').replace(/[-_]/g, '').slice(0, bytes);

/** A stable id for a login (GitHub logins are case-insensitive): 31 bits of its SHA-256. */
const idOf = (login) => (createHash('sha256').update(login.toLowerCase()).digest().readUInt32BE(0) & 0x7fffffff) || 1;

function remember(req, path, params, answer) {
  received.unshift({
    method: req.method,
    path,
    params,
    accept: req.headers.accept,
    user_agent: req.headers['user-agent'],
    authorization: req.headers.authorization,
    content_type: req.headers['content-type'],
    received_at: new Date().toISOString(),
    answer,
  });
  received.length = Math.min(received.length, KEEP);
}

function layout(title, content) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 3rem auto; max-width: 24rem; padding: 0 1rem; color: #1f2328; }
form { border: 1px solid #d1d9e0; border-radius: 6px; padding: 1rem 1.2rem; background: #f6f8fa; }
label { display: block; margin: .6rem 0 .2rem; font-weight: 600; }
label.check { font-weight: normal; }
input[type=text], input[type=email] { width: 100%; box-sizing: border-box; padding: .35rem .5rem; }
button { margin-top: 1rem; padding: .4rem 1rem; }
.muted { color: #59636e; font-size: 13px; }
</style>
</head>
<body>
${content}
</body>
</html>
`;
}

/** The parameters of an authorization request, checked; a string says what is wrong. */
function authorizationRequest(source) {
  const request = {
    client_id: source.client_id ?? '',
    redirect_uri: source.redirect_uri ?? '',
    state: source.state ?? '',
    scope: source.scope ?? '',
    code_challenge: source.code_challenge ?? '',
    code_challenge_method: source.code_challenge_method ?? '',
  };
  if (request.client_id !== options.clientId) return { status: 404, problem: 'No OAuth application has this client_id.' };
  let redirect;
  try {
    redirect = new URL(request.redirect_uri);
  } catch {
    return { status: 400, problem: 'redirect_uri is missing or not an absolute URL (this stand-in has no registered callback to fall back on).' };
  }
  if (redirect.protocol !== 'http:' && redirect.protocol !== 'https:') return { status: 400, problem: 'redirect_uri must be http(s).' };
  if (request.code_challenge && request.code_challenge_method !== 'S256') {
    return { status: 400, problem: 'code_challenge_method must be S256.' };
  }
  if (request.code_challenge && !/^[A-Za-z0-9_-]{43}$/.test(request.code_challenge)) {
    return { status: 400, problem: 'code_challenge must be a base64url SHA-256 (43 characters).' };
  }
  return { request };
}

function signInPage(request, problem) {
  const hidden = Object.entries(request)
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`).join('\n');
  return layout('Sign in to GitHub (local stand-in)', `<h1>Sign in to GitHub (local stand-in)</h1>
<p class="muted">A development stand-in for github.com: any login is accepted, no password. The application asks for: ${escapeHtml(request.scope || '(no scope)')}.</p>
${problem ? `<p role="alert"><strong>${escapeHtml(problem)}</strong></p>` : ''}
<form method="post" action="/login/oauth/authorize">
${hidden}
<label for="login">Username</label>
<input type="text" id="login" name="login" required pattern="[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}" autocomplete="off">
<label for="email">Primary email</label>
<input type="email" id="email" name="email" required autocomplete="off">
<label class="check"><input type="checkbox" id="verified" name="verified" value="true" checked> The email is verified</label>
<label for="name">Name <span class="muted">(optional)</span></label>
<input type="text" id="name" name="name" autocomplete="off">
<button type="submit" name="action" value="authorize">Authorize</button>
<button type="submit" name="action" value="cancel" formnovalidate>Cancel</button>
</form>`);
}

function redirectTo(res, base, params) {
  const url = new URL(base);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  send(res, 302, '', { location: url.href, 'cache-control': 'no-store' });
}

function showAuthorize(url, res) {
  const checked = authorizationRequest(Object.fromEntries(url.searchParams));
  if (checked.problem) return send(res, checked.status, layout('Not found', `<h1>${checked.status}</h1><p>${escapeHtml(checked.problem)}</p>`), PAGE_HEADERS);
  return send(res, 200, signInPage(checked.request), PAGE_HEADERS);
}

async function authorize(req, res) {
  const form = Object.fromEntries(new URLSearchParams((await readBody(req, MAX_BODY)).toString('utf8')));
  const checked = authorizationRequest(form);
  if (checked.problem) return send(res, checked.status, layout('Not found', `<h1>${checked.status}</h1><p>${escapeHtml(checked.problem)}</p>`), PAGE_HEADERS);
  const { request } = checked;
  const state = request.state ? { state: request.state } : {};
  if (form.action === 'cancel') {
    console.log(`${new Date().toISOString()} denied`);
    return redirectTo(res, request.redirect_uri, {
      error: 'access_denied',
      error_description: 'The user has denied your application access.',
      error_uri: `${DOCS}/#access-denied`,
      ...state,
    });
  }
  const login = (form.login ?? '').trim();
  const email = (form.email ?? '').trim();
  if (!/^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/.test(login)) {
    return send(res, 400, signInPage(request, 'A username is letters, digits and single hyphens, at most 39.'), PAGE_HEADERS);
  }
  if (!/^[^\s@]+@[^\s@]+$/.test(email)) return send(res, 400, signInPage(request, 'An email address is needed.'), PAGE_HEADERS);
  const code = randomBytes(10).toString('hex');
  codes.set(code, {
    request,
    account: { login, email, verified: form.verified === 'true', name: (form.name ?? '').trim() || null },
    expires: Date.now() + CODE_LIFETIME_MS,
  });
  console.log(`${new Date().toISOString()} signed in login=${login} verified=${form.verified === 'true'}`);
  return redirectTo(res, request.redirect_uri, { code, ...state });
}

const tokenError = (error, description, anchor) => ({ error, error_description: description, error_uri: `${DOCS}/#${anchor}` });

/** The token endpoint's answer to `params` (an object; refusals included, as GitHub's 200s). */
function exchange(params) {
  if (params.client_id !== options.clientId || !sameSecret(params.client_secret, options.clientSecret)) {
    return tokenError('incorrect_client_credentials', 'The client_id and/or client_secret passed are incorrect.', 'incorrect-client-credentials');
  }
  const grant = codes.get(params.code ?? '');
  // A code is spent by its first exchange, good or bad, as GitHub's are.
  codes.delete(params.code ?? '');
  if (!grant || grant.expires < Date.now()) {
    return tokenError('bad_verification_code', 'The code passed is incorrect or expired.', 'bad-verification-code');
  }
  if (params.redirect_uri !== undefined && params.redirect_uri !== grant.request.redirect_uri) {
    return tokenError('redirect_uri_mismatch', 'The redirect_uri MUST match the registered callback URL for this application.', 'redirect-uri-mismatch');
  }
  if (grant.request.code_challenge) {
    const verifier = params.code_verifier ?? '';
    const computed = createHash('sha256').update(verifier).digest('base64url');
    if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || computed !== grant.request.code_challenge) {
      return tokenError('bad_verification_code', 'The code_verifier does not match the code_challenge.', 'bad-verification-code');
    }
  }
  const scope = grant.request.scope.split(/[\s,]+/).filter(Boolean).join(',');
  const accessToken = `gho_${randomToken(36)}`;
  tokens.set(accessToken, { account: grant.account, scope });
  return { access_token: accessToken, token_type: 'bearer', scope };
}

async function accessToken(req, res) {
  let text;
  try {
    text = (await readBody(req, MAX_BODY)).toString('utf8');
  } catch (error) {
    if (error.tooLarge) return sendJson(res, 413, { error: 'too_large' });
    throw error;
  }
  const params = parameters(req.headers['content-type'], text);
  const answer = exchange(params);
  remember(req, '/login/oauth/access_token', params, answer.error ?? 'access_token');
  console.log(`${new Date().toISOString()} access_token ${answer.error ?? 'issued'}`);
  if ((req.headers.accept ?? '').includes('application/json')) return sendJson(res, 200, answer);
  return send(res, 200, new URLSearchParams(answer).toString(), { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', 'cache-control': 'no-store' });
}

function userApi(req, res, path) {
  const token = /^(?:Bearer|token) (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
  const granted = token ? tokens.get(token) : undefined;
  const answer = (status) => remember(req, path, {}, String(status));
  if (!req.headers['user-agent']) {
    answer(403);
    return apiError(res, 403, 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required).');
  }
  if (!token) {
    answer(401);
    return apiError(res, 401, 'Requires authentication', 'https://docs.github.com/rest/users/users#get-the-authenticated-user');
  }
  if (!granted) {
    answer(401);
    return apiError(res, 401, 'Bad credentials');
  }
  const { account, scope } = granted;
  const id = idOf(account.login);
  const noreply = `${id}+${account.login}@users.noreply.github.com`;
  if (path === '/user') {
    answer(200);
    return sendJson(res, 200, {
      login: account.login,
      id,
      node_id: Buffer.from(`04:User${id}`).toString('base64'),
      avatar_url: `https://avatars.githubusercontent.com/u/${id}?v=4`,
      html_url: `https://github.com/${account.login}`,
      type: 'User',
      site_admin: false,
      name: account.name,
      // The public email, as the profile shows it; GitHub gives null when it is private.
      email: account.email,
      created_at: '2020-01-01T00:00:00Z',
    });
  }
  if (!scope.split(',').some((s) => s === 'user:email' || s === 'user')) {
    answer(404);
    return apiError(res, 404, 'Not Found', 'https://docs.github.com/rest/users/emails#list-email-addresses-for-the-authenticated-user');
  }
  answer(200);
  // The noreply address first: the signed-in email is found by `primary`, not by position.
  return sendJson(res, 200, [
    { email: noreply, primary: false, verified: true, visibility: null },
    { email: account.email, primary: true, verified: account.verified, visibility: 'public' },
  ]);
}

async function route(req, res) {
  const url = new URL(req.url, `http://${HOST}`);
  const path = url.pathname;
  const method = req.method;

  if (path === '/login/oauth/authorize') {
    if (method === 'GET') return showAuthorize(url, res);
    if (method === 'POST') return authorize(req, res);
  }
  if (path === '/login/oauth/access_token' && method === 'POST') return accessToken(req, res);
  if ((path === '/user' || path === '/user/emails') && method === 'GET') return userApi(req, res, path);
  if (path === '/api/requests') {
    if (method === 'GET') {
      const only = url.searchParams.get('path');
      return sendJson(res, 200, only === null ? received : received.filter((r) => r.path === only));
    }
    if (method === 'DELETE') {
      received.length = 0;
      return send(res, 204, '');
    }
  }
  return apiError(res, 404, 'Not Found');
}

serve('github-oauth', options.port, {
  route,
  errorBody: { message: 'Internal error' },
  listening: (port) => `listening on http://${HOST}:${port} (GITHUB_URL and GITHUB_API_URL), client ${options.clientId}`,
});

// Codes nobody exchanged are dropped once expired, so a long `make dev` does not collect them.
setInterval(() => {
  const now = Date.now();
  for (const [code, grant] of codes) if (grant.expires < now) codes.delete(code);
}, 60_000).unref();
