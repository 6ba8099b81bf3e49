/**
 * # OAuth 2.0 Web Server Flow with PKCE, against a Salesforce org
 *
 * Walks through the whole authorization-code flow and prints each step as
 * labelled JSON: the PKCE pair, the authorization URL, the browser, the local
 * callback server, the code, the token request and response, and the tokens.
 *
 * ```sh
 * deno run -A main.ts --demo          # offline, against a local demo org
 * deno run -A main.ts --instance-url https://yourdomain.my.salesforce.com \
 *   --client-id 3MVG9...              # against a real org (or use .env)
 * deno run -A main.ts --help          # every flag
 * ```
 *
 * Read it top to bottom: `runFlow` lists the steps, and each `// Step N`
 * section below is one step of the guide, in order; the machinery the steps
 * share (output, errors, configuration) comes after them.
 *
 * Specs: RFC 6749 (OAuth 2.0), RFC 7636 (PKCE), RFC 8252 (native apps and
 * loopback redirects), RFC 9700 (security best practice).
 *
 * @module
 */

import { parseArgs, parseEnv } from "node:util";
import { generatePkce, type Pkce, randomBase64url } from "./pkce.ts";

/** Exit codes: the flow finished, failed, was misconfigured, or was interrupted. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/** The redirect URI Salesforce apps register for this walkthrough. */
export const DEFAULT_REDIRECT_URI = "http://localhost:8000/callback";
const DEFAULT_TIMEOUT_SECONDS = 300;
/** How long the org may take to answer one request. */
const FETCH_TIMEOUT_MS = 30_000;
/** A callback query longer than this is refused. */
const MAX_CALLBACK_QUERY = 4096;
/** How long a browser launcher may run before we stop waiting for it. */
const LAUNCHER_GRACE_MS = 3_000;

const USAGE = `Usage: deno run -A main.ts [options]

Walks through the OAuth 2.0 Web Server Flow with PKCE against a Salesforce org.

Options (flags win over environment variables, which win over .env):
  --instance-url URL     SF_INSTANCE_URL    the org: My Domain URL, https://login.salesforce.com
                                            or https://test.salesforce.com
  --client-id ID         SF_CLIENT_ID       the app's consumer key
  --client-secret S      SF_CLIENT_SECRET   the consumer secret, if the app requires one
  --redirect-uri URI     SF_REDIRECT_URI    default ${DEFAULT_REDIRECT_URI}
  --scope "A B"          SF_SCOPE           scopes to ask for (default: the app's own)
  --timeout SECONDS                         how long to wait for the callback (default ${DEFAULT_TIMEOUT_SECONDS})
  --demo                                    use a local demo org: no account, no network
  --no-browser                              print the URL and open nothing
  --no-identity                             skip step 9 (the identity URL)
  --refresh                                 step 10: use the refresh token
  --revoke                                  step 11: revoke the tokens, then show they are dead
  --save FILE                               write the tokens, unmasked, to a new FILE (mode 0600)
  --pause                                   workshop mode: explain each step, wait for Enter (q quits)
  --json                                    one JSON object per line
  --show-secrets                            print tokens unmasked (never the client secret)
  --help                                    this text

Exit codes: 0 done, 1 the flow failed, 2 bad usage or configuration, 130 interrupted.`;

// ---------------------------------------------------------------------------
// The walkthrough: steps 1 to 11, in the guide's order
// ---------------------------------------------------------------------------

/** Steps 1 to 11, in the guide's order; with --pause, each is introduced first. */
async function runFlow(config: Config, signal: AbortSignal) {
  await pause(1, signal);
  startFlow(config);
  await pause(2, signal);
  const pkce = await createPkce();
  await pause(3, signal);
  const { url, state } = createAuthorizationRequest(config, pkce);
  await pause(4, signal);
  const callback = startCallbackServer(config, state);
  const browser = await openBrowserOrPlayDemoUser(url, config);
  // Step 5 comes back from the browser, pasted, or from the demo user.
  const code = await waitForAuthorizationCode(
    callback,
    state,
    config,
    signal,
    browser,
  );
  await pause(6, signal);
  const request = prepareTokenRequest(config, code, pkce);
  await pause(7, signal);
  const response = await requestToken(request, config, signal);
  await pause(8, signal);
  let tokens = completeFlow(response);
  if (config.save) await saveTokens(config.save, tokens, config.revoke);
  if (config.identity) {
    await pause(9, signal);
    await getIdentity(tokens, signal);
  }
  if (config.refresh) {
    await pause(10, signal);
    tokens = await refreshTokens(tokens, config, signal);
  }
  if (config.revoke) {
    await pause(11, signal);
    await revokeTokens(tokens, config, signal);
  }
}

// ---------------------------------------------------------------------------
// Step 1: OAuth Flow Started
// ---------------------------------------------------------------------------

function startFlow(config: Config) {
  logStep(1, "OAuth Flow Started", {
    instance: config.instanceUrl,
    client_id: config.clientId,
    redirect_uri: config.redirectUri,
  });
}

// ---------------------------------------------------------------------------
// Step 2: PKCE Generated
// ---------------------------------------------------------------------------

async function createPkce(): Promise<Pkce> {
  const pkce = await generatePkce();
  logStep(2, "PKCE Generated", { ...pkce });
  return pkce;
}

// ---------------------------------------------------------------------------
// Step 3: Authorization URL Built
// ---------------------------------------------------------------------------

/** The query of the authorization request. @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1 */
export interface AuthorizeQuery {
  client_id: string;
  redirect_uri: string;
  response_type: "code";
  code_challenge: string;
  code_challenge_method: "S256";
  state: string;
  scope?: string;
}

/** Builds `/services/oauth2/authorize?…`, each parameter encoded once. @see https://www.rfc-editor.org/rfc/rfc7636#section-4.3 */
export function buildAuthorizeUrl(
  instanceUrl: string,
  query: AuthorizeQuery,
): URL {
  const url = new URL("/services/oauth2/authorize", instanceUrl);
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) url.searchParams.set(key, value);
  }
  return url;
}

function createAuthorizationRequest(config: Config, pkce: Pkce) {
  const query: AuthorizeQuery = {
    client_id: config.clientId,
    redirect_uri: config.redirectUri,
    response_type: "code",
    code_challenge: pkce.code_challenge,
    code_challenge_method: pkce.challenge_method,
    // 32 random bytes, checked on the way back: CSRF protection (RFC 9700 §2.1).
    state: randomBase64url(32),
    ...(config.scope ? { scope: config.scope } : {}),
  };
  const url = buildAuthorizeUrl(config.instanceUrl, query);
  logStep(3, "Authorization URL Built", {
    authorization_endpoint: `${url.origin}${url.pathname}`,
    query,
    authorization_url: url.href,
  });
  return { url, state: query.state };
}

