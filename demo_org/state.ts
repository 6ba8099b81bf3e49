/**
 * The demo org's state: its app, its user, and the codes and tokens it has
 * issued, as one plain object with the few operations the endpoints share.
 *
 * @module
 */

import { DEFAULT_REDIRECT_URI, importSignatureKey } from "../main.ts";
import {
  type AccessTokenIssue,
  issueIdToken,
  issueJwtAccessToken,
} from "./id_token.ts";
import { base64url, randomBase64url } from "../pkce.ts";
import type { DataStore } from "./records.ts";
import type { FrontDoorLink } from "./front_door.ts";
import {
  CODE_LIFETIME_MS,
  CONSENT_LIFETIME_MS,
  MAX_ACCESS_TOKENS,
  MAX_APPROVALS_PER_APP,
  MAX_CODES,
  MAX_ISSUED,
  MAX_PENDING_CONSENTS,
  MAX_RETIRED_REFRESH_TOKENS,
  MAX_SESSIONS,
  prune,
  pushCapped,
  SESSION_LIFETIME_MS,
} from "./limits.ts";

export { CODE_LIFETIME_MS } from "./limits.ts";

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
  /** "Enable Refresh Token Rotation": each refresh returns a new refresh token and retires the one presented (facts L). */
  rotate_refresh_tokens: boolean;
  /** "Issue JSON Web Token (JWT)-based access tokens for named users" (facts L). */
  jwt_access_tokens: boolean;
}

/** What the org tells an in-process caller when it shows its own error page. */
export interface ErrorPageRequest {
  /** The app whose authorize request was refused. */
  client_id: string;
  /** That request's `state`, so a caller can tell its own request from another's. */
  state: string | null;
}

/** How to make a demo org. */
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
  /** The RSA key pair that signs ID tokens; made on first use unless given (tests reuse one). */
  signingKeys?: CryptoKeyPair;
  /** How long an ID token lives, an app setting on Salesforce (default 2 minutes). */
  idTokenLifetimeSeconds?: number;
  /** The demo app's scopes (default DEMO_SCOPES). */
  appScopes?: string[];
  /** The demo app rotates refresh tokens: each refresh returns a new one and retires the old; presenting a retired one revokes the whole grant. */
  rotateRefreshTokens?: boolean;
  /** The demo app issues JWT-based access tokens (`"token_format":"jwt"`), signed with the org's key. */
  jwtAccessTokens?: boolean;
  /**
   * Called when the org sends a browser to its own error page
   * (`RemoteAccessErrorPage`, for `invalid_scope`): the app never hears of
   * that refusal and the terminal cannot see the page, so an in-process
   * caller (`main.ts --demo`) can learn of it here at once.
   */
  onErrorPage?: (
    error: string,
    error_description: string,
    request: ErrorPageRequest,
  ) => void;
  /** Told of each front-channel request (what a browser does at the org) and its answer; awaited before the answer goes out. */
  observe?: (request: Request, response: Response) => void | Promise<void>;
  /** TEST ONLY: defences switched off, so exercises_test.ts can prove each exercise notices an attack that works; nothing else sets it. */
  testOnlyWeaken?: TestOnlyWeaken;
}

/** TEST ONLY: a defence set to `false` is switched off. */
export interface TestOnlyWeaken {
  /** The token endpoint skips the code_verifier check. */
  pkce?: boolean;
  /** A code may be redeemed again. */
  singleUseCodes?: boolean;
  /** Authorize accepts any redirect_uri. */
  redirectCheck?: boolean;
}

/** A consent page shown and not yet answered. */
export interface PendingConsent {
  /** When the page was shown; unanswered pages expire. */
  shownAt: number;
  /** The signed-in session that was asked; Allow records the approval there. */
  sessionId: string;
  /** The app that asked. */
  clientId: string;
  redirectUri: string;
  state: string | null;
  challenge: string;
  scopes: string[];
  /** The `nonce` the client sent, echoed in the ID token. */
  nonce: string | null;
}

/** An authorization code, bound to its client, redirect URI and challenge. */
export interface IssuedCode {
  clientId: string;
  redirectUri: string;
  challenge: string;
  scopes: string[];
  nonce: string | null;
  expiresAt: number;
  used: boolean;
  /** Tokens issued for this code, revoked if the code is presented again (RFC 6749 section 10.5). */
  tokens: string[];
  /** The approval the code's exchange created, revoked too on a replay (whatever its refresh token by then). */
  approval?: Approval;
  /** The verifier it was redeemed with, so tests can check no output shows it. */
  verifier?: string;
}

