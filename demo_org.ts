/**
 * A local stand-in for a Salesforce org's OAuth 2.0 endpoints, for offline
 * demos, workshops and tests. It listens on 127.0.0.1 only.
 *
 * Run it alone and point `main.ts` at it:
 *
 * ```sh
 * deno run -A demo_org.ts --port 8080
 * deno run -A main.ts --instance-url http://127.0.0.1:8080 --client-id <printed id>
 * ```
 *
 * or let `deno run -A main.ts --demo` start it in-process.
 *
 * It follows `shared/salesforce-oauth-facts.md`: Salesforce's codes, texts and
 * shapes where they are known, RFC 6749 and RFC 7636 where they are not.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { base64url } from "./pkce.ts";

/** A registered client, as a Connected App or External Client App would be. */
export interface DemoClient {
  name: string;
  client_id: string;
  client_secret: string;
  /** "Require secret for Web Server Flow": when false the secret may be left out, but is checked when sent. */
  secret_required: boolean;
  redirect_uris: string[];
  /** The app's configured scopes; they apply when an authorize request sends none. */
  scopes: string[];
}

/** How to start a demo org. */
export interface DemoOrgOptions {
  /** Port on 127.0.0.1; 0 (the default) picks a free one. */
  port?: number;
  /** Callback URL registered for the client. */
  redirectUri?: string;
  clientId?: string;
  /** A secret of one's own; it is then required at the token endpoint. */
  clientSecret?: string;
  /** The clock, in milliseconds; tests move it to expire codes. */
  now?: () => number;
}

/** A running demo org. */
export interface DemoOrg {
  /** Its base URL, the `instance_url` it hands out, e.g. `http://127.0.0.1:51234`. */
  url: string;
  client: DemoClient;
  /** Every request it received, as `METHOD /path`, in order: what tests assert on. */
  received: string[];
  /** Every access and refresh token it issued, so tests can look for leaks. */
  issued: string[];
  close(): Promise<void>;
}

/** The demo client's consumer key: `3MVG9` like every Salesforce key. */
export const DEMO_CLIENT_ID = "3MVG9DemoOrg.LocalWalkthrough_PKCE_Client";
/** Scopes configured on the demo client. */
export const DEMO_SCOPES = ["api", "id", "refresh_token"];
/** The redirect URI the demo client registers unless told otherwise. */
export const DEFAULT_REDIRECT_URI = "http://localhost:8000/callback";
/** Salesforce's documented authorization code lifetime. */
export const CODE_LIFETIME_MS = 15 * 60 * 1000;

const ORG_ID = "00D5g000004DEMO";
const USER_ID = "0055g00000DEMOU";
const USERNAME = "learner@demo-org.example";
const DISPLAY_NAME = "Demo Learner";

/** What each scope lets the app do, in Salesforce's own words. */
const SCOPE_LABELS: Record<string, string> = {
  api: "Manage user data via APIs (api)",
  id: "Access the identity URL service (id, profile, email, address, phone)",
  refresh_token: "Perform requests at any time (refresh_token, offline_access)",
};

/** Converts a 15-character Salesforce id to its 18-character, case-safe form. */
export function toId18(id15: string): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
  let suffix = "";
  for (let chunk = 0; chunk < 3; chunk++) {
    let flags = 0;
    for (let i = 0; i < 5; i++) {
      const char = id15[chunk * 5 + i];
      if (char >= "A" && char <= "Z") flags |= 1 << i;
    }
    suffix += alphabet[flags];
  }
  return id15 + suffix;
}

/** Computes Salesforce's `signature`: standard Base64 of HMAC-SHA256(secret, id + issued_at). */
export async function signIdentity(
  secret: string,
  id: string,
  issuedAt: string,
): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign(
    "HMAC",
    key,
    encoder.encode(id + issuedAt),
  );
  return new Uint8Array(mac).toBase64();
}

interface PendingConsent {
  client: DemoClient;
  redirectUri: string;
  state: string | null;
  challenge: string;
  scopes: string[];
}

