/**
 * Where the process itself matters: time limits, signals, a busy port,
 * pasted URLs, --pause and colour on a real terminal, browser launchers, the
 * deno tasks' narrow permissions, the standalone demo org, and main.ts
 * copied alone into a gist.
 */

import {
  assert,
  assertEquals,
  assertFalse,
  assertMatch,
  assertNotEquals,
  assertRejects,
  assertStringIncludes,
} from "./_test_deps.ts";
import { playDemoUser, signInAndDecide } from "./demo_org.ts";
import { STEPS } from "./main.ts";
import {
  assertConnectionRefused,
  childEnv,
  dripInto,
  freePort,
  MAIN,
  orgArgs,
  record,
  redirectUri,
  run,
  runAgainst,
  runApproved,
  secrets,
  signedTokens,
  spawn,
  UNREACHED_ORG,
  waitUntilListening,
  withDemoOrg,
  withFakeOrg,
} from "./_test_utils.ts";

// ---------------------------------------------------------------------------
// Time limits, signals, ports
// ---------------------------------------------------------------------------

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
      "an error page in the browser (for example invalid_scope",
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
  assertEquals(lines.length, 1, result.stderr);
  assertMatch(
    lines[0],
    /^interrupted: Cannot finish the flow: interrupted at step [45], and the callback server is closed\. Run the script again to start over\.$/,
  );
});

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
// Pasted URLs, --pause, colour
// ---------------------------------------------------------------------------

/** Signs in and approves on the demo org but, like a browser that cannot reach this machine, stops at the redirect. */
async function approveWithoutCallback(
  authorizationUrl: string,
): Promise<string> {
  return (await signInAndDecide(authorizationUrl)).href;
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
      const elsewhere = `https://elsewhere.example:4444/x${
        new URL(location).search
      }`;
      await type("I clicked Allow");
      await type(step3.data.authorization_url); // the org's URL, not ours
      await type(elsewhere); // the right code and state, at another address
      await type(forged.href);
      await type("x".repeat(100_000)); // cut at MAX_LINE, then refused
      await type("  " + location + "  ");
      const step5 = await script.waitForStep(5);
      const code = new URL(location).searchParams.get("code")!;
      assertEquals(
        step5.data.authorization_code,
        `${code.slice(0, 6)}…${code.slice(-4)}`,
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
      assertEquals(
        result.stderr.match(/that URL is not the redirect URI/g)?.length,
        2,
      );
      assertStringIncludes(
        result.stderr,
        "this one starts https://elsewhere.example:4444/x",
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

/** Runs the script on a pseudo-terminal (util-linux `script`); each key is typed once its pattern shows in what was printed after the key before. */
async function runOnTerminal(
  args: string[],
  keys: [RegExp, string][],
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
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const writer = child.stdin.getWriter();
  let text = "";
  let from = 0;
  for (const [pattern, key] of keys) {
    let match;
    while (!(match = pattern.exec(text.slice(from)))) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`${pattern} never came: ${text}`);
      text += value;
    }
    from += match.index + match[0].length;
    await writer.write(new TextEncoder().encode(key));
  }
  for (let chunk; !(chunk = await reader.read()).done;) text += chunk.value;
  await writer.close().catch(() => {});
  await child.status;
  await Deno.remove(cwd, { recursive: true });
  record(text);
  return { text, code: Number(/EXIT=(\d+)/.exec(text)?.[1]) };
}

/** Enter at each of the prompts for steps `from` to `to`. */
function enterAt(from: number, to: number): [RegExp, string][] {
  return Array.from(
    { length: to - from + 1 },
    (_, i) => [new RegExp(`Press Enter for step ${from + i}\\b`), "\n"],
  );
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
    "--pause on a terminal introduces each step, stops before the browser too, and q quits with 130",
  ignore: !hasScript,
  async fn() {
    const redirect = redirectUri();
    const { text, code } = await runOnTerminal(
      ["--demo", "--no-browser", "--pause", "--redirect-uri", redirect],
      [...enterAt(1, 4), [/Press Enter for step 5\b/, "q\n"]],
    );
    assertEquals(code, 130, text);
    assertStringIncludes(text, "First the settings");
    assertStringIncludes(text, "Press Enter for step 2");
    assertStringIncludes(text, "## 4. Callback Server Started");
    assertStringIncludes(text.replace(/\s+/g, " "), STEPS[5].why);
    assertFalse(text.includes("## 5."), "stopped before step 5");
    assertStringIncludes(
      text,
      "quit: Cannot finish the flow: stopped before step 5",
    );
    await assertConnectionRefused(Number(new URL(redirect).port));
  },
});

