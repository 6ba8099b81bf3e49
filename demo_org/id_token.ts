/**
 * The demo org as an OpenID Connect provider: a fixed, PUBLIC demo RSA key
 * (it signs nothing of value), published at `/id/keys`; ID tokens with the
 * claims Salesforce sends (`sub` the identity URL, `aud` the consumer key,
 * and the user's profile); and, for an app that asks for them, JWT-based
 * access tokens in Salesforce's shape.
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

/** RS256: RSASSA-PKCS1-v1_5 with SHA-256. */
const RS256 = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };

/** What the key set says about the demo org's key, so nobody mistakes it for a real one. */
export const DEMO_KEY_NOTE =
  "PUBLIC DEMO KEY: its private half is published in this walkthrough's source (demo_org/id_token.ts), so it signs nothing of value; never trust it outside the local demo org";

// ---------------------------------------------------------------------------
// !!! A PUBLIC DEMO KEY. IT SIGNS NOTHING OF VALUE. !!!
//
// The demo org signs its ID tokens with this fixed RSA key, private half and
// all, like the development keys other OpenID providers ship (oidc-provider's
// defaults): making a fresh 2048-bit key took 60 to 260 ms of every run.
// Everyone who has this file can sign tokens that this key verifies, so an ID
// token it signed proves only that it came from *a* demo org. Never put this
// key, or any key whose private half is in a repository, in front of anything
// real. The key set at /id/keys carries DEMO_KEY_NOTE to say the same.
// ---------------------------------------------------------------------------
/** The demo org's RS256 key, as a private JWK (RFC 7517): PUBLIC, see above. */
export const DEMO_SIGNING_KEY: JsonWebKey = {
  kty: "RSA",
  n: "vCESqhJNE1qc3hxjMe_mSKynLSabTWmZ_voHIq9DRdCN-VzT8MRa9zFuaKf7whTZCFSiJOHC9uxGWHOxZiDcUrJV88llt26pAMjmAGjGiBxuJ4UgGpy8jqCxgpDTKBY9BSpob9vY4idzuPyLbzFIpxTBVQCcqNSTbUEi1o4m_I9h-RrHH_PQdW51ZNCvkA_mNqaFb6WgJUJgse6J7OhB8OSopn_6SBq3PRNfi_haLLEe-e53prlMqjV8p8QUUU5kZtq7dsaykVnQUpN6IIlaMHj6pn7Mudob2qOlSvibfhfXBXy8VcJ0e93xW3-34Y81uemXKVzcRQnKiFd0E7pG8w",
  e: "AQAB",
  d: "W3rJlKGpkQuy096B7bp2BEjQUgg_5HjBRVdXOOp4j-5F20fkV2NjyGflBEcLCOkSUBa3ca_GGkPyQPig_sRj3mKRoSYBrBzHWXZXQUOxpmYMunLllYs5tTE2oALEau3FZkmk1x_UasQ8ZWuIcd1JMtXI3QibJQ2ZUrslsacWFiDcjGXvynH7VHmCZK7jJgI7bGKOxIiz44TJkf_aYlaIJnF0oXElJsYm0Ev9VEXFPrnj9OURWVCmGZ0fH9tYPKpGl6x176_1EYXbD1PBwHV2X64GD_mi0lZIm85rjEmUCB7ONlLhkxLqLFL6MicqHGeeOvSy1ctqsZttMFqKH2mxoQ",
  p: "yT9ZtRKtrd1YgEOB5aX_GfyYzpQAyhbzgKkqYXUIWK-ISG3EJEdCyaqTulrT1XE9ActxbyGjzjaj0ySePe0HEb8mGArAHIs34R8WeKF__Ml3p7RVJNI_lWsGdHpb40acWnVaHFC4u31P-L1ZuYyU4KD1z8vBt_B2anv-yxQJN6U",
  q: "71AM3qL_VTcaXmktkKWcuTclTm87oXw6ZeBEjoDtvYPcwLl5fliq1VMcV7fhs-YZtB4wYQ7aLpV5nv9BiPPDKuxx2p_fWJtVJiNmP1FJQPS03d77ZQl-nETzJoK--GdmvgpDJN8_BUBBotjPv2NDUP73M9tzfIanPiZwrOc9gLc",
  dp:
    "pXeWDcCu1r6g7s0St7yVlEtRZMDiKUdXrRjqRLlSRIEG_-5okB-bdW7wChB2DhAORjR9Lw-svHfGmWuJRIdoAZp1-tyT-qQpLMs_0a2QK0uHO3eVbjIEn5kg9JJKjQNYuTO2BIQGb_nn0C_33w0Mt-kAU3tH6zImWwVaiKUPsxU",
  dq:
    "uEeqQV6-w7303jKb1cDR2IYwgh-Bia6BwaVa5Wk-qSr7OKUae0KH-lFPh_SfJsrPjDWbB4JKXIjZ6KeirXUYGtuMKM_nSvICNaYYvDU59Xz6McfdSkZvaqJloogXymzFXx3D6obGnqKGaIIQJ86mLZ7IePRKD-AYtPEg3uQKJi0",
  qi:
    "dLBh4oLvDhenNCkMz-ejgVTgzS9MDB2_qExAu7P8-fIEppAmYUHwRDgWZUI9U9-NPj56IMCaiHaDbX-5ZuYDCEDYpfAHuB92edMSvPLny3CpgQ6yy0itE4CvxJIHroZtn9988utoqIrnhgwrV1oEhHi5H1wjOsPZty_xUophLi4",
};

