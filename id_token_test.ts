/**
 * OpenID Connect end to end: the script against a small OpenID provider of
 * the test's own, which signs each ID token as a case asks (tampered,
 * confused, expired, for someone else), and against the demo org.
 */

import {
  assert,
  assertEquals,
  assertFalse,
  assertMatch,
  assertStringIncludes,
} from "./_test_deps.ts";
import {
  endlessBody,
  type Finished,
  redirectUri,
  run,
  signedTokens,
  spawn,
  testSigningKeys,
} from "./_test_utils.ts";
import { startDemoOrg } from "./demo_org.ts";
import { signJwt } from "./demo_org/id_token.ts";
import { accessTokenHash, clockHint, hintFor } from "./main.ts";
import { base64url } from "./pkce.ts";

/** The provider's key id: short and numeric, as Salesforce's are. */
const FAKE_KID = "210";

/** What a case does to the ID token and the org around it. */
interface Case {
  /** Changes the claims; `call` counts token requests (2 is the refresh). */
  claims?: (
    claims: Record<string, unknown>,
    call: number,
  ) => Record<string, unknown>;
  /** Changes the token response around the ID token. */
  tokens?: (
    tokens: Record<string, unknown>,
    call: number,
  ) => Record<string, unknown>;
  header?: Record<string, unknown>;
  /** Rewrites the finished JWT (tampering after signing). */
  after?: (jwt: string) => string | Promise<string>;
  /** The key set the org publishes, per fetch (for key rotation). */
  jwks?: (fetch: number, key: JsonWebKey) => JsonWebKey[];
  /** Replaces the discovery document. */
  discovery?: (url: string) => unknown;
  /** Answers a path itself, before the provider does (undefined: the provider answers). */
  answer?: (pathname: string) => Response | undefined;
  /** How far the org's clock is from this machine's, in seconds: its iat, exp and Date header follow it. */
  orgClock?: number;
}

/**
 * An OpenID provider on 127.0.0.1: discovery, a key set, a token endpoint
 * that signs an ID token as `how` says, and an identity URL. Runs the script
 * against it and returns what it printed.
 */
async function runAgainstProvider(
  how: Case = {},
  extraArgs: string[] = [],
): Promise<Finished & { received: string[] }> {
  const keys = await testSigningKeys();
  const publicJwk = await crypto.subtle.exportKey("jwk", keys.publicKey);
  const received: string[] = [];
  let nonce: string | undefined;
  let keyFetches = 0;
  let tokenCalls = 0;
  const server: Deno.HttpServer<Deno.NetAddr> = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request): Promise<Response> => {
      const { pathname, origin } = new URL(request.url);
      received.push(`${request.method} ${pathname}`);
      await request.body?.cancel();
      const own = how.answer?.(pathname);
      if (own) return own;
      const url = `http://127.0.0.1:${server.addr.port}`;
      if (pathname === "/.well-known/openid-configuration") {
        // Each origin names itself, as each Salesforce host does.
        return Response.json(
          how.discovery?.(origin) ??
            { issuer: origin, jwks_uri: `${origin}/id/keys` },
        );
      }
      if (pathname === "/id/keys") {
        const jwk = { ...publicJwk, kid: FAKE_KID, alg: "RS256", use: "sig" };
        return Response.json({
          keys: how.jwks?.(++keyFetches, jwk) ?? [jwk],
        });
      }
      if (pathname === "/services/oauth2/token") {
        const call = ++tokenCalls;
        const signed = await signedTokens(url);
        const tokens = how.tokens?.(signed, call) ?? signed;
        const now = Math.floor(Date.now() / 1000) + (how.orgClock ?? 0);
        const claims = {
          iss: url,
          sub: tokens.id,
          aud: "3MVG9fake",
          iat: now,
          exp: now + 120,
          nonce,
          at_hash: await accessTokenHash(String(tokens.access_token)),
          preferred_username: "fake@example.com",
          name: "Fake User",
        };
        let jwt = await signJwt(
          keys.privateKey,
          how.header ?? { alg: "RS256", kid: FAKE_KID },
          how.claims?.(claims, call) ?? claims,
        );
        if (how.after) jwt = await how.after(jwt);
        return Response.json({ ...tokens, id_token: jwt }, {
          headers: { date: new Date(now * 1000).toUTCString() },
        });
      }
      return Response.json({ user_id: "0055g00000FAKEUAAA" });
    },
  );
  try {
    const redirect = redirectUri();
    const script = spawn([
      "--instance-url",
      `http://127.0.0.1:${server.addr.port}`,
      "--client-id",
      "3MVG9fake",
      "--redirect-uri",
      redirect,
      "--no-browser",
      "--no-check",
      "--json",
      ...extraArgs,
    ]);
    const step3 = await script.waitForStep(3);
    nonce = step3.data.query.nonce;
    await script.waitForStep(4);
    const callback = await fetch(
      `${redirect}?code=fake&state=${step3.data.query.state}`,
    );
    await callback.body?.cancel();
    return { ...await script.finish(), received };
  } finally {
    await server.shutdown();
  }
}

