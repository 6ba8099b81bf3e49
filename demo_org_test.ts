import {
  assert,
  assertEquals,
  assertFalse,
  assertMatch,
  assertStringIncludes,
} from "./_test_deps.ts";
import {
  CODE_LIFETIME_MS,
  createDemoOrg,
  DEMO_SCOPES,
  type DemoOrg,
  type DemoOrgOptions,
  LATEST_API_VERSION,
  ROUTES,
  signIdentity,
  signInAndDecide,
  startDemoOrg,
  toId18,
} from "./demo_org.ts";
import { testSigningKeys } from "./_test_utils.ts";
import {
  MAX_ACCESS_TOKENS,
  MAX_CODES,
  MAX_FORM_BYTES,
  MAX_ISSUED,
  MAX_LOGGED_PATH,
  MAX_PENDING_CONSENTS,
  MAX_RECEIVED,
  MAX_RETIRED_REFRESH_TOKENS,
  MAX_SESSIONS,
  SESSION_LIFETIME_MS,
} from "./demo_org/limits.ts";
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

/** A page's HTML without the `<wbr>` hints it gives long values: the text a reader copies. */
function text(html: string): string {
  return html.replaceAll("<wbr>", "");
}

/** A demo org for one test, without a socket: requests go straight to its handlers. Signed in unless told otherwise, as a browser with a session. */
async function withOrg(
  fn: (org: DemoOrg, clock: { now: number }) => Promise<void>,
  options: DemoOrgOptions & { signedIn?: boolean } = {},
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
    assertStringIncludes(text(await home.text()), org.client.client_id);
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
    assertStringIncludes(html, "Your terminal cannot see this page");
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
      "api_instance_url", // sfap_api is among the app's scopes
    ]);
    assertMatch(body.access_token, /^00D[A-Za-z0-9]{12}![A-Za-z0-9._]{40,}$/);
    assertMatch(body.refresh_token, /^5Aep861/);
    assertEquals(body.scope, "api id openid refresh_token web full sfap_api"); // the app's own scopes
    assertEquals(body.api_instance_url, "https://api.salesforce.com");
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

