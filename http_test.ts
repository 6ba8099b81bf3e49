/**
 * `--http`, end to end: both channels of a demo run as HTTP/1.1 text in each
 * step's `data.http` and on screen, secrets masked in every view, and the
 * curl commands run against a demo org once their variables are set.
 */

import {
  assert,
  assertEquals,
  assertFalse,
  assertMatch,
  assertStringIncludes,
} from "./_test_deps.ts";
import { signInAndDecide } from "./demo_org.ts";
import type { HttpEntry } from "./http_view.ts";
import { buildAuthorizeUrl } from "./main.ts";
import { generatePkce } from "./pkce.ts";
import {
  childEnv,
  orgArgs,
  redirectUri,
  run,
  runApproved,
  type Step,
  withDemoOrg,
} from "./_test_utils.ts";

type Entry = HttpEntry;

function httpOf(step: Step | undefined): Entry[] {
  return step?.data.http ?? [];
}

/** A masked value as every view shows it: `aPrxuL…jbs=` (perhaps encoded), or `********`. */
const MASKED = /^(?:[^…\s&;]{1,18}…[^…\s&;]{1,12}|\*{8})$/;

/**
 * The secrets of an in-process demo org are unknown to the test, so every
 * place a secret can sit in HTTP text is checked to hold a masked value:
 * form and query fields, bearer headers, session cookies, JSON token fields.
 */
function assertWireMasked(text: string) {
  const places = [
    /[?&](?:code|code_verifier|token|refresh_token|access_token|client_secret|password)=([^&\s]*)/g,
    /Authorization: Bearer (\S+)/g,
    /Set-Cookie: [^=\s]+=([^;\s]*)/g,
    /"(?:access_token|refresh_token|id_token)": "([^"]*)"/g,
  ];
  for (const place of places) {
    for (const match of text.matchAll(place)) {
      if (!match[1] || match[1].startsWith("$")) continue; // curl's variables
      assertMatch(match[1], MASKED, `unmasked: ${match[0]}`);
    }
  }
  for (const [, cookies] of text.matchAll(/(?:^|\n) *Cookie: ([^\n]*)/g)) {
    for (const pair of cookies.split("; ").filter(Boolean)) {
      assertMatch(pair.slice(pair.indexOf("=") + 1), MASKED, pair);
    }
  }
  for (const cookie of text.matchAll(/demo_org_sid_\d+=([^;\s]+)/g)) {
    assertMatch(cookie[1], MASKED, cookie[0]);
  }
}

