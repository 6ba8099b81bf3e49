/**
 * What the demo org keeps, for how long, and how much of a request it reads:
 * every cap and lifetime in one place, and the two helpers that enforce them
 * (a body reader that stops at its limit, and a pruner for insertion-ordered
 * maps). A hostile page or script can make the org issue things, but not
 * make it remember them for good (issue 16, item 4).
 *
 * @module
 */

/** Salesforce's documented authorization code lifetime. */
export const CODE_LIFETIME_MS = 15 * 60 * 1000;
/** Codes kept at once, used ones included (a replay must still be caught while it could be valid). */
export const MAX_CODES = 100;

/** How long a consent page may stay unanswered, and how many may wait at once. */
export const CONSENT_LIFETIME_MS = 10 * 60 * 1000;
export const MAX_PENDING_CONSENTS = 100;

/** The demo org's session timeout (Salesforce's default is two hours): sign-in sessions and access tokens end then. */
export const SESSION_LIFETIME_MS = 2 * 60 * 60 * 1000;
/** Signed-in browsers kept at once; the oldest must sign in again. */
export const MAX_SESSIONS = 100;
/** Live access tokens kept at once; the oldest stop working first. */
export const MAX_ACCESS_TOKENS = 500;

/** Salesforce's limit: five approvals per user per app; a sixth revokes the oldest (facts L). */
export const MAX_APPROVALS_PER_APP = 5;
/** Refresh tokens rotated out and remembered, so that presenting one again can revoke its grant. */
export const MAX_RETIRED_REFRESH_TOKENS = 500;

/** The longest form body (token, introspect, revoke, sign-in, consent) the org reads; Salesforce's own limit is not documented. */
export const MAX_FORM_BYTES = 16 * 1024;
/** Salesforce usernames have at most 80 characters. */
export const MAX_USERNAME_LENGTH = 80;
/** The longest authorize query the demo org reads; Salesforce's own limit is not documented. */
export const MAX_AUTHORIZE_QUERY = 8 * 1024;

/** The REST API: records a demo org holds at most (all objects together; each field is capped by its length in `records.ts`), and the longest JSON body it reads. */
export const MAX_RECORDS = 300;
export const MAX_JSON_BYTES = 32 * 1024;
/** Front-door links (`sf org open`) waiting to be opened, and how long each stays valid (Salesforce documents no lifetime: the demo's choice). */
export const MAX_FRONT_DOOR_LINKS = 100;
export const FRONT_DOOR_LIFETIME_MS = 5 * 60 * 1000;

/** Requests remembered in `received` (the latest), and how much of each path. */
export const MAX_RECEIVED = 1000;
export const MAX_LOGGED_PATH = 256;
/** Tokens remembered in `issued` (the latest), for the tests' leak scan. */
export const MAX_ISSUED = 1000;

/**
 * Reads a request body as text, but never more than `limit` bytes: a
 * declared Content-Length over the limit is refused unread, one within it is
 * read whole, and a body of no declared length is cancelled as soon as it
 * passes the limit. Null when refused (too large, or
 * the client broke off); invalid UTF-8 becomes U+FFFD, as `text()` does.
 */
export async function readBody(
  request: Request,
  limit = MAX_FORM_BYTES,
): Promise<string | null> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (!(declared <= limit)) { // NaN too
    await request.body?.cancel().catch(() => {});
    return null;
  }
  if (!request.body) return "";
  if (request.headers.has("content-length")) {
    // The connection carries no more than that: read it at once.
    return await request.text().catch(() => null); // the client went away mid-body
  }
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (
      let read = await reader.read();
      !read.done;
      read = await reader.read()
    ) {
      size += read.value.byteLength;
      if (size > limit) {
        await reader.cancel().catch(() => {});
        return null;
      }
      chunks.push(read.value);
    }
  } catch {
    return null; // the client went away mid-body
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

/** The request's form, read as `readBody` reads it; null when that refuses it. */
export async function readForm(
  request: Request,
): Promise<URLSearchParams | null> {
  const text = await readBody(request);
  return text === null ? null : new URLSearchParams(text);
}

/**
 * Drops a map's oldest entries while they are `stale`, and any beyond `max`.
 * Maps keep insertion order and every lifetime here is fixed from insertion,
 * so the stale entries are the first ones.
 */
export function prune<K, V>(
  map: Map<K, V>,
  max: number,
  stale: (value: V) => boolean = () => false,
): void {
  for (const [key, value] of map) {
    if (map.size <= max && !stale(value)) break;
    map.delete(key);
  }
}

/** Appends to a log that keeps only its latest `max` entries. */
export function pushCapped<T>(log: T[], max: number, ...items: T[]): void {
  log.push(...items);
  if (log.length > max) log.splice(0, log.length - max);
}
