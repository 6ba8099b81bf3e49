/**
 * # OAuth 2.0 Web Server Flow with PKCE, against a Salesforce org
 *
 * Walks through the whole authorization-code flow and prints each step as
 * labelled JSON: the PKCE pair, the authorization URL, the local callback
 * server, the browser and the code, the token request and response, and the
 * tokens. Then, optionally, what an app does with them.
 *
 * ```sh
 * deno run -A main.ts --demo          # offline, against a local demo org
 * deno run -A main.ts --instance-url https://yourdomain.my.salesforce.com \
 *   --client-id 3MVG9...              # against a real org (or use .env)
 * deno run -A main.ts --help          # every flag
 * ```
 *
 * Read it top to bottom. `STEPS` is the table of contents, `runFlow` runs
 * them, and each `// Step N` section is one step of the flow, in order: it
 * shows the protocol, and each defence is one named call that lives below.
 * The machinery the steps share follows them, in this order: talking to the
 * org, the callback server's rules and sockets, the browser and the wait,
 * the terminal and standard input, errors and hints, configuration, and
 * `main`.
 *
 * Specs: RFC 6749 (OAuth 2.0), RFC 7636 (PKCE), RFC 8252 (native apps and
 * loopback redirects), RFC 9700 (security best practice).
 *
 * @module
 */

import { base64url, generatePkce, type Pkce, randomBase64url } from "./pkce.ts";
// Types only, erased when run: a gist of main.ts and pkce.ts still runs.
import type { CheckNote, Exchange, Party, RunRecord } from "./report.ts";

/** Exit codes: the flow finished, failed, was misconfigured, or was interrupted. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/** The redirect URI Salesforce apps register for this walkthrough. */
export const DEFAULT_REDIRECT_URI = "http://localhost:8000/callback";

// ---------------------------------------------------------------------------
// The steps: what each does, and why
// ---------------------------------------------------------------------------

/** The steps, in order: titles for the output, and the why that `--pause` reads out. */
export const STEPS = {
  1: {
    title: "OAuth Flow Started",
    why:
      "First the settings: which org, which app (its consumer key), and where the org should send the browser back.",
  },
  2: {
    title: "PKCE Generated",
    why:
      "Next a one-time secret pair: the code_verifier stays here, secret until step 6 (so it is masked); only its SHA-256 hash, the code_challenge, goes to the org.",
  },
  3: {
    title: "Authorization URL Built",
    why:
      "Now the authorization URL: it carries the challenge and a random state, so that only this run can use what comes back.",
  },
  4: {
    title: "Callback Server Started",
    why:
      "Before any browser opens, a small server starts on 127.0.0.1 to catch the org's redirect back to this machine.",
  },
  5: {
    title: "Authorization Code Received",
    why:
      "Now the browser: you sign in at the org and click Allow, and the org sends the browser back to the callback with a one-time code and our state.",
  },
  6: {
    title: "Token Request Prepared",
    why:
      "The code alone is useless: the script swaps it for tokens in a direct POST, proving with the verifier that it started the flow.",
  },
  7: {
    title: "Token Response Received",
    why:
      "The org answers with the tokens, and the script checks the signature over the identity URL with the client secret.",
  },
  8: {
    title: "OAuth Flow Complete",
    why:
      "That is the whole flow: these are the tokens an app keeps (the refresh token somewhere safe).",
  },
  9: {
    title: "Identity Retrieved",
    why:
      "Now the access token is used for the first time: who does the org say we are?",
  },
  10: {
    title: "Token Refreshed",
    why:
      "Access tokens expire; the refresh token gets a new one without another sign-in.",
  },
  11: {
    title: "Token Revoked",
    why:
      "Last, revoke the refresh token, and watch the org refuse the access token that came from it.",
  },
} as const;

export type StepNumber = keyof typeof STEPS;

/** Everything a step needs: the settings, how to print, standard input, and the signal that ends the run. */
export interface Flow {
  config: Config;
  output: Output;
  lines: LineReader;
  /** Aborts on Ctrl+C or SIGTERM. */
  signal: AbortSignal;
  /** With --demo: the demo user signs in and clicks Allow when no browser opens; rejects if that fails. */
  demoUser?: (authorizationUrl: string) => Promise<void>;
  /** With --demo: settles when the org shows the error page (invalid_scope) for the request with this state, which no callback ever reports. */
  demoErrorPage?: (state: string) => Promise<CallbackResult>;
  /** The step under way (set as each begins), for what is recorded and for Ctrl+C's message. */
  step?: StepNumber;
  /** True once the callback server listens: Ctrl+C then says it closed it. */
  callbackStarted?: boolean;
  /** What crossed the wire, in order; kept only with --http (or for a report). */
  record?: RunRecord;
  /** With --http: the HTTP/1.1 text of each exchange, printed with its step. */
  wire?: WireView;
  /** With --exercise: the attacker's moves (exercises.ts). */
  exercise?: FlowHooks;
}

/** Where an exercise's attacker moves: fixed points of the flow, which runs the same without them. */
export interface FlowHooks {
  afterStep4?(authorizationUrl: URL): Promise<void>;
  afterStep5?(code: string): Promise<void>;
  afterStep8?(tokens: Tokens): Promise<void>;
  afterStep10?(tokens: Tokens): Promise<void>;
  /** Each request the script sends the org, and the answer, pass here first: an attacker on the wire. */
  onTheWire?(
    url: string,
    init: RequestInit,
    answer: Response,
  ): Promise<Response>;
}

/** Steps 1 to 11, in order; with --pause, each is introduced first. */
export async function runFlow(flow: Flow) {
  await pause(flow, 1);
  startFlow(flow);
  await pause(flow, 2);
  const pkce = await createPkce(flow);
  await pause(flow, 3);
  const { url, state, nonce } = createAuthorizationRequest(flow, pkce);
  await pause(flow, 4);
  const callback = await startCallbackServer(flow, state, url);
  let code: string;
  try {
    await flow.exercise?.afterStep4?.(url);
    await pause(flow, 5);
    code = await waitForAuthorizationCode(flow, callback, url, state);
  } finally {
    await callback.close(); // it serves one callback (RFC 8252 section 8.3), and none after a quit
  }
  await flow.exercise?.afterStep5?.(code);
  await pause(flow, 6);
  const request = prepareTokenRequest(flow, code, pkce);
  await pause(flow, 7);
  let tokens = await receiveTokens(flow, request, nonce);
  // Saved as soon as they passed step 7's checks: nothing later can lose them.
  if (flow.config.save) await saveTokens(flow, tokens);
  await pause(flow, 8);
  completeFlow(flow, tokens);
  await flow.exercise?.afterStep8?.(tokens);
  if (flow.config.identity) {
    await pause(flow, 9);
    await getIdentity(flow, tokens);
  }
  if (flow.config.refresh) {
    await pause(flow, 10);
    const refreshed = await refreshTokens(flow, tokens, nonce);
    // Saved again at once: with rotation, the refresh token in the file just died.
    if (flow.config.save && refreshed !== tokens) {
      await replaceSavedTokens(flow, refreshed, tokens);
    }
    tokens = refreshed;
    await flow.exercise?.afterStep10?.(tokens);
  }
  if (flow.config.revoke) {
    await pause(flow, 11);
    await revokeTokens(flow, tokens);
  }
  // An exercise ends with its own verdict instead (exercises.ts).
  if (!flow.exercise) {
    note(flow, whatNext(flow.config) + approvalsReminder(flow.config, tokens));
  }
}

/** The closing remark: what the learner just saw, or what to try next. */
function whatNext(config: Config): string {
  const untried = [
    config.refresh ? "" : "--refresh (use the refresh token)",
    config.revoke ? "" : "--revoke (end the tokens, and watch them refused)",
    config.pause ? "" : "--pause (one step at a time, with the why of each)",
    config.http ? "" : "--http (every request and response, as sent)",
  ].filter(Boolean);
  return untried.length > 0
    ? `done. Try it again with ${untried.join(", ")}.`
    : "done: you saw the whole life of a token, from PKCE to revocation.";
}

/** Where approvals pile up (a real org, or a demo org that outlives the run), the limit that silently ends old logins. */
function approvalsReminder(config: Config, tokens: Tokens): string {
  if (config.demo || config.revoke || !tokens.refresh_token) return "";
  return " Each run like this one leaves an approval of the app (its refresh token) for this user: " +
    "the org keeps five per user per app, and a sixth sign-in silently revokes the oldest one's refresh token.";
}

// ---------------------------------------------------------------------------
// Step 1: OAuth Flow Started
// ---------------------------------------------------------------------------

function startFlow(flow: Flow) {
  const { config } = flow;
  logStep(flow, 1, {
    instance: config.instanceUrl,
    client_id: config.clientId,
    redirect_uri: config.redirectUri,
    client_secret: config.clientSecret ? "********" : null,
    settings_from: config.settingsFrom,
  });
}

// ---------------------------------------------------------------------------
// Step 2: PKCE Generated
// ---------------------------------------------------------------------------

async function createPkce(flow: Flow): Promise<Pkce> {
  const pkce = await generatePkce();
  logStep(flow, 2, {
    code_verifier: mask(pkce.code_verifier, flow.output.showSecrets),
    code_challenge: pkce.code_challenge,
    challenge_method: pkce.code_challenge_method, // sent as code_challenge_method at step 3
  });
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
  nonce?: string;
}

/** Builds `/services/oauth2/authorize?...`, each parameter encoded once. @see https://www.rfc-editor.org/rfc/rfc7636#section-4.3 */
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

function createAuthorizationRequest(flow: Flow, pkce: Pkce) {
  const { config } = flow;
  const query: AuthorizeQuery = {
    client_id: config.clientId,
    redirect_uri: config.redirectUri,
    response_type: "code",
    code_challenge: pkce.code_challenge,
    code_challenge_method: pkce.code_challenge_method,
    // 32 random bytes, checked on the way back: CSRF protection (RFC 9700 section 2.1).
    state: randomBase64url(32),
    ...(config.scope ? { scope: config.scope } : {}),
  };
  // An ID token may come back (openid asked for, or the app's own scopes):
  // it must carry this nonce, so a replayed ID token is refused (OIDC section 3.1.2.1).
  const mayGetIdToken = !config.scope ||
    config.scope.split(" ").includes("openid");
  if (mayGetIdToken) query.nonce = randomBase64url(32);
  const url = buildAuthorizeUrl(config.instanceUrl, query);
  logStep(flow, 3, {
    authorization_endpoint: `${url.origin}${url.pathname}`,
    query,
    authorization_url: url.href,
    ...(mayGetIdToken
      ? {
        why_nonce:
          "an ID token may come back (scope openid, or the app's own scopes): it must echo this nonce",
      }
      : {}),
  });
  return { url, state: query.state, nonce: query.nonce };
}

// ---------------------------------------------------------------------------
// Step 4: Callback Server Started
// ---------------------------------------------------------------------------

/** What came back on the redirect URI: a code, the org's error, or something we refuse. */
export type CallbackOutcome =
  | { kind: "code"; code: string; state: string }
  | { kind: "error"; error: string; error_description: string }
  | { kind: "rejected"; reason: string };

/** A callback the flow accepts: a code or the org's error. */
type CallbackResult = Exclude<CallbackOutcome, { kind: "rejected" }>;

/** The callback server while it waits. */
interface CallbackServer {
  /** Settles with the first accepted callback. */
  outcome: Promise<CallbackResult>;
  /** Closes within about a second, and sums up what it ignored. */
  close(): Promise<void>;
}

/**
 * Listens at the redirect URI's port on loopback only, for one callback:
 * `localhost` may resolve to 127.0.0.1 or ::1, so both are bound where the
 * machine has them. Each request goes to `acceptCallback`, which checks the
 * state and answers the browser a page. @see https://www.rfc-editor.org/rfc/rfc8252#section-8.3
 */
async function startCallbackServer(
  flow: Flow,
  state: string,
  authorizationUrl: URL,
): Promise<CallbackServer> {
  // Before anyone signs in: would the org refuse this URL outright?
  const check = await checkAuthorizationUrl(flow, authorizationUrl);
  const redirectUri = new URL(flow.config.redirectUri);
  const wait = expectCallback(redirectUri, state, authorizationUrl);
  const servers = await listenOnLoopback(
    flow,
    wait.port,
    (request) => acceptCallback(wait, request),
  );
  logStep(flow, 4, {
    hostname: redirectUri.hostname,
    port: wait.port,
    path: redirectUri.pathname,
    listening_on: `http://${redirectUri.host}${redirectUri.pathname}`,
    bound_address: servers.map((server) => server.addr.hostname), // what the sockets really bound
    check,
  }, callbackServerView);
  return {
    outcome: wait.arrived.promise,
    close: () => closeCallbackServer(servers, wait),
  };
}

// ---------------------------------------------------------------------------
// Step 5: Authorization Code Received
// ---------------------------------------------------------------------------

/**
 * Sends the user to the org, then waits for the first of: the callback
 * (step 4's server), a URL pasted here, or (with --demo and no browser) the
 * demo user; it stops on timeout or Ctrl+C.
 */
async function waitForAuthorizationCode(
  flow: Flow,
  callback: CallbackServer,
  url: URL,
  state: string,
): Promise<string> {
  // Some errors the org shows on its own page, never sending the browser back:
  // the demo org tells us of those, so the run ends at once instead of timing out.
  const errorPage = flow.demoErrorPage?.(state);
  const outcome = await firstToArrive(flow, async (signal) => {
    const way = await sendUserToOrg(flow, url); // a browser, the demo user, or by hand
    return [
      callback.outcome, // the org sends the browser back to step 4's server
      way === "demo user"
        ? flow.demoUser!(url.href).then(() => callback.outcome) // so it does for the demo user
        : readPastedCallback(flow, state, signal), // or the person pastes that URL here
      ...(errorPage ? [errorPage] : []),
    ];
  });
  if (outcome.kind === "error") {
    throw new FlowError({
      error: outcome.error,
      error_description: outcome.error_description,
    });
  }
  recordCheck(flow, "state matched");
  logStep(flow, 5, {
    authorization_code: mask(outcome.code, flow.output.showSecrets),
    state_sent: state, // at step 3
    state_received: outcome.state, // on the callback: the same, or it was refused
    state_verified: true,
  });
  return outcome.code;
}

// ---------------------------------------------------------------------------
// Step 6: Token Request Prepared
// ---------------------------------------------------------------------------

/** The authorization code grant request. @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3 */
function prepareTokenRequest(flow: Flow, code: string, pkce: Pkce) {
  const { config } = flow;
  const body = withClientAuthentication(
    flow,
    new URLSearchParams({
      grant_type: "authorization_code",
      code,
      client_id: config.clientId,
      redirect_uri: config.redirectUri,
      code_verifier: pkce.code_verifier,
    }),
  );
  logStep(flow, 6, {
    token_endpoint: orgEndpoint(flow, "token"),
    payload: maskPayload(flow, body),
  });
  return body;
}

/** Adds the client secret, as `client_secret_post` (what Salesforce's own tools send); public clients send none. */
function withClientAuthentication(flow: Flow, body: URLSearchParams) {
  if (flow.config.clientSecret) {
    body.set("client_secret", flow.config.clientSecret);
  }
  return body;
}

/** A request body as printed: the client secret is always `********`; the code, verifier and tokens are masked unless --show-secrets. */
function maskPayload(
  flow: Flow,
  body: URLSearchParams,
): Record<string, string> {
  return Object.fromEntries(
    [...body].map(([key, value]) => [
      key,
      maskField(key, value, flow.output.showSecrets),
    ]),
  );
}

// ---------------------------------------------------------------------------
// Step 7: Token Response Received
// ---------------------------------------------------------------------------

/** Salesforce's token response, as it comes over the wire. @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1 */
export interface TokenResponse {
  access_token: string;
  refresh_token?: string;
  signature?: string;
  scope?: string;
  id_token?: string;
  instance_url: string;
  id: string;
  token_type: string;
  issued_at: string;
  /** `"jwt"` when the app issues JWT-based access tokens (facts L). */
  token_format?: string;
  /** With the sfap_api scope: the Salesforce API Platform's host (facts L). */
  api_instance_url?: string;
  [field: string]: unknown;
}

/** POSTs the code grant, checks the answer (and its ID token, with openid), and keeps the tokens. */
async function receiveTokens(
  flow: Flow,
  request: URLSearchParams,
  nonce: string | undefined,
): Promise<Tokens> {
  const response = await tokenRequest(flow, request);
  const { body, signature } = await processTokenResponse(flow, response);
  const idToken = body.id_token
    ? await verifyFirstIdToken(flow, body, nonce, response.headers.get("date"))
    : undefined;
  const format = accessTokenFormat(body);
  logStep(flow, 7, {
    status: response.status,
    body: maskTokens(flow, body),
    signature,
    ...(idToken ? { id_token: idToken.shown } : {}),
    access_token_format: format,
    ...(format === "jwt" ? { access_token_jwt: showJwtAccessToken(body) } : {}),
  }, tokenResponseView);
  return toTokens(body, idToken?.claims);
}

/** POSTs a grant to the token endpoint: the code (step 7) or the refresh token (step 10). @see https://www.rfc-editor.org/rfc/rfc6749#section-3.2 */
async function tokenRequest(
  flow: Flow,
  body: URLSearchParams,
): Promise<Answer> {
  return await postForm(
    flow,
    "token response",
    orgEndpoint(flow, "token"),
    body,
  );
}

/** Checks a token endpoint answer: the org's error, or a token response whose fields and signature hold. */
async function processTokenResponse(flow: Flow, response: Answer) {
  const body = validateTokenResponse(readJson(response, "token response"));
  const signature = await checkSignature(body, flow.config.clientSecret);
  if (signature === "valid") recordCheck(flow, "signature valid");
  return { body, signature };
}

