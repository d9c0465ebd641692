// What the local stand-ins of third-party services share: scripts/mail-catcher.mjs (Resend),
// turnstile-siteverify.mjs (Cloudflare Turnstile), github-oauth.mjs (GitHub),
// oidc-provider.mjs (an OpenID provider) and pwned-passwords.mjs (Have I Been Pwned). Their command line, reading and answering requests,
// and serving on 127.0.0.1 only until SIGTERM or SIGINT. Plain Node, no dependencies.
import { createServer } from 'node:http';

export const HOST = '127.0.0.1';

/** Prints `name: message` and exits 2: a command line that cannot be served. */
export function refuse(name, message) {
  console.error(`${name}: ${message}`);
  process.exit(2);
}

/**
 * The options on `argv` (`--flag value` or `--flag=value`), over `defaults`. `flags` maps each
 * flag to `[option]` (a string), `[option, Number]` or `[option, Array]` (repeatable, a list).
 * `--help` prints `usage: <usage>`; an unknown flag, or a `port` that is not one, exits 2.
 */
export function parseArgs(name, argv, { defaults, flags, usage }) {
  const options = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    if (flag === '--help' || flag === '-h') {
      console.log(`usage: ${usage}`);
      process.exit(0);
    }
    if (!Object.hasOwn(flags, flag)) refuse(name, `unknown argument ${argv[i]}`);
    const [option, kind] = flags[flag];
    const value = inline ?? argv[++i];
    if (kind === Number) options[option] = Number(value);
    else if (kind === Array) options[option] = [...(options[option] ?? []), value];
    else options[option] = value;
  }
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
    refuse(name, '--port needs a port number');
  }
  return options;
}

export const escapeHtml = (value) => String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function send(res, status, body, headers = {}) {
  res.writeHead(status, headers);
  res.end(body);
}

export function sendJson(res, status, value) {
  send(res, status, JSON.stringify(value), { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
}

/** The request's body, up to `max` bytes; beyond, it rejects with an error marked `tooLarge`. */
export function readBody(req, max) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > max) {
        reject(Object.assign(new Error('body too large'), { tooLarge: true }));
        req.destroy();
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * Serves on HOST:`port` (0: any free port) until SIGTERM or SIGINT. Requests go to `handler`,
 * or to `route(req, res)`, an async function whose failures are logged and answered 500 with
 * `errorBody`. `listening(port)` says what to log once it listens; it exits 1 if it cannot.
 */
export function serve(name, port, { route, errorBody, handler, listening }) {
  const server = createServer(handler ?? ((req, res) => {
    route(req, res).catch((error) => {
      console.error(`${name}: ${req.method} ${req.url}: ${error.stack ?? error}`);
      if (!res.headersSent) sendJson(res, 500, errorBody);
      else res.destroy();
    });
  }));
  server.on('error', (error) => {
    console.error(`${name}: cannot listen on ${HOST}:${port}: ${error.message}`);
    process.exit(1);
  });
  server.listen(port, HOST, () => console.log(`${name}: ${listening(server.address().port)}`));
  const shutdown = (signal) => {
    console.log(`${name}: ${signal}, stopping`);
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  return server;
}