Deno.test({
  name:
    "on a terminal, a run that may not read files asks for nothing it does not need: --help and --demo never ask to read .env",
  ignore: !hasScript,
  async fn() {
    const runs = [
      ["--help"],
      [
        "--demo",
        "--no-browser",
        "--no-identity",
        "--redirect-uri",
        redirectUri(),
      ],
    ];
    for (const args of runs) {
      // A permission prompt would wait for an answer that never comes: `timeout` ends it.
      const command = [Deno.execPath(), "run", "--allow-net", "--allow-env"]
        .concat(MAIN, args).map((a) => `'${a}'`).join(" ");
      const cwd = await Deno.makeTempDir();
      const { stdout } = await new Deno.Command("script", {
        args: ["-qfec", `timeout 10 ${command}; echo "EXIT=$?"`, "/dev/null"],
        env: childEnv({ TERM: "xterm" }),
        clearEnv: true,
        cwd,
        stdin: "null",
        stdout: "piped",
        stderr: "null",
      }).output();
      await Deno.remove(cwd, { recursive: true });
      const text = new TextDecoder().decode(stdout);
      record(text);
      assertFalse(text.includes("Deno requests"), `${args[0]}: ${text}`);
      assertStringIncludes(text, "EXIT=0", `${args[0]}: ${text}`);
    }
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

// ---------------------------------------------------------------------------
// Launchers, tasks, the standalone demo org
// ---------------------------------------------------------------------------

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
    record(stdout, stderr);
    assertEquals(output.code, 0, `${task}: ${stderr}`);
    assertFalse(stderr.includes("NotCapable"), stderr);
    assertFalse(stderr.includes("not listening on [::1]"), stderr);
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

Deno.test("main.ts and pkce.ts alone, as in a gist, complete a flow; --demo there is a usage error", async () => {
  const gist = await Deno.makeTempDir();
  try {
    for (const file of ["main.ts", "pkce.ts"]) {
      await Deno.copyFile(new URL(file, import.meta.url), `${gist}/${file}`);
    }
    await withFakeOrg(
      async (path, url) =>
        path === "/services/oauth2/token"
          ? Response.json(await signedTokens(url))
          : Response.json({ user_id: "0055g00000FAKEUAAA", username: "gist" }),
      async (url) => {
        const result = await runAgainst(url, [], { script: `${gist}/main.ts` });
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
        ]);
        assertEquals(result.steps[6].data.signature, "valid");
        assertStringIncludes(
          result.stderr,
          "warning: --client-secret is visible to every user of this machine in the process list",
        );
      },
    );
    const demo = await run(["--demo", "--no-browser"], {
      script: `${gist}/main.ts`,
    });
    assertEquals(demo.code, 2, demo.stderr);
    assertStringIncludes(
      demo.stderr,
      "usage: Cannot use --demo: demo_org.ts is not next to main.ts",
    );
    assertFalse(demo.stderr.includes("    at "), "no stack trace");
    const http = await run([...UNREACHED_ORG, "--http"], {
      script: `${gist}/main.ts`,
    });
    assertEquals(http.code, 2, http.stderr);
    assertStringIncludes(
      http.stderr,
      "usage: Cannot use --http: http_view.ts is not next to main.ts",
    );
  } finally {
    await Deno.remove(gist, { recursive: true });
  }
});

/** Runs main.ts as the unprivileged user nobody (util-linux setpriv), when this test runs as root. */
const canDropPrivileges = Deno.build.os === "linux" && Deno.uid() === 0 &&
  (() => {
    try {
      return new Deno.Command("setpriv", { args: ["--version"] }).outputSync()
        .success;
    } catch {
      return false;
    }
  })();

Deno.test({
  name: "a port below 1024 as a normal user is a clear error naming the port",
  ignore: !canDropPrivileges,
  async fn() {
    const denoDir = await Deno.makeTempDir();
    await Deno.chmod(denoDir, 0o777);
    // nobody may not be able to read this checkout (a 0700 clone, or /root):
    // it runs a copy of the gist (main.ts and pkce.ts) from a folder it can read.
    const gist = await Deno.makeTempDir();
    await Deno.chmod(gist, 0o755);
    for (const file of ["main.ts", "pkce.ts"]) {
      await Deno.copyFile(new URL(file, import.meta.url), `${gist}/${file}`);
      await Deno.chmod(`${gist}/${file}`, 0o644);
    }
    try {
      const output = await new Deno.Command("setpriv", {
        args: [
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          Deno.execPath(),
          "run",
          "-A",
          `${gist}/main.ts`,
          ...UNREACHED_ORG,
          "--json",
          "--redirect-uri",
          "http://localhost:81/callback",
        ],
        cwd: "/tmp",
        env: childEnv({ DENO_DIR: denoDir }),
        clearEnv: true,
        stdin: "null",
      }).output();
      const stdout = new TextDecoder().decode(output.stdout);
      record(stdout);
      assertEquals(output.code, 1, new TextDecoder().decode(output.stderr));
      const failure = JSON.parse(stdout.trim().split("\n").at(-1)!).data;
      assertEquals(failure.error, "port_not_permitted");
      assertStringIncludes(failure.error_description, "port 81");
      assertStringIncludes(failure.hint, "8000");
    } finally {
      await Deno.remove(denoDir, { recursive: true });
      await Deno.remove(gist, { recursive: true });
    }
  },
});

Deno.test("--save under deno task start's narrow permissions names the file the task allows, before anything starts", async () => {
  const root = new URL(".", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "task",
      "-q",
      "start",
      "--demo",
      "--no-browser",
      "--save",
      "mine.json",
    ],
    cwd: root,
    env: childEnv(),
    clearEnv: true,
    stdin: "null",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assertEquals(output.code, 2, stderr);
  assertEquals(new TextDecoder().decode(output.stdout), "");
  assertStringIncludes(stderr, 'this run may not write that file "mine.json"');
  assertStringIncludes(stderr, "allows only --save sf-tokens.json");
});

// ---------------------------------------------------------------------------
// The step to a real org: mistakes caught before the browser opens
// ---------------------------------------------------------------------------

Deno.test({
  name:
    "a wrong client id, a wrong callback URL or an unreachable org ends in under 3 seconds, before any browser opens",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const launcher = await fakeLauncher("exit 0");
    try {
      await withDemoOrg(async (org, redirect) => {
        const closed = `http://127.0.0.1:${freePort()}`;
        const cases: [string, string[], string, string][] = [
          [
            "wrong client id",
            [
              "--instance-url",
              org.url,
              "--client-id",
              "3MVG9wrong",
              "--redirect-uri",
              redirect,
            ],
            "invalid_client_id",
            "consumer key",
          ],
          [
            "unregistered callback URL",
            [
              "--instance-url",
              org.url,
              "--client-id",
              org.client.client_id,
              "--redirect-uri",
              redirectUri(),
            ],
            "redirect_uri_mismatch",
            "Callback URL exactly",
          ],
          [
            "nothing at the instance URL",
            [
              "--instance-url",
              closed,
              "--client-id",
              org.client.client_id,
              "--redirect-uri",
              redirect,
            ],
            "network_error",
            `The instance URL is ${closed}`,
          ],
          [
            "a host that does not resolve",
            [
              "--instance-url",
              "https://no-such-org.invalid",
              "--client-id",
              "3MVG9x",
              "--redirect-uri",
              redirect,
            ],
            "network_error",
            "does not resolve",
          ],
        ];
        for (const [name, args, error, hint] of cases) {
          const started = Date.now();
          const result = await run([...args, "--json"], {
            env: { PATH: `${launcher}:/usr/bin:/bin` },
          });
          const took = Date.now() - started;
          assertEquals(result.code, 1, `${name}: ${result.stderr}`);
          const failure = result.steps.at(-1)!.data;
          assertEquals(failure.error, error, name);
          assertStringIncludes(failure.hint, hint, name);
          assert(took < 3_000, `${name} took ${took} ms`);
          assertEquals(result.steps.map((s) => s.step).at(-2), 3, name);
          await assertRejects(
            () => Deno.stat(`${launcher}/opened`),
            Deno.errors.NotFound,
            undefined,
            `${name}: no browser was opened`,
          );
        }
      });
    } finally {
      await Deno.remove(launcher, { recursive: true });
    }
  },
});

