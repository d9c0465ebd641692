// /login, one function per way of signing in, each ending in done():
// - password: email and password, then a second step when the account asks for one;
// - second step: a TOTP code, a recovery code, or a passkey;
// - passkey: "Sign in with a passkey" (username-less), and the browser's passkey autofill
//   on the email field (conditional mediation);
// - provider: a button per provider, whose flow comes back here with #code= and is finished
//   with the PKCE verifier this page made;
// - email: "Email me a sign-in link", then the email's six-digit code, or its link, which
//   comes back here with #email_token=.
// Once signed in, goes to ?next= (a path on this origin) or /account.
import { api, signedIn, refresh, showErrors, clearErrors, onSubmit, turnstileToken } from './session.js';

const loginForm = document.getElementById('login-form');
const mfaForm = document.getElementById('mfa-form');
const pageError = document.getElementById('page-error');
const VERIFIER = 'recipe-api.pkce-verifier';
let mfaToken = null;

/** ?next= when it is a path on this origin, else /account. */
function next() {
  const wanted = new URLSearchParams(window.location.search).get('next') || '';
  if (!wanted.startsWith('/') || wanted.startsWith('//') || wanted.startsWith('/\\')) return '/account';
  const url = new URL(wanted, window.location.origin);
  return url.origin === window.location.origin ? url.pathname + url.search + url.hash : '/account';
}

/** Every flow ends here: signed in, or (after a password) asked for a second step. */
function done(body) {
  if (body && body.mfa_required) {
    stopAutofill();
    mfaToken = body.mfa_token;
    loginForm.hidden = true;
    document.getElementById('providers').hidden = true;
    document.getElementById('email-sign-in-form').hidden = true;
    document.getElementById('use-passkey').hidden = !(passkeys && body.methods?.includes('passkey'));
    mfaForm.hidden = false;
    mfaForm.querySelector('input').focus();
    return;
  }
  signedIn(body);
  window.location.replace(next());
}

// Password.

onSubmit(loginForm, async (fields) => {
  clearErrors(loginForm);
  const form = { username: fields.get('username'), password: fields.get('password') };
  const token = turnstileToken(loginForm);
  if (token) form['cf-turnstile-response'] = token;
  const answer = await api('/api/v1/auth/login', { method: 'POST', form, cookie: true });
  if (answer.ok) done(answer.body);
  else showErrors(loginForm, answer.body);
});

// Second step: a code (TOTP or recovery) or a passkey.

async function verifySecondStep(answerWith) {
  clearErrors(mfaForm);
  const json = { mfa_token: mfaToken, ...answerWith };
  const answer = await api('/api/v1/auth/mfa/verify', { method: 'POST', json, cookie: true });
  if (answer.ok) done(answer.body);
  else if (answer.status === 401) {
    mfaForm.hidden = true;
    loginForm.hidden = false;
    pageError.textContent = 'That sign-in took too long; enter your password again.';
  } else showErrors(mfaForm, answer.body);
}

onSubmit(mfaForm, (fields) => verifySecondStep({ code: fields.get('code').trim() }));

document.getElementById('use-recovery').addEventListener('click', (event) => {
  document.getElementById('code-label').textContent = 'Recovery code';
  const input = mfaForm.querySelector('input');
  input.removeAttribute('inputmode');
  input.value = '';
  input.focus();
  event.target.hidden = true;
});

document.getElementById('use-passkey').addEventListener('click', (event) => busy(event.target, async () => {
  clearErrors(mfaForm);
  const options = await api('/api/v1/auth/mfa/passkey/options', { method: 'POST', json: { mfa_token: mfaToken } });
  if (!options.ok) {
    showErrors(mfaForm, options.body);
    return;
  }
  const credential = await askForPasskey(options.body, mfaForm);
  if (credential) await verifySecondStep({ credential });
}));

// Passkey, with no email and no password.

const passkeys = typeof PublicKeyCredential === 'function'
  && typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function';
/** The autofill request waiting on the email field, to abort before any other. */
let autofill = null;

function stopAutofill() {
  autofill?.abort();
  autofill = null;
}

/** The browser's passkey for the server's request `options`, as JSON; null when the person
 * cancelled or the request was aborted (a modal request's error then shows in `form`).
 * `conditional`: wait for the person to pick a passkey in the email field's autofill. */
async function askForPasskey(options, form, conditional = false) {
  stopAutofill();
  const controller = new AbortController();
  if (conditional) autofill = controller;
  try {
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
    const credential = await navigator.credentials.get({
      publicKey, signal: controller.signal, ...(conditional ? { mediation: 'conditional' } : {}),
    });
    return credential ? credential.toJSON() : null;
  } catch (error) {
    // The autofill's failures stay quiet: nobody asked for it yet.
    if (!conditional && error.name !== 'AbortError' && !controller.signal.aborted) {
      showErrors(form, { detail: error.name === 'NotAllowedError' ? 'No passkey was used.' : 'This browser could not use a passkey.' });
    }
    return null;
  } finally {
    if (autofill === controller) autofill = null;
  }
}

