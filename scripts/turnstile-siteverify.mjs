#!/usr/bin/env node
// A local stand-in for Cloudflare Turnstile's siteverify API, so the API's Turnstile check can
// run during `make dev` and in the HTTP tests without reaching Cloudflare. Plain Node, no
// dependencies; listens on 127.0.0.1 only and keeps what it was asked in memory (the newest
// 5000 requests).
//
//   node scripts/turnstile-siteverify.mjs [--port 8026]
//
// It honours Cloudflare's documented test secret keys
// (developers.cloudflare.com/turnstile/troubleshooting/testing):
//   1x0000000000000000000000000000000AA  passes every token
//   2x0000000000000000000000000000000AA  fails every token     (invalid-input-response)
//   3x0000000000000000000000000000000AA  "token already spent" (timeout-or-duplicate)
// Any other secret -> invalid-input-secret; none -> missing-input-secret; no token ->
// missing-input-response. The test sitekeys (e.g. 1x00000000000000000000AA) make the widget
// produce the dummy token XXXX.DUMMY.TOKEN.XXXX.
//
// Routes:
//   POST   /turnstile/v0/siteverify  siteverify's shape: secret, response, remoteip and
//                                    idempotency_key, form-encoded (urlencoded or multipart)
//                                    or JSON -> 200 {"success", "error-codes", ...}.
//                                    Failures on demand, for tests, by the token's first part
//                                    (before the first "."), whatever the secret:
//                                      status-NNN  answers HTTP NNN (e.g. status-500.x)
//                                      garbage     answers 200 with an HTML page, not JSON
//                                      reset       drops the connection without an answer
//                                      hang        never answers (until the caller gives up)
//   GET    /api/requests             what it was asked, newest first, as JSON; ?response=TOKEN
//                                    keeps those with that token. Each is {secret, response,
//                                    remoteip, idempotency_key, content_type, received_at,
//                                    answer}: the secret too, since only test keys belong here.
//   DELETE /api/requests             forgets them -> 204
//
// Logs one line per request to stdout (never the secret or the token); exits cleanly on
// SIGTERM and SIGINT.
import { HOST, parseArgs, readBody, sendJson, serve } from './local-server.mjs';

const KEEP = 5000;
const MAX_BODY = 64 * 1024;
const PATH = '/turnstile/v0/siteverify';

const TEST_SECRETS = {
  '1x0000000000000000000000000000000AA': { name: 'always passes', codes: [] },
  '2x0000000000000000000000000000000AA': { name: 'always fails', codes: ['invalid-input-response'] },
  '3x0000000000000000000000000000000AA': { name: 'token already spent', codes: ['timeout-or-duplicate'] },
};

const options = parseArgs('turnstile-siteverify', process.argv.slice(2), {
  defaults: { port: 8026 },
  flags: { '--port': ['port', Number] },
  usage: 'turnstile-siteverify.mjs [--port 8026]',
});
const received = []; // newest first

/** The parameters of a siteverify request, whichever of its encodings it came in; null if none. */
async function parameters(contentType, body) {
  const type = contentType.split(';')[0].trim().toLowerCase();
  if (type === 'application/json') {
    try {
      const value = JSON.parse(body.toString('utf8'));
      return value && typeof value === 'object' && !Array.isArray(value) ? value : null;
    } catch {
      return null;
    }
  }
  if (type === 'application/x-www-form-urlencoded') {
    return Object.fromEntries(new URLSearchParams(body.toString('utf8')));
  }
  if (type === 'multipart/form-data') {
    try {
      // Node's fetch Response parses multipart bodies, as a Worker's does.
      const form = await new Response(body, { headers: { 'content-type': contentType } }).formData();
      return Object.fromEntries([...form].filter(([, value]) => typeof value === 'string'));
    } catch {
      return null;
    }
  }
  return null;
}

const text = (value) => (typeof value === 'string' ? value : undefined);

