/**
 * The walkthrough, tested as a user runs it: spawned with `Deno.execPath()`,
 * `--json`, against the demo org or a small fake org that a test controls.
 * Unit tables cover the pure pieces (URL building, callback checks, hints).
 */

import {
  assert,
  assertEquals,
  assertFalse,
  assertMatch,
  assertNotEquals,
  assertStringIncludes,
} from "@std/assert";
import { playDemoUser, signIdentity } from "./demo_org.ts";
import {
  browse,
  childEnv,
  type Finished,
  freePort,
  MAIN,
  orgArgs,
  redirectUri,
  run,
  runApproved,
  secrets,
  spawn,
  transcript,
  withDemoOrg,
} from "./_test_utils.ts";
import {
  browserCommands,
  buildAuthorizeUrl,
  createLineReader,
  hintFor,
  mask,
  readCallback,
} from "./main.ts";
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

/** A real-looking org that these tests never reach: they end before step 6. */
const UNREACHED_ORG = [
  "--instance-url",
  "https://acme.my.salesforce.com",
  "--client-id",
  "3MVG9x",
  "--no-browser",
];

/** Raw Salesforce-shaped tokens: an org id and "!", or a 5Aep861 refresh token. */
const RAW_TOKEN =
  /00D[A-Za-z0-9]{12}![A-Za-z0-9._]{8,}|5Aep861[A-Za-z0-9._]{8,}/;

// ---------------------------------------------------------------------------
// Unit tables
// ---------------------------------------------------------------------------

Deno.test("buildAuthorizeUrl() sends every parameter once, encoded once, and scope only when set", () => {
  const query = {
    client_id: "3MVG9.key_with+plus",
    redirect_uri: "http://localhost:8000/callback",
    response_type: "code" as const,
    code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    code_challenge_method: "S256" as const,
    state: "a/b=c&d",
  };
  const url = buildAuthorizeUrl("https://acme.my.salesforce.com", query);
  assertEquals(
    url.origin + url.pathname,
    "https://acme.my.salesforce.com/services/oauth2/authorize",
  );
  assertEquals(Object.fromEntries(url.searchParams), query);
  assertFalse(url.searchParams.has("scope"));
  assertStringIncludes(
    url.search,
    "redirect_uri=http%3A%2F%2Flocalhost%3A8000%2Fcallback&",
  );
  assertStringIncludes(url.search, "client_id=3MVG9.key_with%2Bplus&");
  assertStringIncludes(url.search, "state=a%2Fb%3Dc%26d");
  assertFalse(url.search.includes("%25"), "nothing is encoded twice");
  for (const key of Object.keys(query)) {
    assertEquals(url.searchParams.getAll(key).length, 1, key);
  }
  const scoped = buildAuthorizeUrl("https://acme.my.salesforce.com", {
    ...query,
    scope: "api refresh_token",
  });
  assertEquals(scoped.searchParams.get("scope"), "api refresh_token");
  assertStringIncludes(scoped.search, "scope=api+refresh_token");
});

Deno.test("readCallback() accepts one code or error with our state, and rejects the rest", () => {
  const state = "expected-state";
  const cases: [string, string, string][] = [
    [`code=abc&state=${state}`, "code", "abc"],
    [`code=a%2Bb%3D%3D&state=${state}`, "code", "a+b=="],
    [
      `error=access_denied&error_description=end-user+denied+authorization&state=${state}`,
      "error",
      "access_denied",
    ],
    ["code=abc", "rejected", "it has no state"],
    ["code=abc&state=other", "rejected", "its state does not match ours"],
    [
      `code=abc&state=${state}&state=${state}`,
      "rejected",
      "state appears more than once",
    ],
    [`code=a&code=b&state=${state}`, "rejected", "code appears more than once"],
    [
      `error=x&error=y&state=${state}`,
      "rejected",
      "error appears more than once",
    ],
    [`state=${state}`, "rejected", "it has no code"],
    [`code=&state=${state}`, "rejected", "it has no code"],
    [
      `code=${"a".repeat(5000)}&state=${state}`,
      "rejected",
      "the query is too long",
    ],
    [
      "error=access_denied&state=forged",
      "rejected",
      "its state does not match ours",
    ],
  ];
  for (const [query, kind, detail] of cases) {
    const outcome = readCallback(new URLSearchParams(query), state);
    assertEquals(outcome.kind, kind, query);
    const value = outcome.kind === "code"
      ? outcome.code
      : outcome.kind === "error"
      ? outcome.error
      : outcome.reason;
    assertEquals(value, detail, query);
  }
});

