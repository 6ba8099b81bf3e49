/**
 * A local stand-in for a Salesforce org's OAuth 2.0 endpoints, for offline
 * demos, workshops and tests. It listens on 127.0.0.1 only.
 *
 * Run it alone and point `main.ts` at it:
 *
 * ```sh
 * deno run -A demo_org.ts --port 8080
 * deno run -A main.ts --instance-url http://127.0.0.1:8080 --client-id <printed id>
 * ```
 *
 * or let `deno run -A main.ts --demo` start it in-process.
 *
 * It follows `shared/salesforce-oauth-facts.md`: Salesforce's codes, texts and
 * shapes where they are known, RFC 6749 and RFC 7636 where they are not.
 * `ROUTES` lists every endpoint; each is a small handler in `demo_org/`
 * over the org's state (`demo_org/state.ts`).
 *
 * @module
 */

import {
  closeServer,
  DEFAULT_REDIRECT_URI,
  fetchDirectToLoopback,
  isLoopbackAuthority,
  terminalSafe,
} from "./main.ts";
import {
  identity,
  PHOTO_PATH,
  profilePhoto,
  userinfo,
} from "./demo_org/identity.ts";
import {
  MAX_LOGGED_PATH,
  MAX_RECEIVED,
  pushCapped,
} from "./demo_org/limits.ts";
import {
  authorize,
  decide,
  discovery,
  introspect,
  revoke,
  token,
} from "./demo_org/oauth.ts";
import {
  ERROR_PAGE_PATH,
  remoteAccessError,
  signIn,
} from "./demo_org/sign_in.ts";
import { keys } from "./demo_org/id_token.ts";
import {
  FRONT_DOOR_PATH,
  frontDoor,
  singleAccess,
} from "./demo_org/front_door.ts";
import { homePage } from "./demo_org/pages.ts";
import {
  createOrgState,
  DEMO_SCOPES,
  type DemoClient,
  type DemoOrgOptions,
  type DemoOrgState,
  type ErrorPageRequest,
} from "./demo_org/state.ts";

export {
  CODE_LIFETIME_MS,
  DEMO_CLIENT_ID,
  DEMO_SCOPES,
  LATEST_API_VERSION,
  signIdentity,
  toId18,
} from "./demo_org/state.ts";
export type { DemoClient, DemoOrgOptions, DemoOrgState, ErrorPageRequest };

/** An endpoint: what the org does with one request. */
type Handler = (
  org: DemoOrgState,
  request: Request,
) => Response | Promise<Response>;

/** Every endpoint, as `METHOD /path`; identity URLs (`/id/...`) and the REST API (`/services/...`) are matched by prefix. */
export const ROUTES: Record<string, Handler> = {
  "GET /": homePage,
  "GET /.well-known/openid-configuration": discovery,
  "GET /id/keys": keys,
  "GET /services/oauth2/authorize": authorize,
  "POST /services/oauth2/authorize": decide,
  "POST /login": signIn,
  [`GET ${ERROR_PAGE_PATH}`]: remoteAccessError,
  "POST /services/oauth2/token": token,
  "POST /services/oauth2/introspect": introspect,
  "POST /services/oauth2/revoke": revoke,
  "GET /services/oauth2/revoke": revoke,
  "GET /services/oauth2/userinfo": userinfo,
  "POST /services/oauth2/userinfo": userinfo,
  [`GET ${PHOTO_PATH}F`]: profilePhoto,
  [`GET ${PHOTO_PATH}T`]: profilePhoto,
  "GET /services/oauth2/singleaccess": singleAccess,
  "POST /services/oauth2/singleaccess": singleAccess,
  [`GET ${FRONT_DOOR_PATH}`]: frontDoor,
};

/** A demo org: its state, and the function that answers its requests. */
export interface DemoOrg extends DemoOrgState {
  handle(request: Request): Promise<Response>;
}

