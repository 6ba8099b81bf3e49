/**
 * # Break it on purpose: the learner plays the attacker
 *
 * `deno run -A main.ts --demo --exercise NAME` runs the normal flow with one
 * attacker move inserted at the right step, then shows what the org (or the
 * script) answered and which defence held. `--exercise list` names them,
 * `--exercise all` runs them in turn: a check an instructor can run before
 * class (exit 0: every defence held; 1: an attack worked).
 *
 * The flow itself does not change: `runFlow` calls the hooks an exercise
 * gives it (`FlowHooks` in main.ts) at fixed points, and every move below is
 * a plain function that sends ordinary requests. The attacker only ever talks
 * to the local demo org and to the script's own callback, on loopback.
 *
 * @module
 */

import {
  buildAuthorizeUrl,
  EXIT_FAILED,
  EXIT_INTERRUPTED,
  EXIT_OK,
  EXIT_USAGE,
  fail,
  type Flow,
  FlowError,
  type FlowHooks,
  mask,
  maskField,
  maskForm,
  maskHeader,
  maskJson,
  maskUrl,
  note,
  readAtMost,
  runFlow,
  safeJson,
  startDemo,
  terminalSafe,
  type Tokens,
  wrap,
} from "./main.ts";
import { signInAndDecide } from "./demo_org.ts";
import type { DemoOrgOptions } from "./demo_org.ts";
import {
  base64url,
  createCodeVerifier,
  generatePkce,
  randomBase64url,
} from "./pkce.ts";

// ---------------------------------------------------------------------------
// What the attacker sends, and what comes back
// ---------------------------------------------------------------------------

/** How a request reaches the org or the callback: `fetch` on loopback, or a demo org's `handle` in tests. */
export type Send = (request: Request) => Promise<Response>;

/** One request the attacker sent (or, afterwards, the script with its own tokens), and the answer. */
export interface Try {
  /** In a few words: what this request tries. */
  what: string;
  from: "attacker" | "script";
  to: "org" | "callback";
  method: string;
  url: string;
  headers: Record<string, string>;
  form?: URLSearchParams;
  status: number;
  responseHeaders: Record<string, string>;
  /** The answer's body, at most MAX_ANSWER bytes of it. */
  body: string;
}

/** The most of an answer the attacker reads. */
const MAX_ANSWER = 16 * 1024;

/** Sends one request and keeps it and its answer, as they were; they are masked only when shown. */
async function attempt(
  send: Send,
  what: string,
  target: Pick<Try, "from" | "to" | "method" | "url"> & {
    headers?: Record<string, string>;
    form?: URLSearchParams;
  },
): Promise<Try> {
  const headers: Record<string, string> = { ...target.headers };
  if (target.form) {
    headers["content-type"] = "application/x-www-form-urlencoded";
  }
  const response = await send(
    new Request(target.url, {
      method: target.method,
      headers,
      body: target.form?.toString(),
    }),
  );
  return {
    what,
    ...target,
    headers,
    status: response.status,
    responseHeaders: Object.fromEntries(response.headers),
    body: (await readAtMost(response, MAX_ANSWER)).text,
  };
}

/** The `error` of an OAuth error answer (JSON, or Salesforce's bare form text), if it is one. */
export function oauthError(tried: Try): string | undefined {
  try {
    const json = JSON.parse(tried.body);
    if (typeof json?.error === "string") return json.error;
  } catch {
    // not JSON: maybe error=…&error_description=…
  }
  if (/^error=[^&\s]*&error_description=/.test(tried.body.trim())) {
    return new URLSearchParams(tried.body.trim()).get("error") ?? undefined;
  }
}

/** The token endpoint of an org. */
function tokenEndpoint(instanceUrl: string): string {
  return new URL("/services/oauth2/token", instanceUrl).href;
}

/** The app as anyone can see it: its consumer key and redirect URI are in every authorization URL. */
export interface App {
  instanceUrl: string;
  clientId: string;
  redirectUri: string;
  /** Only where the attacker holds it too (see each exercise). */
  clientSecret?: string;
}

// ---------------------------------------------------------------------------
// The attacker's moves, one function each
// ---------------------------------------------------------------------------

/**
 * stolen-code: redeem an intercepted code as the app would, but without the
 * code_verifier, then with a guessed one. Stops at the first that works.
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-1
 */
export async function redeemStolenCode(
  send: Send,
  app: App,
  code: string,
): Promise<Try[]> {
  const form = new URLSearchParams({
    grant_type: "authorization_code",
    code,
    client_id: app.clientId,
    redirect_uri: app.redirectUri,
  });
  const url = tokenEndpoint(app.instanceUrl);
  const target = { from: "attacker", to: "org", method: "POST", url } as const;
  const tries = [
    await attempt(send, "the stolen code, without a code_verifier", {
      ...target,
      form,
    }),
  ];
  if (tries[0].status === 200) return tries;
  const guessed = new URLSearchParams(form);
  guessed.set("code_verifier", createCodeVerifier());
  tries.push(
    await attempt(send, "the stolen code, with a guessed code_verifier", {
      ...target,
      form: guessed,
    }),
  );
  return tries;
}

/**
 * replayed-code: send a copy of the script's own token request again, after
 * the script redeemed the code; only the code's single use can stop it.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-10.5
 */