Deno.test("hintFor() gives a specific hint for each known error, and a generic one otherwise", () => {
  const cases: [string, string, string][] = [
    ["access_denied", "", "clicked Deny"],
    ["OAUTH_EC_APP_NOT_FOUND", "", "My Domain"],
    ["invalid_scope", "", "scopes"],
    ["immediate_unsuccessful", "", "log in or approve"],
    ["inactive_user", "", "inactive"],
    ["inactive_org", "", "locked"],
    ["invalid_client_id", "", "up to 10 minutes"],
    ["invalid_client", "", "consumer secret"],
    ["redirect_uri_mismatch", "", "exactly"],
    ["unsupported_grant_type", "", "form POST"],
    ["invalid_grant", "expired authorization code", "15 minutes"],
    ["invalid_grant", "invalid code verifier", "code_challenge"],
    ["invalid_grant", "authentication failure", "credentials"],
    ["invalid_grant", "ip restricted", "IP"],
    ["invalid_grant", "user hasn't approved this consumer", "Allow"],
    ["invalid_grant", "expired access/refresh token", "revoked"],
    ["invalid_grant", "something new", "run the flow again"],
    ["brand_new_error", "", "error reference"],
  ];
  for (const [error, description, expected] of cases) {
    assertStringIncludes(hintFor(error, description), expected, error);
  }
});

Deno.test("mask() keeps a short prefix and suffix, and hides short values whole", () => {
  const token =
    "00Dak0000000000!X5uk20JAGuO3FR8gPDO607BR6ffWfaFIKQb7YOCBw08b3FE0TDG1fVp8aeCTq25OdC0B9yD8W1Ajiv46Y3Pm3o37j51qB3LK";
  assertEquals(mask(token, false), "00Dak0…B3LK");
  assertEquals(mask(token, true), token);
  assertEquals(mask("short-secret", false), "********");
});

Deno.test("createLineReader() hands each line to the first who asks, and none to a reader that gave up", async () => {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const lines = createLineReader(readable);
  const send = (text: string) => writer.write(new TextEncoder().encode(text));

  const gaveUp = new AbortController();
  const abandoned = lines.next(gaveUp.signal); // like the paste path after the callback won
  const waiting = lines.next(); // like --pause asking next
  gaveUp.abort();
  assertEquals(await abandoned, null);
  await send("first line\r\nsec");
  assertEquals(
    await waiting,
    "first line",
    "the line went to the reader still waiting",
  );
  await send("ond\nthird\nunterminated");
  assertEquals(await lines.next(), "second");
  assertEquals(await lines.next(), "third");
  await writer.close();
  assertEquals(await lines.next(), "unterminated");
  assertEquals(await lines.next(), null, "end of input");
});

Deno.test("browserCommands() picks each platform's own launcher and passes the URL whole", () => {
  const url =
    "https://acme.my.salesforce.com/services/oauth2/authorize?a=1&b=2";
  const cases: [typeof Deno.build.os, boolean, string[][]][] = [
    ["darwin", false, [["open", url]]],
    ["linux", false, [["xdg-open", url]]],
    ["freebsd", false, [["xdg-open", url]]],
    ["windows", false, [["rundll32", "url.dll,FileProtocolHandler", url]]],
    ["linux", true, [["wslview", url], [
      "rundll32.exe",
      "url.dll,FileProtocolHandler",
      url,
    ]]],
  ];
  for (const [os, wsl, expected] of cases) {
    assertEquals(browserCommands(os, url, wsl), expected, `${os} wsl=${wsl}`);
  }
  // Never through a shell: `cmd /c start` would cut the URL at the first "&".
  assertFalse(JSON.stringify(browserCommands("windows", url)).includes("cmd"));
});

// ---------------------------------------------------------------------------
// End to end, as a user runs it
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
  assertEquals(
    pkce.data.code_challenge,
    await createCodeChallenge(pkce.data.code_verifier),
  );
  assertEquals(authorize.data.query.code_challenge, pkce.data.code_challenge);
  assertEquals(authorize.data.query.code_challenge_method, "S256");
  assertMatch(authorize.data.query.state, /^[A-Za-z0-9_-]{43}$/);
  assertEquals(callback.data.bound_address, "127.0.0.1");
  assertEquals(code.data.state_verified, true);
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