Deno.test("the identity URL fills in {version} from version=, and has Salesforce's fields: urls, photos it serves, addr_*, mobile_phone, status", async () => {
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
    // The fields in the order of Salesforce's SDK fixture (facts A.7).
    assertEquals(Object.keys(latest), [
      "id",
      "asserted_user",
      "user_id",
      "organization_id",
      "username",
      "nick_name",
      "display_name",
      "email",
      "email_verified",
      "first_name",
      "last_name",
      "timezone",
      "photos",
      "addr_street",
      "addr_city",
      "addr_state",
      "addr_country",
      "addr_zip",
      "mobile_phone",
      "mobile_phone_verified",
      "is_lightning_login_user",
      "status",
      "urls",
      "active",
      "user_type",
      "language",
      "locale",
      "utcOffset",
      "last_modified_date",
      "is_app_installed",
    ]);
    assertEquals(latest.status, { created_date: null, body: null });
    assertEquals([latest.addr_country, latest.mobile_phone], ["GB", null]);
    assertEquals(Object.keys(latest.photos), ["picture", "thumbnail"]);
    for (const url of Object.values<string>(latest.photos)) {
      const photo = await call(org, url);
      assertEquals(photo.status, 200, url);
      assertEquals(photo.headers.get("content-type"), "image/svg+xml");
      assertFalse(
        /<script|on\w+=/i.test(await photo.text()),
        "it runs nothing",
      );
    }
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
    const home = text(await ok.text());
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
// Real clients' habits (the REST API itself: demo_org_rest_test.ts)
// ---------------------------------------------------------------------------

/** A live access token from the demo app, for REST calls. */
async function accessToken(org: DemoOrg, scope?: string): Promise<string> {
  const verifier = createCodeVerifier();
  const code = await getCode(org, verifier, scope ? { scope } : {});
  const { body } = await postToken(org, codeGrant(org, code, verifier));
  return body.access_token;
}

async function restGet(org: DemoOrg, path: string, token?: string) {
  const response = await call(org, `${org.url}${path}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return {
    status: response.status,
    type: response.headers.get("content-type"),
    limit: response.headers.get("sforce-limit-info"),
    body: await response.json(),
  };
}

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

// ---------------------------------------------------------------------------
// Rotation, JWT-based access tokens, the API platform host, approvals
// ---------------------------------------------------------------------------

/** Signs in (the org's cookie), approves and exchanges a code: the token response. */
async function tokensFor(org: DemoOrg, overrides: AuthorizeParams = {}) {
  const verifier = createCodeVerifier();
  const code = await getCode(org, verifier, overrides);
  const { status, body } = await postToken(
    org,
    codeGrant(org, code, verifier),
  );
  assertEquals(status, 200, JSON.stringify(body));
  return body;
}

/** The refresh grant, as the walkthrough's step 10 sends it. */
function refreshWith(org: DemoOrg, refreshToken: string) {
  return postToken(org, {
    grant_type: "refresh_token",
    refresh_token: refreshToken,
    client_id: org.client.client_id,
    client_secret: org.client.client_secret,
  });
}

/** Whether an access token still works: at the REST API and at the identity URL. */
async function accessWorks(org: DemoOrg, token: string): Promise<boolean> {
  const api = await restGet(org, "/services/data/v62.0/limits", token);
  const id = await call(org, org.identityUrl, {
    headers: { authorization: `Bearer ${token}` },
  });
  await id.body?.cancel();
  assertEquals(api.status === 200, id.status === 200, "both agree");
  return api.status === 200;
}

const REVOKED = {
  error: "invalid_grant",
  error_description: "expired access/refresh token",
};

Deno.test("with rotation each refresh returns a new refresh token and retires the old; without it, none is returned", async () => {
  await withOrg(async (org) => {
    const first = await tokensFor(org);
    const once = await refreshWith(org, first.refresh_token);
    assertEquals(once.status, 200);
    assertMatch(once.body.refresh_token, /^5Aep861/);
    assert(once.body.refresh_token !== first.refresh_token);
    assert(await verifySignature(once.body, org.client.client_secret));
    const twice = await refreshWith(org, once.body.refresh_token);
    assertEquals(twice.status, 200);
    assert(twice.body.refresh_token !== once.body.refresh_token);
    // The newest one refreshes; every access token so far still works.
    assertEquals(
      (await refreshWith(org, twice.body.refresh_token)).status,
      200,
    );
    assert(await accessWorks(org, first.access_token));
  }, { rotateRefreshTokens: true });
  await withOrg(async (org) => {
    const first = await tokensFor(org);
    const again = await refreshWith(org, first.refresh_token);
    assertFalse("refresh_token" in again.body, "no rotation by default");
    assertEquals((await refreshWith(org, first.refresh_token)).status, 200);
  });
});

Deno.test("presenting a rotated-out refresh token revokes the whole grant: its newest refresh token and every access token", async () => {
  await withOrg(async (org) => {
    const first = await tokensFor(org);
    const rotated = await refreshWith(org, first.refresh_token);
    const other = await tokensFor(org); // another login, untouched
    const reused = await refreshWith(org, first.refresh_token);
    assertEquals(reused.status, 400);
    assertEquals(reused.body, REVOKED);
    // The whole grant is gone: the refresh token it had by then, and both access tokens.
    assertEquals(
      (await refreshWith(org, rotated.body.refresh_token)).body,
      REVOKED,
    );
    assertFalse(await accessWorks(org, first.access_token));
    assertFalse(await accessWorks(org, rotated.body.access_token));
    assert(await accessWorks(org, other.access_token), "other logins stay");
    assertEquals((await refreshWith(org, other.refresh_token)).status, 200);
    // Presenting it yet again changes nothing and says the same.
    assertEquals((await refreshWith(org, first.refresh_token)).body, REVOKED);
  }, { rotateRefreshTokens: true });
});

Deno.test("a rotated-out refresh token presented by another app revokes nothing", async () => {
  await withOrg(async (org) => {
    const first = await tokensFor(org);
    const rotated = await refreshWith(org, first.refresh_token);
    const stranger = await postToken(org, {
      grant_type: "refresh_token",
      refresh_token: first.refresh_token,
      client_id: "PlatformCLI",
    });
    assertEquals(stranger.body, REVOKED);
    assertEquals(
      (await refreshWith(org, rotated.body.refresh_token)).status,
      200,
    );
  }, { rotateRefreshTokens: true });
});

/** The header and claims of a JWT, decoded without checking anything. */
function jwtParts(jwt: string) {
  const { header, claims } = decodeJwt(jwt);
  return { header, claims };
}

Deno.test("JWT-based access tokens: Salesforce's header and claims, token_format jwt, signed with a key /id/keys publishes", async () => {
  await withOrg(async (org, clock) => {
    const body = await tokensFor(org, { scope: "api refresh_token openid" });
    assertEquals(body.token_format, "jwt");
    const { header, claims } = jwtParts(body.access_token);
    assertEquals(Object.keys(header), [
      "tnk",
      "ver",
      "kid",
      "tty",
      "typ",
      "alg",
    ]);
    assertEquals(
      [header.alg, header.typ, header.tty, header.ver],
      ["RS256", "JWT", "sfdc-core-token", "1.0"],
    );
    assertMatch(String(header.kid), /^CORE_ATJWT\.00D\w{12}\.\d{13}$/);
    assertMatch(String(header.tnk), /^core\/demo-org\/00D\w{15}$/);
    const now = Math.floor(clock.now / 1000);
    assertEquals(claims.aud, [org.url]);
    assertEquals(claims.iss, org.url);
    assertEquals(claims.sub, `uid:${toId18("0055g00000DEMOU")}`);
    assertEquals(claims.scp, "api refresh_token openid");
    assertEquals(claims.client_id, org.client.client_id);
    assertEquals([claims.iat, claims.exp], [now, now + 7200]);
    assert(Number(claims.nbf) <= now);
    assertMatch(String(claims.sfi), /^[0-9a-f]{64}$/);
    const jwks = await (await call(org, `${org.url}/id/keys`)).json();
    const key = jwks.keys.find((k: { kid: string }) => k.kid === header.kid);
    assert(key, "the access token's kid is published");
    assert(await verifyRs256(decodeJwt(body.access_token), key));
    // The ID token still uses its own kid, and binds this access token.
    const idToken = decodeJwt(body.id_token);
    assertEquals(idToken.header.kid, "1");
    assertEquals(
      idToken.claims.at_hash,
      await accessTokenHash(body.access_token),
    );
    // Usable at the REST API and the identity URL; refreshing gives another JWT.
    assert(await accessWorks(org, body.access_token));
    const refreshed = await refreshWith(org, body.refresh_token);
    assertEquals(refreshed.body.token_format, "jwt");
    assert(refreshed.body.access_token !== body.access_token, "each is unique");
    // Revocable like any access token.
    const revoked = await call(org, `${org.url}/services/oauth2/revoke`, {
      method: "POST",
      body: new URLSearchParams({ token: body.access_token }),
    });
    assertEquals(revoked.status, 200);
    assertFalse(await accessWorks(org, body.access_token));
  }, { jwtAccessTokens: true });
});

Deno.test("without the JWT option, access tokens are opaque, with no token_format, and /id/keys has one key", async () => {
  await withOrg(async (org) => {
    const body = await tokensFor(org);
    assertFalse("token_format" in body);
    assertMatch(body.access_token, /^00D\w{12}!/);
    const jwks = await (await call(org, `${org.url}/id/keys`)).json();
    assertEquals(jwks.keys.map((k: { kid: string }) => k.kid), ["1"]);
  });
});

Deno.test("api_instance_url comes with the sfap_api scope only, at the exchange and at each refresh", async () => {
  await withOrg(async (org) => {
    const cases: [string, boolean][] = [
      ["api refresh_token sfap_api", true],
      ["api refresh_token", false],
    ];
    for (const [scope, expected] of cases) {
      const body = await tokensFor(org, { scope });
      assertEquals("api_instance_url" in body, expected, scope);
      if (expected) {
        assertEquals(body.api_instance_url, "https://api.salesforce.com");
        assertEquals(Object.keys(body).at(-1), "api_instance_url");
      }
      const refreshed = await refreshWith(org, body.refresh_token);
      assertEquals("api_instance_url" in refreshed.body, expected, scope);
    }
  });
});

Deno.test("five approvals per user per app: the sixth revokes the oldest's refresh token and access tokens, silently", async () => {
  await withOrg(async (org) => {
    const logins = [];
    for (let i = 0; i < 6; i++) logins.push(await tokensFor(org));
    const [oldest, ...rest] = logins;
    assertEquals((await refreshWith(org, oldest.refresh_token)).body, REVOKED);
    assertFalse(await accessWorks(org, oldest.access_token));
    for (const login of rest) {
      assertEquals((await refreshWith(org, login.refresh_token)).status, 200);
      assert(await accessWorks(org, login.access_token));
    }
    assertEquals(org.approvals.length, 5);
    // Logins without a refresh token make no approval and revoke nothing.
    for (let i = 0; i < 6; i++) await tokensFor(org, { scope: "api" });
    assertEquals((await refreshWith(org, rest[0].refresh_token)).status, 200);
    // Another app's approvals are counted apart.
    assertEquals(
      org.approvals.filter((a) => a.clientId === org.client.client_id).length,
      5,
    );
  });
});

// ---------------------------------------------------------------------------
// Client authentication: Basic (RFC 6749 §2.3.1) or the form, never both
// ---------------------------------------------------------------------------

/** RFC 6749 §2.3.1's encoding of one half of a Basic header, as oauth4webapi does it. */
function formUrlEncode(value: string): string {
  return encodeURIComponent(value).replace(
    /[-_.!~*'()]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  ).replaceAll("%20", "+");
}

function basic(id: string, secret: string): string {
  return `Basic ${btoa(`${formUrlEncode(id)}:${formUrlEncode(secret)}`)}`;
}

Deno.test("a Basic header alone authenticates the client at the token endpoint, its halves form-url-decoded", async () => {
  const clientId = "3MVG9Demo.key_with:colon and space";
  const clientSecret = "s3cret:with+plus%and space";
  await withOrg(async (org) => {
    const verifier = createCodeVerifier();
    const code = await getCode(org, verifier);
    const { client_id: _, client_secret: __, ...form } = codeGrant(
      org,
      code,
      verifier,
    );
    const response = await call(org, `${org.url}/services/oauth2/token`, {
      method: "POST",
      headers: { authorization: basic(clientId, clientSecret) },
      body: new URLSearchParams(form),
    });
    const body = await response.json();
    assertEquals(response.status, 200, JSON.stringify(body));
    assert(await verifySignature(body, clientSecret));
    // Refresh the same way; a public client may send an empty secret.
    const refreshed = await call(org, `${org.url}/services/oauth2/token`, {
      method: "POST",
      headers: { authorization: basic(clientId, clientSecret) },
      body: new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: body.refresh_token,
      }),
    });
    assertEquals(refreshed.status, 200);
    await refreshed.body?.cancel();
  }, { clientId, clientSecret });
});

Deno.test("client credentials: Basic with a secret in the form, or naming another client, is refused; malformed Basic is invalid_client", async () => {
  await withOrg(async (org) => {
    const { client_id: id, client_secret: secret } = org.client;
    const cases: [string, string, Record<string, string>, number, string][] = [
      [
        "Basic and a form secret",
        basic(id, secret),
        {
          client_secret: secret,
        },
        400,
        "invalid_request",
      ],
      [
        "Basic and another form client_id",
        basic(id, secret),
        {
          client_id: "PlatformCLI",
        },
        400,
        "invalid_request",
      ],
      ["a wrong Basic secret", basic(id, "nope"), {}, 400, "invalid_client"],
      [
        "Basic, not Base64",
        "Basic !!!not-base64!!!",
        {},
        400,
        "invalid_client",
      ],
      ["Basic with no colon", `Basic ${btoa(id)}`, {}, 400, "invalid_client"],
      [
        "Basic with a bad escape",
        `Basic ${btoa(`${id}%E0%A4%A:x`)}`,
        {},
        400,
        "invalid_client",
      ],
      [
        "Basic, not UTF-8",
        `Basic ${btoa("\xff\xfe:\xff")}`,
        {},
        400,
        "invalid_client",
      ],
      ["an empty Basic", "Basic", {}, 400, "invalid_client"],
      [
        "an unknown Basic client",
        basic("3MVG9nope", "x"),
        {},
        400,
        "invalid_client_id",
      ],
    ];
    const verifier = createCodeVerifier();
    for (const [name, authorization, extra, status, error] of cases) {
      const code = await getCode(org, verifier);
      const { client_id: _, client_secret: __, ...form } = codeGrant(
        org,
        code,
        verifier,
      );
      const response = await call(org, `${org.url}/services/oauth2/token`, {
        method: "POST",
        headers: { authorization },
        body: new URLSearchParams({ ...form, ...extra }),
      });
      assertEquals(response.status, status, name);
      assertEquals((await response.json()).error, error, name);
    }
    // The same client_id in the form alongside Basic is fine.
    const code = await getCode(org, verifier);
    const { client_secret: _, ...form } = codeGrant(org, code, verifier);
    const same = await call(org, `${org.url}/services/oauth2/token`, {
      method: "POST",
      headers: { authorization: basic(id, secret) },
      body: new URLSearchParams(form),
    });
    assertEquals(same.status, 200);
    await same.body?.cancel();
    assertEquals(org.issued.length, 2, "only that one got tokens");
  });
});

Deno.test("introspection answers invalid_client, never 500, for a malformed Basic header", async () => {
  await withOrg(async (org) => {
    const body = await tokensFor(org);
    const headers = [
      "Basic !!!",
      `Basic ${btoa("no-colon")}`,
      `Basic ${btoa(`${org.client.client_id}:%E0%A4%A`)}`,
      `Basic ${btoa("\xff:\xff")}`,
      "Basic",
      "basic    ",
    ];
    for (const authorization of headers) {
      const response = await call(
        org,
        `${org.url}/services/oauth2/introspect`,
        {
          method: "POST",
          headers: { authorization },
          body: new URLSearchParams({ token: body.access_token }),
        },
      );
      assertEquals(response.status, 401, authorization);
      assertEquals((await response.json()).error, "invalid_client");
    }
    const good = await call(org, `${org.url}/services/oauth2/introspect`, {
      method: "POST",
      headers: {
        authorization: basic(org.client.client_id, org.client.client_secret),
      },
      body: new URLSearchParams({ token: body.access_token }),
    });
    assertEquals((await good.json()).active, true);
  });
});

// ---------------------------------------------------------------------------
// The profile fields, select_account, the consent page's labels, the error page
// ---------------------------------------------------------------------------

Deno.test("userinfo has Salesforce's fields in its order: photos, profile, picture, address, urls", async () => {
  await withOrg(async (org) => {
    const body = await tokensFor(org);
    const response = await call(org, `${org.url}/services/oauth2/userinfo`, {
      headers: { authorization: `Bearer ${body.access_token}` },
    });
    const claims = await response.json();
    assertEquals(Object.keys(claims), [
      "sub",
      "user_id",
      "organization_id",
      "preferred_username",
      "nickname",
      "name",
      "email",
      "email_verified",
      "given_name",
      "family_name",
      "zoneinfo",
      "photos",
      "profile",
      "picture",
      "address",
      "is_salesforce_integration_user",
      "urls",
      "active",
      "user_type",
      "language",
      "locale",
      "utcOffset",
      "updated_at",
      "is_app_installed",
    ]);
    assertEquals(claims.picture, claims.photos.picture);
    assertEquals(claims.address, { country: "GB" });
    assertEquals(claims.profile, `${org.url}/${toId18("0055g00000DEMOU")}`);
    assertStringIncludes(claims.urls.rest, "/services/data/v{version}/");
    const photo = await call(org, claims.photos.thumbnail);
    assertEquals(photo.status, 200);
    await photo.body?.cancel();
  });
});

Deno.test("prompt=select_account shows a chooser with the demo user, then goes on; without a session it asks to sign in", async () => {
  await withOrg(async (org) => {
    const verifier = createCodeVerifier();
    const params = await authorizeParams(org, verifier, {
      prompt: "select_account",
    });
    const chooser = await call(org, authorizeUrl(org, params));
    assertEquals(chooser.status, 200);
    const html = await chooser.text();
    assertStringIncludes(html, "Choose an account");
    assertStringIncludes(html, "learner@demo-org.example");
    assertEquals(org.consents.size, 0, "nothing asked yet");
    const link = (name: string) =>
      new URL(
        new RegExp(`${name} href="([^"]+)"`).exec(html)![1]
          .replaceAll("&#38;", "&"),
        org.url,
      );
    const chosen = link('class="account"');
    assertFalse(chosen.searchParams.has("prompt"));
    assertEquals(chosen.searchParams.get("state"), "state-123");
    const consentPage = await call(org, chosen);
    assertStringIncludes(await consentPage.text(), "Allow access?");
    const other = link("<a");
    assertStringIncludes(other.href, "prompt=login"); // "Log in with a different account"
    const signIn = await call(org, other);
    assertStringIncludes(await signIn.text(), 'action="/login"');
    // immediate=true cannot show a chooser.
    const immediate = await call(
      org,
      authorizeUrl(org, { ...params, immediate: "true" }),
    );
    assertEquals(
      new URL(immediate.headers.get("location")!).searchParams.get("error"),
      "immediate_unsuccessful",
    );
  });
  await withOrg(async (org) => {
    const params = await authorizeParams(org, createCodeVerifier(), {
      prompt: "select_account",
    });
    const page = await call(org, authorizeUrl(org, params));
    const html = await page.text();
    assertStringIncludes(html, 'action="/login"');
    const startURL = /name="startURL" value="([^"]+)"/.exec(html)![1]
      .replaceAll("&#38;", "&");
    assertFalse(
      startURL.includes("select_account"),
      "no chooser after signing in",
    );
  }, { signedIn: false });
});

