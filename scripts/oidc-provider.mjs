#!/usr/bin/env node
// A local OpenID provider, so "Sign in with OpenID Connect" can run during `make dev` and in
// the tests against a real, OpenID Certified implementation (the npm package oidc-provider)
// rather than a mock. Listens on 127.0.0.1 only; everything (sessions, codes, keys) lives in
// memory and is gone when it stops.
//
//   node scripts/oidc-provider.mjs --port 8027 --client-id ID --client-secret SECRET \
//       --redirect-uri http://127.0.0.1:8787/api/v1/auth/oauth/oidc/callback [--redirect-uri …]
//   (the secret may instead come from the environment variable OIDC_CLIENT_SECRET, which
//   keeps it out of the process list)
//
// The issuer is http://127.0.0.1:PORT (discovery at /.well-known/openid-configuration). One
// confidential client: authorization code flow only, PKCE (S256) required, authenticated at
// the token endpoint with HTTP Basic (client_secret_basic). Scopes openid, email, profile.
//
// Signing in uses the package's development pages: any login name and any password, then a
// consent page. The account is made up from the login name:
//   email           the login if it contains "@", else <login>@example.com
//   email_verified  true, unless the login starts with "unverified" (for the refusal paths)
//   given_name, family_name, name  from the login's local part ("ada.lovelace" -> Ada Lovelace)
// The ID token carries these claims as well as the userinfo endpoint.
//
// Keys: a new RSA (RS256) and a new P-256 (ES256) key at every start, both in the JWKS; ID
// tokens are signed with RS256 (the client's default).
//
// Logs its address at start and every error it answers with (one line each); exits cleanly on
// SIGTERM and SIGINT. The package itself prints two warnings at start: its in-memory storage
// and its development sign-in pages are meant for development, which is all this is.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';
import { HOST, escapeHtml, parseArgs, refuse, serve } from './local-server.mjs';

const options = parseArgs('oidc-provider', process.argv.slice(2), {
  defaults: { port: 8027, clientSecret: process.env.OIDC_CLIENT_SECRET || undefined, redirectUris: [] },
  flags: {
    '--port': ['port', Number],
    '--client-id': ['clientId'],
    '--client-secret': ['clientSecret'],
    '--redirect-uri': ['redirectUris', Array],
  },
  usage: 'oidc-provider.mjs [--port 8027] --client-id ID --client-secret SECRET --redirect-uri URI [--redirect-uri URI …]',
});
// The issuer names the port, so it must be known before listening (no port 0).
if (options.port === 0) refuse('oidc-provider', '--port needs a port number (1-65535)');
if (!options.clientId || !options.clientSecret || options.redirectUris.length === 0) {
  refuse('oidc-provider', '--client-id, --client-secret (or OIDC_CLIENT_SECRET) and at least one --redirect-uri are required');
}
const issuer = `http://${HOST}:${options.port}`;

/** A private JWK for `alg`, with its key id and use, as the JWKS publishes it (public half). */
function signingKey(alg) {
  const { privateKey } = alg === 'RS256'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, alg, use: 'sig', kid: `${alg.toLowerCase()}-${randomBytes(6).toString('hex')}` };
}

const capitalized = (word) => word.charAt(0).toUpperCase() + word.slice(1);

/** The claims of the account a login name stands for. */
function accountClaims(login) {
  const email = login.includes('@') ? login : `${login}@example.com`;
  const words = email.split('@')[0].split(/[._+-]+/).filter(Boolean).map(capitalized);
  const givenName = words[0] ?? 'Cook';
  const familyName = words.slice(1).join(' ') || 'Example';
  return {
    sub: login,
    email,
    email_verified: !login.startsWith('unverified'),
    given_name: givenName,
    family_name: familyName,
    name: `${givenName} ${familyName}`,
  };
}

// Development interactions pass the login name as the account id.
async function findAccount(_ctx, id) {
  return {
    accountId: id,
    claims: async () => accountClaims(id),
  };
}

const errorPage = (out) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in error</title></head>
<body><h1>Sign-in error</h1>${Object.entries(out).map(([key, value]) => `<p><strong>${escapeHtml(key)}</strong>: ${escapeHtml(value)}</p>`).join('')}</body></html>`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: options.clientId,
    client_secret: options.clientSecret,
    redirect_uris: options.redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  }],
  jwks: { keys: [signingKey('RS256'), signingKey('ES256')] },
  findAccount,
  scopes: ['openid', 'email', 'profile'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  // Put the scopes' claims in the ID token too, not only at the userinfo endpoint: many
  // providers do, and a relying party may read them from either.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    // Not asked for by the relying party here; off so no client can bind tokens with it.
    dPoP: { enabled: false },
  },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  // Development lifetimes, set explicitly so the package does not print its notes about them.
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = errorPage(out);
  },
  clientBasedCORS: () => false,
});

// Errors it answers with (a bad client secret, a replayed code, a wrong PKCE verifier …):
// one line each, which is what a developer looks for when a sign-in fails. The package emits
// them as "<endpoint>.error" and "server_error" events.
const emit = provider.emit.bind(provider);
provider.emit = (name, ...args) => {
  if (name === 'server_error' || name.endsWith('.error')) {
    const [ctx, error] = args;
    const where = ctx?.method ? `${ctx.method} ${ctx.path}` : '-';
    const detail = name === 'server_error' ? (error?.stack ?? error) : `${error?.error ?? error?.name}: ${error?.error_description ?? error?.message}`;
    console.error(`${new Date().toISOString()} ${name} ${where} ${detail}`);
  }
  return emit(name, ...args);
};

serve('oidc-provider', options.port, {
  handler: provider.callback(),
  listening: () => `issuer ${issuer} (discovery: ${issuer}/.well-known/openid-configuration), client ${options.clientId}`,
});