Deno.test("--http --json with --demo carries both channels: step 5's browser at the org, the 302 to the callback and the callback; step 7's token POST as a form; step 9's bearer masked", async () => {
  const result = await run([
    "--demo",
    "--no-browser",
    "--http",
    "--json",
    "--refresh",
    "--revoke",
    "--redirect-uri",
    redirectUri(),
  ]);
  assertEquals(result.code, 0, result.stderr);
  const byStep = (n: number) => httpOf(result.steps.find((s) => s.step === n));
  const state = result.steps[2].data.query.state;

  const check = byStep(4);
  assertEquals(check.map((e) => [e.channel, e.from, e.to]), [[
    "back",
    "script",
    "org",
  ]]);
  assertMatch(check[0].request, /^GET \/services\/oauth2\/authorize\?/);

  const front = byStep(5);
  assertEquals(
    front.map((e) => `${e.from}→${e.to} ${e.request.split(" ", 2).join(" ")}`),
    [
      `browser→org GET ${front[0].request.split(" ")[1]}`,
      "browser→org POST /login",
      `browser→org GET ${front[2].request.split(" ")[1]}`,
      "browser→org POST /services/oauth2/authorize",
      `browser→callback GET ${front[4].request.split(" ")[1]}`,
    ],
  );
  assert(front.every((e) => e.channel === "front" && !e.curl));
  const consent = front[3];
  assertMatch(consent.response, /^HTTP\/1\.1 302 Found\n/);
  const location = /\nLocation: (\S+)\n/.exec(consent.response)![1];
  assertMatch(
    location,
    new RegExp(
      `^http://localhost:\\d+/callback\\?code=[^&]+…[^&]+&state=${state}$`,
    ),
  );
  const path = location.replace(/^http:\/\/[^/]+/, "");
  assertStringIncludes(front[4].request, `GET ${path} HTTP/1.1`);
  assertMatch(front[1].request, /\n\npassword=\*{8}|&password=\*{8}/);
  // The demo user signs in as the page offers, and sends no cookie before it has one.
  assertStringIncludes(front[1].request, "username=learner%40demo-org.example");
  assertFalse(/\nCookie:/i.test(front[0].request), front[0].request);
  assertMatch(
    front[1].response,
    /\nSet-Cookie: demo_org_sid_\d+=\S+…\S+; Path=\//,
  );

  const [post, discovery, keys] = byStep(7);
  const [head, body] = post.request.split("\n\n");
  assertEquals(head.split("\n")[0], "POST /services/oauth2/token HTTP/1.1");
  assertStringIncludes(
    head,
    "\nContent-Type: application/x-www-form-urlencoded\n",
  );
  const form = new URLSearchParams(body);
  assertEquals(form.get("grant_type"), "authorization_code");
  assertEquals(form.get("client_secret"), "********");
  assertMatch(form.get("code")!, MASKED);
  assertMatch(form.get("code_verifier")!, MASKED);
  assertEquals(form.get("redirect_uri"), result.steps[0].data.redirect_uri);
  assertMatch(post.response, /^HTTP\/1\.1 200 OK\n/);
  assertStringIncludes(post.response, '"token_type": "Bearer"');
  assertMatch(discovery.request, /^GET \/\.well-known\/openid-configuration /);
  assertMatch(keys.request, /^GET \/id\/keys /);

  const [identity] = byStep(9);
  assertMatch(identity.request, /\nAuthorization: Bearer 00D5g0…\S{4}\n/);
  assertStringIncludes(
    identity.curl!,
    `-H "Authorization: Bearer $ACCESS_TOKEN"`,
  );

  const [refresh] = byStep(10);
  assertStringIncludes(refresh.request, "grant_type=refresh_token");
  assertStringIncludes(refresh.curl!, `"refresh_token=$REFRESH_TOKEN"`);
  const [revoke, after] = byStep(11);
  assertMatch(revoke.request, /^POST \/services\/oauth2\/revoke /);
  assertStringIncludes(revoke.curl!, `"token=$REFRESH_TOKEN"`);
  assertMatch(
    after.response,
    /^HTTP\/1\.1 403 Forbidden\n[\s\S]*\n\nBad_OAuth_Token$/,
  );
  assertEquals(
    result.steps[10].data.identity_after,
    "403 Bad_OAuth_Token: the access token died with its refresh token",
  );

  for (const step of result.steps) {
    for (const entry of httpOf(step)) {
      assertWireMasked([entry.request, entry.response, entry.curl].join("\n"));
    }
  }
  // Without --http, no step carries the wire.
  const plain = await run([
    "--demo",
    "--no-browser",
    "--json",
    "--redirect-uri",
    redirectUri(),
  ]);
  assertFalse(plain.steps.some((s) => "http" in s.data));
});

Deno.test("--http on screen prints each exchange after its step, masked, with the curl for the back channel", async () => {
  const result = await run([
    "--demo",
    "--no-browser",
    "--http",
    "--redirect-uri",
    redirectUri(),
  ]);
  assertEquals(result.code, 0, result.stderr);
  const step7 = result.stdout.split("## 7.")[1].split("## 8.")[0];
  assertStringIncludes(step7, "── back channel: script → org ─");
  assertStringIncludes(step7, "  POST /services/oauth2/token HTTP/1.1\n");
  assertStringIncludes(
    step7,
    "  Content-Type: application/x-www-form-urlencoded\n",
  );
  assertMatch(step7, /\n {2}grant_type=authorization_code&code=\S+…\S+&/);
  assertStringIncludes(
    step7,
    `--data-urlencode "code_verifier=$CODE_VERIFIER"`,
  );
  const step5 = result.stdout.split("## 5.")[1].split("## 6.")[0];
  assertStringIncludes(step5, "── front channel: browser → org ─");
  assertStringIncludes(step5, "── front channel: browser → callback ─");
  assertMatch(
    step5,
    /\n {2}Location: http:\/\/localhost:\d+\/callback\?code=\S+…/,
  );
  assertWireMasked(result.stdout);
});