/** Re-signs a JWT whose payload JSON is rewritten as text, with the provider's key: for JSON that JSON.stringify cannot write (1e309, very deep nesting). */
async function resigned(
  jwt: string,
  rewrite: (payload: string) => string,
): Promise<string> {
  const [header, payload] = jwt.split(".");
  const text = new TextDecoder().decode(
    Uint8Array.fromBase64(payload, { alphabet: "base64url" }),
  );
  const input = `${header}.${
    base64url(new TextEncoder().encode(rewrite(text)))
  }`;
  const signature = await crypto.subtle.sign(
    "RSASSA-PKCS1-v1_5",
    (await testSigningKeys()).privateKey,
    new TextEncoder().encode(input),
  );
  return `${input}.${base64url(new Uint8Array(signature))}`;
}

/** A value nested `depth` objects deep. */
function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

/** Re-signs a JWT's parts after changing them, without the key: what an attacker can do. */
function tamperPayload(jwt: string, change: Record<string, unknown>): string {
  const [header, payload, signature] = jwt.split(".");
  const claims = JSON.parse(
    new TextDecoder().decode(
      Uint8Array.fromBase64(payload, { alphabet: "base64url" }),
    ),
  );
  const forged = base64url(
    new TextEncoder().encode(JSON.stringify({ ...claims, ...change })),
  );
  return `${header}.${forged}.${signature}`;
}

Deno.test("a good ID token passes every check, shown one by one, and step 8 says who signed in", async () => {
  const result = await runAgainstProvider();
  assertEquals(result.code, 0, result.stderr);
  const step3 = result.steps[2].data;
  assertMatch(step3.query.nonce, /^[A-Za-z0-9_-]{43}$/);
  assertStringIncludes(step3.why_nonce, "must echo this nonce");
  const idToken = result.steps[6].data.id_token;
  assertEquals(idToken.header, { alg: "RS256", kid: FAKE_KID });
  assertMatch(idToken.token, /^eyJ\S{3}…\S{4}$/);
  assertEquals(Object.keys(idToken.checks), [
    "alg",
    "iss",
    "key",
    "signature",
    "aud",
    "exp",
    "iat",
    "nonce",
    "at_hash",
    "sub",
  ]);
  assertEquals(idToken.checks.nonce, "the one sent at step 3");
  assertEquals(
    idToken.checks.key,
    "its JWK says use sig, key_ops verify, alg RS256: an RS256 signature key",
  );
  // An azp, when there is one, must be this app: then it is listed as a check.
  const withAzp = await runAgainstProvider({
    claims: (c) => ({ ...c, azp: "3MVG9fake" }),
  });
  assertEquals(withAzp.code, 0, withAzp.stderr);
  const azpChecks = Object.keys(withAzp.steps[6].data.id_token.checks);
  assertEquals(azpChecks.slice(4, 6), ["aud", "azp"]);
  assertEquals(result.steps[7].data.signed_in_user, {
    sub: idToken.claims.sub,
    preferred_username: "fake@example.com",
    name: "Fake User",
    email: null,
  });
});

