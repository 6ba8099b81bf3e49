/**
 * Helpers shared by the end-to-end tests: run or spawn the script as a user
 * would (`Deno.execPath()`, a clean environment, an empty working directory),
 * orgs to run it against (the demo org, or a fake one a test scripts), and
 * the leak scan: every run's output is checked when it ends, and every demo
 * org checks what was printed or served while it was open against the
 * tokens it issued.
 *
 * @module
 */

import {
  assertEquals,
  assertFalse,
  type Browser,
  chromium,
} from "./_test_deps.ts";
import { newSigningKeys } from "./demo_org/id_token.ts";
import { freeLoopbackPort } from "./main.ts";
import {
  type DemoOrgOptions,
  playDemoUser,
  type ServedDemoOrg,
  signIdentity,
  startDemoOrg,
} from "./demo_org.ts";

export const MAIN = new URL("./main.ts", import.meta.url).pathname;

/** Everything printed or served so far, in order; `withDemoOrg` scans what its org's runs added. */
const transcript: string[] = [];
/** Secrets that must never be printed or served. */
export const secrets = new Set<string>();

/** Raw Salesforce-shaped tokens (an org id and "!", a 5Aep861 refresh token) and JWTs (ID tokens). */
export const RAW_TOKEN =
  /00D[A-Za-z0-9]{12}![A-Za-z0-9._]{8,}|5Aep861[A-Za-z0-9._]{8,}|eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]+/;

/** Fails if `text` holds a known secret or anything shaped like a raw token. */
export function assertNoLeak(text: string, known: Iterable<string> = secrets) {
  for (const secret of known) {
    assertFalse(
      text.includes(secret),
      `a secret leaked: ${secret.slice(0, 6)}…`,
    );
  }
  const raw = RAW_TOKEN.exec(text);
  assertEquals(raw, null, `a raw token leaked: ${raw?.[0].slice(0, 12)}…`);
}

/** Records what a user saw, after checking it holds nothing secret. */
export function record(...texts: string[]) {
  for (const text of texts) assertNoLeak(text);
  transcript.push(...texts);
}

export interface Step {
  step: number | null;
  title: string;
  // deno-lint-ignore no-explicit-any
  data: Record<string, any>;
}

export interface Finished {
  code: number;
  stdout: string;
  stderr: string;
  steps: Step[];
}

export function childEnv(
  extra: Record<string, string> = {},
): Record<string, string> {
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "",
    HOME: Deno.env.get("HOME") ?? "",
    NO_COLOR: "1",
    DENO_NO_UPDATE_CHECK: "1",
  };
  // Where the cache is, and which certificates to trust when a child fetches
  // a test package (a machine behind a TLS-inspecting proxy needs its CA).
  for (const name of TRUST_VARIABLES) {
    const value = Deno.env.get(name);
    if (value) env[name] = value;
  }
  return { ...env, ...extra };
}

/** Passed on to children: the cache, and the machine's certificate settings (never a secret). */
const TRUST_VARIABLES = [
  "DENO_DIR",
  "DENO_CERT",
  "DENO_TLS_CA_STORE",
  "NODE_EXTRA_CA_CERTS",
];

/** The JSON lines printed so far; a last line still being written is left for later. */
function parseSteps(stdout: string): Step[] {
  const complete = stdout.slice(0, stdout.lastIndexOf("\n") + 1);
  return complete.split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line));
}

/** How to run the script; `record: false` keeps a run that prints tokens on purpose out of the leak scan. */
export interface RunOptions {
  env?: Record<string, string>;
  /** The working directory; an empty temporary one by default, so no stray .env can change a run. */
  cwd?: string;
  stdin?: "piped" | "null";
  record?: boolean;
  /** The script to run; main.ts by default. */
  script?: string;
}

/** Runs the script to the end. */
export async function run(
  args: string[],
  options: RunOptions = {},
): Promise<Finished> {
  return await spawn(args, options).finish();
}