Deno.test(".env copied from .env.example and left unedited ends with exit 2 naming the variable", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.copyFile(
      new URL(".env.example", import.meta.url),
      `${dir}/.env`,
    );
    const result = await run(["--no-browser"], { cwd: dir });
    assertEquals(result.code, 2, result.stderr);
    assertStringIncludes(
      result.stderr,
      'Cannot use SF_INSTANCE_URL in .env: it is still the example from .env.example "https://yourdomain.my.salesforce.com"',
    );
    await Deno.writeTextFile(
      `${dir}/.env`,
      "SF_INSTANCE_URL=https://acme.my.salesforce.com\nSF_CLIENT_ID=3MVG9...\n",
    );
    const id = await run(["--no-browser"], { cwd: dir });
    assertEquals(id.code, 2);
    assertStringIncludes(
      id.stderr,
      "Cannot use SF_CLIENT_ID in .env: it is still the example",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--demo when port 8000 is taken picks a port free on both loopbacks and says so", async () => {
  let squatter: Deno.Listener | undefined;
  try {
    squatter = Deno.listen({ hostname: "127.0.0.1", port: 8000 });
  } catch {
    // Something else holds 8000 already: the test still shows the move.
  }
  try {
    const result = await run(["--demo", "--no-browser", "--json"]);
    assertEquals(result.code, 0, result.stderr);
    const port = new URL(result.steps[0].data.redirect_uri).port;
    assertNotEquals(port, "8000");
    assertStringIncludes(
      result.stderr,
      `port 8000 is busy: the demo uses port ${port} instead`,
    );
    assertEquals(result.steps[3].data.port, Number(port));
  } finally {
    squatter?.close();
  }
});