// ---------------------------------------------------------------------------
// Step 4: Callback Server Started
// ---------------------------------------------------------------------------

/** What came back on the redirect URI. */
export type CallbackOutcome =
  | { kind: "code"; code: string }
  | { kind: "error"; error: string; error_description: string }
  | { kind: "rejected"; reason: string };

/** Validates a callback's query: one `code` or `error`, and the `state` we sent. @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2 */
export function readCallback(
  params: URLSearchParams,
  expectedState: string,
): CallbackOutcome {
  if (params.toString().length > MAX_CALLBACK_QUERY) {
    return { kind: "rejected", reason: "the query is too long" };
  }
  for (const name of ["code", "state", "error"]) {
    if (params.getAll(name).length > 1) {
      return { kind: "rejected", reason: `${name} appears more than once` };
    }
  }
  const state = params.get("state");
  if (state === null) {
    return { kind: "rejected", reason: "it has no state" };
  }
  if (state !== expectedState) {
    return { kind: "rejected", reason: "its state does not match ours" };
  }
  const error = params.get("error");
  if (error !== null) {
    return {
      kind: "error",
      error,
      error_description: params.get("error_description") ?? "",
    };
  }
  const code = params.get("code");
  if (!code) return { kind: "rejected", reason: "it has no code" };
  return { kind: "code", code };
}

interface CallbackServer {
  /** Settles with the first valid callback. */
  outcome: Promise<Exclude<CallbackOutcome, { kind: "rejected" }>>;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 at the redirect URI's port. @see https://www.rfc-editor.org/rfc/rfc8252#section-7.3 */
function startCallbackServer(config: Config, state: string): CallbackServer {
  const redirectUri = new URL(config.redirectUri);
  const port = Number(redirectUri.port || 80);
  const { promise: outcome, resolve } = Promise.withResolvers<
    Exclude<CallbackOutcome, { kind: "rejected" }>
  >();
  let settled = false;

  function handle(request: Request): Response {
    const url = new URL(request.url);
    if (url.pathname !== redirectUri.pathname) {
      return new Response("Not found", { status: 404 });
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("Method not allowed", {
        status: 405,
        headers: { allow: "GET, HEAD" },
      });
    }
    if (settled) {
      return resultPage(
        410,
        "Already done",
        "This sign-in is already complete. Return to the terminal.",
      );
    }
    const result = readCallback(url.searchParams, state);
    if (result.kind === "rejected") {
      warn(`ignored a callback because ${result.reason}; still waiting`);
      return resultPage(
        400,
        "Callback not accepted",
        `This callback was not accepted: ${result.reason}. The terminal is still waiting; start the sign-in again from the URL it printed.`,
      );
    }
    settled = true;
    resolve(result);
    return result.kind === "code"
      ? resultPage(
        200,
        "Authorization code received",
        "The terminal now exchanges the code for tokens (steps 6 to 8). You can close this tab and return to the terminal.",
      )
      : resultPage(
        400,
        "Sign-in failed",
        `${result.error}: ${result.error_description}`,
        hintFor(result.error, result.error_description),
      );
  }

  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve(
      { hostname: "127.0.0.1", port, onListen() {} },
      handle,
    );
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new FlowError(
        "port_in_use",
        `Cannot start the callback server: port ${port} on 127.0.0.1 is in use`,
        `Stop whatever uses port ${port}, or pick another port with --redirect-uri http://localhost:PORT${redirectUri.pathname}; ` +
          "the app's Callback URL must then change to the same URL.",
        EXIT_FAILED,
        { cause: error },
      );
    }
    throw error;
  }
  logStep(4, "Callback Server Started", {
    hostname: redirectUri.hostname,
    port,
    path: redirectUri.pathname,
    listening_on: `http://${redirectUri.host}${redirectUri.pathname}`,
    bound_address: server.addr.hostname, // what the socket really bound
  });
  return { outcome, close: () => server.shutdown() };
}

