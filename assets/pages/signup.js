// /signup: creates the account, signs in, and opens /account, which says whether the
// verification email was sent.
import { api, signedIn, showErrors, clearErrors, fieldError, onSubmit, turnstileToken } from './session.js';

const form = document.getElementById('signup-form');

onSubmit(form, async (fields) => {
  clearErrors(form);
  if ((fields.get('password') || '').length < 8) {
    fieldError(form, 'password', 'At least 8 characters.');
    return;
  }
  const json = {
    email: fields.get('email').trim(),
    password: fields.get('password'),
    first_name: fields.get('first_name').trim() || null,
    surname: fields.get('surname').trim() || null,
  };
  const token = turnstileToken(form);
  if (token) json['cf-turnstile-response'] = token;
  const created = await api('/api/v1/auth/signup', { method: 'POST', json });
  if (!created.ok) {
    showErrors(form, created.body);
    return;
  }
  const login = await api('/api/v1/auth/login', {
    method: 'POST', cookie: true, form: { username: json.email, password: json.password },
  });
  if (login.ok && signedIn(login.body)) window.location.replace('/account?welcome=1');
  // The deployment wants the email verified first.
  else window.location.replace('/login?signed_up=1');
});