Deno.test("demo_org.ts alone: --help prints its usage, a busy port is one clear line", async () => {
  const script = new URL("./demo_org.ts", import.meta.url).pathname;
  const help = await run(["--help"], { script });
  assertEquals(help.code, 0);
  assertStringIncludes(help.stdout, "--port N");
  assertStringIncludes(help.stdout, "deno task demo-org");
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const result = await run(["--port", String(busy.addr.port)], { script });
    assertEquals(result.code, 1);
    assertEquals(
      result.stderr,
      `error: Cannot start the demo org: port ${busy.addr.port} on 127.0.0.1 is in use; pick another with --port N (0 picks a free one)\n`,
    );
  } finally {
    busy.close();
  }
});

Deno.test({
  name: "a client dripping into the demo org does not hold up Ctrl+C at exit",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const launcher = await fakeLauncher("exit 0"); // a browser that opens, and no one signs in
    try {
      const script = spawn(
        ["--demo", "--json", "--redirect-uri", redirectUri()],
        { env: { PATH: `${launcher}:/usr/bin:/bin` } },
      );
      const step1 = await script.waitForStep(1);
      await script.waitForStep(4);
      const port = Number(new URL(step1.data.instance).port);
      const drip = dripInto(port, "/services/oauth2/token");
      await new Promise((resolve) => setTimeout(resolve, 300));
      const started = Date.now();
      script.child.kill("SIGINT");
      const result = await script.finish();
      const took = Date.now() - started;
      await drip.stop();
      assertEquals(result.code, 130);
      assert(took < 2_000, `Ctrl+C took ${took} ms`);
    } finally {
      await Deno.remove(launcher, { recursive: true });
    }
  },
});

// ---------------------------------------------------------------------------
// The lesson on an 80×24 screen (tmux, with its own server)
// ---------------------------------------------------------------------------

const hasTmux = Deno.build.os !== "windows" &&
  (() => {
    try {
      return new Deno.Command("tmux", { args: ["-V"] }).outputSync().success;
    } catch {
      return false;
    }
  })();

