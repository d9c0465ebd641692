// /account: the signed-in person's account. Without a session (the cookie's refresh token
// gives none), goes to /login and comes back.
import { api, authed, refresh, signedIn, signOut, toLogin, showErrors, clearErrors, fieldError, onSubmit } from './session.js';

const $ = (id) => document.getElementById(id);
let me = null;

function notice(box, text) {
  box.querySelector('.notice').textContent = text;
}

function item(list, text, buttonText, action) {
  const li = document.createElement('li');
  const span = document.createElement('span');
  span.textContent = text;
  li.append(span);
  if (buttonText) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'quiet';
    button.textContent = buttonText;
    button.addEventListener('click', () => action(button));
    li.append(button);
  }
  list.append(li);
}

function showMe(user) {
  me = user;
  const profile = $('profile-form');
  profile.first_name.value = user.first_name || '';
  profile.surname.value = user.surname || '';
  $('email-address').textContent = user.email;
  const welcome = new URLSearchParams(window.location.search).has('welcome');
  $('email-state').textContent = user.email_verified ? 'verified' : welcome ? 'not verified yet: we sent you a link, follow it' : 'not verified yet';
  $('resend').hidden = user.email_verified;
}

const when = (iso) => new Date(iso).toLocaleString();

async function showDevices() {
  const answer = await authed('/api/v1/auth/sessions');
  const list = $('device-list');
  list.replaceChildren();
  if (!answer.ok) return;
  for (const device of answer.body.sessions) {
    const place = [device.city, device.country].filter(Boolean).join(', ');
    const text = `${device.user_agent || 'Unknown device'}${place ? ` · ${place}` : ''} · last used ${when(device.last_used_at)}${device.current ? ' · this device' : ''}`;
    item(list, text, device.current ? null : 'Sign out', async (button) => {
      button.disabled = true;
      const ended = await authed(`/api/v1/auth/sessions/${encodeURIComponent(device.id)}`, { method: 'DELETE' });
      if (ended.ok) showDevices();
      else showErrors($('devices'), ended.body);
    });
  }
}

async function showIdentities() {
  const [linked, providers] = await Promise.all([
    authed('/api/v1/auth/me/identities'),
    api('/api/v1/auth/oauth/providers'),
  ]);
  const list = $('identity-list');
  const buttons = $('link-buttons');
  list.replaceChildren();
  buttons.replaceChildren();
  const names = new Map((providers.ok ? providers.body : []).map((p) => [p.id, p.name]));
  const have = new Set();
  for (const identity of linked.ok ? linked.body : []) {
    have.add(identity.provider);
    const name = names.get(identity.provider) || identity.provider;
    item(list, `${name} · ${identity.email}`, `Unlink ${name}`, async (button) => {
      button.disabled = true;
      const gone = await authed(`/api/v1/auth/me/identities/${encodeURIComponent(identity.provider)}`, { method: 'DELETE' });
      if (gone.ok) showIdentities();
      else {
        button.disabled = false;
        showErrors($('linked'), gone.body);
      }
    });
  }
  if (have.size === 0) item(list, 'No linked accounts.');
  for (const [id, name] of names) {
    if (have.has(id)) continue;
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'quiet';
    button.textContent = `Link ${name}`;
    button.addEventListener('click', async () => {
      button.disabled = true;
      const json = { redirect_to: `${window.location.origin}/account` };
      const started = await authed(`/api/v1/auth/oauth/${encodeURIComponent(id)}/link`, { method: 'POST', json });
      if (started.ok) window.location.assign(started.body.authorize_url);
      else {
        button.disabled = false;
        showErrors($('linked'), started.body);
      }
    });
    buttons.append(button);
  }
}

/** The way back from linking a provider: #linked= or #error=. */
function linkResult() {
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  if (!fragment.has('linked') && !fragment.has('error')) return;
  window.history.replaceState(null, '', window.location.pathname);
  const box = $('linked').querySelector('.form-error');
  if (fragment.has('error')) box.textContent = fragment.get('error_description') || fragment.get('error');
}

onSubmit($('profile-form'), async (fields) => {
  const form = $('profile-form');
  clearErrors(form);
  const json = { first_name: fields.get('first_name').trim() || null, surname: fields.get('surname').trim() || null };
  const answer = await authed('/api/v1/auth/me', { method: 'PATCH', json });
  if (answer.ok) {
    showMe(answer.body);
    notice(form, 'Saved.');
  } else showErrors(form, answer.body);
});

$('resend').addEventListener('click', async () => {
  const box = $('email');
  clearErrors(box);
  const answer = await authed('/api/v1/auth/verify-email/resend', { method: 'POST' });
  if (answer.ok) notice(box, 'Sent: follow the link in the email.');
  else showErrors(box, answer.body);
});

