/**
 * The demo org's identity endpoints: the identity URL (`/id/<org>/<user>`)
 * and OpenID Connect's userinfo, both behind a Bearer token.
 *
 * @module
 */

import { userClaims } from "./id_token.ts";
import { jsonResponse, textResponse } from "./pages.ts";
import {
  baseUrl,
  bearerGrant,
  canReadIdentity,
  type DemoOrgState,
  DISPLAY_NAME,
  identityUrlAt,
  LATEST_API_VERSION,
  ORG_ID,
  toId18,
  type TokenGrant,
  USER_ID,
  USERNAME,
} from "./state.ts";

/** The live grant behind the request's token, or Salesforce's 403 for a missing, invalid, expired or revoked token, or one without the id scope (facts J.4). */
async function identityGrant(
  org: DemoOrgState,
  request: Request,
): Promise<TokenGrant | Response> {
  await request.body?.cancel();
  const grant = bearerGrant(org, request);
  if (!grant) return textResponse(403, "Bad_OAuth_Token");
  if (!canReadIdentity(grant.scopes)) {
    return textResponse(403, "Insufficient_Scope");
  }
  return grant;
}

/** GET /id/<org id>/<user id>: who the token's user is, and where the APIs are. */
export async function identity(
  org: DemoOrgState,
  request: Request,
): Promise<Response> {
  const grant = await identityGrant(org, request);
  if (grant instanceof Response) return grant;
  const requested = new URL(request.url);
  if (requested.pathname !== new URL(org.identityUrl).pathname) { // the same path on every host
    return textResponse(404, "Bad_Id");
  }
  const version = apiVersion(requested.searchParams.get("version"));
  if (version === null) return textResponse(406, "Invalid_Version");
  // `version` fills in `{version}` in every URL; without it they stay templates.
  const text = JSON.stringify(identityBody(baseUrl(request))).replaceAll(
    "{version}",
    version ?? "{version}",
  );
  return new Response(text, {
    status: 200,
    headers: {
      "content-type": "application/json;charset=UTF-8",
      "cache-control": "no-store",
    },
  });
}

/** What `version` asks for: `latest`, or a version such as `52.0`; null if it is neither, undefined if absent. */
function apiVersion(version: string | null): string | null | undefined {
  if (version === null) return undefined;
  if (version === "latest") return LATEST_API_VERSION;
  return /^\d{2}\.0$/.test(version) ? version : null;
}

/** The demo user's photo URLs, as Salesforce's `photos` (the default photo, `F` full size and `T` thumbnail, served by `profilePhoto`). */
function photos(url: string) {
  return {
    picture: `${url}${PHOTO_PATH}F`,
    thumbnail: `${url}${PHOTO_PATH}T`,
  };
}

/** Where the demo user's default photo is served, as Salesforce serves a user's without one. */
export const PHOTO_PATH = "/profilephoto/005/";

/** The identity service's `urls` (with `{version}` templates), which userinfo repeats. */
function identityUrls(url: string) {
  const data = (kind: string) => `${url}/services/data/v{version}/${kind}`;
  return {
    enterprise: `${url}/services/Soap/c/{version}/${toId18(ORG_ID)}`,
    metadata: `${url}/services/Soap/m/{version}/${toId18(ORG_ID)}`,
    partner: `${url}/services/Soap/u/{version}/${toId18(ORG_ID)}`,
    rest: data(""),
    sobjects: data("sobjects/"),
    search: data("search/"),
    query: data("query/"),
    recent: data("recent/"),
    tooling_soap: `${url}/services/Soap/T/{version}/${toId18(ORG_ID)}`,
    tooling_rest: data("tooling/"),
    profile: `${url}/${toId18(USER_ID)}`,
    feeds: data("chatter/feeds"),
    groups: data("chatter/groups"),
    users: data("chatter/users"),
    feed_items: data("chatter/feed-items"),
    feed_elements: data("chatter/feed-elements"),
    custom_domain: url,
  };
}

/** The identity service's answer, with Salesforce's fields in the order of its SDK's fixture (facts A.7); the demo user has no address or phone beyond a country. */
function identityBody(url: string) {
  return {
    id: identityUrlAt(url),
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
    photos: photos(url),
    addr_street: null,
    addr_city: null,
    addr_state: null,
    addr_country: "GB",
    addr_zip: null,
    mobile_phone: null,
    mobile_phone_verified: false,
    is_lightning_login_user: false,
    status: { created_date: null, body: null },
    urls: identityUrls(url),
    active: true,
    user_type: "STANDARD",
    language: "en_US",
    locale: "en_GB",
    utcOffset: 0,
    last_modified_date: "2026-01-01T00:00:00.000+0000",
    is_app_installed: true,
  };
}

/** GET /services/oauth2/userinfo: the OpenID Connect claims for the token's user, in the shape and order of facts A.6. */
export async function userinfo(
  org: DemoOrgState,
  request: Request,
): Promise<Response> {
  const grant = await identityGrant(org, request);
  if (grant instanceof Response) return grant;
  const base = baseUrl(request);
  const { updated_at, locale, ...claims } = userClaims(org); // the ID token's claims
  return jsonResponse(200, {
    sub: identityUrlAt(base),
    ...claims,
    photos: photos(base),
    profile: `${base}/${toId18(USER_ID)}`,
    picture: photos(base).picture,
    address: { country: "GB" },
    is_salesforce_integration_user: false,
    urls: identityUrls(base),
    active: true,
    user_type: "STANDARD",
    language: "en_US",
    locale,
    utcOffset: 0,
    updated_at,
    is_app_installed: true,
  });
}

/** A default profile photo: a circle with the user's initials, as SVG that runs nothing. */
const PHOTO_SVG =
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><circle cx="32" cy="32" r="32" fill="#0b5cab"/><text x="32" y="41" font-family="sans-serif" font-size="24" fill="#fff" text-anchor="middle">DL</text></svg>`;

/** GET /profilephoto/005/F and /T: the demo user's default photo (Salesforce serves one for users who set none). */
export async function profilePhoto(
  _org: DemoOrgState,
  request: Request,
): Promise<Response> {
  await request.body?.cancel();
  return new Response(PHOTO_SVG, {
    status: 200,
    headers: {
      "content-type": "image/svg+xml",
      "content-security-policy":
        "default-src 'none'; style-src 'unsafe-inline'",
      "cache-control": "max-age=3600",
    },
  });
}
