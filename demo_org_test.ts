import {
  assert,
  assertEquals,
  assertFalse,
  assertMatch,
  assertStringIncludes,
} from "@std/assert";
import {
  CODE_LIFETIME_MS,
  createDemoOrg,
  type DemoOrg,
  LATEST_API_VERSION,
  signIdentity,
  startDemoOrg,
  toId18,
} from "./demo_org.ts";
import { testSigningKeys } from "./_test_utils.ts";
import {
  accessTokenHash,
  decodeJwt,
  verifyRs256,
  verifySignature,
} from "./main.ts";
import {
  base64url,
  createCodeChallenge,
  createCodeVerifier,
  s256,
} from "./pkce.ts";

const REDIRECT_URI = "http://localhost:8000/callback";

/** A demo org for one test, without a socket: requests go straight to its handlers. Signed in unless told otherwise, as a browser with a session. */
async function withOrg(
  fn: (org: DemoOrg, clock: { now: number }) => Promise<void>,
  options: { clientSecret?: string; signedIn?: boolean } = {},
) {
  const clock = { now: Date.now() };
  const org = createDemoOrg("http://127.0.0.1:8080", {
    redirectUri: REDIRECT_URI,
    now: () => clock.now,
    signingKeys: await testSigningKeys(),
    ...options,
  });
  if (options.signedIn !== false) await signIn(org);
  await fn(org, clock);
}

/** The session cookie each org's browser holds. */
const cookies = new WeakMap<DemoOrg, string>();

/** Signs in through the form, as a person would, and keeps the cookie. */
async function signIn(org: DemoOrg, startURL = "/services/oauth2/authorize?") {
  const response = await call(org, `${org.url}/login`, {
    method: "POST",
    body: new URLSearchParams({ username: "learner", password: "x", startURL }),
  });
  assertEquals(response.status, 302);
  const cookie = response.headers.get("set-cookie")!;
  assertMatch(
    cookie,
    /^demo_org_sid_8080=[\w-]{43}; Path=\/; HttpOnly; SameSite=Lax$/,
  );
  cookies.set(org, cookie.split(";")[0]);
  return response;
}

/** Sends a request to the org's handlers, as a browser holding the org's cookie would send it over the network. */
async function call(
  org: DemoOrg,
  url: string | URL,
  init?: RequestInit,
): Promise<Response> {
  const request = new Request(url, init);
  const cookie = cookies.get(org);
  if (cookie) request.headers.set("cookie", cookie);
  return await org.handle(request);
}

interface AuthorizeParams {
  client_id?: string;
  redirect_uri?: string;
  response_type?: string;
  code_challenge?: string;
  code_challenge_method?: string;
  scope?: string;
  state?: string;
  login_hint?: string;
  prompt?: string;
  immediate?: string;
  display?: string;
  nonce?: string;
}

async function authorizeParams(
  org: DemoOrg,
  verifier: string,
  overrides: AuthorizeParams = {},
): Promise<Record<string, string>> {
  const params: Record<string, string | undefined> = {
    client_id: org.client.client_id,
    redirect_uri: REDIRECT_URI,
    response_type: "code",
    code_challenge: await createCodeChallenge(verifier),
    code_challenge_method: "S256",
    state: "state-123",
    ...overrides,
  };
  return Object.fromEntries(
    Object.entries(params).filter(([, v]) => v !== undefined),
  ) as Record<string, string>;
}

function authorizeUrl(org: DemoOrg, params: Record<string, string>): string {
  return `${org.url}/services/oauth2/authorize?${new URLSearchParams(params)}`;
}

/** Loads the consent page and clicks a button; returns where the org redirects. An app the session approved before gets its code without the page, unless `prompt=consent`. */
async function consent(
  org: DemoOrg,
  params: Record<string, string>,
  decision: "allow" | "deny" = "allow",
): Promise<URL> {
  const page = await call(org, authorizeUrl(org, params));
  const html = await page.text();
  if (page.status === 302 && decision === "allow") {
    return new URL(page.headers.get("location")!);
  }
  assertEquals(page.status, 200, html);
  const consentId = /name="consent" value="([^"]+)"/.exec(html)![1];
  const answer = await call(org, `${org.url}/services/oauth2/authorize`, {
    method: "POST",
    body: new URLSearchParams({ consent: consentId, decision }),
    redirect: "manual",
  });
  await answer.body?.cancel();
  assertEquals(answer.status, 302);
  return new URL(answer.headers.get("location")!);
}

async function getCode(
  org: DemoOrg,
  verifier: string,
  overrides: AuthorizeParams = {},
): Promise<string> {
  const location = await consent(
    org,
    await authorizeParams(org, verifier, overrides),
  );
  return location.searchParams.get("code")!;
}