/** The script in an 80×24 tmux window of its own tmux server; `screen()` is what the window shows now. */
async function onScreen(args: string[]) {
  const socket = `wire-test-${crypto.randomUUID().slice(0, 8)}`;
  const cwd = await Deno.makeTempDir();
  const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;
  const env = Object.entries(childEnv({ TERM: "xterm-256color", NO_COLOR: "" }))
    .map(([name, value]) => `${name}=${quote(value)}`).join(" ");
  // In bash whatever the user's shell: on Ctrl+C, dash (sh on Debian) ends
  // itself too, and the window with it, before EXIT= can show.
  const command = `exec bash -c ${
    quote(
      `cd ${quote(cwd)} && env -i ${env} ${
        [Deno.execPath(), "run", "-A", MAIN, ...args].map(quote).join(" ")
      }; echo "EXIT=$?"; sleep 600`,
    )
  }`;
  const tmux = async (...rest: string[]) => {
    const output = await new Deno.Command("tmux", {
      args: ["-L", socket, "-f", "/dev/null", ...rest],
      stdin: "null",
    }).output();
    if (!output.success) {
      throw new Error(
        `tmux ${rest[0]}: ${new TextDecoder().decode(output.stderr)}`,
      );
    }
    return new TextDecoder().decode(output.stdout);
  };
  await tmux("new-session", "-d", "-x", "80", "-y", "24", command);
  const screen = async () => (await tmux("capture-pane", "-p")).trimEnd();
  return {
    screen,
    /** Everything printed so far, the screen and what scrolled off it. */
    history: async () => await tmux("capture-pane", "-p", "-S", "-"),
    type: async (...keys: string[]) => void await tmux("send-keys", ...keys),
    /** Waits until the screen's last lines match. */
    async waitFor(pattern: RegExp): Promise<string> {
      for (let i = 0; i < 600; i++) {
        const now = await screen();
        if (pattern.test(now)) return now;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`${pattern} never showed: ${await screen()}`);
    },
    async close() {
      record(await tmux("capture-pane", "-p", "-S", "-"));
      await tmux("kill-server");
      await Deno.remove(cwd, { recursive: true });
    },
  };
}

for (
  const [name, extra, last] of [
    ["the default demo", [], 9],
    ["the demo with --refresh --revoke", ["--refresh", "--revoke"], 11],
  ] as const
) {
  Deno.test({
    name:
      `--pause at 80×24, ${name}: each step's heading is still on screen when the next prompt appears`,
    ignore: !hasTmux,
    async fn() {
      const term = await onScreen([
        "--demo",
        "--no-browser",
        "--pause",
        "--redirect-uri",
        redirectUri(),
        ...extra,
      ]);
      try {
        const opening = await term.waitFor(/Press Enter for step 1\b.*$/);
        assertStringIncludes(opening, `${last}. ${STEPS[last].title}`);
        for (let step = 2; step <= last; step++) {
          await term.type("Enter");
          const screen = await term.waitFor(
            new RegExp(`Press Enter for step ${step}\\b.*$`),
          );
          const previous = step - 1 as keyof typeof STEPS;
          assertStringIncludes(
            screen,
            `## ${previous}. ${STEPS[previous].title}`,
            `step ${previous} scrolled off:\n${screen}`,
          );
          // The why wraps at spaces: its lines, joined, are the sentence.
          const lines = screen.split("\n");
          const prompt = lines.findLastIndex((l) => l.includes("Press Enter"));
          const start = lines.lastIndexOf("", prompt) + 1;
          assertEquals(
            lines.slice(start, prompt).join(" "),
            STEPS[step as keyof typeof STEPS].why,
          );
        }
        await term.type("Enter");
        const end = await term.waitFor(/EXIT=\d+/);
        assertStringIncludes(end, "EXIT=0");
        assertStringIncludes(end, `## ${last}. ${STEPS[last].title}`);
        for (const line of (await term.history()).split("\n")) {
          assert(line.length <= 80, line);
        }
      } finally {
        await term.close();
      }
    },
  });
}

Deno.test({
  name:
    "Ctrl+C before step 4 names the step and no callback server; --pause says when it cannot pause",
  ignore: !hasTmux,
  async fn() {
    const term = await onScreen([...UNREACHED_ORG, "--pause"]);
    try {
      await term.waitFor(/Press Enter for step 1\b/);
      await term.type("Enter");
      await term.waitFor(/Press Enter for step 2\b/);
      await term.type("C-c");
      const end = await term.waitFor(/EXIT=\d+/);
      assertStringIncludes(end, "EXIT=130");
      assertStringIncludes(
        end.replace(/\s+/g, " "),
        "interrupted: Cannot finish the flow: interrupted at step 2. Run the script again",
      );
      assertFalse(end.includes("callback server"), end);
    } finally {
      await term.close();
    }
    for (
      const [args, reason] of [[["--json"], "--json"], [[], "not a terminal"]]
    ) {
      const result = await run([
        "--demo",
        "--no-browser",
        "--pause",
        "--redirect-uri",
        redirectUri(),
        ...args,
      ]);
      assertEquals(result.code, 0, result.stderr);
      assertEquals(
        result.stderr.match(/warning: --pause does nothing here/g)?.length,
        1,
        result.stderr,
      );
      assertStringIncludes(result.stderr, reason);
      assertFalse(result.stderr.includes("Press Enter"));
    }
  },
});