export async function replayTokenRequest(
  send: Send,
  instanceUrl: string,
  copy: URLSearchParams,
): Promise<Try> {
  return await attempt(send, "a copy of the script's token request, again", {
    from: "attacker",
    to: "org",
    method: "POST",
    url: tokenEndpoint(instanceUrl),
    form: new URLSearchParams(copy),
  });
}

/**
 * forged-callback, part 1: the attacker starts an authorization request of
 * their own (their PKCE pair, their state), signs in, and keeps the code
 * instead of letting their browser deliver it. At a real org they would sign
 * in with their own account; the demo org has one user.
 */
export async function getAttackersOwnCode(
  app: App,
): Promise<{ code: string; state: string }> {
  const pkce = await generatePkce();
  const state = randomBase64url(32);
  const url = buildAuthorizeUrl(app.instanceUrl, {
    client_id: app.clientId,
    redirect_uri: app.redirectUri,
    response_type: "code",
    code_challenge: pkce.code_challenge,
    code_challenge_method: "S256",
    state,
  });
  const back = await signInAndDecide(url.href);
  const code = back.searchParams.get("code");
  if (!code) {
    throw new Error(
      `Cannot get the attacker's own code: the org sent them back without one "${back.search}"`,
    );
  }
  return { code, state };
}

/**
 * forged-callback, part 2: make the victim's browser deliver the attacker's
 * code to the script's callback (login CSRF): once with no state, once with
 * the attacker's own state. Each is refused unless the script skips its check.
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.7
 */
export async function forgeCallbacks(
  send: Send,
  redirectUri: string,
  attackers: { code: string; state: string },
): Promise<Try[]> {
  const forged = (query: Record<string, string>) => {
    const url = new URL(redirectUri);
    url.search = new URLSearchParams(query).toString();
    return url.href;
  };
  const target = { from: "attacker", to: "callback", method: "GET" } as const;
  const tries = [
    await attempt(send, "the attacker's code, with no state", {
      ...target,
      url: forged({ code: attackers.code }),
    }),
  ];
  if (tries[0].status === 200) return tries;
  tries.push(
    await attempt(send, "the attacker's code, with the attacker's own state", {
      ...target,
      url: forged({ code: attackers.code, state: attackers.state }),
    }),
  );
  return tries;
}

/** The redirect URI the attacker would like codes sent to; it is never contacted. */
export const ATTACKER_REDIRECT_URI = "https://attacker.example/callback";

/**
 * swapped-redirect: the app's own authorization request (its consumer key is
 * public), with the redirect URI swapped for the attacker's and the
 * attacker's own PKCE pair and state: a link they would send their victim.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-10.6
 */
export async function askForSwappedRedirect(
  send: Send,
  authorizationUrl: URL,
): Promise<Try> {
  const url = new URL(authorizationUrl);
  const pkce = await generatePkce();
  url.searchParams.set("redirect_uri", ATTACKER_REDIRECT_URI);
  url.searchParams.set("code_challenge", pkce.code_challenge);
  url.searchParams.set("state", randomBase64url(32));
  url.searchParams.delete("nonce");
  return await attempt(send, "the app's authorization URL, redirect swapped", {
    from: "attacker",
    to: "org",
    method: "GET",
    url: url.href,
  });
}

/** The two forgeries tampered-id-token tries: a claim changed after signing, and a token that claims no signature is needed. */
export type Tampering = "claim-changed" | "alg-none";

/** The claim the attacker changes, and to what: an app that links accounts by e-mail would now sign in someone else. */
export const TAMPERED_CLAIM = { name: "email", value: "ceo@demo-org.example" };

/**
 * tampered-id-token: changes an ID token as an attacker on its way would.
 * `claim-changed` keeps the header and the org's signature but rewrites one
 * claim; `alg-none` says `"alg": "none"` and drops the signature.
 * @see https://www.rfc-editor.org/rfc/rfc8725#section-2.1
 */
export function tamperIdToken(idToken: string, how: Tampering): string {
  const [header, claims, signature] = idToken.split(".");
  const decode = (part: string) =>
    JSON.parse(
      new TextDecoder().decode(
        Uint8Array.fromBase64(part, { alphabet: "base64url" }),
      ),
    );
  const encode = (value: unknown) =>
    base64url(new TextEncoder().encode(JSON.stringify(value)));
  const changed = encode({
    ...decode(claims),
    [TAMPERED_CLAIM.name]: TAMPERED_CLAIM.value,
  });
  if (how === "claim-changed") return `${header}.${changed}.${signature}`;
  return `${encode({ ...decode(header), alg: "none" })}.${changed}.`;
}

/** Rewrites a token endpoint answer on its way to the script: the same answer, its `id_token` tampered. */
export async function tamperTokenResponse(
  response: Response,
  how: Tampering,
): Promise<{ response: Response; tampered?: string }> {
  const text = await response.text();
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(text);
  } catch { /* not JSON: passed on untouched */ }
  const rebuilt = (text: string) =>
    new Response(text, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  if (typeof body?.id_token !== "string") return { response: rebuilt(text) };
  const tampered = tamperIdToken(body.id_token, how);
  return {
    response: rebuilt(JSON.stringify({ ...body, id_token: tampered })),
    tampered,
  };
}

/**
 * reused-refresh-token: present the refresh token the attacker copied
 * before step 10 rotated it (from a saved tokens file, say).
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2
 */
