/**
 * The demo org's OAuth endpoints: discovery, authorize (and the consent
 * decision), token, and revoke. Each is a handler `(org, request) => Response`.
 *
 * @module
 */

import { s256 } from "../pkce.ts";
import {
  accountChooserPage,
  authorizeErrorBody,
  consentPage,
  expiredPage,
  jsonResponse,
  redirect,
  redirectWithError,
  signInPage,
  tokenError,
  tooLargeError,
  tooLargePage,
} from "./pages.ts";
import { ERROR_PAGE_PATH, findSession } from "./sign_in.ts";
import {
  MAX_AUTHORIZE_QUERY,
  readBody,
  readForm,
  SESSION_LIFETIME_MS,
} from "./limits.ts";
import {
  addApproval,
  addConsent,
  baseUrl,
  type DemoClient,
  type DemoOrgState,
  findClient,
  ID_SCOPE_SYNONYMS,
  identityUrlAt,
  issueCode,
  issueTokens,
  liveAccessGrant,
  type PendingConsent,
  revokeApproval,
  revokeToken,
  rotateRefreshToken,
  takeConsent,
  timingSafeEqual,
  USERNAME,
} from "./state.ts";

/** Salesforce's scope list (facts J.2); the demo app is configured with a few of them. */
const SCOPES_SUPPORTED = [
  "openid",
  "profile",
  "email",
  "address",
  "phone",
  "id",
  "api",
  "web",
  "full",
  "refresh_token",
  "offline_access",
  "visualforce",
  "lightning",
  "content",
  "chatter_api",
  "custom_permissions",
  "wave_api",
  "eclair_api",
  "pardot_api",
  "chatbot_api",
  "interaction_api",
  "sfap_api",
  "einstein_gpt_api",
  "mcp_api",
];

