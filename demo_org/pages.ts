/**
 * What the demo org sends back: JSON, text, redirects, Salesforce's bare
 * error bodies, and its HTML pages (home and consent).
 *
 * @module
 */

import { escapeHtml, PAGE_HEADERS } from "../main.ts";
import { findSession } from "./sign_in.ts";
import {
  baseUrl,
  type DemoClient,
  type DemoOrgState,
  DISPLAY_NAME,
  ID_SCOPE_SYNONYMS,
  USERNAME,
} from "./state.ts";

const NO_STORE = { "cache-control": "no-store", pragma: "no-cache" };

export function jsonResponse(status: number, body: unknown): Response {
  return Response.json(body, { status, headers: NO_STORE });
}

export function textResponse(status: number, body: string): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain;charset=UTF-8" },
  });
}

export function tokenError(error: string, description: string): Response {
  return jsonResponse(400, { error, error_description: description });
}

/** The bare `error=…&error_description=…` body Salesforce shows instead of redirecting. */
export function authorizeErrorBody(
  error: string,
  description: string,
): Response {
  const body = `error=${encodeURIComponent(error)}&error_description=${
    encodeURIComponent(description)
  }`;
  return textResponse(400, body);
}

export function redirect(location: URL): Response {
  return new Response(null, {
    status: 302,
    headers: { location: location.href, ...NO_STORE },
  });
}

/** Sends an OAuth error back to the client's redirect URI, with its state. @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1 */
export function redirectWithError(
  redirectUri: string,
  state: string | null,
  error: string,
  description: string,
): Response {
  const location = new URL(redirectUri);
  location.searchParams.set("error", error);
  location.searchParams.set("error_description", description);
  if (state !== null) location.searchParams.set("state", state);
  return redirect(location);
}

/** What each scope lets the app do, in Salesforce's own words. */
const SCOPE_LABELS: Record<string, string> = {
  api: "Manage user data via APIs (api)",
  openid: "Access unique user identifiers (openid)",
  id: "Access the identity URL service (id, profile, email, address, phone)",
  refresh_token: "Perform requests at any time (refresh_token, offline_access)",
};

/** What a scope lets the app do; synonyms share their scope's label. */
function scopeLabel(scope: string): string {
  const canonical = ID_SCOPE_SYNONYMS.includes(scope)
    ? "id"
    : scope === "offline_access"
    ? "refresh_token"
    : scope;
  return Object.hasOwn(SCOPE_LABELS, canonical)
    ? SCOPE_LABELS[canonical]
    : scope;
}

/** GET /: what this org is, and how to point the walkthrough at it. */
export function homePage(org: DemoOrgState, request: Request): Response {
  const { client } = org;
  const base = baseUrl(request); // the host the browser used
  const session = findSession(org, request); // after the sign-in form, or the front door (`sf org open`)
  const who = session
    ? `<p class="who">Signed in as <strong>${DISPLAY_NAME}</strong> (${
      escapeHtml(session.username)
    })</p>`
    : "";
  return htmlPage(
    200,
    "Demo org",
    `${who}<h1>Demo org</h1>
      <p>A local stand-in for a Salesforce org's OAuth endpoints. Nothing here is real and nothing leaves this machine.</p>
      <dl>
        <dt>App</dt><dd>${escapeHtml(client.name)}</dd>
        <dt>Consumer key</dt><dd><code>${
      escapeHtml(client.client_id)
    }</code></dd>
        <dt>Callback URL</dt><dd><code>${
      escapeHtml(client.redirect_uris.join(" "))
    }</code></dd>
        <dt>Scopes</dt><dd>${escapeHtml(client.scopes.join(" "))}</dd>
        <dt>Other apps</dt><dd>${
      org.clients.filter((c) => c !== client).map((c) =>
        `${escapeHtml(c.name)} (<code>${escapeHtml(c.client_id)}</code>)`
      ).join(", ")
    }</dd>
        <dt>User</dt><dd>${DISPLAY_NAME} (${USERNAME}), any password</dd>
      </dl>
      <p>Start the walkthrough against it:</p>
      <pre>deno run -A main.ts --instance-url ${base} --client-id ${
      escapeHtml(client.client_id)
    }</pre>`,
  );
}

