import {
  assert,
  assertEquals,
  assertFalse,
  assertMatch,
  assertNotEquals,
  assertStringIncludes,
} from "./_test_deps.ts";
import {
  type App,
  askForSwappedRedirect,
  ATTACKER_REDIRECT_URI,
  forgeCallbacks,
  getAttackersOwnCode,
  oauthError,
  redeemStolenCode,
  replayTokenRequest,
  reuseRefreshToken,
  type Send,
  TAMPERED_CLAIM,
  tamperIdToken,
  tamperTokenResponse,
  type Try,
  tryTokens,
} from "./exercises.ts";
import {
  type DemoOrgOptions,
  type ServedDemoOrg,
  signInAndDecide,
  startDemoOrg,
} from "./demo_org.ts";
import {
  buildAuthorizeUrl,
  decodeJwt,
  readCallback,
  verifyRs256,
} from "./main.ts";
import { generatePkce, type Pkce } from "./pkce.ts";
import {
  assertNoLeak,
  orgArgs,
  redirectUri,
  run,
  runApproved,
  testSigningKeys,
  UNREACHED_ORG,
  withFakeOrg,
} from "./_test_utils.ts";

// ---------------------------------------------------------------------------
// The attacker's moves, against a demo org in this process
// ---------------------------------------------------------------------------

/** A served demo org for one test (sign-in needs a socket, as a browser does); `send` goes to its handler directly. */
async function withOrg(
  fn: (org: ServedDemoOrg, app: App, send: Send) => Promise<void>,
  options: DemoOrgOptions = {},
) {
  const signingKeys = await testSigningKeys();
  const start = (redirectUri: string) =>
    startDemoOrg({ redirectUri, signingKeys, ...options });
  let redirect = redirectUri();
  let org = start(redirect);
  // The org's own free port may be the one just picked for the callback.
  while (new URL(org.url).port === new URL(redirect).port) {
    await org.close();
    redirect = redirectUri();
    org = start(redirect);
  }
  try {
    const app = {
      instanceUrl: org.url,
      clientId: org.client.client_id,
      redirectUri: redirect,
    };
    await fn(org, app, (request) => org.handle(request));
  } finally {
    await org.close();
  }
}

/** Signs the demo user in and approves, as the script's flow would: a fresh code and its verifier. */
async function signedIn(app: App) {
  const pkce = await generatePkce();
  const url = buildAuthorizeUrl(app.instanceUrl, {
    client_id: app.clientId,
    redirect_uri: app.redirectUri,
    response_type: "code",
    code_challenge: pkce.code_challenge,
    code_challenge_method: "S256",
    state: "the-real-state",
  });
  const back = await signInAndDecide(url.href);
  return { url, pkce, code: back.searchParams.get("code")! };
}

/** The script's own token request for a code. */
function tokenRequest(app: App, code: string, pkce: Pkce) {
  return new URLSearchParams({
    grant_type: "authorization_code",
    code,
    client_id: app.clientId,
    redirect_uri: app.redirectUri,
    code_verifier: pkce.code_verifier,
  });
}

async function redeem(send: Send, app: App, form: URLSearchParams) {
  const response = await send(
    new Request(new URL("/services/oauth2/token", app.instanceUrl), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: form,
    }),
  );
  return { status: response.status, body: await response.json() };
}

function assertRefused(tried: Try, error: string, description: string) {
  assertEquals(tried.status, 400, tried.what);
  assertEquals(JSON.parse(tried.body), {
    error,
    error_description: description,
  });
}

Deno.test("redeemStolenCode() is refused without a verifier and with a guessed one, and the code still works for the script", async () => {
  await withOrg(async (org, app, send) => {
    const { code, pkce } = await signedIn(app);
    const tries = await redeemStolenCode(send, app, code);
    assertEquals(tries.map((t) => t.what), [
      "the stolen code, without a code_verifier",
      "the stolen code, with a guessed code_verifier",
    ]);
    assertFalse(tries[0].form!.has("code_verifier"));
    assertMatch(tries[1].form!.get("code_verifier")!, /^[\w-]{43}$/);
    for (const tried of tries) {
      assertRefused(tried, "invalid_grant", "invalid code verifier");
    }
    assertEquals(org.issued, []);
    // The refused attempts did not use the code up.
    const script = await redeem(send, app, tokenRequest(app, code, pkce));
    assertEquals(script.status, 200);
  });
});