export async function reuseRefreshToken(
  send: Send,
  app: App,
  oldRefreshToken: string,
): Promise<Try> {
  const form = new URLSearchParams({
    grant_type: "refresh_token",
    refresh_token: oldRefreshToken,
    client_id: app.clientId,
  });
  if (app.clientSecret) form.set("client_secret", app.clientSecret);
  return await attempt(send, "the refresh token from before step 10", {
    from: "attacker",
    to: "org",
    method: "POST",
    url: tokenEndpoint(app.instanceUrl),
    form,
  });
}

/** After an attack: the script tries its own tokens, to show whether the org revoked them. */
export async function tryTokens(
  send: Send,
  app: App,
  tokens: Pick<Tokens, "access_token" | "refresh_token" | "id_url">,
): Promise<Try[]> {
  const tries = [
    await attempt(send, "the script's access token, at the identity URL", {
      from: "script",
      to: "org",
      method: "GET",
      url: tokens.id_url,
      headers: { authorization: `Bearer ${tokens.access_token}` },
    }),
  ];
  if (tokens.refresh_token) {
    const form = new URLSearchParams({
      grant_type: "refresh_token",
      refresh_token: tokens.refresh_token,
      client_id: app.clientId,
    });
    if (app.clientSecret) form.set("client_secret", app.clientSecret);
    tries.push(
      await attempt(send, "the script's refresh token, at the token endpoint", {
        from: "script",
        to: "org",
        method: "POST",
        url: tokenEndpoint(app.instanceUrl),
        form,
      }),
    );
  }
  return tries;
}

// ---------------------------------------------------------------------------
// The exercises: who the attacker is, when they move, and what must happen
// ---------------------------------------------------------------------------

/** What an exercise's hooks report once the attacker has moved. */
export interface Move {
  /** What the attacker holds, as shown (secrets already masked). */
  holds: Record<string, string>;
  /** The attacker's requests and the answers. */
  tries: Try[];
  /** An answer the attacker forged and sent to the script in the org's place. */
  forged?: { what: string; status: number; body: string };
  /** Afterwards: the script trying its own tokens. */
  after?: Try[];
  /** True when the defence held: the attacker got nothing. */
  held: boolean;
  /** What the answer means, in one sentence. */
  meaning: string;
  /** Why the exercise could not be played at all (say, no ID token came), if so. */
  cannot?: string;
  /** Anything else worth showing in the answer. */
  notes?: Record<string, string>;
}

/** What a round's hooks can use: the run, a loopback-only way to send, and a way to report the move. */
export interface Attack {
  flow: Flow;
  /** The app as the attacker sees it (no secret), or with the secret where they stole it too. */
  app(withSecret?: boolean): App;
  send: Send;
  /** Masks a secret as the rest of the output does. */
  hide(value: string): string;
  /** Shows the move now; a round may instead leave it to `conclude`, once the flow has ended. */
  show(move: Move): void;
}

/** How the flow must end for the exercise to pass: completed, or refused with this error (and this ID token check). */
type Ending = "completed" | { error: string; check?: string };

interface Round {
  /** Shown when an exercise has more than one round. */
  label?: string;
  hooks(attack: Attack): FlowHooks & {
    /** For moves whose answer is the flow's own refusal: the move, once the flow has ended. */
    conclude?(ending: FlowError | undefined): Move | undefined;
  };
  ends: Ending;
}

/** One exercise. */
export interface Exercise {
  name: string;
  /** One line for `--exercise list`. */
  summary: string;
  /** The step after which the attacker moves. */
  step: number;
  /** Who the attacker is. */
  who: string;
  /** Which defence should hold, and where it is in the code: one sentence. */
  defence: string;
  /** The settings the run needs, over the learner's own. */
  settings?: {
    identity?: boolean;
    refresh?: boolean;
    revoke?: boolean;
  };
  /** The demo org's options the run needs. */
  org?: DemoOrgOptions;
  rounds: Round[];
}

const stolenCode: Exercise = {
  name: "stolen-code",
  summary:
    "another app intercepts the code on its way to the callback and redeems it without the verifier",
  step: 5,
  who:
    "another app on this machine that saw the org's redirect to the callback (a custom scheme or a port it listened on)",
  defence:
    "PKCE held: the org hashes the code_verifier and compares it with the code_challenge of step 3, and only this script ever had the verifier (main.ts: createPkce at step 2, prepareTokenRequest at step 6; demo_org/oauth.ts: exchangeCode).",
  rounds: [{
    hooks: (attack) => ({
      async afterStep5(code) {
        const app = attack.app();
        const tries = await redeemStolenCode(attack.send, app, code);
        const won = tries.some((t) => t.status === 200);
        attack.show({
          holds: {
            code: attack.hide(code),
            client_id: app.clientId,
            redirect_uri: app.redirectUri,
            code_verifier:
              "not known: it never left the script until step 6, and then only to the org",
          },
          tries,
          held: !won,
          meaning: won
            ? "the org handed out tokens for a stolen code without its verifier"
            : "refused both times: without the verifier, the code is worth nothing; the script now redeems it itself",
        });
      },
    }),
    ends: "completed",
  }],
};

