/**
 * The demo org's identity endpoints: the identity URL (`/id/<org>/<user>`)
 * and OpenID Connect's userinfo, both behind a Bearer token.
 *
 * @module
 */

import { jsonResponse, textResponse } from "./pages.ts";
import {
  bearerGrant,
  type DemoOrgState,
  DISPLAY_NAME,
  ORG_ID,
  toId18,
  USER_ID,
  USERNAME,
} from "./state.ts";

/** GET /id/<org id>/<user id>: who the token's user is, and where the APIs are. */
export async function identity(
  org: DemoOrgState,
  request: Request,
): Promise<Response> {
  await request.body?.cancel();
  const grant = bearerGrant(org, request);
  if (!grant) return textResponse(401, "Bad_OAuth_Token");
  if (!grant.scopes.some((s) => s === "id" || s === "api")) {
    return textResponse(403, "Insufficient_Scope");
  }
  const { url, identityUrl } = org;
  if (new URL(request.url).pathname !== new URL(identityUrl).pathname) {
    return textResponse(404, "Bad_Id");
  }
  const data = (kind: string) => `${url}/services/data/v{version}/${kind}`;
  return jsonResponse(200, {
    id: identityUrl,
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
    photos: {
      picture: `${url}/img/profile.png`,
      thumbnail: `${url}/img/thumb.png`,
    },
    urls: {
      enterprise: `${url}/services/Soap/c/{version}/${ORG_ID}`,
      partner: `${url}/services/Soap/u/{version}/${ORG_ID}`,
      rest: data(""),
      sobjects: data("sobjects/"),
      search: data("search/"),
      query: data("query/"),
      profile: `${url}/${toId18(USER_ID)}`,
      custom_domain: url,
    },
    active: true,
    user_type: "STANDARD",
    language: "en_US",
    locale: "en_GB",
    utcOffset: 0,
    last_modified_date: "2026-01-01T00:00:00.000+0000",
    is_app_installed: true,
  });
}

/** GET /services/oauth2/userinfo: the OpenID Connect claims for the token's user. */
export async function userinfo(
  org: DemoOrgState,
  request: Request,
): Promise<Response> {
  await request.body?.cancel();
  if (!bearerGrant(org, request)) return textResponse(401, "Bad_OAuth_Token");
  return jsonResponse(200, {
    sub: org.identityUrl,
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
    active: true,
    user_type: "STANDARD",
    language: "en_US",
    locale: "en_GB",
    utcOffset: 0,
    is_app_installed: true,
  });
}