Deno.test("redeemStolenCode() gets tokens from an org that does not check PKCE (test-only switch)", async () => {
  await withOrg(async (org, app, send) => {
    const { code } = await signedIn(app);
    const tries = await redeemStolenCode(send, app, code);
    assertEquals(tries.length, 1, "it stops at the first that works");
    assertEquals(tries[0].status, 200);
    assertEquals(JSON.parse(tries[0].body).access_token, org.issued[0]);
  }, { testOnlyWeaken: { pkce: false } });
});

Deno.test("replayTokenRequest() is refused after the script redeemed the code, and the tokens it bought die", async () => {
  await withOrg(async (_org, app, send) => {
    const { code, pkce } = await signedIn(app);
    const request = tokenRequest(app, code, pkce);
    const script = await redeem(send, app, request);
    assertEquals(script.status, 200);
    const replay = await replayTokenRequest(send, app.instanceUrl, request);
    assertRefused(replay, "invalid_grant", "expired authorization code");
    const after = await tryTokens(send, app, {
      access_token: script.body.access_token,
      refresh_token: script.body.refresh_token,
      id_url: script.body.id,
    });
    assertEquals(after.map((t) => [t.from, t.status]), [
      ["script", 403],
      ["script", 400],
    ]);
    assertEquals(after[0].body, "Bad_OAuth_Token");
    assertEquals(oauthError(after[1]), "invalid_grant");
  });
});

Deno.test("replayTokenRequest() gets tokens again from an org whose codes are not single-use (test-only switch)", async () => {
  await withOrg(async (_org, app, send) => {
    const { code, pkce } = await signedIn(app);
    const request = tokenRequest(app, code, pkce);
    assertEquals((await redeem(send, app, request)).status, 200);
    const replay = await replayTokenRequest(send, app.instanceUrl, request);
    assertEquals(replay.status, 200);
  }, { testOnlyWeaken: { singleUseCodes: false } });
});

Deno.test("getAttackersOwnCode() and forgeCallbacks(): the attacker's code, refused by a callback that checks state", async () => {
  await withOrg(async (org, app) => {
    const own = await getAttackersOwnCode(app);
    assertMatch(own.code, /^aPrx/);
    assert(org.codes.has(own.code), "a real code of the org's");
    // A stand-in for the script's callback, with the script's own check.
    const seen: string[] = [];
    const callback: Send = (request) => {
      const url = new URL(request.url);
      seen.push(url.search);
      const outcome = readCallback(url.searchParams, "the-real-state");
      return Promise.resolve(
        new Response(outcome.kind, {
          status: outcome.kind === "rejected" ? 400 : 200,
        }),
      );
    };
    const tries = await forgeCallbacks(callback, app.redirectUri, own);
    assertEquals(tries.map((t) => [t.to, t.method, t.status]), [
      ["callback", "GET", 400],
      ["callback", "GET", 400],
    ]);
    assertEquals(seen, [
      `?code=${encodeURIComponent(own.code)}`,
      `?code=${encodeURIComponent(own.code)}&state=${own.state}`,
    ]);
    assertNotEquals(own.state, "the-real-state");
  });
});

Deno.test("askForSwappedRedirect() is refused before sign-in with redirect_uri_mismatch", async () => {
  await withOrg(async (org, app, send) => {
    const { url } = await signedIn(app);
    const tried = await askForSwappedRedirect(send, url);
    const sent = new URL(tried.url);
    assertEquals(sent.searchParams.get("redirect_uri"), ATTACKER_REDIRECT_URI);
    assertEquals(sent.searchParams.get("client_id"), app.clientId);
    assertNotEquals(
      sent.searchParams.get("code_challenge"),
      url.searchParams.get("code_challenge"),
    );
    assertEquals(tried.status, 400);
    assertEquals(oauthError(tried), "redirect_uri_mismatch");
    assertEquals(org.codes.size, 1, "only the script's own code");
  });
});

