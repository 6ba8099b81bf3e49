/**
 * The demo org's OAuth endpoints: discovery, authorize (and the consent
 * decision), token, and revoke. Each is a handler `(org, request) => Response`.
 *
 * @module
 */

import { s256 } from "../pkce.ts";
import {
  authorizeErrorBody,
  consentPage,
  expiredPage,
  jsonResponse,
  redirect,
  redirectWithError,
  tokenError,
} from "./pages.ts";
import {
  addConsent,
  DEMO_SCOPES,
  type DemoOrgState,
  issueCode,
  issueTokens,
  newRefreshToken,
  revokeToken,
  takeConsent,
  timingSafeEqual,
} from "./state.ts";

/** The longest authorize query the demo org reads; Salesforce's own limit is not documented. */
const MAX_AUTHORIZE_QUERY = 8 * 1024;

/** GET /.well-known/openid-configuration: Salesforce's keys, with this org as issuer. */
export function discovery(org: DemoOrgState): Response {
  const endpoint = (path: string) => `${org.url}/services/oauth2/${path}`;
  return jsonResponse(200, {
    issuer: org.url,
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

/** GET /services/oauth2/authorize: checks the request, then shows the consent page. @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1 */
export function authorize(org: DemoOrgState, request: Request): Response {
  const url = new URL(request.url);
  if (url.search.length > MAX_AUTHORIZE_QUERY) {
    return authorizeErrorBody("invalid_request", "request too large");
  }
  const query = url.searchParams;
  const redirectUri = query.get("redirect_uri");
  // Salesforce shows these errors itself and never redirects (RFC 6749 §4.1.2.1).
  if (query.get("client_id") !== org.client.client_id) {
    return authorizeErrorBody("invalid_client_id", "client identifier invalid");
  }
  if (redirectUri === null) {
    return authorizeErrorBody(
      "redirect_uri_missing",
      "redirect_uri must be provided",
    );
  }
  if (!org.client.redirect_uris.includes(redirectUri)) {
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
  const scopes = grantedScopes(org, query.get("scope"));
  if (scopes === null) {
    return redirectWithError(
      redirectUri,
      state,
      "invalid_scope",
      "the requested scope is not allowed",
    );
  }
  const consentId = addConsent(org, { redirectUri, state, challenge, scopes });
  return consentPage(org, consentId, redirectUri, scopes);
}

/** The requested scopes, the app's own when none are sent, or null if any is not configured. */
function grantedScopes(org: DemoOrgState, scope: string | null) {
  const configured = org.client.scopes;
  if (scope === null || scope.trim() === "") return configured;
  const requested = scope.trim().split(/\s+/);
  const known = (s: string) =>
    configured.includes(s) ||
    (s === "offline_access" && configured.includes("refresh_token"));
  return requested.every(known) ? [...new Set(requested)] : null;
}

/** POST /services/oauth2/authorize: the user's Allow or Deny, sent back to the client. */
export async function decide(
  org: DemoOrgState,
  request: Request,
): Promise<Response> {
  const form = new URLSearchParams(await request.text());
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
  const location = new URL(pending.redirectUri);
  location.searchParams.set("code", issueCode(org, pending));
  if (pending.state !== null) location.searchParams.set("state", pending.state);
  return redirect(location);
}

/** POST /services/oauth2/token: the authorization code and refresh token grants. @see https://www.rfc-editor.org/rfc/rfc6749#section-3.2 */
export async function token(
  org: DemoOrgState,
  request: Request,
): Promise<Response> {
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
  const { client } = org;
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
    ? await exchangeCode(org, form)
    : await refresh(org, form);
}

/** The authorization code grant: one use, 15 minutes, same redirect URI, and the verifier. @see https://www.rfc-editor.org/rfc/rfc7636#section-4.6 */
async function exchangeCode(
  org: DemoOrgState,
  form: URLSearchParams,
): Promise<Response> {
  const issued = org.codes.get(form.get("code") ?? "");
  if (!issued || issued.clientId !== org.client.client_id) {
    return tokenError("invalid_grant", "invalid authorization code");
  }
  if (issued.used || org.now() > issued.expiresAt) {
    // A replayed code also ends what it bought (RFC 6749 §10.5).
    issued.tokens.forEach((token) => revokeToken(org, token));
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
  issued.verifier = verifier;
  // Salesforce accepts verifiers longer than RFC 7636's 128 characters (jsforce sends 171).
  const verifierOk = /^[A-Za-z0-9\-._~]{43,}$/.test(verifier) &&
    timingSafeEqual(await s256(verifier), issued.challenge);
  if (!verifierOk) {
    return tokenError("invalid_grant", "invalid code verifier");
  }
  const wantsRefresh = issued.scopes.includes("refresh_token") ||
    issued.scopes.includes("offline_access");
  const refreshToken = wantsRefresh ? newRefreshToken() : undefined;
  const body = await issueTokens(org, issued.scopes, refreshToken);
  issued.tokens.push(
    body.access_token,
    ...(refreshToken ? [refreshToken] : []),
  );
  return jsonResponse(200, body);
}

/** The refresh token grant; without rotation the old refresh token stays and none is returned. @see https://www.rfc-editor.org/rfc/rfc6749#section-6 */
async function refresh(
  org: DemoOrgState,
  form: URLSearchParams,
): Promise<Response> {
  const refreshToken = form.get("refresh_token") ?? "";
  const grant = org.refreshTokens.get(refreshToken);
  if (!grant || grant.clientId !== org.client.client_id) {
    return tokenError("invalid_grant", "expired access/refresh token");
  }
  const body = await issueTokens(org, grant.scopes, refreshToken);
  delete body.refresh_token;
  return jsonResponse(200, body);
}

/** POST (or GET) /services/oauth2/revoke: 200 when revoked, 400 `invalid_token` otherwise. @see https://www.rfc-editor.org/rfc/rfc7009#section-2.2 */
export async function revoke(
  org: DemoOrgState,
  request: Request,
): Promise<Response> {
  const params = request.method === "POST"
    ? new URLSearchParams(await request.text())
    : new URL(request.url).searchParams;
  if (revokeToken(org, params.get("token") ?? "")) {
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
