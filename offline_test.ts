/**
 * What a learner runs works on any laptop, first try, with no network: the
 * demo tasks, `--demo`, the gist files, and every command in README.md and
 * docs/*.md, run as written.
 *
 * Each run gets an empty `DENO_DIR` and, on Linux where `unshare` is allowed
 * (root in CI, or an unprivileged user namespace), a network namespace with
 * only loopback: nothing can reach a registry. Where no namespace can be
 * made, the offline proof still runs and checks that the empty cache gained
 * no package; the documents' commands are then skipped, since they use the
 * fixed ports 8000 and 8080 that only a private namespace keeps free.
 *
 * The documents' commands: every fenced block in README.md and docs/*.md
 * whose language is a shell. An `sh` block runs in bash, and in zsh where
 * installed (macOS's shell), in a temporary copy of the repository, with a
 * fake `xdg-open` that signs in to the demo org and clicks Allow as a browser
 * would, stdin closed, and must exit 0. An HTML comment on the line before a
 * block changes that:
 *
 * - `<!-- shown-only: REASON -->`: not run (a real org, an installer, the
 *   network, Windows); the reason is required. PowerShell and other shells'
 *   blocks must be shown-only.
 * - `<!-- test: OPTION … -->`, options from {@linkcode OPTIONS}: `org` (a
 *   standalone demo org runs and `.env` points at it, as a real org's would),
 *   `paste` (a person signs in at the authorization URL the block prints, in
 *   another browser, and types the address it was sent to), `background`
 *   (starts a server that the later blocks of the same document use; it must
 *   print "listening"), `exit=N`, `needs=TOOL` (skipped, saying so, without
 *   TOOL), `expect=TEXT` (the output must contain TEXT; no spaces).
 *
 * Commands in `sh` blocks carry no `#` comments: pasted into zsh, where
 * interactive comments are off by default, they would reach the command as
 * arguments.
 *
 * @module
 */

import { assert, assertEquals } from "./_test_deps.ts";

const REPO = new URL(".", import.meta.url).pathname;
const DENO = Deno.execPath();

// ---------------------------------------------------------------------------
// A place with no network: a namespace with only loopback, where allowed
// ---------------------------------------------------------------------------

/** A tool's absolute path on this machine's PATH, or undefined. */
function findTool(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      const path = `${dir}/${name}`;
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not in this directory
    }
  }
}