/** A signed-in browser: who, and which apps it approved. */
export interface Session {
  id: string;
  username: string;
  /** When it signed in; sessions end after SESSION_LIFETIME_MS. */
  createdAt: number;
  /** Consumer keys this session approved; their consent page is not shown again unless `prompt=consent`. */
  approved: Set<string>;
}

/**
 * One approval, as Salesforce keeps it (an `OauthToken` record, whose
 * `AccessToken` field is the refresh token): the user's consent to an app
 * from one authorization that returned a refresh token. Revoking it ends its
 * refresh token and every access token issued under it.
 */
export interface Approval {
  clientId: string;
  scopes: string[];
  createdAt: number;
  /** The refresh token it lives by; with rotation, the latest one. */
  refreshToken: string;
}

/** What a live token may do. */
export interface TokenGrant {
  clientId: string;
  scopes: string[];
  /** When it was issued, in milliseconds (introspection's `iat`). */
  issuedAt: number;
  /** The approval it belongs to, when the authorization returned a refresh token. */
  approval?: Approval;
  /** For an access token: a JWT-based one, or Salesforce's opaque kind. */
  format?: "opaque" | "jwt";
}

/** Everything a demo org knows. */
export interface DemoOrgState {
  /** Its base URL, the `instance_url` it hands out, e.g. `http://127.0.0.1:51234`. */
  url: string;
  identityUrl: string;
  /** The demo app: what `--demo` and the walkthrough use. */
  client: DemoClient;
  /** Every app the org knows: the demo app and the Salesforce CLI's. */
  clients: DemoClient[];
  now: () => number;
  consents: Map<string, PendingConsent>;
  sessions: Map<string, Session>;
  codes: Map<string, IssuedCode>;
  accessTokens: Map<string, TokenGrant>;
  refreshTokens: Map<string, TokenGrant>;
  /** Live approvals, oldest first (at most five per app: the demo org has one user). */
  approvals: Approval[];
  /** Refresh tokens rotated out, and the approval each belonged to: presenting one revokes that approval. */
  retiredRefreshTokens: Map<string, Approval>;
  /** The latest requests it received (MAX_RECEIVED), as `METHOD /path`, in order: what tests assert on. */
  received: string[];
  /** The latest access and refresh tokens it issued (MAX_ISSUED), so tests can look for leaks. */
  issued: string[];
  /** REST API calls so far, for `Sforce-Limit-Info`. */
  apiCalls: number;
  /** Its records (`demo_org/records.ts`), made on first use. */
  data?: DataStore;
  /** One-time front-door links not yet opened (`demo_org/front_door.ts`). */
  frontDoorLinks?: Map<string, FrontDoorLink>;
  /** The ID token signing key, made on first use. */
  signingKeys?: Promise<CryptoKeyPair>;
  idTokenLifetimeSeconds: number;
  /** TEST ONLY: see DemoOrgOptions. */
  testOnlyWeaken: TestOnlyWeaken;
  onErrorPage?: DemoOrgOptions["onErrorPage"];
}

/** The Salesforce CLI's own app, as every org has it: a public client with PKCE (facts K). */
function salesforceCliApp(): DemoClient {
  return {
    name: "Salesforce CLI",
    client_id: "PlatformCLI",
    client_secret: randomConsumerSecret(),
    secret_required: false,
    redirect_uris: ["http://localhost:1717/OauthRedirect"],
    scopes: ["api", "web", "refresh_token", "id", "openid"],
    rotate_refresh_tokens: false,
    jwt_access_tokens: false,
  };
}

/** The app with this consumer key, if the org has it. */
export function findClient(
  org: DemoOrgState,
  clientId: string | null,
): DemoClient | undefined {
  return org.clients.find((client) => client.client_id === clientId);
}

/** The org's URL as this request reached it (`localhost`, `127.0.0.1` or `[::1]`, already checked): every URL the org hands out follows it, so a client never has to cross hosts. */
export function baseUrl(request: Request): string {
  return new URL(request.url).origin;
}

/** The demo user's identity URL on a host. */
export function identityUrlAt(base: string): string {
  return `${base}/id/${toId18(ORG_ID)}/${toId18(USER_ID)}`;
}