Deno.test("each forged, confused or stale ID token ends with exit 1 naming the check it failed", async () => {
  const keys = await testSigningKeys();
  const publicJwk = await crypto.subtle.exportKey("jwk", keys.publicKey);
  const cases: [string, Case, string][] = [
    ["tampered payload", {
      after: (jwt) => tamperPayload(jwt, { sub: "https://evil.example/id/x" }),
    }, "signature"],
    ["tampered signature", {
      after: (jwt) =>
        jwt.slice(0, -6) + (jwt.endsWith("AAAAAA") ? "BBBBBB" : "AAAAAA"),
    }, "signature"],
    ["alg none", {
      after: (jwt) => {
        const header = base64url(new TextEncoder().encode('{"alg":"none"}'));
        return `${header}.${jwt.split(".")[1]}.`;
      },
    }, "alg"],
    ["HS256 keyed with the public key (algorithm confusion)", {
      after: async (jwt) => {
        const header = base64url(
          new TextEncoder().encode(`{"alg":"HS256","kid":"${FAKE_KID}"}`),
        );
        const input = `${header}.${jwt.split(".")[1]}`;
        const secret = new TextEncoder().encode(JSON.stringify(publicJwk));
        const key = await crypto.subtle.importKey(
          "raw",
          secret,
          { name: "HMAC", hash: "SHA-256" },
          false,
          ["sign"],
        );
        const mac = await crypto.subtle.sign(
          "HMAC",
          key,
          new TextEncoder().encode(input),
        );
        return `${input}.${base64url(new Uint8Array(mac))}`;
      },
    }, "alg"],
    ["an unknown kid, still unknown after fetching again", {
      header: { alg: "RS256", kid: "999" },
    }, "key"],
    [
      "wrong issuer",
      { claims: (c) => ({ ...c, iss: "https://evil.example" }) },
      "iss",
    ],
    ["wrong audience", { claims: (c) => ({ ...c, aud: "3MVG9other" }) }, "aud"],
    ["audience array without this app", {
      claims: (c) => ({ ...c, aud: ["3MVG9other", "3MVG9third"] }),
    }, "aud"],
    ["expired", {
      claims: (c) => ({ ...c, exp: (c.iat as number) - 3600 }),
    }, "exp"],
    ["issued in the future", {
      claims: (c) => ({ ...c, iat: (c.iat as number) + 3600 }),
    }, "iat"],
    [
      "wrong nonce",
      { claims: (c) => ({ ...c, nonce: "someone-else" }) },
      "nonce",
    ],
    ["missing nonce", { claims: (c) => ({ ...c, nonce: undefined }) }, "nonce"],
    ["wrong at_hash", {
      claims: (c) => ({ ...c, at_hash: "AAAAAAAAAAAAAAAAAAAAAA" }),
    }, "at_hash"],
    ["a claim nested 1000 levels deep", {
      claims: (c) => ({ ...c, deep: nested(1000) }),
    }, "format"],
    ["a claim nested 20000 levels deep (printing it overflowed the stack)", {
      after: (jwt) =>
        resigned(
          jwt,
          (p) =>
            `${p.slice(0, -1)},"deep":${
              "[".repeat(20_000) + "]".repeat(20_000)
            }}`,
        ),
    }, "format"],
    ["an ID token longer than 16 KB", {
      claims: (c) => ({ ...c, padding: "x".repeat(20_000) }),
    }, "format"],
    ["exp of 1e309 (Infinity once parsed)", {
      after: (jwt) =>
        resigned(jwt, (p) => p.replace(/"exp":\d+/, '"exp":1e309')),
    }, "exp"],
    ["iat of -1e309", {
      after: (jwt) =>
        resigned(jwt, (p) => p.replace(/"iat":\d+/, '"iat":-1e309')),
    }, "iat"],
    ["exp as a string", {
      claims: (c) => ({ ...c, exp: String(c.exp) }),
    }, "exp"],
    ["an azp naming another app", {
      claims: (c) => ({ ...c, azp: "3MVG9other" }),
    }, "azp"],
    ["an azp of the wrong type", {
      claims: (c) => ({ ...c, azp: { __proto__: "3MVG9fake" } }),
    }, "azp"],
    ["an unknown critical header", {
      header: { alg: "RS256", kid: FAKE_KID, crit: ["exp"], exp: 1 },
    }, "crit"],
    ["a crit that is not even an array", {
      header: { alg: "RS256", kid: FAKE_KID, crit: "x".repeat(10_000) },
    }, "crit"],
    ["b64: false (an unencoded payload)", {
      header: { alg: "RS256", kid: FAKE_KID, b64: false },
    }, "b64"],
    ["a key whose JWK says use enc", {
      jwks: (_fetch, key) => [{ ...key, use: "enc" }],
    }, "key"],
    ["a key whose JWK says alg RS512", {
      jwks: (_fetch, key) => [{ ...key, alg: "RS512" }],
    }, "key"],
    ["a key whose key_ops do not include verify", {
      jwks: (_fetch, key) => [{ ...key, key_ops: ["encrypt"] }],
    }, "key"],
    ["a kid that is an object", {
      header: { alg: "RS256", kid: { toString: "210" } },
    }, "key"],
    ["sub is not the identity URL", {
      claims: (c) => ({
        ...c,
        sub: "https://login.salesforce.com/id/00D/005other",
      }),
    }, "sub"],
  ];
  for (const [name, how, check] of cases) {
    const result = await runAgainstProvider(how);
    assertEquals(result.code, 1, `${name}: ${result.stderr}`);
    const failure = result.steps.at(-1)!.data;
    assertEquals(failure.error, "invalid_id_token", name);
    assertStringIncludes(
      failure.error_description,
      `Cannot trust the ID token: ${check} check failed`,
      name,
    );
    if (name === "expired" || name === "issued in the future") {
      assertStringIncludes(failure.hint, "clock", name);
    } else {
      assertEquals(failure.hint, hintFor("invalid_id_token", ""), name);
    }
    assertFalse(result.steps.some((s) => s.step === 8), `${name}: no step 8`);
    if (name.startsWith("alg") || name.startsWith("HS256")) {
      assertFalse(
        result.received.includes("GET /id/keys"),
        `${name}: refused before any key was used`,
      );
    }
  }
});

