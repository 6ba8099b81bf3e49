/**
 * The walkthrough's steps end to end, as a user runs it: spawned with
 * `Deno.execPath()` and `--json`, against the demo org (in the script with
 * `--demo`, or standalone in the test) or a fake org that a test scripts.
 * What each step printed and what the org received are the assertions.
 */

import {
  assert,
  assertEquals,
  assertFalse,
  assertInstanceOf,
  assertMatch,
  assertNotEquals,
  assertStringIncludes,
} from "./_test_deps.ts";
import { DemoUserError, playDemoUser, signInAndDecide } from "./demo_org.ts";
import {
  assertConnectionRefused,
  browse,
  dripInto,
  endlessBody,
  FAKE_SECRET,
  freePort,
  orgArgs,
  RAW_TOKEN,
  recordingLauncher,
  redirectUri,
  run,
  runAgainst,
  runApproved,
  signedTokens,
  spawn,
  spawnAskingForMissingScope,
  UNREACHED_ORG,
  withDemoOrg,
  withFakeOrg,
} from "./_test_utils.ts";
import { hintFor } from "./main.ts";
import { createCodeChallenge } from "./pkce.ts";

const STEP_KEYS: [number, string, string[]][] = [
  [1, "OAuth Flow Started", ["instance", "client_id", "redirect_uri"]],
  [2, "PKCE Generated", [
    "code_verifier",
    "code_challenge",
    "challenge_method",
  ]],
  [3, "Authorization URL Built", [
    "authorization_endpoint",
    "query",
    "authorization_url",
  ]],
  [4, "Callback Server Started", [
    "hostname",
    "port",
    "path",
    "listening_on",
    "bound_address",
  ]],
  [5, "Authorization Code Received", ["authorization_code", "state_verified"]],
  [6, "Token Request Prepared", ["token_endpoint", "payload"]],
  [7, "Token Response Received", ["status", "body", "signature"]],
  [8, "OAuth Flow Complete", [
    "access_token",
    "refresh_token",
    "instance_url",
    "id_url",
    "scope",
    "issued_at",
  ]],
];

// ---------------------------------------------------------------------------
// Steps 1 to 8
// ---------------------------------------------------------------------------

Deno.test("--demo --no-browser --json walks the eight steps of the guide and exits 0", async () => {
  const result = await run([
    "--demo",
    "--no-browser",
    "--json",
    "--no-identity",
    "--redirect-uri",
    redirectUri(),
  ]);
  assertEquals(result.code, 0, result.stderr);
  assertEquals(result.steps.map((s) => s.step), [1, 2, 3, 4, 5, 6, 7, 8]);
  for (const [index, [step, title, keys]] of STEP_KEYS.entries()) {
    const printed = result.steps[index];
    assertEquals([printed.step, printed.title], [step, title]);
    for (const key of keys) {
      assert(key in printed.data, `step ${step} lacks ${key}`);
    }
  }
  const [, pkce, authorize, callback, code, request, response, done] =
    result.steps;
  // The verifier and the code are secrets: masked unless --show-secrets.
  const MASKED = /^\S{6}…\S{4}$/;
  assertMatch(pkce.data.code_verifier, MASKED);
  assertMatch(pkce.data.code_challenge, /^[A-Za-z0-9_-]{43}$/);
  assertEquals(authorize.data.query.code_challenge, pkce.data.code_challenge);
  assertEquals(authorize.data.query.code_challenge_method, "S256");
  assertMatch(authorize.data.query.state, /^[A-Za-z0-9_-]{43}$/);
  assertEquals(callback.data.bound_address, ["127.0.0.1", "::1"]);
  assertEquals(code.data.state_verified, true);
  assertMatch(code.data.authorization_code, MASKED);
  assertEquals(request.data.payload.code, code.data.authorization_code);
  assertEquals(request.data.payload.code_verifier, pkce.data.code_verifier);
  assertEquals(request.data.payload.client_secret, "********");
  assertEquals(response.data.status, 200);
  assertEquals(response.data.signature, "valid");
  assertMatch(done.data.access_token, /^00D5g0…\S{4}$/);
  assertMatch(done.data.issued_at_iso, /^\d{4}-\d\d-\d\dT/);
  assertFalse(
    RAW_TOKEN.test(result.stdout + result.stderr),
    "a raw token was printed",
  );
  assertStringIncludes(result.stderr, "plays the demo user");
  assertStringIncludes(result.stderr, "SF_* settings and .env are ignored");
});

Deno.test("without --json each step prints '## N. Title' and its data, one field a line", async () => {
  const result = await run([
    "--demo",
    "--no-browser",
    "--redirect-uri",
    redirectUri(),
  ]);
  assertEquals(result.code, 0, result.stderr);
  const headings = result.stdout.split("\n").filter((line) =>
    line.startsWith("## ")
  );
  assertEquals(headings, [
    "## 1. OAuth Flow Started",
    "## 2. PKCE Generated",
    "## 3. Authorization URL Built",
    "## 4. Callback Server Started",
    "## 5. Authorization Code Received",
    "## 6. Token Request Prepared",
    "## 7. Token Response Received",
    "## 8. OAuth Flow Complete",
    "## 9. Identity Retrieved",
  ]);
  const first = result.stdout.split("## 2.")[0].split("\n").slice(1).join("\n");
  assertMatch(first, /^ {2}instance: +http:\/\/127\.0\.0\.1:\d+$/m);
  assertFalse(result.stdout.includes("\x1b["), "no colour when piped");
});

Deno.test("a standalone demo org completes the flow when the test approves as a browser would", async () => {
  await withDemoOrg(async (org, redirect) => {
    const script = spawn(orgArgs(org, redirect));
    const step3 = await script.waitForStep(3);
    await script.waitForStep(4); // listening before anyone is sent to the org
    assertEquals(await playDemoUser(step3.data.authorization_url), 200);
    const result = await script.finish();
    assertEquals(result.code, 0, result.stderr);
    assertEquals(result.steps.map((s) => s.step), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assertEquals(result.steps[0].data.instance, org.url);
    assertEquals(result.steps[8].data.username, "learner@demo-org.example");
    assertEquals(
      org.received.filter((r) => r === "POST /services/oauth2/token").length,
      1,
    );
    for (const token of org.issued) assertFalse(result.stdout.includes(token));
    // One callback only: the server is gone.
    const port = Number(new URL(redirect).port);
    await assertConnectionRefused(port);
  });
});

/** The local addresses listening on a TCP port, read from the kernel (Linux). */
function listeningAddresses(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const lines = [
    Deno.readTextFileSync("/proc/net/tcp"),
    Deno.readTextFileSync("/proc/net/tcp6"),
  ].join("\n").split("\n");
  return lines
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f[1]?.endsWith(`:${hexPort}`) && f[3] === "0A") // 0A: LISTEN
    .map((f) => f[1].split(":")[0]);
}