/** The demo client's consumer key: `3MVG9` like every Salesforce key. */
export const DEMO_CLIENT_ID = "3MVG9DemoOrg.LocalWalkthrough_PKCE_Client";
/**
 * Scopes configured on the demo client. `sfap_api` is there because the
 * reference guide's own token response has it (and so `api_instance_url`):
 * the default run then shows what the guide shows.
 */
export const DEMO_SCOPES = [
  "api",
  "id",
  "openid",
  "refresh_token",
  "web",
  "full",
  "sfap_api",
];
/** The Salesforce API Platform's host, returned as `api_instance_url` when `sfap_api` is granted (facts L). */
export const API_INSTANCE_URL = "https://api.salesforce.com";
/** The API version `version=latest` stands for (Spring '26). */
export const LATEST_API_VERSION = "66.0";
/** Scopes that grant what `id` grants, on Salesforce. */
export const ID_SCOPE_SYNONYMS = ["id", "profile", "email", "address", "phone"];

/** True when the grant may read the identity URL and userinfo. */
export function canReadIdentity(scopes: string[]): boolean {
  return scopes.some((s) =>
    ID_SCOPE_SYNONYMS.includes(s) || s === "api" || s === "full"
  );
}

export const ORG_ID = "00D5g000004DEMO";
export const USER_ID = "0055g00000DEMOU";
export const USERNAME = "learner@demo-org.example";
export const DISPLAY_NAME = "Demo Learner";

/** A new org's state, at `url`. */
export function createOrgState(
  url: string,
  options: DemoOrgOptions = {},
): DemoOrgState {
  const client: DemoClient = {
    name: "OAuth Walkthrough (demo)",
    client_id: options.clientId ?? DEMO_CLIENT_ID,
    client_secret: options.clientSecret ?? randomConsumerSecret(),
    secret_required: options.clientSecret !== undefined,
    redirect_uris: [options.redirectUri ?? DEFAULT_REDIRECT_URI],
    scopes: options.appScopes ?? DEMO_SCOPES,
    rotate_refresh_tokens: options.rotateRefreshTokens ?? false,
    jwt_access_tokens: options.jwtAccessTokens ?? false,
  };
  return {
    url,
    identityUrl: identityUrlAt(url),
    client,
    clients: [client, salesforceCliApp()],
    now: options.now ?? Date.now,
    consents: new Map(),
    sessions: new Map(),
    codes: new Map(),
    accessTokens: new Map(),
    refreshTokens: new Map(),
    approvals: [],
    retiredRefreshTokens: new Map(),
    received: [],
    issued: [],
    apiCalls: 0,
    signingKeys: options.signingKeys && Promise.resolve(options.signingKeys),
    idTokenLifetimeSeconds: options.idTokenLifetimeSeconds ?? 120,
    testOnlyWeaken: options.testOnlyWeaken ?? {},
    onErrorPage: options.onErrorPage,
  };
}

/** Keeps a consent page's request until it is answered, expired, or pushed out by newer ones. */
export function addConsent(
  org: DemoOrgState,
  consent: Omit<PendingConsent, "shownAt">,
): string {
  const now = org.now();
  prune(
    org.consents,
    MAX_PENDING_CONSENTS - 1,
    (pending) => now - pending.shownAt > CONSENT_LIFETIME_MS,
  );
  const id = randomBase64url(32);
  org.consents.set(id, { ...consent, shownAt: now });
  return id;
}

/** Takes an answered consent's request, if it is still pending and not expired. */
export function takeConsent(
  org: DemoOrgState,
  id: string,
): PendingConsent | undefined {
  const pending = org.consents.get(id);
  org.consents.delete(id);
  if (!pending || org.now() - pending.shownAt > CONSENT_LIFETIME_MS) {
    return undefined;
  }
  return pending;
}

/** Signs a browser in: a new session, kept until it times out or newer ones push it out. */
export function addSession(org: DemoOrgState, username: string): Session {
  const now = org.now();
  prune(
    org.sessions,
    MAX_SESSIONS - 1,
    (session) => now - session.createdAt > SESSION_LIFETIME_MS,
  );
  const session = {
    id: randomBase64url(32),
    username,
    createdAt: now,
    approved: new Set<string>(),
  };
  org.sessions.set(session.id, session);
  return session;
}