/** GET /.well-known/openid-configuration: Salesforce's keys (facts J.2), with this org as issuer; only endpoints it serves. */
export function discovery(_org: DemoOrgState, request: Request): Response {
  const base = baseUrl(request);
  const endpoint = (path: string) => `${base}/services/oauth2/${path}`;
  return jsonResponse(200, {
    issuer: base,
    authorization_endpoint: endpoint("authorize"),
    token_endpoint: endpoint("token"),
    revocation_endpoint: endpoint("revoke"),
    userinfo_endpoint: endpoint("userinfo"),
    jwks_uri: `${base}/id/keys`,
    introspection_endpoint: endpoint("introspect"),
    response_types_supported: ["code"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: ["RS256"],
    display_values_supported: ["page", "popup", "touch"],
    // Advertised as Salesforce does; the token and introspection endpoints
    // take either (see clientCredentials); private_key_jwt is not served.
    token_endpoint_auth_methods_supported: [
      "client_secret_post",
      "client_secret_basic",
      "private_key_jwt",
    ],
    scopes_supported: SCOPES_SUPPORTED,
    claims_supported: [
      "active",
      "address",
      "email",
      "email_verified",
      "family_name",
      "given_name",
      "is_app_installed",
      "language",
      "locale",
      "name",
      "nickname",
      "organization_id",
      "phone_number",
      "phone_number_verified",
      "photos",
      "picture",
      "preferred_username",
      "profile",
      "sub",
      "updated_at",
      "urls",
      "user_id",
      "user_type",
      "zoneinfo",
    ],
    // Like Salesforce: no code_challenge_methods_supported, no RFC 9207 `iss`.
  });
}

/** POST /services/oauth2/introspect: whether a token is alive, for the app that owns it (client id and secret in the form or as Basic). @see https://www.rfc-editor.org/rfc/rfc7662#section-2 */
export async function introspect(
  org: DemoOrgState,
  request: Request,
): Promise<Response> {
  const form = await readForm(request);
  if (!form) return tooLargeError();
  const credentials = clientCredentials(request, form);
  if ("error" in credentials) {
    return jsonResponse(credentials.error === "invalid_client" ? 401 : 400, {
      error: credentials.error,
      error_description: credentials.description,
    });
  }
  const client = findClient(org, credentials.clientId);
  const { secret } = credentials;
  if (
    !client || secret === null ||
    !timingSafeEqual(secret, client.client_secret)
  ) {
    return jsonResponse(401, {
      error: "invalid_client",
      error_description: "invalid client credentials",
    });
  }
  const token = form.get("token") ?? "";
  const access = liveAccessGrant(org, token);
  const grant = access ?? org.refreshTokens.get(token);
  // An app may introspect its own tokens only.
  if (!grant || grant.clientId !== client.client_id) {
    return jsonResponse(200, { active: false });
  }
  const iat = Math.floor(grant.issuedAt / 1000);
  return jsonResponse(200, {
    active: true,
    scope: grant.scopes.join(" "),
    client_id: grant.clientId,
    username: USERNAME,
    sub: identityUrlAt(baseUrl(request)),
    token_type: access ? "access_token" : "refresh_token",
    ...(access ? { exp: iat + SESSION_LIFETIME_MS / 1000 } : {}),
    iat,
    nbf: iat,
  });
}

/** A client's credentials as sent, or the error for sending them wrongly. */
type Credentials =
  | { clientId: string | null; secret: string | null }
  | { error: string; description: string };

/**
 * Where the client says who it is: an HTTP Basic header (RFC 6749 section 2.3.1:
 * id and secret each form-url-encoded, then joined by ":" and Base64) or
 * `client_id` and `client_secret` in the form. A malformed Basic header is
 * `invalid_client`, like any bad credentials (Salesforce's server also knows
 * an `invalid_basic_auth_header` code; when it uses it is not known). Basic
 * and a secret in the form at once is refused (RFC 6749 section 2.3: one method
 * per request; the code is section 5.2's, Salesforce's text is not known); a
 * `client_id` in the form that names the same client is allowed.
 */
function clientCredentials(
  request: Request,
  form: URLSearchParams,
): Credentials {
  const header = request.headers.get("authorization") ?? "";
  const basic = /^Basic(?:\s+(.*))?$/is.exec(header.trim());
  const inForm = {
    clientId: form.get("client_id"),
    secret: form.get("client_secret"),
  };
  if (!basic) return inForm;
  const decoded = decodeBasic(basic[1] ?? "");
  if (!decoded) {
    return {
      error: "invalid_client",
      description: "invalid client credentials",
    };
  }
  const twice = inForm.secret !== null ||
    (inForm.clientId !== null && inForm.clientId !== decoded.clientId);
  if (twice) {
    return {
      error: "invalid_request",
      description:
        "client credentials sent both in the Authorization header and in the body",
    };
  }
  return decoded;
}

/** The id and secret in a Basic header's Base64, or null if it is not Base64, not UTF-8, has no ":" or a bad %-escape. An empty secret counts as none. */
function decodeBasic(
  encoded: string,
): { clientId: string; secret: string | null } | null {
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.fromBase64(encoded.trim()),
    );
    const colon = text.indexOf(":");
    if (colon < 1) return null;
    const formDecode = (part: string) =>
      decodeURIComponent(part.replaceAll("+", " "));
    const secret = formDecode(text.slice(colon + 1));
    return {
      clientId: formDecode(text.slice(0, colon)),
      secret: secret === "" ? null : secret,
    };
  } catch {
    return null;
  }
}

/** An authorize request that passed the checks Salesforce makes before sign-in. */
interface AuthorizeRequest {
  client: DemoClient;
  redirectUri: string;
  state: string | null;
  challenge: string;
}

/**
 * The checks before anyone signs in. Salesforce shows the first errors
 * itself as bare text and never redirects (RFC 6749 section 4.1.2.1); once the app
 * and its redirect URI are known, errors go back to the app.
 */