/** Imports a client secret as an HMAC-SHA256 key: Salesforce signs the token response with it. */
export function importSignatureKey(clientSecret: string): Promise<CryptoKey> {
  // Once per secret: with --demo the org signs and the script verifies in
  // one process, with the one key.
  let key = signatureKeys.get(clientSecret);
  if (!key) {
    if (signatureKeys.size >= MAX_SIGNATURE_KEYS) signatureKeys.clear();
    key = crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(clientSecret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    signatureKeys.set(clientSecret, key);
  }
  return key;
}

/** HMAC keys imported so far, by secret: one or two in a run (tests make more orgs). */
const signatureKeys = new Map<string, Promise<CryptoKey>>();
const MAX_SIGNATURE_KEYS = 16;

/** Verifies Salesforce's `signature`: Base64 HMAC-SHA256 of `id + issued_at`, keyed with the client secret. */
export async function verifySignature(
  tokens: Pick<TokenResponse, "id" | "issued_at" | "signature">,
  clientSecret: string,
): Promise<boolean> {
  const signature = Uint8Array.fromBase64(tokens.signature ?? "");
  // crypto.subtle.verify compares in constant time.
  return await crypto.subtle.verify(
    "HMAC",
    await importSignatureKey(clientSecret),
    signature,
    new TextEncoder().encode(tokens.id + tokens.issued_at),
  );
}

async function checkSignature(
  body: TokenResponse,
  clientSecret: string | undefined,
): Promise<string> {
  if (!clientSecret) return "not checked (no client secret)";
  const valid = await verifySignature(body, clientSecret)
    .catch(() => false); // not Base64 at all
  if (!valid) {
    throw new FlowError({
      error: "invalid_signature",
      error_description:
        `Cannot trust the token response: its signature does not match id + issued_at "${body.id}"`,
      hint:
        "The identity URL may have been altered on the way, or the client secret is not this app's: " +
        "check SF_CLIENT_SECRET, and do not use these tokens.",
    });
  }
  return "valid";
}

// ---------------------------------------------------------------------------
// Step 8: OAuth Flow Complete
// ---------------------------------------------------------------------------

/** The tokens we hold: what an app keeps from a checked token response. */
export interface Tokens {
  access_token: string;
  refresh_token: string | null;
  instance_url: string;
  id_url: string;
  scope: string | null;
  issued_at: string;
  token_type: string;
  id_token: string | null;
  /** With the sfap_api scope: the host of the Salesforce API Platform (Agent API, Models API). */
  api_instance_url: string | null;
  /** The ID token's claims, once it passed every check (never saved: the ID token itself is). */
  id_token_claims?: Record<string, unknown>;
}

/** The tokens an app keeps, from a checked token response. */
function toTokens(
  body: TokenResponse,
  idTokenClaims?: Record<string, unknown>,
): Tokens {
  return {
    access_token: body.access_token,
    refresh_token: body.refresh_token ?? null,
    instance_url: body.instance_url,
    id_url: body.id,
    scope: body.scope ?? null,
    issued_at: body.issued_at,
    token_type: body.token_type,
    id_token: body.id_token ?? null,
    api_instance_url: body.api_instance_url ?? null,
    ...(idTokenClaims ? { id_token_claims: idTokenClaims } : {}),
  };
}

function completeFlow(flow: Flow, tokens: Tokens) {
  const claims = tokens.id_token_claims;
  logStep(flow, 8, {
    access_token: mask(tokens.access_token, flow.output.showSecrets),
    refresh_token: tokens.refresh_token &&
      mask(tokens.refresh_token, flow.output.showSecrets),
    instance_url: tokens.instance_url,
    id_url: tokens.id_url,
    ...(claims ? { signed_in_user: signedInUser(claims) } : {}),
    scope: tokens.scope,
    issued_at: tokens.issued_at,
    issued_at_iso: new Date(Number(tokens.issued_at)).toISOString(),
    ...(tokens.api_instance_url
      ? {
        api_instance_url: tokens.api_instance_url,
        api_instance_url_is:
          `the Salesforce API Platform's host, granted with the sfap_api scope: the Agent API (/einstein/ai-agent/v1/${ELLIPSIS}) and the Models API take this access token there, while the REST API stays at instance_url`,
      }
      : {}),
  }, tokensView);
}

/** The saved file's text: the tokens, unmasked, as an app keeps them. */
function savedText(tokens: Tokens): string {
  const { id_token_claims: _claims, ...saved } = tokens;
  return JSON.stringify(saved, null, 2) + "\n";
}

/** Writes the tokens, unmasked, to a new file only its owner can read. */
async function saveTokens(flow: Flow, tokens: Tokens) {
  const path = flow.config.save!;
  try {
    await Deno.writeTextFile(path, savedText(tokens), {
      createNew: true,
      mode: 0o600,
    });
  } catch (error) {
    throw new FlowError({
      error: "save_failed",
      error_description: `Cannot save the tokens: ${
        (error as Error).message
      } "${path}"`,
      hint:
        "Choose a new file name in a directory you can write to (--save FILE).",
      cause: error,
    });
  }
  note(
    flow,
    `saved the tokens to ${path} (mode 0600): keep it out of version control` +
      (flow.config.revoke
        ? "; step 11 will revoke them, so they will not work"
        : ""),
  );
}

/**
 * After step 10: the saved file gets the refreshed tokens at once. With
 * rotation the refresh token in it has just died, and presenting it again
 * would revoke the whole login, so no file may keep it (facts L). The file
 * is replaced whole: a crash leaves the old one or the new one.
 */
async function replaceSavedTokens(flow: Flow, tokens: Tokens, before: Tokens) {
  const path = flow.config.save!;
  try {
    await replaceFile(path, savedText(tokens));
  } catch (error) {
    throw new FlowError({
      error: "save_failed",
      error_description: `Cannot save the refreshed tokens: ${
        (error as Error).message
      } "${path}"`,
      hint: tokens.refresh_token !== before.refresh_token
        ? `The refresh token in ${path} was rotated out and is dead: presenting it again would revoke the login. Delete the file and run the flow again.`
        : `${path} still holds the earlier tokens, and its refresh token still works.`,
      cause: error,
    });
  }
  note(
    flow,
    tokens.refresh_token !== before.refresh_token
      ? `replaced ${path} with the refreshed tokens: the new refresh token (the old one died when it was rotated)`
      : `replaced ${path} with the refreshed tokens: a new access token, the same refresh token`,
  );
}

/** The temporary file beside FILE that replaces it: `FILE.tmp`, so one --allow-write names both. */
function replacementPath(path: string): string {
  return `${path}.tmp`;
}

/** Replaces a file all at once: the text goes to a new 0600 file beside it, is flushed to disk, and is renamed over the old one (rename is atomic on one file system). */
async function replaceFile(path: string, text: string) {
  const temporary = replacementPath(path);
  await Deno.remove(temporary).catch(() => {}); // one a crash left behind
  const file = await Deno.open(temporary, {
    write: true,
    createNew: true,
    mode: 0o600,
  });
  try {
    const bytes = new TextEncoder().encode(text);
    for (let written = 0; written < bytes.length;) {
      written += await file.write(bytes.subarray(written));
    }
    await file.sync(); // on disk before the rename makes it the file
    file.close();
    await Deno.rename(temporary, path);
  } catch (error) {
    try {
      file.close();
    } catch { /* closed already */ }
    await Deno.remove(temporary).catch(() => {}); // nothing half-done left behind
    throw error;
  }
}

// ---------------------------------------------------------------------------
// Step 9: Identity Retrieved (the access token's first use)
// ---------------------------------------------------------------------------

/** Uses the access token for the first time: who does the org say signed in? */
async function getIdentity(flow: Flow, tokens: Tokens) {
  // The access token goes only where the URL policy lets the script fetch.
  const refusal = fetchRefusal(flow.config.instanceUrl, tokens.id_url);
  if (refusal) {
    const problem =
      `the identity URL is not fetched, so the access token is not sent there: ${refusal}`;
    warn(`skipped step 9: ${problem}`);
    logStep(flow, 9, { skipped: true, reason: problem });
    return;
  }
  const response = await identityRequest(flow, tokens);
  logStep(flow, 9, readIdentity(response));
}

/** GETs the identity URL with the access token; `version=latest` fills in the API version in its URLs. @see https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_using_openid.htm */
async function identityRequest(
  flow: Flow,
  tokens: Tokens,
): Promise<Answer> {
  const url = new URL(tokens.id_url);
  url.searchParams.set("version", "latest");
  return await send(flow, "identity response", url.href, {
    headers: {
      authorization: `Bearer ${tokens.access_token}`,
      accept: "application/json",
    },
  });
}

/** The identity response's fields that step 9 shows; a refusal or a field of the wrong type is a FlowError. */
function readIdentity(response: Answer) {
  if (response.status === 401 || response.status === 403) {
    throw new FlowError({
      error: "identity_refused",
      error_description:
        `Cannot read the identity URL: HTTP ${response.status} ${
          quoted(response, 80)
        }`,
      hint:
        "A 401 or 403 means the token lacks the id (or api) scope, or it was revoked or expired: add id to the app's scopes " +
        '(or --scope "api id refresh_token"), then run again.',
    });
  }
  const identity = readJson(response, "identity response");
  const field = (value: unknown, name: string) => {
    if (value === undefined || value === null || typeof value === "string") {
      return value ?? null;
    }
    throw new FlowError({
      error: "unexpected_response",
      error_description:
        `Cannot use the identity response: ${name} is not a string`,
      hint:
        "The identity URL answered with fields of the wrong type: check the instance URL points at a Salesforce org.",
    });
  };
  const urls = identity.urls;
  return {
    user_id: field(identity.user_id, "user_id"),
    organization_id: field(identity.organization_id, "organization_id"),
    username: field(identity.username, "username"),
    display_name: field(identity.display_name, "display_name"),
    rest_url: typeof urls === "object" && urls !== null
      ? field((urls as Record<string, unknown>).rest, "urls.rest")
      : field(urls, "urls"),
  };
}

// ---------------------------------------------------------------------------
// Step 10: Token Refreshed
// ---------------------------------------------------------------------------

/** The refresh token grant, through the same request and checks as step 7. @see https://www.rfc-editor.org/rfc/rfc6749#section-6 */
async function refreshTokens(
  flow: Flow,
  tokens: Tokens,
  nonce: string | undefined,
): Promise<Tokens> {
  if (!tokens.refresh_token) {
    logStep(flow, 10, {
      skipped: true,
      reason:
        "no refresh token: the refresh_token scope was not granted (add it to the app's scopes or --scope)",
    });
    return tokens;
  }
  const body = withClientAuthentication(
    flow,
    new URLSearchParams({
      grant_type: "refresh_token",
      refresh_token: tokens.refresh_token,
      client_id: flow.config.clientId,
    }),
  );
  const response = await tokenRequest(flow, body);
  const { body: refreshed, signature } = await processTokenResponse(
    flow,
    response,
  );
  // A nonce is not required on refresh; iss, sub and aud must be the first ID token's.
  const idToken = refreshed.id_token
    ? await verifyIdToken(flow, refreshed, {
      nonce,
      nonceRequired: false,
      first: tokens.id_token_claims,
      orgDate: response.headers.get("date"),
    })
    : undefined;
  const rotated = refreshed.refresh_token !== undefined &&
    refreshed.refresh_token !== tokens.refresh_token;
  logStep(flow, 10, {
    token_endpoint: orgEndpoint(flow, "token"),
    payload: maskPayload(flow, body),
    status: response.status,
    access_token: mask(refreshed.access_token, flow.output.showSecrets),
    issued_at: refreshed.issued_at,
    signature,
    ...(idToken ? { id_token: idToken.shown } : {}),
    access_token_format: accessTokenFormat(refreshed),
    refresh_token: mask(
      refreshed.refresh_token ?? tokens.refresh_token,
      flow.output.showSecrets,
    ),
    refresh_token_rotated: rotated,
    rotation: rotated
      ? "rotated: a new refresh token came back, and the one just used is dead; presenting the old one again revokes this whole login (every token of it), so keep only the new one"
      : refreshed.refresh_token === undefined
      ? "not rotated: no refresh token came back, so the one you have stays valid"
      : "not rotated: the same refresh token came back, and it stays valid",
  }, (data) => refreshView(flow, data, tokens, refreshed));
  return {
    ...tokens,
    access_token: refreshed.access_token,
    refresh_token: refreshed.refresh_token ?? tokens.refresh_token,
    issued_at: refreshed.issued_at,
    id_token: refreshed.id_token ?? tokens.id_token,
    api_instance_url: refreshed.api_instance_url ?? tokens.api_instance_url,
    // The first ID token's claims stay: a later one is compared with them.
  };
}

// ---------------------------------------------------------------------------
// Step 11: Token Revoked
// ---------------------------------------------------------------------------

/** Revokes the refresh token (and with it its access tokens), then shows the access token refused. @see https://www.rfc-editor.org/rfc/rfc7009#section-2.1 */
async function revokeTokens(flow: Flow, tokens: Tokens) {
  const kind = tokens.refresh_token ? "refresh_token" : "access_token";
  const token = tokens.refresh_token ?? tokens.access_token;
  const endpoint = orgEndpoint(flow, "revoke");
  const response = await postForm(
    flow,
    "revocation response",
    endpoint,
    new URLSearchParams({ token }),
  );
  processRevocationResponse(response);
  // Show it bite: the identity URL now refuses the access token.
  const after = fetchRefusal(flow.config.instanceUrl, tokens.id_url)
    ? undefined
    : await identityRequest(flow, tokens);
  const answer = after?.text.replace(/\s+/g, " ").trim().slice(0, 80);
  logStep(flow, 11, {
    revocation_endpoint: endpoint,
    revoked: kind,
    token: mask(token, flow.output.showSecrets),
    status: response.status,
    identity_status_after: after?.status ?? null,
    identity_after: after
      ? `${after.status} ${after.ok ? "" : answer}`.trim() + ": " +
        (after.ok
          ? "the access token still works"
          : kind === "refresh_token"
          ? "the access token died with its refresh token"
          : "the access token is dead")
      : "not asked (the identity URL is on another host)",
  });
  if (after) {
    recordCheck(
      flow,
      after.ok
        ? "access token still accepted after revocation"
        : "access token refused after revocation",
      !after.ok,
    );
  }
  if (after?.ok) {
    warn(
      "the identity URL still accepts the access token after revocation",
    );
  }
}

/** A revocation succeeded with 200; Salesforce answers 400 with a form- or JSON-encoded error. */
function processRevocationResponse(response: Answer) {
  const { text } = response;
  if (response.ok) return;
  let fields: Record<string, unknown> = Object.fromEntries(
    new URLSearchParams(text),
  );
  try {
    const json = parseJson(text);
    if (typeof json === "object" && json !== null) {
      fields = json as Record<string, unknown>;
    }
  } catch { /* form-encoded */ }
  const error = typeof fields.error === "string" && fields.error
    ? fields.error
    : `http_${response.status}`;
  const description = typeof fields.error_description === "string"
    ? fields.error_description
    : quoted(response);
  throw new FlowError({ error, error_description: description });
}

// ---------------------------------------------------------------------------
// OpenID Connect: checking the ID token (steps 7 and 10)
// ---------------------------------------------------------------------------
//
// With the openid scope, the token response carries an ID token: a JWT that
// says who signed in, signed by the org. Reading its claims is easy; trusting
// them takes every check below, in this order. No JWT library: this is it.

/** A JWT split into its parts: decoded header and claims, and what was signed. @see https://www.rfc-editor.org/rfc/rfc7515#section-7.1 */
export interface DecodedJwt {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  signingInput: Uint8Array<ArrayBuffer>;
  signature: Uint8Array<ArrayBuffer>;
}

/** How far clocks may disagree when checking `exp` and `iat`. */
const CLOCK_ALLOWANCE_SECONDS = 60;

function idTokenError(check: string, detail: string, hint?: string) {
  return new FlowError({
    error: "invalid_id_token",
    error_description:
      `Cannot trust the ID token: ${check} check failed: ${detail}`,
    check,
    hint,
  });
}

/** A value from the ID token or the key set as an error shows it: JSON, cut at 80 characters. */
function brief(value: unknown): string {
  const text = typeof value === "number" || value === undefined
    ? String(value)
    : safeJson(value);
  return text.length > 80 ? `${text.slice(0, 80)}${ELLIPSIS}` : text;
}

/** The longest ID token decoded: Salesforce's are 1 to 3 KB. */
const MAX_JWT_LENGTH = 16 * 1024;

/** Splits a compact JWS into header, claims and signature, refusing one too long or nested too deep to print. @see https://www.rfc-editor.org/rfc/rfc7515#section-7.1 */
export function decodeJwt(jwt: string): DecodedJwt {
  if (jwt.length > MAX_JWT_LENGTH) {
    throw idTokenError(
      "format",
      `longer than ${MAX_JWT_LENGTH} characters (${jwt.length})`,
    );
  }
  const parts = jwt.split(".");
  const json = (part: string) => {
    const value = parseJson(
      new TextDecoder().decode(
        Uint8Array.fromBase64(part, { alphabet: "base64url" }),
      ),
    );
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new TypeError("not a JSON object");
    }
    return value as Record<string, unknown>;
  };
  try {
    if (parts.length !== 3) throw new TypeError(`${parts.length} parts, not 3`);
    return {
      header: json(parts[0]),
      claims: json(parts[1]),
      signingInput: new TextEncoder().encode(`${parts[0]}.${parts[1]}`),
      signature: Uint8Array.fromBase64(parts[2], { alphabet: "base64url" }),
    };
  } catch (error) {
    const { message } = error as Error;
    throw idTokenError(
      "format",
      message.startsWith("nested")
        ? `its JSON is ${message}`
        : `not a signed JWT (${message})`,
    );
  }
}

/** Verifies an RS256 signature (RSASSA-PKCS1-v1_5 with SHA-256) with an RSA public key given as a JWK. @see https://www.rfc-editor.org/rfc/rfc7518#section-3.3 */
export async function verifyRs256(
  jwt: DecodedJwt,
  jwk: JsonWebKey,
): Promise<boolean> {
  const key = await crypto.subtle.importKey(
    "jwk",
    { kty: "RSA", n: jwk.n, e: jwk.e },
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["verify"],
  );
  return await crypto.subtle.verify(
    "RSASSA-PKCS1-v1_5",
    key,
    jwt.signature,
    jwt.signingInput,
  );
}

/** `at_hash`: base64url of the left half of the access token's SHA-256. @see https://openid.net/specs/openid-connect-core-1_0.html#CodeIDToken */
export async function accessTokenHash(accessToken: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest(
      "SHA-256",
      new TextEncoder().encode(accessToken),
    ),
  );
  return base64url(digest.slice(0, digest.length / 2));
}

/** Reads a JSON document the org publishes (discovery, keys); anything else is `unexpected_response`. */
async function fetchDocument(flow: Flow, url: string, what: OrgDocument) {
  const response = await send(flow, what, url, {
    headers: { accept: "application/json" },
  });
  return readJson(response, what);
}

/** The org's issuer and key set URL, from its discovery document. @see https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderMetadata */
async function discoverIssuer(flow: Flow, origin: string) {
  const url = `${origin}/.well-known/openid-configuration`;
  const document = await fetchDocument(flow, url, "discovery document");
  const { issuer, jwks_uri } = document;
  if (
    typeof issuer !== "string" || typeof jwks_uri !== "string" ||
    !URL.parse(jwks_uri)
  ) {
    throw new FlowError({
      error: "unexpected_response",
      error_description:
        `Cannot use the discovery document ${url}: it lacks issuer or jwks_uri`,
      hint:
        "The org must publish its OpenID Connect metadata: check the instance URL.",
    });
  }
  return { url, issuer, jwks_uri };
}

/** The signing key with this `kid`, from the key set; fetched again once when the kid is unknown (keys rotate). @see https://openid.net/specs/openid-connect-core-1_0.html#RotateSigKeys */
async function findSigningKey(flow: Flow, jwksUri: string, kid: unknown) {
  for (let attempt = 1; attempt <= 2; attempt++) {
    const set = await fetchDocument(flow, jwksUri, "key set (JWKS)");
    if (!Array.isArray(set.keys)) {
      throw new FlowError({
        error: "unexpected_response",
        error_description:
          `Cannot use the key set ${jwksUri}: it has no keys array`,
        hint:
          "The org's jwks_uri must answer a JSON Web Key Set: check the instance URL.",
      });
    }
    const key = (set.keys as JsonWebKey[]).find((k) =>
      typeof k === "object" && k !== null &&
      (k as { kid?: unknown }).kid === kid && k.kty === "RSA"
    );
    if (key) return { key, attempt };
  }
  throw idTokenError(
    "key",
    `no RSA key with kid ${
      brief(kid)
    } at ${jwksUri}, even after fetching it again`,
  );
}

/** An ID token that passed every check: its claims, and what steps 7 and 10 show of it. */
interface VerifiedIdToken {
  claims: Record<string, unknown>;
  shown: Record<string, unknown>;
}

/** Step 7's ID token check; should the clock be off, the tokens the org just issued are saved first (with --save): a wrong clock is no reason to lose them. */
async function verifyFirstIdToken(
  flow: Flow,
  body: TokenResponse,
  nonce: string | undefined,
  orgDate: string | null,
): Promise<VerifiedIdToken> {
  try {
    return await verifyIdToken(flow, body, {
      nonce,
      nonceRequired: true,
      orgDate,
    });
  } catch (error) {
    const clock = error instanceof FlowError &&
      (error.check === "exp" || error.check === "iat");
    if (clock && flow.config.save) await saveTokens(flow, toTokens(body));
    throw error;
  }
}

/**
 * Checks an ID token as OpenID Connect Core section 3.1.3.7 asks, and says what each
 * check found. The issuer comes from the configured instance's discovery
 * document, never from the token itself.
 * @see https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation
 */
async function verifyIdToken(
  flow: Flow,
  body: TokenResponse,
  expected: {
    nonce?: string;
    nonceRequired: boolean;
    /** On refresh: the first ID token's claims; iss, sub and aud must match. */
    first?: Record<string, unknown>;
    /** The token response's Date header: the org's clock, to tell a wrong clock here. */
    orgDate?: string | null;
  },
): Promise<VerifiedIdToken> {
  const jwt = decodeJwt(String(body.id_token));
  const { header, claims } = jwt;
  const checks: Record<string, string> = {};
  // 1. The header, before any key is touched: RS256 only, no extensions.
  checkIdTokenHeader(header, checks);
  // 2. The issuer, from the org's discovery document.
  const discovery = await issuerOf(flow, body, claims.iss, checks);
  // 3. The signature, with the key the header names, from the org's key set.
  await checkIdTokenSignature(flow, jwt, discovery.jwks_uri, checks);
  // 4. The audience (and the authorized party, if named): this app.
  checkAudience(claims, flow.config.clientId, checks);
  // 5. The time: not expired, not issued in the future.
  checkIdTokenTimes(claims, expected.orgDate, checks);
  // 6. The nonce: the one step 3 sent, so this token was made for this run.
  checkNonce(claims, expected, checks);
  // 7. at_hash, when present: this token was issued with this access token.
  if (claims.at_hash !== undefined) {
    if (claims.at_hash !== await accessTokenHash(body.access_token)) {
      throw idTokenError("at_hash", "at_hash does not match the access token");
    }
    checks.at_hash = "matches the access token";
  }
  // 8. sub is the identity URL: step 9's URL, now in a signed statement.
  if (claims.sub !== body.id) {
    throw idTokenError(
      "sub",
      `sub is ${brief(claims.sub)}, the token response's id is "${body.id}"`,
    );
  }
  checks.sub = "the identity URL (id): who signed in, signed by the org";
  // 9. On refresh: the same issuer, user and audience as the first ID token.
  if (expected.first) checkSameAsFirst(claims, expected.first);
  recordCheck(flow, "ID token verified");
  return {
    claims,
    // What steps 7 and 10 print: header, claims, and what each check found.
    shown: {
      token: mask(String(body.id_token), flow.output.showSecrets),
      header: { alg: header.alg, kid: header.kid },
      claims,
      checks,
    },
  };
}

/**
 * Check 2: `iss` is the issuer in the configured org's discovery document.
 * Salesforce names a My Domain login's own host as issuer even when it began
 * at login.salesforce.com: then that host's discovery must say so itself.
 * Returns the discovery document that named the issuer.
 */
async function issuerOf(
  flow: Flow,
  body: TokenResponse,
  iss: unknown,
  checks: Record<string, string>,
) {
  let discovery = await discoverIssuer(flow, flow.config.instanceUrl);
  const instanceOrigin = URL.parse(body.instance_url)?.origin;
  if (instanceOrigin && iss !== discovery.issuer && iss === instanceOrigin) {
    const mine = await discoverIssuer(flow, instanceOrigin);
    if (mine.issuer === iss) {
      discovery = mine;
      checks.issuer_from =
        `${mine.url} (the token response's instance_url: a My Domain login)`;
    }
  }
  if (iss !== discovery.issuer) {
    throw idTokenError(
      "iss",
      `iss is ${brief(iss)}, the org's issuer is "${discovery.issuer}"`,
    );
  }
  checks.iss = `matches the issuer in ${
    checks.issuer_from ? "that" : "the org's"
  } discovery document`;
  return discovery;
}