/** The session with this id, if it has not timed out. */
export function liveSession(
  org: DemoOrgState,
  id: string,
): Session | undefined {
  const session = org.sessions.get(id);
  if (session && org.now() - session.createdAt > SESSION_LIFETIME_MS) {
    org.sessions.delete(id);
    return undefined;
  }
  return session;
}

/** Issues a code for an approved consent; like Salesforce's, it starts `aPrx` and is standard Base64 (with `+`, `/` and `=`), so it must be URL-encoded once. */
export function issueCode(
  org: DemoOrgState,
  consent: Omit<PendingConsent, "shownAt">,
): string {
  const now = org.now();
  // Used codes stay until they expire, so that a replay is still caught.
  prune(org.codes, MAX_CODES - 1, (issued) => now > issued.expiresAt);
  const code = `aPrx${crypto.getRandomValues(new Uint8Array(62)).toBase64()}`;
  org.codes.set(code, {
    clientId: consent.clientId,
    redirectUri: consent.redirectUri,
    challenge: consent.challenge,
    scopes: consent.scopes,
    nonce: consent.nonce,
    expiresAt: now + CODE_LIFETIME_MS,
    used: false,
    tokens: [],
  });
  return code;
}

/**
 * Issues an access token (opaque, or JWT-based for an app that asks for
 * them), under an approval when there is one; the body is in Salesforce's
 * shape and key order, with no `expires_in`.
 */
export async function issueTokens(
  org: DemoOrgState,
  issue: {
    client: DemoClient;
    scopes: string[];
    /** The approval the tokens belong to, if the grant has a refresh token. */
    approval?: Approval;
    /** Send the approval's refresh token: at the code exchange, and after a rotation. */
    withRefreshToken?: boolean;
    nonce?: string | null;
    /** The host the token request reached; `instance_url`, `id` and `iss` follow it. */
    base: string;
  },
): Promise<Record<string, string>> {
  const { client, scopes, approval, base } = issue;
  const identityUrl = identityUrlAt(base);
  const issuedAt = org.now();
  const accessToken = await newAccessToken(org, {
    client,
    scopes,
    base,
    issuedAt,
    approval,
  });
  const refreshToken = issue.withRefreshToken && approval?.refreshToken;
  pushCapped(
    org.issued,
    MAX_ISSUED,
    accessToken,
    ...(refreshToken ? [refreshToken] : []),
  );
  const body: Record<string, string> = { access_token: accessToken };
  if (refreshToken) body.refresh_token = refreshToken;
  body.signature = await signIdentity(
    client.client_secret,
    identityUrl,
    String(issuedAt),
  );
  body.scope = scopes.join(" ");
  if (scopes.includes("openid")) {
    body.id_token = await issueIdToken(org, {
      client,
      accessToken,
      nonce: issue.nonce ?? null,
      base,
    });
  }
  body.instance_url = base;
  body.id = identityUrl;
  body.token_type = "Bearer";
  body.issued_at = String(issuedAt);
  if (scopes.includes("sfap_api")) body.api_instance_url = API_INSTANCE_URL;
  if (client.jwt_access_tokens) body.token_format = "jwt";
  return body;
}

/** A new access token, recorded as live until the session timeout, with the oldest dropped beyond MAX_ACCESS_TOKENS. */
async function newAccessToken(
  org: DemoOrgState,
  issue: AccessTokenIssue & { approval?: Approval },
): Promise<string> {
  const { client, scopes, issuedAt, approval } = issue;
  const format = client.jwt_access_tokens ? "jwt" : "opaque";
  const token = format === "jwt"
    ? await issueJwtAccessToken(org, {
      ...issue,
      lifetimeSeconds: SESSION_LIFETIME_MS / 1000,
    })
    : `${ORG_ID}!${randomOpaque(96)}`;
  prune(org.accessTokens, MAX_ACCESS_TOKENS - 1, expiredAccess(org));
  org.accessTokens.set(token, {
    clientId: client.client_id,
    scopes,
    issuedAt,
    approval,
    format,
  });
  return token;
}

/** True for an access token past the session timeout. */
function expiredAccess(org: DemoOrgState): (grant: TokenGrant) => boolean {
  const now = org.now();
  return (grant) => now - grant.issuedAt > SESSION_LIFETIME_MS;
}