Deno.test("askForSwappedRedirect() reaches the sign-in page of an org that does not check the redirect URI, and a code goes to the attacker (test-only switch)", async () => {
  await withOrg(async (_org, app, send) => {
    const { url } = await signedIn(app);
    const tried = await askForSwappedRedirect(send, url);
    assertEquals(tried.status, 200);
    assertStringIncludes(tried.body, 'action="/login"');
    const back = await signInAndDecide(tried.url);
    assertEquals(`${back.origin}${back.pathname}`, ATTACKER_REDIRECT_URI);
    assertMatch(back.searchParams.get("code")!, /^aPrx/);
  }, { testOnlyWeaken: { redirectCheck: false } });
});

Deno.test("tamperIdToken() changes a claim under the org's signature, or says alg none and drops it", async () => {
  await withOrg(async (_org, app, send) => {
    const { code, pkce } = await signedIn(app);
    const { body } = await redeem(send, app, tokenRequest(app, code, pkce));
    const original = decodeJwt(body.id_token);
    const keys = await (await send(new Request(`${app.instanceUrl}/id/keys`)))
      .json();
    assert(await verifyRs256(original, keys.keys[0]), "the org's own token");

    const changed = tamperIdToken(body.id_token, "claim-changed");
    const [header, , signature] = body.id_token.split(".");
    assert(changed.startsWith(`${header}.`));
    assert(changed.endsWith(`.${signature}`));
    const decoded = decodeJwt(changed);
    assertEquals(decoded.claims, {
      ...original.claims,
      [TAMPERED_CLAIM.name]: TAMPERED_CLAIM.value,
    });
    assertFalse(await verifyRs256(decoded, keys.keys[0]));

    const none = decodeJwt(tamperIdToken(body.id_token, "alg-none"));
    assertEquals(none.header, { ...original.header, alg: "none" });
    assertEquals(none.claims[TAMPERED_CLAIM.name], TAMPERED_CLAIM.value);
    assertEquals(none.signature.length, 0);
  });
});

Deno.test("tamperTokenResponse() rewrites only the id_token and keeps the answer's status and headers", async () => {
  const answer = Response.json(
    { access_token: "a", id_token: "e30.e30.c2ln" },
    {
      status: 200,
      headers: { "cache-control": "no-store" },
    },
  );
  const { response, tampered } = await tamperTokenResponse(answer, "alg-none");
  assertEquals(response.status, 200);
  assertEquals(response.headers.get("cache-control"), "no-store");
  const body = await response.json();
  assertEquals(body.access_token, "a");
  assertEquals(body.id_token, tampered);
  const untouched = await tamperTokenResponse(
    new Response("not json", { status: 502 }),
    "alg-none",
  );
  assertEquals(untouched.tampered, undefined);
  assertEquals(untouched.response.status, 502);
  assertEquals(await untouched.response.text(), "not json");
});

Deno.test("reuseRefreshToken() after a rotation is refused, and the whole grant dies with it", async () => {
  await withOrg(async (_org, app, send) => {
    const { code, pkce } = await signedIn(app);
    const first = await redeem(send, app, tokenRequest(app, code, pkce));
    const refreshed = await redeem(
      send,
      app,
      new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: first.body.refresh_token,
        client_id: app.clientId,
      }),
    );
    assertEquals(refreshed.status, 200);
    assertNotEquals(refreshed.body.refresh_token, first.body.refresh_token);
    const tried = await reuseRefreshToken(send, app, first.body.refresh_token);
    assertEquals(oauthError(tried), "invalid_grant");
    const after = await tryTokens(send, app, {
      access_token: refreshed.body.access_token,
      refresh_token: refreshed.body.refresh_token,
      id_url: refreshed.body.id,
    });
    assertEquals(after.map((t) => t.status), [403, 400]);
  }, { rotateRefreshTokens: true });
});