/** Check 3: the RS256 signature, with the org's key that the header's `kid` names. */
async function checkIdTokenSignature(
  flow: Flow,
  jwt: DecodedJwt,
  jwksUri: string,
  checks: Record<string, string>,
) {
  const kid = jwt.header.kid;
  const { key, attempt } = await findSigningKey(flow, jwksUri, kid);
  const unfit = keyUnfitForRs256(key);
  if (unfit) throw idTokenError("key", `the key ${brief(kid)} ${unfit}`);
  if (!await verifyRs256(jwt, key).catch(() => false)) {
    throw idTokenError(
      "signature",
      "the RS256 signature does not match the header and claims",
    );
  }
  const declared = [
    key.use ? `use ${key.use}` : "",
    key.key_ops ? `key_ops ${key.key_ops.join(" ")}` : "",
    key.alg ? `alg ${key.alg}` : "",
  ].filter(Boolean);
  if (declared.length > 0) {
    checks.key = `its JWK says ${declared.join(", ")}: an RS256 signature key`;
  }
  checks.signature = `valid, with key ${brief(kid)} from ${jwksUri}${
    attempt > 1 ? " (found after fetching the keys again)" : ""
  }`;
}

/** Why a key from the key set may not verify an RS256 signature, if it may not: what its JWK says it is for. @see https://www.rfc-editor.org/rfc/rfc7517#section-4.2 */
function keyUnfitForRs256(key: JsonWebKey): string | undefined {
  if (key.use !== undefined && key.use !== "sig") {
    return `is for use ${brief(key.use)}, not "sig" (RFC 7517 section 4.2)`;
  }
  const ops: unknown = key.key_ops;
  if (ops !== undefined && !(Array.isArray(ops) && ops.includes("verify"))) {
    return `has key_ops ${brief(ops)} without "verify" (RFC 7517 section 4.3)`;
  }
  if (key.alg !== undefined && key.alg !== "RS256") {
    return `is for alg ${brief(key.alg)}, not RS256 (RFC 7517 section 4.4)`;
  }
  return undefined;
}

/** Check 1: the header, before any key is touched: RS256 only (never none or HS256), and no extension that changes what is signed. @see https://www.rfc-editor.org/rfc/rfc7515#section-4.1.11 */
function checkIdTokenHeader(
  header: Record<string, unknown>,
  checks: Record<string, string>,
) {
  if (header.alg !== "RS256") {
    throw idTokenError(
      "alg",
      `the algorithm is ${brief(header.alg)}, not RS256`,
    );
  }
  // A critical extension must be understood or the token refused; this script implements none.
  if (header.crit !== undefined) {
    throw idTokenError(
      "crit",
      `the header names critical extensions ${
        brief(header.crit)
      } that this script does not implement (RFC 7515 section 4.1.11)`,
    );
  }
  // b64: false signs the payload unencoded (RFC 7797): no ID token is made so.
  if (header.b64 !== undefined && header.b64 !== true) {
    throw idTokenError(
      "b64",
      `b64 is ${
        brief(header.b64)
      }: an unencoded payload (RFC 7797) is no ID token`,
    );
  }
  checks.alg = "RS256, the only algorithm the org uses";
}

/** Check 4: `aud` is or contains this app's consumer key, and `azp`, when present, is it. @see https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation */
function checkAudience(
  claims: Record<string, unknown>,
  clientId: string,
  checks: Record<string, string>,
) {
  const audience = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!audience.includes(clientId)) {
    throw idTokenError(
      "aud",
      `aud is ${brief(claims.aud)}, not this app's consumer key`,
    );
  }
  checks.aud = Array.isArray(claims.aud)
    ? "contains the consumer key"
    : "the consumer key";
  if (claims.azp === undefined) return;
  if (claims.azp !== clientId) {
    throw idTokenError(
      "azp",
      `azp is ${brief(claims.azp)}: the token was issued to another app`,
    );
  }
  checks.azp = "the consumer key: issued to this app";
}

/** Check 5: not expired, and not issued in the future, give or take the clocks' difference; both finite numbers of seconds. */
function checkIdTokenTimes(
  claims: Record<string, unknown>,
  orgDate: string | null | undefined,
  checks: Record<string, string>,
) {
  const now = Date.now() / 1000;
  for (const name of ["exp", "iat"]) {
    const value = claims[name];
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw idTokenError(
        name,
        `${name} is ${brief(value)}, not a finite number of seconds`,
      );
    }
  }
  const [exp, iat] = [claims.exp as number, claims.iat as number];
  if (exp < now - CLOCK_ALLOWANCE_SECONDS) {
    throw idTokenError(
      "exp",
      `exp ${exp} is ${Math.round(now - exp)} s in the past`,
      clockHint(orgDate),
    );
  }
  if (iat > now + CLOCK_ALLOWANCE_SECONDS) {
    throw idTokenError(
      "iat",
      `iat ${iat} is ${Math.round(iat - now)} s in the future`,
      clockHint(orgDate),
    );
  }
  checks.exp = `expires in ${
    Math.round(exp - now)
  } s (clocks may differ by ${CLOCK_ALLOWANCE_SECONDS} s)`;
  checks.iat = "not in the future";
}

/** What to do when exp or iat is off by more than the allowance: this machine's clock may be wrong, by so much against the org's Date header. */
export function clockHint(
  orgDate: string | null | undefined,
  now = Date.now(),
): string {
  const fix =
    "Set this machine's clock automatically (Linux: timedatectl set-ntp true; macOS: System Settings > General > Date & Time; " +
    "Windows: Settings > Time & language > Date & time > Sync now), then run the flow again.";
  const org = orgDate ? Date.parse(orgDate) : NaN;
  if (!Number.isFinite(org)) {
    return `This machine's clock may be wrong (the org sent no Date header to compare it with). ${fix}`;
  }
  const skew = Math.round((now - org) / 1000);
  if (Math.abs(skew) <= CLOCK_ALLOWANCE_SECONDS) {
    return `This machine's clock is within ${
      Math.abs(skew)
    } s of the org's (its Date header), so the clock is not the cause: the ID token itself is out of date. ` +
      "Do not use these tokens; run the flow again, and if it persists, check the instance URL.";
  }
  const hours = Math.abs(skew) / 3600;
  const about = hours >= 1
    ? ` (about ${Math.round(hours)} h)`
    : ` (about ${Math.round(Math.abs(skew) / 60)} min)`;
  return `This machine's clock may be wrong: it is ${
    Math.abs(skew)
  } s${about} ${
    skew > 0 ? "ahead of" : "behind"
  } the org's (its Date header said ${orgDate!.slice(0, 40)}). ${fix}`;
}

/** Check 6: the nonce step 3 sent; required on the first ID token, and checked on refresh if one comes back. */
function checkNonce(
  claims: Record<string, unknown>,
  expected: { nonce?: string; nonceRequired: boolean },
  checks: Record<string, string>,
) {
  if (!expected.nonceRequired && claims.nonce === undefined) {
    checks.nonce = "none (not required on refresh)";
    return;
  }
  if (claims.nonce !== expected.nonce) {
    throw idTokenError(
      "nonce",
      claims.nonce === undefined
        ? "the nonce sent at step 3 is missing"
        : "the nonce is not the one sent at step 3",
    );
  }
  checks.nonce = "the one sent at step 3";
}

/** Check 9, on refresh: the same issuer, user and audience as the first ID token. @see https://openid.net/specs/openid-connect-core-1_0.html#RefreshTokenResponse */
function checkSameAsFirst(
  claims: Record<string, unknown>,
  first: Record<string, unknown>,
) {
  for (const name of ["iss", "sub", "aud"] as const) {
    if (JSON.stringify(claims[name]) !== JSON.stringify(first[name])) {
      throw idTokenError(name, `${name} differs from the first ID token's`);
    }
  }
}

/** Who signed in, from a verified ID token. */
/** The claims of a JWT (and an ID token) that say how to trust it, not who signed in. @see https://openid.net/specs/openid-connect-core-1_0.html#IDToken */
const REGISTERED_CLAIMS = [
  "iss",
  "aud",
  "exp",
  "iat",
  "nbf",
  "jti",
  "nonce",
  "at_hash",
  "c_hash",
  "auth_time",
  "azp",
  "acr",
  "amr",
];

/** Who signed in, from a verified ID token: sub and the profile claims, the usual four first. */
function signedInUser(claims: Record<string, unknown>) {
  const profile = Object.entries(claims).filter(([name]) =>
    !REGISTERED_CLAIMS.includes(name)
  );
  return {
    sub: claims.sub,
    preferred_username: claims.preferred_username ?? null,
    name: claims.name ?? null,
    email: claims.email ?? null,
    ...Object.fromEntries(profile),
  };
}

// ---------------------------------------------------------------------------
// JWT-based access tokens (steps 7 and 10): decoded to be seen, never trusted
// ---------------------------------------------------------------------------

/** An access token is JWT-based when the response says `token_format: "jwt"`, or when it is shaped like one (`eyJ...`, three parts); otherwise Salesforce's opaque kind. */
export function accessTokenFormat(
  body: Pick<TokenResponse, "access_token" | "token_format">,
): "jwt" | "opaque" {
  const shapedLikeJwt = /^eyJ[\w-]*\.[\w-]+\.[\w-]*$/.test(body.access_token);
  return body.token_format === "jwt" || shapedLikeJwt ? "jwt" : "opaque";
}

/**
 * A JWT-based access token, decoded for the learner: its header and claims,
 * `exp` as a date. Nothing here is checked, and the token itself stays
 * masked: only the org that issued it judges it.
 * @see https://help.salesforce.com/s/articleView?id=xcloud.jwt_access_tokens.htm
 */
export function showJwtAccessToken(
  body: Pick<TokenResponse, "access_token" | "token_format">,
): Record<string, unknown> {
  const opaque =
    "Clients should treat it as opaque: send it as it is, and never rely on what it says inside (the org may change its format); decoding it is for learning and debugging.";
  let jwt: DecodedJwt;
  try {
    jwt = decodeJwt(body.access_token); // the same size and depth limits as an ID token's
  } catch (error) {
    const detail = error instanceof FlowError
      ? error.error_description.replace(/^.*check failed: /, "")
      : String(error);
    return { decoded: false, reason: detail, treat_as_opaque: opaque };
  }
  const { exp } = jwt.claims;
  return {
    about: `a JWT-based access token${
      body.token_format === "jwt" ? ' (token_format "jwt")' : ""
    }: a signed JSON Web Token, for REST APIs; its header and claims are decoded below, unchecked`,
    header: jwt.header,
    claims: jwt.claims,
    ...(typeof exp === "number" && Number.isFinite(exp) &&
        Math.abs(exp) < 8.64e12
      ? { exp_iso: new Date(exp * 1000).toISOString() }
      : {}),
    treat_as_opaque: opaque,
  };
}

// ===========================================================================
// The machinery the steps share
// ===========================================================================

// ---------------------------------------------------------------------------
// Talking to the org: fetch with a time limit, and its failures explained
// ---------------------------------------------------------------------------

/** How long the org may take to answer one request, body included. */
const FETCH_TIMEOUT_MS = 30_000;

/**
 * What the script reads from the org, and the most it reads of each: many
 * times what Salesforce sends, and far too little for a flood to matter.
 */
const READ_LIMITS = {
  // Only a prefix: Salesforce's refusal is under 200 bytes of text.
  "answer to the check": 1024,
  "token response": 64 * 1024, // tokens and an ID token: a few KB
  "discovery document": 64 * 1024, // about 4 KB
  "key set (JWKS)": 64 * 1024, // a few RSA keys, under 2 KB each
  "identity response": 64 * 1024, // about 3 KB
  "revocation response": 16 * 1024, // empty, or a one-line error
};

/** Each thing the script reads from the org, by the name its errors use. */
export type OrgDocument = keyof typeof READ_LIMITS;

/** An endpoint on the configured org: `/services/oauth2/{token,revoke}`. */
function orgEndpoint(flow: Flow, name: "token" | "revoke"): string {
  return new URL(`/services/oauth2/${name}`, flow.config.instanceUrl).href;
}

/** POSTs a form to the org, with a time limit and no redirects followed. */
async function postForm(
  flow: Flow,
  document: OrgDocument,
  endpoint: string,
  body: URLSearchParams,
): Promise<Answer> {
  return await send(flow, document, endpoint, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      accept: "application/json",
    },
    body,
  });
}

/** Salesforce's hosts that serve identity URLs, discovery and keys: its login hosts, My Domains and Experience Cloud sites. */
const SALESFORCE_HOSTS = [
  /^login\.salesforce\.com$/,
  /^test\.salesforce\.com$/,
  /\.my\.salesforce\.com$/,
  /\.my\.site\.com$/,
];

/** The names of this machine's loopback interface. */
const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"];

/** True when `url` names the configured org's host: the same host, or for an org on loopback, its port under any loopback name. */
function onOrgHost(org: URL, url: URL): boolean {
  if (url.host === org.host) return true;
  return url.port === org.port && LOOPBACK_NAMES.includes(url.hostname) &&
    LOOPBACK_NAMES.includes(org.hostname);
}

/** True when `url` is on the configured org: its scheme, on its host. */
function onConfiguredOrg(instanceUrl: string, url: URL): boolean {
  const org = new URL(instanceUrl);
  return url.protocol === org.protocol && onOrgHost(org, url);
}

/**
 * Why the script will not fetch `url`, if it will not: it fetches only https
 * URLs on the configured org's host or on Salesforce's, and, for an org on
 * loopback, that org itself. Deno's `fetch` reads `file:` and `data:` URLs
 * too, so no URL an answer names is fetched unless it passes here.
 */
export function fetchRefusal(
  instanceUrl: string,
  url: string,
): string | undefined {
  const target = URL.parse(url);
  if (!target) return "it is not a URL";
  if (target.username || target.password) {
    return `it carries a user name or password (host "${target.host}")`;
  }
  if (onConfiguredOrg(instanceUrl, target)) return undefined;
  const salesforce = target.protocol === "https:" && target.port === "" &&
    SALESFORCE_HOSTS.some((host) => host.test(target.hostname));
  if (salesforce) return undefined;
  if (target.protocol !== "https:" && target.protocol !== "http:") {
    return `its scheme is ${target.protocol}, not https`;
  }
  const org = new URL(instanceUrl);
  if (onOrgHost(org, target)) {
    return `its scheme is ${target.protocol}, not the instance URL's ${org.protocol} (host "${target.host}")`;
  }
  return `its host "${target.host}" is neither the instance URL's ("${org.host}") nor one of Salesforce's` +
    (target.protocol === "https:" ? "" : ", and it is not https");
}

/** An org's answer, read whole (or, for the check, its first KB) within the request's time limit. */
export interface Answer {
  url: string;
  status: number;
  ok: boolean;
  headers: Headers;
  /** The body as text: whole, or as much of it as a prefix read takes. */
  text: string;
  /** The body went on past what was read (a prefix read only: any other read refuses it). */
  truncated: boolean;
  /** From the configured org itself: only its bodies are ever quoted in an error. */
  fromOrg: boolean;
}

/**
 * Every request the script makes goes through here: the URL policy, then
 * `fetch` with the run's signal, no redirects followed, and one time limit
 * (30 seconds unless told) for the answer and its body; the body read up to
 * its cap. Network failures and timeouts, before or during the body, become
 * a `network_error` or `timeout` that says what to do.
 */
export async function send(
  flow: Flow,
  document: OrgDocument,
  url: string,
  init: RequestInit,
  options: {
    timeoutMs?: number;
    /** Read at most the cap, and keep what was read. */
    prefix?: boolean;
    /** Read the body only for these statuses; any other is left unread. */
    readFor?: number[];
  } = {},
): Promise<Answer> {
  const { timeoutMs = FETCH_TIMEOUT_MS, prefix = false, readFor } = options;
  const refusal = fetchRefusal(flow.config.instanceUrl, url);
  if (refusal) {
    throw new FlowError({
      error: "unexpected_response",
      error_description: `Cannot fetch the ${document}: ${refusal}`,
      hint:
        "The org's answers named a URL this script does not fetch (only https on the instance URL's host or Salesforce's): check the instance URL points at a Salesforce org.",
    });
  }
  const limit = READ_LIMITS[document];
  let response: Response | undefined;
  try {
    response = await fetchRecorded(flow, url, {
      ...init,
      redirect: "manual",
      signal: AbortSignal.any([flow.signal, AbortSignal.timeout(timeoutMs)]),
    });
    response = await flow.exercise?.onTheWire?.(url, init, response) ??
      response;
    const { text, truncated } = !readFor || readFor.includes(response.status)
      ? await readAtMost(response, limit)
      : await leaveUnread(response);
    if (truncated && !prefix) throw tooLarge(document, url, limit);
    return {
      url,
      status: response.status,
      ok: response.ok,
      headers: response.headers,
      text,
      truncated,
      fromOrg: onConfiguredOrg(flow.config.instanceUrl, new URL(url)),
    };
  } catch (error) {
    if (error instanceof FlowError) throw error;
    if (flow.signal.aborted) throw flow.signal.reason;
    const reading = response ? ` the ${document} from` : "";
    if (isTimeout(error)) {
      throw new FlowError({
        error: "timeout",
        error_description: `Cannot ${
          reading ? "read" : "reach"
        }${reading} ${url}: ${
          response ? "it did not finish" : "no answer"
        } within ${timeoutMs / 1000} seconds`,
        hint: withProxyHint(
          "The org did not answer in time: check the instance URL, your network, proxy and VPN, then run again.",
          url,
        ),
        cause: error,
      });
    }
    const detail = networkDetail(error);
    throw new FlowError({
      error: "network_error",
      error_description: `Cannot ${
        reading ? "read" : "reach"
      }${reading} ${url}: ${detail}`,
      hint: withProxyHint(networkHint(detail), url),
      cause: error,
    });
  }
}

/**
 * `fetch`, but straight to the host for an http URL on loopback. Deno's
 * fetch sends requests through HTTP_PROXY, HTTPS_PROXY or ALL_PROXY (either
 * case) unless NO_PROXY names the host; a proxy cannot reach this machine's
 * loopback, so, as browsers do, loopback never goes through one. When a
 * proxy would carry the request (or this run may not read the variables),
 * a client whose transport is a TCP connection to the host itself bypasses
 * it; the request line then carries the whole URL, which servers accept
 * (RFC 9112 section 3.2.2). Otherwise it is plain `fetch`.
 * @see https://docs.deno.com/api/deno/~/Deno.createHttpClient
 */
export async function fetchDirectToLoopback(
  url: string | URL,
  init: RequestInit = {},
): Promise<Response> {
  const target = new URL(url);
  const environment = proxyEnvironment();
  if (
    target.protocol !== "http:" || !isLoopbackHost(target.hostname) ||
    (environment && !proxyVariableFor(target.href, environment))
  ) {
    return await fetch(target, init);
  }
  const client = Deno.createHttpClient({
    proxy: {
      transport: "tcp",
      hostname: target.hostname,
      port: Number(target.port || 80),
    },
  });
  try {
    return await fetch(target, { ...init, client });
  } finally {
    client.close(); // the answer's body can still be read
  }
}

/** The variables Deno's fetch reads for its proxies. */
const PROXY_VARIABLES = [
  "ALL_PROXY",
  "all_proxy",
  "HTTPS_PROXY",
  "https_proxy",
  "HTTP_PROXY",
  "http_proxy",
  "NO_PROXY",
  "no_proxy",
] as const;

/** The proxy variables, or null when this run may not read them all; it never asks (no prompt in the middle of a request). */
function proxyEnvironment(): Record<string, string | undefined> | null {
  return proxyVariables === undefined
    ? (proxyVariables = readProxyEnvironment())
    : proxyVariables;
}

/** Read at the first request, and kept: Deno's fetch, too, reads them once, for the client its first request makes. */
let proxyVariables: Record<string, string | undefined> | null | undefined;

function readProxyEnvironment(): Record<string, string | undefined> | null {
  const environment: Record<string, string | undefined> = {};
  for (const variable of PROXY_VARIABLES) {
    const { state } = Deno.permissions.querySync({ name: "env", variable });
    if (state !== "granted") return null;
    environment[variable] = readEnv(variable);
  }
  return environment;
}

/** True when NO_PROXY (or no_proxy) exempts `hostname`: `*`, the name itself, or a domain it ends in. */
function exemptFromProxy(hostname: string, noProxy: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return noProxy.split(",").map((entry) => entry.trim().toLowerCase())
    .filter(Boolean).some((entry) => {
      const domain = entry.replace(/^\./, ""); // as Deno reads it: no wildcards but "*"
      return entry === "*" || host === domain || host.endsWith(`.${domain}`);
    });
}

/**
 * The variable whose proxy Deno's fetch would send `url` through, if any:
 * ALL_PROXY first, then the one for the URL's scheme (either case), unless
 * NO_PROXY exempts the host.
 */
export function proxyVariableFor(
  url: string,
  environment: Record<string, string | undefined>,
): string | undefined {
  const target = new URL(url);
  const noProxy = environment.NO_PROXY || environment.no_proxy || "";
  if (exemptFromProxy(target.hostname, noProxy)) return undefined;
  const candidates = [
    "ALL_PROXY",
    "all_proxy",
    ...(target.protocol === "https:"
      ? ["HTTPS_PROXY", "https_proxy"]
      : ["HTTP_PROXY", "http_proxy"]),
  ];
  return candidates.find((name) => environment[name]);
}

