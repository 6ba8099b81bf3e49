/**
 * Proof Key for Code Exchange (PKCE, RFC 7636) with Web Crypto only.
 *
 * ```ts
 * import { generatePkce } from "./pkce.ts";
 * const { code_verifier, code_challenge } = await generatePkce();
 * ```
 *
 * @module
 */

/** Shortest and longest `code_verifier` RFC 7636 allows. @see https://www.rfc-editor.org/rfc/rfc7636#section-4.1 */
export const VERIFIER_MIN_LENGTH = 43;
/** @see https://www.rfc-editor.org/rfc/rfc7636#section-4.1 */
export const VERIFIER_MAX_LENGTH = 128;

/** The unreserved characters a verifier may use. @see https://www.rfc-editor.org/rfc/rfc7636#section-4.1 */
const VERIFIER_PATTERN = /^[A-Za-z0-9\-._~]{43,128}$/;

/** The PKCE pair the flow sends: the challenge at authorize, the verifier at the token endpoint. */
export interface Pkce {
  code_verifier: string;
  code_challenge: string;
  code_challenge_method: "S256";
}

/** Encodes bytes as base64url without padding. @see https://www.rfc-editor.org/rfc/rfc4648#section-5 */
export function base64url(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}

/** Returns `byteLength` random bytes from Web Crypto, base64url-encoded (used for `state` too). */
export function randomBase64url(byteLength: number): string {
  return base64url(crypto.getRandomValues(new Uint8Array(byteLength)));
}

/** Creates a random `code_verifier`: 32 bytes give the recommended 43 characters. @see https://www.rfc-editor.org/rfc/rfc7636#section-4.1 */
export function createCodeVerifier(byteLength = 32): string {
  const length = Math.ceil((byteLength * 4) / 3);
  if (
    !Number.isInteger(byteLength) || length < VERIFIER_MIN_LENGTH ||
    length > VERIFIER_MAX_LENGTH
  ) {
    throw new RangeError(
      `Cannot create a code verifier: byteLength ${byteLength} gives ${length} characters; ` +
        `RFC 7636 allows ${VERIFIER_MIN_LENGTH} to ${VERIFIER_MAX_LENGTH} (use 32 to 96 bytes)`,
    );
  }
  return randomBase64url(byteLength);
}

/** Computes the S256 `code_challenge`: base64url(SHA-256(ASCII(verifier))). @see https://www.rfc-editor.org/rfc/rfc7636#section-4.2 */
export async function createCodeChallenge(verifier: string): Promise<string> {
  if (!VERIFIER_PATTERN.test(verifier)) {
    throw new TypeError(
      `Cannot create a code challenge: the verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~, got ${verifier.length} characters "${
        verifier.slice(0, 12)
      }${verifier.length > 12 ? "..." : ""}"`,
    );
  }
  return await s256(verifier);
}

/** base64url(SHA-256(ASCII(text))), the S256 transform without the length check (servers meet longer verifiers). @see https://www.rfc-editor.org/rfc/rfc7636#section-4.6 */
export async function s256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  return base64url(new Uint8Array(digest));
}

/** Generates a fresh verifier and its S256 challenge. @see https://www.rfc-editor.org/rfc/rfc7636#section-4 */
export async function generatePkce(): Promise<Pkce> {
  const code_verifier = createCodeVerifier();
  const code_challenge = await createCodeChallenge(code_verifier);
  return { code_verifier, code_challenge, code_challenge_method: "S256" };
}
