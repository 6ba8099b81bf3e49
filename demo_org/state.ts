/**
 * The demo org's state: its app, its user, and the codes and tokens it has
 * issued, as one plain object with the few operations the endpoints share.
 *
 * @module
 */

import { DEFAULT_REDIRECT_URI, importSignatureKey } from "../main.ts";
import { issueIdToken } from "./id_token.ts";
import { base64url, randomBase64url } from "../pkce.ts";

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
  /** Tokens issued for this code, revoked if the code is presented again (RFC 6749 §10.5). */
  tokens: string[];
  /** The verifier it was redeemed with, so tests can check no output shows it. */
  verifier?: string;
}

/** A signed-in browser: who, and which apps it approved. */
export interface Session {
  id: string;
  username: string;
  /** Consumer keys this session approved; their consent page is not shown again unless `prompt=consent`. */
  approved: Set<string>;
}

/** What a live token may do. */
export interface TokenGrant {
  clientId: string;
  scopes: string[];
  /** When it was issued, in milliseconds (introspection's `iat`). */
  issuedAt: number;
  /** For an access token: the refresh token it came from, if any. */
  refreshToken?: string;
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
  /** Every request it received, as `METHOD /path`, in order: what tests assert on. */
  received: string[];
  /** Every access and refresh token it issued, so tests can look for leaks. */
  issued: string[];
  /** REST API calls so far, for `Sforce-Limit-Info`. */
  apiCalls: number;
  /** The ID token signing key, made on first use. */
  signingKeys?: Promise<CryptoKeyPair>;
  idTokenLifetimeSeconds: number;
  /** TEST ONLY: see DemoOrgOptions. */
  testOnlyWeaken: TestOnlyWeaken;
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
/** Scopes configured on the demo client. */
export const DEMO_SCOPES = [
  "api",
  "id",
  "openid",
  "refresh_token",
  "web",
  "full",
];
/** Salesforce's documented authorization code lifetime. */
export const CODE_LIFETIME_MS = 15 * 60 * 1000;
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
    received: [],
    issued: [],
    apiCalls: 0,
    signingKeys: options.signingKeys && Promise.resolve(options.signingKeys),
    idTokenLifetimeSeconds: options.idTokenLifetimeSeconds ?? 120,
    testOnlyWeaken: options.testOnlyWeaken ?? {},
  };
}

/** How long a consent page may stay unanswered, and how many may wait at once. */
export const CONSENT_LIFETIME_MS = 10 * 60 * 1000;
export const MAX_PENDING_CONSENTS = 100;

/** Keeps a consent page's request until it is answered, expired, or pushed out by newer ones. */
export function addConsent(
  org: DemoOrgState,
  consent: Omit<PendingConsent, "shownAt">,
): string {
  const now = org.now();
  for (const [id, pending] of org.consents) {
    const expired = now - pending.shownAt > CONSENT_LIFETIME_MS;
    if (expired || org.consents.size >= MAX_PENDING_CONSENTS) {
      org.consents.delete(id); // oldest first: a Map keeps insertion order
    }
  }
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

/** Issues a code for an approved consent; like Salesforce's, it starts `aPrx` and is standard Base64 (with `+`, `/` and `=`), so it must be URL-encoded once. */
export function issueCode(
  org: DemoOrgState,
  consent: Omit<PendingConsent, "shownAt">,
): string {
  const code = `aPrx${crypto.getRandomValues(new Uint8Array(62)).toBase64()}`;
  org.codes.set(code, {
    clientId: consent.clientId,
    redirectUri: consent.redirectUri,
    challenge: consent.challenge,
    scopes: consent.scopes,
    nonce: consent.nonce,
    expiresAt: org.now() + CODE_LIFETIME_MS,
    used: false,
    tokens: [],
  });
  return code;
}

/** Issues an access token (and records a refresh token); the body is in Salesforce's shape and key order, with no `expires_in`. */
export async function issueTokens(
  org: DemoOrgState,
  issue: {
    client: DemoClient;
    scopes: string[];
    refreshToken?: string;
    nonce?: string | null;
    /** The host the token request reached; `instance_url`, `id` and `iss` follow it. */
    base: string;
  },
): Promise<Record<string, string>> {
  const { client, scopes, refreshToken, base } = issue;
  const identityUrl = identityUrlAt(base);
  const accessToken = `${ORG_ID}!${randomOpaque(96)}`;
  const grant = { clientId: client.client_id, scopes, issuedAt: org.now() };
  if (refreshToken && !org.refreshTokens.has(refreshToken)) {
    org.refreshTokens.set(refreshToken, grant);
    org.issued.push(accessToken, refreshToken);
  } else {
    org.issued.push(accessToken);
  }
  org.accessTokens.set(accessToken, { ...grant, refreshToken });
  const issuedAt = String(grant.issuedAt);
  const body: Record<string, string> = { access_token: accessToken };
  if (refreshToken) body.refresh_token = refreshToken;
  body.signature = await signIdentity(
    client.client_secret,
    identityUrl,
    issuedAt,
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
  body.issued_at = issuedAt;
  return body;
}

/** A new refresh token in Salesforce's shape. */
export function newRefreshToken(): string {
  return `5Aep861${randomOpaque(60)}`;
}

/** Ends a token; ending a refresh token ends every access token issued from it. */
export function revokeToken(org: DemoOrgState, token: string): boolean {
  if (org.accessTokens.delete(token)) return true;
  if (!org.refreshTokens.delete(token)) return false;
  for (const [access, grant] of org.accessTokens) {
    if (grant.refreshToken === token) org.accessTokens.delete(access);
  }
  return true;
}

/** The grant behind a Bearer token (or `oauth_token` parameter), if it is alive. */
export function bearerGrant(
  org: DemoOrgState,
  request: Request,
): TokenGrant | undefined {
  const header = request.headers.get("authorization") ?? "";
  const match = /^Bearer (\S+)$/i.exec(header);
  const token = match?.[1] ??
    new URL(request.url).searchParams.get("oauth_token") ?? "";
  return org.accessTokens.get(token);
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
    await importSignatureKey(secret, "sign"),
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
