/**
 * Unit tables for the walkthrough's pieces, called directly: URL building,
 * callback checks, hints, masking, the line reader, launchers, configuration
 * and the token response checks. A few cases spawn the script where only the
 * process can show it (exit code, what reaches stderr, nothing written).
 */

import {
  assert,
  assertEquals,
  assertFalse,
  assertInstanceOf,
  assertMatch,
  assertStringIncludes,
  assertThrows,
} from "./_test_deps.ts";
import { run } from "./_test_utils.ts";
import {
  accessTokenFormat,
  accessTokenHash,
  browserCommands,
  buildAuthorizeUrl,
  type Config,
  createLineReader,
  decodeJwt,
  editDistance,
  EXIT_FAILED,
  EXIT_USAGE,
  FlowError,
  hintFor,
  loadConfig,
  mask,
  MAX_LINE,
  proxyVariableFor,
  readCallback,
  readDotEnv,
  renderFields,
  type SettingSources,
  showJwtAccessToken,
  STEPS,
  validateTokenResponse,
  verifyRs256,
  wrap,
} from "./main.ts";

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
// Configuration: loadConfig() with the environment and .env it is given
// ---------------------------------------------------------------------------

/** Settings sources for a test: these variables, and this .env. */
function sources(
  env: Record<string, string> = {},
  dotEnv: Record<string, string> = {},
): SettingSources {
  return { env: (name) => env[name], dotEnv: () => dotEnv };
}

function load(
  args: string[],
  env?: Record<string, string>,
  dotEnv?: Record<string, string>,
): Config {
  const config = loadConfig(args, sources(env, dotEnv));
  if (config === null) throw new Error("loadConfig() took this for --help");
  return config;
}

Deno.test("loadConfig() takes each setting from its flag, then its variable, then .env", () => {
  const dotEnv = {
    SF_INSTANCE_URL: "http://127.0.0.1:9",
    SF_CLIENT_ID: "from-dotenv",
    SF_SCOPE: "api",
  };
  const fromFile = load([], {}, dotEnv);
  assertEquals(
    [fromFile.instanceUrl, fromFile.clientId, fromFile.scope],
    ["http://127.0.0.1:9", "from-dotenv", "api"],
  );
  const env = {
    SF_CLIENT_ID: "from-env",
    SF_INSTANCE_URL: "http://127.0.0.2:9",
  };
  const fromEnv = load([], env, dotEnv);
  assertEquals(
    [fromEnv.instanceUrl, fromEnv.clientId],
    ["http://127.0.0.2:9", "from-env"],
  );
  const fromFlag = load(["--client-id", "from-flag"], {
    SF_CLIENT_ID: "from-env",
  }, dotEnv);
  assertEquals(
    [fromFlag.instanceUrl, fromFlag.clientId],
    ["http://127.0.0.1:9", "from-flag"],
  );
  // An empty variable does not hide .env.
  assertEquals(load([], { SF_CLIENT_ID: "" }, dotEnv).clientId, "from-dotenv");
});

Deno.test("loadConfig() fills in defaults, and --demo needs nothing else", () => {
  const config = load([
    "--instance-url",
    "https://acme.my.salesforce.com",
    "--client-id",
    "3MVG9x",
  ]);
  assertEquals(config.redirectUri, "http://localhost:8000/callback");
  assertEquals(config.timeoutSeconds, 300);
  assertEquals(config.scope, undefined);
  assertEquals(config.clientSecret, undefined);
  assertEquals(
    [config.openBrowser, config.identity, config.refresh, config.json],
    [true, true, false, false],
  );
  const demo = load(["--demo"], { SF_INSTANCE_URL: "nope", SF_CLIENT_ID: "x" });
  assertEquals([demo.demo, demo.instanceUrl, demo.clientId], [true, "", ""]);
  assertEquals(loadConfig(["--help"], sources()), null);
});