/** A username-less sign-in: `conditional` from the email field's autofill, else modal. */
async function signInWithPasskey(conditional) {
  const options = await api('/api/v1/auth/passkeys/login/options', { method: 'POST' });
  if (!options.ok) {
    if (!conditional) showErrors(loginForm, options.body);
    return;
  }
  // The autofill may wait longer than its challenge lives: ask again before it expires.
  const renew = conditional ? setTimeout(startAutofill, Math.max(options.body.timeout - 30000, 30000)) : 0;
  const credential = await askForPasskey(options.body, loginForm, conditional);
  clearTimeout(renew);
  if (!credential) {
    if (!conditional) startAutofill();
    return;
  }
  const answer = await api('/api/v1/auth/passkeys/login', { method: 'POST', json: { credential }, cookie: true });
  if (answer.ok) done(answer.body);
  else {
    showErrors(loginForm, answer.body);
    startAutofill();
  }
}

async function startAutofill() {
  if (passkeys && !loginForm.hidden && (await PublicKeyCredential.isConditionalMediationAvailable?.())) {
    signInWithPasskey(true);
  }
}

const passkeyButton = document.getElementById('passkey-sign-in');
passkeyButton.hidden = !passkeys;
passkeyButton.addEventListener('click', () => busy(passkeyButton, () => {
  clearErrors(loginForm);
  return signInWithPasskey(false);
}));

/** Runs `action` with `button` disabled meanwhile. */
async function busy(button, action) {
  button.disabled = true;
  try {
    await action();
  } finally {
    button.disabled = false;
  }
}

// Provider.

const base64url = (bytes) => btoa(String.fromCharCode(...bytes))
  .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

/** A PKCE pair: the verifier is kept in this tab's session storage until the way back. */
async function challenge() {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  sessionStorage.setItem(VERIFIER, verifier);
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

async function showProviders() {
  const answer = await api('/api/v1/auth/oauth/providers');
  if (!answer.ok || !Array.isArray(answer.body) || answer.body.length === 0) return;
  const box = document.getElementById('providers');
  for (const provider of answer.body) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'quiet';
    button.textContent = `Continue with ${provider.name}`;
    button.addEventListener('click', async () => {
      const back = `${window.location.origin}/login${window.location.search}`;
      const query = new URLSearchParams({ redirect_to: back, code_challenge: await challenge(), code_challenge_method: 'S256' });
      window.location.assign(`${provider.authorize_url}?${query}`);
    });
    box.append(button);
  }
  box.hidden = loginForm.hidden;
}

/** The way back from a provider: #code= (exchanged with the verifier) or #error=. */
async function finishProvider() {
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  if (!fragment.has('code') && !fragment.has('error')) return false;
  window.history.replaceState(null, '', window.location.pathname + window.location.search);
  if (fragment.has('error')) {
    pageError.textContent = fragment.get('error_description') || fragment.get('error');
    return false;
  }
  const verifier = sessionStorage.getItem(VERIFIER);
  sessionStorage.removeItem(VERIFIER);
  const json = { code: fragment.get('code'), code_verifier: verifier || '' };
  const answer = await api('/api/v1/auth/oauth/token', { method: 'POST', json, cookie: true });
  if (answer.ok) {
    done(answer.body);
    return true;
  }
  pageError.textContent = typeof answer.body?.detail === 'string' ? answer.body.detail : 'That sign-in did not work; try again.';
  return false;
}

const emailForm = document.getElementById('email-sign-in-form');
const emailCodeForm = document.getElementById('email-code-form');
let emailAddress = '';

/** A sign-in by email's answer: the forms of the password sign-in's steps take over. */
function doneByEmail(body) {
  emailForm.hidden = true;
  emailCodeForm.hidden = true;
  done(body);
}

/** "Email me a sign-in link": 202 either way, then a field for the email's code. */
function emailSignIn() {
  onSubmit(emailForm, async (fields) => {
    clearErrors(emailForm);
    emailAddress = fields.get('email').trim();
    const json = { email: emailAddress, redirect_to: window.location.href.split('#')[0] };
    const answer = await api('/api/v1/auth/email-sign-in', { method: 'POST', json });
    if (!answer.ok) return showErrors(emailForm, answer.body);
    emailForm.hidden = true;
    emailCodeForm.hidden = false;
    emailCodeForm.querySelector('input').focus();
  });
  onSubmit(emailCodeForm, async (fields) => {
    clearErrors(emailCodeForm);
    const json = { email: emailAddress, code: fields.get('code').trim() };
    const answer = await api('/api/v1/auth/email-sign-in/verify', { method: 'POST', json, cookie: true });
    if (answer.ok) doneByEmail(answer.body);
    else showErrors(emailCodeForm, answer.body);
  });
}

/** The way back from a sign-in email's link: #email_token=, exchanged and removed. */
async function finishEmailLink() {
  const token = new URLSearchParams(window.location.hash.slice(1)).get('email_token');
  if (!token) return false;
  window.history.replaceState(null, '', window.location.pathname + window.location.search);
  const answer = await api('/api/v1/auth/email-sign-in/verify', { method: 'POST', json: { token }, cookie: true });
  if (answer.ok) {
    doneByEmail(answer.body);
    return true;
  }
  pageError.textContent = typeof answer.body?.detail === 'string' ? answer.body.detail : 'That sign-in link did not work; ask for a new one.';
  return false;
}

emailSignIn();
// A link opened in a tab already on /login changes only the fragment: the page stays loaded.
window.addEventListener('hashchange', finishEmailLink);
if (!(await finishEmailLink()) && !(await finishProvider())) {
  // Signed in already (the cookie's session is live): straight on.
  if (!pageError.textContent && (await refresh())) window.location.replace(next());
  else {
    showProviders();
    startAutofill();
  }
}
