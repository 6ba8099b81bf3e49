/**
 * The wire as text: main.ts's one masking rule set as every view applies it
 * (fields, forms, queries, headers, JSON), http_view.ts's HTTP/1.1 text and
 * curl commands, called directly.
 */

import {
  assert,
  assertEquals,
  assertFalse,
  assertMatch,
  assertStringIncludes,
} from "./_test_deps.ts";
import {
  curlCommand,
  requestText,
  responseText,
  sentByFetch,
} from "./http_view.ts";
import { maskField, maskForm, maskHeader, maskJson, maskUrl } from "./main.ts";

const ACCESS = "00D5g000004DEMO!AQEAQFakeAccessTokenValue0123456789XyZ1";
const REFRESH = "5Aep861FakeRefreshTokenValue0123456789abcdefQ";
const CODE = "aPrxFakeAuthorizationCode0123456789==";
const VERIFIER = "y0hYi4FakeVerifierValue0123456789abcdefghj9jj";
const SECRET = "FAKE-CONSUMER-SECRET-0123456789";
const SESSION = "sessionIdValue0123456789abcdefghijklmnop";

/** Every secret above, as the leak checks look for them. */
const ALL = [ACCESS, REFRESH, CODE, VERIFIER, SECRET, SESSION];

function assertNoneOf(text: string, secrets: string[] = ALL) {
  for (const secret of secrets) {
    assertFalse(text.includes(secret), `${secret.slice(0, 8)}… in ${text}`);
    assertFalse(
      text.includes(encodeURIComponent(secret)),
      `${secret.slice(0, 8)}… (encoded) in ${text}`,
    );
  }
}

Deno.test("maskField() hides the client secret and a password always, masks tokens, the code and the verifier unless --show-secrets", () => {
  const cases: [string, string, boolean, string][] = [
    ["client_secret", SECRET, false, "********"],
    ["client_secret", SECRET, true, "********"],
    ["password", "demo", true, "********"],
    ["access_token", ACCESS, false, "00D5g0…XyZ1"],
    ["access_token", ACCESS, true, ACCESS],
    ["refresh_token", REFRESH, false, "5Aep86…defQ"],
    ["code", CODE, false, "aPrxFa…89=="],
    ["code_verifier", VERIFIER, false, "y0hYi4…j9jj"],
    ["token", REFRESH, false, "5Aep86…defQ"],
    ["code", "short", false, "********"],
    [
      "state",
      "abcdefghijklmnopqrstuvwxyz",
      false,
      "abcdefghijklmnopqrstuvwxyz",
    ],
    ["code_challenge", VERIFIER, false, VERIFIER],
  ];
  for (const [name, value, show, shown] of cases) {
    assertEquals(maskField(name, value, show), shown, `${name} ${show}`);
  }
});

Deno.test("maskForm() and maskUrl() mask secret values in place and keep them encoded, so the text still reads as sent", () => {
  const form = new URLSearchParams({
    grant_type: "authorization_code",
    code: CODE,
    redirect_uri: "http://localhost:8000/callback",
    code_verifier: VERIFIER,
    client_secret: SECRET,
  }).toString();
  assertEquals(
    maskForm(form, false),
    "grant_type=authorization_code&code=aPrxFa…89%3D%3D&redirect_uri=http%3A%2F%2Flocalhost%3A8000%2Fcallback&code_verifier=y0hYi4…j9jj&client_secret=********",
  );
  const shown = maskForm(form, true);
  assertStringIncludes(shown, `code=${encodeURIComponent(CODE)}`);
  assertStringIncludes(shown, "client_secret=********");
  assertNoneOf(shown, [SECRET]);
  assertEquals(
    maskUrl(
      `http://localhost:8000/callback?code=${
        encodeURIComponent(CODE)
      }&state=S7ate#frag`,
      false,
    ),
    "http://localhost:8000/callback?code=aPrxFa…89%3D%3D&state=S7ate#frag",
  );
  assertEquals(maskUrl("https://x.example/a", false), "https://x.example/a");
  assertEquals(maskForm("a&b=%E0%A4%A&code", false), "a&b=%E0%A4%A&code"); // malformed stays as it is
});