async function postToken(
  org: DemoOrg,
  fields: Record<string, string>,
  contentType = "application/x-www-form-urlencoded",
) {
  const response = await call(org, `${org.url}/services/oauth2/token`, {
    method: "POST",
    headers: { "content-type": contentType },
    body: contentType.includes("json")
      ? JSON.stringify(fields)
      : new URLSearchParams(fields),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: await response.json(),
  };
}

function codeGrant(
  org: DemoOrg,
  code: string,
  verifier: string,
): Record<string, string> {
  return {
    grant_type: "authorization_code",
    code,
    client_id: org.client.client_id,
    client_secret: org.client.client_secret,
    redirect_uri: REDIRECT_URI,
    code_verifier: verifier,
  };
}

Deno.test("signIdentity() matches the facts file's section C vector", async () => {
  const id = "https://login.salesforce.com/id/00Dx0000000BV7z/005x00000012Q9P";
  const signature = await signIdentity(
    "demo-consumer-secret",
    id,
    "1278448384422",
  );
  assertEquals(signature, "bT1wDcrS5E7DPWD5Zdbw3IKjq3BbpgXG7rnjAQ7DIW8=");
  const tokens = { id, issued_at: "1278448384422", signature };
  assert(await verifySignature(tokens, "demo-consumer-secret"));
  assertFalse(await verifySignature(tokens, "another-secret"));
  assertFalse(
    await verifySignature(
      { ...tokens, id: id.replace("Q9P", "Q9Q") },
      "demo-consumer-secret",
    ),
  );
});

Deno.test("toId18() adds Salesforce's case-safe suffix", () => {
  // Each suffix letter encodes which of five characters are upper case.
  assertEquals(toId18("001A0000006Vm9r"), "001A0000006Vm9rIAC");
  assertEquals(toId18("000000000000000"), "000000000000000AAA");
  assertEquals(toId18("ABCDEABCDEABCDE"), "ABCDEABCDEABCDE555");
});

Deno.test("startDemoOrg() listens on 127.0.0.1 and issues a Salesforce-shaped secret", async () => {
  const org = startDemoOrg({ redirectUri: REDIRECT_URI });
  try {
    assertMatch(org.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    // Like Salesforce's: never starts with "-", so it works as a flag value.
    assertMatch(org.client.client_secret, /^[0-9A-F]{64}$/);
    const home = await fetch(org.url);
    assertStringIncludes(await home.text(), org.client.client_id);
    assertEquals(org.received, ["GET /"]);
  } finally {
    await org.close();
  }
});

Deno.test("GET /services/oauth2/authorize answers bad requests with Salesforce's bare bodies, never a redirect", async () => {
  await withOrg(async (org) => {
    const verifier = createCodeVerifier();
    const cases: [string, AuthorizeParams, string][] = [
      [
        "unknown client",
        { client_id: "3MVG9nope" },
        "error=invalid_client_id&error_description=client%20identifier%20invalid",
      ],
      [
        "unregistered redirect URI",
        { redirect_uri: "http://localhost:8001/callback" },
        "error=redirect_uri_mismatch&error_description=redirect_uri%20must%20match%20configuration",
      ],
      [
        "redirect URI differing by a slash",
        { redirect_uri: "http://localhost:8000/callback/" },
        "error=redirect_uri_mismatch&error_description=redirect_uri%20must%20match%20configuration",
      ],
      [
        "no code challenge",
        { code_challenge: undefined },
        "error=invalid_request&error_description=missing%20required%20code%20challenge",
      ],
      [
        "plain challenge method",
        { code_challenge_method: "plain" },
        "error=invalid_request&error_description=invalid%20code%20challenge",
      ],
    ];
    for (const [name, overrides, body] of cases) {
      const params = await authorizeParams(org, verifier, overrides);
      if (
        overrides.code_challenge === undefined && "code_challenge" in overrides
      ) {
        delete params.code_challenge;
      }
      const response = await call(org, authorizeUrl(org, params), {
        redirect: "manual",
      });
      assertEquals(response.status, 400, name);
      assertEquals(response.headers.get("location"), null, name);
      assertEquals(await response.text(), body, name);
    }
  });
});

Deno.test("GET /services/oauth2/authorize redirects errors once the client and redirect URI are known", async () => {
  await withOrg(async (org) => {
    const verifier = createCodeVerifier();
    const cases: [AuthorizeParams, string, string][] = [
      [{ response_type: "token" }, "unsupported_response_type", REDIRECT_URI],
      // Salesforce shows invalid_scope on its own page after sign-in, not to the app.
      [
        { scope: "api chatter_api" },
        "invalid_scope",
        `${org.url}/setup/secur/RemoteAccessErrorPage.apexp`,
      ],
    ];
    for (const [overrides, error, where] of cases) {
      const response = await call(
        org,
        authorizeUrl(org, await authorizeParams(org, verifier, overrides)),
      );
      await response.body?.cancel();
      assertEquals(response.status, 302);
      const location = new URL(response.headers.get("location")!);
      assertEquals(location.origin + location.pathname, where);
      assertEquals(location.searchParams.get("error"), error);
    }
    const page = await call(
      org,
      `${org.url}/setup/secur/RemoteAccessErrorPage.apexp?error=invalid_scope&error_description=the+requested+scope+is+not+allowed`,
    );
    assertEquals(page.status, 400);
    const html = await page.text();
    assertStringIncludes(html, "invalid_scope");
    assertStringIncludes(html, "Return to the terminal");
  });
});

Deno.test("the consent page names the app and its scopes, offers Allow and Deny, and loads nothing external", async () => {
  await withOrg(async (org) => {
    const params = await authorizeParams(org, createCodeVerifier(), {
      scope: "api refresh_token",
    });
    const response = await call(org, authorizeUrl(org, params));
    const html = await response.text();
    assertEquals(
      response.headers.get("content-type"),
      "text/html;charset=UTF-8",
    );
    assertStringIncludes(
      response.headers.get("content-security-policy")!,
      "default-src 'none'",
    );
    assertStringIncludes(html, org.client.name);
    assertStringIncludes(html, "(api)");
    assertStringIncludes(html, "(refresh_token, offline_access)");
    assertFalse(html.includes("(id, profile"), "id was not requested");
    assertStringIncludes(html, 'value="allow"');
    assertStringIncludes(html, 'value="deny"');
    assertFalse(/<(script|link|img)\b|src=/i.test(html));
  });
});

Deno.test("Allow redirects with a Base64-looking code, encoded once, and the state", async () => {
  await withOrg(async (org) => {
    const params = await authorizeParams(org, createCodeVerifier());
    const location = await consent(org, params, "allow");
    assertEquals(location.origin + location.pathname, REDIRECT_URI);
    assertStringIncludes(location.search, "%3D&state=state-123");
    // Like Salesforce's: aPrx, then standard Base64 with + / =, encoded once.
    assertMatch(location.searchParams.get("code")!, /^aPrx[A-Za-z0-9+/]{83}=$/);
    assertEquals(location.searchParams.get("state"), "state-123");
    assertFalse(location.searchParams.has("iss")); // Salesforce sends none
  });
});

Deno.test("Deny redirects with access_denied and the state", async () => {
  await withOrg(async (org) => {
    const params = await authorizeParams(org, createCodeVerifier());
    const location = await consent(org, params, "deny");
    assertEquals(location.searchParams.get("error"), "access_denied");
    assertEquals(
      location.searchParams.get("error_description"),
      "end-user denied authorization",
    );
    assertEquals(location.searchParams.get("state"), "state-123");
    assertFalse(location.searchParams.has("code"));
  });
});

Deno.test("POST /services/oauth2/token answers in Salesforce's shape, with a valid signature", async () => {
  await withOrg(async (org) => {
    const verifier = createCodeVerifier();
    const code = await getCode(org, verifier);
    const { status, headers, body } = await postToken(
      org,
      codeGrant(org, code, verifier),
    );
    assertEquals(status, 200);
    assertEquals(headers.get("cache-control"), "no-store");
    assertEquals(Object.keys(body), [
      "access_token",
      "refresh_token",
      "signature",
      "scope",
      "id_token",
      "instance_url",
      "id",
      "token_type",
      "issued_at",
    ]);
    assertMatch(body.access_token, /^00D[A-Za-z0-9]{12}![A-Za-z0-9._]{40,}$/);
    assertMatch(body.refresh_token, /^5Aep861/);
    assertEquals(body.scope, "api id openid refresh_token web full"); // the app's own scopes
    assertEquals(body.instance_url, org.url);
    assertMatch(body.id, new RegExp(`^${org.url}/id/00D\\w{15}/005\\w{15}$`));
    assertEquals(body.token_type, "Bearer");
    assertMatch(body.issued_at, /^\d{13}$/);
    assert(await verifySignature(body, org.client.client_secret));
    assertEquals(org.issued, [body.access_token, body.refresh_token]);
  });
});

Deno.test("POST /services/oauth2/token gives no refresh token without the refresh_token scope", async () => {
  await withOrg(async (org) => {
    const verifier = createCodeVerifier();
    const code = await getCode(org, verifier, { scope: "api id" });
    const { status, body } = await postToken(
      org,
      codeGrant(org, code, verifier),
    );
    assertEquals(status, 200);
    assertEquals(body.scope, "api id");
    assertFalse("refresh_token" in body);
  });
});

Deno.test("POST /services/oauth2/token refuses each broken exchange with Salesforce's error", async () => {
  await withOrg(async (org, clock) => {
    const verifier = createCodeVerifier();
    type Case = {
      name: string;
      change: (grant: Record<string, string>) => void;
      error: string;
      description: string;
      contentType?: string;
      before?: () => void;
    };
    const cases: Case[] = [
      {
        name: "a wrong verifier",
        change: (g) => (g.code_verifier = createCodeVerifier()),
        error: "invalid_grant",
        description: "invalid code verifier",
      },
      {
        name: "no verifier",
        change: (g) => delete g.code_verifier,
        error: "invalid_grant",
        description: "invalid code verifier",
      },
      {
        name: "a wrong secret",
        change: (g) => (g.client_secret = "not-the-secret"),
        error: "invalid_client",
        description: "invalid client credentials",
      },
      {
        name: "an unknown client",
        change: (g) => (g.client_id = "3MVG9unknown"),
        error: "invalid_client_id",
        description: "client identifier invalid",
      },
      {
        name: "a redirect URI that differs",
        change: (g) => (g.redirect_uri = "http://127.0.0.1:8000/callback"),
        error: "redirect_uri_mismatch",
        description: "redirect_uri must match configuration",
      },
      {
        name: "an unknown code",
        change: (g) => (g.code = "bm90IGEgY29kZQ=="),
        error: "invalid_grant",
        description: "invalid authorization code",
      },
      {
        name: "an expired code",
        change: () => {},
        before: () => (clock.now += CODE_LIFETIME_MS + 1),
        error: "invalid_grant",
        description: "expired authorization code",
      },
      {
        name: "a JSON body",
        change: () => {},
        contentType: "application/json",
        error: "unsupported_grant_type",
        description: "grant type not supported",
      },
      {
        name: "an unknown grant type",
        change: (g) => (g.grant_type = "password"),
        error: "unsupported_grant_type",
        description: "grant type not supported",
      },
    ];
    for (const c of cases) {
      const code = await getCode(org, verifier);
      const grant = codeGrant(org, code, verifier);
      c.change(grant);
      c.before?.();
      const { status, body } = await postToken(org, grant, c.contentType);
      assertEquals(status, 400, c.name);
      assertEquals(
        body,
        { error: c.error, error_description: c.description },
        c.name,
      );
    }
    assertEquals(org.issued, [], "no case got a token");
  });
});

Deno.test("POST /services/oauth2/token takes a code once, and a replay ends what it bought", async () => {
  await withOrg(async (org) => {
    const verifier = createCodeVerifier();
    const code = await getCode(org, verifier);
    const first = await postToken(org, codeGrant(org, code, verifier));
    assertEquals(first.status, 200);
    const second = await postToken(org, codeGrant(org, code, verifier));
    assertEquals(second.body, {
      error: "invalid_grant",
      error_description: "expired authorization code",
    });
    const identity = await call(org, first.body.id, {
      headers: { authorization: `Bearer ${first.body.access_token}` },
    });
    await identity.body?.cancel();
    assertEquals(identity.status, 403);
  });
});

Deno.test("POST /services/oauth2/token accepts a missing secret only when the app does not require one", async () => {
  await withOrg(async (org) => {
    const verifier = createCodeVerifier();
    const grant = codeGrant(org, await getCode(org, verifier), verifier);
    delete grant.client_secret;
    assertEquals((await postToken(org, grant)).status, 200);
  });
  await withOrg(async (org) => {
    const verifier = createCodeVerifier();
    const grant = codeGrant(org, await getCode(org, verifier), verifier);
    delete grant.client_secret;
    const { status, body } = await postToken(org, grant);
    assertEquals(status, 400);
    assertEquals(body.error, "invalid_client");
  }, { clientSecret: "my-own-secret" });
});

Deno.test("a verifier longer than 128 characters is accepted, as Salesforce does for jsforce", async () => {
  await withOrg(async (org) => {
    const verifier = createCodeVerifier(96) + "x".repeat(43); // 171 characters
    const bytes = new TextEncoder().encode(verifier);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    const challenge = digest.toBase64({
      alphabet: "base64url",
      omitPadding: true,
    });
    const location = await consent(org, {
      ...(await authorizeParams(org, createCodeVerifier())),
      code_challenge: challenge,
    });
    const code = location.searchParams.get("code")!;
    const { status } = await postToken(org, codeGrant(org, code, verifier));
    assertEquals(status, 200);
  });
});

Deno.test("the refresh grant issues a new signed access token and keeps the refresh token", async () => {
  await withOrg(async (org) => {
    const verifier = createCodeVerifier();
    const first = await postToken(
      org,
      codeGrant(org, await getCode(org, verifier), verifier),
    );
    const { status, body } = await postToken(org, {
      grant_type: "refresh_token",
      refresh_token: first.body.refresh_token,
      client_id: org.client.client_id,
      client_secret: org.client.client_secret,
    });
    assertEquals(status, 200);
    assertFalse("refresh_token" in body);
    assert(body.access_token !== first.body.access_token);
    assert(await verifySignature(body, org.client.client_secret));
    const bad = await postToken(org, {
      grant_type: "refresh_token",
      refresh_token: "5Aep861nope",
      client_id: org.client.client_id,
    });
    assertEquals(bad.body, {
      error: "invalid_grant",
      error_description: "expired access/refresh token",
    });
  });
});

Deno.test("revoking a refresh token ends it and its access tokens; unknown tokens get 400 invalid_token", async () => {
  await withOrg(async (org) => {
    const verifier = createCodeVerifier();
    const { body } = await postToken(
      org,
      codeGrant(org, await getCode(org, verifier), verifier),
    );
    const identity = (token: string) =>
      call(org, body.id, { headers: { authorization: `Bearer ${token}` } });

    const before = await identity(body.access_token);
    const user = await before.json();
    assertEquals(before.status, 200);
    assertEquals(user.username, "learner@demo-org.example");
    assertMatch(user.urls.rest, /\/services\/data\/v\{version\}\/$/);

    const revoke = (token: string) =>
      call(org, `${org.url}/services/oauth2/revoke`, {
        method: "POST",
        body: new URLSearchParams({ token }),
      });
    const revoked = await revoke(body.refresh_token);
    await revoked.body?.cancel();
    assertEquals(revoked.status, 200);

    const after = await identity(body.access_token);
    assertEquals(after.status, 403);
    assertEquals(await after.text(), "Bad_OAuth_Token");

    const again = await revoke(body.refresh_token);
    assertEquals(again.status, 400);
    assertEquals(
      Object.fromEntries(new URLSearchParams(await again.text())).error,
      "invalid_token",
    );
  });
});

Deno.test("userinfo and the identity URL need a live Bearer token", async () => {
  await withOrg(async (org) => {
    const verifier = createCodeVerifier();
    const { body } = await postToken(
      org,
      codeGrant(org, await getCode(org, verifier), verifier),
    );
    const userinfo = await call(org, `${org.url}/services/oauth2/userinfo`, {
      headers: { authorization: `Bearer ${body.access_token}` },
    });
    const claims = await userinfo.json();
    assertEquals(claims.sub, body.id);
    assertEquals(claims.preferred_username, "learner@demo-org.example");
    for (const url of [body.id, `${org.url}/services/oauth2/userinfo`]) {
      const anonymous = await call(org, url);
      await anonymous.body?.cancel();
      assertEquals(anonymous.status, 403, url);
    }
    const apiOnly = await postToken(
      org,
      codeGrant(
        org,
        await getCode(org, verifier, { scope: "refresh_token" }),
        verifier,
      ),
    );
    const forbidden = await call(org, body.id, {
      headers: { authorization: `Bearer ${apiOnly.body.access_token}` },
    });
    await forbidden.body?.cancel();
    assertEquals(forbidden.status, 403);
  });
});

Deno.test("the discovery document mirrors Salesforce's, with the demo org as issuer", async () => {
  await withOrg(async (org) => {
    const response = await call(
      org,
      `${org.url}/.well-known/openid-configuration`,
    );
    const document = await response.json();
    assertEquals(document.issuer, org.url);
    assertEquals(document.token_endpoint, `${org.url}/services/oauth2/token`);
    assertFalse("code_challenge_methods_supported" in document);
  });
});

Deno.test("pending consents expire after 10 minutes and at most 100 wait; an oversized request is refused", async () => {
  await withOrg(async (org, clock) => {
    const verifier = createCodeVerifier();
    const first = await authorizeParams(org, verifier, { state: "first" });
    const page = await call(org, authorizeUrl(org, first));
    const consentId =
      /name="consent" value="([^"]+)"/.exec(await page.text())![1];
    clock.now += 11 * 60 * 1000;
    const late = await call(org, `${org.url}/services/oauth2/authorize`, {
      method: "POST",
      body: new URLSearchParams({ consent: consentId, decision: "allow" }),
    });
    assertEquals(late.status, 400);
    assertStringIncludes(await late.text(), "This request has expired");

    const params = await authorizeParams(org, verifier);
    for (let i = 0; i < 150; i++) {
      await (await call(org, authorizeUrl(org, params))).body?.cancel();
    }
    assertEquals(org.consents.size, 100);

    const huge = await authorizeParams(org, verifier, {
      state: "s".repeat(60_000),
    });
    const refused = await call(org, authorizeUrl(org, huge));
    assertEquals(refused.status, 400);
    assertEquals(
      await refused.text(),
      "error=invalid_request&error_description=request%20too%20large",
    );
    assertEquals(org.consents.size, 100, "nothing kept for it");
  });
});