/** A network failure's hint, naming the proxy variable when a proxy carried the request (never for loopback, which goes direct): the proxy may be what failed. */
function withProxyHint(hint: string, url: string): string {
  const target = new URL(url);
  if (target.protocol === "http:" && isLoopbackHost(target.hostname)) {
    return hint;
  }
  const environment = proxyEnvironment();
  const variable = environment && proxyVariableFor(url, environment);
  if (!variable) return hint;
  const host = target.hostname;
  return `${hint} ${variable} is set, so this request went through that proxy: check the proxy lets ${host} through, ` +
    `or, to go direct, add ${host} to NO_PROXY (or unset ${variable}).`;
}

/** An answer whose body is not needed: cancelled, so none of it is downloaded. */
async function leaveUnread(response: Response) {
  await response.body?.cancel();
  return { text: "", truncated: false };
}

/** Reads at most `limit` bytes of an answer's body and cancels the rest; `truncated` says there was more. */
export async function readAtMost(
  response: Response,
  limit: number,
): Promise<{ text: string; truncated: boolean }> {
  // A declared length is all the connection carries for this answer: read it at once.
  const declared = response.headers.get("content-length");
  if (declared !== null && Number(declared) <= limit) {
    return { text: await response.text(), truncated: false };
  }
  const body = response.body;
  const bytes = new Uint8Array(limit);
  let length = 0;
  let truncated = false;
  const reader = body?.getReader();
  try {
    while (reader) {
      const { done, value } = await reader.read();
      if (done) break;
      const room = limit - length;
      bytes.set(value.subarray(0, room), length);
      length += Math.min(room, value.length);
      if (value.length > room) {
        truncated = true;
        break;
      }
    }
  } finally {
    reader?.cancel().catch(() => {}); // the rest is never read
  }
  return {
    text: new TextDecoder().decode(bytes.subarray(0, length)),
    truncated,
  };
}

function tooLarge(document: OrgDocument, url: string, limit: number) {
  return new FlowError({
    error: "unexpected_response",
    error_description: `Cannot use the ${document} from ${
      new URL(url).host
    }: it is larger than ${limit / 1024} KiB, the most this script reads of it`,
    hint:
      "Salesforce's answers are a few KB: check the instance URL points at a Salesforce org, and not at a proxy or another server.",
  });
}

// ---------------------------------------------------------------------------
// The record of a run: every exchange, for --http (and the report)
// ---------------------------------------------------------------------------
//
// Requests pass through two places: `send` (everything the script asks the
// org) and the callback server's handler (everything a browser brings back);
// with --demo the demo org also says what the browser did at it. Each records
// an Exchange here, masked by the one rule set; with neither --http nor a
// report there is no record, and recording costs one property check.

/** Notes a check that held (or failed) in the record, for the report's diagram. */
function recordCheck(flow: Flow, text: string, ok = true) {
  const check: CheckNote = { step: flow.step ?? 1, text, ok };
  flow.record?.events.push({ kind: "check", check });
}

/** What --http adds to a run: the text module, the exchanges not yet printed, and secrets seen so far (for curl's variable names). */
interface WireView {
  text: typeof import("./http_view.ts");
  pending: import("./http_view.ts").HttpEntry[];
  /** Secret value -> the field it came in, such as a refresh token from a token response. */
  known: Map<string, string>;
}

/** The longest body kept for --http; the rest is not read. */
const MAX_RECORDED_BODY = 64 * 1024;

/** Query and form fields worth a label in the report, in this order. */
const HIGHLIGHTS = [
  "response_type",
  "grant_type",
  "code",
  "state",
  "code_challenge",
  "code_verifier",
  "refresh_token",
  "token",
  "error",
];

/** `fetch`, recording the exchange when the run keeps a record. */
async function fetchRecorded(
  flow: Flow,
  url: string,
  init: RequestInit,
): Promise<Response> {
  if (!flow.record) return await fetchDirectToLoopback(url, init);
  const request = {
    method: init.method ?? "GET",
    url,
    headers: Object.entries((init.headers ?? {}) as Record<string, string>),
    body: init.body === undefined ? undefined : String(init.body),
  };
  let response: Response | undefined;
  try {
    response = await fetchDirectToLoopback(url, init);
    return response;
  } finally {
    // A refusal's body is read for the report's label (its error) too.
    const body = response && (flow.wire || response.status >= 400)
      ? await readCapped(response.clone())
      : undefined;
    recordExchange(flow, "back", ["script", "org"], request, response, body);
  }
}

/** Wraps the callback server's handler so that each request is recorded as it is answered; without a record, the handler itself. */
function recordedHandler(
  flow: Flow,
  handle: (request: Request) => Response,
): (request: Request) => Response {
  if (!flow.record) return handle;
  return (request) => {
    const response = handle(request);
    // At once, before the step that waits for it goes on; neither body is
    // read (a client dripping one must not hold anything up), and the
    // answer is one of the callback's own pages.
    recordExchange(flow, "front", ["browser", "callback"], {
      method: request.method,
      url: request.url,
      headers: [...request.headers],
    }, response);
    return response;
  };
}

/** Records what the browser did at the demo org, with the org's answer. */
async function recordAtOrg(flow: Flow, request: Request, response: Response) {
  const body = request.body ? await readCapped(request) : undefined;
  const answer = flow.wire ? await readCapped(response) : undefined;
  recordExchange(
    flow,
    "front",
    ["browser", "org"],
    {
      method: request.method,
      url: request.url,
      headers: [...request.headers],
      body,
    },
    response,
    answer,
  );
}

/** Up to `max` characters of a body; the rest is left unread. */
async function readCapped(
  message: Request | Response,
  max = MAX_RECORDED_BODY,
): Promise<string> {
  const reader = message.body?.pipeThrough(new TextDecoderStream())
    .getReader();
  let text = "";
  try {
    while (reader && text.length < max) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
  } catch {
    // cut off (timeout, reset): what came is what is shown
  } finally {
    await reader?.cancel().catch(() => {});
  }
  return text.slice(0, max);
}

/** A request as recorded: what was sent, before masking. */
interface RecordedRequest {
  method: string;
  url: string;
  headers: [string, string][];
  body?: string;
}

/** The few values an exchange's arrow shows in the report, masked: the parameters that matter, the Location, the bearer, a refusal's error. */
function exchangeHighlights(
  request: RecordedRequest,
  response: Response | undefined,
  responseBody: string | undefined,
  showSecrets: boolean,
): Record<string, string> {
  const fields = new URLSearchParams(
    request.body && request.method === "POST"
      ? request.body
      : new URL(request.url).search,
  );
  const highlights: Record<string, string> = {};
  for (const name of HIGHLIGHTS) {
    const value = fields.get(name);
    if (value !== null) highlights[name] = maskField(name, value, showSecrets);
  }
  const location = response?.headers.get("location");
  if (location) highlights.location = maskUrl(location, showSecrets);
  const authorization = new Headers(request.headers).get("authorization");
  if (authorization) {
    highlights.authorization = maskHeader(
      "authorization",
      authorization,
      showSecrets,
    );
  }
  const refusal = response && response.status >= 400 && responseBody
    ? refusalError(responseBody)
    : undefined;
  if (refusal && !highlights.error) highlights.error = refusal;
  return highlights;
}

/** Adds one exchange to the record and, with --http, its text to the step's pending list. */
function recordExchange(
  flow: Flow,
  channel: "front" | "back",
  [from, to]: [Party, Party],
  request: RecordedRequest,
  response: Response | undefined,
  responseBody?: string,
) {
  const { showSecrets } = flow.output;
  const highlights = exchangeHighlights(
    request,
    response,
    responseBody,
    showSecrets,
  );
  const exchange: Exchange = {
    channel,
    from,
    to,
    step: flow.step ?? 1,
    method: request.method,
    url: maskUrl(request.url, showSecrets),
    status: response?.status ?? 0,
    ...(Object.keys(highlights).length > 0 ? { highlights } : {}),
  };
  flow.record!.events.push({ kind: "exchange", exchange });
  const wire = flow.wire;
  if (!wire) return;
  const sent = channel === "back"
    ? wire.text.sentByFetch(request.url, {
      method: request.method,
      headers: Object.fromEntries(request.headers),
      body: request.body,
    })
    : request;
  learnSecrets(wire, responseBody);
  exchange.request = wire.text.requestText(sent, showSecrets);
  exchange.response = wire.text.responseText(
    response
      ? {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
        body: responseBody,
      }
      : { status: 0, headers: [] },
    showSecrets,
  );
  wire.pending.push({
    channel,
    from,
    to,
    request: exchange.request,
    response: exchange.response,
    ...(channel === "back"
      ? { curl: wire.text.curlCommand(request, showSecrets, wire.known) }
      : {}),
  });
}

/** The error a refusal names, for its label: `error` (JSON or form), Salesforce's `errorCode`, or a bare word such as `Bad_OAuth_Token`. */
function refusalError(body: string): string | undefined {
  const text = body.trim().slice(0, 4096);
  if (/^[\w.-]{1,64}$/.test(text)) return text;
  try {
    const json = JSON.parse(text);
    const first = Array.isArray(json) ? json[0] : json;
    const error = first?.error ?? first?.errorCode;
    if (typeof error === "string") return error.slice(0, 64);
  } catch { /* not JSON */ }
  return new URLSearchParams(text).get("error")?.slice(0, 64) || undefined;
}

/** Remembers the tokens a JSON answer carried, so a later curl names them by what they are. */
function learnSecrets(wire: WireView, body: string | undefined) {
  if (!body?.startsWith("{")) return;
  try {
    const fields = JSON.parse(body);
    for (const name of ["access_token", "refresh_token", "id_token"]) {
      if (typeof fields[name] === "string") wire.known.set(fields[name], name);
    }
  } catch { /* not JSON */ }
}

/** How long the check before the browser may take, body included; no answer means "unknown", never a failure. */
const CHECK_TIMEOUT_MS = 5_000;

/**
 * Before anyone signs in: one GET of the authorization URL, no redirects
 * followed, and at most its first KB read. Salesforce refuses an unknown
 * consumer key or an unregistered callback URL with status 400 and a bare
 * `error=...&error_description=...` text, so the run can stop now instead of
 * waiting for a callback that never comes. Any other answer means "looks
 * fine", and no answer in time "unknown": the check never stops a flow that
 * would work.
 */
async function checkAuthorizationUrl(
  flow: Flow,
  url: URL,
): Promise<Record<string, string>> {
  if (!flow.config.check) {
    return { outcome: "skipped", meaning: "--no-check" };
  }
  let answer: Answer;
  try {
    answer = await send(flow, "answer to the check", url.href, {}, {
      timeoutMs: CHECK_TIMEOUT_MS,
      prefix: true,
      readFor: [400], // only a 400 can be Salesforce's refusal: a sign-in page is not read
    });
  } catch (error) {
    return checkWithoutAnswer(flow, url, error);
  }
  const refusal = checkRefusal(answer);
  if (refusal === "unknown") {
    return {
      outcome: "unknown",
      meaning: `HTTP 400 with more than ${
        READ_LIMITS["answer to the check"]
      } bytes, not Salesforce's short error text: going on, the browser will show any error`,
    };
  }
  if (refusal) {
    throw new FlowError({
      ...refusal,
      error_description:
        `${refusal.error_description} (the org refused the authorization URL before sign-in; no browser was opened)`,
      hint: Object.hasOwn(BEFORE_SIGN_IN_HINTS, refusal.error)
        ? BEFORE_SIGN_IN_HINTS[refusal.error]
        : hintFor(refusal.error, refusal.error_description),
    });
  }
  return {
    outcome: "looks fine",
    meaning:
      `GET of the authorization URL answered HTTP ${answer.status} without Salesforce's refusal: the consumer key and the callback URL were not refused`,
  };
}

/**
 * The check when no whole answer came: no answer in time, or one cut short
 * once it had begun, is "unknown" and the run goes on; an org that cannot be
 * reached at all stops the run before any browser opens.
 */
function checkWithoutAnswer(
  flow: Flow,
  url: URL,
  error: unknown,
): Record<string, string> {
  if (!(error instanceof FlowError)) throw error;
  // send() says "Cannot read" once the answer had begun to arrive.
  const began = error.error_description.startsWith("Cannot read ");
  if (error.error === "network_error" && !began) {
    const where = `${url.origin}${url.pathname}`;
    throw new FlowError({
      error: error.error,
      error_description: error.error_description.replace(url.href, where) +
        " (checked before opening the browser)",
      hint: `${error.hint} The instance URL is ${flow.config.instanceUrl} (${
        flow.config.settingsFrom.instance ?? "the demo org"
      }).`,
      cause: error,
    });
  }
  if (error.error === "timeout") {
    return {
      outcome: "unknown",
      meaning: `no whole answer within ${
        CHECK_TIMEOUT_MS / 1000
      } seconds: going on, the browser will show any error`,
    };
  }
  if (error.error === "network_error") {
    return {
      outcome: "unknown",
      meaning:
        "the answer was cut short: going on, the browser will show any error",
    };
  }
  throw error;
}

/**
 * Salesforce's refusal of an authorization URL, as it really answers one:
 * status 400 and the bare text `error=...&error_description=...`, nothing else
 * (a page that merely contains such text is no refusal). "unknown" when a
 * 400's body went on past the prefix read.
 */
export function checkRefusal(
  answer: Pick<Answer, "status" | "text" | "truncated">,
): { error: string; error_description: string } | "unknown" | undefined {
  if (answer.status !== 400) return undefined;
  if (answer.truncated) return "unknown";
  const text = answer.text.trim();
  if (!/^error=[^&\s]+&error_description=[^&\s]*$/.test(text)) return undefined;
  const fields = new URLSearchParams(text);
  return {
    error: fields.get("error")!,
    error_description: fields.get("error_description")!,
  };
}

/** Hints for errors that come before anyone signed in, where the usual hint would talk of a sign-in. */
const BEFORE_SIGN_IN_HINTS: Record<string, string> = {
  access_denied:
    "The org refused this app before anyone signed in, so no user denied it: in Setup, check the app is not blocked, and who may use it (its Permitted Users, profiles and permission sets).",
};

/** The most specific message in a fetch error's cause chain, without the URL repeated. */
function networkDetail(error: unknown): string {
  let detail = String(error);
  for (let e = error; e instanceof Error; e = e.cause) detail = e.message;
  return detail.replace(/^error sending request for url \([^)]*\): /, "");
}

function networkHint(detail: string): string {
  if (/dns error|lookup/i.test(detail)) {
    return "The host name does not resolve: check the spelling of the instance URL (--instance-url or SF_INSTANCE_URL), and your network or VPN.";
  }
  if (/refused/i.test(detail)) {
    return "Nothing answers at that address: check the instance URL and its port.";
  }
  if (/certificate|tls|handshake|corrupt message|alert/i.test(detail)) {
    return "The TLS connection failed: check the URL is https on a Salesforce host, and any proxy that intercepts TLS.";
  }
  return "Check the instance URL (--instance-url or SF_INSTANCE_URL), your network, proxy and VPN.";
}

/** The deepest nesting a JSON document from outside may have: Salesforce's go four levels deep. */
const MAX_JSON_DEPTH = 32;

/** JSON.parse, refusing nesting deeper than MAX_JSON_DEPTH first: printing a deeper value could overflow the stack. */
export function parseJson(text: string): unknown {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (inString) {
      if (char === "\\") i++;
      else if (char === '"') inString = false;
    } else if (char === '"') {
      inString = true;
    } else if (char === "{" || char === "[") {
      if (++depth > MAX_JSON_DEPTH) {
        throw new SyntaxError(`nested deeper than ${MAX_JSON_DEPTH} levels`);
      }
    } else if (char === "}" || char === "]") {
      depth--;
    }
  }
  return JSON.parse(text);
}

/** A body as an error may quote it: on one line, cut short, and only from the configured org. */
function quoted(answer: Answer, length = 160): string {
  return answer.fromOrg
    ? `"${answer.text.replace(/\s+/g, " ").trim().slice(0, length)}"`
    : `(its body is not shown: it came from ${
      new URL(answer.url).host
    }, not the instance URL's host)`;
}

/** Reads an org's JSON answer; an error body, a non-JSON body or a bad status becomes a FlowError. */
export function readJson(
  answer: Answer,
  what: OrgDocument,
): Record<string, unknown> {
  let body: unknown;
  let problem = "";
  try {
    body = parseJson(answer.text);
  } catch (error) {
    problem = (error as Error).message;
  }
  const fields =
    typeof body === "object" && body !== null && !Array.isArray(body)
      ? body as Record<string, unknown>
      : undefined;
  if (
    fields && typeof fields.error === "string" && !answer.ok && answer.fromOrg
  ) {
    const description = fields.error_description;
    throw new FlowError({
      error: fields.error,
      error_description: typeof description === "string" ? description : "",
    });
  }
  if (!answer.ok || !fields) {
    const type = answer.headers.get("content-type") ?? "no content type";
    const nested = problem.startsWith("nested") ? `, ${problem}` : "";
    throw new FlowError({
      error: "unexpected_response",
      error_description:
        `Cannot use the ${what}: HTTP ${answer.status} (${type}${nested}) ${
          quoted(answer)
        }`,
      hint: answer.status >= 500
        ? "The org had a problem: wait a minute and run again; check https://status.salesforce.com."
        : answer.status >= 300 && answer.status < 400
        ? "The org redirected instead of answering: check the instance URL (use the My Domain URL, https)."
        : "This does not look like a Salesforce OAuth endpoint: check the instance URL.",
    });
  }
  return fields;
}

/** The fields the rest of the flow relies on; Salesforce sends no `expires_in`. */
const REQUIRED_TOKEN_FIELDS = [
  "access_token",
  "instance_url",
  "id",
  "token_type",
  "issued_at",
];

/** Fields a token response may have; when present they must be strings. */
const OPTIONAL_TOKEN_FIELDS = [
  "refresh_token",
  "signature",
  "scope",
  "id_token",
  "token_format",
  "api_instance_url",
];

/** Checks the success body has what we need. @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1 */
export function validateTokenResponse(
  body: Record<string, unknown>,
): TokenResponse {
  const missing = REQUIRED_TOKEN_FIELDS.filter((key) =>
    typeof body[key] !== "string" || body[key] === ""
  );
  if (missing.length > 0) {
    throw new FlowError({
      error: "invalid_token_response",
      error_description: `Cannot use the token response: missing ${
        missing.join(", ")
      }`,
      hint:
        "The org answered 200 without the fields of a token response: check the instance URL points at a Salesforce org.",
    });
  }
  if (String(body.token_type).toLowerCase() !== "bearer") {
    throw new FlowError({
      error: "invalid_token_response",
      error_description:
        `Cannot use the token response: token_type is not Bearer "${body.token_type}"`,
      hint:
        "Salesforce always issues Bearer tokens: check the instance URL points at a Salesforce org.",
    });
  }
  if (!/^\d{1,15}$/.test(String(body.issued_at))) {
    throw new FlowError({
      error: "invalid_token_response",
      error_description:
        `Cannot use the token response: issued_at is not a time in milliseconds "${body.issued_at}"`,
      hint:
        "Salesforce sends issued_at as milliseconds since 1970: check the instance URL points at a Salesforce org.",
    });
  }
  const wrongType = OPTIONAL_TOKEN_FIELDS.find((key) =>
    key in body && typeof body[key] !== "string"
  );
  if (wrongType) {
    throw new FlowError({
      error: "invalid_token_response",
      error_description:
        `Cannot use the token response: ${wrongType} is not a string`,
      hint:
        "The org answered with fields of the wrong type: check the instance URL points at a Salesforce org.",
    });
  }
  for (const key of ["instance_url", "id"]) {
    const value = String(body[key]);
    const url = URL.parse(value);
    if (!url || (url.protocol !== "https:" && !isLoopbackHost(url.hostname))) {
      throw new FlowError({
        error: "invalid_token_response",
        error_description:
          `Cannot use the token response: ${key} is not an https URL "${value}"`,
        hint:
          "The tokens would be sent there: refusing. Check the instance URL.",
      });
    }
  }
  return body as TokenResponse;
}

// ---------------------------------------------------------------------------
// The callback server's rules: what it accepts, and the pages it answers
// ---------------------------------------------------------------------------

/** A callback query longer than this is refused. */
const MAX_CALLBACK_QUERY = 4096;

/** How many ignored callbacks are each named before the rest are only counted. */
const SHOWN_WARNINGS = 3;

/** What the callback server expects, and what it has seen so far. */
interface CallbackWait {
  redirectUri: URL;
  port: number;
  state: string;
  /** Named again when callbacks that cannot be ours keep coming. */
  authorizationUrl: URL;
  /** Settled by the first callback accepted. */
  arrived: PromiseWithResolvers<CallbackResult>;
  settled: boolean;
  ignored: number;
}

/** What the callback server expects: a GET of the redirect URI, with our state. */
function expectCallback(
  redirectUri: URL,
  state: string,
  authorizationUrl: URL,
): CallbackWait {
  return {
    redirectUri,
    port: Number(redirectUri.port || 80),
    state,
    authorizationUrl,
    arrived: Promise.withResolvers<CallbackResult>(),
    settled: false,
    ignored: 0,
  };
}

/**
 * Answers one request to the callback server. Only a GET of the redirect
 * URI's path, on a loopback name, is read at all; the first callback with
 * our state settles the wait, and every later one is told it is done.
 */