Deno.test({
  name:
    "the callback listens on both loopbacks for localhost (127.0.0.1 alone for 127.0.0.1), the demo org on both, and nothing on a wildcard",
  ignore: Deno.build.os !== "linux",
  async fn() {
    // In the kernel's byte order: 127.0.0.1 and ::1; a wildcard would be all zeros.
    const [V4, V6] = ["0100007F", "00000000000000000000000001000000"];
    await withDemoOrg(async (org, redirect) => {
      const script = spawn(orgArgs(org, redirect));
      const step3 = await script.waitForStep(3);
      const step4 = await script.waitForStep(4);
      assertEquals(step4.data.bound_address, ["127.0.0.1", "::1"]);
      assertEquals(
        listeningAddresses(Number(new URL(redirect).port)).sort(),
        [V4, V6].sort(),
      );
      assertEquals(
        listeningAddresses(Number(new URL(org.url).port)).sort(),
        [V4, V6].sort(),
      );
      await playDemoUser(step3.data.authorization_url);
      assertEquals((await script.finish()).code, 0);
    });
    const port = freePort();
    const numeric = `http://127.0.0.1:${port}/callback`;
    const script = spawn([
      ...UNREACHED_ORG,
      "--json",
      "--timeout",
      "0.5",
      "--redirect-uri",
      numeric,
    ]);
    assertEquals((await script.waitForStep(4)).data.bound_address, [
      "127.0.0.1",
    ]);
    assertEquals(listeningAddresses(port), [V4]);
    assertEquals((await script.finish()).code, 1);
  },
});

Deno.test("a browser that resolves localhost to ::1 reaches the callback", async () => {
  await withDemoOrg(async (org, redirect) => {
    const script = spawn(orgArgs(org, redirect));
    const { state } = (await script.waitForStep(3)).data.query;
    await script.waitForStep(4);
    const port = new URL(redirect).port;
    const page = await browse(
      `http://[::1]:${port}/callback?code=made-up&state=${state}`,
    );
    assertEquals(page.status, 200);
    const result = await script.finish(); // the org refuses the made-up code
    assertEquals(result.steps.at(-1)?.data.error, "invalid_grant");
    assertEquals(result.steps.at(-2)?.step, 7 - 1);
  });
});

Deno.test("another process on [::1] at the callback port fails at once naming it, and leaves nothing bound", async () => {
  const squatter = Deno.listen({ hostname: "::1", port: 0 });
  try {
    const { port } = squatter.addr;
    const result = await run([
      ...UNREACHED_ORG,
      "--json",
      "--redirect-uri",
      `http://localhost:${port}/callback`,
    ]);
    assertEquals(result.code, 1);
    const failure = result.steps.at(-1)!.data;
    assertEquals(failure.error, "port_in_use");
    assertStringIncludes(failure.error_description, `port ${port} on [::1]`);
    assertStringIncludes(failure.hint, "[::1]");
    await assertConnectionRefused(port); // 127.0.0.1 was closed again
  } finally {
    squatter.close();
  }
});

// ---------------------------------------------------------------------------
// The callback: forged, refused, failed
// ---------------------------------------------------------------------------

Deno.test("stray and forged callbacks are refused, the wait goes on, and no token is requested for them", async () => {
  await withDemoOrg(async (org, redirect) => {
    const script = spawn(orgArgs(org, redirect));
    const step3 = await script.waitForStep(3);
    const { state } = step3.data.query;
    await script.waitForStep(4);
    const base = new URL(redirect);
    const at = (path: string) => new URL(path, base).href;
    const cases: [string, RequestInit | undefined, number, string?][] = [
      [at("/favicon.ico"), undefined, 404],
      [at("/elsewhere?code=x&state=" + state), undefined, 404],
      [at(`/callback?code=x&state=${state}`), { method: "POST" }, 405],
      [at(`/callback?code=x&state=${state}`), { method: "DELETE" }, 405],
      [at("/callback?code=x"), undefined, 400, "it has no state"],
      [
        at("/callback?code=x&state=forged"),
        undefined,
        400,
        "its state does not match ours",
      ],
      [
        at("/callback?error=access_denied&state=forged"),
        undefined,
        400,
        "its state does not match ours",
      ],
      [
        at(`/callback?code=a&code=b&state=${state}`),
        undefined,
        400,
        "code appears more than once",
      ],
      [
        at(`/callback?code=a&state=${state}&state=${state}`),
        undefined,
        400,
        "state appears more than once",
      ],
      [
        at(`/callback?code=${"x".repeat(5000)}&state=${state}`),
        undefined,
        400,
        "the query is too long",
      ],
      [at(`/callback?state=${state}`), undefined, 400, "it has no code"],
    ];
    for (const [url, init, status, reason] of cases) {
      const page = await browse(url, init);
      assertEquals(page.status, status, url);
      if (reason) assertStringIncludes(page.text, reason);
    }
    assertFalse(org.received.includes("POST /services/oauth2/token"));
    // The real callback still works afterwards.
    assertEquals(await playDemoUser(step3.data.authorization_url), 200);
    const result = await script.finish();
    assertEquals(result.code, 0, result.stderr);
    // Seven ignored: three named, then counted, then summed up with the URL repeated.
    assertEquals(
      result.stderr.match(/warning: ignored a callback/g)?.length,
      3,
    );
    assertStringIncludes(result.stderr, "counting them quietly");
    assertStringIncludes(result.stderr, step3.data.authorization_url);
    assertStringIncludes(result.stderr, "ignored 7 callbacks in all");
    assertEquals(
      org.received.filter((r) => r === "POST /services/oauth2/token").length,
      1,
    );
  });
});

Deno.test("an error on the callback ends the flow with the org's error and a hint, and no token request", async () => {
  const cases: [string, string, string][] = [
    ["access_denied", "end-user denied authorization", "clicked Deny"],
    [
      "OAUTH_EC_APP_NOT_FOUND",
      "External client app is not installed in this org",
      "My Domain",
    ],
    ["invalid_scope", "the requested scope is not allowed", "scopes"],
    ["immediate_unsuccessful", "immediate unsuccessful", "log in or approve"],
    ["inactive_user", "inactive user", "inactive"],
    ["inactive_org", "inactive organization", "locked"],
    ["server_error", "something broke", "error reference"],
  ];
  await withDemoOrg(async (org, redirect) => {
    for (const [error, description, hint] of cases) {
      const script = spawn(orgArgs(org, redirect));
      const { state } = (await script.waitForStep(3)).data.query;
      await script.waitForStep(4);
      const query = new URLSearchParams({
        error,
        error_description: description,
        state,
      });
      const page = await browse(`${redirect}?${query}`);
      assertEquals(page.status, 400);
      assertStringIncludes(page.text, error);
      assertStringIncludes(page.text, hint);
      const result = await script.finish();
      assertEquals(result.code, 1, error);
      assertEquals(result.steps.at(-1)?.data, {
        error,
        error_description: description,
        hint: hintFor(error, description),
      });
    }
    assertFalse(org.received.includes("POST /services/oauth2/token"));
  });
});

Deno.test("clicking Deny on the demo org's consent page ends with access_denied and exit 1", async () => {
  await withDemoOrg(async (org, redirect) => {
    const script = spawn(orgArgs(org, redirect));
    const step3 = await script.waitForStep(3);
    await script.waitForStep(4);
    assertEquals(await playDemoUser(step3.data.authorization_url, "deny"), 400);
    const result = await script.finish();
    assertEquals(result.code, 1);
    assertEquals(result.steps.at(-1)?.data.error, "access_denied");
  });
});

