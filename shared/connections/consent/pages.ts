import { createHash } from 'node:crypto';

/**
 * The consent flow's HTML pages (docs/security.md §4 headers, requirements 34 and 36): generic text and
 * the request id only (the success page also names the connected tenant and user, from the callback's
 * sealed notice in donePage.ts, never from plain request input), everything interpolated HTML-escaped,
 * no script, no third-party resource, one inline stylesheet allowed by its CSP hash, and no links
 * except a same-origin relative return path.
 */

const STYLE = [
  'body{font-family:system-ui,sans-serif;background:#f4f6f8;color:#1b2733;margin:0}',
  'main{max-width:32rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}',
  'h1{font-size:1.3rem;margin-top:0}',
  '.muted{color:#667;font-size:.85rem}',
].join('');

/** `'sha256-…'` of the one inline stylesheet. */
export const PAGE_STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE, 'utf8').digest('base64')}'`;

/** The CSP of every consent page: the wrapper's default plus the stylesheet's hash. */
export const CONSENT_PAGE_CSP = `default-src 'none'; style-src ${PAGE_STYLE_HASH}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`;

export const HTML_CONTENT_TYPE = 'text/html; charset=utf-8';

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => ESCAPES[c] ?? c);
}

/** What went wrong, as the browser is told it: one of a fixed set of generic messages. */
export type FailurePage =
  | 'link_invalid'
  | 'link_used'
  | 'session_invalid'
  | 'denied'
  | 'authorization_error'
  | 'not_verified'
  | 'user_mismatch'
  | 'unavailable'
  | 'internal';

const FAILURE_TEXT: { readonly [P in FailurePage]: { readonly title: string; readonly message: string } } = {
  link_invalid: {
    title: 'This consent link is not valid',
    message: 'The link is incomplete, has expired or was changed. Ask for a new consent link.',
  },
  link_used: {
    title: 'This consent link was already used',
    message: 'Each consent link works once. Ask for a new consent link.',
  },
  session_invalid: {
    title: 'The sign-in could not be completed',
    message: 'The sign-in session is missing, has expired or was already completed. Start again from a new consent link.',
  },
  denied: {
    title: 'Access was not granted',
    message: 'SuperOffice reported that access was not granted. Nothing was stored. Start again from a new consent link if this was a mistake.',
  },
  authorization_error: {
    title: 'SuperOffice could not complete the sign-in',
    message: 'SuperOffice reported an error. Nothing was stored. Try again later with a new consent link.',
  },
  not_verified: {
    title: 'The sign-in could not be verified',
    message: 'The answer from SuperOffice could not be verified. Nothing was stored.',
  },
  user_mismatch: {
    title: 'Signed in as a different user',
    message: 'This consent link is for another SuperOffice user. Nothing was stored. Sign in as the user the link was made for.',
  },
  unavailable: {
    title: 'The service is temporarily unavailable',
    message: 'A service needed to complete the consent did not answer. Try again in a few minutes with a new consent link.',
  },
  internal: {
    title: 'Something went wrong',
    message: 'The consent could not be completed. Nothing was stored.',
  },
};

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body><main>
${body}
</main></body>
</html>
`;
}

/** A failure page: fixed generic text and the request id (for support), nothing reflected from the request. */
export function failurePage(page: FailurePage, requestId: string): string {
  const text = FAILURE_TEXT[page];
  return layout(
    text.title,
    `<h1 id="consent-error">${escapeHtml(text.title)}</h1>
<p id="consent-message">${escapeHtml(text.message)}</p>
<p class="muted">Request id: <span id="request-id">${escapeHtml(requestId)}</span></p>`,
  );
}

/**
 * The success page shown after a stored consent (`GET /api/consent/done`); with `connected` (an opened
 * sealed notice, never plain request input) it names the tenant and user that were connected.
 */
export function successPage(requestId: string, connected?: { readonly ctx: string; readonly associateId: string }): string {
  const message = connected === undefined
    ? 'The connection is set up. You can close this window.'
    : `The connection of SuperOffice user <span id="consent-user">${escapeHtml(connected.associateId)}</span> in tenant <span id="consent-tenant">${escapeHtml(connected.ctx)}</span> is set up. You can close this window.`;
  return layout(
    'SuperOffice access granted',
    `<h1 id="consent-done">SuperOffice access granted</h1>
<p id="consent-message">${message}</p>
<p class="muted">Request id: <span id="request-id">${escapeHtml(requestId)}</span></p>`,
  );
}