onSubmit($('password-form'), async (fields) => {
  const form = $('password-form');
  clearErrors(form);
  if ((fields.get('new_password') || '').length < 8) {
    fieldError(form, 'new_password', 'At least 8 characters.');
    return;
  }
  const json = { current_password: fields.get('current_password'), new_password: fields.get('new_password') };
  const answer = await authed('/api/v1/auth/password', { method: 'POST', json, cookie: true });
  if (answer.ok) {
    signedIn(answer.body);
    form.reset();
    notice(form, 'Changed. Every other device was signed out.');
    showDevices();
  } else if (answer.body && answer.body.detail === 'Incorrect password') {
    fieldError(form, 'current_password', 'Incorrect password.');
  } else showErrors(form, answer.body);
});

onSubmit($('totp-start'), async (fields) => {
  const form = $('totp-start');
  clearErrors(form);
  const answer = await authed('/api/v1/auth/mfa/totp/setup', { method: 'POST', json: { password: fields.get('password') } });
  if (!answer.ok) {
    if (answer.body && answer.body.detail === 'Incorrect password') fieldError(form, 'password', 'Incorrect password.');
    else showErrors(form, answer.body);
    return;
  }
  form.reset();
  form.hidden = true;
  $('totp-secret').textContent = answer.body.secret;
  $('totp-qr').src = URL.createObjectURL(new Blob([answer.body.qr_svg], { type: 'image/svg+xml' }));
  $('totp-confirm').hidden = false;
  $('totp-confirm').code.focus();
});

onSubmit($('totp-confirm'), async (fields) => {
  const form = $('totp-confirm');
  clearErrors(form);
  const answer = await authed('/api/v1/auth/mfa/totp/enable', { method: 'POST', json: { code: fields.get('code').trim() }, cookie: true });
  if (!answer.ok) {
    showErrors(form, answer.body);
    return;
  }
  signedIn(answer.body);
  form.hidden = true;
  const list = $('codes-list');
  list.replaceChildren(...answer.body.recovery_codes.map((code) => {
    const li = document.createElement('li');
    li.textContent = code;
    return li;
  }));
  $('recovery-codes').hidden = false;
  showDevices();
});

const codesText = () => [...$('codes-list').children].map((li) => li.textContent).join('\n');
$('copy-codes').addEventListener('click', async () => {
  await navigator.clipboard.writeText(`${codesText()}\n`).catch(() => {});
  notice($('recovery-codes'), 'Copied.');
});
$('download-codes').addEventListener('click', () => {
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([`${codesText()}\n`], { type: 'text/plain' }));
  link.download = 'recovery-codes.txt';
  link.click();
});

onSubmit($('totp-off'), async (fields) => {
  const form = $('totp-off');
  clearErrors(form);
  const json = { password: fields.get('password'), code: fields.get('code').trim() };
  const answer = await authed('/api/v1/auth/mfa/totp', { method: 'DELETE', json, cookie: true });
  if (answer.ok) {
    signedIn(answer.body);
    form.reset();
    notice(form, 'Two-step sign-in is off.');
    $('totp-start').hidden = false;
    showDevices();
  } else if (answer.body && answer.body.detail === 'Incorrect password') {
    fieldError(form, 'password', 'Incorrect password.');
  } else showErrors(form, answer.body);
});

$('end-others').addEventListener('click', async () => {
  const answer = await authed('/api/v1/auth/sessions', { method: 'DELETE' });
  if (answer.ok) showDevices();
  else showErrors($('devices'), answer.body);
});

$('sign-out').addEventListener('click', async () => {
  await signOut();
  window.location.replace('/login');
});

onSubmit($('delete-form'), async (fields) => {
  const form = $('delete-form');
  clearErrors(form);
  if (fields.get('confirm_email').trim().toLowerCase() !== me.email.toLowerCase()) {
    fieldError(form, 'confirm_email', 'Type the email of this account.');
    return;
  }
  const answer = await authed('/api/v1/auth/me', { method: 'DELETE' });
  if (!answer.ok) {
    showErrors(form, answer.body);
    return;
  }
  await signOut();
  window.location.replace('/signup');
});

if (!(await refresh())) {
  toLogin();
} else {
  const answer = await authed('/api/v1/auth/me');
  if (answer.ok) {
    showMe(answer.body);
    $('account').hidden = false;
    linkResult();
    showDevices();
    showIdentities();
  } else {
    $('page-error').textContent = 'Your account could not be loaded; reload the page.';
  }
}