Deno.test("the callback pages say what happened without showing the code", async () => {
  await withDemoOrg(async (org, redirect) => {
    const script = spawn(orgArgs(org, redirect));
    const { state } = (await script.waitForStep(3)).data.query;
    await script.waitForStep(4);
    const page = await browse(
      `${redirect}?code=SECRET-CODE-VALUE&state=${state}`,
    );
    assertEquals(page.status, 200);
    assertStringIncludes(page.text, "return to the terminal");
    assertFalse(page.text.includes("SECRET-CODE-VALUE"));
    assertEquals(page.headers.get("cache-control"), "no-store");
    const result = await script.finish(); // the org refuses the made-up code
    assertEquals(result.code, 1);
    assertEquals(result.steps.at(-1)?.data.error, "invalid_grant");
  });
});

/** Sends a GET with a Host header of our choosing, as a DNS-rebinding page would; resolves with the status. */
async function getWithHost(port: number, path: string, host: string) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      new TextEncoder().encode(
        `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      ),
    );
    const answer = await new Response(conn.readable).text();
    return Number(/^HTTP\/1\.1 (\d+)/.exec(answer)?.[1]);
  } catch (error) {
    conn.close();
    throw error;
  }
}

Deno.test("the callback and the demo org answer only requests addressed to loopback (no DNS rebinding)", async () => {
  await withDemoOrg(async (org, redirect) => {
    const script = spawn(orgArgs(org, redirect));
    const step3 = await script.waitForStep(3);
    const { state } = step3.data.query;
    await script.waitForStep(4);
    const port = Number(new URL(redirect).port);
    const path = `/callback?code=x&state=${state}`;
    for (const host of [`evil.example:${port}`, "localhost:1", "127.0.0.2"]) {
      assertEquals(await getWithHost(port, path, host), 421, host);
    }
    const orgPort = Number(new URL(org.url).port);
    assertEquals(
      await getWithHost(orgPort, "/", `evil.example:${orgPort}`),
      421,
    );
    assertEquals(await getWithHost(orgPort, "/", `localhost:${orgPort}`), 200);
    assertEquals(await playDemoUser(step3.data.authorization_url), 200);
    assertEquals(
      (await script.finish()).code,
      0,
      "the refused requests did not count",
    );
  });
});

// ---------------------------------------------------------------------------
// The token exchange: the org's errors, and the network's
// ---------------------------------------------------------------------------

Deno.test("token endpoint errors end with exit 1, the org's error, and a hint for each known case", async () => {
  const json = (status: number, body: unknown) => () =>
    Response.json(body, { status });
  const oauth = (error: string, description: string) =>
    json(400, { error, error_description: description });
  const cases: [string, () => Response, string, string][] = [
    [
      "expired code",
      oauth("invalid_grant", "expired authorization code"),
      "invalid_grant",
      "single-use and live 15 minutes",
    ],
    [
      "wrong verifier",
      oauth("invalid_grant", "invalid code verifier"),
      "invalid_grant",
      "code_challenge",
    ],
    [
      "authentication failure",
      oauth("invalid_grant", "authentication failure"),
      "invalid_grant",
      "credentials",
    ],
    [
      "ip restricted",
      oauth("invalid_grant", "ip restricted"),
      "invalid_grant",
      "IP address",
    ],
    [
      "not approved",
      oauth("invalid_grant", "user hasn't approved this consumer"),
      "invalid_grant",
      "click Allow",
    ],
    [
      "unknown key",
      oauth("invalid_client_id", "client identifier invalid"),
      "invalid_client_id",
      "consumer key",
    ],
    [
      "wrong secret",
      oauth("invalid_client", "invalid client credentials"),
      "invalid_client",
      "consumer secret",
    ],
    [
      "redirect differs",
      oauth("redirect_uri_mismatch", "redirect_uri must match configuration"),
      "redirect_uri_mismatch",
      "exactly",
    ],
    [
      "grant type",
      oauth("unsupported_grant_type", "grant type not supported"),
      "unsupported_grant_type",
      "form POST",
    ],
    [
      "an HTML 502",
      () =>
        new Response("<html><body><h1>502 Bad Gateway</h1></body></html>", {
          status: 502,
          headers: { "content-type": "text/html" },
        }),
      "unexpected_response",
      "status.salesforce.com",
    ],
    [
      "a JSON 500 without error",
      json(500, { message: "oops" }),
      "unexpected_response",
      "wait a minute",
    ],
    [
      "a 200 that is not JSON",
      () => new Response("Welcome to Salesforce", { status: 200 }),
      "unexpected_response",
      "does not look like",
    ],
    [
      "a 200 without access_token",
      json(200, { instance_url: "x" }),
      "invalid_token_response",
      "fields of a token response",
    ],
    [
      "a redirect",
      () =>
        new Response(null, {
          status: 302,
          headers: { location: "https://example.com/" },
        }),
      "unexpected_response",
      "redirected",
    ],
  ];
  for (const [name, answer, error, hint] of cases) {
    await withFakeOrg(answer, async (url, received) => {
      const result = await runAgainst(url);
      assertEquals(result.code, 1, name);
      const failure = result.steps.at(-1)!;
      assertEquals(failure.step, null, name);
      assertEquals(failure.data.error, error, name);
      assertStringIncludes(failure.data.hint, hint, name);
      assertEquals(
        received.length,
        1,
        `${name}: only the token request, no redirect followed`,
      );
      // The form the org received: the code decoded once and re-encoded once, and every field.
      const form = new URLSearchParams(
        received[0].split(" ").slice(2).join(" "),
      );
      assertStringIncludes(
        received[0],
        "POST /services/oauth2/token grant_type=authorization_code&code=fake-code%3D%3D&",
      );
      assertEquals(form.get("code"), "fake-code==");
      assertEquals(form.get("client_id"), "3MVG9fake");
      assertEquals(form.get("client_secret"), FAKE_SECRET);
      assertMatch(form.get("code_verifier")!, /^[A-Za-z0-9_-]{43}$/);
      assertMatch(
        form.get("redirect_uri")!,
        /^http:\/\/localhost:\d+\/callback$/,
      );
    });
  }
  // The body's excerpt and status are named.
  await withFakeOrg(cases[9][1], async (url) => {
    const result = await runAgainst(url);
    assertStringIncludes(
      result.steps.at(-1)!.data.error_description,
      'HTTP 502 (text/html) "<html><body><h1>502 Bad Gateway',
    );
  });
});

Deno.test("network failures end with exit 1, say what could not be reached, and hint at the cause", async () => {
  const closed = freePort();
  const refused = await runAgainst(`http://127.0.0.1:${closed}`);
  assertEquals(refused.code, 1);
  const refusal = refused.steps.at(-1)!.data;
  assertEquals(refusal.error, "network_error");
  assertStringIncludes(
    refusal.error_description,
    `Cannot reach http://127.0.0.1:${closed}/services/oauth2/token: `,
  );
  assertStringIncludes(refusal.error_description, "refused");
  assertStringIncludes(refusal.hint, "Nothing answers at that address");

  // .invalid never resolves (RFC 6761).
  const unresolved = await runAgainst("https://no-such-org.invalid");
  assertEquals(unresolved.code, 1);
  assertStringIncludes(unresolved.steps.at(-1)!.data.hint, "does not resolve");

  // TLS spoken to a plain HTTP server fails the handshake.
  await withFakeOrg(() => new Response("plain http"), async (url) => {
    const tls = await runAgainst(url.replace("http:", "https:"));
    assertEquals(tls.code, 1);
    assertEquals(tls.steps.at(-1)?.data.error, "network_error");
    assertStringIncludes(tls.steps.at(-1)?.data.hint, "TLS");
  });
});