function acceptCallback(wait: CallbackWait, request: Request): Response {
  const url = new URL(request.url);
  if (!isLoopbackAuthority(url.host, wait.port)) {
    // DNS rebinding: a page on another name that resolves here.
    return new Response("Misdirected request", { status: 421 });
  }
  if (url.pathname !== wait.redirectUri.pathname) {
    return new Response("Not found", { status: 404 });
  }
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("Method not allowed", {
      status: 405,
      headers: { allow: "GET, HEAD" },
    });
  }
  if (wait.settled) return CALLBACK_PAGES.done();
  const result = readCallback(url.searchParams, wait.state);
  if (result.kind === "rejected") {
    countIgnored(wait, result.reason);
    return CALLBACK_PAGES.rejected(result.reason);
  }
  wait.settled = true;
  wait.arrived.resolve(result);
  return result.kind === "code"
    ? CALLBACK_PAGES.code()
    : CALLBACK_PAGES.error(result.error, result.error_description);
}

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
  return { kind: "code", code, state };
}

/** Names the first few ignored callbacks, then counts a flood quietly (a web page may be sending them). */
function countIgnored(wait: CallbackWait, reason: string) {
  wait.ignored++;
  if (wait.ignored <= SHOWN_WARNINGS) {
    warn(`ignored a callback because ${reason}; still waiting`);
  } else if (wait.ignored === SHOWN_WARNINGS + 1) {
    warn(
      `more callbacks keep arriving that cannot be ours (a web page may be sending them): counting them quietly. ` +
        `Sign in at the authorization URL: ${wait.authorizationUrl.href}`,
    );
  }
}

/** Closes the callback server's sockets, and says how many callbacks it ignored in all. */
async function closeCallbackServer(
  servers: Deno.HttpServer[],
  wait: CallbackWait,
) {
  await Promise.all(servers.map(closeServer));
  if (wait.ignored > SHOWN_WARNINGS) {
    warn(`ignored ${wait.ignored} callbacks in all while waiting`);
  }
}

/** Who is talking, on every callback page: not the org, but the script. */
const SERVED_BY =
  "This page is served by the script on your machine; the org sent your browser here.";

/** The pages the callback server shows: what happened, and never the code. */
const CALLBACK_PAGES = {
  code: () =>
    resultPage(
      200,
      "Authorization code received",
      "The terminal now exchanges the code for tokens (steps 6 to 8). You can close this tab and return to the terminal.",
    ),
  error: (error: string, description: string) =>
    resultPage(
      400,
      // Deny is no failed sign-in: the user signed in, then said no.
      error === "access_denied" ? "Access denied" : "Sign-in failed",
      `${error}: ${description}. Return to the terminal: it shows this error and what to do.`,
      hintFor(error, description),
    ),
  rejected: (reason: string) =>
    resultPage(
      400,
      "Callback not accepted",
      `This callback was not accepted: ${reason}. The terminal is still waiting; start the sign-in again from the URL it printed.`,
      undefined,
      "This page is served by the script on your machine; what sent your browser here was not the sign-in this run started.",
    ),
  done: () =>
    resultPage(
      410,
      "Already done",
      "This sign-in is already complete. Return to the terminal.",
    ),
};

/** Escapes text for HTML element content and quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Headers for a local page: nothing external, not framed, not cached, no referrer. */
export const PAGE_HEADERS = {
  "content-type": "text/html;charset=UTF-8",
  "content-security-policy":
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  "cache-control": "no-store",
  "referrer-policy": "no-referrer",
};

