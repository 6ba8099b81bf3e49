/**
 * Signing in to the demo org: a session cookie, the sign-in form's answer
 * (`POST /login`), and the error page Salesforce shows after sign-in
 * (`RemoteAccessErrorPage`) for errors it does not send to the client.
 *
 * @module
 */

import { errorPage, signInFailedPage, tooLargePage } from "./pages.ts";
import { MAX_USERNAME_LENGTH, readForm } from "./limits.ts";
import {
  addSession,
  baseUrl,
  type DemoOrgState,
  liveSession,
  type Session,
  USERNAME,
} from "./state.ts";

/** Where the org shows errors it does not redirect to the client, as Salesforce does for `invalid_scope`. */
export const ERROR_PAGE_PATH = "/setup/secur/RemoteAccessErrorPage.apexp";

/** The session cookie's name; it carries the port, since browsers share cookies across ports of one host. */
export function sessionCookieName(org: DemoOrgState): string {
  return `demo_org_sid_${new URL(org.url).port}`;
}

/** The Set-Cookie header that carries a session: the sign-in form and the front door sign browsers in alike. */
export function sessionCookie(org: DemoOrgState, session: Session): string {
  return `${
    sessionCookieName(org)
  }=${session.id}; Path=/; HttpOnly; SameSite=Lax`;
}

/** The signed-in session a request's cookie names, if any. */
export function findSession(
  org: DemoOrgState,
  request: Request,
): Session | undefined {
  const name = sessionCookieName(org);
  for (const part of (request.headers.get("cookie") ?? "").split(";")) {
    const [key, value] = part.trim().split("=");
    const session = key === name ? liveSession(org, value) : undefined;
    if (session) return session;
  }
}

/** POST /login: any password signs in as the demo user; then back to the authorize request that asked. */
export async function signIn(
  org: DemoOrgState,
  request: Request,
): Promise<Response> {
  const form = await readForm(request);
  if (!form) return tooLargePage();
  const startUrl = form.get("startURL") ?? "";
  // Only back to our own authorize endpoint: never an open redirect.
  if (!startUrl.startsWith("/services/oauth2/authorize?")) {
    return signInFailedPage("Start the flow again from the terminal.");
  }
  const username = form.get("username") || USERNAME;
  if (username.length > MAX_USERNAME_LENGTH) {
    return signInFailedPage(
      `A Salesforce username has at most ${MAX_USERNAME_LENGTH} characters: go back and use the demo user's, ${USERNAME}.`,
    );
  }
  const session: Session = addSession(org, username);
  return new Response(null, {
    status: 302,
    headers: {
      location: new URL(startUrl, baseUrl(request)).href,
      "set-cookie": sessionCookie(org, session),
      "cache-control": "no-store",
    },
  });
}

/** GET RemoteAccessErrorPage.apexp: the error, and what to do, on the org's own page; it says whether an in-process walkthrough has been told. */
export function remoteAccessError(
  org: DemoOrgState,
  request: Request,
): Response {
  const query = new URL(request.url).searchParams;
  return errorPage(
    query.get("error") ?? "unknown_error",
    query.get("error_description") ?? "",
    { appScopes: org.client.scopes, told: org.onErrorPage !== undefined },
  );
}