// ---------------------------------------------------------------------------
// Signing in, prompts, scopes and the rest of Salesforce's surface
// ---------------------------------------------------------------------------

Deno.test("a first authorize request shows the sign-in page (login_hint filled in), and POST /login comes back to it with a session cookie", async () => {
  await withOrg(async (org) => {
    const params = await authorizeParams(org, createCodeVerifier(), {
      login_hint: "someone@example.com",
      prompt: "login consent",
    });
    const page = await call(org, authorizeUrl(org, params));
    assertEquals(page.status, 200);
    const html = await page.text();
    assertStringIncludes(html, 'action="/login"');
    assertStringIncludes(html, 'value="someone@example.com"');
    assertEquals(org.consents.size, 0, "nothing kept before sign-in");
    const startURL = /name="startURL" value="([^"]+)"/.exec(html)![1]
      .replaceAll("&#38;", "&");
    assertFalse(startURL.includes("prompt=login"), "it would ask again");
    assertStringIncludes(startURL, "prompt=consent");
    const signedIn = await signIn(org, startURL);
    assertEquals(
      signedIn.headers.get("location"),
      new URL(startURL, org.url).href,
    );
    const consentPage = await call(org, signedIn.headers.get("location")!);
    assertStringIncludes(await consentPage.text(), "Allow access?");
    // Never an open redirect.
    const elsewhere = await call(org, `${org.url}/login`, {
      method: "POST",
      body: new URLSearchParams({ startURL: "https://evil.example/" }),
    });
    assertEquals(elsewhere.status, 400);
    await elsewhere.body?.cancel();
  }, { signedIn: false });
});