const replayedCode: Exercise = {
  name: "replayed-code",
  summary:
    "after the script redeemed the code, a copy of its token request is sent again",
  step: 8,
  who:
    "someone who copied the script's token request (code, verifier and all) from a debugging proxy or a log",
  defence:
    "single-use codes held: the org takes a code once and refuses it after, and the demo org also revokes what the code bought (RFC 6749 §10.5; demo_org/oauth.ts: exchangeCode); Salesforce refuses a reused code the same way, but whether it revokes the tokens is not confirmed (facts D.3).",
  settings: { identity: false, refresh: false, revoke: false },
  rounds: [{
    hooks: (attack) => {
      let copy: URLSearchParams | undefined;
      return {
        onTheWire(_url, init, answer) {
          const form = new URLSearchParams(String(init.body ?? ""));
          if (!copy && form.get("grant_type") === "authorization_code") {
            copy = form; // as a debugging proxy would log it
          }
          return Promise.resolve(answer);
        },
        async afterStep8(tokens) {
          const app = attack.app(true);
          const tried = await replayTokenRequest(
            attack.send,
            app.instanceUrl,
            copy!,
          );
          const after = await tryTokens(attack.send, app, tokens);
          const revoked = after.every((t) => t.status !== 200);
          attack.show({
            holds: {
              token_request:
                "the script's, as sent at step 7 (a proxy logged it)",
              code: attack.hide(copy!.get("code") ?? ""),
              code_verifier: attack.hide(copy!.get("code_verifier") ?? ""),
            },
            tries: [tried],
            after,
            held: tried.status !== 200,
            meaning: tried.status === 200
              ? "the org redeemed the same code twice"
              : revoked
              ? "refused, and the tokens the code bought are revoked: the script's access and refresh tokens are refused too"
              : "refused; the tokens the code bought still work",
            notes: {
              on_salesforce:
                'a reused code gets invalid_grant "expired authorization code"; whether the tokens it bought are revoked is not confirmed (facts D.3)',
            },
          });
        },
      };
    },
    ends: "completed",
  }],
};

const forgedCallback: Exercise = {
  name: "forged-callback",
  summary:
    "a web page makes the browser deliver the attacker's own code to the callback (login CSRF)",
  step: 4,
  who:
    "a web page the user has open, which sends the browser to http://localhost…/callback with a code of the attacker's",
  defence:
    "state held: the callback server accepts only a callback that carries the random state sent at step 3, so the attacker's code never reached step 6 (main.ts: readCallback, which acceptCallback asks about every request to step 4's callback server).",
  rounds: [{
    hooks: (attack) => ({
      async afterStep4() {
        const app = attack.app();
        const own = await getAttackersOwnCode(app);
        const tries = await forgeCallbacks(attack.send, app.redirectUri, own);
        const accepted = tries.some((t) => t.status === 200);
        attack.show({
          holds: {
            code: `${
              attack.hide(own.code)
            } (their own: from a sign-in they started, and kept)`,
            state: `${attack.hide(own.state)} (their own, not this run's)`,
            callback: app.redirectUri,
          },
          tries,
          held: !accepted,
          meaning: accepted
            ? "the script took the attacker's code at step 5: it would now sign the user in as the attacker (PKCE may still refuse the code at step 7)"
            : "ignored both times; the callback server waits on for the real callback",
        });
      },
    }),
    ends: "completed",
  }],
};

const swappedRedirect: Exercise = {
  name: "swapped-redirect",
  summary:
    "the attacker asks for a code for their own redirect URI, with the app's consumer key",
  step: 4,
  who:
    "someone who sends the user a link: the app's authorization URL with their own redirect URI",
  defence:
    "the redirect URI check held: the org compares redirect_uri with the app's registered Callback URL before anyone signs in, so no code goes anywhere else (demo_org/oauth.ts: checkAuthorizeRequest; on Salesforce: redirect_uri_mismatch, facts D.1).",
  rounds: [{
    hooks: (attack) => ({
      async afterStep4(url) {
        const tried = await askForSwappedRedirect(attack.send, url);
        const refused = oauthError(tried) === "redirect_uri_mismatch";
        const notes: Record<string, string> = {};
        if (!refused) {
          // Show where the code would go once the victim signs in.
          const back = await signInAndDecide(tried.url).catch(() => undefined);
          notes.after_sign_in = back
            ? `the org sends the code to ${back.origin}${back.pathname}`
            : "the sign-in went nowhere";
        }
        attack.show({
          holds: {
            client_id: `${url.searchParams.get("client_id")} (public)`,
            redirect_uri: ATTACKER_REDIRECT_URI,
          },
          tries: [tried],
          held: refused,
          meaning: refused
            ? "refused before sign-in: the org shows its error itself and redirects nowhere"
            : "the org did not refuse: after sign-in it would send a code to the attacker",
          notes,
        });
      },
    }),
    ends: "completed",
  }],
};