/** How to enter a namespace with only loopback: unshare's flags, or why there is none. */
function probeNamespace(): { flags: string[] } | { why: string } {
  if (Deno.build.os !== "linux") {
    return { why: "network namespaces are Linux's" };
  }
  if (!findTool("unshare") || !findTool("nsenter")) {
    return { why: "unshare or nsenter (util-linux) is missing" };
  }
  if (!findTool("ip")) return { why: "ip (iproute2) is missing" };
  let error = "";
  for (const flags of [["-n"], ["-r", "-n"]]) {
    const probe = new Deno.Command("unshare", {
      args: [...flags, "ip", "link", "set", "lo", "up"],
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    if (probe.success) return { flags };
    error = new TextDecoder().decode(probe.stderr).trim();
  }
  return { why: `unshare -n is not permitted here (${error})` };
}

const NAMESPACE = probeNamespace();
const ISOLATED = "flags" in NAMESPACE;
const WHY_NOT_ISOLATED = "why" in NAMESPACE ? NAMESPACE.why : "";

/** Where commands run: a private network namespace (or, failing that, this machine) with an empty Deno cache. */
interface Sandbox {
  /** The empty DENO_DIR every command here shares. */
  denoDir: string;
  /** A directory early on PATH, for fake tools. */
  bin: string;
  env: Record<string, string>;
  spawn(
    args: string[],
    options?: {
      cwd?: string;
      stdin?: "piped" | "null";
      env?: Record<string, string>;
    },
  ): Deno.ChildProcess;
  close(): Promise<void>;
}

async function openSandbox(): Promise<Sandbox> {
  const denoDir = await Deno.makeTempDir({ prefix: "offline-deno-dir-" });
  const home = await Deno.makeTempDir({ prefix: "offline-home-" });
  const bin = await Deno.makeTempDir({ prefix: "offline-bin-" });
  const denoBin = DENO.replace(/\/[^/]*$/, "");
  const env = {
    PATH: `${bin}:${denoBin}:/usr/local/bin:/usr/bin:/bin`,
    HOME: home,
    DENO_DIR: denoDir,
    DENO_NO_UPDATE_CHECK: "1",
    NO_COLOR: "1",
    LANG: "C.UTF-8",
  };
  let holder: Deno.ChildProcess | undefined;
  let enter: string[] = [];
  if ("flags" in NAMESPACE) {
    // One process holds the namespace open; every command enters it.
    holder = new Deno.Command("unshare", {
      args: [
        ...NAMESPACE.flags,
        "sh",
        "-c",
        "ip link set lo up && echo ready && exec cat >/dev/null",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = holder.stdout.getReader();
    const { value } = await reader.read();
    await reader.cancel();
    assertEquals(
      new TextDecoder().decode(value).trim(),
      "ready",
      "the network namespace did not start",
    );
    enter = [
      "nsenter",
      "-t",
      String(holder.pid),
      ...(NAMESPACE.flags.includes("-r")
        ? ["-U", "--preserve-credentials"]
        : []),
      "-n",
    ];
  }
  return {
    denoDir,
    bin,
    env,
    spawn(args, options = {}) {
      const [program, ...rest] = [...enter, ...args];
      return new Deno.Command(program, {
        args: rest,
        cwd: options.cwd ?? REPO,
        env: { ...env, ...options.env },
        clearEnv: true,
        stdin: options.stdin ?? "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    },
    async close() {
      if (holder) {
        await holder.stdin.close();
        await holder.status;
      }
      for (const dir of [denoDir, home, bin]) {
        await Deno.remove(dir, { recursive: true });
      }
    },
  };
}

/** What a finished command printed. */
interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command in the sandbox to the end, killed after `seconds`. */
async function runIn(
  sandbox: Sandbox,
  args: string[],
  options: { cwd?: string; seconds?: number } = {},
): Promise<Output> {
  const child = sandbox.spawn(args, options);
  const timer = setTimeout(
    () => child.kill("SIGKILL"),
    (options.seconds ?? 60) * 1000,
  );
  const [stdout, stderr, status] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.status,
  ]);
  clearTimeout(timer);
  return { code: status.code, stdout, stderr };
}

/** Files Deno fetched into the sandbox's cache: npm packages or remote modules. */
async function fetched(sandbox: Sandbox): Promise<string[]> {
  const found: string[] = [];
  for (const top of ["npm", "remote"]) {
    const walk = async (dir: string) => {
      for await (const entry of Deno.readDir(dir)) {
        const path = `${dir}/${entry.name}`;
        if (entry.isDirectory) await walk(path);
        else found.push(path.slice(sandbox.denoDir.length + 1));
      }
    };
    try {
      await walk(`${sandbox.denoDir}/${top}`);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return found;
}

function describe(output: Output): string {
  return `exit ${output.code}\n--- stdout ---\n${
    output.stdout.slice(-3000)
  }\n--- stderr ---\n${output.stderr.slice(-3000)}`;
}

// ---------------------------------------------------------------------------
// The offline proof: the demo tasks, --demo and the gist on an empty cache
// ---------------------------------------------------------------------------

const WHERE = ISOLATED
  ? "with no network, on an empty cache"
  : `on an empty cache, fetching nothing (no network namespace: ${WHY_NOT_ISOLATED})`;

/** The walkthrough against the in-process demo org, as a task and as deno run. */
const DEMO_RUNS: { name: string; args: string[] }[] = [
  {
    name: "deno task demo --no-browser --json",
    args: [DENO, "task", "-q", "demo", "--no-browser", "--json"],
  },
  {
    name: "deno run -A main.ts --demo --no-browser --json",
    args: [DENO, "run", "-A", "main.ts", "--demo", "--no-browser", "--json"],
  },
];

for (const { name, args } of DEMO_RUNS) {
  Deno.test(`offline: ${name} completes ${WHERE}`, async () => {
    const sandbox = await openSandbox();
    try {
      const output = await runIn(sandbox, args);
      assertEquals(output.code, 0, describe(output));
      const steps = output.stdout.split("\n").filter((l) => l.startsWith("{"))
        .map((line) => JSON.parse(line).step);
      assert(steps.includes(8), `no step 8: ${describe(output)}`);
      assertEquals(await fetched(sandbox), [], "Deno fetched packages");
    } finally {
      await sandbox.close();
    }
  });
}

/** Started inside the sandbox: runs deno task demo-org, fetches its discovery document, then presses Ctrl+C. */
const PROBE_DEMO_ORG = `
const org = new Deno.Command(Deno.execPath(), {
  args: ["task", "-q", "demo-org", ...Deno.args],
  stdout: "piped",
}).spawn();
const reader = org.stdout.pipeThrough(new TextDecoderStream()).getReader();
let printed = "";
while (!/listening on (http:\\/\\/\\S+)/.test(printed)) {
  const { value, done } = await reader.read();
  if (done) break;
  printed += value;
}
const url = /listening on (http:\\/\\/\\S+)/.exec(printed)?.[1];
const discovery = url
  ? await fetch(url + "/.well-known/openid-configuration").then((r) => r.json())
  : null;
org.kill("SIGINT");
await reader.cancel();
const { code } = await org.status;
console.log(JSON.stringify({ url, issuer: discovery?.issuer, code }));
`;

Deno.test(`offline: deno task demo-org starts, answers and stops ${WHERE}`, async () => {
  const sandbox = await openSandbox();
  try {
    const port = ISOLATED ? [] : ["--port", "0"]; // 8080 is private only in a namespace
    const output = await runIn(sandbox, [
      DENO,
      "eval",
      PROBE_DEMO_ORG,
      ...port,
    ]);
    assertEquals(output.code, 0, describe(output));
    const { url, issuer, code } = JSON.parse(output.stdout);
    assert(url, `it never said it was listening: ${describe(output)}`);
    if (ISOLATED) assertEquals(url, "http://127.0.0.1:8080");
    assertEquals(issuer, url, "the discovery document names the org");
    assertEquals(code, 130, "Ctrl+C stops it");
    assertEquals(await fetched(sandbox), [], "Deno fetched packages");
  } finally {
    await sandbox.close();
  }
});

/** A gist holds main.ts and pkce.ts side by side; its raw files come as text/plain. */
const GIST_FILES = ["main.ts", "pkce.ts"];

Deno.test(`offline: the gist files alone (main.ts, pkce.ts) print --help and refuse missing settings ${WHERE}`, async () => {
  const sandbox = await openSandbox();
  const gist = await Deno.makeTempDir({ prefix: "offline-gist-" });
  try {
    for (const file of GIST_FILES) {
      await Deno.copyFile(`${REPO}/${file}`, `${gist}/${file}`);
    }
    const help = await runIn(
      sandbox,
      [DENO, "run", "-A", "main.ts", "--help"],
      {
        cwd: gist,
      },
    );
    assertEquals(help.code, 0, describe(help));
    assert(help.stdout.startsWith("Usage:"), describe(help));
    const missing = await runIn(sandbox, [DENO, "run", "-A", "main.ts"], {
      cwd: gist,
    });
    assertEquals(missing.code, 2, describe(missing));
    assert(/missing --instance-url/.test(missing.stderr), describe(missing));
    assertEquals(await fetched(sandbox), [], "Deno fetched packages");
  } finally {
    await sandbox.close();
    await Deno.remove(gist, { recursive: true });
  }
});

Deno.test("the gist by URL: deno run -A <raw URL of main.ts> --help needs only main.ts and pkce.ts", async () => {
  const served: string[] = [];
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
  }, async (request) => {
    const name = new URL(request.url).pathname.replace(
      "/you/0123abcd/raw/",
      "",
    );
    if (!GIST_FILES.includes(name)) {
      return new Response("Not Found", { status: 404 });
    }
    served.push(name);
    return new Response(await Deno.readFile(`${REPO}/${name}`), {
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  });
  const denoDir = await Deno.makeTempDir({ prefix: "offline-deno-dir-" });
  const cwd = await Deno.makeTempDir({ prefix: "offline-gist-" });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/you/0123abcd/raw/main.ts`;
    const output = await new Deno.Command(DENO, {
      args: ["run", "-A", url, "--help"],
      cwd,
      env: {
        DENO_DIR: denoDir,
        NO_COLOR: "1",
        DENO_NO_UPDATE_CHECK: "1",
        PATH: "",
      },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
    assert(stdout.startsWith("Usage:"), stdout);
    assertEquals(served.sort(), GIST_FILES);
  } finally {
    await server.shutdown();
    await Deno.remove(denoDir, { recursive: true });
    await Deno.remove(cwd, { recursive: true });
  }
});