Deno.test("reuseRefreshToken() presents the old refresh token; without rotation it simply works", async () => {
  await withOrg(async (_org, app, send) => {
    const { code, pkce } = await signedIn(app);
    const { body } = await redeem(send, app, tokenRequest(app, code, pkce));
    const tried = await reuseRefreshToken(send, app, body.refresh_token);
    assertEquals(tried.form!.get("grant_type"), "refresh_token");
    assertEquals(tried.form!.get("refresh_token"), body.refresh_token);
    assertEquals(tried.status, 200, "no rotation: the token is still good");
  });
});

// ---------------------------------------------------------------------------
// The exercises end to end: spawned as a learner runs them
// ---------------------------------------------------------------------------

/** The demo, with no browser and a callback port of its own (8000 is often taken on a shared machine). */
function demo(): string[] {
  return ["--demo", "--no-browser", "--redirect-uri", redirectUri()];
}

/** The attacker's lines of a --json run. */
function attackerLines(stdout: string) {
  return stdout.split("\n").filter((line) => line.startsWith('{"exercise"'))
    .map((line) => JSON.parse(line));
}

Deno.test("--demo --exercise all: every defence holds, each move is a JSON line of its own, exit 0", async () => {
  const result = await run([
    ...demo(),
    "--json",
    "--exercise",
    "all",
  ]);
  assertEquals(result.code, 0, result.stderr);
  const moves = attackerLines(result.stdout);
  assertEquals(moves.map((m) => [m.exercise, m.step, m.held]), [
    ["swapped-redirect", 4, true],
    ["forged-callback", 4, true],
    ["stolen-code", 5, true],
    ["tampered-id-token", 7, true],
    ["tampered-id-token", 7, true],
    ["replayed-code", 8, true],
    ["reused-refresh-token", 10, true],
  ]);
  for (const move of moves) {
    assertEquals(Object.keys(move), [
      "exercise",
      "step",
      "attacker",
      "answer",
      "defence",
      "held",
    ]);
    assertEquals(typeof move.attacker.who, "string");
    assertEquals(typeof move.defence, "string");
    assert(move.attacker.sends.length > 0, move.exercise);
  }
  const [swapped, forged, stolen, claim, none, replayed, reused] = moves;
  assertEquals(swapped.answer.got[0].status, 400);
  assertEquals(swapped.answer.got[0].body.error, "redirect_uri_mismatch");
  assertStringIncludes(swapped.attacker.sends[0].request, "attacker.example");
  assertEquals(forged.answer.got.map((g: { status: number }) => g.status), [
    400,
    400,
  ]);
  assertEquals(
    stolen.answer.got.map((g: { body: { error_description: string } }) =>
      g.body.error_description
    ),
    ["invalid code verifier", "invalid code verifier"],
  );
  assertFalse("code_verifier" in stolen.attacker.sends[0].form);
  assertStringIncludes(claim.answer.meaning, "signature check failed");
  assertStringIncludes(none.answer.meaning, "alg check failed");
  assertEquals(
    replayed.answer.got[0].body.error_description,
    "expired authorization code",
  );
  assertEquals(replayed.answer.then.map((t: { status: number }) => t.status), [
    403,
    400,
  ]);
  assertEquals(reused.answer.got[0].body.error, "invalid_grant");
  assertEquals(reused.answer.then.map((t: { status: number }) => t.status), [
    403,
    400,
  ]);
  // Each flow ran: the steps before and after each move, the refusals at step 7.
  assertEquals(
    result.steps.filter((s) => s.step === null).map((s) => s.data.error),
    ["invalid_id_token", "invalid_id_token"],
  );
  assertStringIncludes(result.stderr, "every defence held");
});