Deno.test("the consent page uses Salesforce's label for every scope of the demo app, and a scope's name when it has none", async () => {
  await withOrg(async (org) => {
    const page = await call(
      org,
      authorizeUrl(org, await authorizeParams(org, createCodeVerifier())),
    );
    const items = [...(await page.text()).matchAll(/<li>([^<]+)<\/li>/g)]
      .map((m) => m[1]);
    assertEquals(items, [
      "Manage user data via APIs (api)",
      "Access the identity URL service (id, profile, email, address, phone)",
      "Access unique user identifiers (openid)",
      "Perform requests at any time (refresh_token, offline_access)",
      "Manage user data via Web browsers (web)",
      "Full access (full)",
      "Access the Salesforce API Platform (sfap_api)",
      "(mcp_api)", // no label known: its name
    ]);
  }, { appScopes: [...DEMO_SCOPES, "mcp_api"] });
});

Deno.test("invalid_scope: the org tells an in-process caller at once, and its page says what the terminal knows and what to change", async () => {
  const told: unknown[][] = [];
  await withOrg(async (org) => {
    const params = await authorizeParams(org, createCodeVerifier(), {
      scope: "api chatter_api",
    });
    const refused = await call(org, authorizeUrl(org, params));
    await refused.body?.cancel();
    assertEquals(told, [[
      "invalid_scope",
      "the requested scope is not allowed",
      { client_id: org.client.client_id, state: "state-123" },
    ]]);
    const page = await call(org, refused.headers.get("location")!);
    const html = await page.text();
    assertStringIncludes(
      html,
      "The walkthrough in your terminal has been told",
    );
    assertStringIncludes(html, 'without <code class="nowrap">--scope</code>');
    assertStringIncludes(html, "--app-scopes");
    assertStringIncludes(html, org.client.scopes.join(" "));
    // Anyone can load the page itself: that tells nobody anything.
    const forged = await call(
      org,
      `${org.url}/setup/secur/RemoteAccessErrorPage.apexp?error=access_denied&error_description=${
        "x".repeat(5000)
      }`,
    );
    assertFalse((await forged.text()).includes("x".repeat(201)), "capped");
    assertEquals(told.length, 1);
  }, { onErrorPage: (...args) => told.push(args) });
  await withOrg(async (org) => {
    const params = await authorizeParams(org, createCodeVerifier(), {
      scope: "api chatter_api",
    });
    const refused = await call(org, authorizeUrl(org, params));
    assertEquals(
      refused.status,
      302,
      "a caller's failing hook changes nothing",
    );
    const html = await (await call(org, refused.headers.get("location")!))
      .text();
    assertStringIncludes(html, "has been told");
  }, {
    onErrorPage: () => {
      throw new Error("the caller's bug");
    },
  });
  await withOrg(async (org) => {
    const page = await call(
      org,
      `${org.url}/setup/secur/RemoteAccessErrorPage.apexp?error=invalid_scope&error_description=x`,
    );
    const html = await page.text();
    assertStringIncludes(html, "Your terminal cannot see this page");
    assertStringIncludes(html, "Ctrl+C");
  });
});