Deno.test("an app approved in this session skips consent, unless prompt=consent; prompt=login asks to sign in again", async () => {
  await withOrg(async (org) => {
    const verifier = createCodeVerifier();
    const first = await consent(org, await authorizeParams(org, verifier));
    assert(first.searchParams.has("code"));
    const cases: [AuthorizeParams, number, string][] = [
      [{}, 302, "code"],
      [{ prompt: "consent" }, 200, "Allow access?"],
      [{ prompt: "login" }, 200, 'action="/login"'],
      [{ immediate: "true" }, 302, "code"],
      [{ display: "popup" }, 302, "code"],
    ];
    for (const [overrides, status, expected] of cases) {
      const response = await call(
        org,
        authorizeUrl(org, await authorizeParams(org, verifier, overrides)),
      );
      const label = JSON.stringify(overrides);
      assertEquals(response.status, status, label);
      const text = status === 302
        ? new URL(response.headers.get("location")!).searchParams.get(expected)
        : await response.text();
      assert(text, label);
      if (status === 200) assertStringIncludes(text, expected, label);
    }
  });
});

Deno.test("immediate=true without a session, or for an app not yet approved, redirects with immediate_unsuccessful", async () => {
  for (const signedIn of [false, true]) {
    await withOrg(async (org) => {
      const params = await authorizeParams(org, createCodeVerifier(), {
        immediate: "true",
      });
      const response = await call(org, authorizeUrl(org, params));
      assertEquals(response.status, 302);
      const location = new URL(response.headers.get("location")!);
      assertEquals(location.origin + location.pathname, REDIRECT_URI);
      assertEquals(
        location.searchParams.get("error"),
        "immediate_unsuccessful",
      );
      assertEquals(location.searchParams.get("state"), "state-123");
    }, { signedIn });
  }
});

