// /forgot-password: asks for a recovery email. The answer is the same whether or not the
// email is a user's.
import { api, showErrors, clearErrors, onSubmit, turnstileToken } from './session.js';

const form = document.getElementById('forgot-form');

onSubmit(form, async (fields) => {
  clearErrors(form);
  const json = { email: fields.get('email').trim() };
  const token = turnstileToken(form);
  if (token) json['cf-turnstile-response'] = token;
  const answer = await api('/api/v1/auth/password-recovery', { method: 'POST', json });
  if (answer.ok) {
    form.querySelector('.notice').textContent = 'If an account has this email, a link to choose a new password is on its way.';
  } else {
    showErrors(form, answer.body);
  }
});