Deno.test("loadConfig() refuses bad configuration naming the setting, with exit code 2", () => {
  const id = ["--client-id", "3MVG9x"];
  const org = ["--instance-url", "https://acme.my.salesforce.com"];
  const existing = Deno.makeTempFileSync();
  type Case = [
    string,
    string[],
    string,
    Record<string, string>?,
    Record<string, string>?,
  ];
  const cases: Case[] = [
    ["missing instance", id, "missing --instance-url (or SF_INSTANCE_URL)"],
    ["missing client id", org, "missing --client-id (or SF_CLIENT_ID)"],
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
    ["a Lightning address pasted from the address bar", [
      "--instance-url",
      "https://acme.lightning.force.com/lightning/page/home",
      ...id,
    ], "that is the Lightning UI domain, not the login domain"],
    ["a Setup address", [
      "--instance-url",
      "https://acme.my.salesforce-setup.com/lightning/setup/OrgDomain/home",
      ...id,
    ], "probably https://acme.my.salesforce.com"],
    [
      "an empty client id",
      [...org, "--client-id", ""],
      "missing --client-id (or SF_CLIENT_ID) (--client-id is empty)",
    ],
    [
      "a blank instance URL",
      ["--instance-url", "  ", ...id],
      "missing --instance-url (or SF_INSTANCE_URL) (--instance-url is empty)",
    ],
    [
      "an empty client secret",
      [...org, ...id, "--client-secret", ""],
      "Cannot use --client-secret: it is empty",
    ],
    [
      "--demo-rotate without --demo",
      [...org, ...id, "--demo-rotate"],
      "Cannot use --demo-rotate without --demo",
    ],
    [
      "--demo-jwt without --demo",
      [...org, ...id, "--demo-jwt"],
      "Cannot use --demo-jwt without --demo",
    ],
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
      "write --timeout=SECONDS for a value that starts with",
    ],
    [
      "unknown flag",
      [...org, ...id, "--frobnicate"],
      'no such flag "--frobnicate"',
    ],
    [
      "positional argument",
      [...org, ...id, "extra"],
      "a value without a flag before it",
    ],
    [
      "a week-long timeout (past a 32-bit timer)",
      [...org, ...id, "--timeout", "2147484"],
      'longer than a day (86400 seconds) "2147484"',
    ],
    [
      "redirect to port 0",
      [...org, ...id, "--redirect-uri", "http://localhost:0/callback"],
      "port 0 is not a port",
    ],
    [
      "a password in the instance URL",
      ["--instance-url", "https://:hunter2@acme.my.salesforce.com", ...id],
      'must not carry a user name or password "https://…@acme.my.salesforce.com"',
    ],
    [
      "a user and password in the instance URL",
      ["--instance-url", "https://me:hunter2@acme.my.salesforce.com/x", ...id],
      "must not carry a user name or password",
    ],
    [
      "--save into a missing directory",
      [...org, ...id, "--save", "no-such-dir/t.json"],
      'no such directory "no-such-dir"',
    ],
    [
      "control characters in a variable",
      id,
      'not a URL "nope\\u001b]0;TITLE\\u0007\\u009b2J"',
      { SF_INSTANCE_URL: "nope\u001b]0;TITLE\u0007\u009b2J" },
    ],
    [
      "flag without value",
      [...org, "--client-id"],
      "--client-id needs the app's consumer key",
    ],
    ["a misspelt flag", [...org, ...id, "--dmeo"], "Did you mean --demo?"],
    ["a value for a switch", [...org, ...id, "--json=yes"], "takes no value"],
    [
      "prototype name as a flag",
      [...org, ...id, "--constructor"],
      'no such flag "--constructor"',
    ],
    ["bad variable", id, 'Cannot use SF_INSTANCE_URL: not a URL "nope"', {
      SF_INSTANCE_URL: "nope",
    }],
    [
      "bad .env value",
      id,
      "Cannot use SF_INSTANCE_URL in .env: http is only allowed",
      {},
      { SF_INSTANCE_URL: "http://example.com" },
    ],
    ["bad redirect variable", [...org, ...id], "Cannot use SF_REDIRECT_URI", {
      SF_REDIRECT_URI: "http://localhost:8000/",
    }],
    [
      "--save to an existing file",
      [...org, ...id, "--save", existing],
      `the file already exists "${existing}"`,
    ],
  ];
  try {
    for (const [name, args, message, env, dotEnv] of cases) {
      const error = assertThrows(
        () => loadConfig(args, sources(env, dotEnv)),
        FlowError,
        undefined,
        name,
      );
      assertEquals(error.error, "invalid_configuration", name);
      assertEquals(error.exitCode, EXIT_USAGE, name);
      assertStringIncludes(
        `${error.error_description} ${error.hint}`,
        message,
        name,
      );
      assertFalse(error.error_description.includes("hunter2"), name);
      // deno-lint-ignore no-control-regex -- no control character may be echoed
      assertFalse(/[\u0000-\u001f\u009b]/.test(error.error_description), name);
      assert(error.hint.length > 10, `${name}: a hint`);
    }
  } finally {
    Deno.removeSync(existing);
  }
});