// ---------------------------------------------------------------------------
// After the tokens: signature, identity, refresh, revoke, save
// ---------------------------------------------------------------------------

Deno.test("--demo --refresh --revoke walks steps 1 to 11 and shows the revoked token refused", async () => {
  const result = await run([
    "--demo",
    "--no-browser",
    "--json",
    "--refresh",
    "--revoke",
    "--redirect-uri",
    redirectUri(),
  ]);
  assertEquals(result.code, 0, result.stderr);
  assertEquals(result.steps.map((s) => s.step), [
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
  ]);
  const [identity, refreshed, revoked] = result.steps.slice(8);
  assertEquals(identity.title, "Identity Retrieved");
  assertEquals(Object.keys(identity.data), [
    "user_id",
    "organization_id",
    "username",
    "display_name",
    "rest_url",
  ]);
  assertEquals(refreshed.title, "Token Refreshed");
  assertEquals(refreshed.data.signature, "valid");
  assertNotEquals(
    refreshed.data.access_token,
    result.steps[7].data.access_token,
  );
  // Step 1 says where each setting came from; step 9 asked with version=latest;
  // step 10 shows its request, masked; a closing note says what to try next.
  assertEquals(result.steps[0].data.client_secret, "********");
  assertEquals(result.steps[0].data.settings_from.instance, "the demo org");
  assertEquals(
    result.steps[0].data.settings_from.scope,
    "the app's own scopes",
  );
  assertMatch(identity.data.rest_url, /\/services\/data\/v\d+\.0\/$/);
  assertEquals(refreshed.data.payload.grant_type, "refresh_token");
  assertMatch(refreshed.data.payload.refresh_token, /^\S{6}…\S{4}$/);
  assertEquals(refreshed.data.payload.client_secret, "********");
  assertStringIncludes(result.stderr, "done. Try it again with --pause");
  assertEquals(revoked.title, "Token Revoked");
  assertEquals(revoked.data.revoked, "refresh_token");
  assertEquals(revoked.data.status, 200);
  assertEquals(revoked.data.identity_status_after, 403); // Bad_OAuth_Token, as Salesforce answers
  assertFalse(RAW_TOKEN.test(result.stdout + result.stderr));
});

Deno.test("a tampered signature ends the flow: the identity URL may have been altered", async () => {
  await withFakeOrg(
    async (_path, url) =>
      Response.json(
        await signedTokens(url, {
          id: `${url}/id/00D5g000004EVILEAA/0055g00000EVILUAAA`,
        }),
      ),
    async (url, received) => {
      const result = await runAgainst(url);
      assertEquals(result.code, 1);
      assertEquals(result.steps.at(-1)?.data.error, "invalid_signature");
      assertStringIncludes(
        result.steps.at(-1)?.data.hint,
        "may have been altered",
      );
      assertFalse(
        received.some((r) => r.startsWith("GET /id/")),
        "the token was not sent to the altered URL",
      );
    },
  );
  // The same body, untouched, is valid.
  await withFakeOrg(
    async (path, url) =>
      path === "/services/oauth2/token"
        ? Response.json(await signedTokens(url))
        : Response.json({
          user_id: "0055g00000FAKEUAAA",
          urls: { rest: `${url}/services/data/v{version}/` },
        }),
    async (url) => {
      const result = await runAgainst(url);
      assertEquals(result.code, 0, result.stderr);
      assertEquals(result.steps[6].data.signature, "valid");
      assertEquals(
        result.steps[7].data.issued_at_iso,
        "2026-02-13T03:13:27.907Z",
      );
    },
  );
});

Deno.test("without a client secret the signature is not checked and none is sent", async () => {
  await withDemoOrg(async (org, redirect) => {
    const result = await runApproved(orgArgs(org, redirect, false));
    assertEquals(result.code, 0, result.stderr);
    assertFalse("client_secret" in result.steps[5].data.payload);
    assertEquals(
      result.steps[6].data.signature,
      "not checked (no client secret)",
    );
  });
});

Deno.test("--refresh without the refresh_token scope says so and skips step 10", async () => {
  await withDemoOrg(async (org, redirect) => {
    const result = await runApproved([
      ...orgArgs(org, redirect),
      "--scope",
      "api id",
      "--refresh",
    ]);
    assertEquals(result.code, 0, result.stderr);
    const step10 = result.steps.at(-1)!;
    assertEquals([step10.step, step10.data.skipped], [10, true]);
    assertStringIncludes(
      step10.data.reason,
      "refresh_token scope was not granted",
    );
    assertEquals(result.steps[7].data.refresh_token, null);
  });
});

Deno.test("a refused refresh gets the same treatment as a token error", async () => {
  let tokenRequests = 0;
  await withFakeOrg(
    async (path, url) =>
      path === "/services/oauth2/token" && tokenRequests++ === 0
        ? Response.json(await signedTokens(url))
        : Response.json({
          error: "invalid_grant",
          error_description: "expired access/refresh token",
        }, { status: 400 }),
    async (url, received) => {
      const result = await runAgainst(url, ["--no-identity", "--refresh"]);
      assertEquals(result.code, 1);
      assertEquals(result.steps.at(-1)?.data, {
        error: "invalid_grant",
        error_description: "expired access/refresh token",
        hint: hintFor("invalid_grant", "expired access/refresh token"),
      });
      assertStringIncludes(
        received[1],
        "grant_type=refresh_token&refresh_token=5Aep861fakeRefreshTokenValue",
      );
      assertStringIncludes(received[1], `client_secret=${FAKE_SECRET}`);
    },
  );
});

Deno.test("a token without the id scope is refused at step 9 with a hint", async () => {
  await withDemoOrg(async (org, redirect) => {
    const result = await runApproved([
      ...orgArgs(org, redirect),
      "--scope",
      "refresh_token",
    ]);
    assertEquals(result.code, 1);
    assertEquals(result.steps.at(-1)?.data.error, "identity_refused");
    assertStringIncludes(result.steps.at(-1)?.data.hint, "id (or api) scope");
  });
});

Deno.test("a refused revocation is reported as the org's error", async () => {
  await withFakeOrg(
    async (path, url) =>
      path === "/services/oauth2/token"
        ? Response.json(await signedTokens(url))
        : new Response(
          "error=invalid_token&error_description=invalid%20token",
          { status: 400 },
        ),
    async (url) => {
      const result = await runAgainst(url, ["--no-identity", "--revoke"]);
      assertEquals(result.code, 1);
      assertEquals(result.steps.at(-1)?.data.error, "invalid_token");
      assertEquals(
        result.steps.at(-1)?.data.error_description,
        "invalid token",
      );
    },
  );
});

