#!/usr/bin/env node
// A local stand-in for Resend's email API, so recovery and verification emails can be read
// in a browser during `make dev` and by the HTTP tests. Plain Node, no dependencies; listens
// on 127.0.0.1 only and keeps the messages in memory (the newest 5000).
//
//   node scripts/mail-catcher.mjs [--port 8025] [--api-key KEY]
//   (the key may instead come from the environment variable MAIL_CATCHER_API_KEY, which keeps
//   it out of the process list; without a key, any Authorization header is accepted)
//
// Routes:
//   POST   /emails            Resend's shape: `Authorization: Bearer KEY`, JSON
//                             {from, to: [..] or "..", subject, text, html} -> 200 {"id": uuid}.
//                             No key -> 401 missing_api_key, a wrong key -> 403 invalid_api_key,
//                             a malformed body -> 422, each as Resend's {statusCode, message, name}.
//                             A recipient whose local part starts with `bounce-` (e.g.
//                             bounce-1@example.com) -> 500 and nothing is kept: a delivery failure
//                             on demand, for tests.
//   GET    /                  the messages, newest first (from, to, subject, time)
//   GET    /messages/ID       one message: its text, and its HTML in a sandboxed iframe
//   GET    /api/messages      the messages as JSON, newest first; ?to=ADDRESS keeps those to it.
//                             Each is {id, from, to, subject, text, html, created_at,
//                             authorization}: the last is the header it came with, for tests.
//   GET    /api/messages/ID   one message as JSON
//   DELETE /api/messages      forgets every message -> 204
//
// Logs one line per message to stdout; exits cleanly on SIGTERM and SIGINT.
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { HOST, escapeHtml, parseArgs, readBody, send, sendJson, serve } from './local-server.mjs';

const KEEP = 5000;
const MAX_BODY = 1024 * 1024;

const options = parseArgs('mail-catcher', process.argv.slice(2), {
  defaults: { port: 8025, apiKey: process.env.MAIL_CATCHER_API_KEY || undefined },
  flags: { '--port': ['port', Number], '--api-key': ['apiKey'] },
  usage: 'mail-catcher.mjs [--port 8025] [--api-key KEY]',
});
const messages = []; // newest first

// The catcher's pages run no script; a message's HTML is shown in an iframe sandboxed without
// scripts or same-origin access, and this policy (inherited by srcdoc frames) keeps its images
// and styles from reaching the network.
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

/** Resend's error body. */
const resendError = (res, statusCode, name, message) => sendJson(res, statusCode, { statusCode, message, name });