Deno.test("an unknown kid is looked up once more (keys rotate), and an audience array with this app passes", async () => {
  const rotated = await runAgainstProvider({
    jwks: (fetch, key) => fetch === 1 ? [{ ...key, kid: "old" }] : [key],
    claims: (c) => ({ ...c, aud: ["3MVG9other", "3MVG9fake"] }),
  });
  assertEquals(rotated.code, 0, rotated.stderr);
  const { checks } = rotated.steps[6].data.id_token;
  assertStringIncludes(checks.signature, "found after fetching the keys again");
  assertEquals(checks.aud, "contains the consumer key");
  assertEquals(
    rotated.received.filter((r) => r === "GET /id/keys").length,
    2,
  );
});

Deno.test("a discovery document without issuer or jwks_uri ends with unexpected_response", async () => {
  const result = await runAgainstProvider({ discovery: () => ({ hello: 1 }) });
  assertEquals(result.code, 1);
  assertEquals(result.steps.at(-1)?.data.error, "unexpected_response");
  assertStringIncludes(
    result.steps.at(-1)?.data.error_description,
    "it lacks issuer or jwks_uri",
  );
});

Deno.test("the demo flow verifies its ID token by default; without openid there is no nonce and no ID token", async () => {
  const withOpenid = await run([
    "--demo",
    "--no-browser",
    "--json",
    "--refresh",
    "--redirect-uri",
    redirectUri(),
  ]);
  assertEquals(withOpenid.code, 0, withOpenid.stderr);
  const checks = withOpenid.steps[6].data.id_token.checks;
  assertMatch(
    checks.signature,
    /^valid, with key "1" from http:\/\/127\.0\.0\.1:\d+\/id\/keys$/,
  );
  assertEquals(
    checks.sub,
    "the identity URL (id): who signed in, signed by the org",
  );
  assertEquals(
    withOpenid.steps[7].data.signed_in_user.preferred_username,
    "learner@demo-org.example",
  );
  const refreshed = withOpenid.steps[9].data.id_token;
  assertEquals(refreshed.checks.nonce, "none (not required on refresh)");
  const without = await run([
    "--demo",
    "--no-browser",
    "--json",
    "--scope",
    "api id refresh_token",
    "--redirect-uri",
    redirectUri(),
  ]);
  assertEquals(without.code, 0, without.stderr);
  assertFalse("nonce" in without.steps[2].data.query);
  assertFalse("why_nonce" in without.steps[2].data);
  assertFalse("id_token" in without.steps[6].data);
  assertFalse("signed_in_user" in without.steps[7].data);
  assertFalse("id_token" in without.steps[6].data.body);
});

Deno.test("every demo org publishes the same fixed key, said to be a public demo key that signs nothing of value", async () => {
  const orgs = [startDemoOrg(), startDemoOrg()];
  try {
    const sets = await Promise.all(
      orgs.map(async (org) => await (await fetch(`${org.url}/id/keys`)).json()),
    );
    assertEquals(sets[0].keys, sets[1].keys); // no key is made per run
    assertEquals(sets[0].keys.length, 1);
    assertStringIncludes(sets[0].note, "PUBLIC DEMO KEY");
    assertStringIncludes(sets[0].note, "signs nothing of value");
  } finally {
    await Promise.all(orgs.map((org) => org.close()));
  }
});