/** The consent page: the app, what it asks for, Allow and Deny. */
export function consentPage(
  client: DemoClient,
  consentId: string,
  redirectUri: string,
  scopes: string[],
): Response {
  const labels = new Set(scopes.map(scopeLabel));
  const items = [...labels].map((label) => `<li>${escapeHtml(label)}</li>`)
    .join("");
  const name = escapeHtml(client.name);
  return htmlPage(
    200,
    `Allow access? · ${client.name}`,
    `<p class="who">Signed in as <strong>${DISPLAY_NAME}</strong> <span class="nowrap">(${USERNAME})</span></p>
      <h1>Allow access?</h1>
      <p><strong class="app">${name}</strong> is asking to:</p>
      <ul class="scopes">${items}</ul>
      <p class="small">You will be sent back to <code>${
      escapeHtml(redirectUri)
    }</code>.</p>
      <form method="post" action="/services/oauth2/authorize">
        <input type="hidden" name="consent" value="${consentId}">
        <button type="submit" name="decision" value="deny" class="secondary">Deny</button>
        <button type="submit" name="decision" value="allow">Allow</button>
      </form>`,
  );
}

/** The sign-in form: the demo user's name filled in (or `login_hint`), any password. */
export function signInPage(startUrl: string, username: string): Response {
  return htmlPage(
    200,
    "Log in · Demo org",
    `<h1>Log in</h1>
      <p class="small">This is the demo org: any password works, and nothing leaves this machine.</p>
      <form method="post" action="/login" class="stack">
        <label>Username <input name="username" autocomplete="username" value="${
      escapeHtml(username)
    }"></label>
        <label>Password <input name="password" type="password" autocomplete="current-password" value="demo"></label>
        <input type="hidden" name="startURL" value="${escapeHtml(startUrl)}">
        <button type="submit">Log In</button>
      </form>`,
  );
}

export function signInFailedPage(): Response {
  return htmlPage(
    400,
    "Cannot log in",
    "<h1>Cannot log in here</h1><p>Start the flow again from the terminal.</p>",
  );
}

/** The org's own error page, shown after sign-in for errors it does not send to the app. */
export function errorPage(error: string, description: string): Response {
  return htmlPage(
    400,
    "Error · Demo org",
    `<h1>We can't authorize you</h1>
      <p>The app asked for something this org does not allow.</p>
      <p><code class="error">${escapeHtml(error)}</code>: ${
      escapeHtml(description)
    }</p>
      <p class="small">Return to the terminal: the walkthrough explains what to change.</p>`,
  );
}

export function expiredPage(): Response {
  return htmlPage(
    400,
    "Request expired",
    "<h1>This request has expired</h1><p>Start the flow again from the terminal.</p>",
  );
}

function htmlPage(status: number, title: string, main: string): Response {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
  :root { color-scheme: light dark; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: #eef4fb; color: #16325c; }
  main { box-sizing: border-box; width: min(28rem, 100% - 2rem); margin: 1rem; padding: 1.75rem; background: #fff; border-radius: 0.75rem; box-shadow: 0 2px 12px #16325c22; }
  .banner { margin: -1.75rem -1.75rem 1.25rem; padding: 0.6rem 1.75rem; border-radius: 0.75rem 0.75rem 0 0; background: #0b5cab; color: #fff; font-size: 0.85rem; letter-spacing: 0.02em; }
  h1 { font-size: 1.4rem; margin: 0 0 0.75rem; }
  .who, .small { font-size: 0.85rem; color: #54698d; }
  .scopes { padding-left: 1.2rem; line-height: 1.5; }
  code { font-size: 0.85em; overflow-wrap: anywhere; }
  .nowrap { white-space: nowrap; }
  pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #0b5cab12; padding: 0.6rem 0.8rem; border-radius: 0.4rem; font-size: 0.8rem; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.4rem 1rem; font-size: 0.9rem; }
  dt { color: #54698d; } dd { margin: 0; overflow-wrap: anywhere; }
  form { display: flex; gap: 0.75rem; justify-content: flex-end; margin-top: 1.5rem; }
  form.stack { flex-direction: column; align-items: stretch; }
  label { display: flex; flex-direction: column; gap: 0.3rem; font-size: 0.9rem; }
  input:not([type=hidden]) { font: inherit; padding: 0.5rem 0.6rem; border: 1px solid #8ea4c2; border-radius: 0.4rem; }
  button { font: inherit; padding: 0.6rem 1.4rem; border-radius: 0.4rem; border: 1px solid #0b5cab; background: #0b5cab; color: #fff; cursor: pointer; }
  button.secondary { background: #fff; color: #0b5cab; }
  button:focus-visible { outline: 3px solid #1b96ff; outline-offset: 2px; }
  @media (prefers-color-scheme: dark) {
    body { background: #0d1b2a; color: #e5edf7; } main { background: #16263a; box-shadow: none; }
    .who, .small, dt { color: #a9bcd6; } button.secondary { background: transparent; color: #9cc7ff; border-color: #9cc7ff; }
  }
</style>
</head>
<body>
<main>
<div class="banner">Demo org · local, offline, not Salesforce</div>
${main}
</main>
</body>
</html>
`;
  return new Response(html, {
    status,
    headers: { ...PAGE_HEADERS, "x-frame-options": "DENY", ...NO_STORE },
  });
}