/** A running script whose steps a test can wait for. */
export interface Running {
  child: Deno.ChildProcess;
  waitForStep(step: number): Promise<Step>;
  /** Waits until stdout matches, for runs without --json. */
  waitFor(pattern: RegExp): Promise<RegExpExecArray>;
  finish(): Promise<Finished>;
}

export function spawn(args: string[], options: RunOptions = {}): Running {
  const cwd = options.cwd ?? Deno.makeTempDirSync();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", options.script ?? MAIN, ...args],
    cwd,
    env: childEnv(options.env),
    clearEnv: true,
    stdin: options.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stdout = "";
  let changed = Promise.withResolvers<void>();
  const stdoutDone = (async () => {
    for await (
      const chunk of child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      stdout += chunk;
      changed.resolve();
      changed = Promise.withResolvers<void>();
    }
    changed.resolve();
  })();
  const stderrDone = new Response(child.stderr).text();
  let ended = false;
  stdoutDone.then(() => (ended = true));

  return {
    child,
    async waitForStep(step) {
      while (true) {
        const found = parseSteps(stdout).find((s) => s.step === step);
        if (found) return found;
        const failed = parseSteps(stdout).find((s) => s.step === null);
        if (failed || ended) {
          throw new Error(
            `step ${step} never came: ${stdout}${await stderrDone}`,
          );
        }
        await changed.promise;
      }
    },
    async waitFor(pattern) {
      while (true) {
        const found = pattern.exec(stdout);
        if (found) return found;
        if (ended) throw new Error(`${pattern} never came: ${stdout}`);
        await changed.promise;
      }
    },
    async finish() {
      const status = await child.status;
      await stdoutDone;
      const stderr = await stderrDone;
      if (!options.cwd) await Deno.remove(cwd, { recursive: true });
      if (options.record !== false) record(stdout, stderr);
      return { code: status.code, stdout, stderr, steps: parseSteps(stdout) };
    },
  };
}

/** A real-looking org that tests never reach: they end before step 6. */
export const UNREACHED_ORG = [
  "--instance-url",
  "https://acme.my.salesforce.com",
  "--no-check",
  "--client-id",
  "3MVG9x",
  "--no-browser",
];

/** A temporary directory for `fn`, removed afterwards whatever happens. */
export async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A port free on both loopbacks right now. */
export function freePort(): number {
  const port = freeLoopbackPort(0);
  if (port === undefined) throw new Error("no free port on loopback");
  return port;
}

export function redirectUri(): string {
  return `http://localhost:${freePort()}/callback`;
}

/** GETs a URL the way a browser would, recording the page for the leak scan. */
export async function browse(url: string, init?: RequestInit) {
  const response = await fetch(url, { redirect: "manual", ...init });
  const text = await response.text();
  record(text);
  return { status: response.status, text, headers: response.headers };
}

let keys: Promise<CryptoKeyPair> | undefined;

/** One RSA key pair for every test org: making one takes 60 to 260 ms. */
export function testSigningKeys(): Promise<CryptoKeyPair> {
  return keys ??= newSigningKeys();
}

/** A standalone demo org for one test; when it closes, everything recorded meanwhile is scanned for its tokens. */
export async function withDemoOrg(
  fn: (org: ServedDemoOrg, redirect: string) => Promise<void>,
  options: Pick<
    DemoOrgOptions,
    "clientSecret" | "rotateRefreshTokens" | "jwtAccessTokens"
  > = {},
) {
  const redirect = redirectUri();
  const org = startDemoOrg({
    redirectUri: redirect,
    signingKeys: await testSigningKeys(),
    ...options,
  });
  const start = transcript.length;
  try {
    await fn(org, redirect);
  } finally {
    await org.close();
  }
  const codes = [...org.codes.entries()];
  assertNoLeak(transcript.slice(start).join("\n"), [
    org.client.client_secret,
    ...org.issued,
    ...codes.map(([code]) => code),
    ...codes.flatMap(([, { verifier }]) => verifier ? [verifier] : []),
  ]);
}