Deno.test("--save writes the unmasked tokens to a new 0600 file and never overwrites", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await withDemoOrg(async (org, redirect) => {
      const file = `${dir}/sf-tokens.json`;
      const result = await runApproved([
        ...orgArgs(org, redirect),
        "--save",
        file,
      ]);
      assertEquals(result.code, 0, result.stderr);
      assertStringIncludes(result.stderr, "keep it out of version control");
      const saved = JSON.parse(await Deno.readTextFile(file));
      assertEquals([saved.access_token, saved.refresh_token], org.issued);
      assertEquals(saved.instance_url, org.url);
      if (Deno.build.os !== "windows") {
        assertEquals((await Deno.stat(file)).mode! & 0o777, 0o600);
      }
      assertFalse(result.stderr.includes("will revoke them"));
      const revoked = await runApproved([
        ...orgArgs(org, redirect),
        "--save",
        `${file}.2`,
        "--revoke",
      ]);
      assertStringIncludes(revoked.stderr, "step 11 will revoke them");
      const again = await run([...orgArgs(org, redirect), "--save", file]);
      assertEquals(again.code, 2);
      assertStringIncludes(
        again.steps[0].data.error_description,
        "already exists",
      );
      assertEquals(JSON.parse(await Deno.readTextFile(file)), saved);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--show-secrets prints the verifier, the code and the tokens whole, but never the client secret", async () => {
  await withDemoOrg(async (org, redirect) => {
    const result = await runApproved(
      [...orgArgs(org, redirect), "--show-secrets", "--no-identity"],
      { record: false }, // it prints secrets on purpose
    );
    assertEquals(result.code, 0, result.stderr);
    const [, pkce, , , code, request] = result.steps;
    assertEquals(
      pkce.data.code_challenge,
      await createCodeChallenge(pkce.data.code_verifier),
    );
    const [issued] = org.codes.entries();
    assertEquals(code.data.authorization_code, issued[0]);
    assertEquals(request.data.payload.code, issued[0]);
    assertEquals(request.data.payload.code_verifier, issued[1].verifier);
    assertEquals(request.data.payload.code_verifier, pkce.data.code_verifier);
    assertEquals(result.steps[7].data.access_token, org.issued[0]);
    assertFalse(result.stdout.includes(org.client.client_secret));
    assertEquals(result.steps[5].data.payload.client_secret, "********");
  });
});

// ---------------------------------------------------------------------------
// Hostile answers: nothing the org or a callback sends can fool, crash or rob
// ---------------------------------------------------------------------------

const HOSTILE_ERROR = "invalid_grant\u001b]0;TITLE\u0007";
const HOSTILE_DESCRIPTION =
  "\r\u001b[2K\u001b[1A## 8. OAuth Flow Complete \u001b]52;c;Y2xpcA==\u0007\u009b2J\u202eevil\u2028";

/** Control, C1, bidi and separator characters a terminal would act on. */
const TERMINAL_ACTS_ON =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u2028\u2029]/;

Deno.test("an org's error full of terminal controls is shown escaped, and round-trips in --json", async () => {
  const answer = () =>
    Response.json({
      error: HOSTILE_ERROR,
      error_description: HOSTILE_DESCRIPTION,
    }, { status: 400 });
  await withFakeOrg(answer, async (url) => {
    const human = await runAgainst(url, [], { human: true });
    assertEquals(human.code, 1);
    assertFalse(TERMINAL_ACTS_ON.test(human.stderr), human.stderr);
    assertFalse(TERMINAL_ACTS_ON.test(human.stdout));
    assertStringIncludes(
      human.stderr,
      "error: invalid_grant\\u001b]0;TITLE\\u0007: \\u000d\\u001b[2K",
    );
    assertStringIncludes(human.stderr, "\\u009b2J\\u202eevil\\u2028");
    const json = await runAgainst(url);
    assertFalse(TERMINAL_ACTS_ON.test(json.stdout), json.stdout);
    assertStringIncludes(json.stdout, "\\u009b2J\\u202eevil\\u2028");
    assertEquals(json.steps.at(-1)?.data.error, HOSTILE_ERROR);
    assertEquals(
      json.steps.at(-1)?.data.error_description,
      HOSTILE_DESCRIPTION,
    );
  });
});

Deno.test("a hostile callback error is shown escaped, and a prototype name gets the generic hint", async () => {
  await withDemoOrg(async (org, redirect) => {
    for (const error of ["constructor", "toString", "__proto__"]) {
      const script = spawn(orgArgs(org, redirect));
      const { state } = (await script.waitForStep(3)).data.query;
      await script.waitForStep(4);
      const query = new URLSearchParams({
        error,
        error_description: "\u001b[31mred\u001b[0m",
        state,
      });
      const page = await browse(`${redirect}?${query}`);
      assertEquals(page.status, 400, error);
      assertFalse(page.text.includes("native code"), error);
      const result = await script.finish();
      assertEquals(result.code, 1, error);
      const failure = result.steps.at(-1)!.data;
      assertEquals(failure.error, error);
      assertEquals(failure.hint, hintFor("brand_new_error"));
      assertFalse(result.stdout.includes("\u001b"), "escaped in JSON too");
    }
  });
});

Deno.test("malformed org answers end with a clear error naming the field, never a crash", async () => {
  const tokenWith =
    (extra: Record<string, unknown>) => async (path: string, url: string) =>
      path === "/services/oauth2/token"
        ? Response.json({ ...(await signedTokens(url)), ...extra })
        : Response.json({ user_id: "0055g00000FAKEUAAA" });
  const cases: [
    string,
    (path: string, url: string) => Response | Promise<Response>,
    string[],
    string,
    string,
  ][] = [
    [
      "issued_at not a time",
      tokenWith({ issued_at: "soon" }),
      [],
      "invalid_token_response",
      'issued_at is not a time in milliseconds "soon"',
    ],
    [
      "scope not a string",
      tokenWith({ scope: ["api"] }),
      [],
      "invalid_token_response",
      "scope is not a string",
    ],
    [
      "error named toString",
      () => Response.json({ error: "toString" }, { status: 400 }),
      [],
      "toString",
      "",
    ],
    [
      "error_description an object",
      () =>
        Response.json({ error: "invalid_grant", error_description: { a: 1 } }, {
          status: 400,
        }),
      [],
      "invalid_grant",
      "",
    ],
    [
      "identity field of the wrong type",
      async (path, url) =>
        path === "/services/oauth2/token"
          ? Response.json(await signedTokens(url))
          : Response.json({
            user_id: "0055g00000FAKEUAAA",
            display_name: { first: "x" },
          }),
      [],
      "unexpected_response",
      "identity response: display_name is not a string",
    ],
    [
      "identity answer null",
      async (path, url) =>
        path === "/services/oauth2/token"
          ? Response.json(await signedTokens(url))
          : Response.json(null),
      [],
      "unexpected_response",
      "Cannot use the identity response: HTTP 200",
    ],
    [
      "revoke body null",
      async (path, url) =>
        path === "/services/oauth2/token"
          ? Response.json(await signedTokens(url))
          : Response.json(null, { status: 400 }),
      ["--no-identity", "--revoke"],
      "http_400",
      "null",
    ],
  ];
  for (const [name, answer, args, error, description] of cases) {
    await withFakeOrg(answer, async (url) => {
      const result = await runAgainst(url, args);
      assertEquals(result.code, 1, `${name}: ${result.stderr}`);
      const failure = result.steps.at(-1)!.data;
      assertEquals(failure.error, error, name);
      assertStringIncludes(failure.error_description, description, name);
      assertFalse(failure.hint.includes("looks like a bug"), name);
      assertFalse(failure.hint.includes("native code"), name);
    });
  }
});

