/**
 * Signing in to the demo org: a session cookie, the sign-in form's answer
 * (`POST /login`), and the error page Salesforce shows after sign-in
 * (`RemoteAccessErrorPage`) for errors it does not send to the client.
 *
 * @module
 */

import { randomBase64url } from "../pkce.ts";
import { errorPage, signInFailedPage } from "./pages.ts";
import { baseUrl, type DemoOrgState, type Session, USERNAME } from "./state.ts";

/** Where the org shows errors it does not redirect to the client, as Salesforce does for `invalid_scope`. */
export const ERROR_PAGE_PATH = "/setup/secur/RemoteAccessErrorPage.apexp";

/** The session cookie's name; it carries the port, since browsers share cookies across ports of one host. */
export function sessionCookieName(org: DemoOrgState): string {
  return `demo_org_sid_${new URL(org.url).port}`;
}

/** The signed-in session a request's cookie names, if any. */
export function findSession(
  org: DemoOrgState,
  request: Request,
): Session | undefined {
  const name = sessionCookieName(org);
  for (const part of (request.headers.get("cookie") ?? "").split(";")) {
    const [key, value] = part.trim().split("=");
    if (key === name && org.sessions.has(value)) return org.sessions.get(value);
  }
}

/** POST /login: any password signs in as the demo user; then back to the authorize request that asked. */
export async function signIn(
  org: DemoOrgState,
  request: Request,
): Promise<Response> {
  const form = new URLSearchParams(await request.text());
  const startUrl = form.get("startURL") ?? "";
  // Only back to our own authorize endpoint: never an open redirect.
  if (!startUrl.startsWith("/services/oauth2/authorize?")) {
    return signInFailedPage();
  }
  return new Response(null, {
    status: 302,
    headers: {
      location: new URL(startUrl, baseUrl(request)).href,
      "set-cookie": startSession(org, form.get("username") || USERNAME),
      "cache-control": "no-store",
    },
  });
}

/** Signs a browser in: a new session, and the Set-Cookie header that carries it (the sign-in form and the front door both use it). */
export function startSession(org: DemoOrgState, username: string): string {
  const session: Session = {
    id: randomBase64url(32),
    username,
    approved: new Set(),
  };
  org.sessions.set(session.id, session);
  return `${
    sessionCookieName(org)
  }=${session.id}; Path=/; HttpOnly; SameSite=Lax`;
}

/** GET RemoteAccessErrorPage.apexp: the error, and what to do, on the org's own page. */
export function remoteAccessError(
  _org: DemoOrgState,
  request: Request,
): Response {
  const query = new URL(request.url).searchParams;
  return errorPage(
    query.get("error") ?? "unknown_error",
    query.get("error_description") ?? "",
  );
}