/** The small page the browser shows after the callback: no code, no token. */
function resultPage(
  status: number,
  title: string,
  message: string,
  hint?: string,
): Response {
  const escape = (text: string) =>
    text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const ok = status === 200;
  const [background, accent] = ok
    ? ["#eaf7ee", "#2e844a"]
    : ["#fdf0ef", "#ba0517"];
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)}</title>
<style>
  :root { color-scheme: light dark; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: ${background}; color: #1d2733; }
  main { box-sizing: border-box; width: min(30rem, 100% - 2rem); padding: 1.75rem; background: #fff; border-radius: 0.75rem;
         border-top: 0.4rem solid ${accent}; box-shadow: 0 2px 12px #0002; }
  h1 { margin: 0 0 0.75rem; font-size: 1.4rem; }
  p { line-height: 1.5; overflow-wrap: anywhere; }
  .hint { font-size: 0.9rem; color: #444; }
  @media (prefers-color-scheme: dark) { body { background: #101820; color: #e8eef4; } main { background: #1b2631; } .hint { color: #b8c4d0; } }
</style></head>
<body><main><h1>${ok ? "✓ " : ""}${escape(title)}</h1><p>${
    escape(message)
  }</p>${
    hint ? `<p class="hint">${escape(hint)}</p>` : ""
  }</main></body></html>`;
  return new Response(html, {
    status,
    headers: {
      "content-type": "text/html;charset=UTF-8",
      "content-security-policy":
        "default-src 'none'; style-src 'unsafe-inline'",
      "cache-control": "no-store",
      "referrer-policy": "no-referrer",
      connection: "close",
    },
  });
}

// ---------------------------------------------------------------------------
// The browser: open the URL, or play the demo user
// ---------------------------------------------------------------------------

/** The launcher commands to try, in order, for an OS. @see https://www.rfc-editor.org/rfc/rfc8252#section-8.12 */
export function browserCommands(
  os: typeof Deno.build.os,
  url: string,
  isWsl = false,
): string[][] {
  // rundll32 passes the URL untouched; `cmd /c start` would cut it at the first "&".
  const windows = ["rundll32", "url.dll,FileProtocolHandler", url];
  if (os === "windows") return [windows];
  if (os === "darwin") return [["open", url]];
  if (isWsl) return [["wslview", url], ["rundll32.exe", ...windows.slice(1)]];
  return [["xdg-open", url]];
}

/** Tries each launcher; true when one started (or is still starting) the browser. */
async function launchBrowser(url: string): Promise<boolean> {
  const isWsl = Deno.build.os === "linux" &&
    readEnv("WSL_DISTRO_NAME") !== undefined;
  for (const [command, ...args] of browserCommands(Deno.build.os, url, isWsl)) {
    try {
      const child = new Deno.Command(command, {
        args,
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const status = await Promise.race([
        child.status,
        new Promise<null>((resolve) => {
          timer = setTimeout(() => resolve(null), LAUNCHER_GRACE_MS);
        }),
      ]);
      clearTimeout(timer);
      if (status === null) {
        child.unref(); // a launcher that stays in the foreground must not keep us alive
        return true;
      }
      if (status.success) return true;
    } catch {
      // missing or not permitted: try the next one
    }
  }
  return false;
}

/**
 * Opens the system browser at the authorization URL, once the callback
 * server listens. With --demo and no browser, plays the demo user instead;
 * `failure` rejects if that goes wrong, and never settles otherwise.
 */
async function openBrowserOrPlayDemoUser(
  url: URL,
  config: Config,
): Promise<{ failure?: Promise<never>; human: boolean }> {
  const opened = config.openBrowser && await launchBrowser(url.href);
  if (config.openBrowser && !opened) {
    note("could not open a browser on this machine");
  }
  if (opened) {
    note(
      `opened the browser: sign in and click Allow; waiting for the callback… ${PASTE_TIP}`,
    );
    return { human: true };
  }
  if (config.demo) {
    note(
      "no browser: the script plays the demo user (loads the consent page and clicks Allow)",
    );
    const { playDemoUser } = await import("./demo_org.ts");
    const failure = playDemoUser(url.href).then(
      () => new Promise<never>(() => {}),
      (error) => {
        throw new FlowError(
          "demo_user_failed",
          (error as Error).message,
          "The demo org did not behave as expected: run again, or open the URL in a browser.",
        );
      },
    );
    return { failure, human: false };
  }
  note(
    `open the authorization URL (step 3) in a browser, sign in and click Allow; waiting up to ${config.timeoutSeconds} seconds… ${PASTE_TIP}`,
  );
  return { human: true };
}

// ---------------------------------------------------------------------------
// Step 5: Authorization Code Received
// ---------------------------------------------------------------------------

async function waitForAuthorizationCode(
  callback: CallbackServer,
  state: string,
  config: Config,
  signal: AbortSignal,
  browser: { failure?: Promise<never>; human: boolean },
): Promise<string> {
  const waiting = new AbortController();
  const { promise: expired, reject } = Promise.withResolvers<never>();
  const timer = setTimeout(
    () => reject(timeoutError(config)),
    config.timeoutSeconds * 1000,
  );
  const interrupted = new Promise<never>((_, fail) => {
    signal.addEventListener("abort", () => fail(signal.reason), { once: true });
  });
  let outcome;
  try {
    outcome = await Promise.race([
      callback.outcome,
      expired,
      interrupted,
      ...(browser.failure ? [browser.failure] : []),
      ...(browser.human ? [readPastedCallback(state, waiting.signal)] : []),
    ]);
  } finally {
    clearTimeout(timer);
    waiting.abort(); // stop reading pasted lines
    await callback.close(); // one callback only (RFC 8252 §8.3)
  }
  if (outcome.kind === "error") {
    throw new FlowError(
      outcome.error,
      outcome.error_description,
      hintFor(outcome.error, outcome.error_description),
    );
  }
  logStep(5, "Authorization Code Received", {
    authorization_code: outcome.code,
    state_verified: true,
  });
  return outcome.code;
}

const PASTE_TIP =
  "(Browser on another machine, or the page did not load? Paste the full URL from its address bar here and press Enter.)";

/**
 * The paste path: a URL the browser was redirected to, typed or piped on
 * standard input, gets the same checks as a callback. Never settles once
 * standard input ends or the wait is over.
 */
async function readPastedCallback(
  state: string,
  signal: AbortSignal,
): Promise<Exclude<CallbackOutcome, { kind: "rejected" }>> {
  while (true) {
    const line = await stdinLines().next(signal);
    if (line === null) return new Promise(() => {});
    if (line.trim() === "") continue;
    const url = URL.parse(line.trim());
    if (!url?.searchParams.has("code") && !url?.searchParams.has("error")) {
      warn(
        "that is not the URL the org redirected to: paste the whole address from the browser, starting http://localhost…/callback?code=…; still waiting",
      );
      continue;
    }
    const outcome = readCallback(url.searchParams, state);
    if (outcome.kind !== "rejected") return outcome;
    warn(`ignored the pasted URL because ${outcome.reason}; still waiting`);
  }
}

function timeoutError(config: Config): FlowError {
  return new FlowError(
    "timeout",
    `Cannot complete sign-in: no valid callback arrived within ${config.timeoutSeconds} seconds`,
    `Usual causes: the app's Callback URL is not exactly ${config.redirectUri} (Salesforce then shows redirect_uri_mismatch in the browser); ` +
      "the consumer key is new or mistyped (invalid_client_id; a new key can take up to 10 minutes to work); " +
      "the app requires PKCE and the request lost its code_challenge (invalid_request: missing required code challenge). " +
      "Check what the browser shows, then run again; --timeout sets the wait.",
  );
}

// ---------------------------------------------------------------------------
// Step 6: Token Request Prepared
// ---------------------------------------------------------------------------

/** The authorization code grant request. @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3 */
function prepareTokenRequest(config: Config, code: string, pkce: Pkce) {
  const endpoint = new URL("/services/oauth2/token", config.instanceUrl).href;
  const body = new URLSearchParams({
    grant_type: "authorization_code",
    code,
    client_id: config.clientId,
    redirect_uri: config.redirectUri,
    code_verifier: pkce.code_verifier,
  });
  // client_secret_post, as Salesforce's own tools do; public clients send none.
  if (config.clientSecret) body.set("client_secret", config.clientSecret);
  logStep(6, "Token Request Prepared", {
    token_endpoint: endpoint,
    payload: {
      ...Object.fromEntries(body),
      ...(config.clientSecret ? { client_secret: "********" } : {}),
    },
  });
  return { endpoint, body };
}

// ---------------------------------------------------------------------------
// Step 7: Token Response Received
// ---------------------------------------------------------------------------

/** Salesforce's token response. @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1 */
export interface TokenResponse {
  access_token: string;
  refresh_token?: string;
  signature?: string;
  scope?: string;
  instance_url: string;
  id: string;
  token_type: string;
  issued_at: string;
  [field: string]: unknown;
}

/** POSTs the token request, then validates the answer and its signature. */
async function requestToken(
  request: { endpoint: string; body: URLSearchParams },
  config: Config,
  signal: AbortSignal,
): Promise<TokenResponse> {
  const response = await postForm(request.endpoint, request.body, signal);
  const tokens = validateTokenResponse(
    await readJson(response, "token response"),
  );
  const signature = await checkSignature(tokens, config);
  logStep(7, "Token Response Received", {
    status: response.status,
    body: maskTokens(tokens),
    signature,
  });
  return tokens;
}

/** The fields the rest of the flow relies on; Salesforce sends no `expires_in`. */
const REQUIRED_TOKEN_FIELDS = [
  "access_token",
  "instance_url",
  "id",
  "token_type",
  "issued_at",
];

/** Checks the success body has what we need. @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1 */
export function validateTokenResponse(
  body: Record<string, unknown>,
): TokenResponse {
  const missing = REQUIRED_TOKEN_FIELDS.filter((key) =>
    typeof body[key] !== "string" || body[key] === ""
  );
  if (missing.length > 0) {
    throw new FlowError(
      "invalid_token_response",
      `Cannot use the token response: missing ${missing.join(", ")}`,
      "The org answered 200 without the fields of a token response: check the instance URL points at a Salesforce org.",
    );
  }
  if (String(body.token_type).toLowerCase() !== "bearer") {
    throw new FlowError(
      "invalid_token_response",
      `Cannot use the token response: token_type is not Bearer "${body.token_type}"`,
      "Salesforce always issues Bearer tokens: check the instance URL points at a Salesforce org.",
    );
  }
  for (const key of ["instance_url", "id"]) {
    const value = String(body[key]);
    const url = URL.parse(value);
    if (!url || (url.protocol !== "https:" && !isLoopbackHost(url.hostname))) {
      throw new FlowError(
        "invalid_token_response",
        `Cannot use the token response: ${key} is not an https URL "${value}"`,
        "The tokens would be sent there: refusing. Check the instance URL.",
      );
    }
  }
  return body as TokenResponse;
}

/** Verifies Salesforce's `signature`: Base64 HMAC-SHA256 of `id + issued_at`, keyed with the client secret. */
export async function verifySignature(
  tokens: Pick<TokenResponse, "id" | "issued_at" | "signature">,
  clientSecret: string,
): Promise<boolean> {
  const encoder = new TextEncoder();
  const signature = Uint8Array.fromBase64(tokens.signature ?? "");
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(clientSecret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  // crypto.subtle.verify compares in constant time.
  return await crypto.subtle.verify(
    "HMAC",
    key,
    signature,
    encoder.encode(tokens.id + tokens.issued_at),
  );
}

async function checkSignature(
  tokens: TokenResponse,
  config: Config,
): Promise<string> {
  if (!config.clientSecret) return "not checked (no client secret)";
  let valid = false;
  try {
    valid = await verifySignature(tokens, config.clientSecret);
  } catch {
    valid = false; // not Base64 at all
  }
  if (!valid) {
    throw new FlowError(
      "invalid_signature",
      `Cannot trust the token response: its signature does not match id + issued_at "${tokens.id}"`,
      "The identity URL may have been altered on the way, or the client secret is not this app's: " +
        "check SF_CLIENT_SECRET, and do not use these tokens.",
    );
  }
  return "valid";
}

// ---------------------------------------------------------------------------
// Step 8: OAuth Flow Complete
// ---------------------------------------------------------------------------

/** The token object the flow hands on. */
export interface TokenSet {
  access_token: string;
  refresh_token: string | null;
  instance_url: string;
  id_url: string;
  scope: string | null;
  issued_at: string;
  token_type: string;
}

function completeFlow(tokens: TokenResponse): TokenSet {
  const result: TokenSet = {
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token ?? null,
    instance_url: tokens.instance_url,
    id_url: tokens.id,
    scope: tokens.scope ?? null,
    issued_at: tokens.issued_at,
    token_type: tokens.token_type,
  };
  logStep(8, "OAuth Flow Complete", {
    access_token: mask(result.access_token),
    refresh_token: result.refresh_token && mask(result.refresh_token),
    instance_url: result.instance_url,
    id_url: result.id_url,
    scope: result.scope,
    issued_at: result.issued_at,
    issued_at_iso: new Date(Number(result.issued_at)).toISOString(),
  });
  return result;
}

/** Writes the tokens, unmasked, to a new file only its owner can read. */
async function saveTokens(path: string, tokens: TokenSet, revoking: boolean) {
  try {
    await Deno.writeTextFile(path, JSON.stringify(tokens, null, 2) + "\n", {
      createNew: true,
      mode: 0o600,
    });
  } catch (error) {
    throw new FlowError(
      "save_failed",
      `Cannot save the tokens: ${(error as Error).message} "${path}"`,
      "Choose a new file name in a directory you can write to (--save FILE).",
      EXIT_FAILED,
      { cause: error },
    );
  }
  note(
    `saved the tokens to ${path} (mode 0600): keep it out of version control` +
      (revoking ? "; step 11 will revoke them, so they will not work" : ""),
  );
}

// ---------------------------------------------------------------------------
// Step 9: Identity Retrieved — using the access token
// ---------------------------------------------------------------------------

async function fetchIdentity(
  tokens: TokenSet,
  signal: AbortSignal,
): Promise<Response> {
  return await send(tokens.id_url, {
    headers: {
      authorization: `Bearer ${tokens.access_token}`,
      accept: "application/json",
    },
  }, signal);
}

async function getIdentity(tokens: TokenSet, signal: AbortSignal) {
  const response = await fetchIdentity(tokens, signal);
  if (response.status === 401 || response.status === 403) {
    const text = (await response.text()).trim().slice(0, 80);
    throw new FlowError(
      "identity_refused",
      `Cannot read the identity URL: HTTP ${response.status} "${text}"`,
      "The token lacks the id (or api) scope, or it was revoked: add id to the app's scopes " +
        '(or --scope "api id refresh_token"), then run again.',
    );
  }
  const identity = await readJson(response, "identity response");
  const urls = (identity.urls ?? {}) as Record<string, unknown>;
  logStep(9, "Identity Retrieved", {
    user_id: identity.user_id,
    organization_id: identity.organization_id,
    username: identity.username,
    display_name: identity.display_name,
    rest_url: urls.rest ?? null,
  });
}

// ---------------------------------------------------------------------------
// Step 10: Token Refreshed
// ---------------------------------------------------------------------------

/** The refresh token grant. @see https://www.rfc-editor.org/rfc/rfc6749#section-6 */
async function refreshTokens(
  tokens: TokenSet,
  config: Config,
  signal: AbortSignal,
): Promise<TokenSet> {
  if (!tokens.refresh_token) {
    logStep(10, "Token Refreshed", {
      skipped: true,
      reason:
        "no refresh token: the refresh_token scope was not granted (add it to the app's scopes or --scope)",
    });
    return tokens;
  }
  const body = new URLSearchParams({
    grant_type: "refresh_token",
    refresh_token: tokens.refresh_token,
    client_id: config.clientId,
  });
  if (config.clientSecret) body.set("client_secret", config.clientSecret);
  const endpoint = new URL("/services/oauth2/token", config.instanceUrl).href;
  const response = await postForm(endpoint, body, signal);
  const refreshed = validateTokenResponse(
    await readJson(response, "refresh response"),
  );
  const signature = await checkSignature(refreshed, config);
  logStep(10, "Token Refreshed", {
    token_endpoint: endpoint,
    status: response.status,
    access_token: mask(refreshed.access_token),
    issued_at: refreshed.issued_at,
    signature,
  });
  return {
    ...tokens,
    access_token: refreshed.access_token,
    refresh_token: refreshed.refresh_token ?? tokens.refresh_token,
    issued_at: refreshed.issued_at,
  };
}

// ---------------------------------------------------------------------------
// Step 11: Token Revoked
// ---------------------------------------------------------------------------

/** Revokes the refresh token (and with it its access tokens), then proves it. */
async function revokeTokens(
  tokens: TokenSet,
  config: Config,
  signal: AbortSignal,
) {
  const kind = tokens.refresh_token ? "refresh_token" : "access_token";
  const token = tokens.refresh_token ?? tokens.access_token;
  const endpoint = new URL("/services/oauth2/revoke", config.instanceUrl).href;
  const response = await postForm(
    endpoint,
    new URLSearchParams({ token }),
    signal,
  );
  const text = await response.text();
  if (!response.ok) {
    // Salesforce answers 400 with a form- or JSON-encoded error.
    let fields = Object.fromEntries(new URLSearchParams(text));
    try {
      fields = JSON.parse(text);
    } catch { /* form-encoded */ }
    const error = fields.error ?? `http_${response.status}`;
    const description = fields.error_description ?? text.slice(0, 160);
    throw new FlowError(error, description, hintFor(error, description));
  }
  const after = await fetchIdentity(tokens, signal);
  await after.body?.cancel();
  logStep(11, "Token Revoked", {
    revocation_endpoint: endpoint,
    revoked: kind,
    token: mask(token),
    status: response.status,
    identity_status_after: after.status,
  });
  if (after.ok) {
    warn("the identity URL still accepts the access token after revocation");
  }
}

// ---------------------------------------------------------------------------
// Talking to the org: fetch with a time limit, and its failures explained
// ---------------------------------------------------------------------------

/** POSTs a form to the org, with a time limit and no redirects followed. */
async function postForm(
  endpoint: string,
  body: URLSearchParams,
  signal: AbortSignal,
): Promise<Response> {
  return await send(endpoint, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      accept: "application/json",
    },
    body,
  }, signal);
}

/** `fetch` with the flow's signal, a 30-second limit, and network failures explained. */
async function send(
  url: string,
  init: RequestInit,
  signal: AbortSignal,
): Promise<Response> {
  try {
    return await fetch(url, {
      ...init,
      redirect: "manual",
      signal: AbortSignal.any([signal, AbortSignal.timeout(FETCH_TIMEOUT_MS)]),
    });
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    if (error instanceof DOMException && error.name === "TimeoutError") {
      throw new FlowError(
        "timeout",
        `Cannot reach ${url}: no answer within ${
          FETCH_TIMEOUT_MS / 1000
        } seconds`,
        "The org did not answer: check the instance URL, your network, proxy and VPN, then run again.",
        EXIT_FAILED,
        { cause: error },
      );
    }
    const detail = networkDetail(error);
    throw new FlowError(
      "network_error",
      `Cannot reach ${url}: ${detail}`,
      /dns error|lookup/i.test(detail)
        ? "The host name does not resolve: check the spelling of the instance URL (--instance-url or SF_INSTANCE_URL), and your network or VPN."
        : /refused/i.test(detail)
        ? "Nothing answers at that address: check the instance URL and its port."
        : /certificate|tls|handshake|corrupt message|alert/i.test(detail)
        ? "The TLS connection failed: check the URL is https on a Salesforce host, and any proxy that intercepts TLS."
        : "Check the instance URL (--instance-url or SF_INSTANCE_URL), your network, proxy and VPN.",
      EXIT_FAILED,
      { cause: error },
    );
  }
}

/** The most specific message in a fetch error's cause chain, without the URL repeated. */
function networkDetail(error: unknown): string {
  let detail = String(error);
  for (let e = error; e instanceof Error; e = e.cause) detail = e.message;
  return detail.replace(/^error sending request for url \([^)]*\): /, "");
}

/** Reads an org's JSON answer; an error body, a non-JSON body or a bad status becomes a FlowError. */
async function readJson(
  response: Response,
  what: string,
): Promise<Record<string, unknown>> {
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const fields =
    typeof body === "object" && body !== null && !Array.isArray(body)
      ? body as Record<string, unknown>
      : undefined;
  if (fields && typeof fields.error === "string" && !response.ok) {
    const description = String(fields.error_description ?? "");
    throw new FlowError(
      fields.error,
      description,
      hintFor(fields.error, description),
    );
  }
  if (!response.ok || !fields) {
    const type = response.headers.get("content-type") ?? "no content type";
    const excerpt = text.replace(/\s+/g, " ").trim().slice(0, 160);
    throw new FlowError(
      "unexpected_response",
      `Cannot use the ${what}: HTTP ${response.status} (${type}) "${excerpt}"`,
      response.status >= 500
        ? "The org had a problem: wait a minute and run again; check https://status.salesforce.com."
        : response.status >= 300 && response.status < 400
        ? "The org redirected instead of answering: check the instance URL (use the My Domain URL, https)."
        : "This does not look like a Salesforce OAuth endpoint: check the instance URL.",
    );
  }
  return fields;
}

// ---------------------------------------------------------------------------
// Standard input: pasted callback URLs and --pause share one line reader
// ---------------------------------------------------------------------------

/** Lines from a stream, each handed to whoever asks first. */
export interface LineReader {
  /** The next line, or null at the end of input or once `signal` aborts. */
  next(signal?: AbortSignal): Promise<string | null>;
}

/** Splits a byte stream into lines; reading starts at the first `next()`. */
export function createLineReader(
  readable: ReadableStream<Uint8Array>,
): LineReader {
  const lines: string[] = [];
  const waiting: ((line: string | null) => void)[] = [];
  let started = false;
  let ended = false;
  function deliver(line: string) {
    const waiter = waiting.shift();
    if (waiter) waiter(line);
    else lines.push(line);
  }
  async function pump() {
    let buffer = "";
    try {
      for await (const chunk of readable.pipeThrough(new TextDecoderStream())) {
        buffer += chunk;
        for (let end; (end = buffer.indexOf("\n")) >= 0;) {
          deliver(buffer.slice(0, end).replace(/\r$/, ""));
          buffer = buffer.slice(end + 1);
        }
      }
      if (buffer) deliver(buffer);
    } finally {
      ended = true;
      waiting.splice(0).forEach((waiter) => waiter(null));
    }
  }
  return {
    next(signal) {
      if (!started) {
        started = true;
        pump().catch(() => {});
      }
      if (lines.length > 0) return Promise.resolve(lines.shift()!);
      if (ended || signal?.aborted) return Promise.resolve(null);
      return new Promise((resolve) => {
        waiting.push(resolve);
        signal?.addEventListener("abort", () => {
          const index = waiting.indexOf(resolve);
          if (index >= 0) waiting.splice(index, 1);
          resolve(null);
        }, { once: true });
      });
    },
  };
}

let stdin: LineReader | undefined;

/** Standard input, read only once something asks for a line. */
function stdinLines(): LineReader {
  return stdin ??= createLineReader(Deno.stdin.readable);
}

/** What each step is about to do, and why: the --pause introductions. */
const STEP_INTRODUCTIONS: Record<number, string> = {
  1: "First the settings: which org, which app (its consumer key), and where the org should send the browser back.",
  2: "Next a one-time secret pair: the code_verifier stays here; only its SHA-256 hash, the code_challenge, goes to the org.",
  3: "Now the authorization URL: it carries the challenge and a random state, so that only this run can use what comes back.",
  4: "Before any browser opens, a small server starts on 127.0.0.1 to catch the org's redirect back to this machine.",
  6: "The code alone is useless: the script swaps it for tokens in a direct POST, proving with the verifier that it started the flow.",
  7: "The org answers with the tokens, and the script checks the signature over the identity URL with the client secret.",
  8: "That is the whole flow: these are the tokens an app keeps (the refresh token somewhere safe).",
  9: "Now the access token is used for the first time: who does the org say we are?",
  10:
    "Access tokens expire; the refresh token gets a new one without another sign-in.",
  11:
    "Last, revoke the refresh token, and watch the org refuse the access token that came from it.",
};

/** With --pause, introduces a step and waits for Enter; `q` quits. */
async function pause(step: number, signal: AbortSignal) {
  if (!output.pause) return;
  console.error(
    `\n${
      STEP_INTRODUCTIONS[step]
    }\n  Press Enter for step ${step} (q, then Enter, quits)`,
  );
  const line = await stdinLines().next(signal);
  if (signal.aborted) throw signal.reason;
  if (line === null || line.trim().toLowerCase() === "q") {
    throw new FlowError(
      "quit",
      `Cannot finish the flow: stopped before step ${step}`,
      "Run the script again to start over.",
      EXIT_INTERRUPTED,
    );
  }
}

// ---------------------------------------------------------------------------
// Errors and output
// ---------------------------------------------------------------------------

/** A failure with the org's (or our) `error` code, its description and what to do about it. */
export class FlowError extends Error {
  constructor(
    readonly error: string,
    readonly error_description: string,
    readonly hint: string,
    readonly exitCode: number = EXIT_FAILED,
    options?: ErrorOptions,
  ) {
    super(error_description, options);
    this.name = "FlowError";
  }
}

function usageError(description: string, hint: string): FlowError {
  return new FlowError("invalid_configuration", description, hint, EXIT_USAGE);
}

/** How steps are printed; set once from the configuration. */
const output = { json: false, color: false, showSecrets: false, pause: false };

/** Prints one step of the flow: `## N. Title` and its data, or one JSON line. */
function logStep(step: number, title: string, data: Record<string, unknown>) {
  if (output.json) {
    console.log(JSON.stringify({ step, title, data }));
    return;
  }
  const heading = `## ${step}. ${title}`;
  console.log(output.color ? `\x1b[1;36m${heading}\x1b[0m` : heading);
  console.log(JSON.stringify(data, null, 2).replace(/^/gm, "  ") + "\n");
}

/** A remark for the person at the terminal; on stderr so that stdout stays the steps. */
function note(text: string) {
  console.error(output.json ? `note: ${text}` : `→ ${text}`);
}

function warn(text: string) {
  console.error(`warning: ${text}`);
}

function logFailure(failure: FlowError) {
  const { error, error_description, hint } = failure;
  if (output.json) {
    console.log(JSON.stringify({
      step: null,
      title: "OAuth Flow Failed",
      data: { error, error_description, hint },
    }));
  } else if (failure.exitCode === EXIT_INTERRUPTED) {
    console.error(`${error}: ${error_description}. ${hint}`); // one line
  } else {
    console.error(`error: ${error}: ${error_description}\nhint: ${hint}`);
  }
}

/** Shows a token as `00Dak0…B3LK` unless `--show-secrets`. */
export function mask(value: string, showSecrets = output.showSecrets): string {
  if (showSecrets) return value;
  return value.length < 20
    ? "********"
    : `${value.slice(0, 6)}…${value.slice(-4)}`;
}

const TOKEN_FIELDS = ["access_token", "refresh_token", "id_token"];

function maskTokens(body: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(body).map(([key, value]) => [
      key,
      TOKEN_FIELDS.includes(key) && typeof value === "string"
        ? mask(value)
        : value,
    ]),
  );
}