Deno.test("without --json each step prints '## N. Title' and its data as indented JSON", async () => {
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
  assertStringIncludes(first, '  {\n    "instance": "http://127.0.0.1:');
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

async function assertConnectionRefused(port: number) {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
  } catch (error) {
    assert(error instanceof Deno.errors.ConnectionRefused, String(error));
    return;
  }
  throw new Error(`port ${port} still accepts connections`);
}

Deno.test("settings come from flags, then environment variables, then .env", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/.env`,
      "# a comment\nSF_INSTANCE_URL=http://127.0.0.1:9\nSF_CLIENT_ID='from-dotenv'\nSF_SCOPE=api\n",
    );
    const first = (r: Finished) => r.steps.find((s) => s.step === 1)?.data;
    const common = [
      "--no-browser",
      "--json",
      "--timeout",
      "0.2",
      "--redirect-uri",
      redirectUri(),
    ];
    const fromFile = await run(common, { cwd: dir });
    assertEquals(first(fromFile), {
      instance: "http://127.0.0.1:9",
      client_id: "from-dotenv",
      redirect_uri: common.at(-1),
    });
    assertEquals(fromFile.steps[2].data.query.scope, "api");

    const fromEnv = await run(common, {
      cwd: dir,
      env: { SF_CLIENT_ID: "from-env", SF_INSTANCE_URL: "http://127.0.0.2:9" },
    });
    assertEquals(first(fromEnv)?.client_id, "from-env");
    assertEquals(first(fromEnv)?.instance, "http://127.0.0.2:9");

    const fromFlag = await run([...common, "--client-id", "from-flag"], {
      cwd: dir,
      env: { SF_CLIENT_ID: "from-env" },
    });
    assertEquals(first(fromFlag)?.client_id, "from-flag");
    assertEquals(first(fromFlag)?.instance, "http://127.0.0.1:9");
    for (const result of [fromFile, fromEnv, fromFlag]) {
      assertEquals(result.code, 1); // no callback came: a timeout
      assertEquals(result.steps.at(-1)?.data.error, "timeout");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("with no configuration at all the script names what is missing and offers --demo", async () => {
  const result = await run([]);
  assertEquals(result.code, 2);
  assertEquals(result.stdout, "");
  assertStringIncludes(result.stderr, "--instance-url (or SF_INSTANCE_URL)");
  assertStringIncludes(result.stderr, "--client-id (or SF_CLIENT_ID)");
  assertStringIncludes(result.stderr, "--demo");
  assertFalse(result.stderr.includes("    at "), "no stack trace");
});

Deno.test("--help prints the usage and exits 0", async () => {
  const result = await run(["--help"]);
  assertEquals(result.code, 0);
  for (
    const flag of [
      "--instance-url",
      "--demo",
      "--no-browser",
      "--json",
      "--show-secrets",
      "--refresh",
      "--revoke",
      "--save",
    ]
  ) {
    assertStringIncludes(result.stdout, flag);
  }
});

// ---------------------------------------------------------------------------
// Bad configuration: exit 2, naming the flag or variable, nothing started
// ---------------------------------------------------------------------------

Deno.test("bad configuration exits 2 with a message naming the setting and a hint", async () => {
  const id = ["--client-id", "3MVG9x"];
  const org = ["--instance-url", "https://acme.my.salesforce.com"];
  type Case = [
    string,
    string[],
    string,
    { env?: Record<string, string>; dotEnv?: string | "dir" }?,
  ];
  const cases: Case[] = [
    ["missing instance", id, "missing --instance-url"],
    ["missing client id", org, "missing --client-id"],
    [
      "unparsable instance",
      ["--instance-url", "acme.my.salesforce.com", ...id],
      'Cannot use --instance-url: not a URL "acme.my.salesforce.com"',
    ],
    ["http to a remote host", [
      "--instance-url",
      "http://acme.my.salesforce.com",
      ...id,
    ], "http is only allowed for loopback hosts"],
    ["another scheme", [
      "--instance-url",
      "ftp://acme.my.salesforce.com",
      ...id,
    ], "the scheme must be https"],
    ["a path", [
      "--instance-url",
      "https://acme.my.salesforce.com/services/oauth2",
      ...id,
    ], "without a path, query or fragment"],
    ["a query", [
      "--instance-url",
      "https://acme.my.salesforce.com/?x=1",
      ...id,
    ], "without a path, query or fragment"],
    ["a fragment", [
      "--instance-url",
      "https://acme.my.salesforce.com/#x",
      ...id,
    ], "without a path, query or fragment"],
    ["a Lightning domain", [
      "--instance-url",
      "https://acme.lightning.force.com",
      ...id,
    ], "https://acme.my.salesforce.com"],
    ["https redirect", [
      ...org,
      ...id,
      "--redirect-uri",
      "https://localhost:8000/callback",
    ], "Cannot use --redirect-uri: it must use http"],
    ["remote redirect", [
      ...org,
      ...id,
      "--redirect-uri",
      "http://example.com:8000/callback",
    ], "its host must be localhost or 127.0.0.1"],
    ["redirect without a path", [
      ...org,
      ...id,
      "--redirect-uri",
      "http://localhost:8000",
    ], "it needs a path"],
    ["redirect with a fragment", [
      ...org,
      ...id,
      "--redirect-uri",
      "http://localhost:8000/callback#x",
    ], "it must not have a fragment"],
    ["unparsable redirect", [
      ...org,
      ...id,
      "--redirect-uri",
      "localhost:8000/callback",
    ], "Cannot use --redirect-uri"],
    [
      "non-numeric timeout",
      [...org, ...id, "--timeout", "soon"],
      'Cannot use --timeout: not a positive number of seconds "soon"',
    ],
    ["zero timeout", [...org, ...id, "--timeout", "0"], "Cannot use --timeout"],
    [
      "negative timeout",
      [...org, ...id, "--timeout=-5"],
      "Cannot use --timeout",
    ],
    [
      "timeout value like a flag",
      [...org, ...id, "--timeout", "-5"],
      "'--timeout=-XYZ'",
    ],
    [
      "unknown flag",
      [...org, ...id, "--frobnicate"],
      "Unknown option '--frobnicate'",
    ],
    [
      "positional argument",
      [...org, ...id, "extra"],
      "Unexpected argument 'extra'",
    ],
    ["flag without value", [...org, "--client-id"], "argument missing"],
    ["bad variable", id, 'Cannot use SF_INSTANCE_URL: not a URL "nope"', {
      env: { SF_INSTANCE_URL: "nope" },
    }],
    [
      "bad .env value",
      id,
      "Cannot use SF_INSTANCE_URL in .env: http is only allowed",
      { dotEnv: "SF_INSTANCE_URL=http://example.com\n" },
    ],
    ["bad redirect variable", [...org, ...id], "Cannot use SF_REDIRECT_URI", {
      env: { SF_REDIRECT_URI: "http://localhost:8000/" },
    }],
    ["unreadable .env", [...org, ...id], "Cannot read .env", { dotEnv: "dir" }],
    [
      "--save to an existing file",
      [...org, ...id, "--save", "existing.json"],
      'the file already exists "existing.json"',
    ],
  ];
  for (const [name, args, message, options] of cases) {
    const dir = await Deno.makeTempDir();
    try {
      if (options?.dotEnv === "dir") await Deno.mkdir(`${dir}/.env`);
      else if (options?.dotEnv) {
        await Deno.writeTextFile(`${dir}/.env`, options.dotEnv);
      }
      await Deno.writeTextFile(`${dir}/existing.json`, "keep me");
      const before = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      const result = await run(["--no-browser", ...args], {
        cwd: dir,
        env: options?.env,
      });
      assertEquals(result.code, 2, `${name}: ${result.stderr}`);
      assertEquals(result.stdout, "", `${name}: no step was started`);
      assertStringIncludes(result.stderr, message, name);
      assertMatch(
        result.stderr,
        /^error: invalid_configuration: .+\nhint: .+\n$/,
        name,
      );
      const after = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      assertEquals(after, before, `${name}: no file written`);
      assertEquals(await Deno.readTextFile(`${dir}/existing.json`), "keep me");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("with --json a failure is one JSON line on stdout", async () => {
  const result = await run(["--json", "--client-id", "x"]);
  assertEquals(result.code, 2);
  assertEquals(result.steps.length, 1);
  const [failure] = result.steps;
  assertEquals(failure.step, null);
  assertEquals(failure.title, "OAuth Flow Failed");
  assertEquals(Object.keys(failure.data), [
    "error",
    "error_description",
    "hint",
  ]);
  assertStringIncludes(failure.data.error_description, "--instance-url");
});

// ---------------------------------------------------------------------------
// While waiting for the callback
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
    assertEquals(
      result.stderr.match(/warning: ignored a callback/g)?.length,
      7,
    );
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

Deno.test("--timeout with no valid callback exits 1 naming the usual causes", async () => {
  const result = await run([
    ...UNREACHED_ORG,
    "--timeout",
    "0.3",
    "--redirect-uri",
    redirectUri(),
  ]);
  assertEquals(result.code, 1);
  assertStringIncludes(
    result.stderr,
    "error: timeout: Cannot complete sign-in: no valid callback arrived within 0.3 seconds",
  );
  for (
    const cause of [
      "redirect_uri_mismatch",
      "invalid_client_id",
      "missing required code challenge",
    ]
  ) {
    assertStringIncludes(result.stderr, cause);
  }
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test(`${signal} closes the callback server and exits 130 with one line`, async () => {
    const redirect = redirectUri();
    const script = spawn([
      ...UNREACHED_ORG,
      "--json",
      "--redirect-uri",
      redirect,
    ]);
    await script.waitForStep(4);
    await waitUntilListening(Number(new URL(redirect).port));
    script.child.kill(signal);
    const result = await script.finish();
    assertEquals(result.code, 130);
    assertEquals(result.steps.at(-1)?.data.error, "interrupted");
    assertEquals(
      result.steps.filter((s) => s.step === null).length,
      1,
      "one failure line",
    );
    assertFalse(
      result.stderr.includes("error"),
      "nothing else said: " + result.stderr,
    );
    await assertConnectionRefused(Number(new URL(redirect).port));
  });
}

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
    "the callback server and the demo org listen on 127.0.0.1 and nowhere else",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await withDemoOrg(async (org, redirect) => {
      const script = spawn(orgArgs(org, redirect));
      const step3 = await script.waitForStep(3);
      await script.waitForStep(4);
      // 0100007F is 127.0.0.1 in the kernel's byte order; 0.0.0.0 or :: would be 00000000…
      assertEquals(listeningAddresses(Number(new URL(redirect).port)), [
        "0100007F",
      ]);
      assertEquals(listeningAddresses(Number(new URL(org.url).port)), [
        "0100007F",
      ]);
      await playDemoUser(step3.data.authorization_url);
      assertEquals((await script.finish()).code, 0);
    });
  },
});

Deno.test("without --json an interrupt prints one line", async () => {
  const redirect = redirectUri();
  const human = spawn([
    ...UNREACHED_ORG,
    "--redirect-uri",
    redirect,
  ]);
  await waitUntilListening(Number(new URL(redirect).port));
  human.child.kill("SIGINT");
  const result = await human.finish();
  assertEquals(result.code, 130);
  const lines = result.stderr.trim().split("\n").filter((line) =>
    !line.startsWith("→")
  );
  assertEquals(lines, [
    "interrupted: Cannot finish the flow: interrupted, and the callback server is closed. Run the script again to start over.",
  ]);
});

async function waitUntilListening(port: number) {
  for (let i = 0; i < 100; i++) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`nothing listens on ${port}`);
}

Deno.test("a busy callback port exits 1 naming the port and the Callback URL to change", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const { port } = listener.addr;
    const result = await run([
      ...UNREACHED_ORG,
      "--redirect-uri",
      `http://localhost:${port}/callback`,
    ]);
    assertEquals(result.code, 1);
    assertStringIncludes(result.stderr, `port ${port} on 127.0.0.1 is in use`);
    assertStringIncludes(result.stderr, "Callback URL must then change");
  } finally {
    listener.close();
  }
});