// ---------------------------------------------------------------------------
// What the demo org reads and remembers, under hostile use (issue 16)
// ---------------------------------------------------------------------------

/** A body that would be 1 GiB if read whole, counting what was pulled from it. */
function endlessBody() {
  const pulled = { bytes: 0, cancelled: false };
  const chunk = new TextEncoder().encode("a=".padEnd(64 * 1024, "x"));
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled.bytes >= 1 << 30) return controller.close();
      pulled.bytes += chunk.byteLength;
      controller.enqueue(chunk);
    },
    cancel() {
      pulled.cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { stream, pulled };
}

/** Every endpoint that reads a form body. */
const FORM_ROUTES = [
  "/services/oauth2/token",
  "/services/oauth2/introspect",
  "/services/oauth2/revoke",
  "/services/oauth2/authorize",
  "/login",
];

Deno.test("every form endpoint reads at most 16 KiB: an endless body is cancelled at the limit, a large Content-Length refused unread", async () => {
  await withOrg(async (org) => {
    for (const path of FORM_ROUTES) {
      const { stream, pulled } = endlessBody();
      const response = await call(org, `${org.url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: stream,
      });
      await response.body?.cancel();
      assertEquals(response.status, 413, path);
      assert(
        pulled.bytes <= MAX_FORM_BYTES + 64 * 1024,
        `${path}: ${pulled.bytes}`,
      );
      assert(pulled.cancelled, path);
      const declared = endlessBody();
      const unread = await call(org, `${org.url}${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "content-length": String(1 << 30),
        },
        body: declared.stream,
      });
      await unread.body?.cancel();
      assertEquals(unread.status, 413, path);
      assertEquals(declared.pulled.bytes, 0, `${path} read nothing`);
    }
    // Just under the limit is read.
    const full = await call(org, `${org.url}/services/oauth2/revoke`, {
      method: "POST",
      body: new URLSearchParams({ token: "x".repeat(MAX_FORM_BYTES - 10) }),
    });
    assertEquals(full.status, 400); // read, and not a token
    await full.body?.cancel();
    assertEquals(org.sessions.size, 1, "no sign-in from any of them");
  });
});