Deno.test("scope synonyms: profile and email grant what id grants, offline_access is refresh_token", async () => {
  await withOrg(async (org) => {
    const verifier = createCodeVerifier();
    const params = await authorizeParams(org, verifier, {
      scope: "profile email offline_access",
    });
    const page = await call(org, authorizeUrl(org, params));
    const html = await page.text();
    assertEquals(html.match(/Access the identity URL service/g)?.length, 1);
    assertStringIncludes(html, "Perform requests at any time");
    const code = await getCode(org, verifier, {
      scope: "profile email offline_access",
    });
    const { body } = await postToken(org, codeGrant(org, code, verifier));
    assertEquals(body.scope, "profile email offline_access");
    assert(body.refresh_token, "offline_access gives a refresh token");
    const identity = await call(org, body.id, {
      headers: { authorization: `Bearer ${body.access_token}` },
    });
    assertEquals(identity.status, 200);
    await identity.body?.cancel();
  });
});

Deno.test("a malformed code_challenge passes authorize and fails at the token endpoint, as on Salesforce", async () => {
  await withOrg(async (org) => {
    const verifier = createCodeVerifier();
    const code = await getCode(org, verifier, {
      code_challenge: "not-base64url-but-hex-0123456789abcdef",
    });
    const { status, body } = await postToken(
      org,
      codeGrant(org, code, verifier),
    );
    assertEquals(status, 400);
    assertEquals(body, {
      error: "invalid_grant",
      error_description: "invalid code verifier",
    });
  });
});