export function orgArgs(
  org: ServedDemoOrg,
  redirect: string,
  secret = true,
): string[] {
  return [
    "--instance-url",
    org.url,
    "--client-id",
    org.client.client_id,
    ...(secret ? ["--client-secret", org.client.client_secret] : []),
    "--redirect-uri",
    redirect,
    "--no-browser",
    "--json",
  ];
}

/** Runs the script, and approves on the demo org's consent page once the callback server listens, as a browser would. */
export async function runApproved(
  args: string[],
  options: RunOptions = {},
): Promise<Finished> {
  const script = spawn(args, options);
  const step3 = await script.waitForStep(3);
  await script.waitForStep(4);
  await playDemoUser(step3.data.authorization_url);
  return await script.finish();
}

// ---------------------------------------------------------------------------
// A fake org that a test scripts, for answers the demo org never gives
// ---------------------------------------------------------------------------

export const FAKE_SECRET = "fake-org-client-secret-value";
const FAKE_ACCESS_TOKEN =
  "00D5g000004FAKE!fakeAccessTokenValue.abcdefghijklmnopqrstuvwxyz0123";
const FAKE_REFRESH_TOKEN =
  "5Aep861fakeRefreshTokenValue.abcdefghijklmnopqrstuvwxyz";
secrets.add(FAKE_SECRET);

/** A tiny org on 127.0.0.1: answers every request as told, and records `METHOD /path body`. */
export async function withFakeOrg(
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

/** A token response signed as Salesforce signs it, with the fake org's tokens. */
export async function signedTokens(
  url: string,
  extra: Record<string, string> = {},
) {
  const id = `${url}/id/00D5g000004FAKEEAA/0055g00000FAKEUAAA`;
  const issued_at = "1770952407907";
  return {
    access_token: FAKE_ACCESS_TOKEN,
    refresh_token: FAKE_REFRESH_TOKEN,
    signature: await signIdentity(FAKE_SECRET, id, issued_at),
    scope: "api id refresh_token",
    instance_url: url,
    id,
    token_type: "Bearer",
    issued_at,
    ...extra,
  };
}

/** Runs the script up to the callback, hands it a code, and lets it finish; `human: true` leaves out --json. */
export async function runAgainst(
  instanceUrl: string,
  extraArgs: string[] = [],
  options: RunOptions & {
    human?: boolean;
    secret?: boolean;
    /** Run the check before the browser (off by default: fake orgs answer every request alike). */
    check?: boolean;
  } = {},
): Promise<Finished> {
  const redirect = redirectUri();
  const script = spawn([
    "--instance-url",
    instanceUrl,
    "--client-id",
    "3MVG9fake",
    ...(options.secret === false ? [] : ["--client-secret", FAKE_SECRET]),
    "--redirect-uri",
    redirect,
    "--no-browser",
    ...(options.check ? [] : ["--no-check"]),
    ...(options.human ? [] : ["--json"]),
    ...extraArgs,
  ], { ...options, env: { SF_CLIENT_SECRET: "", ...options.env } });
  const state = options.human
    ? (await script.waitFor(/^ +state: +([\w-]{43})$/m))[1]
    : (await script.waitForStep(3)).data.query.state;
  if (options.human) await script.waitFor(/## 4\./);
  else await script.waitForStep(4);
  await browse(`${redirect}?code=fake-code%3D%3D&state=${state}`);
  return await script.finish();
}

/** Opens a connection to a local server and sends a request body one byte at a time, as a slow client would; it stops by itself after 5 s. */
export function dripInto(port: number, path = "/callback") {
  const stop = new AbortController();
  const done = (async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(
        new TextEncoder().encode(
          `POST ${path} HTTP/1.1\r\nHost: localhost:${port}\r\nContent-Length: 1000\r\n\r\n`,
        ),
      );
      while (!stop.signal.aborted) {
        await conn.write(new Uint8Array([120])).catch(() => stop.abort());
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    } finally {
      conn.close();
    }
  })();
  // Never longer than 5 s, so a flow that waits for it fails its timing instead of hanging.
  const limit = setTimeout(() => stop.abort(), 5_000);
  return {
    stop: async () => (stop.abort(), clearTimeout(limit), await done),
  };
}

/** Fails unless nothing accepts connections on 127.0.0.1 at `port`. */
export async function assertConnectionRefused(port: number) {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionRefused) return;
    throw error;
  }
  throw new Error(`port ${port} still accepts connections`);
}