Deno.test("--exercise without --json shows the attacker's block: who, what they hold, the request, the answer, the defence", async () => {
  const result = await run([
    ...demo(),
    "--exercise",
    "stolen-code",
  ]);
  assertEquals(result.code, 0, result.stderr);
  const block = result.stdout.slice(
    result.stdout.indexOf("## Attacker: stolen-code (after step 5)"),
    result.stdout.indexOf("## 6."),
  );
  for (
    const part of [
      "who:",
      "holds:",
      "POST http://127.0.0.1:",
      "/services/oauth2/token",
      "grant_type=authorization_code&code=aPrx",
      "→ 400",
      "invalid code verifier",
      "defence: PKCE held",
    ]
  ) assertStringIncludes(block, part);
  assert(
    result.stdout.indexOf("## 5.") < result.stdout.indexOf("## Attacker"),
  );
  assertStringIncludes(result.stdout, "## 8. OAuth Flow Complete");
  assertStringIncludes(result.stdout, "✓ stolen-code: the defence held");
  // The exercise's verdict is the last word, not the walkthrough's "try it again".
  assertFalse(result.stderr.includes("Try it again"), result.stderr);
});

Deno.test("--exercise list names each exercise with one line, without an org", async () => {
  // With --demo, and with no org settings at all: listing needs no org.
  for (
    const args of [["--demo", "--exercise", "list"], ["--exercise", "list"]]
  ) {
    const result = await run(args);
    assertEquals(result.code, 0, result.stderr);
    assertFalse(result.stderr.includes("demo mode"), "no org was started");
    const names = result.stdout.trim().split("\n").map((l) => l.split(" ")[0]);
    assertEquals(names, EXERCISE_NAMES);
  }
});

const EXERCISE_NAMES = [
  "swapped-redirect",
  "forged-callback",
  "stolen-code",
  "tampered-id-token",
  "replayed-code",
  "reused-refresh-token",
  "all",
];

Deno.test("--exercise refuses, with a usage error, an unknown name, a real org and a loopback server that is not the demo org", async () => {
  const unknown = await run(["--demo", "--exercise", "stolen-cod"]);
  assertEquals(unknown.code, 2);
  assertStringIncludes(unknown.stderr, 'no exercise named "stolen-cod"');
  assertStringIncludes(unknown.stderr, "stolen-code");

  const real = await run([...UNREACHED_ORG, "--exercise", "stolen-code"]);
  assertEquals(real.code, 2);
  assertStringIncludes(
    real.stderr,
    "Cannot use --exercise against https://acme.my.salesforce.com: attacking a real org is not a lesson",
  );

  await withFakeOrg(
    () => new Response("<title>Keycloak</title>"),
    async (url, received) => {
      const other = await run([
        "--instance-url",
        url,
        "--client-id",
        "3MVG9x",
        "--no-browser",
        "--exercise",
        "stolen-code",
      ]);
      assertEquals(other.code, 2);
      assertStringIncludes(
        other.stderr,
        "it does not answer as the demo org does",
      );
      assertEquals(
        received,
        ["GET / "],
        "one look at its home page, nothing else",
      );
    },
  );
});

/** Runs an exercise against a standalone demo org started here, the test playing the user in the browser. */
async function againstStandalone(exercise: string, options: DemoOrgOptions) {
  let result: Awaited<ReturnType<typeof runApproved>> | undefined;
  await withOrg(async (org, app) => {
    result = await runApproved([
      ...orgArgs(org, app.redirectUri),
      "--exercise",
      exercise,
    ]);
  }, options);
  return result!;
}

Deno.test("each exercise against the demo org fails loudly, exit 1, when the org's defence is switched off (test-only switch)", async () => {
  const cases: [string, DemoOrgOptions, string][] = [
    [
      "stolen-code",
      { testOnlyWeaken: { pkce: false } },
      "tokens for a stolen code",
    ],
    [
      "replayed-code",
      { testOnlyWeaken: { singleUseCodes: false } },
      "redeemed the same code twice",
    ],
    [
      "swapped-redirect",
      { testOnlyWeaken: { redirectCheck: false } },
      "send a code to the attacker",
    ],
    [
      "reused-refresh-token",
      { rotateRefreshTokens: false },
      "did not rotate",
    ],
  ];
  for (const [exercise, options, meaning] of cases) {
    const result = await againstStandalone(exercise, options);
    assertEquals(result.code, 1, `${exercise}: ${result.stderr}`);
    const [move] = attackerLines(result.stdout);
    assertEquals([move.exercise, move.held], [exercise, false]);
    assertStringIncludes(move.answer.meaning, meaning);
    assertStringIncludes(result.stderr, `✗ ${exercise}: ATTACK SUCCEEDED`);
  }
});