Deno.test("a user name longer than Salesforce's 80 characters signs nobody in", async () => {
  await withOrg(async (org) => {
    for (const username of ["x".repeat(81), "x".repeat(15_000)]) {
      const response = await call(org, `${org.url}/login`, {
        method: "POST",
        body: new URLSearchParams({
          username,
          password: "x",
          startURL: "/services/oauth2/authorize?",
        }),
      });
      assertEquals(response.status, 400);
      assertStringIncludes(await response.text(), "at most 80 characters");
      assertEquals(response.headers.get("set-cookie"), null);
    }
    assertEquals(org.sessions.size, 0);
    await signIn(org); // 80 and fewer work
    assertEquals(org.sessions.size, 1);
  }, { signedIn: false });
});

Deno.test("a refused request (421) leaves nothing behind; received keeps the latest requests, each path cut short", async () => {
  await withOrg(async (org) => {
    const before = [...org.received];
    for (let i = 0; i < 50; i++) {
      const refused = await call(org, `http://evil.example:8080/${i}`);
      await refused.body?.cancel();
      assertEquals(refused.status, 421);
    }
    assertEquals(org.received, before);
    const long = "/".padEnd(10_000, "p");
    for (let i = 0; i < MAX_RECEIVED + 20; i++) {
      await (await call(org, `${org.url}${long}`)).body?.cancel();
    }
    const last = await call(org, `${org.url}/`);
    await last.body?.cancel();
    assertEquals(org.received.length, MAX_RECEIVED);
    assertEquals(org.received.at(-1), "GET /", "the latest is kept");
    assertEquals(org.received[0].length, MAX_LOGGED_PATH);
  });
});