Deno.test("the identity URL fills in {version} from version=, lists Salesforce's urls, and names no photos it cannot serve", async () => {
  await withOrg(async (org) => {
    const verifier = createCodeVerifier();
    const code = await getCode(org, verifier);
    const { body } = await postToken(org, codeGrant(org, code, verifier));
    const bearer = { authorization: `Bearer ${body.access_token}` };
    const get = async (query: string) => {
      const response = await call(org, `${body.id}${query}`, {
        headers: bearer,
      });
      return { status: response.status, text: await response.text() };
    };
    const latest = JSON.parse((await get("?version=latest")).text);
    assertEquals(
      latest.urls.rest,
      `${org.url}/services/data/v${LATEST_API_VERSION}/`,
    );
    assertEquals(Object.keys(latest.urls), [
      "enterprise",
      "metadata",
      "partner",
      "rest",
      "sobjects",
      "search",
      "query",
      "recent",
      "tooling_soap",
      "tooling_rest",
      "profile",
      "feeds",
      "groups",
      "users",
      "feed_items",
      "feed_elements",
      "custom_domain",
    ]);
    assertFalse("photos" in latest);
    const pinned = JSON.parse((await get("?version=52.0")).text);
    assertEquals(pinned.urls.query, `${org.url}/services/data/v52.0/query/`);
    const template = JSON.parse((await get("")).text);
    assertStringIncludes(template.urls.rest, "v{version}");
    assertEquals((await get("?version=soon")).status, 406);
  });
});