Deno.test("--save keeps the tokens as soon as step 7 checked them, even when a later step fails", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await withFakeOrg(
      async (path, url) =>
        path === "/services/oauth2/token"
          ? Response.json(await signedTokens(url))
          : new Response("down", { status: 503 }),
      async (url) => {
        const result = await runAgainst(url, ["--save", `${dir}/t.json`]);
        assertEquals(result.code, 1);
        assertEquals(result.steps.at(-1)?.data.error, "unexpected_response");
        const saved = JSON.parse(await Deno.readTextFile(`${dir}/t.json`));
        assertEquals(
          saved.access_token,
          (await signedTokens(url)).access_token,
        );
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("without a secret to vouch for it, an identity URL on a foreign host gets no token: step 9 is skipped", async () => {
  await withFakeOrg(
    () => new Response("never asked"),
    async (elsewhere, asked) => {
      await withFakeOrg(
        async (_path, url) =>
          Response.json(
            await signedTokens(url, { id: `${elsewhere}/id/00D/005` }),
          ),
        async (url) => {
          const result = await runAgainst(url, ["--revoke"], { secret: false });
          assertEquals(result.code, 0, result.stderr);
          const [identity, revoked] = result.steps.slice(8);
          assertEquals(identity.data.skipped, true);
          assertStringIncludes(identity.data.reason, new URL(elsewhere).host);
          assertStringIncludes(result.stderr, "warning: skipped step 9");
          assertEquals(revoked.data.identity_status_after, null);
          assertEquals(asked, [], "the foreign host never saw the token");
        },
      );
    },
  );
});

Deno.test("a client dripping its request stalls neither step 6 nor Ctrl+C by more than a second", async () => {
  await withDemoOrg(async (org, redirect) => {
    const port = Number(new URL(redirect).port);
    const script = spawn(orgArgs(org, redirect));
    const step3 = await script.waitForStep(3);
    await script.waitForStep(4);
    const drip = dripInto(port);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    await playDemoUser(step3.data.authorization_url);
    const result = await script.finish();
    const took = Date.now() - started;
    await drip.stop();
    assertEquals(result.code, 0, result.stderr);
    assert(took < 2_500, `the flow waited ${took} ms for the slow client`);
  });
  const redirect = redirectUri();
  const script = spawn([
    ...UNREACHED_ORG,
    "--json",
    "--redirect-uri",
    redirect,
  ]);
  await script.waitForStep(4);
  const drip = dripInto(Number(new URL(redirect).port));
  await new Promise((resolve) => setTimeout(resolve, 300));
  const started = Date.now();
  script.child.kill("SIGINT");
  const result = await script.finish();
  const took = Date.now() - started;
  await drip.stop();
  assertEquals(result.code, 130);
  assert(took < 2_000, `Ctrl+C took ${took} ms`);
});

// ---------------------------------------------------------------------------
// The check before the browser, and the demo org as learners meet it
// ---------------------------------------------------------------------------

/** A fake org that answers the check before the browser with `authorize()`, and the token and identity requests as Salesforce would. */
function checkedOrg(authorize: () => Response | Promise<Response>) {
  return async (path: string, url: string) =>
    path === "/services/oauth2/authorize"
      ? await authorize()
      : path === "/services/oauth2/token"
      ? Response.json(await signedTokens(url))
      : Response.json({ user_id: "0055g00000FAKEUAAA" });
}

Deno.test("the check never stops a flow that would work: an OAuth server that is not Salesforce completes", async () => {
  const answers: [string, () => Response][] = [
    [
      "a login page",
      () =>
        new Response("<html><form>Log in</form></html>", {
          headers: { "content-type": "text/html" },
        }),
    ],
    [
      "a redirect",
      () =>
        new Response(null, { status: 302, headers: { location: "/login" } }),
    ],
    [
      "an error page that is not the bare text",
      () =>
        new Response("<p>error=invalid_client_id&error_description=x</p>", {
          status: 400,
        }),
    ],
  ];
  for (const [name, page] of answers) {
    await withFakeOrg(
      checkedOrg(page),
      async (url, received) => {
        const result = await runAgainst(url, [], { check: true });
        assertEquals(result.code, 0, `${name}: ${result.stderr}`);
        assertEquals(result.steps[3].data.check.outcome, "looks fine", name);
        assertMatch(received[0], /^GET \/services\/oauth2\/authorize /);
      },
    );
  }
});

Deno.test("the check says unknown and goes on when the org does not answer within 5 seconds", async () => {
  await withFakeOrg(
    async (path, url) => {
      if (path === "/services/oauth2/authorize") {
        await new Promise((resolve) => setTimeout(resolve, 5_500));
        return new Response("late");
      }
      return path === "/services/oauth2/token"
        ? Response.json(await signedTokens(url))
        : Response.json({ user_id: "0055g00000FAKEUAAA" });
    },
    async (url) => {
      const result = await runAgainst(url, ["--no-identity"], { check: true });
      assertEquals(result.code, 0, result.stderr);
      assertEquals(result.steps[3].data.check.outcome, "unknown");
    },
  );
});

Deno.test("the check says unknown and goes on when the org's answer starts at once but its body does not end within 5 seconds", async () => {
  await withFakeOrg(
    checkedOrg(() => new Response(endlessBody("e", 100), { status: 400 })),
    async (url) => {
      const result = await runAgainst(url, ["--no-identity"], { check: true });
      assertEquals(result.code, 0, result.stderr);
      assertEquals(result.steps[3].data.check.outcome, "unknown");
      assertStringIncludes(
        result.steps[3].data.check.meaning,
        "no whole answer within 5 seconds",
      );
    },
  );
});

Deno.test("the check stops only on Salesforce's own refusal (400 and the bare text); anything else looks fine or is unknown", async () => {
  const bare =
    "error=invalid_client_id&error_description=client%20identifier%20invalid";
  const answers: [string, () => Response, string][] = [
    ["the bare text with 200", () => new Response(bare), "looks fine"],
    ["the bare text with a 302", () =>
      new Response(bare, {
        status: 302,
        headers: { location: "/login" },
      }), "looks fine"],
    [
      "the bare text with 401",
      () => new Response(bare, { status: 401 }),
      "looks fine",
    ],
    [
      "an endless 200 page (not read: only a 400 can be the refusal)",
      () => new Response(endlessBody("<p>log in</p>".repeat(5000))),
      "looks fine",
    ],
    [
      "a 200 page that stalls after its first bytes (not waited for)",
      () =>
        new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(new TextEncoder().encode("<p>log in"));
            },
          }),
        ),
      "looks fine",
    ],
    [
      "an endless 400 (past the first KB: not the short text)",
      () => new Response(endlessBody(bare.repeat(1000)), { status: 400 }),
      "unknown",
    ],
    [
      "a 400 cut short once it had begun",
      () =>
        new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(new TextEncoder().encode("error=invalid_cl"));
              // Deno prints this one line: the fake org cuts its answer short on purpose.
              controller.error("(a fake org's answer, cut short on purpose)");
            },
          }),
          { status: 400 },
        ),
      "unknown",
    ],
    [
      "the bare text, then more than a KB of padding",
      () => new Response(bare + " ".repeat(2000), { status: 400 }),
      "unknown",
    ],
  ];
  for (const [name, page, outcome] of answers) {
    await withFakeOrg(
      checkedOrg(page),
      async (url) => {
        const result = await runAgainst(url, ["--no-identity"], {
          check: true,
        });
        assertEquals(result.code, 0, `${name}: ${result.stderr}`);
        assertEquals(result.steps[3].data.check.outcome, outcome, name);
        assertFalse(result.stderr.includes("looks like a bug"), name);
      },
    );
  }
});