Deno.test("--http against a standalone org: the callback is the front channel, and no view holds a secret the org issued, even the failure's", async () => {
  await withDemoOrg(async (org, redirect) => {
    const json = await runApproved([
      ...orgArgs(org, redirect),
      "--http",
      "--refresh",
      "--revoke",
    ]);
    assertEquals(json.code, 0, json.stderr);
    const front = httpOf(json.steps[4]);
    assertEquals(front.map((e) => `${e.from}→${e.to}`), ["browser→callback"]);
    // A failure shows the exchange that failed: here the org refuses a wrong secret.
    const wrong = orgArgs(org, redirect).map((a) =>
      a === org.client.client_secret ? "wrong-secret-value" : a
    );
    const failed = await runApproved([...wrong, "--http"]);
    assertEquals(failed.code, 1, failed.stderr);
    const failure = failed.steps.at(-1)!;
    assertEquals(failure.data.error, "invalid_client");
    assertMatch(
      failure.data.http[0].request,
      /^POST \/services\/oauth2\/token /,
    );
    assertStringIncludes(
      failure.data.http[0].request,
      "client_secret=********",
    );
  }); // withDemoOrg scans every output for the secret, codes, verifiers and tokens
});

Deno.test("--http --show-secrets shows the code and tokens on the wire, but never the client secret, and curl keeps it a variable", async () => {
  await withDemoOrg(async (org, redirect) => {
    const result = await runApproved(
      [...orgArgs(org, redirect), "--http", "--show-secrets"],
      { record: false }, // it prints secrets on purpose
    );
    assertEquals(result.code, 0, result.stderr);
    const [post] = httpOf(result.steps[6]);
    const [code] = [...org.codes.keys()];
    assertStringIncludes(post.request, `code=${encodeURIComponent(code)}`);
    assertStringIncludes(post.curl!, `--data-urlencode 'code=${code}'`);
    assertStringIncludes(post.curl!, `"client_secret=$SF_CLIENT_SECRET"`);
    assertFalse(result.stdout.includes(org.client.client_secret));
    assertFalse(result.stderr.includes(org.client.client_secret));
  });
});

const hasCurl = (() => {
  try {
    return new Deno.Command("curl", { args: ["--version"] }).outputSync()
      .success;
  } catch {
    return false;
  }
})();

/** Runs a printed curl command in bash with `env`; its JSON answer, or its text. */
async function runCurl(command: string, env: Record<string, string>) {
  const output = await new Deno.Command("bash", {
    args: ["-c", command],
    env: childEnv(env),
    clearEnv: true,
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  assert(
    output.success,
    `${command}\n${new TextDecoder().decode(output.stderr)}`,
  );
  return text;
}

Deno.test({
  name:
    "the curl commands --http prints run against the demo org once their variables are set",
  ignore: !hasCurl,
  async fn() {
    await withDemoOrg(async (org, redirect) => {
      const result = await runApproved([
        ...orgArgs(org, redirect),
        "--http",
        "--refresh",
        "--revoke",
      ]);
      assertEquals(result.code, 0, result.stderr);
      const curl = (step: number, path: string) =>
        httpOf(result.steps.find((s) => s.step === step)).find((e) =>
          e.request.split(" ")[1].startsWith(path)
        )!.curl!;
      // The run spent its code: a new one, from a new sign-in, with its verifier.
      const pkce = await generatePkce();
      const location = await signInAndDecide(
        buildAuthorizeUrl(org.url, {
          client_id: org.client.client_id,
          redirect_uri: redirect,
          response_type: "code",
          code_challenge: pkce.code_challenge,
          code_challenge_method: "S256",
          state: "curl-test-state",
        }).href,
      );
      const tokens = JSON.parse(
        await runCurl(curl(7, "/services/oauth2/token"), {
          SF_CLIENT_SECRET: org.client.client_secret,
          CODE: location.searchParams.get("code")!,
          CODE_VERIFIER: pkce.code_verifier,
        }),
      );
      assertEquals(tokens.token_type, "Bearer");
      const env = {
        ACCESS_TOKEN: tokens.access_token,
        REFRESH_TOKEN: tokens.refresh_token,
        SF_CLIENT_SECRET: org.client.client_secret,
      };
      const identity = JSON.parse(await runCurl(curl(9, "/id/00D"), env));
      assertEquals(identity.username, "learner@demo-org.example");
      const refreshed = JSON.parse(
        await runCurl(curl(10, "/services/oauth2/token"), env),
      );
      assert(refreshed.access_token, "a new access token");
      assertEquals(await runCurl(curl(11, "/services/oauth2/revoke"), env), "");
      assertEquals(
        await runCurl(curl(11, "/id/00D"), env),
        "Bad_OAuth_Token",
      );
      const discovery = JSON.parse(await runCurl(curl(7, "/.well-known"), {}));
      assertEquals(discovery.issuer, org.url);
      assertStringIncludes(
        await runCurl(curl(4, "/services/oauth2/authorize"), {}),
        "<",
      );
    });
  },
});