/** A running demo org. */
export interface ServedDemoOrg extends DemoOrg {
  /** The loopback addresses it listens on. */
  addresses: string[];
  close(): Promise<void>;
}

/** Makes a demo org at `url` without a socket: tests call `handle(new Request(...))`. */
export function createDemoOrg(
  url: string,
  options: DemoOrgOptions = {},
): DemoOrg {
  const org = createOrgState(url, options);
  // The state itself, not a copy: handlers and callers must see one org.
  return Object.assign(org, {
    handle: (request: Request) => route(org, request, options.observe),
  });
}

/** The REST API, loaded on its first request: a walkthrough never calls it, and its records and SOQL are most of the org's code. */
async function restApi(
  org: DemoOrgState,
  request: Request,
): Promise<Response> {
  const { rest } = await import("./demo_org/rest.ts");
  return await rest(org, request);
}

/** The routes a browser takes through the org: what `observe` is told of. */
const FRONT_CHANNEL = new Set([
  "GET /services/oauth2/authorize",
  "POST /services/oauth2/authorize",
  "POST /login",
  `GET ${ERROR_PAGE_PATH}`,
]);

/** Finds the handler for a request, and records the request (the latest MAX_RECEIVED; a refused one leaves nothing behind). */
async function route(
  org: DemoOrgState,
  request: Request,
  observe?: DemoOrgOptions["observe"],
): Promise<Response> {
  const address = new URL(request.url);
  if (!isLoopbackAuthority(address.host, Number(new URL(org.url).port))) {
    await request.body?.cancel(); // DNS rebinding: a page on another name that resolves here
    return new Response("Misdirected request", { status: 421 });
  }
  const sent = `${request.method} ${address.pathname}`; // recorded as it was sent
  pushCapped(org.received, MAX_RECEIVED, sent.slice(0, MAX_LOGGED_PATH));
  if (address.pathname.includes("//")) {
    // A client that keeps its instance URL with a trailing slash asks for
    // //services/...: one slash, as a working org must read it (facts L).
    address.pathname = address.pathname.replace(/\/{2,}/g, "/");
    // A new request, not `new Request(address, request)`: copying the signal
    // would put Deno.serve's request.signal into its legacy mode.
    const { method, headers, body } = request;
    request = new Request(address, { method, headers, body });
  }
  const { pathname } = address;
  const key = `${request.method} ${pathname}`;
  const handler = Object.hasOwn(ROUTES, key)
    ? ROUTES[key]
    : pathname.startsWith("/id/") && request.method === "GET"
    ? identity
    : pathname.startsWith("/services/")
    ? restApi // the data API, and Salesforce's JSON 404 for the rest
    : undefined;
  if (handler && observe && FRONT_CHANNEL.has(key)) {
    // Not clone() (Deno.serve warns of it): the body split in two, each read as capped as ever.
    const { url, method, headers } = request;
    const [body, seen] = request.body?.tee() ?? [null, null];
    const copy = (stream: ReadableStream | null) =>
      new Request(url, { method, headers, body: stream });
    const response = await handler(org, copy(body));
    await observe(copy(seen), response.clone());
    return response;
  }
  if (handler) return await handler(org, request);
  await request.body?.cancel();
  return new Response("Not found", { status: 404 });
}

/** Starts a demo org on 127.0.0.1 and, where the machine has it, [::1] at the same port; it is listening when this returns. */
export function startDemoOrg(options: DemoOrgOptions = {}): ServedDemoOrg {
  const handle = (request: Request) => org.handle(request); // no request arrives before `org` is set
  const servers = [
    Deno.serve(
      { hostname: "127.0.0.1", port: options.port ?? 0, onListen() {} },
      handle,
    ),
  ];
  const { port } = servers[0].addr;
  try {
    servers.push(Deno.serve({ hostname: "::1", port, onListen() {} }, handle));
  } catch {
    // No IPv6 loopback here, or the port is taken there: 127.0.0.1 alone.
  }
  const org = createDemoOrg(`http://127.0.0.1:${port}`, options);
  return Object.assign(org, {
    addresses: servers.map((server) => server.addr.hostname),
    async close() {
      await Promise.all(servers.map(closeServer));
      await org.signingKeys?.catch(() => {}); // no key generation left running
    },
  });
}