/** One tampered-id-token round: the org's token answer is altered on its way, and step 7 must refuse it. */
function tamperingRound(how: Tampering): Round {
  return {
    label: how === "claim-changed"
      ? `${TAMPERED_CLAIM.name} changed after signing`
      : '"alg": "none" and no signature',
    hooks(_attack) {
      let tampered: string | undefined;
      let forged: Move["forged"];
      return {
        async onTheWire(url, _init, answer) {
          if (forged || new URL(url).pathname !== "/services/oauth2/token") {
            return answer;
          }
          const result = await tamperTokenResponse(answer, how);
          tampered = result.tampered;
          forged = {
            what:
              "the org's token response, its id_token altered, to the script",
            status: result.response.status,
            body: await result.response.clone().text(),
          };
          return result.response;
        },
        conclude(ending) {
          if (!forged) return undefined; // the flow ended before step 7
          const refused = ending?.error === "invalid_id_token";
          return {
            holds: {
              position:
                "between the org and the script, where TLS would normally stop them",
              change: how === "claim-changed"
                ? `${TAMPERED_CLAIM.name} → ${TAMPERED_CLAIM.value}, the org's signature kept`
                : 'header alg → "none", signature dropped',
            },
            tries: [],
            forged,
            held: tampered !== undefined && refused,
            meaning: refused
              ? `step 7 refused it: ${ending!.error_description}`
              : tampered
              ? "the script accepted the tampered ID token"
              : "there was no ID token to tamper with",
            ...(tampered ? {} : {
              cannot:
                "the org sent no ID token: leave --scope unset, or include openid in it",
            }),
          };
        },
      };
    },
    ends: {
      error: "invalid_id_token",
      check: how === "claim-changed" ? "signature" : "alg",
    },
  };
}

const tamperedIdToken: Exercise = {
  name: "tampered-id-token",
  summary:
    "the ID token is altered on its way to the script: a claim changed after signing, then alg none",
  step: 7,
  who:
    "someone on the wire between the org and the script, changing the token response",
  defence:
    'the ID token checks held: step 7 accepts only "alg": "RS256" and verifies the signature over header and claims with the org\'s published key (main.ts: verifyIdToken, check 1, and checkIdTokenSignature, check 3).',
  settings: { identity: false, refresh: false, revoke: false },
  rounds: [tamperingRound("claim-changed"), tamperingRound("alg-none")],
};

const reusedRefreshToken: Exercise = {
  name: "reused-refresh-token",
  summary:
    "with rotation on, the refresh token from before step 10 is presented again",
  step: 10,
  who:
    "someone who copied the saved tokens after step 7 (sf-tokens.json) and the app's settings beside them (.env)",
  defence:
    "refresh token rotation held: step 10's refresh invalidated the old refresh token, and presenting it again revoked the whole grant, the script's new tokens too (facts L; demo_org/oauth.ts: refresh).",
  settings: { refresh: true, revoke: false },
  org: { rotateRefreshTokens: true },
  rounds: [{
    hooks: (attack) => {
      let copied: string | null = null;
      return {
        afterStep8(tokens) {
          copied = tokens.refresh_token;
          return Promise.resolve();
        },
        async afterStep10(tokens) {
          const app = attack.app(true);
          if (!copied) {
            attack.show({
              holds: { refresh_token: "none: no refresh token was issued" },
              tries: [],
              held: false,
              meaning: "there was no refresh token to copy",
              cannot:
                "the org issued no refresh token: leave --scope unset, or include refresh_token in it",
            });
            return;
          }
          const rotated = tokens.refresh_token !== copied;
          const tried = await reuseRefreshToken(attack.send, app, copied);
          const after = await tryTokens(attack.send, app, tokens);
          const revoked = after.every((t) => t.status !== 200);
          attack.show({
            holds: {
              refresh_token: `${attack.hide(copied)} (from before step 10)`,
              client_id: app.clientId,
            },
            tries: [tried],
            after,
            held: rotated && tried.status !== 200 && revoked,
            meaning: !rotated
              ? "the org did not rotate the refresh token at step 10, so the copy is the script's own and still works (start the demo org with rotation on)"
              : tried.status === 200
              ? "the org accepted a rotated-out refresh token"
              : revoked
              ? "refused, and the whole grant is revoked: the script's new access and refresh tokens are refused too; it must sign in again"
              : "refused, but the script's new tokens still work: the org did not revoke the grant",
          });
        },
      };
    },
    ends: "completed",
  }],
};

/** Every exercise, in the order `--exercise all` runs them: the order of their steps. */
export const EXERCISES: Exercise[] = [
  swappedRedirect,
  forgedCallback,
  stolenCode,
  tamperedIdToken,
  replayedCode,
  reusedRefreshToken,
];

// ---------------------------------------------------------------------------
// Running them: the flow with the attacker's hooks, and the verdict
// ---------------------------------------------------------------------------

/** Runs `--exercise NAME` (or `all`, or `list`); resolves with the exit code: 0 when every defence held. */
export async function runExercises(flow: Flow): Promise<number> {
  const name = flow.config.exercise ?? "list";
  if (name === "list") return listExercises(flow);
  const chosen = name === "all" ? EXERCISES : [findExercise(name)];
  await checkTarget(flow);
  if (flow.config.save) {
    note(flow, "--save is ignored with --exercise: these tokens are not kept");
  }
  if (name === "all" && flow.config.demo && flow.config.openBrowser) {
    note(flow, "--exercise all: the demo user signs in each time, no browser");
    flow.config = { ...flow.config, openBrowser: false };
  }
  const failed: string[] = [];
  for (const [index, exercise] of chosen.entries()) {
    if (chosen.length > 1) {
      note(
        flow,
        `exercise ${index + 1} of ${chosen.length}: ${exercise.name}`,
      );
    }
    for (const [round, rules] of exercise.rounds.entries()) {
      if (exercise.rounds.length > 1) {
        note(
          flow,
          `${exercise.name}, round ${
            round + 1
          } of ${exercise.rounds.length}: ${rules.label}`,
        );
      }
      if (!await runRound(flow, exercise, rules)) failed.push(exercise.name);
    }
  }
  if (chosen.length > 1) {
    note(
      flow,
      failed.length === 0
        ? `all ${chosen.length} exercises: every defence held`
        : `ATTACKS THAT WORKED: ${[...new Set(failed)].join(", ")}`,
    );
  }
  return failed.length === 0 ? EXIT_OK : EXIT_FAILED;
}