Deno.test("a refresh's ID token must name the same issuer, user and audience as the first", async () => {
  const other = (url: string) =>
    `${url}/id/00D5g000004FAKEEAA/0055g00000OTHERAAA`;
  const result = await runAgainstProvider({
    // The refresh answers for another user, consistently: only step 10's comparison can tell.
    tokens: (tokens, call) =>
      call === 2
        ? { ...tokens, id: other(String(tokens.instance_url)) }
        : tokens,
    claims: (claims, call) =>
      call === 2
        ? { ...claims, sub: other(String(claims.iss)), nonce: undefined }
        : claims,
  }, ["--refresh", "--no-identity"]);
  assertEquals(result.code, 1, result.stderr);
  assertEquals(result.steps.at(-2)?.step, 8);
  assertStringIncludes(
    result.steps.at(-1)?.data.error_description,
    "sub check failed: sub differs from the first ID token's",
  );
});

Deno.test("a My Domain issuer is trusted when the token response's instance_url host names itself issuer in its own discovery", async () => {
  const result = await runAgainstProvider({
    // The login began at 127.0.0.1 (like login.salesforce.com); the org's own host is localhost.
    tokens: (tokens) => ({
      ...tokens,
      instance_url: String(tokens.instance_url).replace(
        "127.0.0.1",
        "localhost",
      ),
    }),
    claims: (claims) => ({
      ...claims,
      iss: String(claims.iss).replace("127.0.0.1", "localhost"),
    }),
  }, ["--no-identity"]);
  assertEquals(result.code, 0, result.stderr);
  const { checks } = result.steps[6].data.id_token;
  assertStringIncludes(checks.issuer_from, "a My Domain login");
  assertStringIncludes(checks.issuer_from, "http://localhost:");
  // Any other issuer is still refused.
  const forged = await runAgainstProvider({
    claims: (claims) => ({ ...claims, iss: "http://localhost:1" }),
  });
  assertEquals(forged.code, 1);
  assertStringIncludes(
    forged.steps.at(-1)?.data.error_description,
    "iss check failed",
  );
});

Deno.test("the key set and a second discovery come only from the org itself or Salesforce: file:, data:, other ports and hosts are refused unfetched", async () => {
  const dir = await Deno.makeTempDir();
  const marker = "marker-of-a-local-file-that-must-stay-local";
  await Deno.writeTextFile(`${dir}/.env`, `SF_CLIENT_SECRET=${marker}\n`);
  const elsewhere: string[] = [];
  const other = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => {
      elsewhere.push(new URL(request.url).pathname);
      return Response.json({ keys: [] });
    },
  );
  const otherOrigin = `http://127.0.0.1:${other.addr.port}`;
  const withKeysAt = (jwks_uri: string): Case => ({
    discovery: (origin) => ({ issuer: origin, jwks_uri }),
  });
  const cases: [string, Case, string][] = [
    ["a local file", withKeysAt(`file://${dir}/.env`), "its scheme is file:"],
    [
      "a data: URL with keys of its own",
      withKeysAt('data:application/json,{"keys":[]}'),
      "its scheme is data:",
    ],
    [
      "another port on loopback",
      withKeysAt(`${otherOrigin}/id/keys`),
      `its host "127.0.0.1:${other.addr.port}" is neither`,
    ],
    [
      "another host",
      withKeysAt("https://keys.evil.example/id/keys"),
      'its host "keys.evil.example" is neither',
    ],
    [
      "a second discovery at the token response's instance_url elsewhere",
      {
        tokens: (tokens) => ({ ...tokens, instance_url: otherOrigin }),
        claims: (claims) => ({ ...claims, iss: otherOrigin }),
      },
      `Cannot fetch the discovery document: its host "127.0.0.1:${other.addr.port}"`,
    ],
  ];
  try {
    for (const [name, how, refusal] of cases) {
      const result = await runAgainstProvider(how, ["--no-identity"]);
      assertEquals(result.code, 1, `${name}: ${result.stderr}`);
      const failure = result.steps.at(-1)!.data;
      assertEquals(failure.error, "unexpected_response", name);
      assertStringIncludes(failure.error_description, refusal, name);
      assertFalse(result.stdout.includes(marker), name);
      assertFalse(result.stderr.includes(marker), name);
      assertFalse(result.steps.some((s) => s.step === 7), name);
    }
    assertEquals(elsewhere, [], "nothing was fetched from elsewhere");
  } finally {
    await other.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a discovery document or key set that never ends is cut at 64 KiB: unexpected_response naming the limit", async () => {
  const endless = () =>
    new Response(endlessBody(`{"keys":[{"n":"${"A".repeat(65_536)}`));
  for (const path of ["/.well-known/openid-configuration", "/id/keys"]) {
    const what = path === "/id/keys" ? "key set (JWKS)" : "discovery document";
    const result = await runAgainstProvider({
      answer: (pathname) => pathname === path ? endless() : undefined,
    }, ["--no-identity"]);
    assertEquals(result.code, 1, `${path}: ${result.stderr}`);
    const failure = result.steps.at(-1)!.data;
    assertEquals(failure.error, "unexpected_response", path);
    assertStringIncludes(
      failure.error_description,
      `Cannot use the ${what} from 127.0.0.1:`,
      path,
    );
    assertStringIncludes(failure.error_description, "larger than 64 KiB", path);
  }
});

