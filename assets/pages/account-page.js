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

/** A refusal shown in `box`; for a stale session's 403 ("sign in again"), with a button that
 * does so and comes back here. */
function refused(box, answer) {
  showErrors(box, answer.body);
  if (answer.status !== 403) return;
  const again = document.createElement('button');
  again.type = 'button';
  again.className = 'quiet';
  again.textContent = 'Sign in again';
  again.addEventListener('click', async () => {
    await signOut();
    window.location.assign('/login?next=%2Faccount');
  });
  box.querySelector('.form-error').append(' ', again);
}

/** What /me says of the ways in: TOTP on or off, a password or none. */
function showWaysIn() {
  const on = me.mfa_enabled;
  $('totp-state').textContent = on ? 'on' : me.has_password ? 'off' : 'off; it needs a password first';
  $('totp-start').hidden = on || !me.has_password;
  $('totp-off').hidden = !on;
  $('no-password').hidden = me.has_password;
  $('password-fields').hidden = !me.has_password;
}

function showMe(user) {
  me = { ...me, ...user };
  const profile = $('profile-form');
  profile.first_name.value = user.first_name || '';
  profile.surname.value = user.surname || '';
  $('email-address').textContent = user.email;
  const welcome = new URLSearchParams(window.location.search).has('welcome');
  $('email-state').textContent = user.email_verified ? 'verified' : welcome ? 'not verified yet: we sent you a link, follow it' : 'not verified yet';
  $('resend').hidden = user.email_verified;
}

const when = (iso) => new Date(iso).toLocaleString();

const passkeysWork = typeof PublicKeyCredential === 'function'
  && typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function';

function button(text, label, action) {
  const made = document.createElement('button');
  made.type = 'button';
  made.className = 'quiet';
  made.textContent = text;
  made.setAttribute('aria-label', label);
  made.addEventListener('click', () => action(made));
  return made;
}

/** The list of passkeys; `focus`: the label of a button to put the keyboard's focus on. */
async function showPasskeys(focus) {
  const answer = await authed('/api/v1/auth/passkeys');
  const list = $('passkey-list');
  list.replaceChildren();
  if (!answer.ok) return;
  if (answer.body.length === 0) item(list, 'No passkeys yet.');
  for (const passkey of answer.body) list.append(passkeyItem(passkey));
  if (focus) (list.querySelector(`[aria-label="${CSS.escape(focus)}"]`) || $('passkey-add').querySelector('button')).focus();
}

/** A passkey: its name and dates; rename and remove, each refusal shown in its own row. */
function passkeyItem(passkey) {
  const li = document.createElement('li');
  const text = document.createElement('span');
  const used = passkey.last_used_at ? `last used ${when(passkey.last_used_at)}` : 'not used yet';
  text.textContent = `${passkey.name} · added ${when(passkey.created_at)} · ${used}`;
  const actions = document.createElement('div');
  actions.className = 'row';
  const error = document.createElement('p');
  error.className = 'form-error';
  error.setAttribute('role', 'alert');
  actions.append(
    button('Rename', `Rename ${passkey.name}`, () => li.replaceChildren(renameForm(passkey))),
    button('Remove', `Remove ${passkey.name}`, async (remove) => {
      remove.disabled = true;
      const gone = await authed(`/api/v1/auth/passkeys/${passkey.id}`, { method: 'DELETE' });
      remove.disabled = false;
      if (gone.ok) showPasskeys('Add a passkey');
      else refused(li, gone);
    }),
  );
  li.append(text, actions, error);
  return li;
}

function renameForm(passkey) {
  const form = document.createElement('form');
  form.noValidate = true;
  form.className = 'grow';
  const label = document.createElement('label');
  label.textContent = 'New name';
  const input = document.createElement('input');
  input.name = 'name';
  input.maxLength = 64;
  input.autocomplete = 'off';
  input.value = passkey.name;
  const slot = document.createElement('span');
  slot.className = 'field-error';
  slot.dataset.for = 'name';
  label.append(input, slot);
  const error = document.createElement('p');
  error.className = 'form-error';
  error.setAttribute('role', 'alert');
  const save = document.createElement('button');
  save.type = 'submit';
  save.textContent = 'Save name';
  const row = document.createElement('div');
  row.className = 'row';
  row.append(save, button('Cancel', 'Cancel renaming', () => showPasskeys(`Rename ${passkey.name}`)));
  form.append(label, error, row);
  onSubmit(form, async (fields) => {
    clearErrors(form);
    const json = { name: fields.get('name').trim() };
    const answer = await authed(`/api/v1/auth/passkeys/${passkey.id}`, { method: 'PATCH', json });
    if (answer.ok) showPasskeys(`Rename ${answer.body.name}`);
    else refused(form, answer);
  });
  queueMicrotask(() => input.focus());
  return form;
}

onSubmit($('passkey-add'), async (fields) => {
  const form = $('passkey-add');
  clearErrors(form);
  notice(form, '');
  const options = await authed('/api/v1/auth/passkeys/register/options', { method: 'POST' });
  if (!options.ok) {
    refused(form, options);
    return;
  }
  let credential;
  try {
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options.body);
    credential = (await navigator.credentials.create({ publicKey })).toJSON();
  } catch (error) {
    const why = {
      InvalidStateError: 'This device has a passkey for this account already.',
      NotAllowedError: 'No passkey was added.',
    };
    showErrors(form, { detail: why[error.name] || 'This browser could not make a passkey.' });
    return;
  }
  const name = fields.get('name').trim();
  const json = name ? { credential, name } : { credential };
  const answer = await authed('/api/v1/auth/passkeys/register', { method: 'POST', json });
  if (answer.ok) {
    form.reset();
    notice(form, `Added “${answer.body.name}”.`);
    showPasskeys();
  } else refused(form, answer);
});

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
        refused($('linked'), gone);
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
        refused($('linked'), started);
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
  me.mfa_enabled = true;
  showWaysIn();
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
    me.mfa_enabled = false;
    showWaysIn();
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
    showWaysIn();
    $('passkey-add').hidden = !passkeysWork;
    $('account').hidden = false;
    linkResult();
    showPasskeys();
    showDevices();
    showIdentities();
  } else {
    $('page-error').textContent = 'Your account could not be loaded; reload the page.';
  }
}