Deno.test("the same exercises hold against a standalone demo org with its defences on", async () => {
  const cases: [string, DemoOrgOptions][] = [
    ["stolen-code", {}],
    ["swapped-redirect", {}],
    ["reused-refresh-token", { rotateRefreshTokens: true }],
  ];
  for (const [exercise, options] of cases) {
    const result = await againstStandalone(exercise, options);
    assertEquals(result.code, 0, `${exercise}: ${result.stderr}`);
    assertEquals(attackerLines(result.stdout)[0].held, true);
  }
});

/**
 * A copy of the script with one defence cut out, in a folder of its own:
 * each `[pattern, replacement]` must match main.ts exactly once, so a change
 * to the defence's code makes this test fail instead of pass unnoticed.
 */
async function scriptWithout(cuts: [RegExp, string][]): Promise<string> {
  const folder = await Deno.makeTempDir();
  const here = new URL(".", import.meta.url).pathname;
  for await (const entry of Deno.readDir(here)) {
    const runtime = entry.isFile && entry.name.endsWith(".ts") &&
      !entry.name.endsWith("_test.ts") && !entry.name.startsWith("_");
    if (runtime) {
      await Deno.copyFile(here + entry.name, `${folder}/${entry.name}`);
    }
  }
  await Deno.mkdir(`${folder}/demo_org`);
  for await (const entry of Deno.readDir(`${here}demo_org`)) {
    await Deno.copyFile(
      `${here}demo_org/${entry.name}`,
      `${folder}/demo_org/${entry.name}`,
    );
  }
  let main = await Deno.readTextFile(`${folder}/main.ts`);
  for (const [pattern, replacement] of cuts) {
    const found = main.match(new RegExp(pattern.source, "g"))?.length ?? 0;
    assertEquals(found, 1, `${pattern} must match main.ts once`);
    main = main.replace(pattern, replacement);
  }
  await Deno.writeTextFile(`${folder}/main.ts`, main);
  return folder;
}