Deno.test("a stray space after --client-secret= never echoes the secret", () => {
  const error = assertThrows(
    () => loadConfig(["--client-secret=", "S3CRET-VALUE"], sources()),
    FlowError,
  );
  assertEquals(error.exitCode, EXIT_USAGE);
  assertFalse(`${error.error_description} ${error.hint}`.includes("S3CRET"));
  assertStringIncludes(error.hint, 'space after "="');
});

Deno.test("loadConfig() warns when the client secret comes from the command line, and only then", () => {
  const org = [
    "--instance-url",
    "https://acme.my.salesforce.com",
    "--client-id",
    "x",
  ];
  assertEquals(load([...org, "--client-secret", "s"]).warnings.length, 1);
  assertStringIncludes(
    load([...org, "--client-secret", "s"]).warnings[0],
    "SF_CLIENT_SECRET or .env",
  );
  assertEquals(load(org, { SF_CLIENT_SECRET: "s" }).warnings, []);
  assertEquals(load(org, {}, { SF_CLIENT_SECRET: "s" }).warnings, []);
});

Deno.test("readDotEnv() reads KEY=value lines, allows a missing file, and refuses an unreadable one", () => {
  const dir = Deno.makeTempDirSync();
  try {
    assertEquals(readDotEnv(`${dir}/.env`), {});
    Deno.writeTextFileSync(
      `${dir}/.env`,
      "# a comment\nSF_CLIENT_ID='quoted'\nSF_SCOPE=api id\n",
    );
    assertEquals(readDotEnv(`${dir}/.env`), {
      SF_CLIENT_ID: "quoted",
      SF_SCOPE: "api id",
    });
    const error = assertThrows(() => readDotEnv(dir), FlowError);
    assertStringIncludes(error.error_description, `Cannot read ${dir}`);
    assertEquals(error.exitCode, EXIT_USAGE);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("bad configuration exits 2 with one error and one hint line, and writes nothing", async () => {
  const cases: [string[], string, string?][] = [
    [
      [],
      "missing --instance-url (or SF_INSTANCE_URL) and --client-id (or SF_CLIENT_ID)",
    ],
    [
      ["--client-id", "x"],
      "Cannot use SF_INSTANCE_URL in .env: http is only allowed",
      "SF_INSTANCE_URL=http://example.com\n",
    ],
    [
      ["--demo", "--save", "existing.json"],
      'the file already exists "existing.json"',
    ],
    [["--demo", "--save", "new.json", "--bogus"], 'no such flag "--bogus"'],
  ];
  for (const [args, message, dotEnv] of cases) {
    const dir = await Deno.makeTempDir();
    try {
      if (dotEnv) await Deno.writeTextFile(`${dir}/.env`, dotEnv);
      await Deno.writeTextFile(`${dir}/existing.json`, "keep me");
      const before = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      const result = await run(["--no-browser", ...args], { cwd: dir });
      assertEquals(result.code, 2, result.stderr);
      assertEquals(result.stdout, "", "no step was started");
      assertStringIncludes(result.stderr, message);
      assertMatch(
        result.stderr,
        /^usage: .+\nhint: .+\n$/,
      );
      assertFalse(result.stderr.includes("    at "), "no stack trace");
      const after = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      assertEquals(after, before, "no file written");
      assertEquals(await Deno.readTextFile(`${dir}/existing.json`), "keep me");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("with no configuration at all the script names what is missing and offers --demo", async () => {
  const result = await run([]);
  assertEquals(result.code, 2);
  assertStringIncludes(result.stderr, "--demo");
});

Deno.test("--help prints every flag and its variable, and exits 0", async () => {
  const result = await run(["--help"]);
  assertEquals(result.code, 0);
  for (
    const text of [
      "--demo",
      "--no-browser",
      "--json",
      "--show-secrets",
      "--refresh",
      "--revoke",
      "--save FILE",
      "--pause",
      "Exit codes: 0 done",
    ]
  ) {
    assertStringIncludes(result.stdout, text);
  }
  assertMatch(result.stdout, /--instance-url URL +SF_INSTANCE_URL +the org/);
  assertMatch(result.stdout, /--client-secret S +SF_CLIENT_SECRET +the/);
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
// Errors and token responses
// ---------------------------------------------------------------------------

Deno.test("FlowError() looks its hint up from the error code, and keeps an explicit one", () => {
  const looked = new FlowError({
    error: "invalid_client_id",
    error_description: "client identifier invalid",
  });
  assertEquals(looked.hint, hintFor("invalid_client_id"));
  assertEquals(looked.exitCode, EXIT_FAILED);
  assertEquals(looked.message, "client identifier invalid");
  const cause = new Error("underneath");
  const explicit = new FlowError({
    error: "x",
    error_description: "y",
    hint: "do z",
    exitCode: EXIT_USAGE,
    cause,
  });
  assertEquals([explicit.hint, explicit.exitCode, explicit.cause], [
    "do z",
    EXIT_USAGE,
    cause,
  ]);
  assertInstanceOf(explicit, Error);
});

Deno.test("validateTokenResponse() needs Salesforce's fields, a Bearer type, and https or loopback URLs", () => {
  const good = {
    access_token: "00D!x",
    instance_url: "https://acme.my.salesforce.com",
    id: "https://login.salesforce.com/id/00D/005",
    token_type: "Bearer",
    issued_at: "1770952407907",
  };
  assertEquals(validateTokenResponse(good), good);
  assertEquals(
    validateTokenResponse({ ...good, instance_url: "http://127.0.0.1:9" })
      .instance_url,
    "http://127.0.0.1:9",
  );
  const cases: [Record<string, unknown>, string][] = [
    [{ ...good, access_token: "" }, "missing access_token"],
    [{ ...good, access_token: 42 }, "missing access_token"],
    [{ instance_url: "x" }, "missing access_token, id, token_type, issued_at"],
    [{ ...good, token_type: "MAC" }, 'token_type is not Bearer "MAC"'],
    [
      { ...good, instance_url: "http://evil.example" },
      'instance_url is not an https URL "http://evil.example"',
    ],
    [{ ...good, id: "javascript:alert(1)" }, "id is not an https URL"],
  ];
  for (const [body, message] of cases) {
    const error = assertThrows(() => validateTokenResponse(body), FlowError);
    assertEquals(error.error, "invalid_token_response");
    assertStringIncludes(error.error_description, message);
  }
});

Deno.test("createLineReader() cuts a huge line at MAX_LINE in linear time, and the next line is whole", async () => {
  const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
  const chunks = 640; // 40 MiB on one line, as a runaway paste would be
  let sent = 0;
  const readable = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent++ < chunks) controller.enqueue(chunk);
      else {
        controller.enqueue(new TextEncoder().encode("\nnext\n"));
        controller.close();
      }
    },
  });
  const lines = createLineReader(readable);
  const started = performance.now();
  const first = await lines.next();
  const took = performance.now() - started;
  assertEquals(first?.length, MAX_LINE);
  assertEquals(await lines.next(), "next");
  assertEquals(await lines.next(), null);
  assert(took < 3_000, `40 MiB took ${Math.round(took)} ms`);
});

// ---------------------------------------------------------------------------
// OpenID Connect: the pieces of the ID token check
// ---------------------------------------------------------------------------

/** RFC 7515 Appendix A.2: an RS256 JWS and the public half of its key. */
const RFC7515_A2 = {
  jws:
    "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw",
  jwk: {
    kty: "RSA",
    n: "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
    e: "AQAB",
  },
};

Deno.test("verifyRs256() accepts RFC 7515 A.2's example, and refuses it with one bit changed", async () => {
  const jwt = decodeJwt(RFC7515_A2.jws);
  assertEquals(jwt.header, { alg: "RS256" });
  assertEquals(jwt.claims, {
    iss: "joe",
    exp: 1300819380,
    "http://example.com/is_root": true,
  });
  assert(await verifyRs256(jwt, RFC7515_A2.jwk));
  const flippedSignature = { ...jwt, signature: jwt.signature.slice() };
  flippedSignature.signature[10] ^= 1;
  assertFalse(await verifyRs256(flippedSignature, RFC7515_A2.jwk));
  const flippedInput = { ...jwt, signingInput: jwt.signingInput.slice() };
  flippedInput.signingInput[20] ^= 1;
  assertFalse(await verifyRs256(flippedInput, RFC7515_A2.jwk));
});

Deno.test("decodeJwt() refuses what is not a compact JWS of two JSON objects", () => {
  const cases = [
    "",
    "only.two",
    "a.b.c.d",
    "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.sig",
    "WzFd.eyJhIjoxfQ.sig", // a JSON array as header
    "eyJhbGciOiJSUzI1NiJ9.bnVsbA.sig", // null as claims
  ];
  for (const jwt of cases) {
    const error = assertThrows(() => decodeJwt(jwt), FlowError, undefined, jwt);
    assertEquals(error.error, "invalid_id_token", jwt);
    assertStringIncludes(error.error_description, "format check failed", jwt);
  }
});

Deno.test("accessTokenHash() is the left half of the access token's SHA-256, base64url", async () => {
  // OpenID Connect Core's example: access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y" has at_hash "77QmUPtjPfzWtF2AnpK9RQ".
  assertEquals(
    await accessTokenHash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
    "77QmUPtjPfzWtF2AnpK9RQ",
  );
});

Deno.test("accessTokenFormat() and showJwtAccessToken() recognise a JWT-based access token, and never fail on one that does not decode", () => {
  const encode = (value: unknown) =>
    new TextEncoder().encode(JSON.stringify(value)).toBase64({
      alphabet: "base64url",
      omitPadding: true,
    });
  const jwt = `${encode({ alg: "RS256", tty: "sfdc-core-token" })}.${
    encode({ exp: 1767225600, scp: "api" })
  }.c2lnbmF0dXJl`;
  assertEquals(accessTokenFormat({ access_token: jwt }), "jwt");
  assertEquals(
    accessTokenFormat({
      access_token: "00D5g000004DEMO!AQ0AQ.x",
      token_format: "jwt",
    }),
    "jwt",
  );
  assertEquals(
    accessTokenFormat({ access_token: "00D5g000004DEMO!AQ0AQ.x" }),
    "opaque",
  );
  const shown = showJwtAccessToken({ access_token: jwt });
  assertEquals(shown.exp_iso, "2026-01-01T00:00:00.000Z");
  assertEquals(
    (shown.header as Record<string, unknown>).tty,
    "sfdc-core-token",
  );
  assertFalse(
    JSON.stringify(shown).includes(jwt),
    "the token itself is never shown",
  );
  const hostile: [string, string][] = [
    ["not a JWT at all", "not-a-jwt"],
    [
      "a claims part that is not JSON",
      `${encode({ alg: "RS256" })}.bm90IGpzb24.x`,
    ],
    [
      "nested past any sense",
      `${encode({ alg: "RS256" })}.${
        new TextEncoder().encode("[".repeat(5000) + "]".repeat(5000)).toBase64({
          alphabet: "base64url",
          omitPadding: true,
        })
      }.x`,
    ],
    [
      "an exp no date can hold",
      `${encode({ alg: "RS256" })}.${encode({ exp: 1e300 })}.x`,
    ],
  ];
  for (const [name, token] of hostile) {
    const result = showJwtAccessToken({
      access_token: token,
      token_format: "jwt",
    });
    assertStringIncludes(String(result.treat_as_opaque), "opaque", name);
    assertFalse("exp_iso" in result, name);
  }
});

Deno.test("proxyVariableFor() names the variable Deno's fetch would use, none for loopback or a NO_PROXY host", () => {
  const proxy = "http://proxy.example:3128";
  const cases: [string, Record<string, string>, string | undefined][] = [
    ["https://acme.my.salesforce.com", { HTTPS_PROXY: proxy }, "HTTPS_PROXY"],
    ["https://acme.my.salesforce.com", { https_proxy: proxy }, "https_proxy"],
    ["https://acme.my.salesforce.com", { HTTP_PROXY: proxy }, undefined],
    [
      "https://acme.my.salesforce.com",
      { ALL_PROXY: proxy, HTTPS_PROXY: proxy },
      "ALL_PROXY",
    ],
    ["http://example.com", { http_proxy: proxy }, "http_proxy"],
    ["https://acme.my.salesforce.com", {
      HTTPS_PROXY: proxy,
      NO_PROXY: ".salesforce.com",
    }, undefined],
    ["https://acme.my.salesforce.com", {
      HTTPS_PROXY: proxy,
      no_proxy: "acme.my.salesforce.com",
    }, undefined],
    [
      "https://acme.my.salesforce.com",
      { HTTPS_PROXY: proxy, NO_PROXY: "*" },
      undefined,
    ],
    ["https://acme.my.salesforce.com", {
      HTTPS_PROXY: proxy,
      NO_PROXY: "other.com, notsalesforce.com",
    }, "HTTPS_PROXY"],
    [
      "http://127.0.0.1:8080",
      { ALL_PROXY: proxy, HTTP_PROXY: proxy },
      undefined,
    ],
    ["http://localhost:8080", { ALL_PROXY: proxy }, undefined],
    ["http://[::1]:8080", { all_proxy: proxy }, undefined],
    ["https://acme.my.salesforce.com", {}, undefined],
  ];
  for (const [url, env, expected] of cases) {
    assertEquals(
      proxyVariableFor(url, (name) => env[name]),
      expected,
      `${url} ${JSON.stringify(env)}`,
    );
  }
});

Deno.test("main.ts and pkce.ts alone, as in a gist: no hint mentions --demo or .env.example, and the demo org is found in the repository", async () => {
  const gist = await Deno.makeTempDir();
  try {
    for (const file of ["main.ts", "pkce.ts"]) {
      await Deno.copyFile(new URL(file, import.meta.url), `${gist}/${file}`);
    }
    const runs = [
      ["missing settings", []],
      ["empty settings", ["--instance-url", "", "--client-id", ""]],
      ["a placeholder", [
        "--instance-url",
        "https://yourdomain.my.salesforce.com",
        "--client-id",
        "3MVG9x",
      ]],
      ["--demo", ["--demo", "--no-browser"]],
    ] as const;
    for (const [name, args] of runs) {
      const result = await run([...args, "--json"], {
        script: `${gist}/main.ts`,
      });
      assertEquals(result.code, EXIT_USAGE, name);
      const { hint } = result.steps.at(-1)!.data;
      assertFalse(hint.includes("--demo"), `${name}: ${hint}`);
      assertFalse(hint.includes(".env.example"), `${name}: ${hint}`);
      if (name !== "a placeholder") {
        assertStringIncludes(hint, "deno task demo-org in a clone", name);
      }
    }
    // Beside demo_org.ts, as in the repository, the same mistakes offer --demo.
    const repository = await run(["--json"]);
    assertStringIncludes(repository.steps.at(-1)!.data.hint, "run with --demo");
  } finally {
    await Deno.remove(gist, { recursive: true });
  }
});

Deno.test("deno task demo's permissions: --save names the command that can write the file", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("./deno.json", import.meta.url)),
  );
  const permissions = (config.tasks.demo as string).split(" ")
    .filter((word) => word.startsWith("--allow-"));
  const dir = await Deno.makeTempDir();
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...permissions,
        new URL("./main.ts", import.meta.url).pathname,
        "--demo",
        "--no-browser",
        "--save",
        "sf-tokens.json",
      ],
      cwd: dir,
      env: { PATH: Deno.env.get("PATH") ?? "", NO_COLOR: "1" },
      clearEnv: true,
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assertEquals(output.code, EXIT_USAGE, stderr);
    assertStringIncludes(stderr, "deno run -A main.ts --demo --save FILE");
    assertEquals([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------
// Text for people: wrapping, fields, typed-ahead lines, flags near a typo
// ---------------------------------------------------------------------------

Deno.test("wrap() breaks prose at spaces within the width, indents what follows, and never breaks a long word", () => {
  const url = `https://acme.my.salesforce.com/services/oauth2/authorize?${
    "x".repeat(100)
  }`;
  const cases: [string, number, string, string][] = [
    [
      "the org should send the browser back",
      16,
      "",
      "the org should\nsend the browser\nback",
    ],
    ["→ a remark that goes on", 12, "  ", "→ a remark\n  that goes\n  on"],
    [`open ${url} now`, 40, "", `open ${url}\nnow`],
    [
      "  name:  value and more",
      14,
      "         ",
      "  name:  value\n         and\n         more",
    ],
    ["two\nlines here", 6, "", "two\nlines\nhere"],
    ["as it is, however long", Infinity, "", "as it is, however long"],
  ];
  for (const [text, width, indent, wrapped] of cases) {
    assertEquals(wrap(text, width, indent), wrapped, text);
  }
  for (const line of wrap(STEPS[2].why, 80).split("\n")) {
    assert(line.length <= 80, line);
  }
});

Deno.test("renderFields() aligns names, nests objects, joins lists, wraps prose under its value, and is terminal-safe", () => {
  assertEquals(
    renderFields({
      port: 8000,
      bound_address: ["127.0.0.1", "::1"],
      check: { outcome: "looks fine", meaning: "one two three four five" },
      evil: "a\u001b[2Jb",
      empty: null,
    }, 32),
    [
      "  port:          8000",
      "  bound_address: 127.0.0.1, ::1",
      "  check:",
      "    outcome: looks fine",
      "    meaning: one two three four",
      "             five",
      "  evil:          a\\u001b[2Jb",
      "  empty:         null",
    ],
  );
});

Deno.test("createLineReader() drain() drops the lines typed ahead, and the next line counts", async () => {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const lines = createLineReader(() => readable);
  const waiting = lines.next();
  await writer.write(new TextEncoder().encode("\n\n\n"));
  assertEquals(await waiting, "");
  await new Promise((resolve) => setTimeout(resolve, 0)); // the reader takes in the rest
  lines.drain();
  const next = lines.next();
  await writer.write(new TextEncoder().encode("q\n"));
  assertEquals(await next, "q");
  await writer.close();
  assertEquals(await lines.next(), null);
});

Deno.test("editDistance() counts a swap of neighbours as one edit, so --dmeo is one from --demo", () => {
  const cases: [string, string, number][] = [
    ["dmeo", "demo", 1],
    ["demo", "demo", 0],
    ["refrsh", "refresh", 1],
    ["jsno", "json", 1],
    ["xyz", "demo", 4],
  ];
  for (const [a, b, distance] of cases) {
    assertEquals(editDistance(a, b), distance, `${a} ${b}`);
  }
});

Deno.test("--help and -h fit 80 columns", async () => {
  const help = await run(["--help"]);
  assertEquals(help.code, 0);
  for (const line of help.stdout.split("\n")) assert(line.length <= 80, line);
  assertStringIncludes(help.stdout, "--http");
  assertEquals((await run(["-h"])).stdout, help.stdout);
});
