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

/** A form over the limit, refused in JSON (the token and introspection endpoints). */
export function tooLargeError(): Response {
  return jsonResponse(413, {
    error: "invalid_request",
    error_description: "request too large",
  });
}

/** The bare `error=...&error_description=...` body Salesforce shows instead of redirecting. */
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

/**
 * What each scope lets the app do, in the words Salesforce's setup pages use
 * for them ("OAuth Tokens and Scopes"; the Mobile SDK's "Scope Parameter
 * Values"). A scope with no label here is shown by its name.
 */
const SCOPE_LABELS: Record<string, string> = {
  api: "Manage user data via APIs (api)",
  web: "Manage user data via Web browsers (web)",
  full: "Full access (full)",
  refresh_token: "Perform requests at any time (refresh_token, offline_access)",
  id: "Access the identity URL service (id, profile, email, address, phone)",
  openid: "Access unique user identifiers (openid)",
  chatter_api: "Access Connect REST API resources (chatter_api)",
  custom_permissions: "Access custom permissions (custom_permissions)",
  visualforce: "Access Visualforce applications (visualforce)",
  lightning: "Access Lightning applications (lightning)",
  content: "Access content resources (content)",
  wave_api: "Access Analytics REST API resources (wave_api)",
  eclair_api: "Access Analytics REST API Charts Geodata resources (eclair_api)",
  pardot_api: "Manage Pardot services (pardot_api)",
  chatbot_api: "Access chatbot services (chatbot_api)",
  interaction_api: "Access Interaction API resources (interaction_api)",
  sfap_api: "Access the Salesforce API Platform (sfap_api)",
  einstein_gpt_api: "Access Einstein GPT services (einstein_gpt_api)",
  cdp_api: "Access all Data Cloud API resources (cdp_api)",
  cdp_query_api:
    "Perform ANSI SQL queries on Customer Data Platform data (cdp_query_api)",
  cdp_profile_api:
    "Manage Customer Data Platform profile data (cdp_profile_api)",
  cdp_ingest_api:
    "Manage Customer Data Platform Ingestion API data (cdp_ingest_api)",
};

/** What a scope lets the app do; synonyms share their scope's label. */
export function scopeLabel(scope: string): string {
  const canonical = ID_SCOPE_SYNONYMS.includes(scope)
    ? "id"
    : scope === "offline_access"
    ? "refresh_token"
    : scope;
  return Object.hasOwn(SCOPE_LABELS, canonical)
    ? SCOPE_LABELS[canonical]
    : `(${scope})`;
}