Deno.test("the discovery document has Salesforce's keys, and introspection answers for the app's own tokens", async () => {
  await withOrg(async (org) => {
    const response = await call(
      org,
      `${org.url}/.well-known/openid-configuration`,
    );
    const document = await response.json();
    for (
      const key of [
        "introspection_endpoint",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
        "claims_supported",
        "display_values_supported",
      ]
    ) {
      assert(key in document, key);
    }
    assertEquals(document.token_endpoint_auth_methods_supported, [
      "client_secret_post",
      "client_secret_basic",
      "private_key_jwt",
    ]);
    assert(document.scopes_supported.length >= 20);
    assertFalse("code_challenge_methods_supported" in document);

    const verifier = createCodeVerifier();
    const code = await getCode(org, verifier);
    const { body } = await postToken(org, codeGrant(org, code, verifier));
    /** POSTs to the introspection endpoint with the client's credentials in the form, or as Basic. */
    const introspect = async (
      token: string,
      credentials: { form?: Record<string, string>; basic?: string },
    ) => {
      const answer = await call(org, `${org.url}/services/oauth2/introspect`, {
        method: "POST",
        headers: credentials.basic ? { authorization: credentials.basic } : {},
        body: new URLSearchParams({ token, ...credentials.form }),
      });
      return { status: answer.status, body: await answer.json() };
    };
    const form = {
      client_id: org.client.client_id,
      client_secret: org.client.client_secret,
    };
    const live = await introspect(body.access_token, { form });
    assertEquals(live.status, 200);
    assertEquals(live.body.active, true);
    assertEquals(live.body.token_type, "access_token");
    assertEquals(live.body.sub, org.identityUrl);
    assertEquals(live.body.exp - live.body.iat, 7200);
    const basic = `Basic ${btoa(`${form.client_id}:${form.client_secret}`)}`;
    const viaBasic = await introspect(body.refresh_token, { basic });
    assertEquals(viaBasic.body.token_type, "refresh_token");
    assertEquals((await introspect("nope", { form })).body, { active: false });
    const wrong = { form: { ...form, client_secret: "x" } };
    assertEquals((await introspect(body.access_token, wrong)).status, 401);
  });
});

Deno.test("requests addressed to another host are refused (DNS rebinding)", async () => {
  await withOrg(async (org) => {
    for (const host of ["evil.example:8080", "127.0.0.1:9999"]) {
      const response = await call(org, `http://${host}/`);
      assertEquals(response.status, 421, host);
      await response.body?.cancel();
    }
    const ok = await call(org, "http://localhost:8080/");
    assertEquals(ok.status, 200);
    const home = await ok.text();
    assertStringIncludes(home, "--instance-url http://localhost:8080 ");
    assertStringIncludes(home, "Salesforce CLI (<code>PlatformCLI</code>)");
  });
});

// ---------------------------------------------------------------------------
// OpenID Connect
// ---------------------------------------------------------------------------