function sameKey(given, expected) {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The message a POST /emails body describes, or a string saying what is wrong with it. */
function parseEmail(text) {
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    return 'The body is not valid JSON.';
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return 'The body must be a JSON object.';
  const to = typeof body.to === 'string' ? [body.to] : body.to;
  if (typeof body.from !== 'string' || !body.from.trim()) return 'Missing `from` field.';
  if (!Array.isArray(to) || to.length === 0 || to.length > 50) return '`to` must be an address or a list of 1 to 50 addresses.';
  if (!to.every((address) => typeof address === 'string' && /^[^\s@]+@[^\s@]+$/.test(address))) {
    return 'Invalid `to` field: every recipient must be an email address.';
  }
  if (typeof body.subject !== 'string' || !body.subject) return 'Missing `subject` field.';
  for (const part of ['text', 'html']) {
    if (body[part] !== undefined && typeof body[part] !== 'string') return `\`${part}\` must be a string.`;
  }
  if (!body.text && !body.html) return 'Missing `html` or `text` field.';
  return { from: body.from, to, subject: body.subject, text: body.text ?? '', html: body.html ?? '' };
}

async function receive(req, res) {
  const authorization = req.headers.authorization ?? '';
  const key = /^Bearer (.+)$/.exec(authorization)?.[1];
  if (!key) return resendError(res, 401, 'missing_api_key', 'Missing API key in the authorization header. Include the following header in the request: Authorization: Bearer YOUR_API_KEY');
  if (options.apiKey !== undefined && !sameKey(key, options.apiKey)) return resendError(res, 403, 'invalid_api_key', 'API key is invalid');

  let text;
  try {
    text = (await readBody(req, MAX_BODY)).toString('utf8');
  } catch (error) {
    if (error.tooLarge) return resendError(res, 413, 'validation_error', 'The body is larger than 1 MB.');
    throw error;
  }
  const parsed = parseEmail(text);
  if (typeof parsed === 'string') return resendError(res, 422, 'validation_error', parsed);

  const time = new Date().toISOString();
  const bounced = parsed.to.filter((address) => address.toLowerCase().startsWith('bounce-'));
  if (bounced.length > 0) {
    console.log(`${time} bounced  to=${parsed.to.join(',')} subject=${JSON.stringify(parsed.subject)}`);
    return resendError(res, 500, 'application_error', `Delivery to ${bounced.join(', ')} failed (a bounce- address).`);
  }
  const message = { id: randomUUID(), ...parsed, created_at: time, authorization };
  messages.unshift(message);
  messages.length = Math.min(messages.length, KEEP);
  console.log(`${time} received to=${parsed.to.join(',')} subject=${JSON.stringify(parsed.subject)} id=${message.id}`);
  return sendJson(res, 200, { id: message.id });
}

function layout(title, content) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #ddd; vertical-align: top; }
pre { white-space: pre-wrap; word-break: break-all; background: #f6f6f6; padding: 1rem; }
iframe { width: 100%; height: 28rem; border: 1px solid #ccc; }
.muted { color: #666; }
</style>
</head>
<body>
${content}
</body>
</html>
`;
}

function listPage() {
  const rows = messages.map((m) => `<tr>
<td class="muted">${escapeHtml(m.created_at.replace('T', ' ').slice(0, 19))}</td>
<td>${escapeHtml(m.from)}</td>
<td>${escapeHtml(m.to.join(', '))}</td>
<td><a href="/messages/${escapeHtml(m.id)}">${escapeHtml(m.subject)}</a></td>
</tr>`).join('\n');
  const table = messages.length === 0
    ? '<p>No messages yet. Ask for a password reset or sign up, then reload this page.</p>'
    : `<table>\n<thead><tr><th>Time (UTC)</th><th>From</th><th>To</th><th>Subject</th></tr></thead>\n<tbody>\n${rows}\n</tbody>\n</table>`;
  return layout('Mail catcher', `<h1>Mail catcher</h1>
<p class="muted">Emails the local API sent, newest first (kept in memory until the catcher stops).</p>
${table}`);
}

/** The text part, escaped, with its http(s) links made clickable. */
function textWithLinks(text) {
  const url = /https?:\/\/[^\s<>"']+/g;
  let out = '';
  let last = 0;
  for (const match of text.matchAll(url)) {
    out += escapeHtml(text.slice(last, match.index));
    out += `<a href="${escapeHtml(match[0])}" target="_blank" rel="noopener noreferrer">${escapeHtml(match[0])}</a>`;
    last = match.index + match[0].length;
  }
  return out + escapeHtml(text.slice(last));
}

function messagePage(m) {
  // The frame may open links in a new tab (outside the sandbox), nothing more; <base> sends
  // every link there, as pages refuse to be framed.
  const html = m.html
    ? `<h2>HTML</h2>\n<iframe sandbox="allow-popups allow-popups-to-escape-sandbox" referrerpolicy="no-referrer" srcdoc="${escapeHtml(`<base target="_blank">${m.html}`)}"></iframe>`
    : '';
  return layout(m.subject, `<p><a href="/">&larr; All messages</a></p>
<h1>${escapeHtml(m.subject)}</h1>
<table>
<tr><th>From</th><td>${escapeHtml(m.from)}</td></tr>
<tr><th>To</th><td>${escapeHtml(m.to.join(', '))}</td></tr>
<tr><th>Time (UTC)</th><td>${escapeHtml(m.created_at)}</td></tr>
</table>
<h2>Text</h2>
<pre>${textWithLinks(m.text)}</pre>
${html}`);
}

async function route(req, res) {
  const url = new URL(req.url, `http://${HOST}`);
  const path = url.pathname;
  const method = req.method;

  if (path === '/emails') {
    if (method !== 'POST') return resendError(res, 405, 'method_not_allowed', 'Method not allowed');
    return receive(req, res);
  }
  if (path === '/api/messages') {
    if (method === 'GET') {
      const to = url.searchParams.get('to')?.toLowerCase();
      const found = to ? messages.filter((m) => m.to.some((address) => address.toLowerCase() === to)) : messages;
      return sendJson(res, 200, found);
    }
    if (method === 'DELETE') {
      messages.length = 0;
      return send(res, 204, '');
    }
    return sendJson(res, 405, { detail: 'Method not allowed' });
  }
  const one = /^\/(api\/)?messages\/([0-9a-f-]{36})$/.exec(path);
  if (method === 'GET' && one) {
    const message = messages.find((m) => m.id === one[2]);
    if (one[1]) return message ? sendJson(res, 200, message) : sendJson(res, 404, { detail: 'Not found' });
    return message
      ? send(res, 200, messagePage(message), PAGE_HEADERS)
      : send(res, 404, layout('Not found', '<p>No such message. <a href="/">All messages</a></p>'), PAGE_HEADERS);
  }
  if (method === 'GET' && path === '/') return send(res, 200, listPage(), PAGE_HEADERS);
  return sendJson(res, 404, { detail: 'Not found' });
}

serve('mail-catcher', options.port, {
  route,
  errorBody: { detail: 'Internal error' },
  listening: (port) => `listening on http://${HOST}:${port} (API: POST http://${HOST}:${port}/emails)`,
});
