/**
 * The demo org as an OpenID Connect provider: an RSA signing key made with
 * Web Crypto on the first `openid` request, published at `/id/keys`, ID
 * tokens with the claims Salesforce sends (facts J.1), and, for an app that
 * asks for them, JWT-based access tokens (facts L).
 *
 * @module
 */

import { accessTokenHash } from "../main.ts";
import { base64url } from "../pkce.ts";
import { jsonResponse } from "./pages.ts";
import {
  type DemoClient,
  type DemoOrgState,
  DISPLAY_NAME,
  identityUrlAt,
  ORG_ID,
  toId18,
  USER_ID,
  USERNAME,
} from "./state.ts";

/** The key's id in the JWKS and in each token's header: short and numeric, like Salesforce's. */
export const SIGNING_KEY_ID = "1";
/** The kid of JWT-based access tokens, in Salesforce's form `CORE_ATJWT.<org id>.<time the key was made>` (seen in Salesforce's Mobile SDK tests). */
export const ACCESS_TOKEN_KEY_ID = `CORE_ATJWT.${ORG_ID}.1767225600000`;

/** RS256: RSASSA-PKCS1-v1_5 with SHA-256, on a 2048-bit key. */
const RS256 = {
  name: "RSASSA-PKCS1-v1_5",
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: "SHA-256",
};

/** A new RS256 key pair (60 to 260 ms). */
export function newSigningKeys(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(RS256, true, [
    "sign",
    "verify",
  ]) as Promise<CryptoKeyPair>;
}

/** The org's signing key pair, made once, on first use. */
export function signingKeys(org: DemoOrgState): Promise<CryptoKeyPair> {
  return org.signingKeys ??= newSigningKeys();
}

/** GET /id/keys: the public signing key as a JSON Web Key Set (under the access tokens' kid too, when an app issues JWT-based ones). @see https://www.rfc-editor.org/rfc/rfc7517#section-5 */
export async function keys(org: DemoOrgState): Promise<Response> {
  const { publicKey } = await signingKeys(org);
  const { kty, n, e } = await crypto.subtle.exportKey("jwk", publicKey);
  const kids = org.clients.some((client) => client.jwt_access_tokens)
    ? [SIGNING_KEY_ID, ACCESS_TOKEN_KEY_ID]
    : [SIGNING_KEY_ID];
  return jsonResponse(200, {
    keys: kids.map((kid) => ({ kty, n, e, alg: "RS256", use: "sig", kid })),
  });
}

/** Signs claims as a compact JWS with RS256. @see https://www.rfc-editor.org/rfc/rfc7515#section-3.1 */
export async function signJwt(
  privateKey: CryptoKey,
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
): Promise<string> {
  const encode = (value: unknown) =>
    base64url(new TextEncoder().encode(JSON.stringify(value)));
  const input = `${encode(header)}.${encode(claims)}`;
  const signature = await crypto.subtle.sign(
    RS256.name,
    privateKey,
    new TextEncoder().encode(input),
  );
  return `${input}.${base64url(new Uint8Array(signature))}`;
}

/** An ID token for the demo user, as Salesforce shapes it: `sub` is the identity URL, `aud` the consumer key. @see https://openid.net/specs/openid-connect-core-1_0.html#IDToken */
export async function issueIdToken(
  org: DemoOrgState,
  issue: {
    client: DemoClient;
    accessToken: string;
    nonce: string | null;
    /** The host the token request reached: the issuer. */
    base: string;
  },
): Promise<string> {
  const { accessToken, nonce, base } = issue;
  const iat = Math.floor(org.now() / 1000);
  const claims = {
    at_hash: await accessTokenHash(accessToken),
    sub: identityUrlAt(base),
    aud: issue.client.client_id,
    iss: base,
    exp: iat + org.idTokenLifetimeSeconds,
    iat,
    ...(nonce !== null ? { nonce } : {}),
    ...userClaims(org),
  };
  const { privateKey } = await signingKeys(org);
  return await signJwt(
    privateKey,
    { kid: SIGNING_KEY_ID, typ: "JWT", alg: "RS256" },
    claims,
  );
}

/**
 * A JWT-based access token, in the shape of one Salesforce issued (header
 * and claims as decoded from a token in Salesforce's Mobile SDK tests):
 * `tty` sfdc-core-token, `tnk` the tenant, `scp` the scopes, `aud` an array,
 * `sub` "uid:" and the user id, `sfi` 64 hex characters (which also makes
 * each token unique). It lives as long as an opaque token (the session
 * timeout): its `exp` is INFERRED, the capture's app had its own setting.
 */
export async function issueJwtAccessToken(
  org: DemoOrgState,
  issue: {
    client: DemoClient;
    scopes: string[];
    /** The host the token request reached: the issuer and the audience. */
    base: string;
    /** When it was issued, in milliseconds. */
    issuedAt: number;
    lifetimeSeconds: number;
  },
): Promise<string> {
  const { base } = issue;
  const iat = Math.floor(issue.issuedAt / 1000);
  const header = {
    tnk: `core/demo-org/${toId18(ORG_ID)}`,
    ver: "1.0",
    kid: ACCESS_TOKEN_KEY_ID,
    tty: "sfdc-core-token",
    typ: "JWT",
    alg: "RS256",
  };
  const claims = {
    scp: issue.scopes.join(" "),
    aud: [base],
    sub: `uid:${toId18(USER_ID)}`,
    nbf: iat - 15, // as in the captured token
    mty: "oauth",
    sfi: crypto.getRandomValues(new Uint8Array(32)).toHex(),
    roles: [],
    iss: base,
    hsc: false,
    exp: iat + issue.lifetimeSeconds,
    iat,
    client_id: issue.client.client_id,
  };
  const { privateKey } = await signingKeys(org);
  return await signJwt(privateKey, header, claims);
}

/** The demo user's profile claims, shared by ID tokens and userinfo so they agree. */
export function userClaims(_org: DemoOrgState) {
  return {
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
    locale: "en_GB",
    updated_at: "2026-01-01T00:00:00Z",
  };
}
