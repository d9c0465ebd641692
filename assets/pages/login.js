// /login: email and password, then a TOTP or recovery code when the account asks for one;
// a button per provider, whose flow comes back here with #code= and is finished with the
// PKCE verifier this page made; a sign-in link and code by email, whose link comes back here
// with #email_token=. Once signed in, goes to ?next= (a path on this origin) or /account.
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

function done(body) {
  if (body && body.mfa_required) {
    mfaToken = body.mfa_token;
    loginForm.hidden = true;
    document.getElementById('providers').hidden = true;
    mfaForm.hidden = false;
    mfaForm.querySelector('input').focus();
    return;
  }
  signedIn(body);
  window.location.replace(next());
}

onSubmit(loginForm, async (fields) => {
  clearErrors(loginForm);
  const form = { username: fields.get('username'), password: fields.get('password') };
  const token = turnstileToken(loginForm);
  if (token) form['cf-turnstile-response'] = token;
  const answer = await api('/api/v1/auth/login', { method: 'POST', form, cookie: true });
  if (answer.ok) done(answer.body);
  else showErrors(loginForm, answer.body);
});

onSubmit(mfaForm, async (fields) => {
  clearErrors(mfaForm);
  const json = { mfa_token: mfaToken, code: fields.get('code').trim() };
  const answer = await api('/api/v1/auth/mfa/verify', { method: 'POST', json, cookie: true });
  if (answer.ok) done(answer.body);
  else if (answer.status === 401) {
    mfaForm.hidden = true;
    loginForm.hidden = false;
    pageError.textContent = 'That sign-in took too long; enter your password again.';
  } else showErrors(mfaForm, answer.body);
});

document.getElementById('use-recovery').addEventListener('click', (event) => {
  document.getElementById('code-label').textContent = 'Recovery code';
  const input = mfaForm.querySelector('input');
  input.removeAttribute('inputmode');
  input.value = '';
  input.focus();
  event.target.hidden = true;
});

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
  box.hidden = false;
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
  showProviders();
}