Deno.test("maskHeader() masks bearer tokens and session cookies, hides Basic credentials, and masks a redirect's code", () => {
  const cases: [string, string, string][] = [
    ["Authorization", `Bearer ${ACCESS}`, "Bearer 00D5g0…XyZ1"],
    ["authorization", `Basic ${btoa(`id:${SECRET}`)}`, "Basic ********"],
    [
      "cookie",
      `BrowserId=abc; demo_org_sid_1=${SESSION}`,
      "BrowserId=********; demo_org_sid_1=sessio…mnop",
    ],
    [
      "set-cookie",
      `sid=${SESSION}; Path=/; HttpOnly`,
      "sid=sessio…mnop; Path=/; HttpOnly",
    ],
    [
      "Location",
      `http://localhost:8000/callback?code=${CODE}&state=s`,
      "http://localhost:8000/callback?code=aPrxFa…89%3D%3D&state=s",
    ],
    ["content-type", "application/json", "application/json"],
  ];
  for (const [name, value, shown] of cases) {
    assertEquals(maskHeader(name, value, false), shown, name);
  }
  assertEquals(
    maskHeader("authorization", `Bearer ${ACCESS}`, true),
    `Bearer ${ACCESS}`,
  );
});

Deno.test("maskJson() masks secret fields at any depth and leaves the rest", () => {
  assertEquals(
    maskJson({
      access_token: ACCESS,
      instance_url: "https://x",
      nested: [{ refresh_token: REFRESH, n: 1 }],
      client_secret: SECRET,
    }, false),
    {
      access_token: "00D5g0…XyZ1",
      instance_url: "https://x",
      nested: [{ refresh_token: "5Aep86…defQ", n: 1 }],
      client_secret: "********",
    },
  );
});

/** The token POST as main.ts sends it. */
function tokenPost() {
  return sentByFetch("http://127.0.0.1:8080/services/oauth2/token", {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      accept: "application/json",
    },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: CODE,
      client_id: "3MVG9Demo",
      redirect_uri: "http://localhost:8000/callback",
      code_verifier: VERIFIER,
      client_secret: SECRET,
    }).toString(),
  });
}

Deno.test("requestText() is HTTP/1.1: request line, Host, the form's Content-Type, a blank line and the encoded body, masked", () => {
  const text = requestText(tokenPost(), false);
  const [head, body] = text.split("\n\n");
  const lines = head.split("\n");
  assertEquals(lines[0], "POST /services/oauth2/token HTTP/1.1");
  assertEquals(lines[1], "Host: 127.0.0.1:8080");
  assert(lines.includes("Content-Type: application/x-www-form-urlencoded"));
  assert(lines.includes(`User-Agent: Deno/${Deno.version.deno}`));
  assertMatch(text, /\nContent-Length: \d+\n/);
  assertEquals(
    body,
    "grant_type=authorization_code&code=aPrxFa…89%3D%3D&client_id=3MVG9Demo&redirect_uri=http%3A%2F%2Flocalhost%3A8000%2Fcallback&code_verifier=y0hYi4…j9jj&client_secret=********",
  );
  assertNoneOf(text);
  const bearer = requestText(
    sentByFetch("http://127.0.0.1:8080/id/00D/005?version=latest", {
      headers: { authorization: `Bearer ${ACCESS}` },
    }),
    false,
  );
  assertStringIncludes(bearer, "GET /id/00D/005?version=latest HTTP/1.1\n");
  assertStringIncludes(bearer, "\nAuthorization: Bearer 00D5g0…XyZ1\n");
  assertNoneOf(bearer);
});