Deno.test("access_denied at the check stops the run before the browser, and never says that someone clicked Deny", async () => {
  await withFakeOrg(
    () =>
      new Response(
        "error=access_denied&error_description=end-user%20denied%20authorization",
        { status: 400 },
      ),
    async (url) => {
      const redirect = redirectUri();
      const result = await run([
        "--instance-url",
        url,
        "--client-id",
        "3MVG9fake",
        "--redirect-uri",
        redirect,
        "--no-browser",
        "--json",
      ]);
      assertEquals(result.code, 1, result.stderr);
      assertEquals(result.steps.map((s) => s.step), [1, 2, 3, null]);
      const failure = result.steps.at(-1)!.data;
      assertEquals(failure.error, "access_denied");
      assertStringIncludes(failure.error_description, "before sign-in");
      assertFalse(/clicked Deny/i.test(failure.hint), failure.hint);
      assertFalse(failure.hint.includes(hintFor("access_denied")));
      assertStringIncludes(failure.hint, "before anyone signed in");
    },
  );
});

Deno.test({
  name:
    "an endless answer to the check keeps memory flat: the script's peak resident memory stays under 200 MiB",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await withFakeOrg(
      () => new Response(endlessBody("x".repeat(1 << 20)), { status: 400 }),
      async (url) => {
        const script = spawn([
          "--instance-url",
          url,
          "--client-id",
          "3MVG9fake",
          "--redirect-uri",
          redirectUri(),
          "--no-browser",
          "--json",
          "--timeout",
          "1",
        ]);
        let peakKiB = 0;
        let exited = false;
        script.child.status.then(() => (exited = true));
        while (!exited) {
          const text = await Deno.readTextFile(
            `/proc/${script.child.pid}/status`,
          ).catch(() => "");
          const kib = Number(/VmHWM:\s+(\d+)/.exec(text)?.[1] ?? 0);
          peakKiB = Math.max(peakKiB, kib);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        const result = await script.finish();
        assert(peakKiB > 0, "the peak was read");
        assert(peakKiB < 200 * 1024, `peak ${Math.round(peakKiB / 1024)} MiB`);
        assertEquals(
          result.steps[3]?.data.check.outcome,
          "unknown",
          result.stderr,
        );
      },
    );
  },
});

Deno.test("an answer that never ends is cut at its cap: unexpected_response naming the limit, never a crash", async () => {
  const endless = () =>
    new Response(endlessBody(`{"padding":"${"x".repeat(65_536)}`), {
      headers: { "content-type": "application/json" },
    });
  const cases: [string, string, string[], string][] = [
    ["token response", "/services/oauth2/token", [], "64 KiB"],
    ["identity response", "/id/00D5g000004FAKEEAA/0055g00000FAKEUAAA", [
      "--no-check",
    ], "64 KiB"],
    ["revocation response", "/services/oauth2/revoke", [
      "--no-identity",
      "--revoke",
    ], "16 KiB"],
  ];
  for (const [what, endlessPath, args, limit] of cases) {
    await withFakeOrg(
      async (path, url) =>
        path === endlessPath
          ? endless()
          : path === "/services/oauth2/token"
          ? Response.json(await signedTokens(url))
          : Response.json({ user_id: "0055g00000FAKEUAAA" }),
      async (url) => {
        const result = await runAgainst(url, args);
        assertEquals(result.code, 1, `${what}: ${result.stderr}`);
        const failure = result.steps.at(-1)!.data;
        assertEquals(failure.error, "unexpected_response", what);
        assertStringIncludes(
          failure.error_description,
          `Cannot use the ${what} from 127.0.0.1:`,
          what,
        );
        assertStringIncludes(
          failure.error_description,
          `larger than ${limit}`,
          what,
        );
      },
    );
  }
});

Deno.test("--no-check skips the check, and the demo org's answer to it looks fine", async () => {
  await withDemoOrg(async (org, redirect) => {
    const checked = await runApproved(orgArgs(org, redirect));
    assertEquals(checked.steps[3].data.check.outcome, "looks fine");
    const skipped = await runApproved([
      ...orgArgs(org, redirect),
      "--no-check",
    ]);
    assertEquals(skipped.steps[3].data.check, {
      outcome: "skipped",
      meaning: "--no-check",
    });
  });
});

Deno.test("--demo with a scope the demo app lacks ends with invalid_scope from the org's own page, without waiting", async () => {
  const started = Date.now();
  const result = await run([
    "--demo",
    "--no-browser",
    "--json",
    "--scope",
    "api chatter_api",
    "--redirect-uri",
    redirectUri(),
  ]);
  assertEquals(result.code, 1, result.stderr);
  assertEquals(result.steps.at(-1)?.data.error, "invalid_scope");
  assertEquals(result.steps.at(-1)?.data.hint, hintFor("invalid_scope"));
  assert(Date.now() - started < 3_000);
});

Deno.test("--no-secret sends no client secret: with --demo the app does not need one, and the signature is not checked", async () => {
  const result = await run([
    "--demo",
    "--no-browser",
    "--json",
    "--no-secret",
    "--redirect-uri",
    redirectUri(),
  ]);
  assertEquals(result.code, 0, result.stderr);
  assertEquals(result.steps[0].data.client_secret, null);
  assertStringIncludes(
    result.steps[0].data.settings_from.client_secret,
    "--no-secret",
  );
  assertFalse("client_secret" in result.steps[5].data.payload);
  assertEquals(
    result.steps[6].data.signature,
    "not checked (no client secret)",
  );
});

