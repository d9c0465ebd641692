#!/usr/bin/env node
// A local stand-in for Have I Been Pwned's Pwned Passwords range API, so the API's check of
// new passwords against breached ones can run during `make dev` and in the HTTP tests without
// reaching api.pwnedpasswords.com. Plain Node, no dependencies; listens on 127.0.0.1 only and
// keeps what it was asked in memory (the newest 5000 requests).
//
//   node scripts/pwned-passwords.mjs [--port 8029]
//
// It knows a few breached passwords (BREACHED below, with made-up counts), among them
// `password123` and `correct horse battery staple`; every other password is unlisted. The
// test suite's own password ('correct horse battery', tests/helpers.mjs) must never be one.
//
// Routes:
//   GET    /range/{prefix}     the range API's shape: {prefix} is 5 hex characters, any case
//                              (else 400, as the real one); the answer is text/plain, one
//                              `SUFFIX:COUNT` line per listed hash with that prefix (35 upper-
//                              case hex characters, CRLF). With `Add-Padding: true`, padded as
//                              the real one is to 800-1000 lines with random suffixes of count
//                              0, and PADDING_ONLY's suffixes appear among them with count 0.
//                              Failures on demand, for tests, by what comes before /range/:
//                                /status/NNN/range/{prefix}  answers HTTP NNN
//                                /garbage/range/{prefix}     answers 200 with an HTML page
//                                /hang/range/{prefix}        never answers
//   GET    /api/requests       what it was asked, newest first, as JSON: each is {path,
//                              prefix, add_padding (the header as sent, or null), received_at,
//                              answer}. Tests check from it that only prefixes were sent.
//   DELETE /api/requests       forgets them -> 204
//
// Logs one line per request to stdout; exits cleanly on SIGTERM and SIGINT.
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { HOST, parseArgs, send, sendJson, serve } from './local-server.mjs';

const KEEP = 5000;

/** Breached passwords, as the range API would list them; the counts are made up. */
const BREACHED = [
  ['password123', 2254650],
  ['correct horse battery staple', 384],
  ['P@ssw0rd', 131517],
  ['qwerty123', 1210345],
  ['iloveyou!', 9981],
  ['letmein2024', 215],
];
/** Never breached, yet listed with count 0 in a padded answer: padding is not a breach. */
const PADDING_ONLY = ['padding is not a breach'];

const options = parseArgs('pwned-passwords', process.argv.slice(2), {
  defaults: { port: 8029 },
  flags: { '--port': ['port', Number] },
  usage: 'pwned-passwords.mjs [--port 8029]',
});

const sha1 = (text) => createHash('sha1').update(text, 'utf8').digest('hex').toUpperCase();
/** prefix -> [[suffix, count]] */
const ranges = new Map();
for (const [password, count] of [...BREACHED, ...PADDING_ONLY.map((p) => [p, 0])]) {
  const hash = sha1(password);
  const range = ranges.get(hash.slice(0, 5)) ?? [];
  range.push([hash.slice(5), count]);
  ranges.set(hash.slice(0, 5), range);
}

const received = []; // newest first
function remember(entry) {
  received.unshift(entry);
  received.length = Math.min(received.length, KEEP);
}

/** The lines of a range: its listed suffixes, and with padding random ones of count 0. */
function rangeLines(prefix, padding) {
  const lines = (ranges.get(prefix) ?? []).filter(([, count]) => padding || count > 0);
  if (padding) {
    const size = randomInt(800, 1001);
    while (lines.length < size) lines.push([randomBytes(18).toString('hex').slice(0, 35).toUpperCase(), 0]);
    lines.sort(([a], [b]) => (a < b ? -1 : 1));
  }
  return lines.map(([suffix, count]) => `${suffix}:${count}`).join('\r\n');
}

async function route(req, res) {
  const url = new URL(req.url, `http://${HOST}`);
  const path = url.pathname;
  if (path === '/api/requests') {
    if (req.method === 'GET') return sendJson(res, 200, received);
    if (req.method === 'DELETE') {
      received.length = 0;
      res.writeHead(204);
      return res.end();
    }
    return sendJson(res, 405, { detail: 'Method not allowed' });
  }
  const match = /^(?:\/(garbage|hang|status\/([1-5][0-9][0-9])))?\/range\/([^/]*)$/.exec(path);
  if (!match || req.method !== 'GET') return send(res, 404, 'Not found; the range API is GET /range/{first 5 hex characters of the SHA-1}');
  const [, failure, status, prefix] = match;
  const addPadding = req.headers['add-padding'] ?? null;
  const entry = { path, prefix, add_padding: addPadding, received_at: new Date().toISOString() };
  const line = (answer) => console.log(`${entry.received_at} ${path} padding=${addPadding ?? '-'} -> ${answer}`);
  const answer = (text) => {
    remember({ ...entry, answer: text });
    line(text);
  };
  if (failure === 'hang') {
    // Never answered: stopping the server closes its connection (closeAllConnections).
    return answer('hang');
  }
  if (status) {
    answer(`status ${status}`);
    return send(res, Number(status), 'error code: 1101', { 'content-type': 'text/plain' });
  }
  if (failure === 'garbage') {
    answer('garbage');
    return send(res, 200, '<!DOCTYPE html><title>Just a moment...</title>', { 'content-type': 'text/html' });
  }
  if (!/^[0-9A-Fa-f]{5}$/.test(prefix)) {
    answer('bad prefix');
    return send(res, 400, 'The hash prefix was not in a valid format', { 'content-type': 'text/plain' });
  }
  const listed = (ranges.get(prefix.toUpperCase()) ?? []).filter(([, count]) => count > 0).length;
  answer(`${listed} listed`);
  return send(res, 200, rangeLines(prefix.toUpperCase(), addPadding === 'true'), {
    'content-type': 'text/plain',
    'cache-control': 'public, max-age=2678400',
  });
}

serve('pwned-passwords', options.port, {
  route,
  errorBody: { detail: 'Internal error' },
  listening: (port) => `listening on http://${HOST}:${port}/range/`,
});