// ---------------------------------------------------------------------------
// The token exchange, against a fake org the test controls
// ---------------------------------------------------------------------------

const FAKE_SECRET = "fake-org-client-secret-value";
secrets.add(FAKE_SECRET);

/** A tiny org: answers the token, identity and revoke endpoints as told. */
async function withFakeOrg(
  answer: (path: string, url: string) => Response | Promise<Response>,
  fn: (url: string, received: string[]) => Promise<void>,
) {
  const received: string[] = [];
  const server: Deno.HttpServer<Deno.NetAddr> = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
  }, async (request): Promise<Response> => {
    const { pathname } = new URL(request.url);
    received.push(`${request.method} ${pathname} ${await request.text()}`);
    return answer(pathname, `http://127.0.0.1:${server.addr.port}`);
  });
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`, received);
  } finally {
    await server.shutdown();
  }
}

/** A token response signed as Salesforce signs it. */
async function signedTokens(url: string, extra: Record<string, string> = {}) {
  const id = `${url}/id/00D5g000004FAKEEAA/0055g00000FAKEUAAA`;
  const issued_at = "1770952407907";
  return {
    access_token:
      "00D5g000004FAKE!fakeAccessTokenValue.abcdefghijklmnopqrstuvwxyz0123",
    refresh_token: "5Aep861fakeRefreshTokenValue.abcdefghijklmnopqrstuvwxyz",
    signature: await signIdentity(FAKE_SECRET, id, issued_at),
    scope: "api id refresh_token",
    instance_url: url,
    id,
    token_type: "Bearer",
    issued_at,
    ...extra,
  };
}

/** Runs the script up to the callback, hands it a code, and lets it finish. */
async function runAgainst(
  instanceUrl: string,
  extraArgs: string[] = [],
): Promise<Finished> {
  const redirect = redirectUri();
  const script = spawn([
    "--instance-url",
    instanceUrl,
    "--client-id",
    "3MVG9fake",
    "--client-secret",
    FAKE_SECRET,
    "--redirect-uri",
    redirect,
    "--no-browser",
    "--json",
    ...extraArgs,
  ]);
  const { state } = (await script.waitForStep(3)).data.query;
  await script.waitForStep(4);
  await browse(`${redirect}?code=fake-code%3D%3D&state=${state}`);
  return await script.finish();
}

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
  assertEquals(revoked.title, "Token Revoked");
  assertEquals(revoked.data.revoked, "refresh_token");
  assertEquals(revoked.data.status, 200);
  assertEquals(revoked.data.identity_status_after, 401);
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

Deno.test("--show-secrets prints tokens whole, but never the client secret", async () => {
  await withDemoOrg(async (org, redirect) => {
    const result = await runApproved(
      [...orgArgs(org, redirect), "--show-secrets", "--no-identity"],
      { record: false }, // it prints tokens on purpose
    );
    assertEquals(result.code, 0, result.stderr);
    assertEquals(result.steps[7].data.access_token, org.issued[0]);
    assertFalse(result.stdout.includes(org.client.client_secret));
    assertEquals(result.steps[5].data.payload.client_secret, "********");
  });
});

// ---------------------------------------------------------------------------
// Wherever the learner is: pasted URLs, launchers, terminals
// ---------------------------------------------------------------------------

/** Approves on the demo org's consent page but, like a browser that cannot reach this machine, stops at the redirect. */
async function approveWithoutCallback(
  authorizationUrl: string,
): Promise<string> {
  const page = await browse(authorizationUrl);
  const consent = /name="consent" value="([^"]+)"/.exec(page.text)![1];
  const decided = await browse(
    new URL("/services/oauth2/authorize", authorizationUrl).href,
    {
      method: "POST",
      body: new URLSearchParams({ consent, decision: "allow" }),
    },
  );
  assertEquals(decided.status, 302);
  return decided.headers.get("location")!;
}

Deno.test("a redirect URL pasted on standard input completes the flow with no callback request at all", async () => {
  await withDemoOrg(async (org, redirect) => {
    const script = spawn(orgArgs(org, redirect), { stdin: "piped" });
    const writer = script.child.stdin.getWriter();
    try {
      const step3 = await script.waitForStep(3);
      await script.waitForStep(4);
      const location = await approveWithoutCallback(
        step3.data.authorization_url,
      );
      const forged = new URL(location);
      forged.searchParams.set("state", "forged");
      const type = (line: string) =>
        writer.write(new TextEncoder().encode(line + "\n"));
      await type("I clicked Allow");
      await type(step3.data.authorization_url); // the wrong URL: no code in it
      await type(forged.href);
      await type("  " + location + "  ");
      const step5 = await script.waitForStep(5);
      assertEquals(
        step5.data.authorization_code,
        new URL(location).searchParams.get("code"),
      );
      // Standard input stays open: the script must not wait for it.
      const result = await script.finish();
      assertEquals(result.code, 0, result.stderr);
      assertEquals(result.steps.at(-1)?.step, 9);
      assertStringIncludes(result.stderr, "Paste the full URL");
      assertEquals(
        result.stderr.match(/not the URL the org redirected to/g)?.length,
        2,
      );
      assertStringIncludes(
        result.stderr,
        "ignored the pasted URL because its state does not match ours",
      );
      assertFalse(
        result.stderr.includes("ignored a callback"),
        "nothing reached the callback server",
      );
    } finally {
      await writer.close().catch(() => {});
    }
  });
});

Deno.test("an error pasted on standard input ends the flow as a callback error would", async () => {
  await withDemoOrg(async (org, redirect) => {
    const script = spawn(orgArgs(org, redirect), { stdin: "piped" });
    const { state } = (await script.waitForStep(3)).data.query;
    await script.waitForStep(4);
    const writer = script.child.stdin.getWriter();
    await writer.write(
      new TextEncoder().encode(
        `${redirect}?error=access_denied&error_description=end-user+denied+authorization&state=${state}\n`,
      ),
    );
    await writer.close();
    const result = await script.finish();
    assertEquals(result.code, 1);
    assertEquals(result.steps.at(-1)?.data.error, "access_denied");
  });
});

Deno.test("--pause is ignored when standard input is not a terminal", async () => {
  const script = spawn([
    "--demo",
    "--no-browser",
    "--pause",
    "--redirect-uri",
    redirectUri(),
  ], { stdin: "piped" });
  const result = await script.finish(); // nobody presses Enter
  await script.child.stdin.close();
  assertEquals(result.code, 0, result.stderr);
  assertFalse(result.stderr.includes("Press Enter"));
});

/** Runs the script on a pseudo-terminal (util-linux `script`), typing `keys` once it has started. */
async function runOnTerminal(
  args: string[],
  keys: string[],
  env: Record<string, string> = {},
) {
  const command = [Deno.execPath(), "run", "-A", MAIN, ...args].map((a) =>
    `'${a}'`
  ).join(" ");
  const cwd = await Deno.makeTempDir();
  const child = new Deno.Command("script", {
    args: ["-qfec", `${command}; echo "EXIT=$?"`, "/dev/null"],
    env: childEnv({ TERM: "xterm", ...env }),
    clearEnv: true,
    cwd,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const output = new Response(child.stdout).text();
  const writer = child.stdin.getWriter();
  for (const key of keys) {
    await new Promise((resolve) => setTimeout(resolve, 400));
    await writer.write(new TextEncoder().encode(key));
  }
  await new Promise((resolve) => setTimeout(resolve, 400));
  await writer.close();
  await child.status;
  await Deno.remove(cwd, { recursive: true });
  const text = await output;
  transcript.push(text);
  return { text, code: Number(/EXIT=(\d+)/.exec(text)?.[1]) };
}

const hasScript = Deno.build.os === "linux" &&
  (() => {
    try {
      return new Deno.Command("script", { args: ["--version"] }).outputSync()
        .success;
    } catch {
      return false;
    }
  })();

Deno.test({
  name:
    "--pause on a terminal introduces each step, waits for Enter, and q quits with 130",
  ignore: !hasScript,
  async fn() {
    const { text, code } = await runOnTerminal(
      ["--demo", "--no-browser", "--pause", "--redirect-uri", redirectUri()],
      ["\n", "\n", "q\n"],
    );
    assertEquals(code, 130, text);
    assertStringIncludes(text, "First the settings");
    assertStringIncludes(text, "Press Enter for step 2");
    assertStringIncludes(text, "## 2. PKCE Generated");
    assertFalse(text.includes("## 3."), "stopped before step 3");
    assertStringIncludes(
      text,
      "quit: Cannot finish the flow: stopped before step 3",
    );
  },
});

Deno.test({
  name:
    "step headings are coloured on a terminal, and NO_COLOR turns colour off",
  ignore: !hasScript,
  async fn() {
    const args = ["--demo", "--no-browser", "--no-identity", "--redirect-uri"];
    const coloured = await runOnTerminal([...args, redirectUri()], [], {
      NO_COLOR: "",
    });
    assertEquals(coloured.code, 0, coloured.text);
    assertStringIncludes(
      coloured.text,
      "\x1b[1;36m## 1. OAuth Flow Started\x1b[0m",
    );
    const plain = await runOnTerminal([...args, redirectUri()], [], {
      NO_COLOR: "1",
    });
    assertEquals(plain.code, 0, plain.text);
    assertStringIncludes(plain.text, "## 1. OAuth Flow Started");
    assertFalse(plain.text.includes("\x1b["));
  },
});

/** A directory holding a fake `xdg-open` that runs `body`. */
async function fakeLauncher(body: string): Promise<string> {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/xdg-open`,
    `#!/bin/sh\necho "$1" > "${dir}/opened"\n${body}\n`,
    { mode: 0o755 },
  );
  return dir;
}