/** The state check in readCallback, both halves: no state, and a state that is not ours. */
const STATE_CHECKS: [RegExp, string][] = [
  [/if \(state === null\) \{/, "if (false) {"],
  [/if \(state !== expectedState\) \{/, "if (false) {"],
];

/** The ID token's alg and signature checks in verifyIdToken. */
const ID_TOKEN_CHECKS: [RegExp, string][] = [
  [/if \(header\.alg !== "RS256"\) \{/, "if (false) {"],
  [
    /if \(!await verifyRs256\(jwt, key\)\.catch\(\(\) => false\)\) \{/,
    "if (false) {",
  ],
];

Deno.test("forged-callback and tampered-id-token fail loudly, exit 1, against a script whose defence is cut out", async () => {
  const cases: [string, [RegExp, string][], boolean[], string][] = [
    [
      "forged-callback",
      STATE_CHECKS,
      [false],
      "the script took the attacker's code",
    ],
    [
      "tampered-id-token",
      ID_TOKEN_CHECKS,
      [false, false],
      "accepted the tampered ID token",
    ],
    // Only the signature check cut: alg none is still refused by the alg check.
    [
      "tampered-id-token",
      ID_TOKEN_CHECKS.slice(1),
      [false, true],
      "accepted the tampered ID token",
    ],
  ];
  for (const [exercise, cuts, held, meaning] of cases) {
    const folder = await scriptWithout(cuts);
    try {
      const result = await run(
        [...demo(), "--json", "--exercise", exercise],
        { script: `${folder}/main.ts` },
      );
      assertEquals(result.code, 1, `${exercise}: ${result.stderr}`);
      const moves = attackerLines(result.stdout);
      assertEquals(moves.map((m) => m.held), held, exercise);
      assertStringIncludes(moves[0].answer.meaning, meaning);
      assertStringIncludes(result.stderr, `✗ ${exercise}: ATTACK SUCCEEDED`);
    } finally {
      await Deno.remove(folder, { recursive: true });
    }
  }
});

Deno.test("main.ts and pkce.ts alone, as in a gist: --exercise is a usage error naming the files it needs", async () => {
  const gist = await Deno.makeTempDir();
  try {
    for (const file of ["main.ts", "pkce.ts"]) {
      await Deno.copyFile(new URL(file, import.meta.url), `${gist}/${file}`);
    }
    const result = await run(["--demo", "--exercise", "all"], {
      script: `${gist}/main.ts`,
    });
    assertEquals(result.code, 2, result.stderr);
    assertStringIncludes(
      result.stderr,
      "Cannot use --exercise: exercises.ts is not next to main.ts",
    );
    assertStringIncludes(result.stderr, "demo_org.ts");
    assertFalse(result.stderr.includes("    at "), "no stack trace");
  } finally {
    await Deno.remove(gist, { recursive: true });
  }
});

Deno.test("--http shows the attacker's requests and the answers as HTTP/1.1 text, masked, in the block and in the JSON line", async () => {
  const json = await run([
    ...demo(),
    "--json",
    "--http",
    "--exercise",
    "stolen-code",
  ]);
  assertEquals(json.code, 0, json.stderr);
  const [move] = attackerLines(json.stdout);
  const sent: string = move.attacker.sends[0].http;
  assert(sent.startsWith("POST /services/oauth2/token HTTP/1.1\n"), sent);
  assertStringIncludes(sent, "Content-Type: application/x-www-form-urlencoded");
  assertMatch(sent, /\n\ngrant_type=authorization_code&code=aPrx[^&]*…/);
  assertFalse(sent.includes("code_verifier"), "the first try sends none");
  assert(move.answer.got[0].http.startsWith("HTTP/1.1 400 Bad Request\n"));
  assertStringIncludes(move.answer.got[0].http, "invalid code verifier");

  const human = await run([
    ...demo(),
    "--http",
    "--exercise",
    "replayed-code",
  ]);
  assertEquals(human.code, 0, human.stderr);
  const block = human.stdout.slice(human.stdout.indexOf("## Attacker"));
  assertStringIncludes(block, "── back channel: attacker → org");
  assertStringIncludes(block, "── back channel: script → org"); // its tokens, tried after
  assertStringIncludes(block, "client_secret=********");
  assertStringIncludes(block, "Authorization: Bearer 00D5g0…");
});

Deno.test("--report draws the attacker as a participant: their requests, the script's tokens tried after, and whether the defence held", async () => {
  const folder = await Deno.makeTempDir();
  try {
    const result = await run([
      ...demo(),
      "--exercise",
      "replayed-code",
      "--report",
      `${folder}/run.md`,
    ]);
    assertEquals(result.code, 0, result.stderr);
    const page = await Deno.readTextFile(`${folder}/run.md`);
    assertNoLeak(page);
    const diagram = page.slice(page.indexOf("sequenceDiagram"));
    assertStringIncludes(diagram, "participant Attacker");
    const arrows = diagram.split("\n").map((line) => line.trim())
      .filter((line) => /^\w+-/.test(line)).slice(-4);
    assertEquals(arrows.map((line) => line.split(":")[0]), [
      "Attacker-->>Org",
      "Script-->>Org",
      "Script-->>Org",
      "Attacker-xOrg",
    ]);
    assertStringIncludes(arrows[0], "8 · POST /services/oauth2/token → 400");
    assertStringIncludes(arrows[1], "→ 403"); // the access token the replay killed
    assertStringIncludes(diagram, "✓ defence held");
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});