Deno.test("a clock an hour off fails exp or iat with a hint that names the clock and by how much, and --save keeps the tokens first", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // The org's clock is an hour behind this machine's: the token looks expired here.
    const ahead = await runAgainstProvider({ orgClock: -3600 }, [
      "--no-identity",
      "--save",
      `${dir}/tokens.json`,
    ]);
    assertEquals(ahead.code, 1, ahead.stderr);
    const failure = ahead.steps.at(-1)!.data;
    assertStringIncludes(failure.error_description, "exp check failed");
    assertMatch(
      failure.hint,
      /^This machine's clock may be wrong: it is 36\d\d s \(about 1 h\) ahead of the org's \(its Date header said .+ GMT\)\. Set this machine's clock automatically/,
    );
    const saved = JSON.parse(await Deno.readTextFile(`${dir}/tokens.json`));
    assertEquals(saved.access_token, (await signedTokens("x")).access_token);
    assertStringIncludes(ahead.stderr, "saved the tokens to");
    // An hour ahead: the token looks issued in the future; nothing asked to be saved.
    const behind = await runAgainstProvider({ orgClock: 3600 }, [
      "--no-identity",
    ]);
    assertEquals(behind.code, 1, behind.stderr);
    const late = behind.steps.at(-1)!.data;
    assertStringIncludes(late.error_description, "iat check failed");
    assertStringIncludes(late.hint, "behind the org's");
    // A token that is out of date by the org's own clock is not the clock's fault.
    const stale = await runAgainstProvider({
      claims: (c) => ({ ...c, exp: (c.iat as number) - 3600 }),
    });
    assertStringIncludes(
      stale.steps.at(-1)!.data.hint,
      "the clock is not the cause",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("clockHint() says how far this machine's clock is from the org's Date header, and what to do; no usable header, no number", () => {
  const now = Date.parse("2026-12-01T12:00:00Z");
  const cases: [string | null | undefined, string][] = [
    [
      "Tue, 01 Dec 2026 11:00:00 GMT",
      "it is 3600 s (about 1 h) ahead of the org's",
    ],
    [
      "Tue, 01 Dec 2026 12:10:00 GMT",
      "it is 600 s (about 10 min) behind the org's",
    ],
    [
      "Tue, 01 Dec 2026 11:59:30 GMT",
      "within 30 s of the org's (its Date header), so the clock is not the cause",
    ],
    [null, "the org sent no Date header"],
    [undefined, "the org sent no Date header"],
    ["", "the org sent no Date header"],
    ["yesterday\u001b[2J", "the org sent no Date header"],
    ["constructor", "the org sent no Date header"],
    ["x".repeat(100_000), "the org sent no Date header"],
  ];
  for (const [date, expected] of cases) {
    const hint = clockHint(date, now);
    assertStringIncludes(hint, expected, String(date).slice(0, 20));
    if (!expected.includes("not the cause")) {
      assertStringIncludes(hint, "timedatectl set-ntp true");
    }
    assert(hint.length < 600, "a hint, not a dump");
  }
});
