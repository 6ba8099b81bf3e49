/**
 * Unit tables for the walkthrough's pieces, called directly: URL building,
 * callback checks, hints, masking, the line reader, launchers, configuration
 * and the token response checks. A few cases spawn the script where only the
 * process can show it (exit code, what reaches stderr, nothing written).
 */

import { parseEnv } from "node:util";
import {
  assert,
  assertEquals,
  assertFalse,
  assertInstanceOf,
  assertMatch,
  assertStringIncludes,
  assertThrows,
} from "./_test_deps.ts";
import {
  childEnv,
  endlessBody,
  MAIN,
  run,
  UNREACHED_ORG,
} from "./_test_utils.ts";
import {
  accessTokenFormat,
  accessTokenHash,
  type Answer,
  browserCommands,
  buildAuthorizeUrl,
  checkRefusal,
  type Config,
  createLineReader,
  decodeJwt,
  editDistance,
  EXIT_FAILED,
  EXIT_USAGE,
  fetchRefusal,
  type Flow,
  FlowError,
  hintFor,
  ignoredDotEnvLines,
  loadConfig,
  mask,
  MAX_LINE,
  parseJson,
  proxyVariableFor,
  readCallback,
  readDotEnv,
  readJson,
  renderFields,
  safeJson,
  send,
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

Deno.test("loadConfig() reads --flag=VALUE, --flag VALUE, switches and -h; the last of a repeated flag wins", () => {
  const org = ["--instance-url=https://acme.my.salesforce.com", "--client-id"];
  type Case = [string, string[], (config: Config) => unknown, unknown];
  const cases: Case[] = [
    ["value after =", [...org, "a"], (c) => c.clientId, "a"],
    [
      "value next",
      [...org, "a", "--scope", "api id"],
      (c) => c.scope,
      "api id",
    ],
    ["empty after =", [...org, "a", "--scope="], (c) => c.scope, undefined],
    ["= inside a value", [...org, "a", "--scope=a=b"], (c) => c.scope, "a=b"],
    ["last wins", [...org, "a", "--client-id=b"], (c) => c.clientId, "b"],
    ["a switch", [...org, "a", "--no-browser"], (c) => c.openBrowser, false],
    ["-- at the end", [...org, "a", "--"], (c) => c.clientId, "a"],
  ];
  for (const [name, args, read, expected] of cases) {
    assertEquals(read(load(args)), expected, name);
  }
  assertEquals(loadConfig(["--demo", "-h"], sources()), null);
  for (const args of [["stray"], ["--demo", "--", "x"], ["--demo", "-"]]) {
    const error = assertThrows(() => loadConfig(args, sources()), FlowError);
    assertEquals(error.exitCode, EXIT_USAGE, args.join(" "));
    assertStringIncludes(error.error_description, "a value without a flag");
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

/** What `deno info` says main.ts's graph is, and what of it a --demo run loads: main.ts's static imports, then demo_org.ts's. */
async function demoRunGraph() {
  const { stdout, success } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", MAIN],
    env: childEnv(),
    clearEnv: true,
    stdout: "piped",
    stderr: "null",
  }).output();
  assert(success, "deno info main.ts");
  type Dependency = {
    specifier: string;
    isDynamic?: boolean;
    code?: { specifier: string };
  };
  const graph: {
    modules: { specifier: string; dependencies?: Dependency[] }[];
  } = JSON.parse(new TextDecoder().decode(stdout));
  const edges = new Map(
    graph.modules.map((m) => [m.specifier, m.dependencies ?? []]),
  );
  const loaded = new Set<string>();
  const visit = (specifier: string) => {
    if (loaded.has(specifier)) return;
    loaded.add(specifier);
    for (const dependency of edges.get(specifier) ?? []) {
      if (!dependency.isDynamic) {
        visit(dependency.code?.specifier ?? dependency.specifier);
      }
    }
  };
  visit(new URL("./main.ts", import.meta.url).href);
  visit(new URL("./demo_org.ts", import.meta.url).href);
  return { edges, loaded };
}

Deno.test("a --demo run loads no Node module: node:util only for a .env, and for demo_org.ts's own command line", async () => {
  const { edges, loaded } = await demoRunGraph();
  assertEquals([...loaded].filter((s) => s.startsWith("node:")), []);
  const onDemand = [...edges].flatMap(([from, dependencies]) =>
    dependencies.filter((d) => d.specifier.startsWith("node:"))
      .map((d) => `${from.split("/").pop()} ${d.specifier}`)
  );
  assertEquals(onDemand.sort(), ["demo_org.ts node:util", "main.ts node:util"]);
});

Deno.test("the files a --demo run loads are ASCII, so that V8 holds their text at one byte a character", async () => {
  const { loaded } = await demoRunGraph();
  const files = [...loaded].filter((s) => s.startsWith("file:"));
  assert(files.length >= 10, `only ${files.length} files: ${files}`);
  const nonAscii = files.flatMap((file) =>
    Deno.readTextFileSync(new URL(file)).split("\n").flatMap((line, at) =>
      /[^ -~\t]/.test(line)
        ? [`${file.split("/").slice(-2).join("/")}:${at + 1}: ${line.trim()}`]
        : []
    )
  );
  assertEquals(nonAscii, [], "write such characters as escapes (\\u2026)");
});

Deno.test("readDotEnv() reads KEY=value lines, allows a missing file, and refuses an unreadable one", () => {
  const dir = Deno.makeTempDirSync();
  try {
    assertEquals(readDotEnv(parseEnv, `${dir}/.env`), {
      values: {},
      warnings: [],
    });
    Deno.writeTextFileSync(
      `${dir}/.env`,
      "# a comment\nSF_CLIENT_ID='quoted'\nSF_SCOPE=api id\n",
    );
    assertEquals(readDotEnv(parseEnv, `${dir}/.env`), {
      values: { SF_CLIENT_ID: "quoted", SF_SCOPE: "api id" },
      warnings: [],
    });
    const error = assertThrows(() => readDotEnv(parseEnv, dir), FlowError);
    assertStringIncludes(error.error_description, `Cannot read ${dir}`);
    assertEquals(error.exitCode, EXIT_USAGE);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

/** Text as Windows PowerShell 5's `>` writes it: UTF-16 with a byte-order mark, CRLF line ends. */
function utf16(text: string, order: "LE" | "BE", bom = true): Uint8Array {
  const crlf = text.replaceAll("\n", "\r\n");
  const bytes = new Uint8Array((bom ? 2 : 0) + crlf.length * 2);
  const view = new DataView(bytes.buffer);
  if (bom) view.setUint16(0, 0xfeff, order === "LE");
  for (let i = 0; i < crlf.length; i++) {
    view.setUint16((bom ? 2 : 0) + i * 2, crlf.charCodeAt(i), order === "LE");
  }
  return bytes;
}

Deno.test("readDotEnv() skips a UTF-8 byte-order mark, reads UTF-16 with one, and refuses what it cannot decode, naming .env and the encoding", () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/.env`;
  const settings =
    "SF_INSTANCE_URL=https://acme.my.salesforce.com\nSF_CLIENT_ID=3MVG9x\n";
  const values = {
    SF_INSTANCE_URL: "https://acme.my.salesforce.com",
    SF_CLIENT_ID: "3MVG9x",
  };
  const utf8 = new TextEncoder().encode(settings);
  const read: [string, Uint8Array, string[]][] = [
    ["UTF-8 with a BOM", new Uint8Array([0xef, 0xbb, 0xbf, ...utf8]), []],
    ["UTF-16LE with a BOM (PowerShell 5)", utf16(settings, "LE"), [
      `read ${path} as UTF-16LE; other tools expect UTF-8`,
    ]],
    ["UTF-16BE with a BOM", utf16(settings, "BE"), [
      `read ${path} as UTF-16BE; other tools expect UTF-8`,
    ]],
  ];
  const refused: [string, Uint8Array, string][] = [
    [
      "UTF-16LE without a BOM",
      utf16(settings, "LE", false),
      "holds NUL characters",
    ],
    [
      "Latin-1",
      new Uint8Array([...utf8, 0x23, 0xe9, 0x0a]),
      "it is not UTF-8 text",
    ],
    [
      "a broken UTF-16LE",
      new Uint8Array([0xff, 0xfe, 0x00, 0xd8, 0x41, 0x00]),
      "it is not UTF-16LE text",
    ],
    [
      "more than 64 KiB",
      new TextEncoder().encode("# x\n".repeat(20_000)),
      "larger than 64 KiB",
    ],
  ];
  try {
    for (const [name, bytes, warnings] of read) {
      Deno.writeFileSync(path, bytes);
      assertEquals(readDotEnv(parseEnv, path), { values, warnings }, name);
    }
    for (const [name, bytes, detail] of refused) {
      Deno.writeFileSync(path, bytes);
      const error = assertThrows(
        () => readDotEnv(parseEnv, path),
        FlowError,
        undefined,
        name,
      );
      assertStringIncludes(
        error.error_description,
        `Cannot read ${path}: `,
        name,
      );
      assertStringIncludes(error.error_description, detail, name);
      assertEquals(error.exitCode, EXIT_USAGE, name);
    }
    if (Deno.build.os !== "windows") {
      Deno.removeSync(path);
      Deno.symlinkSync("/dev/zero", path);
      const error = assertThrows(() => readDotEnv(parseEnv, path), FlowError);
      assertStringIncludes(error.error_description, "not a regular file");
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("ignoredDotEnvLines() names the lines parseEnv skips, and none that are settings, comments or inside a quoted value", () => {
  const cases: [string, number[]][] = [
    ["A=1\nB=2\n", []],
    ["# comment\n\n   \n  # indented comment\nA=1", []],
    ["SF_CLIENT_ID 3MVG9x\nA=1\nsecret-looking-line", [1, 3]],
    ["export A=1\nexport B\nexportC=2\nA B=3", [2]],
    ["=x\n =y\nK==v\nL=a=b", [1, 2]],
    ['A="multi\nline"\nB=1\nnot a setting', [4]],
    ["A='x\n# inside\ny'\nB=1", []],
    ["A=`unclosed\ny\nB=1", [2]],
    ['A="unclosed\nB=2\nC="3"\nD=4\nE', [5]],
    ["A=1\r\nB 2\r\nC=3\r\n", [2]],
    ["__proto__=x\nconstructor\n\u001b[2J", [2, 3]],
  ];
  for (const [text, ignored] of cases) {
    assertEquals(ignoredDotEnvLines(text), ignored, JSON.stringify(text));
  }
});

Deno.test("a .env with lines it ignores says which, by number only; a UTF-16 .env from PowerShell is read", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(
      `${dir}/.env`,
      utf16(
        "SF_INSTANCE_URL=https://acme.my.salesforce.com\nSF_CLIENT_ID=3MVG9x\nSF_CLIENT_SECRET hunter2-secret\n",
        "LE",
      ),
    );
    const result = await run([
      "--no-check",
      "--no-browser",
      "--json",
      "--timeout",
      "0.2",
    ], { cwd: dir });
    assertEquals(result.code, 1, result.stderr);
    assertEquals(
      result.steps[0].data.settings_from.instance,
      "SF_INSTANCE_URL in .env",
    );
    assertStringIncludes(result.stderr, "warning: read .env as UTF-16LE");
    assertStringIncludes(
      result.stderr,
      "warning: .env: ignored line 3: not KEY=value",
    );
    assertFalse(result.stderr.includes("hunter2"));
    assertFalse(result.stdout.includes("hunter2"));
  } finally {
    await Deno.remove(dir, { recursive: true });
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

Deno.test('--save "" and --save into a directory this user cannot write fail at start with exit 2, and leave nothing behind', async () => {
  const dir = await Deno.makeTempDir();
  // Root writes anywhere it has permission bits for: /sys refuses even root.
  const locked = Deno.uid() !== 0
    ? `${dir}/locked`
    : Deno.build.os === "linux"
    ? "/sys"
    : undefined;
  if (locked === `${dir}/locked`) await Deno.mkdir(locked, { mode: 0o500 });
  const cases: [string, string][] = [
    ["", 'Cannot use --save: no file name given ""'],
    [" ", 'Cannot use --save: no file name given " "'],
    ...(locked
      ? [[
        `${locked}/t.json`,
        `Cannot use --save: the file cannot be created there`,
      ] as [string, string]]
      : []),
  ];
  try {
    for (const [path, message] of cases) {
      const result = await run([
        ...UNREACHED_ORG,
        "--timeout",
        "1",
        "--save",
        path,
      ], { cwd: dir });
      assertEquals(result.code, 2, `${path}: ${result.stderr}`);
      assertEquals(result.stdout, "", `${path}: no step was started`);
      assertStringIncludes(result.stderr, message, path);
      assertMatch(
        result.stderr,
        /^usage: .+\nhint: .+\n$/,
      );
    }
    const left = [...Deno.readDirSync(dir)].map((e) => e.name);
    assertEquals(left, locked === `${dir}/locked` ? ["locked"] : []);
  } finally {
    await Deno.remove(dir, { recursive: true });
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

Deno.test("decodeJwt() refuses an ID token too long or nested too deep, before anything prints it", () => {
  const part = (value: unknown) =>
    new TextEncoder().encode(JSON.stringify(value)).toBase64({
      alphabet: "base64url",
      omitPadding: true,
    });
  let deep: unknown = 1;
  for (let i = 0; i < 1000; i++) deep = [deep];
  const cases: [string, string][] = [
    [
      `${part({ alg: "RS256" })}.${part({ deep })}.c2ln`,
      "nested deeper than 32 levels",
    ],
    [
      `${part({ alg: "RS256" })}.${part({ pad: "x".repeat(20_000) })}.c2ln`,
      "longer than 16384 characters",
    ],
    ["a".repeat(1_000_000), "longer than 16384 characters"],
  ];
  for (const [jwt, detail] of cases) {
    const error = assertThrows(
      () => decodeJwt(jwt),
      FlowError,
      undefined,
      detail,
    );
    assertEquals(error.error, "invalid_id_token");
    assertStringIncludes(error.error_description, `format check failed: `);
    assertStringIncludes(error.error_description, detail);
  }
  const ok = decodeJwt(
    `${part({ alg: "RS256" })}.${part({ a: [[["fine"]]] })}.c2ln`,
  );
  assertEquals(ok.claims, { a: [[["fine"]]] });
});

Deno.test("safeJson() never throws: a field that cannot be shown becomes a note, and the rest is still printed", () => {
  let deep: unknown = {};
  for (let i = 0; i < 100_000; i++) deep = { a: deep };
  const cyclic: Record<string, unknown> = { name: "loop" };
  cyclic.self = cyclic;
  const shown = JSON.parse(
    safeJson({ step: 7, data: { status: 200, id_token: { deep }, cyclic } }, 2),
  );
  assertEquals(shown.step, 7);
  assertEquals(shown.data.status, 200);
  assertMatch(shown.data.id_token.deep, /^\(cannot be shown: .*call stack/);
  assertEquals(shown.data.cyclic.name, "loop");
  assertMatch(shown.data.cyclic.self, /^\(cannot be shown: /);
  assertEquals(safeJson({ ok: "\u001b[2J" }), '{"ok":"\\u001b[2J"}');
  assertEquals(safeJson(undefined), "null");
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

Deno.test("proxyVariableFor() names the variable Deno's fetch would use, none for a host NO_PROXY exempts", () => {
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
    // Loopback too, as Deno's fetch has it: fetchDirectToLoopback steps around it.
    [
      "http://127.0.0.1:8080",
      { ALL_PROXY: proxy, HTTP_PROXY: proxy },
      "ALL_PROXY",
    ],
    ["http://localhost:8080", { http_proxy: proxy }, "http_proxy"],
    ["http://[::1]:8080", { HTTP_PROXY: proxy, NO_PROXY: "::1" }, undefined],
    [
      "http://localhost:8080",
      { HTTP_PROXY: proxy, no_proxy: "localhost" },
      undefined,
    ],
    ["https://acme.my.salesforce.com", {}, undefined],
  ];
  for (const [url, env, expected] of cases) {
    assertEquals(
      proxyVariableFor(url, env),
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
// Talking to the org: the URL policy, the one send(), and what it reads
// ---------------------------------------------------------------------------

Deno.test("fetchRefusal() lets through only https on the org's or Salesforce's hosts, and a loopback org itself", () => {
  const org = "https://acme.my.salesforce.com";
  const local = "http://127.0.0.1:4000";
  const cases: [string, string, string | undefined][] = [
    // The configured org, and Salesforce's own hosts.
    [org, "https://acme.my.salesforce.com/id/keys", undefined],
    [org, "https://login.salesforce.com/id/00D/005", undefined],
    [
      org,
      "https://test.salesforce.com/.well-known/openid-configuration",
      undefined,
    ],
    [org, "https://other--dev.sandbox.my.salesforce.com/id/keys", undefined],
    [org, "https://acme.my.site.com/id/keys", undefined],
    [local, "https://login.salesforce.com/id/keys", undefined],
    // A loopback org: itself, under any of its loopback names.
    [local, "http://127.0.0.1:4000/id/keys", undefined],
    [local, "http://localhost:4000/id/keys", undefined],
    [local, "http://[::1]:4000/id/keys", undefined],
    // Schemes that are not the web's.
    [org, "file:///proc/self/environ", "its scheme is file:, not https"],
    [org, "file:///home/me/.env", "its scheme is file:, not https"],
    [
      org,
      'data:application/json,{"keys":[]}',
      "its scheme is data:, not https",
    ],
    [
      org,
      "blob:https://acme.my.salesforce.com/x",
      "its scheme is blob:, not https",
    ],
    [org, "javascript:alert(1)", "its scheme is javascript:, not https"],
    [org, "ftp://acme.my.salesforce.com/keys", "its scheme is ftp:, not https"],
    // http where https is due, and another port on loopback.
    [
      org,
      "http://acme.my.salesforce.com/id/keys",
      'its scheme is http:, not the instance URL\'s https: (host "acme.my.salesforce.com")',
    ],
    [
      org,
      "http://login.salesforce.com/id/keys",
      'its host "login.salesforce.com" is neither',
    ],
    [
      local,
      "https://127.0.0.1:4000/id/keys",
      "its scheme is https:, not the instance URL's http:",
    ],
    [
      local,
      "http://127.0.0.1:4001/id/keys",
      'its host "127.0.0.1:4001" is neither the instance URL\'s ("127.0.0.1:4000")',
    ],
    [local, "http://127.0.0.2:4000/id/keys", 'its host "127.0.0.2:4000"'],
    [local, "http://10.0.0.1/", 'its host "10.0.0.1" is neither'],
    // Other hosts, and look-alikes of Salesforce's.
    [
      org,
      "https://evil.example/id/keys",
      'its host "evil.example" is neither the instance URL\'s ("acme.my.salesforce.com") nor one of Salesforce\'s',
    ],
    [
      org,
      "https://acme.my.salesforce.com.evil.example/",
      'its host "acme.my.salesforce.com.evil.example"',
    ],
    [
      org,
      "https://login.salesforce.com.evil.example/",
      'its host "login.salesforce.com.evil.example"',
    ],
    [org, "https://evilmy.salesforce.com/", 'its host "evilmy.salesforce.com"'],
    [
      org,
      "https://login.salesforce.com:8443/",
      'its host "login.salesforce.com:8443"',
    ],
    [
      org,
      "https://user:pw@login.salesforce.com/",
      "it carries a user name or password",
    ],
    // Hostile values: not URLs, prototype names, control characters, huge.
    [org, "", "it is not a URL"],
    [org, "/id/keys", "it is not a URL"],
    [org, "__proto__", "it is not a URL"],
    [org, "https://__proto__/", 'its host "__proto__"'],
    [org, "https://constructor.my.salesforce.com/", undefined],
    [org, "https://evil.example\u001b[2J/", "not a URL"],
    [org, `https://${"a".repeat(100_000)}.example/`, "is neither"],
  ];
  for (const [instance, url, expected] of cases) {
    const refusal = fetchRefusal(instance, url);
    if (expected === undefined) assertEquals(refusal, undefined, url);
    else assertStringIncludes(refusal ?? "(allowed)", expected, url);
  }
});

/** A context for send(): the configured org and a signal nothing aborts. */
function sendContext(instanceUrl: string): Flow {
  return {
    config: { instanceUrl } as Config,
    output: {
      json: true,
      color: false,
      width: Infinity,
      showSecrets: false,
      pause: false,
    },
    lines: createLineReader(ReadableStream.from([])),
    signal: new AbortController().signal,
  };
}

Deno.test("send() refuses what the URL policy refuses and never fetches it: no local file reaches an error", async () => {
  const dir = Deno.makeTempDirSync();
  const marker = "SF_CLIENT_SECRET=marker-that-must-stay-local";
  Deno.writeTextFileSync(`${dir}/.env`, marker);
  try {
    for (
      const url of [
        `file://${dir}/.env`,
        `data:text/plain,${marker}`,
        "http://127.0.0.1:1/elsewhere",
      ]
    ) {
      const error = await send(
        sendContext("http://127.0.0.1:4000"),
        "key set (JWKS)",
        url,
        {},
      ).then(() => undefined, (error) => error);
      assertInstanceOf(error, FlowError, url);
      assertEquals(error.error, "unexpected_response", url);
      assertStringIncludes(
        error.error_description,
        "Cannot fetch the key set (JWKS): its ",
        url,
      );
      assertFalse(error.error_description.includes("marker"), url);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("send() turns a body that stops coming into timeout, a body cut short into network_error, and one past its cap into unexpected_response", async () => {
  // A raw server, for answers no well-behaved server gives.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const open: Promise<void>[] = [];
  const release = Promise.withResolvers<void>();
  async function answer(conn: Deno.Conn) {
    const request = new Uint8Array(4096);
    await conn.read(request);
    const path = new TextDecoder().decode(request).split(" ")[1];
    const head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n";
    const answers: Record<string, string> = {
      "/stalls": `${head}content-length: 1000\r\n\r\n{"access_token":`,
      "/cut": `${head}content-length: 1000\r\n\r\n{"access_token":`,
      "/huge": `${head}content-length: 70000\r\n\r\n{"a":"${
        "x".repeat(69_990)
      }"}`,
    };
    await conn.write(new TextEncoder().encode(answers[path] ?? ""));
    if (path === "/stalls") await release.promise; // until the test ends
    conn.close();
  }
  const served = (async () => {
    for await (const conn of listener) open.push(answer(conn).catch(() => {}));
  })();
  const flow = sendContext(`http://127.0.0.1:${port}`);
  const attempt = (path: string) =>
    send(flow, "token response", `http://127.0.0.1:${port}${path}`, {}, {
      timeoutMs: 2_000,
    }).then(() => undefined, (error) => error);
  try {
    const stalled = await attempt("/stalls");
    assertInstanceOf(stalled, FlowError);
    assertEquals(stalled.error, "timeout");
    assertStringIncludes(
      stalled.error_description,
      "Cannot read the token response from",
    );
    assertStringIncludes(
      stalled.error_description,
      "did not finish within 2 seconds",
    );
    assertStringIncludes(stalled.hint, "did not answer in time");
    const cut = await attempt("/cut");
    assertInstanceOf(cut, FlowError);
    assertEquals(cut.error, "network_error");
    assertStringIncludes(
      cut.error_description,
      "Cannot read the token response",
    );
    const huge = await attempt("/huge");
    assertInstanceOf(huge, FlowError);
    assertEquals(huge.error, "unexpected_response");
    assertStringIncludes(huge.error_description, "larger than 64 KiB");
  } finally {
    release.resolve();
    listener.close();
    await served.catch(() => {});
    await Promise.all(open);
  }
});

Deno.test("send() reads an endless body only up to its cap, as a prefix when asked, and cancels the rest", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(endlessBody("x".repeat(10_000))),
  );
  const url = `http://127.0.0.1:${server.addr.port}/`;
  try {
    const prefix = await send(
      sendContext(url),
      "answer to the check",
      url,
      {},
      { prefix: true },
    );
    assertEquals(prefix.text.length, 1024);
    assert(prefix.truncated);
    assert(prefix.fromOrg);
    const whole = await send(sendContext(url), "discovery document", url, {})
      .then(() => undefined, (error) => error);
    assertEquals(whole?.error, "unexpected_response");
    assertStringIncludes(whole.error_description, "larger than 64 KiB");
  } finally {
    await server.shutdown();
  }
});

/** An answer as send() hands it on. */
function answer(fields: Partial<Answer>): Answer {
  return {
    url: "https://acme.my.salesforce.com/services/oauth2/token",
    status: 200,
    ok: true,
    headers: new Headers({ "content-type": "application/json" }),
    text: "{}",
    truncated: false,
    fromOrg: true,
    ...fields,
  };
}

Deno.test("readJson() quotes only the configured org's bodies, and refuses JSON nested too deep", () => {
  const secret = "a body from another host that must not be quoted";
  const foreign = assertThrows(
    () =>
      readJson(
        answer({
          url: "https://login.salesforce.com/id/00D/005",
          status: 401,
          ok: false,
          text: JSON.stringify({ error: "x", error_description: secret }),
          fromOrg: false,
        }),
        "identity response",
      ),
    FlowError,
  );
  assertEquals(foreign.error, "unexpected_response");
  assertFalse(foreign.error_description.includes(secret));
  assertStringIncludes(
    foreign.error_description,
    "its body is not shown: it came from login.salesforce.com",
  );
  const own = assertThrows(
    () =>
      readJson(
        answer({ status: 502, ok: false, text: "<h1>down</h1>" }),
        "token response",
      ),
    FlowError,
  );
  assertStringIncludes(own.error_description, '"<h1>down</h1>"');
  const deep = assertThrows(
    () =>
      readJson(
        answer({ text: "[".repeat(100_000) + "]".repeat(100_000) }),
        "discovery document",
      ),
    FlowError,
  );
  assertStringIncludes(deep.error_description, "nested deeper than 32 levels");
  for (const text of ["null", "[]", '"x"', "1", "", "{", '{"__proto__":1}']) {
    const fields = (() => {
      try {
        return readJson(answer({ text }), "token response");
      } catch (error) {
        assertInstanceOf(error, FlowError, text);
        return undefined;
      }
    })();
    if (text === '{"__proto__":1}') {
      assertEquals(Object.keys(fields!), ["__proto__"]);
    } else assertEquals(fields, undefined, text);
  }
});

Deno.test("parseJson() refuses nesting past 32 levels before parsing, counting brackets outside strings only", () => {
  const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
  assertEquals(parseJson(nested(32)) !== undefined, true);
  assertThrows(
    () => parseJson(nested(33)),
    SyntaxError,
    "nested deeper than 32 levels",
  );
  assertThrows(
    () => parseJson(nested(1_000_000)),
    SyntaxError,
    "nested deeper",
  );
  const inString = JSON.stringify({ a: "[".repeat(1000), b: '\\"{{{{' });
  assertEquals(parseJson(inString), JSON.parse(inString));
});

Deno.test("checkRefusal() is Salesforce's refusal only: status 400 and the bare error text, nothing that merely looks like it", () => {
  const bare =
    "error=redirect_uri_mismatch&error_description=redirect_uri%20must%20match%20configuration";
  const cases: [number, string, boolean, ReturnType<typeof checkRefusal>][] = [
    [400, bare, false, {
      error: "redirect_uri_mismatch",
      error_description: "redirect_uri must match configuration",
    }],
    [400, `${bare}\n`, false, {
      error: "redirect_uri_mismatch",
      error_description: "redirect_uri must match configuration",
    }],
    [200, bare, false, undefined],
    [302, bare, false, undefined],
    [401, bare, false, undefined],
    [500, bare, false, undefined],
    [400, `<p>${bare}</p>`, false, undefined],
    [400, `${bare}&state=x`, false, undefined],
    [400, "error=&error_description=x", false, undefined],
    [400, "", false, undefined],
    [400, bare.slice(0, 100), true, "unknown"],
    // Hostile values pass through as data: the hint table is looked up by own keys.
    [400, "error=constructor&error_description=", false, {
      error: "constructor",
      error_description: "",
    }],
    [400, "error=%1b%5b2J&error_description=%e2%80%ae", false, {
      error: "\u001b[2J",
      error_description: "\u202e",
    }],
  ];
  for (const [status, text, truncated, expected] of cases) {
    assertEquals(
      checkRefusal({ status, text, truncated }),
      expected,
      `${status} ${text}`,
    );
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

Deno.test("--help and -h fit 80 columns, each flag's text in its column", async () => {
  const help = await run(["--help"]);
  assertEquals(help.code, 0);
  for (const line of help.stdout.split("\n")) assert(line.length <= 80, line);
  // Between "Settings" and "Exit codes", every line is a flag or its indented continuation.
  const flagLines = help.stdout.slice(
    help.stdout.indexOf("Settings"),
    help.stdout.indexOf("Exit codes"),
  ).split("\n").filter((line) => line && !/^(Settings|Options)/.test(line));
  for (const line of flagLines) {
    assert(/^ {2}/.test(line), `not indented: ${line}`);
  }
  assertStringIncludes(help.stdout, "--http");
  assertEquals((await run(["-h"])).stdout, help.stdout);
});