/** Waits until something listens on 127.0.0.1 at `port`. */
export async function waitUntilListening(port: number) {
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

/** A browser launcher (`xdg-open`) that only writes down the URL it was given; `opened()` waits for it. */
export async function recordingLauncher() {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/xdg-open`,
    `#!/bin/sh\nprintf '%s' "$1" > "${dir}/url.tmp" && mv "${dir}/url.tmp" "${dir}/url"\n`,
    { mode: 0o755 },
  );
  return {
    /** PATH for the script: the launcher first. */
    path: `${dir}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
    async opened(): Promise<string> {
      for (let i = 0; i < 600; i++) {
        try {
          return await Deno.readTextFile(`${dir}/url`);
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      throw new Error("the launcher was never run");
    },
    remove: () => Deno.remove(dir, { recursive: true }),
  };
}

/** A response body that never ends: `chunk` over and over, one every `everyMs` (0: as fast as it is read), until the reader cancels. */
export function endlessBody(
  chunk: string | Uint8Array,
  everyMs = 0,
): ReadableStream<Uint8Array> {
  const bytes = typeof chunk === "string"
    ? new TextEncoder().encode(chunk)
    : chunk;
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new ReadableStream({
    async pull(controller) {
      if (everyMs > 0) {
        await new Promise((resolve) => (timer = setTimeout(resolve, everyMs)));
      }
      controller.enqueue(bytes);
    },
    cancel() {
      clearTimeout(timer);
    },
  });
}

/** --demo asking for a scope the demo app lacks, so the org shows its own error page; `path` holds the browser launcher. Without the org's word the run would wait 120 s, then say timeout. */
export function spawnAskingForMissingScope(path: string): Running {
  return spawn([
    "--demo",
    "--json",
    "--scope",
    "api chatter_api",
    "--timeout",
    "120",
  ], { env: { PATH: path } });
}

// ---------------------------------------------------------------------------
// Chromium, for the tests that look at pages and diagrams
// ---------------------------------------------------------------------------

/** Debian's Chromium, which playwright-core drives (it never downloads a browser of its own). */
export const CHROMIUM = "/usr/bin/chromium";

/** True where Chromium is installed; elsewhere `file` says once that its browser tests are skipped, and how to install it. */
export function chromiumFor(file: string): boolean {
  let found = false;
  try {
    found = Deno.statSync(CHROMIUM).isFile;
  } catch { /* not installed */ }
  if (!found) {
    console.warn(
      `${file}: browser tests skipped, no Chromium at ${CHROMIUM}. ` +
        "Install it with `sudo apt-get install chromium` (Debian, Ubuntu) and run `deno task test` again.",
    );
  }
  return found;
}

/** A headless Chromium with a new, empty profile, with flags that work as root, offline, in containers. */
export async function launchChromium(): Promise<Browser> {
  return await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** Keeps a screenshot in SCREENSHOT_DIR, when it is set. */
export async function keepScreenshot(
  name: string,
  image: () => Promise<Uint8Array>,
) {
  const dir = Deno.env.get("SCREENSHOT_DIR");
  if (!dir) return;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeFile(`${dir}/${name}.png`, await image());
}
