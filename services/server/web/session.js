// The login both pages share (the dashboard at / and the report form at /report): a session token
// from POST /api/v1/login (the user's name and the password of their PostgreSQL login), kept in
// this tab's sessionStorage and sent as a bearer token. The page supplies what to do once logged
// in and once the session ends.
'use strict';

const session = {
  key: 'lantern.session',
  token: sessionStorage.getItem('lantern.session'),
  onLogout: null,

  /** fetch, with the session's bearer token when there is one. */
  fetch(path, options = {}) {
    const headers = Object.assign({}, options.headers || {});
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    return fetch(path, Object.assign({}, options, { headers }));
  },

  /** Wires #login-form, #login-error and #logout. `onLogin` runs after a login, and at once
   * when the tab already holds a session; `onLogout` whenever the session ends. */
  bind({ onLogin, onLogout }) {
    this.onLogout = onLogout;
    document.getElementById('login-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      const form = event.target;
      const error = document.getElementById('login-error');
      error.textContent = '';
      try {
        const response = await this.fetch('/api/v1/login', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ user: form.user.value, password: form.password.value }),
        });
        const answer = await response.json().catch(() => ({}));
        if (!response.ok) {
          throw new Error(answer.error ? answer.error.message : `${response.status} ${response.statusText}`);
        }
        this.token = answer.token;
        sessionStorage.setItem(this.key, answer.token);
        form.password.value = '';
        await onLogin();
      } catch (e) {
        error.textContent = e.message;
      }
    });
    document.getElementById('logout').addEventListener('click', () => this.end(true));
    if (this.token) onLogin().catch(() => this.end(false));
  },

  /** Forgets the session (telling the server, unless it already ended there). */
  end(tellServer) {
    if (tellServer && this.token) this.fetch('/api/v1/logout', { method: 'POST' }).catch(() => {});
    this.token = null;
    sessionStorage.removeItem(this.key);
    if (this.onLogout) this.onLogout();
  },
};
