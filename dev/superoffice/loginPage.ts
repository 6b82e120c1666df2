/**
 * HTML pages of the simulated SuperID login: tenant picker, login/consent page, error page and the
 * `response_mode=form_post` auto-submit page. Everything reflected is HTML-escaped; pages load nothing
 * from elsewhere and carry a strict CSP with a per-response nonce.
 *
 * Stable element ids and names (for Playwright and other automation):
 *
 * Tenant picker (GET /login/common/oauth/authorize without acr_values):
 *   form#tenant-form  (POST /login/common/oauth/authorize/tenant)
 *   input[name=request_id]           hidden, server-side pending-request id
 *   select#tenant-select[name=tenant] options = context identifiers (e.g. "Cust12345")
 *   button#tenant-continue           submit
 *
 * Login / consent page:
 *   h1#app-name            the application's name
 *   span#tenant-name       "<company> (<CustNNNNN>)"
 *   form#consent-form      (POST /login/common/oauth/authorize/decision)
 *   input[name=request_id] hidden, server-side pending-request id
 *   input[type=radio][name=associate_id]#user-<associateId>   one per user, value = associate id
 *   button#approve[name=decision][value=approve]
 *   button#deny[name=decision][value=deny]
 *   p#login-error          present only when the previous submit was rejected
 *
 * Error page:  h1#error-title, p#error-message  (e.g. "Authorization error: InvalidRedirectUrl (2)")
 */
import { randomBytes } from 'node:crypto';
import { escapeHtml, htmlHeaders } from './http.js';

export interface Page {
  readonly html: string;
  readonly headers: Record<string, string>;
}

function layout(title: string, nonce: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style nonce="${nonce}">
body{font-family:system-ui,sans-serif;background:#f4f6f8;color:#1b2733;margin:0}
main{max-width:28rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}
h1{font-size:1.3rem;margin-top:0}
fieldset{border:1px solid #ccd;border-radius:6px;margin:1rem 0}
label{display:block;padding:.3rem 0}
button{font-size:1rem;padding:.5rem 1.2rem;margin-right:.5rem;border-radius:4px;border:1px solid #357;cursor:pointer}
#approve{background:#1f6feb;color:#fff}
.error{color:#b00020}
.muted{color:#667;font-size:.85rem}
</style>
</head>
<body><main>
${body}
<p class="muted">SuperOffice CRM Online simulator (development only)</p>
</main></body>
</html>`;
}

function nonce(): string {
  return randomBytes(16).toString('base64');
}

export function errorPage(title: string, message: string): Page {
  const n = nonce();
  const body = `<h1 id="error-title">${escapeHtml(title)}</h1>\n<p id="error-message" class="error">${escapeHtml(message)}</p>`;
  return { html: layout(title, n, body), headers: htmlHeaders(n, ["'none'"]) };
}

export interface TenantChoice {
  readonly contextIdentifier: string;
  readonly companyName: string;
}

export function tenantPickerPage(requestId: string, appName: string, tenants: readonly TenantChoice[]): Page {
  const n = nonce();
  const options = tenants
    .map(
      (t) =>
        `<option value="${escapeHtml(t.contextIdentifier)}">${escapeHtml(t.companyName)} (${escapeHtml(t.contextIdentifier)})</option>`,
    )
    .join('\n');
  const body = `<h1 id="app-name">${escapeHtml(appName)}</h1>
<p>Choose the SuperOffice tenant to sign in to.</p>
<form id="tenant-form" method="post" action="/login/common/oauth/authorize/tenant">
<input type="hidden" name="request_id" value="${escapeHtml(requestId)}">
<label for="tenant-select">Tenant</label>
<select id="tenant-select" name="tenant">
${options}
</select>
<p><button id="tenant-continue" type="submit">Continue</button></p>
</form>`;
  return { html: layout('Choose tenant', n, body), headers: htmlHeaders(n) };
}

export interface UserChoice {
  readonly associateId: number;
  readonly fullName: string;
  readonly email: string;
  readonly isAdministrator: boolean;
}

export interface LoginPageInput {
  readonly requestId: string;
  readonly appName: string;
  readonly tenant: TenantChoice;
  readonly users: readonly UserChoice[];
  readonly preselectEmail: string | undefined;
  readonly error: string | undefined;
  /** Origin of the redirect URI: the decision POST redirects there, so CSP form-action must allow it. */
  readonly redirectOrigin: string;
}

export function loginPage(input: LoginPageInput): Page {
  const n = nonce();
  const users = input.users
    .map((u) => {
      const checked = input.preselectEmail !== undefined && u.email.toLowerCase() === input.preselectEmail.toLowerCase();
      return `<label><input type="radio" name="associate_id" id="user-${u.associateId}" value="${u.associateId}"${
        checked ? ' checked' : ''
      }> ${escapeHtml(u.fullName)} &lt;${escapeHtml(u.email)}&gt;${u.isAdministrator ? ' (administrator)' : ''}</label>`;
    })
    .join('\n');
  const error = input.error === undefined ? '' : `<p id="login-error" class="error">${escapeHtml(input.error)}</p>\n`;
  const body = `<h1 id="app-name">${escapeHtml(input.appName)}</h1>
<p>wants to access <span id="tenant-name">${escapeHtml(input.tenant.companyName)} (${escapeHtml(input.tenant.contextIdentifier)})</span> on your behalf.</p>
${error}<form id="consent-form" method="post" action="/login/common/oauth/authorize/decision">
<input type="hidden" name="request_id" value="${escapeHtml(input.requestId)}">
<fieldset><legend>Sign in as</legend>
${users}
</fieldset>
<p><button id="approve" type="submit" name="decision" value="approve">Approve</button>
<button id="deny" type="submit" name="decision" value="deny">Deny</button></p>
</form>`;
  return { html: layout('Sign in', n, body), headers: htmlHeaders(n, ["'self'", input.redirectOrigin]) };
}

/** `response_mode=form_post`: an auto-submitting form to the redirect URI. */
export function formPostPage(redirectUri: string, params: Readonly<Record<string, string>>): Page {
  const n = nonce();
  const inputs = Object.entries(params)
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('\n');
  const body = `<h1>Signing you in…</h1>
<form id="form-post" method="post" action="${escapeHtml(redirectUri)}">
${inputs}
<noscript><button type="submit">Continue</button></noscript>
</form>
<script nonce="${n}">document.getElementById('form-post').submit();</script>`;
  return { html: layout('Signing in', n, body), headers: htmlHeaders(n, [new URL(redirectUri).origin]) };
}