Deno.test("responseText() masks JSON by field and cookies, sums up HTML, escapes terminal controls, and says when no answer came", () => {
  const json = responseText({
    status: 200,
    headers: [
      ["content-type", "application/json"],
      ["set-cookie", `BrowserId=${SESSION}; Path=/`],
    ],
    body: JSON.stringify({ access_token: ACCESS, refresh_token: REFRESH }),
  }, false);
  assertStringIncludes(json, "HTTP/1.1 200 OK\nContent-Type: application/json");
  assertStringIncludes(json, '"access_token": "00D5g0…XyZ1"');
  assertNoneOf(json);
  const page = responseText({
    status: 302,
    headers: [["location", `http://localhost:8000/callback?code=${CODE}`]],
    body: "<!doctype html><p>x</p>",
  }, false);
  assertStringIncludes(page, "HTTP/1.1 302 Found\n");
  assertNoneOf(page);
  const html = responseText({
    status: 200,
    headers: [["content-type", "text/html"]],
    body: `<p>${SESSION}</p>`,
  }, false);
  assertMatch(html, /\(an HTML page, \d+ bytes, not shown\)$/);
  const hostile = responseText({
    status: 400,
    headers: [["x-evil", "a\u001b]0;T\u0007"]],
    body: "error\u001b[2J\u202e",
  }, false);
  // deno-lint-ignore no-control-regex -- no control character may reach the terminal
  assertFalse(/[\u0000-\u0009\u000b-\u001f\u202e]/.test(hostile), hostile);
  assertEquals(responseText({ status: 0, headers: [] }, false), "(no answer)");
  const long = responseText({
    status: 200,
    headers: [],
    body: "x".repeat(10_000),
  }, false);
  assert(long.length < 2_200, "a long body is cut");
  assertStringIncludes(long, "(8000 more characters)");
});

Deno.test("curlCommand() puts every secret in a shell variable and says which to set; --show-secrets fills them in, except the client secret", () => {
  const masked = curlCommand(tokenPost(), false);
  assertStringIncludes(masked, `--data-urlencode "code=$CODE"`);
  assertStringIncludes(
    masked,
    `--data-urlencode "code_verifier=$CODE_VERIFIER"`,
  );
  assertStringIncludes(
    masked,
    `--data-urlencode "client_secret=$SF_CLIENT_SECRET"`,
  );
  assertStringIncludes(
    masked,
    "--data-urlencode 'grant_type=authorization_code'",
  );
  assertMatch(masked, /^# first set CODE .*CODE_VERIFIER .*SF_CLIENT_SECRET/s);
  assertNoneOf(masked);
  const shown = curlCommand(tokenPost(), true);
  assertStringIncludes(shown, `--data-urlencode 'code=${CODE}'`);
  assertStringIncludes(shown, `"client_secret=$SF_CLIENT_SECRET"`);
  assertNoneOf(shown, [SECRET]);
  const identity = curlCommand(
    sentByFetch("http://127.0.0.1:8080/id/a?version=latest", {
      headers: {
        authorization: `Bearer ${ACCESS}`,
        accept: "application/json",
      },
    }),
    false,
  );
  assertStringIncludes(identity, `-H "Authorization: Bearer $ACCESS_TOKEN"`);
  assertNoneOf(identity);
  const revoke = curlCommand(
    {
      method: "POST",
      url: "http://127.0.0.1:8080/services/oauth2/revoke",
      headers: [],
      body: `token=${REFRESH}`,
    },
    false,
    new Map([[REFRESH, "refresh_token"]]),
  );
  assertStringIncludes(revoke, `--data-urlencode "token=$REFRESH_TOKEN"`);
  const quoted = curlCommand(
    { method: "GET", url: "http://127.0.0.1:1/x?q=it's", headers: [] },
    false,
  );
  assertEquals(quoted, `curl -sS 'http://127.0.0.1:1/x?q=it%27s'`);
});