Deno.test({
  name:
    "when no launcher works the script says so once and, with --demo, plays the demo user",
  ignore: Deno.build.os !== "linux",
  async fn() {
    for (const launcher of ["exit 3", null]) {
      const dir = launcher === null
        ? await Deno.makeTempDir()
        : await fakeLauncher(launcher);
      try {
        const result = await run([
          "--demo",
          "--json",
          "--redirect-uri",
          redirectUri(),
        ], {
          env: { PATH: dir }, // only the fake launcher, or none at all
        });
        assertEquals(result.code, 0, result.stderr);
        assertEquals(
          result.stderr.match(/could not open a browser/g)?.length,
          1,
        );
        assertStringIncludes(result.stderr, "plays the demo user");
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }
  },
});

Deno.test({
  name:
    "a launcher that stays in the foreground gets the URL whole and never keeps the script alive",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const dir = await fakeLauncher("sleep 30");
    try {
      await withDemoOrg(async (org, redirect) => {
        const args = orgArgs(org, redirect).filter((a) => a !== "--no-browser");
        const script = spawn(args, { env: { PATH: `${dir}:/usr/bin:/bin` } });
        const step3 = await script.waitForStep(3);
        await script.waitForStep(4);
        await playDemoUser(step3.data.authorization_url);
        const started = Date.now();
        const result = await script.finish();
        assertEquals(result.code, 0, result.stderr);
        assert(
          Date.now() - started < 10_000,
          "the script did not wait for the launcher",
        );
        assertStringIncludes(result.stderr, "opened the browser");
        assertEquals(
          (await Deno.readTextFile(`${dir}/opened`)).trim(),
          step3.data.authorization_url,
        );
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("deno task start and deno task demo complete the flow with their narrow permissions", async () => {
  const root = new URL(".", import.meta.url).pathname;
  for (const task of ["start", "demo"]) {
    const extra = task === "start"
      ? ["--demo", "--refresh", "--revoke"]
      : ["--refresh"];
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "task",
        "-q",
        task,
        "--no-browser",
        "--json",
        ...extra,
        "--redirect-uri",
        redirectUri(),
      ],
      cwd: root,
      env: childEnv(),
      clearEnv: true,
      stdin: "null",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    const stderr = new TextDecoder().decode(output.stderr);
    transcript.push(stdout, stderr);
    assertEquals(output.code, 0, `${task}: ${stderr}`);
    assertFalse(stderr.includes("NotCapable"), stderr);
    const last = JSON.parse(stdout.trim().split("\n").at(-1)!);
    assertEquals(last.step, task === "start" ? 11 : 10, task);
  }
});

Deno.test("demo_org.ts runs alone, prints its URL, client id and secret, and serves the walkthrough", async () => {
  const redirect = redirectUri();
  const org = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./demo_org.ts", import.meta.url).pathname,
      "--port",
      "0",
      "--redirect-uri",
      redirect,
    ],
    env: childEnv(),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(org.stderr).text();
  const reader = org.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let banner = "";
  while (!banner.includes("scopes:")) {
    banner += (await reader.read()).value ?? "";
  }
  try {
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(banner)![1];
    const clientId = /client_id:\s+(\S+)/.exec(banner)![1];
    const secret = /client_secret:\s+(\S+)/.exec(banner)![1];
    secrets.add(secret);
    const result = await runApproved([
      "--instance-url",
      url,
      "--client-id",
      clientId,
      "--client-secret",
      secret,
      "--redirect-uri",
      redirect,
      "--no-browser",
      "--json",
    ]);
    assertEquals(result.code, 0, result.stderr);
    assertEquals(result.steps[6].data.signature, "valid");
  } finally {
    org.kill("SIGTERM");
    await org.status;
    await reader.cancel();
    await stderr;
  }
  const bad = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./demo_org.ts", import.meta.url).pathname,
      "--bogus",
    ],
    stdin: "null",
  }).output();
  assertEquals(bad.code, 2);
  assertStringIncludes(
    new TextDecoder().decode(bad.stderr),
    "Unknown option '--bogus'",
  );
});

// Runs last: everything above was recorded.
Deno.test("no client secret, access token or refresh token appears in any output or page", () => {
  const everything = transcript.join("\n");
  assert(everything.length > 10_000, "the transcript holds the runs above");
  assert(secrets.size > 3);
  for (const secret of secrets) {
    assertFalse(
      everything.includes(secret),
      `a secret leaked: ${secret.slice(0, 6)}…`,
    );
  }
  const raw = RAW_TOKEN.exec(everything);
  assertEquals(raw, null, `a raw token leaked: ${raw?.[0].slice(0, 12)}…`);
});
