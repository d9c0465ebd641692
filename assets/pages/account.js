// The reset-password and verify-email pages: each posts the token of its link to the API,
// with the form's fields, and shows the answer in #status. Served as a static asset so that
// the pages' Content-Security-Policy allows no inline script.
'use strict';

// Links carry the token in the fragment (#token=), which the browser never sends; links sent
// before that carry it in the query (?token=) and work until they expire. Either way it is
// taken out of the address bar at once, so it stays out of the history, bookmarks and
// screenshots; the page keeps it in memory.
function takeToken() {
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  const query = new URLSearchParams(window.location.search);
  const found = fragment.get('token') || query.get('token') || '';
  if (fragment.has('token') || query.has('token')) {
    fragment.delete('token');
    query.delete('token');
    const search = query.toString();
    const hash = fragment.toString();
    const clean = window.location.pathname + (search ? `?${search}` : '') + (hash ? `#${hash}` : '');
    window.history.replaceState(null, '', clean);
  }
  return found;
}

const token = takeToken();
const status = document.getElementById('status');

function show(text, ok) {
  status.textContent = text;
  status.className = ok ? '' : 'error';
}

// FastAPI's errors: a string, or a list of {loc, msg, type}.
function detailOf(body) {
  const detail = body && body.detail;
  if (Array.isArray(detail)) return detail.map((error) => error.msg).join('; ');
  return typeof detail === 'string' ? detail : 'Something went wrong; try again.';
}

async function post(path, json) {
  try {
    const response = await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(json),
    });
    const body = await response.json().catch(() => null);
    return { ok: response.ok, text: detailOf(body) };
  } catch {
    return { ok: false, text: 'The server could not be reached; try again.' };
  }
}

function onSubmit(form, send) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button');
    button.disabled = true;
    const { ok, text } = await send(new FormData(form));
    show(text, ok);
    // Done: the token is used up, so the form stays disabled.
    button.disabled = ok;
  });
}

const resetForm = document.getElementById('reset-form');
if (resetForm) {
  onSubmit(resetForm, async (fields) => {
    if (fields.get('new_password') !== fields.get('confirm_password')) {
      return { ok: false, text: 'The two passwords differ.' };
    }
    return post('/api/v1/auth/reset-password', { token, new_password: fields.get('new_password') });
  });
}

const verifyForm = document.getElementById('verify-form');
if (verifyForm) {
  onSubmit(verifyForm, () => post('/api/v1/auth/verify-email', { token }));
}

if (!token) show('This link has no token. Open the link from the email again.', false);