Deno.test("sessions, access tokens and codes expire: sign in again after two hours, tokens refused, old codes forgotten", async () => {
  await withOrg(async (org, clock) => {
    const body = await tokensFor(org);
    await getCode(org, createCodeVerifier()); // one not exchanged
    assertEquals(org.codes.size, 2);
    clock.now += SESSION_LIFETIME_MS + 1;
    assertFalse(await accessWorks(org, body.access_token));
    const introspected = await call(
      org,
      `${org.url}/services/oauth2/introspect`,
      {
        method: "POST",
        body: new URLSearchParams({
          token: body.access_token,
          client_id: org.client.client_id,
          client_secret: org.client.client_secret,
        }),
      },
    );
    assertEquals(await introspected.json(), { active: false });
    const page = await call(
      org,
      authorizeUrl(org, await authorizeParams(org, createCodeVerifier())),
    );
    assertStringIncludes(await page.text(), 'action="/login"', "signed out");
    assertEquals(org.sessions.size, 0);
    // Refresh tokens live on (valid until revoked, Salesforce's default policy).
    const refreshed = await refreshWith(org, body.refresh_token);
    assertEquals(refreshed.status, 200);
    await signIn(org);
    await getCode(org, createCodeVerifier());
    assertEquals(org.codes.size, 1, "the expired codes are gone");
  });
});

/** The most each of the org's maps, sets and logs may hold; anything not named here, 1000. */
const CAPS: Record<string, number> = {
  sessions: MAX_SESSIONS,
  consents: MAX_PENDING_CONSENTS,
  codes: MAX_CODES,
  accessTokens: MAX_ACCESS_TOKENS,
  refreshTokens: 10, // five approvals for each of the two apps
  approvals: 10,
  retiredRefreshTokens: MAX_RETIRED_REFRESH_TOKENS,
  received: MAX_RECEIVED,
  issued: MAX_ISSUED,
};

/** Fails if any map, set or array in the org holds more than its cap. */
function assertWithinCaps(org: DemoOrg) {
  for (const [name, value] of Object.entries(org)) {
    const size = value instanceof Map || value instanceof Set
      ? value.size
      : Array.isArray(value)
      ? value.length
      : undefined;
    if (size === undefined) continue;
    const cap = Object.hasOwn(CAPS, name) ? CAPS[name] : 1000;
    assert(size <= cap, `${name} holds ${size}, more than ${cap}`);
  }
  for (const session of org.sessions.values()) {
    assert(session.approved.size <= org.clients.length);
    assert(session.username.length <= 80);
  }
}

Deno.test("under a long hostile run every map and log stays within its cap, and the heap within a few MiB", async () => {
  await withOrg(async (org, clock) => {
    const hugeSignIn = new URLSearchParams({
      username: "x".repeat(1 << 20),
      password: "x",
      startURL: "/services/oauth2/authorize?",
    }).toString();
    const longPath = "/".padEnd(4000, "p");
    (globalThis as { gc?: () => void }).gc?.();
    const heapBefore = Deno.memoryUsage().heapUsed;
    for (let i = 0; i < 300; i++) {
      const refusedSignIn = await call(org, `${org.url}/login`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: hugeSignIn,
      });
      await refusedSignIn.body?.cancel();
      await signIn(org); // a new session each time
      for (const host of ["evil.example:8080", "127.0.0.1:8080"]) {
        await (await call(org, `http://${host}${longPath}${i}`)).body?.cancel();
      }
      const verifier = createCodeVerifier();
      const params = await authorizeParams(org, verifier, { state: `${i}` });
      await consent(org, params); // a consent page, then a code
      await consent(org, params); // approved: a code at once
      if (i % 3 === 0) {
        const body = await tokensFor(org);
        const rotated = await refreshWith(org, body.refresh_token);
        await refreshWith(org, rotated.body.refresh_token);
        await refreshWith(org, body.refresh_token); // reuse: revokes the grant
      }
      clock.now += 60_000; // two hours every 120 rounds
    }
    assertWithinCaps(org);
    (globalThis as { gc?: () => void }).gc?.();
    const grown = Deno.memoryUsage().heapUsed - heapBefore;
    // Remembering each refused 1 MiB user name alone would take 300 MiB.
    assert(grown < 64 * 1024 * 1024, `the heap grew ${grown >> 20} MiB`);
  }, { rotateRefreshTokens: true, jwtAccessTokens: true });
});

