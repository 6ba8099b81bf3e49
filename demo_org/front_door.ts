/**
 * The front door: how `sf org open` turns an access token into a signed-in
 * browser (facts L). `GET /services/oauth2/singleaccess` with a Bearer token
 * answers `{"frontdoor_uri": ".../secur/frontdoor.jsp?otp=..."}`, a one-time
 * link; opening it signs the browser in, as the sign-in form does, and
 * redirects to `retURL` (the home page unless the client asked for another
 * path with `redirect_uri`).
 *
 * @see https://help.salesforce.com/s/articleView?id=xcloud.frontdoor_singleaccess.htm&type=5
 * @module
 */

import { randomBase64url } from "../pkce.ts";
import {
  FRONT_DOOR_LIFETIME_MS,
  MAX_FRONT_DOOR_LINKS,
  prune,
} from "./limits.ts";
import { expiredPage, jsonResponse, textResponse } from "./pages.ts";
import { sessionCookie } from "./sign_in.ts";
import {
  addSession,
  baseUrl,
  bearerGrant,
  type DemoOrgState,
  USERNAME,
} from "./state.ts";

/** A front-door link handed out and not yet opened. */
export interface FrontDoorLink {
  createdAt: number;
  username: string;
}

export const FRONT_DOOR_PATH = "/secur/frontdoor.jsp";
const MAX_PATH_LENGTH = 2048;

/**
 * GET (or POST) /services/oauth2/singleaccess: a one-time front-door link
 * for the token's user. The token needs the `web` (or `full`) scope, as
 * front-door sessions do on Salesforce; a bad token gets 403, which the
 * Salesforce CLI expects (its body is not documented: the demo answers as
 * its identity URL does).
 */
export async function singleAccess(
  org: DemoOrgState,
  request: Request,
): Promise<Response> {
  await request.body?.cancel();
  const grant = bearerGrant(org, request);
  if (!grant) return textResponse(403, "Bad_OAuth_Token");
  if (!grant.scopes.some((s) => s === "web" || s === "full")) {
    return textResponse(403, "Insufficient_Scope");
  }
  const asked = new URL(request.url).searchParams.get("redirect_uri") ?? "/";
  const retUrl = localPath(asked);
  if (retUrl === undefined) {
    return jsonResponse(400, {
      error: "invalid_request",
      error_description: "redirect_uri must be a relative path on this org",
    });
  }
  const links = org.frontDoorLinks ??= new Map();
  const now = org.now();
  prune(
    links,
    MAX_FRONT_DOOR_LINKS - 1,
    (link) => now - link.createdAt > FRONT_DOOR_LIFETIME_MS,
  );
  const otp = randomBase64url(32);
  links.set(otp, { createdAt: org.now(), username: USERNAME });
  const door = new URL(FRONT_DOOR_PATH, baseUrl(request));
  door.searchParams.set("otp", otp);
  if (retUrl !== "/") door.searchParams.set("retURL", retUrl);
  return jsonResponse(200, { frontdoor_uri: door.href });
}

/** GET /secur/frontdoor.jsp?otp=...[&retURL=/path]: signs the browser in once per link, then sends it to `retURL` on this org. */
export async function frontDoor(
  org: DemoOrgState,
  request: Request,
): Promise<Response> {
  await request.body?.cancel();
  const query = new URL(request.url).searchParams;
  const otp = query.get("otp") ?? "";
  const link = org.frontDoorLinks?.get(otp);
  org.frontDoorLinks?.delete(otp); // once, whatever happens next
  const retUrl = localPath(query.get("retURL") ?? "/");
  if (
    !link || org.now() - link.createdAt > FRONT_DOOR_LIFETIME_MS ||
    retUrl === undefined
  ) {
    return expiredPage();
  }
  return new Response(null, {
    status: 302,
    headers: {
      location: new URL(retUrl, baseUrl(request)).href,
      "set-cookie": sessionCookie(org, addSession(org, link.username)),
      "cache-control": "no-store",
    },
  });
}

/** A path on this org (a leading `/` added if missing), or undefined for anything that could leave it: never an open redirect. */
function localPath(path: string): string | undefined {
  const withSlash = path.startsWith("/") ? path : `/${path}`;
  if (
    path.length > MAX_PATH_LENGTH || withSlash.startsWith("//") ||
    /[\\\s]/.test(path) || /^[A-Za-z][\w+.-]*:/.test(path) // a scheme: a URL, not a path
  ) {
    return undefined;
  }
  const base = "http://demo-org.invalid";
  const url = URL.parse(withSlash, base);
  if (url?.origin !== base) return undefined;
  return url.pathname + url.search + url.hash;
}