// ---------------------------------------------------------------------------
// Hints for the errors Salesforce (and the network) can give
// ---------------------------------------------------------------------------

const HINTS: Record<string, string> = {
  access_denied:
    "The user clicked Deny, or this user may not use the app: in Setup, check the app's Permitted Users and its profiles or permission sets.",
  OAUTH_EC_APP_NOT_FOUND:
    "The org does not know this app: use the org's My Domain URL as --instance-url (not login.salesforce.com), and check the External Client App is installed in this org.",
  invalid_scope:
    "A requested scope is not selected on the app: ask only for the app's scopes, or leave --scope unset to get them all.",
  immediate_unsuccessful:
    "The user must log in or approve the app first: run again without immediate=true.",
  inactive_user:
    "The user is inactive or frozen: sign in as an active user, or ask an admin to reactivate this one.",
  inactive_org:
    "The org is locked, closed or suspended: sign in to an active org.",
  invalid_client_id:
    "The consumer key is wrong, or new: copy it again from the app (a new key can take up to 10 minutes to work), and check --instance-url is the org that owns the app.",
  invalid_client:
    "The consumer secret is wrong: copy it again from the app, or leave SF_CLIENT_SECRET unset if the app does not require one.",
  redirect_uri_mismatch:
    "The callback URL must match the app's Callback URL exactly (scheme, host, port and path): register it, or pass the registered one with --redirect-uri.",
  unsupported_grant_type:
    "The token request must be a form POST (application/x-www-form-urlencoded) with a supported grant_type.",
  invalid_token:
    "The token is unknown to the org: it may already be revoked or expired.",
  unsupported_token_type: "The org cannot revoke this kind of token.",
};

