/**
 * Helpers shared by the end-to-end tests: run or spawn the script as a user
 * would (`Deno.execPath()`, a clean environment, an empty working directory),
 * and keep a transcript of everything it printed for the leak test.
 *
 * @module
 */

import { type DemoOrg, playDemoUser, startDemoOrg } from "./demo_org.ts";

export const MAIN = new URL("./main.ts", import.meta.url).pathname;

/** Every byte any spawned script printed and every page its callback served; the leak test reads it. */
export const transcript: string[] = [];
/** Secrets that must never appear in the transcript. */
export const secrets = new Set<string>();

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
  const denoDir = Deno.env.get("DENO_DIR");
  if (denoDir) env.DENO_DIR = denoDir;
  return { ...env, ...extra };
}

/** The JSON lines printed so far; a last line still being written is left for later. */
function parseSteps(stdout: string): Step[] {
  const complete = stdout.slice(0, stdout.lastIndexOf("\n") + 1);
  return complete.split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line));
}

/** Runs the script to the end. */
export async function run(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<Finished> {
  const cwd = options.cwd ?? await Deno.makeTempDir();
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    cwd,
    env: childEnv(options.env),
    clearEnv: true,
    stdin: "null",
  }).output();
  if (!options.cwd) await Deno.remove(cwd, { recursive: true });
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  transcript.push(stdout, stderr);
  return { code: output.code, stdout, stderr, steps: parseSteps(stdout) };
}

/** A running script whose steps a test can wait for. */
export interface Running {
  child: Deno.ChildProcess;
  waitForStep(step: number): Promise<Step>;
  finish(): Promise<Finished>;
}

/** How to spawn; `record: false` keeps a run that prints tokens on purpose out of the leak scan. */
export interface SpawnOptions {
  env?: Record<string, string>;
  stdin?: "piped" | "null";
  record?: boolean;
}

export function spawn(args: string[], options: SpawnOptions = {}): Running {
  const cwd = Deno.makeTempDirSync(); // no stray .env can change a run
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
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
    async finish() {
      const status = await child.status;
      await stdoutDone;
      const stderr = await stderrDone;
      await Deno.remove(cwd, { recursive: true });
      if (options.record !== false) transcript.push(stdout, stderr);
      return { code: status.code, stdout, stderr, steps: parseSteps(stdout) };
    },
  };
}

export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

export function redirectUri(): string {
  return `http://localhost:${freePort()}/callback`;
}

/** GETs a URL the way a browser would, recording the page for the leak test. */
export async function browse(url: string, init?: RequestInit) {
  const response = await fetch(url, { redirect: "manual", ...init });
  const text = await response.text();
  transcript.push(text);
  return { status: response.status, text, headers: response.headers };
}

export async function withDemoOrg(
  fn: (org: DemoOrg, redirect: string) => Promise<void>,
  options: { clientSecret?: string } = {},
) {
  const redirect = redirectUri();
  const org = startDemoOrg({ redirectUri: redirect, ...options });
  secrets.add(org.client.client_secret);
  try {
    await fn(org, redirect);
  } finally {
    org.issued.forEach((token) => secrets.add(token));
    await org.close();
  }
}

export function orgArgs(
  org: DemoOrg,
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
  options: SpawnOptions = {},
): Promise<Finished> {
  const script = spawn(args, options);
  const step3 = await script.waitForStep(3);
  await script.waitForStep(4);
  await playDemoUser(step3.data.authorization_url);
  return await script.finish();
}