/**
 * Records a new approval, with a new refresh token. Salesforce keeps five
 * per user per app: a sixth revokes the oldest, its refresh token and its
 * access tokens, without a word to the app (facts L). The demo org has one
 * user, so the count is per app.
 */
export function addApproval(
  org: DemoOrgState,
  client: DemoClient,
  scopes: string[],
): Approval {
  const mine = org.approvals.filter((a) => a.clientId === client.client_id);
  if (mine.length >= MAX_APPROVALS_PER_APP) revokeApproval(org, mine[0]);
  const approval: Approval = {
    clientId: client.client_id,
    scopes,
    createdAt: org.now(),
    refreshToken: newRefreshToken(),
  };
  org.approvals.push(approval);
  org.refreshTokens.set(approval.refreshToken, {
    clientId: approval.clientId,
    scopes,
    issuedAt: approval.createdAt,
    approval,
  });
  return approval;
}

/** Rotation: the approval gets a new refresh token; the one presented is retired at once, and remembered so that presenting it again can be caught. */
export function rotateRefreshToken(org: DemoOrgState, approval: Approval) {
  const retired = approval.refreshToken;
  org.refreshTokens.delete(retired);
  org.retiredRefreshTokens.set(retired, approval);
  prune(org.retiredRefreshTokens, MAX_RETIRED_REFRESH_TOKENS);
  approval.refreshToken = newRefreshToken();
  org.refreshTokens.set(approval.refreshToken, {
    clientId: approval.clientId,
    scopes: approval.scopes,
    issuedAt: org.now(),
    approval,
  });
}

/** Ends an approval: its refresh token, every access token issued under it, and what the org remembers of its retired refresh tokens. */
export function revokeApproval(org: DemoOrgState, approval: Approval): void {
  const at = org.approvals.indexOf(approval);
  if (at >= 0) org.approvals.splice(at, 1);
  org.refreshTokens.delete(approval.refreshToken);
  for (const [token, grant] of org.accessTokens) {
    if (grant.approval === approval) org.accessTokens.delete(token);
  }
  for (const [token, owner] of org.retiredRefreshTokens) {
    if (owner === approval) org.retiredRefreshTokens.delete(token);
  }
}

/** A new refresh token in Salesforce's shape. */
export function newRefreshToken(): string {
  return `5Aep861${randomOpaque(60)}`;
}

/** Ends a token; ending a refresh token ends its approval, and so every access token issued under it. */
export function revokeToken(org: DemoOrgState, token: string): boolean {
  if (liveAccessGrant(org, token)) return org.accessTokens.delete(token);
  const approval = org.refreshTokens.get(token)?.approval;
  if (!approval) return false;
  revokeApproval(org, approval);
  return true;
}

/** The grant of a live access token (not revoked, not past the session timeout). */
export function liveAccessGrant(
  org: DemoOrgState,
  token: string,
): TokenGrant | undefined {
  const grant = org.accessTokens.get(token);
  if (grant && expiredAccess(org)(grant)) {
    org.accessTokens.delete(token);
    return undefined;
  }
  return grant;
}

/** The grant behind a Bearer token (or `oauth_token` parameter), if it is alive: opaque and JWT-based tokens alike. */
export function bearerGrant(
  org: DemoOrgState,
  request: Request,
): TokenGrant | undefined {
  const header = request.headers.get("authorization") ?? "";
  const match = /^Bearer (\S+)$/i.exec(header);
  const token = match?.[1] ??
    new URL(request.url).searchParams.get("oauth_token") ?? "";
  return liveAccessGrant(org, token);
}

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
  const mac = await crypto.subtle.sign(
    "HMAC",
    await importSignatureKey(secret),
    new TextEncoder().encode(id + issuedAt),
  );
  return new Uint8Array(mac).toBase64();
}

/** Compares two strings in time that does not depend on where they differ. */
export function timingSafeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let difference = x.length ^ y.length;
  for (let i = 0; i < x.length; i++) difference |= x[i] ^ (y[i] ?? 0);
  return difference === 0;
}

/** A consumer secret in Salesforce's shape: 64 upper-case hex characters (never a leading "-"). */
function randomConsumerSecret(): string {
  return crypto.getRandomValues(new Uint8Array(32)).toHex().toUpperCase();
}

/** Opaque token text in Salesforce's alphabet (letters, digits, `.` and `_`). */
function randomOpaque(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return base64url(bytes).slice(0, length).replaceAll("-", ".");
}