interface IssuedCode {
  clientId: string;
  redirectUri: string;
  challenge: string;
  scopes: string[];
  expiresAt: number;
  used: boolean;
  /** Tokens issued for this code, revoked if the code is presented again (RFC 6749 §10.5). */
  tokens: string[];
}

interface TokenGrant {
  clientId: string;
  scopes: string[];
  /** For an access token: the refresh token it came from, if any. */
  refreshToken?: string;
}

/** Starts a demo org on 127.0.0.1 and resolves once it is listening. */
export function startDemoOrg(options: DemoOrgOptions = {}): DemoOrg {
  const now = options.now ?? Date.now;
  const client: DemoClient = {
    name: "OAuth Walkthrough (demo)",
    client_id: options.clientId ?? DEMO_CLIENT_ID,
    client_secret: options.clientSecret ?? randomConsumerSecret(),
    secret_required: options.clientSecret !== undefined,
    redirect_uris: [options.redirectUri ?? DEFAULT_REDIRECT_URI],
    scopes: DEMO_SCOPES,
  };
  const consents = new Map<string, PendingConsent>();
  const codes = new Map<string, IssuedCode>();
  const accessTokens = new Map<string, TokenGrant>();
  const refreshTokens = new Map<string, TokenGrant>();
  const received: string[] = [];
  const issued: string[] = [];

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: options.port ?? 0, onListen() {} },
    (request) => route(request),
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  const identityUrl = `${url}/id/${toId18(ORG_ID)}/${toId18(USER_ID)}`;

  async function route(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    const method = request.method;
    received.push(`${method} ${pathname}`);
    if (pathname === "/" && method === "GET") return homePage();
    if (pathname === "/.well-known/openid-configuration") return discovery();
    if (pathname === "/services/oauth2/authorize") {
      if (method === "GET") return authorize(request);
      if (method === "POST") return decide(request);
    }
    if (pathname === "/services/oauth2/token" && method === "POST") {
      return token(request);
    }
    if (pathname === "/services/oauth2/revoke") return revoke(request);
    if (pathname === "/services/oauth2/userinfo") return userinfo(request);
    if (pathname.startsWith("/id/")) return identity(request, pathname);
    await request.body?.cancel();
    return new Response("Not found", { status: 404 });
  }

  function homePage(): Response {
    return htmlPage(
      200,
      "Demo org",
      `<h1>Demo org</h1>
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
        <dt>Signed-in user</dt><dd>${DISPLAY_NAME} (${USERNAME})</dd>
      </dl>
      <p>Start the walkthrough against it:</p>
      <pre>deno run -A main.ts --instance-url ${url} --client-id ${
        escapeHtml(client.client_id)
      }</pre>`,
    );
  }

  function discovery(): Response {
    const endpoint = (path: string) => `${url}/services/oauth2/${path}`;
    return jsonResponse(200, {
      issuer: url,
      authorization_endpoint: endpoint("authorize"),
      token_endpoint: endpoint("token"),
      revocation_endpoint: endpoint("revoke"),
      userinfo_endpoint: endpoint("userinfo"),
      response_types_supported: ["code"],
      token_endpoint_auth_methods_supported: ["client_secret_post"],
      scopes_supported: [...DEMO_SCOPES, "offline_access"],
      // Salesforce advertises neither PKCE methods nor RFC 9207 `iss` support.
    });
  }

  /** GET /services/oauth2/authorize: check the request, then show the consent page. */
  function authorize(request: Request): Response {
    const query = new URL(request.url).searchParams;
    const clientId = query.get("client_id");
    const redirectUri = query.get("redirect_uri");
    // Salesforce shows these errors itself and never redirects (RFC 6749 §4.1.2.1).
    if (clientId !== client.client_id) {
      return authorizeErrorBody(
        "invalid_client_id",
        "client identifier invalid",
      );
    }
    if (redirectUri === null) {
      return authorizeErrorBody(
        "redirect_uri_missing",
        "redirect_uri must be provided",
      );
    }
    if (!client.redirect_uris.includes(redirectUri)) {
      return authorizeErrorBody(
        "redirect_uri_mismatch",
        "redirect_uri must match configuration",
      );
    }
    const state = query.get("state");
    if (query.get("response_type") !== "code") {
      return redirectWithError(
        redirectUri,
        state,
        "unsupported_response_type",
        "response type not supported",
      );
    }
    const challenge = query.get("code_challenge");
    if (!challenge) {
      return authorizeErrorBody(
        "invalid_request",
        "missing required code challenge",
      );
    }
    // Salesforce treats a missing method as S256 (jsforce never sends one); plain is refused here.
    const method = query.get("code_challenge_method") ?? "S256";
    if (method !== "S256" || !/^[A-Za-z0-9_-]{43}$/.test(challenge)) {
      return authorizeErrorBody("invalid_request", "invalid code challenge");
    }
    const scopes = grantedScopes(query.get("scope"));
    if (scopes === null) {
      return redirectWithError(
        redirectUri,
        state,
        "invalid_scope",
        "the requested scope is not allowed",
      );
    }
    const consentId = randomSecret();
    consents.set(consentId, {
      client,
      redirectUri,
      state,
      challenge,
      scopes,
    });
    return consentPage(consentId, redirectUri, scopes);
  }

  /** The requested scopes, the app's own when none are sent, or null if any is not configured. */
  function grantedScopes(scope: string | null): string[] | null {
    if (scope === null || scope.trim() === "") return client.scopes;
    const requested = scope.trim().split(/\s+/);
    const known = (s: string) =>
      client.scopes.includes(s) ||
      (s === "offline_access" && client.scopes.includes("refresh_token"));
    return requested.every(known) ? [...new Set(requested)] : null;
  }

  function consentPage(
    consentId: string,
    redirectUri: string,
    scopes: string[],
  ): Response {
    const items = scopes
      .map((s) => `<li>${escapeHtml(SCOPE_LABELS[s] ?? s)}</li>`)
      .join("");
    return htmlPage(
      200,
      `Allow access? · ${client.name}`,
      `<p class="who">Signed in as <strong>${DISPLAY_NAME}</strong> · <span class="nowrap">${USERNAME}</span></p>
      <h1>Allow access?</h1>
      <p><strong class="app">${
        escapeHtml(client.name)
      }</strong> is asking to:</p>
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

  /** POST /services/oauth2/authorize: the user's Allow or Deny, sent back to the client. */
  async function decide(request: Request): Promise<Response> {
    const form = new URLSearchParams(await request.text());
    const consentId = form.get("consent") ?? "";
    const pending = consents.get(consentId);
    if (!pending) {
      return htmlPage(
        400,
        "Request expired",
        "<h1>This request has expired</h1><p>Start the flow again from the terminal.</p>",
      );
    }
    consents.delete(consentId);
    if (form.get("decision") !== "allow") {
      return redirectWithError(
        pending.redirectUri,
        pending.state,
        "access_denied",
        "end-user denied authorization",
      );
    }
    // Salesforce's codes look like standard Base64 ending in "==": they must be URL-encoded once.
    const code = crypto.getRandomValues(new Uint8Array(64)).toBase64();
    codes.set(code, {
      clientId: pending.client.client_id,
      redirectUri: pending.redirectUri,
      challenge: pending.challenge,
      scopes: pending.scopes,
      expiresAt: now() + CODE_LIFETIME_MS,
      used: false,
      tokens: [],
    });
    const location = new URL(pending.redirectUri);
    location.searchParams.set("code", code);
    if (pending.state !== null) {
      location.searchParams.set("state", pending.state);
    }
    return redirect(location);
  }

  /** POST /services/oauth2/token: the authorization code and refresh token grants. */
  async function token(request: Request): Promise<Response> {
    const body = await request.text();
    const type = request.headers.get("content-type") ?? "";
    // A JSON body hides grant_type from Salesforce, so this is the error it gives.
    if (!type.startsWith("application/x-www-form-urlencoded")) {
      return tokenError("unsupported_grant_type", "grant type not supported");
    }
    const form = new URLSearchParams(body);
    const repeated = [...new Set(form.keys())].find((key) =>
      form.getAll(key).length > 1
    );
    if (repeated) {
      return tokenError("invalid_request", `duplicate parameter: ${repeated}`);
    }
    const grantType = form.get("grant_type");
    if (grantType !== "authorization_code" && grantType !== "refresh_token") {
      return tokenError("unsupported_grant_type", "grant type not supported");
    }
    if (form.get("client_id") !== client.client_id) {
      return tokenError("invalid_client_id", "client identifier invalid");
    }
    const secret = form.get("client_secret");
    const secretWrong = secret === null
      ? client.secret_required
      : !timingSafeEqual(secret, client.client_secret);
    if (secretWrong) {
      return tokenError("invalid_client", "invalid client credentials");
    }
    return grantType === "authorization_code"
      ? await exchangeCode(form)
      : await refresh(form);
  }

  async function exchangeCode(form: URLSearchParams): Promise<Response> {
    const code = form.get("code") ?? "";
    const issued = codes.get(code);
    if (!issued || issued.clientId !== client.client_id) {
      return tokenError("invalid_grant", "invalid authorization code");
    }
    if (issued.used || now() > issued.expiresAt) {
      // A replayed code also ends what it bought (RFC 6749 §10.5).
      issued.tokens.forEach(revokeToken);
      return tokenError("invalid_grant", "expired authorization code");
    }
    issued.used = true;
    if (form.get("redirect_uri") !== issued.redirectUri) {
      return tokenError(
        "redirect_uri_mismatch",
        "redirect_uri must match configuration",
      );
    }
    const verifier = form.get("code_verifier") ?? "";
    // Salesforce accepts verifiers longer than RFC 7636's 128 characters (jsforce sends 171).
    const verifierOk = /^[A-Za-z0-9\-._~]{43,}$/.test(verifier) &&
      timingSafeEqual(await s256(verifier), issued.challenge);
    if (!verifierOk) {
      return tokenError("invalid_grant", "invalid code verifier");
    }
    const wantsRefresh = issued.scopes.includes("refresh_token") ||
      issued.scopes.includes("offline_access");
    const refreshToken = wantsRefresh
      ? `5Aep861${randomOpaque(60)}`
      : undefined;
    if (refreshToken) {
      refreshTokens.set(refreshToken, {
        clientId: client.client_id,
        scopes: issued.scopes,
      });
      issued.tokens.push(refreshToken);
    }
    const response = await tokenResponse(issued.scopes, refreshToken);
    issued.tokens.push(response.access_token);
    return jsonResponse(200, response);
  }

  async function refresh(form: URLSearchParams): Promise<Response> {
    const refreshToken = form.get("refresh_token") ?? "";
    const grant = refreshTokens.get(refreshToken);
    if (!grant || grant.clientId !== client.client_id) {
      return tokenError("invalid_grant", "expired access/refresh token");
    }
    // Without refresh token rotation the old refresh token stays and none is returned.
    const response = await tokenResponse(grant.scopes, refreshToken);
    delete response.refresh_token;
    return jsonResponse(200, response);
  }

  /** A success body in Salesforce's shape and key order; no `expires_in`. */
  async function tokenResponse(
    scopes: string[],
    refreshToken: string | undefined,
  ): Promise<Record<string, string>> {
    const accessToken = `${ORG_ID}!${randomOpaque(96)}`;
    issued.push(accessToken, ...(refreshToken ? [refreshToken] : []));
    accessTokens.set(accessToken, {
      clientId: client.client_id,
      scopes,
      refreshToken,
    });
    const issuedAt = String(now());
    const body: Record<string, string> = { access_token: accessToken };
    if (refreshToken) body.refresh_token = refreshToken;
    body.signature = await signIdentity(
      client.client_secret,
      identityUrl,
      issuedAt,
    );
    body.scope = scopes.join(" ");
    body.instance_url = url;
    body.id = identityUrl;
    body.token_type = "Bearer";
    body.issued_at = issuedAt;
    return body;
  }

  /** Ends a token; ending a refresh token ends every access token issued from it. */
  function revokeToken(token: string): boolean {
    if (accessTokens.delete(token)) return true;
    if (!refreshTokens.delete(token)) return false;
    for (const [access, grant] of accessTokens) {
      if (grant.refreshToken === token) accessTokens.delete(access);
    }
    return true;
  }

  /** POST (or GET) /services/oauth2/revoke: 200 when revoked, 400 `invalid_token` otherwise. */
  async function revoke(request: Request): Promise<Response> {
    const params = request.method === "POST"
      ? new URLSearchParams(await request.text())
      : new URL(request.url).searchParams;
    if (revokeToken(params.get("token") ?? "")) {
      return new Response(null, { status: 200 });
    }
    // Unlike RFC 7009, Salesforce answers 400; jsforce reads this body as a form.
    return new Response(
      "error=invalid_token&error_description=invalid%20token",
      {
        status: 400,
        headers: { "content-type": "application/x-www-form-urlencoded" },
      },
    );
  }

  /** The grant behind a Bearer token (or `oauth_token` parameter), if it is alive. */
  function bearerGrant(request: Request): TokenGrant | undefined {
    const header = request.headers.get("authorization") ?? "";
    const match = /^Bearer (\S+)$/i.exec(header);
    const token = match?.[1] ??
      new URL(request.url).searchParams.get("oauth_token") ?? "";
    return accessTokens.get(token);
  }

  /** GET /id/<org id>/<user id>: the identity service. */
  async function identity(
    request: Request,
    pathname: string,
  ): Promise<Response> {
    await request.body?.cancel();
    const grant = bearerGrant(request);
    if (!grant) return textResponse(401, "Bad_OAuth_Token");
    if (!grant.scopes.some((s) => s === "id" || s === "api")) {
      return textResponse(403, "Insufficient_Scope");
    }
    if (pathname !== new URL(identityUrl).pathname) {
      return textResponse(404, "Bad_Id");
    }
    const data = (kind: string) => `${url}/services/data/v{version}/${kind}`;
    return jsonResponse(200, {
      id: identityUrl,
      asserted_user: true,
      user_id: toId18(USER_ID),
      organization_id: toId18(ORG_ID),
      username: USERNAME,
      nick_name: "learner",
      display_name: DISPLAY_NAME,
      email: USERNAME,
      email_verified: true,
      first_name: "Demo",
      last_name: "Learner",
      timezone: "Europe/London",
      photos: {
        picture: `${url}/img/profile.png`,
        thumbnail: `${url}/img/thumb.png`,
      },
      urls: {
        enterprise: `${url}/services/Soap/c/{version}/${ORG_ID}`,
        partner: `${url}/services/Soap/u/{version}/${ORG_ID}`,
        rest: data(""),
        sobjects: data("sobjects/"),
        search: data("search/"),
        query: data("query/"),
        profile: `${url}/${toId18(USER_ID)}`,
        custom_domain: url,
      },
      active: true,
      user_type: "STANDARD",
      language: "en_US",
      locale: "en_GB",
      utcOffset: 0,
      last_modified_date: "2026-01-01T00:00:00.000+0000",
      is_app_installed: true,
    });
  }

  /** GET /services/oauth2/userinfo: the OpenID Connect claims for the token's user. */
  async function userinfo(request: Request): Promise<Response> {
    await request.body?.cancel();
    if (!bearerGrant(request)) return textResponse(401, "Bad_OAuth_Token");
    return jsonResponse(200, {
      sub: identityUrl,
      user_id: toId18(USER_ID),
      organization_id: toId18(ORG_ID),
      preferred_username: USERNAME,
      nickname: "learner",
      name: DISPLAY_NAME,
      email: USERNAME,
      email_verified: true,
      given_name: "Demo",
      family_name: "Learner",
      zoneinfo: "Europe/London",
      active: true,
      user_type: "STANDARD",
      language: "en_US",
      locale: "en_GB",
      utcOffset: 0,
      is_app_installed: true,
    });
  }

  return {
    url,
    client,
    received,
    issued,
    close: () => server.shutdown(),
  };
}

/** Base64url(SHA-256(verifier)) without the 128-character limit `createCodeChallenge` enforces. */
async function s256(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(verifier),
  );
  return base64url(new Uint8Array(digest));
}

/** Compares two strings in time that does not depend on where they differ. */
function timingSafeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let difference = x.length ^ y.length;
  for (let i = 0; i < x.length; i++) difference |= x[i] ^ (y[i] ?? 0);
  return difference === 0;
}

/** A consumer secret in Salesforce's shape: 64 upper-case hex characters. */
function randomConsumerSecret(): string {
  return crypto.getRandomValues(new Uint8Array(32)).toHex().toUpperCase();
}

function randomSecret(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/** Opaque token text in Salesforce's alphabet (letters, digits, `.` and `_`). */
function randomOpaque(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return base64url(bytes).slice(0, length).replaceAll("-", ".");
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => `&#${c.charCodeAt(0)};`,
  );
}