const INVALID_GRANT_HINTS: Record<string, string> = {
  "expired authorization code":
    "Authorization codes are single-use and live 15 minutes: run the flow again and let it exchange the code at once.",
  "invalid code verifier":
    "The code_verifier does not match the code_challenge sent at step 3: both must come from the same run (S256, base64url).",
  "authentication failure":
    "The org refused the credentials: check the client id and secret belong to this org.",
  "ip restricted":
    "The user's IP address is outside the allowed ranges: relax the app's IP Relaxation policy or sign in from an allowed network.",
  "user hasn't approved this consumer":
    "The user has not approved the app: sign in through the browser and click Allow, or pre-authorize the user in the app's policies.",
  "expired access/refresh token":
    "The refresh token was revoked or has expired: run the flow again to get a new one.",
};

/** What to do about an OAuth error, from its code and (for invalid_grant) its description. */
export function hintFor(error: string, description = ""): string {
  if (error === "invalid_grant") {
    return INVALID_GRANT_HINTS[description.toLowerCase()] ??
      "The org refused the grant: the code, verifier or refresh token is not valid any more; run the flow again.";
  }
  return HINTS[error] ??
    "See Salesforce's OAuth error reference; error_description says what the org rejected.";
}

// ---------------------------------------------------------------------------
// Configuration: flags, then environment variables, then .env
// ---------------------------------------------------------------------------