function listExercises(flow: Flow): number {
  for (const exercise of EXERCISES) {
    console.log(
      flow.output.json
        ? safeJson({
          exercise: exercise.name,
          step: exercise.step,
          summary: exercise.summary,
        })
        : `${exercise.name.padEnd(22)}${exercise.summary}`,
    );
  }
  if (!flow.output.json) {
    console.log(
      `${"all".padEnd(22)}each of them in turn: exit 0 when every defence held`,
    );
  }
  return EXIT_OK;
}

function findExercise(name: string): Exercise {
  const found = EXERCISES.find((exercise) => exercise.name === name);
  if (found) return found;
  throw new FlowError({
    error: "invalid_configuration",
    error_description: `Cannot use --exercise: there is no exercise named "${
      terminalSafe(name)
    }"`,
    hint: `Choose one of ${
      EXERCISES.map((e) => e.name).join(", ")
    }, or all; --exercise list says what each does.`,
    exitCode: EXIT_USAGE,
  });
}

/** The attacker attacks only the local demo org: `--demo`, or demo_org.ts on loopback. */
async function checkTarget(flow: Flow) {
  if (flow.config.demo) return;
  const url = new URL(flow.config.instanceUrl);
  const refuse = (why: string) =>
    new FlowError({
      error: "invalid_configuration",
      error_description: `Cannot use --exercise against ${url.origin}: ${why}`,
      hint:
        "The exercises attack only the local demo org: add --demo, or start deno run -A demo_org.ts and pass its URL as --instance-url.",
      exitCode: EXIT_USAGE,
    });
  if (!isLoopbackHost(url.hostname)) {
    throw refuse("attacking a real org is not a lesson");
  }
  let page = "";
  try {
    const response = await fetch(url.origin, {
      redirect: "manual",
      signal: AbortSignal.any([flow.signal, AbortSignal.timeout(3_000)]),
    });
    page = (await readAtMost(response, MAX_ANSWER)).text;
  } catch {
    if (flow.signal.aborted) throw flow.signal.reason;
  }
  if (!page.includes(DEMO_ORG_TITLE)) {
    throw refuse("it does not answer as the demo org does");
  }
}

/** What the demo org's home page is titled. */
const DEMO_ORG_TITLE = "<title>Demo org</title>";

function isLoopbackHost(hostname: string): boolean {
  return ["localhost", "127.0.0.1", "[::1]"].includes(hostname);
}

/** Runs the flow once with one round's hooks; true when the defence held and the flow ended as the exercise says. */
async function runRound(
  base: Flow,
  exercise: Exercise,
  round: Round,
): Promise<boolean> {
  const flow: Flow = {
    ...base,
    config: { ...base.config, ...exercise.settings, save: undefined },
  };
  let shown: Move | undefined;
  const attack = newAttack(flow, exercise, (move) => (shown = move));
  const hooks = round.hooks(attack);
  flow.exercise = hooks;
  let ending: FlowError | undefined;
  let org: { close(): Promise<void> } | undefined;
  try {
    if (flow.config.demo) org = await startDemo(flow, exercise.org);
    await runFlow(flow);
    if (flow.record) flow.record.outcome = { kind: "completed" };
  } catch (error) {
    const interrupted = error instanceof FlowError &&
      (error.exitCode === EXIT_INTERRUPTED || error.exitCode === EXIT_USAGE);
    if (!(error instanceof FlowError) || interrupted) throw error;
    ending = error;
  } finally {
    await org?.close();
    // A report of the run names the org of its last flow.
    base.config = { ...base.config, instanceUrl: flow.config.instanceUrl };
  }
  const concluded = hooks.conclude?.(ending);
  if (concluded) attack.show(concluded);
  if (ending) fail(flow.output, ending, flow); // as the script prints it
  return verdict(flow, exercise, round, shown, ending);
}

/** Whether the flow ended as the round says it must. */
function endedAsExpected(round: Round, ending: FlowError | undefined) {
  if (round.ends === "completed") return ending === undefined;
  const check = /: (\w+) check failed/.exec(ending?.error_description ?? "")
    ?.[1];
  return ending?.error === round.ends.error &&
    (round.ends.check === undefined || check === round.ends.check);
}