function checkAuthorizeRequest(
  org: DemoOrgState,
  url: URL,
): AuthorizeRequest | Response {
  if (url.search.length > MAX_AUTHORIZE_QUERY) {
    return authorizeErrorBody("invalid_request", "request too large");
  }
  const query = url.searchParams;
  const client = findClient(org, query.get("client_id"));
  if (!client) {
    return authorizeErrorBody("invalid_client_id", "client identifier invalid");
  }
  const redirectUri = query.get("redirect_uri");
  if (redirectUri === null) {
    return authorizeErrorBody(
      "redirect_uri_missing",
      "redirect_uri must be provided",
    );
  }
  const redirectChecked = org.testOnlyWeaken.redirectCheck !== false;
  if (redirectChecked && !client.redirect_uris.includes(redirectUri)) {
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
  // A missing method means S256 (jsforce sends none); plain is refused. A
  // malformed challenge passes here and fails at the token endpoint, as on Salesforce.
  if ((query.get("code_challenge_method") ?? "S256") !== "S256") {
    return authorizeErrorBody("invalid_request", "invalid code challenge");
  }
  return { client, redirectUri, state, challenge };
}

/** GET /services/oauth2/authorize: checks the request, then signs the user in, asks for consent, or sends a code back. @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1 */
export function authorize(org: DemoOrgState, request: Request): Response {
  const url = new URL(request.url);
  const checked = checkAuthorizeRequest(org, url);
  if (checked instanceof Response) return checked;
  const { client, ...asked } = checked;
  const { redirectUri, state } = asked;
  const query = url.searchParams;
  const prompt = (query.get("prompt") ?? "").split(/\s+/);
  const immediate = query.get("immediate") === "true";
  const notImmediately = () =>
    redirectWithError(
      redirectUri,
      state,
      "immediate_unsuccessful",
      "immediate unsuccessful",
    );
  const scopes = grantedScopes(client, query.get("scope"));
  const session = findSession(org, request);
  if (!session || prompt.includes("login")) {
    if (immediate) return notImmediately();
    const hint = query.get("login_hint") ?? USERNAME;
    // Back here after signing in, without asking to sign in or choose again.
    return signInPage(changePrompt(url, ["login", "select_account"]), hint);
  }
  if (prompt.includes("select_account")) {
    if (immediate) return notImmediately();
    return accountChooserPage(
      changePrompt(url, ["select_account"]),
      changePrompt(url, ["select_account"], "login"),
    );
  }
  if (scopes === null) return scopeErrorPage(org, request, client, state);
  const grant = {
    ...asked,
    clientId: client.client_id,
    scopes,
    nonce: query.get("nonce"),
    sessionId: session.id,
  };
  const approved = session.approved.has(client.client_id);
  if (approved && !prompt.includes("consent")) {
    return redirectWithCode(org, grant);
  }
  if (immediate) return notImmediately();
  return consentPage(client, addConsent(org, grant), redirectUri, scopes);
}

/**
 * Salesforce shows `invalid_scope` on its own page after sign-in, not to the
 * app (facts J.3), so the app waits for a callback that never comes. An
 * in-process caller that asked to hear of it (`onErrorPage`) is told now.
 */
function scopeErrorPage(
  org: DemoOrgState,
  request: Request,
  client: DemoClient,
  state: string | null,
): Response {
  const [error, description] = [
    "invalid_scope",
    "the requested scope is not allowed",
  ];
  try {
    org.onErrorPage?.(error, description, {
      client_id: client.client_id,
      state,
    });
  } catch {
    // The caller's trouble; the browser still gets the page.
  }
  const page = new URL(ERROR_PAGE_PATH, baseUrl(request));
  page.searchParams.set("error", error);
  page.searchParams.set("error_description", description);
  return redirect(page);
}

/** The authorize request, as a path to link to, with `prompt` values taken out (and one added). */
function changePrompt(url: URL, drop: string[], add?: string): string {
  const next = new URL(url);
  const prompt = (next.searchParams.get("prompt") ?? "").split(/\s+/)
    .filter((p) => p && !drop.includes(p));
  if (add) prompt.push(add);
  if (prompt.length > 0) next.searchParams.set("prompt", prompt.join(" "));
  else next.searchParams.delete("prompt");
  return next.pathname + next.search;
}

/** The requested scopes, the app's own when none are sent, or null if any is not configured; synonyms count as their scope. */
function grantedScopes(client: DemoClient, scope: string | null) {
  const configured = client.scopes;
  if (scope === null || scope.trim() === "") return configured;
  const requested = scope.trim().split(/\s+/);
  const known = (s: string) =>
    configured.includes(s) ||
    (ID_SCOPE_SYNONYMS.includes(s) && configured.includes("id")) ||
    (s === "offline_access" && configured.includes("refresh_token"));
  return requested.every(known) ? [...new Set(requested)] : null;
}

/** POST /services/oauth2/authorize: the user's Allow or Deny, sent back to the client. */
export async function decide(
  org: DemoOrgState,
  request: Request,
): Promise<Response> {
  const form = await readForm(request);
  if (!form) return tooLargePage();
  const pending = takeConsent(org, form.get("consent") ?? "");
  if (!pending) return expiredPage();
  if (form.get("decision") !== "allow") {
    return redirectWithError(
      pending.redirectUri,
      pending.state,
      "access_denied",
      "end-user denied authorization",
    );
  }
  org.sessions.get(pending.sessionId)?.approved.add(pending.clientId);
  return redirectWithCode(org, pending);
}

/** Sends the browser back to the client with a new code and the state. */
function redirectWithCode(
  org: DemoOrgState,
  grant: Omit<PendingConsent, "shownAt">,
): Response {
  const location = new URL(grant.redirectUri);
  location.searchParams.set("code", issueCode(org, grant));
  if (grant.state !== null) location.searchParams.set("state", grant.state);
  return redirect(location);
}

/** POST /services/oauth2/token: the authorization code and refresh token grants. @see https://www.rfc-editor.org/rfc/rfc6749#section-3.2 */
export async function token(
  org: DemoOrgState,
  request: Request,
): Promise<Response> {
  const type = request.headers.get("content-type") ?? "";
  // A JSON body hides grant_type from Salesforce, so this is the error it gives.
  if (!type.startsWith("application/x-www-form-urlencoded")) {
    await request.body?.cancel().catch(() => {});
    return tokenError("unsupported_grant_type", "grant type not supported");
  }
  const form = await readForm(request);
  if (!form) return tooLargeError();
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
  const credentials = clientCredentials(request, form);
  if ("error" in credentials) {
    return tokenError(credentials.error, credentials.description);
  }
  const client = findClient(org, credentials.clientId);
  if (!client) {
    return tokenError("invalid_client_id", "client identifier invalid");
  }
  const { secret } = credentials;
  const secretWrong = secret === null
    ? client.secret_required
    : !timingSafeEqual(secret, client.client_secret);
  if (secretWrong) {
    return tokenError("invalid_client", "invalid client credentials");
  }
  const base = baseUrl(request);
  return grantType === "authorization_code"
    ? await exchangeCode(org, client, form, base)
    : await refresh(org, client, form, base);
}

/** The authorization code grant: one use, 15 minutes, same redirect URI, and the verifier; a refresh token makes an approval. @see https://www.rfc-editor.org/rfc/rfc7636#section-4.6 */
async function exchangeCode(
  org: DemoOrgState,
  client: DemoClient,
  form: URLSearchParams,
  base: string,
): Promise<Response> {
  const issued = org.codes.get(form.get("code") ?? "");
  if (!issued || issued.clientId !== client.client_id) {
    return tokenError("invalid_grant", "invalid authorization code");
  }
  const replayed = issued.used && org.testOnlyWeaken.singleUseCodes !== false;
  if (replayed || org.now() > issued.expiresAt) {
    // A replayed code also ends what it bought (RFC 6749 section 10.5).
    issued.tokens.forEach((token) => revokeToken(org, token));
    if (issued.approval) revokeApproval(org, issued.approval);
    return tokenError("invalid_grant", "expired authorization code");
  }
  // A refused attempt does not use the code up: whoever stole it cannot
  // spoil the real exchange (oidc-provider consumes a code only once it passes).
  if (form.get("redirect_uri") !== issued.redirectUri) {
    return tokenError(
      "redirect_uri_mismatch",
      "redirect_uri must match configuration",
    );
  }
  const verifier = form.get("code_verifier") ?? "";
  issued.verifier = verifier;
  // Salesforce accepts verifiers longer than RFC 7636's 128 characters (jsforce sends 171).
  const verifierOk = /^[A-Za-z0-9\-._~]{43,}$/.test(verifier) &&
    timingSafeEqual(await s256(verifier), issued.challenge);
  if (!verifierOk && org.testOnlyWeaken.pkce !== false) {
    return tokenError("invalid_grant", "invalid code verifier");
  }
  issued.used = true;
  const wantsRefresh = issued.scopes.includes("refresh_token") ||
    issued.scopes.includes("offline_access");
  const approval = wantsRefresh
    ? addApproval(org, client, issued.scopes)
    : undefined;
  issued.approval = approval;
  const body = await issueTokens(org, {
    client,
    scopes: issued.scopes,
    approval,
    withRefreshToken: true,
    nonce: issued.nonce,
    base,
  });
  issued.tokens.push(body.access_token);
  return jsonResponse(200, body);
}

/**
 * The refresh token grant. Without rotation the refresh token stays and
 * none is returned. With rotation (facts L) each refresh returns a new one
 * and retires the one presented; presenting a retired one again revokes the
 * whole approval (its current refresh token and every access token) and is
 * answered as a revoked token is (facts D.2). That text for a reused token
 * is UNCONFIRMED: Salesforce does not document it.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2
 */
async function refresh(
  org: DemoOrgState,
  client: DemoClient,
  form: URLSearchParams,
  base: string,
): Promise<Response> {
  const refreshToken = form.get("refresh_token") ?? "";
  const grant = org.refreshTokens.get(refreshToken);
  if (!grant?.approval || grant.clientId !== client.client_id) {
    const retiredFrom = org.retiredRefreshTokens.get(refreshToken);
    if (retiredFrom?.clientId === client.client_id) {
      revokeApproval(org, retiredFrom); // reuse: someone holds an old copy
    }
    return tokenError("invalid_grant", "expired access/refresh token");
  }
  const { approval } = grant;
  if (client.rotate_refresh_tokens) rotateRefreshToken(org, approval);
  const body = await issueTokens(org, {
    client,
    scopes: grant.scopes,
    approval,
    withRefreshToken: client.rotate_refresh_tokens,
    base,
  });
  return jsonResponse(200, body);
}

/** POST (or GET) /services/oauth2/revoke: 200 when revoked, 400 `invalid_token` otherwise. @see https://www.rfc-editor.org/rfc/rfc7009#section-2.2 */
export async function revoke(
  org: DemoOrgState,
  request: Request,
): Promise<Response> {
  const text = request.method === "POST" ? await readBody(request) : "";
  if (text === null) return revokeError(413, "request too large");
  const params = request.method === "POST"
    ? new URLSearchParams(text)
    : new URL(request.url).searchParams;
  if (revokeToken(org, params.get("token") ?? "")) {
    return new Response(null, { status: 200 });
  }
  // Unlike RFC 7009, Salesforce answers 400; jsforce reads this body as a form.
  return revokeError(400, "invalid token");
}

/** Revoke's error, as a form body (jsforce parses it so). */
function revokeError(status: number, description: string): Response {
  const error = status === 413 ? "invalid_request" : "invalid_token";
  return new Response(
    `error=${error}&error_description=${encodeURIComponent(description)}`,
    {
      status,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    },
  );
}