/** A browser's fetch, as far as the demo user needs one: it keeps cookies and follows no redirects. */
function browserSession() {
  const cookies = new Map<string, string>();
  return async (url: string | URL, form?: Record<string, string>) => {
    // Straight to loopback, as a browser goes: never through a proxy variable's proxy.
    const response = await fetchDirectToLoopback(url, {
      method: form ? "POST" : "GET",
      body: form ? new URLSearchParams(form) : undefined,
      headers: cookies.size > 0 // no empty Cookie header, as a browser sends none
        ? { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join("; ") }
        : {},
      redirect: "manual",
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const at = pair.indexOf("=");
      cookies.set(pair.slice(0, at), pair.slice(at + 1));
    }
    return { response, html: await response.text() };
  };
}

/** An OAuth error the org showed on its own page (`invalid_scope`, say), met by the demo user. */
export class DemoUserError extends Error {
  constructor(readonly error: string, readonly error_description: string) {
    super(`${error}: ${error_description}`);
    this.name = "DemoUserError";
  }
}

/**
 * Plays the demo user, as a browser would: opens `authorizationUrl`, signs
 * in (any password), answers the consent page with `decision`, and follows
 * the redirect to the callback. Keeps the org's session cookie as a browser
 * does. Resolves with the callback's status; an error on the org's own page
 * rejects with a DemoUserError.
 */
export async function playDemoUser(
  authorizationUrl: string,
  decision: "allow" | "deny" = "allow",
): Promise<number> {
  const callback = await fetchDirectToLoopback(
    await signInAndDecide(authorizationUrl, decision),
  );
  await callback.body?.cancel();
  return callback.status;
}

/** Signs in and answers the consent page as the demo user; resolves with where the org sends the browser back to the app, without going there. */
export async function signInAndDecide(
  authorizationUrl: string,
  decision: "allow" | "deny" = "allow",
): Promise<URL> {
  const org = new URL(authorizationUrl).origin;
  const go = browserSession();
  const unescape = (text?: string) =>
    text?.replace(/&#(\d+);/g, (_, code) => String.fromCharCode(Number(code)));
  const field = (html: string, name: string) =>
    unescape(
      new RegExp(`name="${name}"[^>]*? value="([^"]*)"`).exec(html)?.[1],
    );

  let page = await go(authorizationUrl);
  for (let hop = 0; hop < 8; hop++) {
    const { response, html } = page;
    const location = response.headers.get("location");
    if (location) {
      const next = new URL(location, response.url || org);
      if (next.pathname.endsWith("RemoteAccessErrorPage.apexp")) {
        throw new DemoUserError(
          next.searchParams.get("error") ?? "unknown_error",
          next.searchParams.get("error_description") ?? "",
        );
      }
      if (next.origin !== org) return next; // back to the app
      page = await go(next);
    } else if (html.includes('action="/login"')) {
      page = await go(new URL("/login", org), {
        username: field(html, "username") ?? "",
        password: "demo",
        startURL: field(html, "startURL") ?? "",
      });
    } else if (field(html, "consent")) {
      page = await go(new URL("/services/oauth2/authorize", org), {
        consent: field(html, "consent")!,
        decision,
      });
    } else {
      break;
    }
  }
  throw new Error(
    `Cannot sign in as the demo user: the org answered ${page.response.status} "${
      page.html.replace(/\s+/g, " ").slice(0, 120)
    }"`,
  );
}

const USAGE =
  `Usage: deno run -A demo_org.ts [options]   (or: deno task demo-org)

A local stand-in for a Salesforce org's OAuth endpoints, on 127.0.0.1.

Options:
  --port N               the port (default 8080; 0 picks a free one)
  --redirect-uri URI     the demo app's Callback URL (default ${DEFAULT_REDIRECT_URI})
  --client-id ID         the demo app's consumer key
  --client-secret S      a secret of your own; the app then requires it
  --app-scopes "A B"     the demo app's scopes (default ${
    DEMO_SCOPES.join(" ")
  })
  --rotate-refresh-tokens
                         the demo app rotates refresh tokens: each refresh returns
                         a new one and retires the old; presenting a retired one
                         revokes the whole login
  --jwt-access-tokens    the demo app issues JWT-based access tokens
  --help                 this text

Like Salesforce, it keeps at most five approvals per user per app: a sixth
login revokes the oldest one's refresh token. It forgets what it issued:
sessions and access tokens after 2 hours, codes after 15 minutes.`;

/** The standalone org's options from its command line; null after --help. Bad usage exits 2. */
async function readCommandLine(
  args: string[],
): Promise<DemoOrgOptions | null> {
  const fail = (message: string) => {
    console.error(`error: ${terminalSafe(message)}\n${USAGE}`);
    Deno.exit(2);
  };
  // Loaded here, not at the top: the walkthrough imports this file for --demo, and node:util takes milliseconds to load.
  const { parseArgs } = await import("node:util");
  let values;
  try {
    values = parseArgs({
      args,
      options: {
        port: { type: "string", default: "8080" },
        "redirect-uri": { type: "string" },
        "client-id": { type: "string" },
        "client-secret": { type: "string" },
        "app-scopes": { type: "string" },
        "rotate-refresh-tokens": { type: "boolean" },
        "jwt-access-tokens": { type: "boolean" },
        help: { type: "boolean" },
      },
    }).values;
  } catch (error) {
    return fail(`Cannot read the command line: ${(error as Error).message}`);
  }
  if (values.help) {
    console.log(USAGE);
    return null;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    return fail(`Cannot use --port: not a port number "${values.port}"`);
  }
  return {
    port,
    redirectUri: values["redirect-uri"],
    clientId: values["client-id"],
    clientSecret: values["client-secret"],
    appScopes: values["app-scopes"]?.trim().split(/\s+/),
    rotateRefreshTokens: values["rotate-refresh-tokens"],
    jwtAccessTokens: values["jwt-access-tokens"],
  };
}

/** The app settings that differ from Salesforce's defaults, as a line of the banner. */
function appSettings(client: DemoClient): string {
  const on = [
    client.rotate_refresh_tokens ? "refresh token rotation" : "",
    client.jwt_access_tokens ? "JWT-based access tokens" : "",
  ].filter(Boolean);
  return on.length ? `\n  settings:       ${on.join(", ")}` : "";
}

/** Runs the demo org from the command line until Ctrl+C. */
async function serveFromCommandLine(args: string[]) {
  const options = await readCommandLine(args);
  if (!options) return;
  let org: ServedDemoOrg;
  try {
    org = startDemoOrg(options);
  } catch (error) {
    if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    console.error(
      `error: Cannot start the demo org: port ${options.port} on 127.0.0.1 is in use; pick another with --port N (0 picks a free one)`,
    );
    Deno.exit(1);
  }
  const { client } = org;
  const also = org.addresses.includes("::1")
    ? ` and http://[::1]:${new URL(org.url).port}`
    : "";
  console.log(`Demo org listening on ${org.url}${also} (Ctrl+C to stop)
  client_id:      ${client.client_id}
  client_secret:  ${client.client_secret}${
    client.secret_required ? "" : " (optional: this app does not require it)"
  }
  callback URL:   ${client.redirect_uris[0]}
  scopes:         ${client.scopes.join(" ")}${appSettings(client)}
  also:           the Salesforce CLI's app (PlatformCLI, http://localhost:1717/OauthRedirect)

Run the walkthrough against it:
  deno run -A main.ts --instance-url ${org.url} --client-id ${client.client_id}`);
}

if (import.meta.main) serveFromCommandLine(Deno.args);