/** Everything the flow needs, validated. */
export interface Config {
  instanceUrl: string;
  clientId: string;
  clientSecret?: string;
  redirectUri: string;
  scope?: string;
  timeoutSeconds: number;
  demo: boolean;
  openBrowser: boolean;
  json: boolean;
  showSecrets: boolean;
  identity: boolean;
  refresh: boolean;
  revoke: boolean;
  save?: string;
  pause: boolean;
}

/** The settings that come from flags, the environment or `.env`. */
const SETTINGS = {
  instanceUrl: { flag: "instance-url", variable: "SF_INSTANCE_URL" },
  clientId: { flag: "client-id", variable: "SF_CLIENT_ID" },
  clientSecret: { flag: "client-secret", variable: "SF_CLIENT_SECRET" },
  redirectUri: { flag: "redirect-uri", variable: "SF_REDIRECT_URI" },
  scope: { flag: "scope", variable: "SF_SCOPE" },
} as const;

type SettingName = keyof typeof SETTINGS;

/** A setting's value and where it came from, so errors can name the source. */
interface Setting {
  value: string;
  source: string;
}

function parseCommandLine(args: string[]) {
  try {
    return parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        "instance-url": { type: "string" },
        "client-id": { type: "string" },
        "client-secret": { type: "string" },
        "redirect-uri": { type: "string" },
        scope: { type: "string" },
        timeout: { type: "string" },
        save: { type: "string" },
        demo: { type: "boolean", default: false },
        "no-browser": { type: "boolean", default: false },
        "no-identity": { type: "boolean", default: false },
        refresh: { type: "boolean", default: false },
        revoke: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        "show-secrets": { type: "boolean", default: false },
        pause: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
    }).values;
  } catch (error) {
    throw usageError(
      `Cannot read the command line: ${
        (error as Error).message.replaceAll("\n", " ")
      }`,
      "Run with --help to see every flag.",
    );
  }
}