const NO_STORE = { "cache-control": "no-store", pragma: "no-cache" };

function jsonResponse(status: number, body: unknown): Response {
  return Response.json(body, { status, headers: NO_STORE });
}

function textResponse(status: number, body: string): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain;charset=UTF-8" },
  });
}

function tokenError(error: string, description: string): Response {
  return jsonResponse(400, { error, error_description: description });
}

/** The bare `error=…&error_description=…` body Salesforce shows instead of redirecting. */
function authorizeErrorBody(error: string, description: string): Response {
  const body = `error=${encodeURIComponent(error)}&error_description=${
    encodeURIComponent(description)
  }`;
  return textResponse(400, body);
}

function redirect(location: URL): Response {
  return new Response(null, {
    status: 302,
    headers: { location: location.href, ...NO_STORE },
  });
}

function redirectWithError(
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
    headers: {
      "content-type": "text/html;charset=UTF-8",
      "content-security-policy":
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
      "x-frame-options": "DENY",
      ...NO_STORE,
    },
  });
}

/**
 * Plays the demo user, as a browser would: loads the consent page behind
 * `authorizationUrl`, submits `decision`, and follows the redirect to the
 * callback. Resolves with the callback's status.
 */
export async function playDemoUser(
  authorizationUrl: string,
  decision: "allow" | "deny" = "allow",
): Promise<number> {
  const page = await fetch(authorizationUrl);
  const html = await page.text();
  const consent = /name="consent" value="([^"]+)"/.exec(html)?.[1];
  if (!page.ok || !consent) {
    throw new Error(
      `Cannot approve as the demo user: the org answered ${page.status} "${
        html.slice(0, 120)
      }"`,
    );
  }
  const decided = await fetch(new URL("/services/oauth2/authorize", page.url), {
    method: "POST",
    body: new URLSearchParams({ consent, decision }),
    redirect: "manual",
  });
  await decided.body?.cancel();
  const location = decided.headers.get("location");
  if (!location) {
    throw new Error(
      `Cannot approve as the demo user: no redirect after the consent page (status ${decided.status})`,
    );
  }
  const callback = await fetch(location);
  await callback.body?.cancel();
  return callback.status;
}