Deno.test("--demo ignores SF_* variables and .env, and says which flags it ignores", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/.env`,
      "SF_SCOPE=web\nSF_REDIRECT_URI=http://localhost:1/elsewhere\n",
    );
    const result = await run([
      "--demo",
      "--no-browser",
      "--json",
      "--refresh",
      "--client-id",
      "3MVG9mine",
      "--redirect-uri",
      redirectUri(),
    ], { cwd: dir, env: { SF_SCOPE: "chatter_api" } });
    assertEquals(result.code, 0, result.stderr);
    assertEquals(result.steps.at(-1)?.step, 10);
    assertFalse("scope" in result.steps[2].data.query);
    assertStringIncludes(
      result.stderr,
      "warning: --client-id ignored: --demo uses the demo org and its app",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------
// Newer token responses: JWT-based access tokens, api_instance_url, approvals
// ---------------------------------------------------------------------------

Deno.test("--demo --demo-jwt: step 7 recognises the JWT-based access token and shows its header and claims, the token still masked", async () => {
  const result = await run([
    "--demo",
    "--demo-jwt",
    "--no-browser",
    "--json",
    "--refresh",
  ]);
  assertEquals(result.code, 0, result.stderr);
  assertStringIncludes(
    result.stderr,
    "Its app issues JWT-based access tokens.",
  );
  const step7 = result.steps.find((s) => s.step === 7)!.data;
  assertEquals(step7.body.token_format, "jwt");
  assertMatch(step7.body.access_token, /^eyJ[\w-]{3}…[\w-]{4}$/);
  assertEquals(step7.access_token_format, "jwt");
  const jwt = step7.access_token_jwt;
  assertStringIncludes(
    jwt.about,
    'a JWT-based access token (token_format "jwt")',
  );
  assertEquals(jwt.header.tty, "sfdc-core-token");
  assertEquals(jwt.header.alg, "RS256");
  assertEquals(
    jwt.claims.client_id,
    "3MVG9DemoOrg.LocalWalkthrough_PKCE_Client",
  );
  assertEquals(jwt.claims.scp, step7.body.scope);
  assertEquals(jwt.exp_iso, new Date(jwt.claims.exp * 1000).toISOString());
  assertStringIncludes(
    jwt.treat_as_opaque,
    "Clients should treat it as opaque",
  );
  // It works where an opaque one does: the identity URL, and a refresh.
  assertEquals(
    result.steps.find((s) => s.step === 9)!.data.username,
    "learner@demo-org.example",
  );
  assertEquals(
    result.steps.find((s) => s.step === 10)!.data.access_token_format,
    "jwt",
  );
});

Deno.test("an opaque access token is said to be opaque, and nothing is decoded", async () => {
  const result = await run(["--demo", "--no-browser", "--json"]);
  assertEquals(result.code, 0, result.stderr);
  const step7 = result.steps.find((s) => s.step === 7)!.data;
  assertEquals(step7.access_token_format, "opaque");
  assertFalse("access_token_jwt" in step7);
});

Deno.test("step 8 explains api_instance_url when sfap_api is granted, and says nothing of it otherwise", async () => {
  const granted = await run(["--demo", "--no-browser", "--json"]);
  assertEquals(granted.code, 0, granted.stderr);
  const step8 = granted.steps.find((s) => s.step === 8)!.data;
  assertStringIncludes(step8.scope, "sfap_api");
  assertEquals(step8.api_instance_url, "https://api.salesforce.com");
  assertStringIncludes(step8.api_instance_url_is, "Salesforce API Platform");
  assertStringIncludes(step8.api_instance_url_is, "Agent API");
  const without = await run([
    "--demo",
    "--no-browser",
    "--json",
    "--scope",
    "api refresh_token",
  ]);
  assertEquals(without.code, 0, without.stderr);
  assertFalse(
    "api_instance_url" in without.steps.find((s) => s.step === 8)!.data,
  );
});

Deno.test("the closing note names the five-approvals limit where approvals pile up, and only there", async () => {
  const limit = "the org keeps five per user per app";
  await withDemoOrg(async (org, redirect) => {
    const kept = await runApproved(orgArgs(org, redirect));
    assertEquals(kept.code, 0, kept.stderr);
    assertStringIncludes(kept.stderr, limit);
    // Revoked at step 11: that approval is gone.
    const revoked = await runApproved([...orgArgs(org, redirect), "--revoke"]);
    assertEquals(revoked.code, 0, revoked.stderr);
    assertFalse(revoked.stderr.includes(limit));
  });
  // The in-process demo org is new each run: nothing piles up.
  const demo = await run(["--demo", "--no-browser", "--json"]);
  assertEquals(demo.code, 0, demo.stderr);
  assertFalse(demo.stderr.includes(limit));
});

// ---------------------------------------------------------------------------
// No dead ends: what the browser shows, and what the terminal then says
// ---------------------------------------------------------------------------

Deno.test({
  name:
    "with --demo and a browser, the org's invalid_scope page ends the run at once with invalid_scope and its hint",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const launcher = await recordingLauncher();
    try {
      const script = spawnAskingForMissingScope(launcher.path);
      // The browser: signs in, and lands on the org's own error page.
      const error = await signInAndDecide(await launcher.opened()).then(
        () => undefined,
        (error) => error,
      );
      assertInstanceOf(error, DemoUserError);
      assertEquals(error.error, "invalid_scope");
      const result = await script.finish();
      assertEquals(result.code, 1, result.stderr);
      const failure = result.steps.at(-1)!.data;
      assertEquals(failure.error, "invalid_scope");
      assertEquals(
        failure.error_description,
        "the requested scope is not allowed",
      );
      assertEquals(failure.hint, hintFor("invalid_scope"));
    } finally {
      await launcher.remove();
    }
  },
});

Deno.test("the callback pages (code, error, refused) each say in one sentence that the script serves them", async () => {
  const servedBy =
    "This page is served by the script on your machine; the org sent your browser here.";
  await withDemoOrg(async (org, redirect) => {
    const script = spawn(orgArgs(org, redirect));
    const { state } = (await script.waitForStep(3)).data.query;
    await script.waitForStep(4);
    const rejected = await browse(`${redirect}?code=x&state=not-ours`);
    assertEquals(rejected.status, 400);
    assertStringIncludes(
      rejected.text,
      "This page is served by the script on your machine; what sent your browser here was not the sign-in this run started.",
    );
    const denied = await browse(
      `${redirect}?error=access_denied&error_description=end-user+denied+authorization&state=${state}`,
    );
    assertStringIncludes(denied.text, "<title>Access denied</title>");
    assertStringIncludes(denied.text, servedBy);
    await script.finish();
  });
  await withDemoOrg(async (org, redirect) => {
    const script = spawn(orgArgs(org, redirect));
    const { state } = (await script.waitForStep(3)).data.query;
    await script.waitForStep(4);
    const code = await browse(`${redirect}?code=made-up&state=${state}`);
    assertEquals(code.status, 200);
    assertStringIncludes(code.text, servedBy);
    await script.finish();
  });
});

Deno.test("redirect_uri_mismatch shows the redirect URI that was sent, and where it came from", async () => {
  await withDemoOrg(async (org) => {
    const sent = redirectUri(); // not the one the demo app registered
    const result = await run([
      "--instance-url",
      org.url,
      "--client-id",
      org.client.client_id,
      "--redirect-uri",
      sent,
      "--no-browser",
      "--json",
    ]);
    assertEquals(result.code, 1, result.stderr);
    const failure = result.steps.at(-1)!.data;
    assertEquals(failure.error, "redirect_uri_mismatch");
    assertStringIncludes(
      failure.error_description,
      `(redirect_uri sent: ${sent})`,
    );
    assertStringIncludes(
      failure.hint,
      `This run sent redirect_uri ${sent} (from --redirect-uri)`,
    );
  });
});

Deno.test("without --json: step 7 shows a JWT-based access token's header and claims in a few lines, step 8 what api_instance_url is for, step 10 that the old refresh token is dead", async () => {
  const result = await run([
    "--demo",
    "--demo-jwt",
    "--demo-rotate",
    "--no-browser",
    "--refresh",
  ]);
  assertEquals(result.code, 0, result.stderr);
  const [step7, step8, step10] = ["## 7.", "## 8.", "## 10."].map((heading) =>
    result.stdout.split(heading)[1].split("\n## ")[0]
  );
  assertMatch(
    step7,
    /access_token: +eyJ\S+, a JWT; clients treat it as opaque:/,
  );
  assertStringIncludes(step7, "header: alg RS256, tty sfdc-core-token; also");
  assertMatch(
    step7,
    /claims: sub uid:\S+, client_id \S+, exp 20\d\d-\d\d-\d\dT/,
  );
  assertMatch(
    step8,
    /api_instance_url: +https:\/\/api\.salesforce\.com \(Agent API, Models API\)\n/,
  );
  assertMatch(
    step10,
    /refresh_token: 5Aep86\S+ \(new: the org rotated it; step 8's is dead, and presenting it again revokes the whole login\)/,
  );
});