/** The public half of the demo key, as the key set publishes it. */
const DEMO_PUBLIC_KEY = {
  kty: DEMO_SIGNING_KEY.kty,
  n: DEMO_SIGNING_KEY.n,
  e: DEMO_SIGNING_KEY.e,
};

/** The demo key, imported once per process: every demo org in it shares the one public key. */
let demoKeys: Promise<CryptoKeyPair> | undefined;

/** The demo key as a key pair: importing it takes well under a millisecond, and is done at most once. */
export function demoSigningKeys(): Promise<CryptoKeyPair> {
  return demoKeys ??= importDemoKeys();
}

async function importDemoKeys(): Promise<CryptoKeyPair> {
  const { kty, n, e } = DEMO_PUBLIC_KEY;
  return {
    privateKey: await crypto.subtle.importKey(
      "jwk",
      DEMO_SIGNING_KEY,
      RS256,
      false,
      ["sign"],
    ),
    publicKey: await crypto.subtle.importKey(
      "jwk",
      { kty, n, e },
      RS256,
      true,
      ["verify"],
    ),
  };
}

/** A new RS256 key pair (60 to 260 ms), for tests that play a provider of their own. */
export function newSigningKeys(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(
    {
      ...RS256,
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
    },
    true,
    ["sign", "verify"],
  ) as Promise<CryptoKeyPair>;
}

/** The org's signing key pair: the public demo key unless the org was given its own. */
export function signingKeys(org: DemoOrgState): Promise<CryptoKeyPair> {
  return org.signingKeys ??= demoSigningKeys();
}

/** GET /id/keys: the public signing key as a JSON Web Key Set (under the access tokens' kid too, when an app issues JWT-based ones), with a note that it is the public demo key. @see https://www.rfc-editor.org/rfc/rfc7517#section-5 */
export async function keys(org: DemoOrgState): Promise<Response> {
  // The demo key's public half is known; an org's own key is exported.
  const { kty, n, e } = org.signingKeys === undefined ||
      org.signingKeys === demoKeys
    ? DEMO_PUBLIC_KEY
    : await crypto.subtle.exportKey("jwk", (await org.signingKeys).publicKey);
  const kids = org.clients.some((client) => client.jwt_access_tokens)
    ? [SIGNING_KEY_ID, ACCESS_TOKEN_KEY_ID]
    : [SIGNING_KEY_ID];
  return jsonResponse(200, {
    keys: kids.map((kid) => ({ kty, n, e, alg: "RS256", use: "sig", kid })),
    // RFC 7517 section 5: members a client does not understand are ignored.
    note: DEMO_KEY_NOTE,
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

/** What an access token is issued for, opaque or JWT-based. */
export interface AccessTokenIssue {
  client: DemoClient;
  scopes: string[];
  /** The host the token request reached: the issuer and the audience. */
  base: string;
  /** When it was issued, in milliseconds. */
  issuedAt: number;
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
  issue: AccessTokenIssue & { lifetimeSeconds: number },
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