Deno.test("with openid the demo org issues an RS256 ID token its /id/keys verifies, with Salesforce's claims and the nonce echoed", async () => {
  await withOrg(async (org, clock) => {
    const verifier = createCodeVerifier();
    const code = await getCode(org, verifier, {
      scope: "openid api refresh_token",
      nonce: "nonce-123",
    });
    const { body } = await postToken(org, codeGrant(org, code, verifier));
    const jwt = decodeJwt(body.id_token);
    assertEquals(jwt.header, { kid: "1", typ: "JWT", alg: "RS256" });
    const jwks = await (await call(org, `${org.url}/id/keys`)).json();
    assertEquals(jwks.keys.length, 1);
    const [key] = jwks.keys;
    assertEquals([key.kty, key.alg, key.use, key.kid], [
      "RSA",
      "RS256",
      "sig",
      "1",
    ]);
    assertFalse("d" in key, "the public half only");
    assert(await verifyRs256(jwt, key));
    const now = Math.floor(clock.now / 1000);
    assertEquals(jwt.claims.iss, org.url);
    assertEquals(jwt.claims.sub, body.id);
    assertEquals(jwt.claims.aud, org.client.client_id);
    assertEquals([jwt.claims.iat, jwt.claims.exp], [now, now + 120]);
    assertEquals(jwt.claims.nonce, "nonce-123");
    assertEquals(jwt.claims.at_hash, await accessTokenHash(body.access_token));
    assertEquals(jwt.claims.preferred_username, "learner@demo-org.example");
    // userinfo says the same.
    const userinfo =
      await (await call(org, `${org.url}/services/oauth2/userinfo`, {
        headers: { authorization: `Bearer ${body.access_token}` },
      })).json();
    for (const claim of ["sub", "name", "email", "preferred_username"]) {
      assertEquals(userinfo[claim], jwt.claims[claim], claim);
    }
    // The refresh grant gives a new ID token, for the same user, without the nonce.
    const refreshed = await postToken(org, {
      grant_type: "refresh_token",
      refresh_token: body.refresh_token,
      client_id: org.client.client_id,
    });
    const again = decodeJwt(refreshed.body.id_token);
    assertEquals(again.claims.sub, jwt.claims.sub);
    assertFalse("nonce" in again.claims);
    assert(await verifyRs256(again, key));
    // Without openid, no ID token.
    const plainCode = await getCode(org, verifier, { scope: "api" });
    const plain = await postToken(org, codeGrant(org, plainCode, verifier));
    assertFalse("id_token" in plain.body);
  });
});

// ---------------------------------------------------------------------------
// Real clients' habits (the REST API: demo_org_rest_test.ts)
// ---------------------------------------------------------------------------

Deno.test("every URL the org hands out follows the host the request reached", async () => {
  await withOrg(async (org) => {
    const verifier = createCodeVerifier();
    const code = await getCode(org, verifier);
    const response = await call(
      org,
      "http://localhost:8080/services/oauth2/token",
      {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(codeGrant(org, code, verifier)),
      },
    );
    const body = await response.json();
    assertEquals(body.instance_url, "http://localhost:8080");
    assertMatch(body.id, /^http:\/\/localhost:8080\/id\//);
    assertEquals(decodeJwt(body.id_token).claims.iss, "http://localhost:8080");
    assert(await verifySignature(body, org.client.client_secret));
    const discovery = await (await call(
      org,
      "http://[::1]:8080/.well-known/openid-configuration",
    )).json();
    assertEquals(discovery.issuer, "http://[::1]:8080");
    assertEquals(discovery.jwks_uri, "http://[::1]:8080/id/keys");
  });
});

Deno.test("the Salesforce CLI's app: PlatformCLI, a public client, PKCE with a 171-character verifier and no method", async () => {
  await withOrg(async (org) => {
    const verifier = base64url(crypto.getRandomValues(new Uint8Array(128)));
    assertEquals(verifier.length, 171);
    const params = {
      client_id: "PlatformCLI",
      redirect_uri: "http://localhost:1717/OauthRedirect",
      response_type: "code",
      code_challenge: await s256(verifier),
      scope: "refresh_token api web",
      state: "cli",
      prompt: "login",
    };
    const signInPage = await call(org, authorizeUrl(org, params));
    const startURL = /name="startURL" value="([^"]+)"/.exec(
      await signInPage.text(),
    )![1]
      .replaceAll("&#38;", "&");
    const signedIn = await signIn(org, startURL);
    const consentPage = await call(org, signedIn.headers.get("location")!);
    const html = await consentPage.text();
    assertStringIncludes(html, "Salesforce CLI");
    const consentId = /name="consent" value="([^"]+)"/.exec(html)![1];
    const answer = await call(org, `${org.url}/services/oauth2/authorize`, {
      method: "POST",
      body: new URLSearchParams({ consent: consentId, decision: "allow" }),
    });
    const location = new URL(answer.headers.get("location")!);
    assertEquals(
      location.origin + location.pathname,
      "http://localhost:1717/OauthRedirect",
    );
    const { status, body } = await postToken(org, {
      grant_type: "authorization_code",
      code: location.searchParams.get("code")!,
      client_id: "PlatformCLI",
      redirect_uri: "http://localhost:1717/OauthRedirect",
      code_verifier: verifier,
    });
    assertEquals(status, 200, JSON.stringify(body));
    assertEquals(body.scope, "refresh_token api web");
    assert(body.refresh_token);
    // Its tokens are its own: the demo app's refresh grant cannot use them.
    const stolen = await postToken(org, {
      grant_type: "refresh_token",
      refresh_token: body.refresh_token,
      client_id: org.client.client_id,
    });
    assertEquals(stolen.body.error, "invalid_grant");
  });
});