if (import.meta.main) {
  let values;
  try {
    values = parseArgs({
      args: Deno.args,
      options: {
        port: { type: "string", default: "8080" },
        "redirect-uri": { type: "string" },
        "client-id": { type: "string" },
        "client-secret": { type: "string" },
      },
    }).values;
  } catch (error) {
    console.error(
      `error: Cannot read the command line: ${(error as Error).message}\n` +
        "usage: deno run -A demo_org.ts [--port N] [--redirect-uri URI] [--client-id ID] [--client-secret S]",
    );
    Deno.exit(2);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(
      `error: Cannot use --port: not a port number "${values.port}"`,
    );
    Deno.exit(2);
  }
  const org = startDemoOrg({
    port,
    redirectUri: values["redirect-uri"],
    clientId: values["client-id"],
    clientSecret: values["client-secret"],
  });
  const { client } = org;
  console.log(`Demo org listening on ${org.url} (Ctrl+C to stop)
  client_id:      ${client.client_id}
  client_secret:  ${client.client_secret}${
    client.secret_required ? "" : " (optional: this app does not require it)"
  }
  callback URL:   ${client.redirect_uris[0]}
  scopes:         ${client.scopes.join(" ")}

Run the walkthrough against it:
  deno run -A main.ts --instance-url ${org.url} --client-id ${client.client_id}`);
}