/** Reads `.env` from the working directory; a missing file is fine, an unreadable one is not. */
function readDotEnv(path = ".env"): Record<string, string> {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return {};
    throw usageError(
      `Cannot read ${path}: ${(error as Error).message}`,
      `Fix the file's permissions, or remove ${path} and use flags or environment variables.`,
    );
  }
  return parseEnv(text) as Record<string, string>;
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // not permitted: treat as unset
  }
}

/** Looks a setting up by precedence: flag, environment variable, then `.env`. */
function lookUp(
  name: SettingName,
  flags: Record<string, unknown>,
  dotEnv: () => Record<string, string>,
): Setting | undefined {
  const { flag, variable } = SETTINGS[name];
  const fromFlag = flags[flag];
  if (typeof fromFlag === "string") {
    return { value: fromFlag, source: `--${flag}` };
  }
  const fromEnv = readEnv(variable);
  if (fromEnv !== undefined && fromEnv !== "") {
    return { value: fromEnv, source: variable };
  }
  const fromFile = dotEnv()[variable];
  if (fromFile !== undefined && fromFile !== "") {
    return { value: fromFile, source: `${variable} in .env` };
  }
  return undefined;
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

function parseSettingUrl({ value, source }: Setting, hint: string): URL {
  const url = URL.parse(value);
  if (!url) {
    throw usageError(`Cannot use ${source}: not a URL "${value}"`, hint);
  }
  return url;
}

/** Checks the org URL and returns its origin. */
export function validateInstanceUrl(setting: Setting): string {
  const { value, source } = setting;
  const example = "https://yourdomain.my.salesforce.com";
  const url = parseSettingUrl(
    setting,
    `Give the org's My Domain URL, such as ${example}.`,
  );
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw usageError(
      `Cannot use ${source}: the scheme must be https "${value}"`,
      `Give the org's My Domain URL, such as ${example}.`,
    );
  }
  if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
    throw usageError(
      `Cannot use ${source}: http is only allowed for loopback hosts "${value}"`,
      `Salesforce's OAuth endpoints are https only: use https://${url.host}.`,
    );
  }
  if (url.pathname !== "/" || url.search || url.hash || url.username) {
    throw usageError(
      `Cannot use ${source}: give the origin only, without a path, query or fragment "${value}"`,
      `Use ${url.protocol}//${url.host}; the script adds /services/oauth2/… itself.`,
    );
  }
  if (url.hostname.endsWith(".lightning.force.com")) {
    const myDomain = url.hostname.replace(
      /\.lightning\.force\.com$/,
      ".my.salesforce.com",
    );
    throw usageError(
      `Cannot use ${source}: that is the Lightning UI domain, not the login domain "${value}"`,
      `Use the org's My Domain URL instead, probably https://${myDomain} (Setup → My Domain).`,
    );
  }
  return url.origin;
}

