// What the account pages share: calls to the API, the session, and errors shown next to
// the field that caused them. The access token lives in memory only; the refresh token is
// in an HttpOnly cookie the API sets when a call carries the X-Refresh-Cookie header, which
// script never sees (docs/security.md).

const COOKIE = { 'x-refresh-cookie': '1' };
let accessToken = null;

/** Calls the API: `json` or `form` as the body, `auth` to send the access token,
 * `cookie` to keep the refresh token in the cookie. Resolves to {status, ok, body}. */
export async function api(path, { method = 'GET', json, form, auth = false, cookie = false } = {}) {
  const headers = {};
  let body;
  if (json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = new URLSearchParams(form);
  }
  if (cookie) Object.assign(headers, COOKIE);
  if (auth && accessToken) headers.authorization = `Bearer ${accessToken}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body, credentials: 'same-origin' });
  } catch {
    return { status: 0, ok: false, body: { detail: 'The server could not be reached; try again.' } };
  }
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = null; }
  return { status: response.status, ok: response.ok, body: parsed };
}

/** Keeps the access token of an answer that carries one. */
export function signedIn(body) {
  if (body && body.access_token) accessToken = body.access_token;
  return Boolean(accessToken);
}

/** A new access token from the cookie's refresh token; false when there is no session. */
export async function refresh() {
  const answer = await api('/api/v1/auth/refresh', { method: 'POST', cookie: true });
  if (!answer.ok) {
    accessToken = null;
    return false;
  }
  return signedIn(answer.body);
}

/** A call with the access token; refreshes once when it has expired. Without a session,
 * goes to /login and comes back after. */
export async function authed(path, options = {}) {
  if (!accessToken) await refresh();
  let answer = await api(path, { ...options, auth: true });
  if (answer.status === 401 && (await refresh())) answer = await api(path, { ...options, auth: true });
  if (answer.status === 401) toLogin();
  return answer;
}

export async function signOut() {
  await api('/api/v1/auth/logout', { method: 'POST', cookie: true });
  accessToken = null;
}

export function toLogin() {
  const next = window.location.pathname + window.location.search;
  window.location.assign(`/login?next=${encodeURIComponent(next)}`);
}

/** Shows the API's error next to the fields it names (FastAPI's `detail`: a list of
 * {loc, msg} or a string), or in the form's own error line. */
export function showErrors(form, body, fallback = 'Something went wrong; try again.') {
  clearErrors(form);
  const detail = body && body.detail;
  const general = form.querySelector('.form-error');
  if (Array.isArray(detail)) {
    const rest = [];
    for (const error of detail) {
      const name = Array.isArray(error.loc) ? error.loc[error.loc.length - 1] : '';
      const slot = form.querySelector(`[data-for="${name}"]`);
      if (slot) {
        slot.textContent = error.msg;
        const input = form.querySelector(`[name="${name}"]`);
        if (input) input.setAttribute('aria-invalid', 'true');
      } else {
        rest.push(error.msg);
      }
    }
    if (general) general.textContent = rest.join('; ');
    const first = form.querySelector('[aria-invalid="true"]');
    if (first) first.focus();
  } else if (general) {
    general.textContent = typeof detail === 'string' ? detail : fallback;
  }
}

/** Shows `text` next to field `name` of `form`. */
export function fieldError(form, name, text) {
  clearErrors(form);
  form.querySelector(`[data-for="${name}"]`).textContent = text;
  const input = form.querySelector(`[name="${name}"]`);
  input.setAttribute('aria-invalid', 'true');
  input.focus();
}

export function clearErrors(form) {
  for (const slot of form.querySelectorAll('.field-error, .form-error')) slot.textContent = '';
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
}

/** Runs `send(fields)` on submit, with the form's button disabled meanwhile. */
export function onSubmit(form, send) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = event.submitter || form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await send(new FormData(form));
    } finally {
      button.disabled = false;
    }
  });
}

/** The Turnstile token of a form's widget, when the page shows one. */
export function turnstileToken(form) {
  const field = form.querySelector('[name="cf-turnstile-response"]');
  return field ? field.value : null;
}