/** The small page the browser shows after the callback: no code, no token. */
function resultPage(
  status: number,
  title: string,
  message: string,
  hint?: string,
  servedBy = SERVED_BY,
): Response {
  const ok = status === 200;
  const [background, accent] = ok
    ? ["#eaf7ee", "#2e844a"]
    : ["#fdf0ef", "#ba0517"];
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
  :root { color-scheme: light dark; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: ${background}; color: #1d2733; }
  main { box-sizing: border-box; width: min(30rem, 100% - 2rem); padding: 1.75rem; background: #fff; border-radius: 0.75rem;
         border-top: 0.4rem solid ${accent}; box-shadow: 0 2px 12px #0002; }
  h1 { margin: 0 0 0.75rem; font-size: 1.4rem; }
  p { line-height: 1.5; overflow-wrap: anywhere; }
  .hint, .who { font-size: 0.9rem; color: #444; }
  @media (prefers-color-scheme: dark) { body { background: #101820; color: #e8eef4; } main { background: #1b2631; } .hint, .who { color: #b8c4d0; } }
</style></head>
<body><main><h1>${ok ? "&#x2713; " : ""}${escapeHtml(title)}</h1><p>${
    escapeHtml(message)
  }</p>${hint ? `<p class="hint">${escapeHtml(hint)}</p>` : ""}<p class="who">${
    escapeHtml(servedBy)
  }</p></main></body></html>`;
  return new Response(html, {
    status,
    headers: { ...PAGE_HEADERS, connection: "close" },
  });
}

// ---------------------------------------------------------------------------
// The callback server's sockets: both loopbacks, and a bounded close
// ---------------------------------------------------------------------------

/**
 * Binds 127.0.0.1 and, where the machine has it, ::1 at `port`; if either is
 * taken, closes what it bound and fails naming the address.
 */
async function listenOnLoopback(
  flow: Flow,
  port: number,
  answer: (request: Request) => Response,
): Promise<Deno.HttpServer<Deno.NetAddr>[]> {
  const handle = recordedHandler(flow, answer);
  const hostnames = new URL(flow.config.redirectUri).hostname === "localhost"
    ? ["127.0.0.1", "::1"]
    : ["127.0.0.1"];
  const servers: Deno.HttpServer<Deno.NetAddr>[] = [];
  for (const hostname of hostnames) {
    try {
      servers.push(Deno.serve({ hostname, port, onListen() {} }, handle));
      flow.callbackStarted = true;
    } catch (error) {
      const address = hostname === "::1" ? "[::1]" : hostname;
      const inUse = error instanceof Deno.errors.AddrInUse;
      const denied = error instanceof Deno.errors.PermissionDenied;
      if (hostname === "::1" && error instanceof Deno.errors.NotCapable) {
        warn(
          `not listening on [::1]: this run may not (add [::1] to --allow-net); a browser that resolves localhost to ::1 will not reach the callback`,
        );
        continue;
      }
      if (hostname === "::1" && !inUse && !denied) continue; // no IPv6 loopback on this machine
      await Promise.all(servers.map(closeServer)); // nothing half-done
      throw inUse
        ? new FlowError({
          error: "port_in_use",
          error_description:
            `Cannot start the callback server: port ${port} on ${address} is in use`,
          hint:
            `Stop whatever uses port ${port} (a dev server on "localhost" often takes [::1]), or pick another port with --redirect-uri http://localhost:PORT${
              new URL(flow.config.redirectUri).pathname
            }; ` +
            "the app's Callback URL must then change to the same URL.",
          cause: error,
        })
        : denied
        ? new FlowError({
          error: "port_not_permitted",
          error_description:
            `Cannot start the callback server: port ${port} on ${address} needs administrator rights`,
          hint:
            "Ports below 1024 are reserved: use a port such as 8000 in --redirect-uri and in the app's Callback URL.",
          cause: error,
        })
        : error;
    }
  }
  return servers;
}

/** How long closing a server may wait for connections still open. */
const CLOSE_GRACE_MS = 1_000;

/** Shuts a server down, waiting at most a second: a client that drips its request must not stall the flow or Ctrl+C. */
export async function closeServer(server: Deno.HttpServer): Promise<void> {
  // AbortSignal.timeout, not setTimeout: its timer never holds the process
  // open, and it spares every run the load of Node's timers.
  const grace = AbortSignal.timeout(CLOSE_GRACE_MS);
  await Promise.race([
    server.shutdown(),
    new Promise((resolve) =>
      grace.addEventListener("abort", resolve, { once: true })
    ),
  ]);
}

/** True for a request's host (`Deno.serve` takes it from the Host header) naming loopback at `port`; anything else may be DNS rebinding. */
export function isLoopbackAuthority(host: string, port: number): boolean {
  return ["localhost", "127.0.0.1", "[::1]"].some((name) =>
    host === `${name}:${port}` || (port === 80 && host === name)
  );
}

// ---------------------------------------------------------------------------
// The wait for the callback: the race, the browser launcher, the paste path
// ---------------------------------------------------------------------------

/**
 * The first of `ways` to settle, or a FlowError once the wait times out
 * (--timeout) or the run is interrupted. `ways` gets a signal that ends when
 * the wait does, so that a paste reader stops reading.
 */
async function firstToArrive<T>(
  flow: Flow,
  ways: (signal: AbortSignal) => Promise<Promise<T>[]>,
): Promise<T> {
  const over = new AbortController();
  const signal = AbortSignal.any([
    flow.signal,
    AbortSignal.timeout(flow.config.timeoutSeconds * 1000),
    over.signal,
  ]);
  try {
    return await Promise.race([...await ways(signal), ended(signal)]);
  } catch (error) {
    throw isTimeout(error) ? timeoutError(flow) : error;
  } finally {
    over.abort();
  }
}

/** A promise that rejects with the signal's reason once it aborts; a rejection nobody awaits any more is ignored. */
function ended(signal: AbortSignal): Promise<never> {
  const promise = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), {
      once: true,
    });
  });
  promise.catch(() => {});
  return promise;
}

function isTimeout(error: unknown): boolean {
  return error instanceof DOMException && error.name === "TimeoutError";
}

/** How long a browser launcher may run before we stop waiting for it. */
const LAUNCHER_GRACE_MS = 3_000;

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

const PASTE_TIP =
  "(Browser on another machine, or the page did not load? Paste the full URL from its address bar here and press Enter.)";

/**
 * Opens the browser at the authorization URL, once the callback server
 * listens; with no browser, leaves it to the demo user (--demo) or asks the
 * person to open it. Says which way the user goes.
 */
async function sendUserToOrg(
  flow: Flow,
  url: URL,
): Promise<"browser" | "demo user" | "by hand"> {
  const { openBrowser, timeoutSeconds } = flow.config;
  if (openBrowser && await launchBrowser(url.href)) {
    note(
      flow,
      `opened the browser: sign in and click Allow; waiting for the callback... ${PASTE_TIP}`,
    );
    return "browser";
  }
  if (openBrowser) note(flow, "could not open a browser on this machine");
  if (flow.demoUser) return "demo user";
  note(
    flow,
    `open the authorization URL (step 3) in a browser, sign in and click Allow; waiting up to ${timeoutSeconds} seconds... ${PASTE_TIP}`,
  );
  return "by hand";
}

/**
 * The paste path: a URL the browser was redirected to, typed or piped on
 * standard input, gets the same checks as a callback. Never settles once
 * standard input ends or the wait is over.
 */
async function readPastedCallback(
  flow: Flow,
  state: string,
  signal: AbortSignal,
): Promise<CallbackResult> {
  while (true) {
    const line = await flow.lines.next(signal);
    if (line === null) return new Promise(() => {});
    if (line.trim() === "") continue;
    const url = URL.parse(line.trim());
    if (url && !isRedirectUri(url, flow.config.redirectUri)) {
      warn(
        `that URL is not the redirect URI: it must start ${flow.config.redirectUri}?... (this one starts ${url.origin}${url.pathname}); still waiting`,
      );
      continue;
    }
    if (!url?.searchParams.has("code") && !url?.searchParams.has("error")) {
      warn(
        "that is not the URL the org redirected to: paste the whole address from the browser, starting http://localhost.../callback?code=...; still waiting",
      );
      continue;
    }
    const outcome = readCallback(url.searchParams, state);
    if (outcome.kind !== "rejected") return outcome;
    warn(
      `ignored the pasted URL because ${outcome.reason}; still waiting`,
    );
  }
}

/** True when `url` is the redirect URI (scheme, host, port and path), whatever its query. */
function isRedirectUri(url: URL, redirectUri: string): boolean {
  const expected = new URL(redirectUri);
  return url.origin === expected.origin && url.pathname === expected.pathname;
}

function timeoutError(flow: Flow): FlowError {
  const { timeoutSeconds, redirectUri } = flow.config;
  return new FlowError({
    error: "timeout",
    error_description:
      `Cannot complete sign-in: no valid callback arrived within ${timeoutSeconds} seconds`,
    hint:
      `Usual causes: the app's Callback URL is not exactly ${redirectUri} (Salesforce then shows redirect_uri_mismatch in the browser); ` +
      "the consumer key is new or mistyped (invalid_client_id; a new key can take up to 10 minutes to work); " +
      "the app requires PKCE and the request lost its code_challenge (invalid_request: missing required code challenge); " +
      "an error page in the browser (for example invalid_scope, when --scope asks for a scope the app lacks: the org shows it on its own page and never sends the browser back here). " +
      "Check what the browser shows, then run again; --timeout sets the wait.",
  });
}

// ---------------------------------------------------------------------------
// What a person sees of a step: its data, cut to fit a screen
// ---------------------------------------------------------------------------
//
// --json prints each step's data whole. At a terminal each step fits in 20
// lines at 80 columns, so with --pause its heading is still on screen at the
// next prompt: step 4 sets the check apart, step 7 puts each ID-token check
// beside the claim it checked, step 8 names the user, step 10 shows only what
// changed.

/** A nested view's own line (`name: headline`), its fields below it. */
const HEADLINE = Symbol("headline");

/** What `renderFields` prints: fields, and nested views with a headline. */
type View = Record<string, unknown> & { [HEADLINE]?: string };

/** A claim as a check line shows it. */
function claimText(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Step 4: the callback server's facts, then the check apart: the tool's own, not OAuth's. */
function callbackServerView(data: Record<string, unknown>): View {
  const { check, ...server } = data;
  return {
    ...server,
    "before the browser, this tool's own check (not a step of OAuth)": check,
  };
}

/** Step 7: the token response a field a line (its status 200 goes without saying: any other ends the flow), the signature's verdict beside it, and each ID-token check under the ID token. */
function tokenResponseView(data: Record<string, unknown>): View {
  const body = data.body as Record<string, unknown>;
  const idToken = data.id_token as Record<string, unknown> | undefined;
  const jwt = data.access_token_jwt as Record<string, unknown> | undefined;
  const view: View = {};
  for (const [name, value] of Object.entries(body)) {
    view[name] = name === "signature"
      ? `${value} (${data.signature})`
      : name === "id_token" && idToken
      ? { [HEADLINE]: `${value}, checked:`, ...idTokenChecks(idToken) }
      : name === "access_token" && jwt
      ? {
        [HEADLINE]: `${value}, a JWT; clients treat it as opaque:`,
        ...jwtAccessTokenLines(jwt),
      }
      : value;
  }
  if (!("signature" in body)) view.signature = data.signature;
  return view;
}

/** A JWT-based access token in a few lines: what its header and claims say of it, `exp` as a date, the rest by name (--json has them all). */
function jwtAccessTokenLines(jwt: Record<string, unknown>): View {
  if (!jwt.header) return { decoded: `no: ${jwt.reason}` };
  const pairs = (fields: Record<string, unknown>, featured: string[]) => {
    const shown = featured.filter((name) => name in fields).map((name) =>
      `${name} ${
        name === "exp" && jwt.exp_iso ? jwt.exp_iso : claimText(fields[name])
      }`
    );
    const more = Object.keys(fields).filter((name) => !featured.includes(name));
    return shown.join(", ") + (more.length ? `; also ${more.join(" ")}` : "");
  };
  return {
    header: pairs(jwt.header as Record<string, unknown>, ["alg", "tty"]),
    claims: pairs(jwt.claims as Record<string, unknown>, [
      "sub",
      "client_id",
      "exp",
    ]),
  };
}

/** One line per ID-token check, each with the claim it checked (the registered claims). */
function idTokenChecks(idToken: Record<string, unknown>): View {
  const claims = idToken.claims as Record<string, unknown>;
  const checks = idToken.checks as Record<string, string>;
  const lines: View = {
    alg: checks.alg,
    iss: `${claimText(claims.iss)}: ${
      checks.issuer_from ? "its My Domain's issuer" : "the org's issuer"
    }`,
    signature: checks.signature,
    aud: `${claimText(claims.aud)}: ${checks.aud}`,
    ...(checks.azp ? { azp: `${claimText(claims.azp)}: ${checks.azp}` } : {}),
    "exp, iat": `${claims.exp}, ${claims.iat}: ${
      checks.exp.replace(/ \(.*\)$/, "")
    }, ${checks.iat}`,
    nonce: claims.nonce === undefined
      ? checks.nonce
      : `${claimText(claims.nonce)}: step 3's`,
  };
  if (checks.at_hash) lines.at_hash = `${claims.at_hash}: ${checks.at_hash}`;
  lines.sub = "the id below: who signed in, signed by the org";
  return lines;
}

/** Step 8: the tokens, and who signed in by the usual four claims (--json has every one). */
function tokensView(data: Record<string, unknown>): View {
  const { api_instance_url_is: _meaning, ...fields } = data;
  if (fields.api_instance_url) {
    // One line on screen: what the host is for (--json says it whole).
    fields.api_instance_url =
      `${fields.api_instance_url} (Agent API, Models API)`;
  }
  const user = fields.signed_in_user as Record<string, unknown> | undefined;
  if (!user) return fields;
  const { sub, preferred_username, name, email, ...more } = user;
  const others = Object.keys(more);
  return {
    ...fields,
    signed_in_user: {
      sub,
      preferred_username,
      name,
      email,
      ...(others.length > 0 ? { more_claims: others.join(" ") } : {}),
    },
  };
}

/** Step 10: only what changed since step 8, and the checks that differ from step 7's. */
function refreshView(
  flow: Flow,
  data: Record<string, unknown>,
  before: Tokens,
  after: TokenResponse,
): View {
  const shown = (token: string) => mask(token, flow.output.showSecrets);
  const view: View = {
    grant_type: "refresh_token, a form POST to the token endpoint",
    status: data.status,
    access_token: `${shown(after.access_token)} (new; step 8's was ${
      shown(before.access_token)
    })`,
    refresh_token:
      after.refresh_token && after.refresh_token !== before.refresh_token
        ? `${
          shown(after.refresh_token)
        } (new: the org rotated it; step 8's is dead, and presenting it again revokes the whole login)`
        : "the same as step 8's: not rotated",
    issued_at: `${after.issued_at} (step 8's: ${before.issued_at})`,
    signature: data.signature,
  };
  if (after.scope && after.scope !== before.scope) view.scope = after.scope;
  const idToken = data.id_token as Record<string, unknown> | undefined;
  if (idToken) {
    const checks = idTokenChecks(idToken);
    view.id_token = {
      [HEADLINE]: `${idToken.token}, checked as at step 7; what differs:`,
      "exp, iat": checks["exp, iat"],
      nonce: checks.nonce,
      "iss, sub, aud": "the same as the first ID token's",
    };
  }
  return view;
}

// ---------------------------------------------------------------------------
// The terminal: steps on stdout, remarks on stderr, --pause, standard input
// ---------------------------------------------------------------------------

/** How a run prints; `main` sets it once from the configuration and the terminal. */
export interface Output {
  json: boolean;
  /** Colour on stdout (the steps); stderr decides for itself (`stderrStyle`). */
  color: boolean;
  /** Where the steps' prose wraps: the terminal's width, or Infinity when stdout is not a terminal. */
  width: number;
  showSecrets: boolean;
  pause: boolean;
}

/*
 * Everything printed passes through `terminalSafe` or `safeJson`: text from
 * the org, a callback or a pasted line could otherwise move the cursor,
 * rewrite lines, set the window title or the clipboard (OSC 52), or reorder
 * what is shown (bidi overrides).
 */

/** C0 and C1 controls, DEL, bidi controls, and the line and paragraph separators. */
const UNSAFE_CHARS =
  // deno-lint-ignore no-control-regex -- matching control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** The same, less C0, which JSON.stringify escapes itself (and whose newlines indent its output). */
const UNSAFE_IN_JSON =
  /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeChar(char: string): string {
  return `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/** Text made safe for a terminal: each control, bidi or separator character shown as `\u001b`. */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE_CHARS, escapeChar);
}

/**
 * JSON text that no terminal acts on; the escapes are JSON's own, so values
 * still round-trip. It never throws: printing must not end a run after the
 * tokens came (a value that cannot be serialized is shown as a note).
 */
export function safeJson(value: unknown, indent?: number): string {
  return printableJson(value, indent, 3).replace(UNSAFE_IN_JSON, escapeChar);
}

/** `JSON.stringify`, or, where that fails, the same object with each failing field (down to `levels` deep) replaced by a note. */
function printableJson(
  value: unknown,
  indent: number | undefined,
  levels: number,
): string {
  try {
    return JSON.stringify(value, null, indent) ?? "null";
  } catch (error) {
    if (levels === 0 || typeof value !== "object" || value === null) {
      return JSON.stringify(`(cannot be shown: ${(error as Error).message})`);
    }
    const shown = Object.fromEntries(
      Object.entries(value).map(([key, field]) => [
        key,
        JSON.parse(printableJson(field, undefined, levels - 1)),
      ]),
    );
    return JSON.stringify(
      Array.isArray(value) ? Object.values(shown) : shown,
      null,
      indent,
    );
  }
}

/** Prints one step of the flow: `## N. Title` and its fields, or one JSON line; `view` is what a person sees, when it differs from the data. */
function logStep(
  flow: Flow,
  step: StepNumber,
  data: Record<string, unknown>,
  view: (data: Record<string, unknown>) => View = (data) => data,
) {
  const { title, why } = STEPS[step];
  const shown = data;
  const http = flow.wire?.pending.splice(0) ?? [];
  if (http.length > 0) data = { ...data, http };
  flow.record?.steps.push({ step, title, why, data });
  if (flow.output.json) {
    console.log(safeJson({ step, title, data }));
    return;
  }
  const heading = paint(flow.output.color, "heading", `## ${step}. ${title}`);
  const fields = renderFields(view(shown), flow.output.width);
  console.log([heading, ...fields].join("\n") + "\n");
  if (http.length > 0) console.log(flow.wire!.text.httpBlock(http));
}

/** Colours for a terminal: SGR parameters. @see https://ecma-international.org/publications-and-standards/standards/ecma-48/ */
const STYLES = {
  heading: "1;36",
  error: "1;31",
  warning: "1;33",
  hint: "1",
  why: "1",
  prompt: "2",
};

/** Text in a style when `on`, plain otherwise. */
function paint(on: boolean, style: keyof typeof STYLES, text: string): string {
  return on ? `\x1b[${STYLES[style]}m${text}\x1b[0m` : text;
}

/** The terminal's width in columns, 80 when it cannot say. */
function terminalWidth(): number {
  try {
    const { columns } = Deno.consoleSize();
    return columns > 0 ? columns : 80;
  } catch {
    return 80;
  }
}

/** How remarks on stderr look: coloured (unless NO_COLOR) and wrapped only on a terminal. */
function stderrStyle(): { color: boolean; width: number } {
  const terminal = Deno.stderr.isTerminal();
  return {
    color: terminal && !readEnv("NO_COLOR"),
    width: terminal ? terminalWidth() : Infinity,
  };
}

/**
 * Prose wrapped at spaces to `width` columns, continuation lines starting
 * with `indent`; a word longer than a line (a URL) is never broken, and
 * stays where it is, so it still copies whole. Each line of `text` is
 * wrapped on its own.
 */
export function wrap(text: string, width: number, indent = ""): string {
  if (!Number.isFinite(width)) return text;
  return text.split("\n").map((paragraph) => {
    const [, lead, rest] = /^( *)(.*)$/s.exec(paragraph)!;
    const lines: string[] = [];
    let line = lead;
    for (const chunk of rest.match(/\S+ */g) ?? []) {
      const word = chunk.trimEnd();
      const fitsAlone = indent.length + word.length <= width; // else breaking gains nothing
      if (
        line.trim() !== "" && line.length + word.length > width && fitsAlone
      ) {
        lines.push(line.trimEnd());
        line = indent;
      }
      line += chunk;
    }
    lines.push(line.trimEnd());
    return lines.join("\n");
  }).join("\n");
}

/** The widest field name that values are aligned after. */
const MAX_NAME_COLUMN = 22;

/**
 * A step's data for a person: `name: value` a line, names aligned, nested
 * objects indented below their name, lists of values joined, prose wrapped
 * to `width` under its value. Everything is terminal-safe.
 */
export function renderFields(
  data: View,
  width: number,
  indent = "  ",
): string[] {
  const nested = (value: unknown) =>
    typeof value === "object" && value !== null &&
    (!Array.isArray(value) || value.some((item) => typeof item === "object"));
  const entries = Object.entries(data).filter(([, value]) =>
    value !== undefined
  );
  const column = Math.min(
    MAX_NAME_COLUMN,
    Math.max(
      0,
      ...entries.filter(([, v]) => !nested(v)).map(([k]) => k.length),
    ),
  );
  const lines: string[] = [];
  for (const [key, value] of entries) {
    const name = terminalSafe(key);
    if (nested(value)) {
      const headline = (value as View)[HEADLINE];
      const label = `${indent}${`${name}:`.padEnd(column + 1)} `;
      lines.push(
        ...(headline === undefined
          ? `${indent}${name}:`
          : wrap(label + terminalSafe(headline), width, indent + "    "))
          .split("\n"),
      );
      const items = Array.isArray(value) ? value : [value];
      for (const item of items) {
        lines.push(
          ...(typeof item === "object" && item !== null
            ? renderFields(
              item as Record<string, unknown>,
              width,
              indent + "  ",
            )
            : [`${indent}  ${scalarText(item)}`]),
        );
      }
      continue;
    }
    const label = `${indent}${`${name}:`.padEnd(column + 1)} `;
    const hanging = label.length <= 40 ? label.length : indent.length + 4;
    lines.push(
      ...wrap(label + scalarText(value), width, " ".repeat(hanging)).split(
        "\n",
      ),
    );
  }
  return lines;
}

/** One value as a field shows it: text as it is (terminal-safe), lists joined, the rest as JSON. */
function scalarText(value: unknown): string {
  if (typeof value === "string") return terminalSafe(value);
  if (Array.isArray(value)) {
    return value.length === 0 ? "[]" : value.map(scalarText).join(", ");
  }
  if (typeof value === "object" && value !== null) return "{}";
  return String(value);
}

/** A remark for the person at the terminal; on stderr so that stdout stays the steps. */
/** What starts a remark on a terminal: an arrow (U+2192). */
const REMARK = "\u2192";

export function note(flow: Pick<Flow, "output">, text: string) {
  const line = terminalSafe(text);
  if (flow.output.json) {
    console.error(`note: ${line}`);
    return;
  }
  console.error(wrap(`${REMARK} ${line}`, stderrStyle().width, "  "));
}

function warn(text: string) {
  const { color, width } = stderrStyle();
  console.error(
    wrap(
      `${paint(color, "warning", "warning:")} ${terminalSafe(text)}`,
      width,
      "  ",
    ),
  );
}

/** Prints a failure: `error:` (or `usage:`) and `hint:` on stderr, or the failure line; with --http, the exchanges of the step that failed first. */
function logFailure(output: Output, failure: FlowError, wire?: WireView) {
  const { error, error_description, hint } = failure;
  const http = wire?.pending.splice(0) ?? [];
  if (output.json) {
    console.log(safeJson({
      step: null,
      title: "OAuth Flow Failed",
      data: {
        error,
        error_description,
        hint,
        ...(http.length > 0 ? { http } : {}),
      },
    }));
    return;
  }
  if (http.length > 0) console.log(wire!.text.httpBlock(http));
  const { color, width } = stderrStyle();
  const [code, description, what] = [error, error_description, hint].map(
    terminalSafe,
  );
  const lines = failure.exitCode === EXIT_INTERRUPTED
    // One line; on a terminal, below the ^C that Ctrl+C echoed.
    ? [`${Number.isFinite(width) ? "\n" : ""}${code}: ${description}. ${what}`]
    : [
      failure.exitCode === EXIT_USAGE
        ? `${paint(color, "error", "usage:")} ${description}`
        : `${paint(color, "error", "error:")} ${code}: ${description}`,
      `${paint(color, "hint", "hint:")} ${what}`,
    ];
  console.error(lines.map((line) => wrap(line, width, "  ")).join("\n"));
}

/**
 * With --pause, reads out why a step matters and waits for Enter; `q` quits.
 * The first pause lists the steps ahead; lines typed ahead are dropped, so
 * one Enter is one step.
 */
async function pause(flow: Flow, step: StepNumber) {
  flow.step = step;
  if (!flow.output.pause) return;
  const { color, width } = stderrStyle();
  if (step === 1) console.error(stepsAhead(flow.config, width));
  flow.lines.drain();
  const prompt = `  Press Enter for step ${step} (q, then Enter, quits) `;
  // No newline after the prompt: the Enter typed there ends its line.
  Deno.stderr.writeSync(
    new TextEncoder().encode(
      `${paint(color, "why", wrap(STEPS[step].why, width))}\n${
        paint(color, "prompt", prompt)
      }`,
    ),
  );
  const line = await flow.lines.next(flow.signal);
  const quit = line === null || line.trim().toLowerCase() === "q";
  if (flow.signal.aborted) throw flow.signal.reason;
  if (quit) {
    throw new FlowError({
      error: "quit",
      error_description: `Cannot finish the flow: stopped before step ${step}`,
      hint: "Run the script again to start over.",
      exitCode: EXIT_INTERRUPTED,
    });
  }
}

/** The opening screen of --pause: the steps this run will take, from `STEPS`. */
function stepsAhead(config: Config, width: number): string {
  const taken = (Object.keys(STEPS).map(Number) as StepNumber[]).filter(
    (step) =>
      step <= 8 || (step === 9 && config.identity) ||
      (step === 10 && config.refresh) || (step === 11 && config.revoke),
  );
  return [
    wrap(
      `Workshop mode: ${taken.length} steps, each introduced first; press Enter for each.`,
      width,
    ),
    ...taken.map((step) =>
      `  ${String(step).padStart(2)}. ${STEPS[step].title}`
    ),
    "",
  ].join("\n");
}

/** Lines from a stream, each handed to whoever asks first. */
export interface LineReader {
  /** The next line, or null at the end of input or once `signal` aborts. */
  next(signal?: AbortSignal): Promise<string | null>;
  /** Drops the lines read but not yet asked for: what was typed ahead. */
  drain(): void;
}

/** The longest line kept whole; a callback URL is a few KB at most. */
export const MAX_LINE = 16 * 1024;

/**
 * Splits a byte stream into lines; reading starts at the first `next()`
 * (given a function, the stream is only made then: a run that never reads
 * standard input never opens it).
 * Each chunk is scanned once, and a line longer than `MAX_LINE` is cut there
 * (the rest of it is dropped), so a huge paste costs neither time nor memory.
 */
export function createLineReader(
  readable: ReadableStream<Uint8Array> | (() => ReadableStream<Uint8Array>),
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
    let line = ""; // the current line, at most MAX_LINE characters
    let cut = false; // the current line grew past MAX_LINE
    try {
      const stream = typeof readable === "function" ? readable() : readable;
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        let start = 0;
        for (let end; (end = chunk.indexOf("\n", start)) >= 0;) {
          if (!cut) line += chunk.slice(start, end);
          deliver(line.slice(0, MAX_LINE).replace(/\r$/, ""));
          [line, cut, start] = ["", false, end + 1];
        }
        if (!cut) line += chunk.slice(start);
        if (line.length > MAX_LINE) {
          [line, cut] = [line.slice(0, MAX_LINE), true];
        }
      }
      if (line) deliver(line);
    } finally {
      ended = true;
      waiting.splice(0).forEach((waiter) => waiter(null));
    }
  }
  return {
    drain() {
      lines.length = 0;
    },
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

// ---------------------------------------------------------------------------
// Masking: one rule set for every view (steps, --json, --http, curl, report)
// ---------------------------------------------------------------------------

/**
 * The mark that stands for what a mask leaves out: an ellipsis (U+2026),
 * written as an escape because the files a run loads are ASCII (V8 then
 * holds each module's text at one byte a character, not two).
 */
export const ELLIPSIS = "\u2026";

/** Shows a token as its first six and last four characters around an ELLIPSIS (`00Dak0`, `B3LK`) unless `--show-secrets`. */
export function mask(value: string, showSecrets: boolean): string {
  if (showSecrets) return value;
  return value.length < 20
    ? "********"
    : `${value.slice(0, 6)}${ELLIPSIS}${value.slice(-4)}`;
}

/** Fields that are secrets wherever they appear (JSON, forms, queries): tokens, the code, and the verifier. */
const SECRET_FIELDS = [
  "access_token",
  "refresh_token",
  "id_token",
  "code",
  "code_verifier",
  "token", // revocation and introspection name the token just "token"
];

/** Fields never shown, not even with --show-secrets: the client secret and a password. */
const HIDDEN_FIELDS = ["client_secret", "password"];

/** A named value as every view shows it: hidden, masked, or as it is. */
export function maskField(
  name: string,
  value: string,
  showSecrets: boolean,
): string {
  if (HIDDEN_FIELDS.includes(name)) return "********";
  return SECRET_FIELDS.includes(name) ? mask(value, showSecrets) : value;
}

/** True for a field that `maskField` hides or masks. */
export function isSecretField(name: string): boolean {
  return HIDDEN_FIELDS.includes(name) || SECRET_FIELDS.includes(name);
}

/** A JSON value with every secret field masked, at any depth. */
export function maskJson(value: unknown, showSecrets: boolean): unknown {
  if (Array.isArray(value)) {
    return value.map((item) => maskJson(item, showSecrets));
  }
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [
      key,
      typeof item === "string"
        ? maskField(key, item, showSecrets)
        : maskJson(item, showSecrets),
    ]),
  );
}

/** One form value, encoded as a form encodes it. */
function formEncode(text: string): string {
  return new URLSearchParams([["", text]]).toString().slice(1);
}

/**
 * A form body or query string (`a=1&code=...`) with its secret values masked
 * and left encoded, so it still reads as what was sent: `code=aPrxuL`, the
 * ELLIPSIS, `jbs%3D`.
 */
export function maskForm(encoded: string, showSecrets: boolean): string {
  return encoded.split("&").map((pair) => {
    const at = pair.indexOf("=");
    if (at < 0) return pair;
    const decode = (text: string) => {
      try {
        return decodeURIComponent(text.replaceAll("+", " "));
      } catch {
        return text;
      }
    };
    const name = decode(pair.slice(0, at));
    if (!isSecretField(name)) return pair;
    const value = decode(pair.slice(at + 1));
    const shown = maskField(name, value, showSecrets);
    if (shown === value) return pair;
    const [head, tail] = shown.split(ELLIPSIS);
    return `${pair.slice(0, at)}=${
      tail === undefined
        ? shown
        : `${formEncode(head)}${ELLIPSIS}${formEncode(tail)}`
    }`;
  }).join("&");
}

/** A URL with its query's secrets masked; state, challenge and nonce stay whole. */
export function maskUrl(url: string, showSecrets: boolean): string {
  const at = url.indexOf("?");
  if (at < 0) return url;
  const end = url.indexOf("#", at);
  const query = url.slice(at + 1, end < 0 ? undefined : end);
  return url.slice(0, at + 1) + maskForm(query, showSecrets) +
    (end < 0 ? "" : url.slice(end));
}

/** A header as every view shows it: bearer tokens and session cookies masked, Basic credentials hidden, redirects' secrets masked. */
export function maskHeader(
  name: string,
  value: string,
  showSecrets: boolean,
): string {
  switch (name.toLowerCase()) {
    case "authorization":
    case "proxy-authorization": {
      const [scheme, credentials = ""] = value.split(/ (.*)/s);
      return /^bearer$/i.test(scheme)
        ? `${scheme} ${mask(credentials, showSecrets)}`
        : `${scheme} ********`; // Basic carries the client secret
    }
    case "cookie":
      return value.split(/;\s*/).map((pair) => maskCookie(pair, showSecrets))
        .join("; ");
    case "set-cookie": {
      const [pair, ...attributes] = value.split(";");
      return [maskCookie(pair, showSecrets), ...attributes].join(";");
    }
    case "location":
    case "referer":
      return maskUrl(value, showSecrets);
    default:
      return value;
  }
}

/** `name=value` with the value masked: a cookie may be a session. */
function maskCookie(pair: string, showSecrets: boolean): string {
  const at = pair.indexOf("=");
  return at < 0
    ? pair
    : `${pair.slice(0, at + 1)}${mask(pair.slice(at + 1), showSecrets)}`;
}

function maskTokens(
  flow: Flow,
  body: Record<string, unknown>,
): Record<string, unknown> {
  return maskJson(body, flow.output.showSecrets) as Record<string, unknown>;
}

// ---------------------------------------------------------------------------
// Errors, and hints for the errors Salesforce (and the network) can give
// ---------------------------------------------------------------------------

/** What a FlowError says: the `error` code, its description, and what to do about it. */
export interface FlowErrorOptions {
  error: string;
  error_description: string;
  /** What to do; looked up from the error code when left out. */
  hint?: string;
  exitCode?: number;
  cause?: unknown;
  /** For invalid_id_token: the name of the check that failed (`exp`, `aud`...). */
  check?: string;
}

/** A failure with the org's (or our) `error` code, its description and what to do about it. */
export class FlowError extends Error {
  readonly error: string;
  readonly error_description: string;
  readonly hint: string;
  readonly exitCode: number;
  readonly check?: string;
  constructor(options: FlowErrorOptions) {
    super(options.error_description, { cause: options.cause });
    this.name = "FlowError";
    this.check = options.check;
    this.error = options.error;
    this.error_description = options.error_description;
    this.hint = options.hint ??
      hintFor(options.error, options.error_description);
    this.exitCode = options.exitCode ?? EXIT_FAILED;
  }
}

function usageError(error_description: string, hint: string): FlowError {
  return new FlowError({
    error: "invalid_configuration",
    error_description,
    hint,
    exitCode: EXIT_USAGE,
  });
}

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
  invalid_id_token:
    "Do not use these tokens: the ID token is not what the org signed for this app and this run. Run the flow again; if it persists, check the instance URL and the consumer key.",
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
  // Own keys only: an org or a callback can send error=constructor.
  const grant = description.toLowerCase();
  if (error === "invalid_grant") {
    return Object.hasOwn(INVALID_GRANT_HINTS, grant)
      ? INVALID_GRANT_HINTS[grant]
      : "The org refused the grant: the code, verifier or refresh token is not valid any more; run the flow again.";
  }
  return Object.hasOwn(HINTS, error)
    ? HINTS[error]
    : "See Salesforce's OAuth error reference; error_description says what the org rejected.";
}

// ---------------------------------------------------------------------------
// Configuration: flags, then environment variables, then .env
// ---------------------------------------------------------------------------

const DEFAULT_TIMEOUT_SECONDS = 300;

/**
 * Every flag, once: its type, the variable that can stand in for it, and its
 * line in --help. parseCommandLine(), the precedence lookup and helpText() all read it.
 */
const FLAGS = {
  "instance-url": {
    type: "string",
    value: "URL",
    variable: "SF_INSTANCE_URL",
    needs: "a URL, such as https://yourdomain.my.salesforce.com",
    help:
      "the org: its My Domain URL, https://login.salesforce.com or https://test.salesforce.com",
  },
  "client-id": {
    type: "string",
    value: "ID",
    variable: "SF_CLIENT_ID",
    needs: "the app's consumer key",
    help: "the app's consumer key",
  },
  "client-secret": {
    type: "string",
    value: "S",
    variable: "SF_CLIENT_SECRET",
    needs: "the app's consumer secret",
    help:
      "the consumer secret, if the app requires one (prefer the variable or .env: flags show in the process list)",
  },
  "redirect-uri": {
    type: "string",
    value: "URI",
    variable: "SF_REDIRECT_URI",
    needs: `a URL, such as ${DEFAULT_REDIRECT_URI}`,
    help: `default ${DEFAULT_REDIRECT_URI}`,
  },
  scope: {
    type: "string",
    value: '"A B"',
    variable: "SF_SCOPE",
    needs: 'scopes, such as "api refresh_token"',
    help: "scopes to ask for (default: the app's own)",
  },
  timeout: {
    type: "string",
    value: "SECONDS",
    needs: "a number of seconds",
    help:
      `how long to wait for the callback (default ${DEFAULT_TIMEOUT_SECONDS})`,
  },
  demo: {
    type: "boolean",
    help: "use a local demo org: no account, no network",
  },
  "demo-rotate": {
    type: "boolean",
    help:
      "with --demo: the demo app rotates refresh tokens (each refresh returns a new one; see step 10)",
  },
  "demo-jwt": {
    type: "boolean",
    help:
      "with --demo: the demo app issues JWT-based access tokens (decoded at step 7)",
  },
  "no-secret": {
    type: "boolean",
    help: "send no client secret, even if one is set (a public client)",
  },
  "no-browser": { type: "boolean", help: "print the URL and open nothing" },
  "no-check": {
    type: "boolean",
    help: "do not check the authorization URL before the browser opens",
  },
  "no-identity": {
    type: "boolean",
    help: "skip step 9 (the identity URL)",
  },
  refresh: { type: "boolean", help: "step 10: use the refresh token" },
  revoke: {
    type: "boolean",
    help: "step 11: revoke the tokens, then show they are dead",
  },
  save: {
    type: "string",
    value: "FILE",
    needs: "a file name",
    help: "write the tokens, unmasked, to a new FILE (mode 0600)",
  },
  pause: {
    type: "boolean",
    help: "workshop mode: explain each step, wait for Enter (q quits)",
  },
  http: {
    type: "boolean",
    help:
      "show each HTTP request and response as sent, masked, and each direct one as a curl command",
  },
  report: {
    type: "string",
    value: "FILE.md",
    needs: "a file name",
    help:
      "when the run ends, write it to a new FILE.md: a sequence diagram and each step, masked",
  },
  json: { type: "boolean", help: "one JSON object per line" },
  "show-secrets": {
    type: "boolean",
    help:
      "print the verifier, the code and the tokens unmasked (never the client secret)",
  },
  exercise: {
    type: "string",
    value: "NAME",
    needs: "an exercise's name, or list or all",
    help:
      "play the attacker against the demo org, at one step: list, all, or a name",
  },
  help: { type: "boolean", help: "this text (also -h)" },
} as const;

type FlagName = keyof typeof FLAGS;
/** The flags that a variable can stand in for. */
type SettingFlag = {
  [F in FlagName]: typeof FLAGS[F] extends { variable: string } ? F : never;
}[FlagName];

/** One flag's lines in --help: the flag, its variable if it has one, and its help wrapped under the help column. */
function usageLine(name: string, column: number): string {
  const flag = FLAGS[name as FlagName];
  const usage = `  --${name}${"value" in flag ? ` ${flag.value}` : ""}`;
  const left = "variable" in flag
    ? `${usage.padEnd(21)} ${flag.variable}`
    : usage;
  return wrap(
    `${left.padEnd(column - 1)} ${flag.help}`,
    80,
    " ".repeat(column),
  );
}

/** --help's text; built only when asked for, so a run does not wrap every flag's help for nothing. */
function helpText(): string {
  return `Usage: deno run -A main.ts [options]

Walks through the OAuth 2.0 Web Server Flow with PKCE against a Salesforce org.

Settings (a flag wins over its variable, which wins over .env):
${
    Object.keys(FLAGS).filter((name) => "variable" in FLAGS[name as FlagName])
      .map((name) => usageLine(name, 40)).join("\n")
  }

Options:
${
    Object.keys(FLAGS).filter((name) =>
      !("variable" in FLAGS[name as FlagName])
    )
      .map((name) => usageLine(name, 22)).join("\n")
  }

Exit codes: 0 done, 1 the flow failed (or an --exercise attack worked),
2 bad usage or configuration, 130 interrupted.`;
}

/** Everything the flow needs, validated. */
export interface Config {
  instanceUrl: string;
  clientId: string;
  clientSecret?: string;
  redirectUri: string;
  scope?: string;
  timeoutSeconds: number;
  demo: boolean;
  /** With --demo: the demo app's settings (--demo-rotate, --demo-jwt). */
  demoApp: { rotateRefreshTokens: boolean; jwtAccessTokens: boolean };
  openBrowser: boolean;
  /** Check the authorization URL before the browser opens (--no-check turns it off). */
  check: boolean;
  /** False with --no-secret: no client secret is sent, even if one is set. */
  sendSecret: boolean;
  json: boolean;
  showSecrets: boolean;
  /** --http: show each exchange as HTTP/1.1 text (and curl for the back channel). */
  http: boolean;
  identity: boolean;
  refresh: boolean;
  revoke: boolean;
  save?: string;
  /** --report: the Markdown page of the run, written when it ends. */
  report?: string;
  pause: boolean;
  /** --exercise NAME: an attacker's move inserted in the flow (exercises.ts). */
  exercise?: string;
  /** What the person should know about their settings, printed before step 1. */
  warnings: string[];
  /** Where each setting came from (a flag, a variable, .env, a default, the demo org), for step 1. */
  settingsFrom: Record<string, string>;
}

/** Where settings come from besides flags; tests pass their own. */
export interface SettingSources {
  env(name: string): string | undefined;
  dotEnv(): Record<string, string>;
}

/** A setting's value and where it came from, so errors can name the source. */
export interface Setting {
  value: string;
  source: string;
}

/**
 * The process environment, and `.env` in the working directory, read once
 * when first asked (its warnings printed then). Node's `.env` parser is
 * loaded first, and only for a run that reads `.env`: node:util takes
 * milliseconds to load, and --demo and --help never need it.
 */
async function runtimeSources(args: string[]): Promise<SettingSources> {
  const parse = readsDotEnv(args)
    ? (await import("node:util")).parseEnv
    : undefined;
  let dotEnv: Record<string, string> | undefined;
  return {
    env: readEnv,
    dotEnv() {
      if (dotEnv) return dotEnv;
      if (!parse) return (dotEnv = {}); // not a run that reads .env
      const { values, warnings } = readDotEnv(parse);
      warnings.forEach(warn);
      return (dotEnv = values);
    },
  };
}

/** Whether a run reads `.env`, by the rule loadConfig() applies; a command line that cannot be read reads nothing. */
function readsDotEnv(args: string[]): boolean {
  try {
    return readsSettings(parseCommandLine(args));
  } catch {
    return false; // loadConfig() says what is wrong with it
  }
}

/** --help reads no settings, and --demo reads flags only: a `.env` or `SF_*` variables made for a real org must not change it. */
function readsSettings(flags: Flags): boolean {
  return !flags.help && !flags.demo;
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // not permitted: treat as unset
  }
}