/** Says whether the defence held, loudly when it did not; true when the exercise passed. */
function verdict(
  flow: Flow,
  exercise: Exercise,
  round: Round,
  move: Move | undefined,
  ending: FlowError | undefined,
): boolean {
  const expected = round.ends === "completed"
    ? "the flow completes"
    : `the flow stops at step ${exercise.step} with ${round.ends.error}${
      round.ends.check ? ` (${round.ends.check} check)` : ""
    }`;
  const ended = ending
    ? `${ending.error}: ${ending.error_description}`
    : "the flow completed";
  const problem = !move
    ? `the flow ended before the attacker's step, so nothing was tried: ${ended}`
    : move.cannot
    ? `could not run: ${move.cannot}`
    : !move.held
    ? `ATTACK SUCCEEDED: ${move.meaning}`
    : !endedAsExpected(round, ending)
    ? `the defence held, but the flow did not end as the exercise says: expected ${expected}; ${ended}`
    : undefined;
  if (problem === undefined) {
    const text = `✓ ${exercise.name}: the defence held, and ${expected}.`;
    if (flow.output.json) note(flow, text);
    else {console.log(
        flow.output.color ? `\x1b[1;32m${text}\x1b[0m\n` : `${text}\n`,
      );}
    return true;
  }
  const broken = move?.held === false && !move.cannot
    ? ` A broken org or script: ${
      flow.config.demo
        ? "this demo org"
        : `the org at ${flow.config.instanceUrl}`
    } or main.ts does not defend as it should.`
    : "";
  const loud = `✗ ${exercise.name}: ${problem}.${broken}`;
  console.error(
    flow.output.color
      ? `\x1b[1;31m${terminalSafe(loud)}\x1b[0m`
      : terminalSafe(loud),
  );
  return false;
}

/** The attacker's means for one round: only loopback, only the org and the script's callback. */
function newAttack(
  flow: Flow,
  exercise: Exercise,
  shown: (move: Move) => void,
): Attack {
  return {
    flow,
    app: (withSecret = false) => ({
      instanceUrl: flow.config.instanceUrl,
      clientId: flow.config.clientId,
      redirectUri: flow.config.redirectUri,
      ...(withSecret && flow.config.clientSecret
        ? { clientSecret: flow.config.clientSecret }
        : {}),
    }),
    send: (request) => {
      const allowed = [flow.config.instanceUrl, flow.config.redirectUri]
        .map((url) => new URL(url).port);
      const target = new URL(request.url);
      if (
        !isLoopbackHost(target.hostname) || !allowed.includes(target.port)
      ) {
        throw new Error(
          `Cannot send the attacker's request: only the demo org and the callback, on loopback "${target.origin}"`,
        );
      }
      return fetch(request, {
        redirect: "manual",
        signal: AbortSignal.any([flow.signal, AbortSignal.timeout(5_000)]),
      });
    },
    hide: (value) => mask(value, flow.output.showSecrets),
    show(move) {
      shown(move);
      printMove(flow, exercise, move);
    },
  };
}

// ---------------------------------------------------------------------------
// Showing a move: one block (or one JSON line), masked by main.ts's rules
// ---------------------------------------------------------------------------

/** The attacker's move as printed and recorded: `{exercise, step, attacker, answer, defence, held}`. */
export function moveRecord(flow: Flow, exercise: Exercise, move: Move) {
  const forged = move.forged && {
    what: move.forged.what,
    response: move.forged.status,
    body: shownBody(flow, move.forged.body),
  };
  return {
    exercise: exercise.name,
    step: exercise.step,
    attacker: {
      who: exercise.who,
      holds: move.holds,
      sends: [
        ...move.tries.map((t) => shownRequest(flow, t)),
        ...(forged ? [forged] : []),
      ],
    },
    answer: {
      got: move.tries.map((t) => shownResponse(flow, t)),
      meaning: move.meaning,
      ...(move.after
        ? {
          then: move.after.map((t) => ({
            ...shownRequest(flow, t),
            ...shownResponse(flow, t),
          })),
        }
        : {}),
      ...move.notes,
    },
    defence: exercise.defence,
    held: move.held,
  };
}

/** Prints the move (a block, or one JSON line) and, when the run keeps a record, adds it and its requests there. */
function printMove(flow: Flow, exercise: Exercise, move: Move) {
  const record = moveRecord(flow, exercise, move);
  recordMove(flow, exercise, move, record);
  if (flow.output.json) {
    console.log(safeJson(record));
    return;
  }
  const { color, width } = flow.output;
  const heading = `## Attacker: ${exercise.name} (after step ${exercise.step})`;
  const field = (name: string, text: string) =>
    wrap(terminalSafe(`  ${name.padEnd(8)} ${text}`), width, " ".repeat(11));
  const lines = [
    color ? `\x1b[1;35m${heading}\x1b[0m` : heading,
    field("who:", exercise.who),
    field(
      "holds:",
      Object.entries(move.holds).map(([k, v]) => `${k} ${v}`).join("; "),
    ),
    ...move.tries.map((t, i) => tryText(flow, t, `${i + 1}.`)),
    ...(move.forged
      ? [
        field("sends:", move.forged.what),
        `           ${move.forged.status} {…, "id_token": "${
          terminalSafe(forgedIdToken(flow, move.forged.body))
        }", …} (the rest as the org sent it)`,
      ]
      : []),
    field("answer:", move.meaning),
    ...Object.entries(move.notes ?? {}).map(([k, v]) => field(`${k}:`, v)),
    ...(move.after ?? []).map((t) => tryText(flow, t, "then")),
    field(move.held ? "defence:" : "should have held:", exercise.defence),
  ];
  console.log(lines.join("\n") + "\n");
}

/** The ID token in a forged token response, masked. */
function forgedIdToken(flow: Flow, body: string): string {
  const shown = shownBody(flow, body);
  const idToken = typeof shown === "object" && shown !== null
    ? (shown as { id_token?: unknown }).id_token
    : undefined;
  return typeof idToken === "string" ? idToken : "none";
}