/** Siteverify's answer for a secret and a token. */
function verdict(secret, token) {
  if (!secret) return { success: false, 'error-codes': ['missing-input-secret'] };
  const test = TEST_SECRETS[secret];
  if (!test) return { success: false, 'error-codes': ['invalid-input-secret'] };
  if (!token) return { success: false, 'error-codes': ['missing-input-response'] };
  if (test.codes.length > 0) return { success: false, 'error-codes': test.codes };
  return {
    success: true,
    challenge_ts: new Date().toISOString(),
    hostname: 'localhost',
    'error-codes': [],
    action: '',
    cdata: '',
    metadata: { interactive: false },
  };
}

function remember(entry) {
  received.unshift(entry);
  received.length = Math.min(received.length, KEEP);
}

async function siteverify(req, res) {
  let body;
  try {
    body = await readBody(req, MAX_BODY);
  } catch (error) {
    if (error.tooLarge) return sendJson(res, 413, { success: false, 'error-codes': ['bad-request'] });
    throw error;
  }
  const contentType = req.headers['content-type'] ?? '';
  const params = await parameters(contentType, body);
  const time = new Date().toISOString();
  const entry = {
    secret: text(params?.secret),
    response: text(params?.response),
    remoteip: text(params?.remoteip),
    idempotency_key: text(params?.idempotency_key),
    content_type: contentType,
    received_at: time,
  };
  const onDemand = entry.response?.split('.')[0] ?? '';
  const status = /^status-([1-5][0-9][0-9])$/.exec(onDemand)?.[1];
  const kind = TEST_SECRETS[entry.secret]?.name ?? (entry.secret ? 'unknown secret' : 'no secret');
  const line = (answer) => console.log(`${time} ${answer.padEnd(22)} secret=${kind} remoteip=${entry.remoteip ?? '-'} idempotency_key=${entry.idempotency_key ?? '-'}`);

  if (status) {
    remember({ ...entry, answer: `status ${status}` });
    line(`status ${status}`);
    return sendJson(res, Number(status), { success: false, 'error-codes': ['internal-error'] });
  }
  if (onDemand === 'garbage') {
    remember({ ...entry, answer: 'garbage' });
    line('garbage');
    res.writeHead(200, { 'content-type': 'text/html' });
    return res.end('<!DOCTYPE html><title>Just a moment...</title>');
  }
  if (onDemand === 'reset') {
    remember({ ...entry, answer: 'reset' });
    line('reset');
    return req.socket.destroy();
  }
  if (onDemand === 'hang') {
    remember({ ...entry, answer: 'hang' });
    line('hang');
    // Never answered: stopping the server closes its connection (closeAllConnections).
    return undefined;
  }
  if (params === null) {
    remember({ ...entry, answer: 'bad-request' });
    line('bad-request');
    return sendJson(res, 400, { success: false, 'error-codes': ['bad-request'] });
  }
  const answer = verdict(entry.secret, entry.response);
  const summary = answer.success ? 'success' : answer['error-codes'].join(',');
  remember({ ...entry, answer: summary });
  line(summary);
  return sendJson(res, 200, answer);
}

async function route(req, res) {
  const url = new URL(req.url, `http://${HOST}`);
  const path = url.pathname;
  if (path === PATH) {
    if (req.method !== 'POST') return sendJson(res, 405, { success: false, 'error-codes': ['bad-request'] });
    return siteverify(req, res);
  }
  if (path === '/api/requests') {
    if (req.method === 'GET') {
      const response = url.searchParams.get('response');
      return sendJson(res, 200, response === null ? received : received.filter((r) => r.response === response));
    }
    if (req.method === 'DELETE') {
      received.length = 0;
      res.writeHead(204);
      return res.end();
    }
    return sendJson(res, 405, { detail: 'Method not allowed' });
  }
  return sendJson(res, 404, { detail: `Not found; siteverify is POST ${PATH}` });
}

serve('turnstile-siteverify', options.port, {
  route,
  errorBody: { detail: 'Internal error' },
  listening: (port) => `listening on http://${HOST}:${port}${PATH}`,
});
