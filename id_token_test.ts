/**
 * OpenID Connect end to end: the script against a small OpenID provider of
 * the test's own, which signs each ID token as a case asks (tampered,
 * confused, expired, for someone else), and against the demo org.
 */

import {
  assertEquals,
  assertFalse,
  assertMatch,
  assertStringIncludes,
} from "./_test_deps.ts";
import {
  type Finished,
  redirectUri,
  run,
  signedTokens,
  spawn,
  testSigningKeys,
} from "./_test_utils.ts";
import { startDemoOrg } from "./demo_org.ts";
import { signJwt } from "./demo_org/id_token.ts";
import { accessTokenHash, hintFor } from "./main.ts";
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
        const now = Math.floor(Date.now() / 1000);
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
        return Response.json({ ...tokens, id_token: jwt });
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
    "signature",
    "aud",
    "exp",
    "iat",
    "nonce",
    "at_hash",
    "sub",
  ]);
  assertEquals(idToken.checks.nonce, "the one sent at step 3");
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
    assertEquals(failure.hint, hintFor("invalid_id_token", ""), name);
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