/** A long value (a consumer key, a URL) as HTML that may wrap after `.`, `_` and `/`, so a narrow screen breaks it there rather than anywhere. */
function breakable(value: string): string {
  return escapeHtml(value).replace(/([._/])(?=[^._/])/g, "$1<wbr>");
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
  const others = org.clients.filter((c) => c !== client).map((c) =>
    `${escapeHtml(c.name)} (<code>${breakable(c.client_id)}</code>)`
  ).join(", ");
  return htmlPage(
    200,
    "Demo org",
    `${who}<h1>Demo org</h1>
      <p>A local stand-in for a Salesforce org's OAuth endpoints. Nothing here is real and nothing leaves this machine.</p>
      <dl>
        <dt>App</dt><dd>${escapeHtml(client.name)}</dd>
        <dt>Consumer key</dt><dd><code>${
      breakable(client.client_id)
    }</code></dd>
        <dt>Callback URL</dt><dd><code>${
      client.redirect_uris.map(breakable).join(" ")
    }</code></dd>
        <dt>Scopes</dt><dd>${escapeHtml(client.scopes.join(" "))}</dd>
        <dt>Other apps</dt><dd>${others}</dd>
        <dt>User</dt><dd>${DISPLAY_NAME} (<span class="nowrap">${USERNAME}</span>), any password</dd>
      </dl>
      <p>Start the walkthrough against it:</p>
      <pre>deno run -A main.ts --instance-url ${breakable(base)} --client-id ${
      breakable(client.client_id)
    }</pre>`,
    { wide: true },
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
    `Allow access? \u00b7 ${client.name}`,
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
    "Log in \u00b7 Demo org",
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

/** The sign-in form's answer when it cannot sign anyone in, saying why. */
export function signInFailedPage(reason: string): Response {
  return htmlPage(
    400,
    "Cannot log in",
    `<h1>Cannot log in here</h1><p>${escapeHtml(reason)}</p>`,
  );
}

/** A form body over the org's limit, refused unread. */
export function tooLargePage(): Response {
  return htmlPage(
    413,
    "Request too large",
    "<h1>This request is too large</h1><p>The demo org reads at most 16 KiB of a form. Start the flow again from the terminal.</p>",
  );
}

/** `prompt=select_account`: who to continue as (the demo user, the only one), or sign in as someone else. */
export function accountChooserPage(
  continueUrl: string,
  otherUrl: string,
): Response {
  return htmlPage(
    200,
    "Choose an account \u00b7 Demo org",
    `<h1>Choose an account</h1>
      <p class="small">The app asked you to choose (<code>prompt=select_account</code>).</p>
      <ul class="accounts">
        <li><a class="account" href="${
      escapeHtml(continueUrl)
    }"><strong>${DISPLAY_NAME}</strong> <span class="nowrap">${USERNAME}</span></a></li>
      </ul>
      <p><a href="${
      escapeHtml(otherUrl)
    }">Log in with a different account</a></p>`,
  );
}

/** What the org's error page knows beyond the error itself. */
export interface ErrorPageContext {
  /** The demo app's scopes, for `invalid_scope`. */
  appScopes: string[];
  /** True when an in-process walkthrough was told of the refusal (`onErrorPage`). */
  told: boolean;
}

/**
 * The org's own error page, shown after sign-in for errors it does not send
 * to the app (`invalid_scope`). It tells the truth: the app never hears of
 * the error, so a walkthrough in a terminal waits for a callback that never
 * comes, unless the org could tell it (in-process, `--demo`).
 */
export function errorPage(
  error: string,
  description: string,
  context: ErrorPageContext,
): Response {
  const shown = (text: string) => escapeHtml(text.slice(0, 200));
  const terminal = context.told
    ? "<p><strong>The walkthrough in your terminal has been told</strong> and has stopped with this error.</p>"
    : "<p><strong>Your terminal cannot see this page.</strong> The app never hears of this error, so the walkthrough is still waiting: stop it with Ctrl+C.</p>";
  const scopes = escapeHtml(context.appScopes.join(" "));
  const fix = error === "invalid_scope"
    ? `<p>The app asked for a scope it does not have. This demo org's app has: <code>${scopes}</code>.</p>
      <ol>
        <li>Run the walkthrough again without <code class="nowrap">--scope</code> (it then gets all of the app's scopes), or with only scopes from that list.</li>
        <li>Or give the app the scope: restart the demo org with it, for example
<pre>deno run -A demo_org.ts \\
  --app-scopes "${scopes} chatter_api"</pre>
        With <code class="nowrap">--demo</code> the demo org is new each run, with the scopes above. On a real org, add the scope to the app's OAuth settings; changes can take 10 minutes to arrive.</li>
      </ol>`
    : "<p>Start the flow again from the terminal.</p>";
  return htmlPage(
    400,
    "Error \u00b7 Demo org",
    `<h1>We can't authorize you</h1>
      <p><code class="error">${shown(error)}</code>: ${shown(description)}</p>
      ${terminal}
      ${fix}`,
  );
}

export function expiredPage(): Response {
  return htmlPage(
    400,
    "Request expired",
    "<h1>This request has expired</h1><p>Start the flow again from the terminal.</p>",
  );
}

function htmlPage(
  status: number,
  title: string,
  main: string,
  options: { wide?: boolean } = {},
): Response {
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
  main.wide { width: min(40rem, 100% - 2rem); }
  .banner { margin: -1.75rem -1.75rem 1.25rem; padding: 0.6rem 1.75rem; border-radius: 0.75rem 0.75rem 0 0; background: #0b5cab; color: #fff; font-size: 0.85rem; letter-spacing: 0.02em; }
  h1 { font-size: 1.4rem; margin: 0 0 0.75rem; }
  .who, .small { font-size: 0.85rem; color: #54698d; }
  .scopes { padding-left: 1.2rem; line-height: 1.5; }
  code { font-size: 0.85em; overflow-wrap: anywhere; }
  .nowrap { white-space: nowrap; }
  pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #0b5cab12; padding: 0.6rem 0.8rem; border-radius: 0.4rem; font-size: 0.8rem; }
  dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 0.4rem 1rem; font-size: 0.9rem; }
  dt { color: #54698d; } dd { margin: 0; min-width: 0; }
  @media (max-width: 30rem) { dl { grid-template-columns: minmax(0, 1fr); gap: 0 1rem; } dd { margin-bottom: 0.6rem; } }
  .accounts { list-style: none; padding: 0; }
  a.account { display: block; padding: 0.75rem 1rem; border: 1px solid #8ea4c2; border-radius: 0.4rem; color: inherit; text-decoration: none; }
  a.account:hover, a.account:focus-visible { border-color: #0b5cab; outline: 3px solid #1b96ff; outline-offset: 2px; }
  a { color: #0b5cab; }
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
    a { color: #9cc7ff; }
  }
</style>
</head>
<body>
<main${options.wide ? ' class="wide"' : ""}>
<div class="banner">Demo org &middot; local, offline, not Salesforce</div>
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