/** Requests a hostile page or script might send, as changes to a plain request. */
interface Hostile {
  name: string;
  headers?: Record<string, string>;
  body?: BodyInit;
  query?: string;
}

const HOSTILE_BODIES: [string, BodyInit][] = [
  ["a lone %", "%"],
  ["bad escapes", "%%%zz&a=%E0%A4%A"],
  ["prototype names", "__proto__=1&constructor=2&toString=3&hasOwnProperty=4"],
  [
    "prototype names as values",
    "grant_type=refresh_token&refresh_token=__proto__&client_id=__proto__&token=constructor&consent=__proto__&startURL=/services/oauth2/authorize?__proto__",
  ],
  [
    "a repeated grant type",
    "grant_type=authorization_code&grant_type=refresh_token",
  ],
  ["not UTF-8", new Uint8Array([0xff, 0xfe, 0x00, 0x3d, 0xc3, 0x28, 0x80])],
  ["JSON", '{"__proto__":{"polluted":1},"grant_type":"authorization_code"}'],
  ["just over the limit", "a=".padEnd(MAX_FORM_BYTES + 1, "x")],
  ["a huge value under the limit", `token=${"A".repeat(MAX_FORM_BYTES - 100)}`],
];

const HOSTILE_HEADERS: [string, Record<string, string>][] = [
  ["Basic, not Base64", { authorization: "Basic !!!" }],
  ["Basic with no colon", { authorization: `Basic ${btoa("x")}` }],
  ["Basic with bad escapes", {
    authorization: `Basic ${btoa("%zz:%E0%A4%A")}`,
  }],
  ["Basic, not UTF-8", { authorization: `Basic ${btoa("\xff:\xfe")}` }],
  ["a bare Bearer", { authorization: "Bearer" }],
  ["a huge Bearer", { authorization: `Bearer ${"A".repeat(20_000)}` }],
  ["Bearer __proto__", { authorization: "Bearer __proto__" }],
  ["Bearer constructor", { authorization: "Bearer constructor" }],
  ["another scheme", { authorization: "Digest username=x" }],
  ["a session named __proto__", { cookie: "demo_org_sid_8080=__proto__" }],
  ["broken cookies", { cookie: "=;=;;demo_org_sid_8080;constructor=1" }],
  ["a huge cookie", { cookie: `demo_org_sid_8080=${"x".repeat(20_000)}` }],
  ["a JSON body", { "content-type": "application/json" }],
  ["multipart", { "content-type": "multipart/form-data; boundary=zz" }],
  ["UTF-16 forms", {
    "content-type": "application/x-www-form-urlencoded; charset=utf-16",
  }],
  ["text", { "content-type": "text/plain" }],
  ["a lying Content-Length", { "content-length": "99999999999999999999" }],
  ["a negative Content-Length", { "content-length": "-1" }],
];

const HOSTILE_QUERIES: [string, string][] = [
  ["prototype names", "__proto__=1&constructor=2&toString=3"],
  ["a lone %", "%"],
  ["bad escapes", "q=%zz&version=%E0%A4%A"],
  [
    "prototype names as values",
    "version=__proto__&format=constructor&oauth_token=__proto__&token=__proto__&callback=__proto__&fields=__proto__,constructor",
  ],
  [
    "an authorize request of prototype names",
    "client_id=__proto__&redirect_uri=__proto__&response_type=code&code_challenge=x&scope=__proto__%20constructor&prompt=__proto__",
  ],
  [
    "every prompt at once",
    "client_id=3MVG9DemoOrg.LocalWalkthrough_PKCE_Client&redirect_uri=http%3A%2F%2Flocalhost%3A8000%2Fcallback&response_type=code&code_challenge=x&prompt=select_account%20login%20consent&immediate=true&display=__proto__",
  ],
  ["many parameters", "a=1&".repeat(3000)],
  ["a huge value", `q=${"(".repeat(20_000)}`],
  [
    "markup and control characters",
    "error=%3Cscript%3E&error_description=%00%01%1b%5B2J",
  ],
  [
    "SOQL of prototype names",
    `q=${
      encodeURIComponent(
        "SELECT __proto__, constructor FROM __proto__ WHERE constructor = 'x' ORDER BY __proto__ LIMIT 1e999",
      )
    }`,
  ],
];