/** One request and its answer: what it tries, then the request line, the form and the status (with --http, both as HTTP/1.1 text). */
function tryText(flow: Flow, tried: Try, label: string): string {
  const head = terminalSafe(`  ${label.padEnd(8)} ${tried.what}`);
  if (flow.wire) {
    return `${head}\n${flow.wire.text.httpBlock([http(flow, tried)])}`;
  }
  const { showSecrets } = flow.output;
  const authorization = tried.headers.authorization;
  const answer = shownBody(flow, tried.body);
  const text = typeof answer === "string" ? answer : safeJson(answer);
  const location = tried.responseHeaders.location;
  return [
    head,
    `           ${tried.method} ${maskUrl(tried.url, showSecrets)}`,
    ...(authorization
      ? [
        `           Authorization: ${
          maskHeader("authorization", authorization, showSecrets)
        }`,
      ]
      : []),
    ...(tried.form
      ? [`           ${maskForm(tried.form.toString(), showSecrets)}`]
      : []),
    `           → ${tried.status} ${
      location
        ? `Location: ${maskUrl(location, showSecrets)}`
        : text.length > 160
        ? `${text.slice(0, 159)}…`
        : text
    }`,
  ].map(terminalSafe).join("\n");
}

/** The front channel is what goes through a browser: the authorization request, and anything to the callback. */
function channelOf(tried: Try): "front" | "back" {
  return tried.to === "callback" ||
      new URL(tried.url).pathname === "/services/oauth2/authorize"
    ? "front"
    : "back";
}

/** A try as HTTP/1.1 text, as --http shows every exchange. */
function http(flow: Flow, tried: Try) {
  const { text } = flow.wire!;
  const { showSecrets } = flow.output;
  return {
    channel: channelOf(tried),
    from: tried.from,
    to: tried.to,
    request: text.requestText(
      text.sentByFetch(tried.url, {
        method: tried.method,
        headers: tried.headers,
        body: tried.form?.toString(),
      }),
      showSecrets,
    ),
    response: text.responseText({
      status: tried.status,
      headers: Object.entries(tried.responseHeaders),
      body: tried.body,
    }, showSecrets),
  };
}

function shownRequest(flow: Flow, tried: Try) {
  const { showSecrets } = flow.output;
  const authorization = tried.headers.authorization;
  return {
    what: tried.what,
    request: `${tried.method} ${maskUrl(tried.url, showSecrets)}`,
    ...(authorization
      ? {
        authorization: maskHeader("authorization", authorization, showSecrets),
      }
      : {}),
    ...(tried.form
      ? { form: maskJson(Object.fromEntries(tried.form), showSecrets) }
      : {}),
    ...(flow.wire ? { http: http(flow, tried).request } : {}),
  };
}

function shownResponse(flow: Flow, tried: Try) {
  const location = tried.responseHeaders.location;
  return {
    status: tried.status,
    ...(location
      ? { location: maskUrl(location, flow.output.showSecrets) }
      : {}),
    body: shownBody(flow, tried.body),
    ...(flow.wire ? { http: http(flow, tried).response } : {}),
  };
}

/** An answer's body as shown: JSON with its secrets masked, Salesforce's bare error text, a page's title, or the start of the text. */
function shownBody(flow: Flow, text: string): unknown {
  try {
    const json = JSON.parse(text);
    if (typeof json === "object" && json !== null) {
      return maskJson(json, flow.output.showSecrets);
    }
  } catch { /* not JSON */ }
  const trimmed = text.trim();
  if (/^error=[^&\s]*&error_description=[^&\s]*$/.test(trimmed)) {
    return Object.fromEntries(new URLSearchParams(trimmed));
  }
  const title = /<title>([^<]*)<\/title>/i.exec(text)?.[1];
  if (title) return `a page: "${title}"`;
  return trimmed.replace(/\s+/g, " ").slice(0, 160);
}

/** With a record (--http, or a report): each of the move's requests as an exchange, then the move itself; the attacker is a participant of the diagram. */
function recordMove(
  flow: Flow,
  exercise: Exercise,
  move: Move,
  record: ReturnType<typeof moveRecord>,
) {
  if (!flow.record) return;
  const { showSecrets } = flow.output;
  for (const tried of [...move.tries, ...move.after ?? []]) {
    // The callback server records what reaches it itself: the browser brought it.
    if (tried.to === "callback") continue;
    const fields = tried.form ?? new URL(tried.url).searchParams;
    const highlights = Object.fromEntries(
      HIGHLIGHTS.filter((name) => fields.has(name)).map((name) => [
        name,
        maskField(name, fields.get(name)!, showSecrets),
      ]),
    );
    const wire = flow.wire ? http(flow, tried) : undefined;
    flow.record.events.push({
      kind: "exchange",
      exchange: {
        channel: channelOf(tried),
        from: tried.from,
        to: tried.to,
        step: exercise.step,
        method: tried.method,
        url: maskUrl(tried.url, showSecrets),
        status: tried.status,
        ...(Object.keys(highlights).length > 0 ? { highlights } : {}),
        ...(wire ? { request: wire.request, response: wire.response } : {}),
      },
    });
  }
  flow.record.events.push({
    kind: "attack",
    attack: {
      ...record,
      to: move.forged ? "script" : move.tries[0]?.to ?? "org",
    },
  });
}

/** The fields of an attacker's request worth a label in the report's diagram. */
const HIGHLIGHTS = [
  "grant_type",
  "code",
  "state",
  "redirect_uri",
  "code_verifier",
  "refresh_token",
];
