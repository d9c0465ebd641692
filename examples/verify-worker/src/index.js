// Verifies the recipe API's access tokens from its published keys (GET /.well-known/jwks.json)
// and answers who the caller is. What another service needs to trust our tokens, and no more:
// no shared secret, no call to the API per request. It does NOT see revocation: a token of a
// session that was ended is accepted until it expires (ACCESS_TOKEN_EXPIRE_MINUTES). A service
// that needs revocation at once calls GET /api/v1/auth/me through a service binding instead
// (docs/security.md#verifying-access-tokens-elsewhere).
import { createRemoteJWKSet, jwtVerify } from 'jose';

// One key set per isolate: jose caches it and refetches on a kid it does not know (a rotation).
let jwks;
let jwksUrl;

const json = (status, body) => new Response(JSON.stringify(body), {
  status,
  headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
});

export default {
  async fetch(request, env) {
    const match = /^Bearer (\S+)$/i.exec(request.headers.get('authorization') ?? '');
    if (!match) return json(401, { detail: 'Not authenticated' });
    if (jwks === undefined || jwksUrl !== env.JWKS_URL) {
      jwksUrl = env.JWKS_URL;
      jwks = createRemoteJWKSet(new URL(jwksUrl));
    }
    try {
      const { payload } = await jwtVerify(match[1], jwks, {
        issuer: env.ISSUER,
        audience: env.AUDIENCE,
        // Never HS256 or none: only the public-key algorithms the API signs with.
        algorithms: ['ES256', 'EdDSA'],
        requiredClaims: ['exp', 'sub'],
      });
      if (payload.type !== 'access_token') throw new Error('not an access token');
      return json(200, { user_id: Number(payload.sub), session_id: payload.sid ?? null, expires_at: payload.exp });
    } catch {
      return json(401, { detail: 'Could not validate credentials' });
    }
  },
};
