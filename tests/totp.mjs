// A TOTP client of the tests' own (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps), with
// node:crypto's HMAC: the codes an authenticator app shows, for tests/mfa.test.mjs and
// tests/oauth.test.mjs.
import { createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32Decode(text) {
  let bits = 0;
  let value = 0;
  const bytes = [];
  for (const char of text.replace(/=+$/, '')) {
    const index = BASE32.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${char}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(bytes);
}

export const stepNow = () => Math.floor(Date.now() / 1000 / 30);

/** The code of time step `step` for a base32 `secret`. */
export function codeAt(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const hash = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = hash[hash.length - 1] & 0x0f;
  return String((hash.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/**
 * An authenticator for one enrolment: each call gives a code of a step not used before, the
 * current one or the next (both within the server's one step of drift, whichever side of a
 * step boundary it is on), waiting for the next step when both are used.
 */
export function authenticator(secret) {
  let last = 0;
  return {
    secret,
    async code() {
      for (;;) {
        const step = Math.max(last + 1, stepNow());
        if (step <= stepNow() + 1) {
          last = step;
          return codeAt(secret, step);
        }
        await sleep(1000);
      }
    },
    /** A code of a step already used, as a replay sends it. */
    used: () => codeAt(secret, last),
    /** Six digits that are the code of no step the server could accept now. */
    wrong() {
      const near = new Set([-2, -1, 0, 1, 2, 3].map((d) => codeAt(secret, stepNow() + d)));
      for (let n = 0; ; n++) {
        const candidate = String((123456 + n * 7919) % 1_000_000).padStart(6, '0');
        if (!near.has(candidate)) return candidate;
      }
    },
  };
}