/** Every route the org has, with a concrete path for the prefix routes (identity URLs, the REST API) and a few it does not have. */
function everyRoute(org: DemoOrg): [string, string][] {
  const routes = Object.keys(ROUTES).map((key) => {
    const [method, path] = key.split(" ");
    return [method, path] as [string, string];
  });
  const rest = "/services/data/v62.0";
  return [
    ...routes,
    ["GET", new URL(org.identityUrl).pathname],
    ["GET", "/id/__proto__/constructor"],
    ["GET", "/services/data/"],
    ["GET", `${rest}/`],
    ["GET", `${rest}/query`],
    ["GET", `${rest}/limits`],
    ["GET", `${rest}/sobjects`],
    ["GET", `${rest}/sobjects/__proto__/describe`],
    ["GET", `${rest}/sobjects/User/0055g00000DEMOUAA5`],
    ["POST", `${rest}/sobjects/Account`],
    ["PATCH", `${rest}/sobjects/Account/001000000000000AAA`],
    ["DELETE", `${rest}/sobjects/Account/constructor`],
    ["GET", `/${rest}/limits`],
    ["GET", "/services/oauth2/singleaccess"],
    ["GET", "/services/apexrest/__proto__"],
    ["GET", "/nope"],
    ["DELETE", "/"],
    ["OPTIONS", "/services/oauth2/token"],
  ];
}

/** Each route with each hostile change, as a stranger and as a signed-in browser holding a live token. */
function hostileRequests(org: DemoOrg, token: string): [string, Request][] {
  const variants: Hostile[] = [
    { name: "plain" },
    ...HOSTILE_BODIES.map(([name, body]) => ({ name: `body: ${name}`, body })),
    ...HOSTILE_HEADERS.map(([name, headers]) => ({
      name: `header: ${name}`,
      headers,
    })),
    ...HOSTILE_QUERIES.map(([name, query]) => ({
      name: `query: ${name}`,
      query,
    })),
  ];
  const requests: [string, Request][] = [];
  for (const [method, path] of everyRoute(org)) {
    for (const variant of variants) {
      for (const signedIn of [false, true]) {
        const url = `${org.url}${path}${
          variant.query ? `?${variant.query}` : ""
        }`;
        const headers = new Headers({
          "content-type": "application/x-www-form-urlencoded",
        });
        if (signedIn) {
          headers.set("cookie", cookies.get(org)!);
          headers.set("authorization", `Bearer ${token}`);
        }
        for (const [key, value] of Object.entries(variant.headers ?? {})) {
          headers.set(key, value);
        }
        const hasBody = method !== "GET" && method !== "HEAD";
        const body = hasBody ? variant.body ?? "a=1" : undefined;
        const name = `${method} ${path.slice(0, 60)} ${variant.name}${
          signedIn ? " (signed in)" : ""
        }`;
        requests.push([name, new Request(url, { method, headers, body })]);
      }
    }
  }
  return requests;
}

Deno.test("no demo-org route answers 500 or throws, whatever the headers, body or parameters", async () => {
  await withOrg(async (org) => {
    const token = await accessToken(org);
    const failures: string[] = [];
    for (const [name, request] of hostileRequests(org, token)) {
      try {
        const response = await org.handle(request);
        await response.body?.cancel();
        if (response.status >= 500) {
          failures.push(`${name}: ${response.status}`);
        }
      } catch (error) {
        failures.push(`${name}: threw ${(error as Error).message}`);
      }
    }
    assertEquals(failures, []);
    assertWithinCaps(org);
  }, { jwtAccessTokens: true });
});

Deno.test("demo_org.ts --rotate-refresh-tokens --jwt-access-tokens: the standalone org says so, rotates and issues JWTs", async () => {
  const script = new URL("./demo_org.ts", import.meta.url).pathname;
  const help = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, "--help"],
    stdin: "null",
  }).output();
  const usage = new TextDecoder().decode(help.stdout);
  assertStringIncludes(usage, "--rotate-refresh-tokens");
  assertStringIncludes(usage, "--jwt-access-tokens");
  assertStringIncludes(usage, "five approvals per user per app");
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      script,
      "--port",
      "0",
      "--rotate-refresh-tokens",
      "--jwt-access-tokens",
    ],
    env: { NO_COLOR: "1", PATH: Deno.env.get("PATH") ?? "" },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let banner = "";
  while (!banner.includes("Run the walkthrough")) {
    const { value, done } = await reader.read();
    if (done) break;
    banner += value;
  }
  try {
    assertStringIncludes(
      banner,
      "settings:       refresh token rotation, JWT-based access tokens",
    );
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(banner)![1];
    const clientId = /client_id:\s+(\S+)/.exec(banner)![1];
    const verifier = createCodeVerifier();
    const authorize = new URL(`${url}/services/oauth2/authorize`);
    authorize.search = new URLSearchParams({
      client_id: clientId,
      redirect_uri: REDIRECT_URI,
      response_type: "code",
      code_challenge: await createCodeChallenge(verifier),
      scope: "api refresh_token",
    }).toString();
    const callback = await signInAndDecide(authorize.href);
    const post = async (form: Record<string, string>) =>
      await (await fetch(`${url}/services/oauth2/token`, {
        method: "POST",
        body: new URLSearchParams({ client_id: clientId, ...form }),
      })).json();
    const tokens = await post({
      grant_type: "authorization_code",
      code: callback.searchParams.get("code")!,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
    });
    assertEquals(tokens.token_format, "jwt");
    assertEquals(decodeJwt(tokens.access_token).header.tty, "sfdc-core-token");
    const refresh = { grant_type: "refresh_token" };
    const rotated = await post({
      ...refresh,
      refresh_token: tokens.refresh_token,
    });
    assertMatch(rotated.refresh_token, /^5Aep861/);
    assert(rotated.refresh_token !== tokens.refresh_token);
    assertEquals(
      await post({ ...refresh, refresh_token: tokens.refresh_token }),
      REVOKED,
    );
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await reader.cancel();
    await stderr;
  }
});