/** Checks the callback URL: http on localhost or 127.0.0.1, with a path. */
export function validateRedirectUri(setting: Setting): string {
  const { value, source } = setting;
  const url = parseSettingUrl(
    setting,
    `Use a loopback URL such as ${DEFAULT_REDIRECT_URI}.`,
  );
  const problem = url.protocol !== "http:"
    ? "it must use http (the callback server is local and plain HTTP)"
    : url.hostname !== "localhost" && url.hostname !== "127.0.0.1"
    ? "its host must be localhost or 127.0.0.1"
    : url.pathname === "/"
    ? "it needs a path, such as /callback"
    : url.hash
    ? "it must not have a fragment"
    : undefined;
  if (problem) {
    throw usageError(
      `Cannot use ${source}: ${problem} "${value}"`,
      `Use a loopback URL such as ${DEFAULT_REDIRECT_URI}, registered exactly so in the app's Callback URL.`,
    );
  }
  return url.href;
}

function validateTimeout(value: string | undefined): number {
  if (value === undefined) return DEFAULT_TIMEOUT_SECONDS;
  const seconds = Number(value);
  if (value.trim() === "" || !Number.isFinite(seconds) || seconds <= 0) {
    throw usageError(
      `Cannot use --timeout: not a positive number of seconds "${value}"`,
      `Give a number of seconds, such as --timeout 120 (default ${DEFAULT_TIMEOUT_SECONDS}).`,
    );
  }
  return seconds;
}

/** Reads and validates the configuration; `null` means `--help` was asked for. */
export function loadConfig(args: string[]): Config | null {
  const flags = parseCommandLine(args);
  if (flags.help) return null;
  let dotEnvCache: Record<string, string> | undefined;
  const dotEnv = () => (dotEnvCache ??= readDotEnv());
  const get = (name: SettingName) =>
    flags.demo && name !== "redirectUri" && name !== "scope"
      ? undefined
      : lookUp(name, flags, dotEnv);

  const redirect = get("redirectUri");
  const config: Config = {
    instanceUrl: "",
    clientId: "",
    redirectUri: redirect
      ? validateRedirectUri(redirect)
      : DEFAULT_REDIRECT_URI,
    scope: get("scope")?.value.trim().replace(/\s+/g, " ") || undefined,
    timeoutSeconds: validateTimeout(flags.timeout),
    demo: flags.demo,
    openBrowser: !flags["no-browser"],
    json: flags.json,
    showSecrets: flags["show-secrets"],
    identity: !flags["no-identity"],
    refresh: flags.refresh,
    revoke: flags.revoke,
    save: flags.save,
    pause: flags.pause,
  };
  if (config.save !== undefined) checkSavePath(config.save);
  if (config.demo) return config; // the demo org fills in the rest

  const instance = get("instanceUrl");
  const clientId = get("clientId");
  const missing = [
    instance ? "" : "--instance-url (or SF_INSTANCE_URL)",
    clientId ? "" : "--client-id (or SF_CLIENT_ID)",
  ].filter(Boolean);
  if (missing.length > 0) {
    throw usageError(
      `Cannot start the flow: missing ${missing.join(" and ")}`,
      "Set them as flags, environment variables or in .env (see .env.example), " +
        "or run with --demo, which needs no configuration.",
    );
  }
  config.instanceUrl = validateInstanceUrl(instance!);
  config.clientId = clientId!.value.trim();
  config.clientSecret = get("clientSecret")?.value;
  return config;
}

function checkSavePath(path: string) {
  let exists = false;
  try {
    Deno.lstatSync(path);
    exists = true;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw usageError(
        `Cannot use --save: ${(error as Error).message} "${path}"`,
        "Choose a file name in a directory you can write to.",
      );
    }
  }
  if (exists) {
    throw usageError(
      `Cannot use --save: the file already exists "${path}"`,
      "Choose a new file name, or move the old file away; tokens are never overwritten.",
    );
  }
}

// ---------------------------------------------------------------------------
// Running it: configuration, signals, exit codes
// ---------------------------------------------------------------------------

/** Runs the flow; resolves with the exit code. */
export async function main(args: string[]): Promise<number> {
  let config: Config | null;
  try {
    config = loadConfig(args);
  } catch (error) {
    output.json = args.includes("--json");
    return fail(error);
  }
  if (config === null) {
    console.log(USAGE);
    return EXIT_OK;
  }
  output.json = config.json;
  output.showSecrets = config.showSecrets;
  output.color = !config.json && Deno.stdout.isTerminal() &&
    !readEnv("NO_COLOR");
  // Workshop mode needs someone at a terminal to press Enter.
  output.pause = config.pause && !config.json && Deno.stdin.isTerminal();

  // Ctrl+C or SIGTERM closes the servers and ends with 130.
  const interrupt = new AbortController();
  const onSignal = () =>
    interrupt.abort(
      new FlowError(
        "interrupted",
        "Cannot finish the flow: interrupted, and the callback server is closed",
        "Run the script again to start over.",
        EXIT_INTERRUPTED,
      ),
    );
  const signals = listenForSignals(onSignal);
  let demoOrg: { close(): Promise<void> } | undefined;
  try {
    if (config.demo) {
      const { startDemoOrg } = await import("./demo_org.ts");
      const org = startDemoOrg({ redirectUri: config.redirectUri });
      demoOrg = org;
      config = {
        ...config,
        instanceUrl: org.url,
        clientId: org.client.client_id,
        clientSecret: org.client.client_secret,
      };
      note(
        `demo mode: a local demo org is running at ${org.url}; SF_* settings and .env are ignored`,
      );
    }
    await runFlow(config, interrupt.signal);
    return EXIT_OK;
  } catch (error) {
    return fail(error);
  } finally {
    signals.remove();
    await demoOrg?.close();
  }
}

function listenForSignals(handler: () => void) {
  const names: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM"];
  for (const name of names) Deno.addSignalListener(name, handler);
  return {
    remove: () =>
      names.forEach((name) => Deno.removeSignalListener(name, handler)),
  };
}

function fail(error: unknown): number {
  const failure = error instanceof FlowError ? error : new FlowError(
    "unexpected_error",
    String((error as Error)?.message ?? error),
    "This looks like a bug in the walkthrough: please report it with the output above.",
  );
  logFailure(failure);
  return failure.exitCode;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