/** What `.env` held: its settings, and what the person should know about it. */
export interface DotEnv {
  values: Record<string, string>;
  /** They name lines, never their text: a line may hold a secret. */
  warnings: string[];
}

/** The largest `.env` read: a handful of settings take a few hundred bytes. */
const MAX_DOTENV_BYTES = 64 * 1024;

/**
 * Reads `.env`: UTF-8 (a byte-order mark is skipped), or UTF-16 with a
 * byte-order mark (as Windows PowerShell 5's `>` writes it). A missing file
 * is fine; an unreadable, huge or undecodable one is refused, naming it.
 */
export function readDotEnv(
  parse: (text: string) => object,
  path = ".env",
): DotEnv {
  const bytes = readDotEnvBytes(path);
  if (!bytes) return { values: {}, warnings: [] };
  const { text, encoding } = decodeDotEnv(path, bytes);
  const ignored = ignoredDotEnvLines(text);
  const shown = ignored.length > 10
    ? `${ignored.slice(0, 10).join(", ")} and ${ignored.length - 10} more`
    : ignored.join(", ");
  return {
    values: parse(text) as Record<string, string>,
    warnings: [
      ...(encoding
        ? [`read ${path} as ${encoding}; other tools expect UTF-8`]
        : []),
      ...(ignored.length > 0
        ? [
          `${path}: ignored line${
            ignored.length > 1 ? "s" : ""
          } ${shown}: not KEY=value (the text is not shown, in case it holds a secret)`,
        ]
        : []),
    ],
  };
}

/** The bytes of `.env`, at most MAX_DOTENV_BYTES; undefined when there is none. */
function readDotEnvBytes(path: string): Uint8Array | undefined {
  const refuse = (detail: string) =>
    usageError(
      `Cannot read ${path}: ${detail}`,
      `Fix the file's permissions, or remove ${path} and use flags or environment variables.`,
    );
  let file: Deno.FsFile;
  try {
    // Not a FIFO or a device: reading those could block, or never end.
    if (!Deno.statSync(path).isFile) throw refuse("it is not a regular file");
    file = Deno.openSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error instanceof FlowError ? error : refuse((error as Error).message);
  }
  try {
    const bytes = new Uint8Array(MAX_DOTENV_BYTES + 1);
    let length = 0;
    while (length < bytes.length) {
      const read = file.readSync(bytes.subarray(length));
      if (read === null) break;
      length += read;
    }
    if (length > MAX_DOTENV_BYTES) {
      throw refuse(`it is larger than ${MAX_DOTENV_BYTES / 1024} KiB`);
    }
    return bytes.subarray(0, length);
  } catch (error) {
    throw error instanceof FlowError ? error : refuse((error as Error).message);
  } finally {
    file.close();
  }
}

/** `.env` as text, by its byte-order mark: UTF-8 without one; anything that does not decode is refused naming the encoding. */
function decodeDotEnv(
  path: string,
  bytes: Uint8Array,
): { text: string; encoding?: string } {
  const [first, second, third] = bytes;
  const [encoding, skip] = first === 0xef && second === 0xbb && third === 0xbf
    ? ["UTF-8", 3]
    : first === 0xff && second === 0xfe
    ? ["UTF-16LE", 2]
    : first === 0xfe && second === 0xff
    ? ["UTF-16BE", 2]
    : ["UTF-8", 0];
  const hint =
    "Save it as UTF-8: in an editor, save with the encoding UTF-8; in PowerShell, Set-Content -Encoding utf8 .env.";
  let text: string;
  try {
    text = new TextDecoder(encoding, { fatal: true, ignoreBOM: true })
      .decode(bytes.subarray(skip));
  } catch {
    throw usageError(`Cannot read ${path}: it is not ${encoding} text`, hint);
  }
  if (text.includes("\0")) {
    throw usageError(
      `Cannot read ${path}: it holds NUL characters (UTF-16 without a byte-order mark?), not ${encoding} text`,
      hint,
    );
  }
  return { text, encoding: encoding === "UTF-8" ? undefined : encoding };
}

/** The numbers of the lines `parseEnv` skips: not blank, not a comment, not `KEY=value`, and not inside a quoted value. */
export function ignoredDotEnvLines(text: string): number[] {
  const lines = text.split(/\r?\n/);
  const ignored: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const assignment = /^(?:export\s+)?[^=\s][^=]*=\s*(.*)$/.exec(line);
    if (!assignment) {
      ignored.push(i + 1);
      continue;
    }
    const value = assignment[1];
    const quote = value[0];
    if (!/^["'`]/.test(value) || value.indexOf(quote, 1) > 0) continue;
    // A quoted value that goes on runs to the next line holding its quote, if any.
    const close = lines.findIndex((next, j) => j > i && next.includes(quote));
    if (close > 0) i = close;
  }
  return ignored;
}

/** What the command line set: a switch is true, a flag with a value holds its text. */
type Flags = {
  [F in FlagName]?: typeof FLAGS[F]["type"] extends "boolean" ? boolean
    : string;
};

/**
 * Reads `--switch`, `--flag=VALUE`, `--flag VALUE` and `-h`; a flag given
 * twice keeps the last. `commandLineMistake` words every mistake but one
 * first: a value with no flag before it.
 */
function parseCommandLine(args: string[]): Flags {
  const mistake = commandLineMistake(args);
  if (mistake) throw mistake;
  const flags: Record<string, string | boolean> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--" && i === args.length - 1) break; // nothing after it
    const at = arg.indexOf("=");
    const name = arg === "-h" ? "help" : arg.slice(2, at < 0 ? undefined : at);
    if (
      !(arg === "-h" || arg.startsWith("--")) || !Object.hasOwn(FLAGS, name)
    ) {
      // A stray value is never echoed: it may be a secret ("--client-secret= S").
      throw usageError(
        "Cannot read the command line: a value without a flag before it (its text is not shown, in case it is a secret)",
        'Check for a space after "=" (write --flag=VALUE or --flag VALUE), and quote values with spaces; run with --help to see every flag.',
      );
    }
    flags[name] = FLAGS[name as FlagName].type === "boolean"
      ? true
      : at < 0
      ? args[++i]
      : arg.slice(at + 1);
  }
  return flags as Flags;
}

/**
 * The mistakes a command line can make, said in plain words before the
 * parser words them its own way: an unknown flag (and the nearest known
 * one), a flag missing its value, a value given to a switch. Values are
 * never echoed: one may be a secret.
 */
function commandLineMistake(args: string[]): FlowError | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") return undefined;
    if (!arg.startsWith("-") || arg === "-") continue; // a stray value: parseCommandLine's turn
    const at = arg.indexOf("=");
    const written = at < 0 ? arg : arg.slice(0, at);
    if (written === "-h") continue;
    const name = written.replace(/^--?/, "");
    const flag = arg.startsWith("--") && Object.hasOwn(FLAGS, name)
      ? FLAGS[name as FlagName]
      : undefined;
    if (!flag) {
      const shown = terminalSafe(written.slice(0, 40));
      const nearest = nearestFlag(name);
      return usageError(
        `Cannot read the command line: no such flag "${shown}"`,
        `${
          nearest ? `Did you mean --${nearest}? ` : ""
        }Run with --help to see every flag.`,
      );
    }
    if (flag.type === "boolean" && at >= 0) {
      return usageError(
        `Cannot read the command line: ${written} takes no value`,
        `Write ${written} alone; run with --help to see every flag.`,
      );
    }
    if (flag.type === "string" && at < 0) {
      const next = args[i + 1];
      if (next === undefined || next.startsWith("-")) {
        return usageError(
          `Cannot read the command line: ${written} needs ${flag.needs}`,
          next === undefined
            ? `Put the value after it: ${written} ${flag.value}.`
            : `The next word starts with "-", so it reads as a flag: write ${written}=${flag.value} for a value that starts with "-".`,
        );
      }
      i++; // its value
    }
  }
  return undefined;
}

/** The known flag closest to a mistyped one (`dmeo` -> `demo`), if one is close enough. */
function nearestFlag(name: string): string | undefined {
  let best: { flag: string; distance: number } | undefined;
  for (const flag of Object.keys(FLAGS)) {
    const distance = flag.startsWith(name) && name.length >= 3
      ? 0
      : editDistance(name, flag);
    if (!best || distance < best.distance) best = { flag, distance };
  }
  return best && best.distance <= Math.max(1, Math.floor(name.length / 3))
    ? best.flag
    : undefined;
}

/** Insertions, deletions, substitutions and swaps of neighbours between two words (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d = Array.from(
    { length: a.length + 1 },
    (_, i) => Array.from({ length: b.length + 1 }, (_, j) => i || j),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(
        d[i - 1][j] + 1,
        d[i][j - 1] + 1,
        d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/** Looks a setting up by precedence: flag, environment variable, then `.env`. */
function lookUp(
  flag: SettingFlag,
  flags: Record<string, unknown>,
  sources: SettingSources,
): Setting | undefined {
  const { variable } = FLAGS[flag];
  const fromFlag = flags[flag];
  if (typeof fromFlag === "string") {
    return { value: fromFlag, source: `--${flag}` };
  }
  const fromEnv = sources.env(variable);
  if (fromEnv !== undefined && fromEnv !== "") {
    return { value: fromEnv, source: variable };
  }
  const fromFile = sources.dotEnv()[variable];
  if (fromFile !== undefined && fromFile !== "") {
    return { value: fromFile, source: `${variable} in .env` };
  }
  return undefined;
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** A setting's value as an error may quote it: terminal-safe, and with any `user:password@` hidden. */
function shownValue(value: string): string {
  return terminalSafe(value.replace(/(\/\/)[^/?#]*@/, `$1${ELLIPSIS}@`));
}

function parseSettingUrl({ value, source }: Setting, hint: string): URL {
  const url = URL.parse(value);
  if (!url) {
    throw usageError(
      `Cannot use ${source}: not a URL "${shownValue(value)}"`,
      hint,
    );
  }
  if (url.username || url.password || /\/\/[^/?#]*@/.test(value)) {
    throw usageError(
      `Cannot use ${source}: it must not carry a user name or password "${
        shownValue(value)
      }"`,
      "Remove the user:password@ part: OAuth never puts credentials in a URL.",
    );
  }
  return url;
}

/** Checks the org URL and returns its origin. */
export function validateInstanceUrl(setting: Setting): string {
  const { source } = setting;
  const shown = shownValue(setting.value);
  const example = "https://yourdomain.my.salesforce.com";
  const url = parseSettingUrl(
    setting,
    `Give the org's My Domain URL, such as ${example}.`,
  );
  // First: an address pasted from the browser has a path too, and needs one message, not two.
  const myDomain = myDomainFor(url.hostname);
  if (myDomain) {
    throw usageError(
      `Cannot use ${source}: that is the ${myDomain.ui} domain, not the login domain "${shown}"`,
      `Use the org's My Domain URL instead, probably https://${myDomain.host} (Setup > My Domain).`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw usageError(
      `Cannot use ${source}: the scheme must be https "${shown}"`,
      `Give the org's My Domain URL, such as ${example}.`,
    );
  }
  if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
    throw usageError(
      `Cannot use ${source}: http is only allowed for loopback hosts "${shown}"`,
      `Salesforce's OAuth endpoints are https only: use https://${url.host}.`,
    );
  }
  if (url.pathname !== "/" || url.search || url.hash) {
    throw usageError(
      `Cannot use ${source}: give the origin only, without a path, query or fragment "${shown}"`,
      `Use ${url.protocol}//${url.host}; the script adds /services/oauth2/... itself.`,
    );
  }
  return url.origin;
}

/** The My Domain host behind a Lightning (`x.lightning.force.com`) or Setup (`x.my.salesforce-setup.com`) address, as a browser's address bar shows them. */
function myDomainFor(
  hostname: string,
): { ui: string; host: string } | undefined {
  for (
    const [ui, suffix] of [
      ["Lightning UI", /\.lightning\.force\.com$/],
      ["Setup UI", /\.my\.salesforce-setup\.com$/],
    ] as const
  ) {
    if (suffix.test(hostname)) {
      return { ui, host: hostname.replace(suffix, ".my.salesforce.com") };
    }
  }
  return undefined;
}

/** Checks the callback URL: http on localhost or 127.0.0.1, with a path. @see https://www.rfc-editor.org/rfc/rfc8252#section-7.3 */
export function validateRedirectUri(setting: Setting): string {
  const { source } = setting;
  const shown = shownValue(setting.value);
  const url = parseSettingUrl(
    setting,
    `Use a loopback URL such as ${DEFAULT_REDIRECT_URI}.`,
  );
  const problem = url.protocol !== "http:"
    ? "it must use http (the callback server is local and plain HTTP)"
    : url.hostname !== "localhost" && url.hostname !== "127.0.0.1"
    ? "its host must be localhost or 127.0.0.1"
    : url.port === "0"
    ? "port 0 is not a port a browser can be sent back to"
    : url.pathname === "/"
    ? "it needs a path, such as /callback"
    : url.hash
    ? "it must not have a fragment"
    : undefined;
  if (problem) {
    throw usageError(
      `Cannot use ${source}: ${problem} "${shown}"`,
      `Use a loopback URL such as ${DEFAULT_REDIRECT_URI}, registered exactly so in the app's Callback URL.`,
    );
  }
  return url.href;
}

/** The longest wait --timeout allows: a day (timers overflow at about 24.8 days). */
const MAX_TIMEOUT_SECONDS = 86_400;

function validateTimeout(value: string | undefined): number {
  if (value === undefined) return DEFAULT_TIMEOUT_SECONDS;
  const seconds = Number(value);
  if (seconds > MAX_TIMEOUT_SECONDS) {
    throw usageError(
      `Cannot use --timeout: longer than a day (${MAX_TIMEOUT_SECONDS} seconds) "${
        terminalSafe(value)
      }"`,
      `Give at most ${MAX_TIMEOUT_SECONDS} seconds; the default is ${DEFAULT_TIMEOUT_SECONDS}.`,
    );
  }
  if (value.trim() === "" || !Number.isFinite(seconds) || seconds <= 0) {
    throw usageError(
      `Cannot use --timeout: not a positive number of seconds "${
        terminalSafe(value)
      }"`,
      `Give a number of seconds, such as --timeout 120 (default ${DEFAULT_TIMEOUT_SECONDS}).`,
    );
  }
  return seconds;
}

/** What to run instead when the task's permissions do not cover the --save file. */
function savePermissionHint(demo: boolean): string {
  return "deno task start allows only --save sf-tokens.json, and deno task demo no file at all: " +
    `for another file run deno run -A main.ts${
      demo ? " --demo" : ""
    } --save FILE.`;
}

/** Checks up front that a flag's new file (--save, --report) can be created, so no run is wasted on a bad path; `hint` says how to allow writing it. */
function checkNewFilePath(flag: string, path: string, hint: string) {
  const shown = terminalSafe(path);
  if (path.trim() === "") {
    throw usageError(
      `Cannot use ${flag}: no file name given "${shown}"`,
      `Give a new file name after ${flag}.`,
    );
  }
  if (Deno.permissions.querySync({ name: "write", path }).state !== "granted") {
    throw usageError(
      `Cannot use ${flag}: this run may not write that file "${shown}"`,
      hint,
    );
  }
  let exists = true;
  try {
    Deno.lstatSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw usageError(
        `Cannot use ${flag}: ${(error as Error).message} "${shown}"`,
        "Choose a file name in a directory you can write to.",
      );
    }
    exists = false;
  }
  if (exists) {
    throw usageError(
      `Cannot use ${flag}: the file already exists "${shown}"`,
      `Choose a new file name, or move the old file away; ${flag} never overwrites a file.`,
    );
  }
  const directory = path.includes("/")
    ? path.slice(0, path.lastIndexOf("/")) || "/"
    : ".";
  // A run that may not look at the directory (deno task start reads only its
  // files) finds out when it writes; asking would prompt.
  let isDirectory = true;
  if (
    Deno.permissions.querySync({ name: "read", path: directory }).state ===
      "granted"
  ) {
    try {
      isDirectory = Deno.statSync(directory).isDirectory;
    } catch {
      isDirectory = false; // missing, or not readable: refused below
    }
  }
  if (!isDirectory) {
    throw usageError(
      `Cannot use ${flag}: no such directory "${terminalSafe(directory)}"`,
      "Create the directory first, or choose a file name in an existing one.",
    );
  }
  // The only sure test that the file can be created: create it, and remove it at once.
  try {
    Deno.openSync(path, { write: true, createNew: true, mode: 0o600 }).close();
    Deno.removeSync(path);
  } catch (error) {
    throw usageError(
      `Cannot use ${flag}: the file cannot be created there (${
        (error as Error).message.replace(/: \w+ '.*'$/s, "")
      }) "${shown}"`,
      "Choose a file name in a directory you can write to.",
    );
  }
}

/** With --refresh, --save replaces its file through FILE.tmp (see replaceFile): this run must be allowed both, to read and to write. */
function checkReplacePath(path: string, demo: boolean) {
  const temporary = replacementPath(path);
  const allowed = [path, temporary].every((file) =>
    (["read", "write"] as const).every((name) =>
      Deno.permissions.querySync({ name, path: file }).state === "granted"
    )
  );
  if (!allowed) {
    throw usageError(
      `Cannot use --save with --refresh: this run may not write "${
        terminalSafe(temporary)
      }", where the refreshed tokens go before they replace the file`,
      savePermissionHint(demo),
    );
  }
}

/** The demo app's settings; asked for without --demo, they are a usage error (a real org's app has its own). */
function demoAppSettings(
  flags: { "demo-rotate"?: boolean; "demo-jwt"?: boolean },
  demo: boolean,
): Config["demoApp"] {
  const settings = {
    rotateRefreshTokens: flags["demo-rotate"] ?? false,
    jwtAccessTokens: flags["demo-jwt"] ?? false,
  };
  const asked = settings.rotateRefreshTokens ? "--demo-rotate" : "--demo-jwt";
  if (!demo && (settings.rotateRefreshTokens || settings.jwtAccessTokens)) {
    throw usageError(
      `Cannot use ${asked} without --demo: it sets the demo org's app`,
      `Add --demo. On a real org these are the app's own OAuth settings in Setup ("Enable Refresh Token Rotation", ` +
        `"Issue JSON Web Token (JWT)-based access tokens for named users"): steps 7 and 10 show what the org did.`,
    );
  }
  return settings;
}

/** Reads and validates the configuration; `null` means `--help` was asked for. */
export function loadConfig(
  args: string[],
  sources: SettingSources,
): Config | null {
  const flags = parseCommandLine(args);
  if (flags.help) return null;
  const demo = flags.demo ?? false;
  const get = (flag: SettingFlag) =>
    lookUp(flag, flags, readsSettings(flags) ? sources : NO_SOURCES);

  const redirect = get("redirect-uri");
  const scope = get("scope");
  const config: Config = {
    instanceUrl: "",
    clientId: "",
    redirectUri: redirect
      ? validateRedirectUri(redirect)
      : DEFAULT_REDIRECT_URI,
    scope: scope?.value.trim().replace(/\s+/g, " ") || undefined,
    timeoutSeconds: validateTimeout(flags.timeout),
    demo,
    demoApp: demoAppSettings(flags, demo),
    openBrowser: !flags["no-browser"],
    check: !flags["no-check"],
    sendSecret: !flags["no-secret"],
    json: flags.json ?? false,
    showSecrets: flags["show-secrets"] ?? false,
    http: flags.http ?? false,
    identity: !flags["no-identity"],
    refresh: flags.refresh ?? false,
    revoke: flags.revoke ?? false,
    save: flags.save,
    report: flags.report,
    pause: flags.pause ?? false,
    exercise: flags.exercise,
    warnings: [],
    settingsFrom: {
      redirect_uri: redirect?.source ?? "default",
      scope: scope?.source ?? "the app's own scopes",
    },
  };
  if (config.save !== undefined) {
    checkNewFilePath("--save", config.save, savePermissionHint(demo));
  }
  if (config.save !== undefined && config.refresh) {
    checkReplacePath(config.save, demo);
  }
  if (config.report !== undefined) {
    checkNewFilePath(
      "--report",
      config.report,
      "The deno tasks write no report: run deno run -A main.ts with --report, or give deno run --allow-write for that file.",
    );
  }
  // --exercise list names the exercises and runs nothing: it needs no org.
  if (config.exercise === "list") return config;
  if (demo) {
    const ignored = ["instance-url", "client-id", "client-secret"]
      .filter((flag) => flags[flag as SettingFlag] !== undefined);
    if (ignored.length > 0) {
      config.warnings.push(
        `${
          ignored.map((flag) => `--${flag}`).join(", ")
        } ignored: --demo uses the demo org and its app`,
      );
    }
    return config; // the demo org fills in the rest
  }
  return withOrgSettings(config, get);
}

/** The org and the app, for a run against a real org: the instance URL and consumer key are required. */
function withOrgSettings(
  config: Config,
  get: (flag: SettingFlag) => Setting | undefined,
): Config {
  // An empty value ("--client-id ''", an unset shell variable) is no value.
  const given = (flag: SettingFlag) => {
    const setting = get(flag);
    return setting?.value.trim() ? setting : undefined;
  };
  const instance = given("instance-url");
  const clientId = given("client-id");
  const empty = (["instance-url", "client-id"] as const)
    .filter((flag) => get(flag) && !given(flag))
    .map((flag) => get(flag)!.source);
  const missing = [
    instance ? "" : "--instance-url (or SF_INSTANCE_URL)",
    clientId ? "" : "--client-id (or SF_CLIENT_ID)",
  ].filter(Boolean);
  if (!instance || !clientId) {
    throw usageError(
      `Cannot start the flow: missing ${missing.join(" and ")}${
        empty.length
          ? ` (${empty.join(" and ")} ${empty.length > 1 ? "are" : "is"} empty)`
          : ""
      }`,
      hasDemoOrg()
        ? "Set them as flags, environment variables or in .env (see .env.example), " +
          "or run with --demo, which needs no configuration."
        : "Set them as flags, environment variables, or in a .env file where you run this (SF_INSTANCE_URL=..., SF_CLIENT_ID=...). " +
          GIST_DEMO_HINT,
    );
  }
  rejectPlaceholder(
    instance,
    /\/\/yourdomain\./,
    "the org's My Domain URL (Setup > My Domain)",
  );
  rejectPlaceholder(
    clientId,
    /\.\.\./,
    "the app's Consumer Key (it starts with 3MVG9)",
  );
  config.instanceUrl = validateInstanceUrl(instance);
  config.clientId = clientId.value.trim();
  const secret = config.sendSecret ? get("client-secret") : undefined;
  if (secret && !secret.value.trim()) {
    throw usageError(
      `Cannot use ${secret.source}: it is empty`,
      "Give the app's consumer secret, or leave it out (or use --no-secret) for an app that does not require one.",
    );
  }
  config.clientSecret = secret?.value;
  config.settingsFrom = {
    instance: instance.source,
    client_id: clientId.source,
    client_secret: !config.sendSecret
      ? "--no-secret: none sent"
      : secret?.source ?? "not set: a public client",
    ...config.settingsFrom,
  };
  if (secret?.source === "--client-secret") {
    config.warnings.push(
      "--client-secret is visible to every user of this machine in the process list: put the secret in SF_CLIENT_SECRET or .env instead",
    );
  }
  return config;
}

/** No environment and no .env: what --demo reads besides flags. */
const NO_SOURCES: SettingSources = { env: () => undefined, dotEnv: () => ({}) };

/** Refuses a value still as .env.example has it. */
function rejectPlaceholder(setting: Setting, example: RegExp, what: string) {
  if (!example.test(setting.value)) return;
  const repository = hasDemoOrg();
  throw usageError(
    `Cannot use ${setting.source}: it is still the example${
      repository ? " from .env.example" : ""
    } "${shownValue(setting.value)}"`,
    `Replace it with ${what}${
      repository ? ", or run with --demo to try the flow first" : ""
    }.`,
  );
}

/** In a gist there is no demo org: where to find one. */
const GIST_DEMO_HINT =
  "To try the flow without an org, run the demo org from the walkthrough's repository (deno task demo-org in a clone) " +
  "and point this script at it with the --instance-url and --client-id it prints.";

/**
 * True when demo_org.ts sits beside this file, as in the repository; a gist
 * holds only main.ts and pkce.ts. Looked up without asking for a permission:
 * a run that may not look (deno task start) is in the repository.
 */
function hasDemoOrg(): boolean {
  const beside = new URL("./demo_org.ts", import.meta.url);
  if (beside.protocol !== "file:") {
    return beside.hostname !== "gist.githubusercontent.com";
  }
  const permission = Deno.permissions.querySync({ name: "read", path: beside });
  if (permission.state !== "granted") return true;
  try {
    Deno.statSync(beside);
    return true;
  } catch (error) {
    return !(error instanceof Deno.errors.NotFound);
  }
}

// ---------------------------------------------------------------------------
// Running it: configuration, the demo org, signals, exit codes
// ---------------------------------------------------------------------------

/** Runs the flow; resolves with the exit code. */
export async function main(args: string[]): Promise<number> {
  let output: Output = {
    json: args.includes("--json"),
    color: false,
    width: Infinity,
    showSecrets: false,
    pause: false,
  };
  let config: Config | null;
  try {
    config = loadConfig(args, await runtimeSources(args));
  } catch (error) {
    return fail(output, error);
  }
  if (config === null) {
    console.log(helpText());
    return EXIT_OK;
  }
  const onTerminal = !config.json && Deno.stdout.isTerminal();
  output = {
    json: config.json,
    showSecrets: config.showSecrets,
    color: onTerminal && !readEnv("NO_COLOR"),
    width: onTerminal ? terminalWidth() : Infinity,
    // Workshop mode needs someone at a terminal to press Enter.
    pause: config.pause && !config.json && Deno.stdin.isTerminal(),
  };
  if (config.pause && !output.pause) {
    config.warnings.push(
      `--pause does nothing here: ${
        config.json
          ? "--json output is for programs, with nobody to press Enter"
          : "standard input is not a terminal, so nobody can press Enter"
      }; the steps run straight through`,
    );
  }

  // Ctrl+C or SIGTERM closes the servers and ends with 130.
  const interrupt = new AbortController();
  const flow: Flow = {
    config,
    output,
    lines: createLineReader(() => Deno.stdin.readable),
    signal: interrupt.signal,
  };
  const signals = listenForSignals(() =>
    interrupt.abort(interruptedError(flow))
  );
  config.warnings.forEach(warn);
  let demoOrg: { close(): Promise<void> } | undefined;
  let report: ReportModule | undefined;
  let code: number;
  try {
    if (config.report !== undefined) report = await loadReport();
    if (config.http || report) await startRecording(flow);
    if (config.exercise !== undefined) {
      code = await runExercises(flow); // a demo org of its own for each run
    } else {
      if (config.demo) {
        demoOrg = await startDemo(flow);
      }
      await runFlow(flow);
      if (flow.record) flow.record.outcome = { kind: "completed" };
      code = EXIT_OK;
    }
  } catch (error) {
    code = fail(output, withRunDetails(error, flow.config), flow);
  } finally {
    signals.remove();
    await demoOrg?.close();
  }
  // Completed, failed or interrupted: the page shows how far the run got.
  return report ? await writeReport(flow, report, code) : code;
}

/** The default redirect URI, or another port when 8000 is taken (never `orgPort`): the demo org accepts any. */
function freeDemoRedirectUri(flow: Flow, orgPort: number): string {
  const fallback = new URL(DEFAULT_REDIRECT_URI);
  for (const port of [Number(fallback.port), 0, 0]) {
    const free = freeLoopbackPort(port);
    if (free === undefined || free === orgPort) continue;
    if (port !== free) {
      note(
        flow,
        `port ${fallback.port} is busy: the demo uses port ${free} instead (the demo org accepts any)`,
      );
    }
    fallback.port = String(free);
    return fallback.href;
  }
  return DEFAULT_REDIRECT_URI; // step 4 will say what is in the way
}

/** `port` (0: any) if it is free on 127.0.0.1 and, where the machine has it, ::1; the port found, or undefined. */
export function freeLoopbackPort(port: number): number | undefined {
  for (let attempt = 0; attempt < 5; attempt++) {
    const listeners: Deno.Listener[] = [];
    try {
      listeners.push(Deno.listen({ hostname: "127.0.0.1", port }));
      const found = (listeners[0].addr as Deno.NetAddr).port;
      try {
        listeners.push(Deno.listen({ hostname: "::1", port: found }));
      } catch (error) {
        if (error instanceof Deno.errors.AddrInUse) throw error;
      }
      return found;
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse) || port !== 0) return;
    } finally {
      listeners.forEach((listener) => listener.close());
    }
  }
}

/** Loads a part that lives in a file of its own (the demo org, --http's text); a gist without it gets a usage error naming the file. */
async function importBeside<T>(
  load: () => Promise<T>,
  flag: string,
  file: string,
  hint: string | (() => string),
): Promise<T> {
  try {
    return await load();
  } catch (error) {
    throw new FlowError({
      error: "invalid_configuration",
      error_description: `Cannot use ${flag}: ${file} is not next to main.ts`,
      hint: typeof hint === "function" ? hint() : hint,
      exitCode: EXIT_USAGE,
      cause: error,
    });
  }
}

/** --demo: starts the local demo org, points the run at it, and lets the demo user sign in when no browser opens. */
export async function startDemo(
  flow: Flow,
  options: import("./demo_org.ts").DemoOrgOptions = {},
) {
  const demo = await importBeside(
    () => import("./demo_org.ts"),
    "--demo",
    "demo_org.ts",
    () =>
      hasDemoOrg()
        ? "Fetch demo_org.ts and its demo_org/ folder next to main.ts, or run against a real org with --instance-url and --client-id."
        : `The demo org is not in a gist, only in the walkthrough's repository. ${GIST_DEMO_HINT} Or run against a real org with --instance-url and --client-id.`,
  );
  const errorPages = errorPageListener();
  const org = demo.startDemoOrg({
    ...flow.config.demoApp, // --demo-rotate, --demo-jwt
    ...options,
    redirectUri: flow.config.redirectUri,
    onErrorPage: errorPages.onErrorPage,
    // The browser's visit to the org, from step 5 on (step 4's check is the script's own).
    observe: flow.record &&
      (async (request, response) => {
        if (flow.step === 5) await recordAtOrg(flow, request, response);
      }),
  });
  if (flow.record) flow.record.instanceUrl = org.url;
  flow.demoErrorPage = errorPages.waitFor;
  let played = false;
  // Chosen once the org listens, so the callback never picks the org's port.
  const redirectUri = flow.config.settingsFrom.redirect_uri === "default"
    ? freeDemoRedirectUri(flow, Number(new URL(org.url).port))
    : flow.config.redirectUri;
  org.client.redirect_uris = [redirectUri];
  flow.config = {
    ...flow.config,
    redirectUri,
    instanceUrl: org.url,
    clientId: org.client.client_id,
    clientSecret: flow.config.sendSecret ? org.client.client_secret : undefined,
    settingsFrom: {
      instance: "the demo org",
      client_id: "the demo org's app",
      client_secret: flow.config.sendSecret
        ? "the demo org's app"
        : "--no-secret: none sent (the demo app does not require one)",
      ...flow.config.settingsFrom,
    },
  };
  flow.demoUser = (url) => {
    played = true;
    return playAsDemoUser(flow, demo, url);
  };
  const settings = [
    org.client.rotate_refresh_tokens ? "rotates refresh tokens" : "",
    org.client.jwt_access_tokens ? "issues JWT-based access tokens" : "",
  ].filter(Boolean);
  note(
    flow,
    `demo mode: a local demo org is running at ${org.url}; SF_* settings and .env are ignored. ` +
      "It is new each run, so it asks you to sign in each time (any password)." +
      (settings.length ? ` Its app ${settings.join(" and ")}.` : ""),
  );
  return {
    async close() {
      // A browser sent to the org's error page gets it before the org goes away.
      if (errorPages.shown() && !played) await untilErrorPageServed(org);
      await org.close();
    },
  };
}

/** With --demo and no browser: the script signs in and clicks Allow as the demo user; the org's own error page becomes its FlowError. */
async function playAsDemoUser(
  flow: Flow,
  demo: typeof import("./demo_org.ts"),
  url: string,
) {
  note(
    flow,
    "no browser: the script plays the demo user (signs in, then clicks Allow)",
  );
  try {
    await demo.playDemoUser(url);
  } catch (error) {
    const { error: code, error_description } = error as Partial<FlowError>;
    throw code && error_description !== undefined
      ? new FlowError({ error: code, error_description }) // the org's own error page
      : new FlowError({
        error: "demo_user_failed",
        error_description: (error as Error).message,
        hint:
          "The demo org did not behave as expected: run again, or open the URL in a browser.",
      });
  }
}

/**
 * With --demo the org tells the run of an error it shows on its own page
 * (invalid_scope), which no callback ever reports: the wait for the request
 * with that state then ends at once.
 */
function errorPageListener() {
  let waiting:
    | { state: string; told: PromiseWithResolvers<CallbackResult> }
    | undefined;
  let shown = false;
  return {
    onErrorPage(
      error: string,
      error_description: string,
      request: { state: string | null },
    ) {
      if (!waiting || request.state !== waiting.state) return; // another run's, or a page's
      shown = true;
      waiting.told.resolve({ kind: "error", error, error_description });
    },
    waitFor(state: string): Promise<CallbackResult> {
      waiting = { state, told: Promise.withResolvers() };
      return waiting.told.promise;
    },
    shown: () => shown,
  };
}

/** How long the demo org waits, at most, for a browser to fetch its error page before it closes. */
const ERROR_PAGE_GRACE_MS = 3_000;

/** Resolves once the org has served its error page (RemoteAccessErrorPage), or after ERROR_PAGE_GRACE_MS. */
async function untilErrorPageServed(org: { received: string[] }) {
  const served = () =>
    org.received.some((request) =>
      request.startsWith("GET ") && request.includes("RemoteAccessErrorPage")
    );
  for (let waited = 0; !served() && waited < ERROR_PAGE_GRACE_MS;) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    waited += 50;
  }
}

/** redirect_uri_mismatch says what to compare with the app's Callback URL: the redirect URI this run sent. */
function withRunDetails(error: unknown, config: Config): unknown {
  if (
    !(error instanceof FlowError) || error.error !== "redirect_uri_mismatch"
  ) {
    return error;
  }
  const from = config.settingsFrom.redirect_uri;
  return new FlowError({
    error: error.error,
    error_description:
      `${error.error_description} (redirect_uri sent: ${config.redirectUri})`,
    hint:
      `This run sent redirect_uri ${config.redirectUri} (${
        from === "default" ? "the default" : `from ${from}`
      }): register that as the app's Callback URL exactly (scheme, host, port and path), ` +
      "or pass the registered one with --redirect-uri. A changed Callback URL can take a few minutes to work.",
    exitCode: error.exitCode,
    cause: error,
  });
}

/** --exercise: exercises.ts runs the flow with an attacker in it. */
async function runExercises(flow: Flow): Promise<number> {
  const exercises = await importBeside(
    () => import("./exercises.ts"),
    "--exercise",
    "exercises.ts",
    "Fetch exercises.ts, demo_org.ts and its demo_org/ folder next to main.ts, or run without --exercise.",
  );
  return await exercises.runExercises(flow);
}

/** Starts the run's record (for --http, or a report); with --http, loads the HTTP text module too. */
async function startRecording(flow: Flow) {
  if (flow.config.http) {
    const text = await importBeside(
      () => import("./http_view.ts"),
      "--http",
      "http_view.ts",
      "Fetch http_view.ts next to main.ts, or run without --http (--json shows every step's data).",
    );
    flow.wire = { text, pending: [], known: new Map() };
  }
  flow.record = {
    startedAt: new Date(),
    instanceUrl: flow.config.instanceUrl,
    showSecrets: flow.config.showSecrets,
    http: flow.config.http,
    steps: [],
    events: [],
    outcome: { kind: "interrupted", step: null },
  };
}

// ---------------------------------------------------------------------------
// --report: the run as a Markdown page (report.ts, loaded only when asked for)
// ---------------------------------------------------------------------------

type ReportModule = typeof import("./report.ts");

/** Loads report.ts before anything starts, so a gist without it stops at once. */
function loadReport(): Promise<ReportModule> {
  return importBeside(
    () => import("./report.ts"),
    "--report",
    "report.ts",
    "Fetch report.ts next to main.ts, or run without --report (--json prints every step's data).",
  );
}

/** Writes the page of a run that got to step 1 at least, to a new file, and says where; a completed run whose page cannot be written exits 1. */
async function writeReport(
  flow: Flow,
  report: ReportModule,
  code: number,
): Promise<number> {
  const record = flow.record;
  if (!record || record.steps.length === 0) return code;
  const path = flow.config.report!;
  record.instanceUrl = flow.config.instanceUrl; // the demo org's, once it started
  const { showSecrets } = flow.config;
  try {
    await Deno.writeTextFile(path, report.renderReport(record), {
      createNew: true,
      ...(showSecrets ? { mode: 0o600 } : {}),
    });
  } catch (error) {
    logFailure(
      flow.output,
      new FlowError({
        error: "report_failed",
        error_description: `Cannot write the report: ${
          (error as Error).message.replace(/: \w+ '.*'$/s, "")
        } "${terminalSafe(path)}"`,
        hint:
          "Choose a new file name in a directory you can write to (--report FILE.md); the steps printed above are the run.",
      }),
    );
    return code === EXIT_OK ? EXIT_FAILED : code;
  }
  note(
    flow,
    `wrote the report of this run to ${path}: ${
      showSecrets
        ? "it holds the secrets unmasked (mode 0600): do not share it"
        : "secrets masked, ready to paste into a gist"
    }`,
  );
  return code;
}

/** What Ctrl+C ends: the step under way, and the callback server only if it had started. */
function interruptedError(flow: Flow): FlowError {
  const where = flow.step ? ` at step ${flow.step}` : "";
  return new FlowError({
    error: "interrupted",
    error_description: `Cannot finish the flow: interrupted${where}${
      flow.callbackStarted ? ", and the callback server is closed" : ""
    }`,
    hint: "Run the script again to start over.",
    exitCode: EXIT_INTERRUPTED,
  });
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

export function fail(output: Output, error: unknown, flow?: Flow): number {
  const failure = error instanceof FlowError ? error : new FlowError({
    error: "unexpected_error",
    error_description: String((error as Error)?.message ?? error),
    hint:
      "This looks like a bug in the walkthrough: please report it with the output above.",
  });
  logFailure(output, failure, flow?.wire);
  if (flow?.record) {
    flow.record.outcome = failure.error === "interrupted" ||
        failure.error === "quit"
      ? { kind: "interrupted", step: flow.step ?? null }
      : {
        kind: "failed",
        step: flow.step ?? null,
        error: failure.error,
        error_description: failure.error_description,
      };
  }
  return failure.exitCode;
}

// Not a top-level await: the demo org imports this module, and a module that
// is still awaiting would make that import wait for itself.
if (import.meta.main) main(Deno.args).then((code) => Deno.exit(code));
