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
 * whose language is a shell. An `sh` block runs in bash, zsh (macOS's shell) and
 * sh (POSIX), where installed, in a temporary copy of the repository, with a
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
 *   (starts a server that the later blocks of the same document use, until
 *   the next background block; it must print "listening"), `exit=N`,
 *   `needs=TOOL` (skipped, saying so, without TOOL), `expect=TEXT` (the
 *   output must contain TEXT; no spaces).
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
  spawn(
    args: string[],
    options?: { cwd?: string; stdin?: "piped" | "null" },
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
    spawn(args, options = {}) {
      const [program, ...rest] = [...enter, ...args];
      return new Deno.Command(program, {
        args: rest,
        cwd: options.cwd ?? REPO,
        env,
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

// ---------------------------------------------------------------------------
// Every command in README.md and docs/*.md, run as written
// ---------------------------------------------------------------------------

/** Languages of command blocks. Only `sh` blocks run; the others must be shown-only. */
const SHELL_LANGUAGES = new Set([
  "sh",
  "bash",
  "zsh",
  "shell",
  "console",
  "powershell",
  "pwsh",
  "ps1",
  "cmd",
  "bat",
  "fish",
]);

/** What each `<!-- test: … -->` option does to a block's run. */
const OPTIONS: Record<string, string> = {
  org: "a standalone demo org runs, and .env points at it as at a real org",
  paste:
    "a person signs in at the authorization URL the block prints and types the address the browser was sent to",
  background:
    "a server the later blocks of this document use: started, awaited until it prints 'listening', stopped with Ctrl+C at the next background block or the document's end",
  exit: "exit=N: the exit code the block must end with (default 0)",
  needs: "needs=TOOL: skipped, saying so, where TOOL is not installed",
  expect: "expect=TEXT: the output must contain TEXT",
};

interface Block {
  document: string;
  line: number;
  heading: string;
  language: string;
  code: string;
  /** The reason it is not run, from `<!-- shown-only: … -->`. */
  shownOnly?: string;
  /** From `<!-- test: … -->`: option name to values. */
  options: Map<string, string[]>;
}

/** Where a block is, for messages: `README.md:42 (Quick start)`. */
function where(block: Block): string {
  return `${block.document}:${block.line} (${block.heading})`;
}

/** The fenced blocks of a Markdown document, each with the marker on the line before it. */
function readBlocks(document: string, text: string): Block[] {
  const lines = text.split("\n");
  const blocks: Block[] = [];
  let heading = "top";
  for (let i = 0; i < lines.length; i++) {
    const title = /^#{1,6} +(.*)$/.exec(lines[i]);
    if (title) heading = title[1];
    const open = /^( *)(`{3,})\s*(\S*).*$/.exec(lines[i]);
    if (!open) continue;
    const [, indent, fence, language] = open;
    let end = i + 1;
    while (
      end < lines.length &&
      !new RegExp(`^ *${fence}\`*\\s*$`).test(lines[end])
    ) end++;
    const code = lines.slice(i + 1, end)
      .map((line) => line.startsWith(indent) ? line.slice(indent.length) : line)
      .join("\n");
    let before = i - 1;
    while (before >= 0 && lines[before].trim() === "") before--;
    const marker = /^\s*<!--\s*(shown-only|test):(.*?)-->\s*$/
      .exec(lines[before] ?? "");
    const options = new Map<string, string[]>();
    if (marker?.[1] === "test") {
      for (const word of marker[2].trim().split(/\s+/).filter(Boolean)) {
        const [name, value = ""] = word.split(/=(.*)/s);
        options.set(name, [...options.get(name) ?? [], value]);
      }
    }
    blocks.push({
      document,
      line: i + 1,
      heading,
      language,
      code,
      shownOnly: marker?.[1] === "shown-only" ? marker[2].trim() : undefined,
      options,
    });
    i = end;
  }
  return blocks;
}

/** What is wrong with a block before it runs: the rules every command block follows. */
function blockProblems(block: Block): string[] {
  const problems: string[] = [];
  if (block.language === "") {
    problems.push("a fence without a language: name it (sh, json, js, …)");
  }
  if (!SHELL_LANGUAGES.has(block.language)) return problems;
  if (block.shownOnly === "") {
    problems.push("<!-- shown-only: … --> needs the reason");
  }
  if (block.language !== "sh" && block.shownOnly === undefined) {
    problems.push(
      `a ${block.language} block is not run: make it sh, or mark it <!-- shown-only: REASON -->`,
    );
  }
  if (block.language !== "sh") return problems;
  for (const name of block.options.keys()) {
    if (!(name in OPTIONS)) {
      problems.push(
        `unknown option "${name}" in <!-- test: … -->; known: ${
          Object.keys(OPTIONS).join(", ")
        }`,
      );
    }
  }
  const unquoted = block.code.replace(/'[^']*'|"(?:\\.|[^"\\])*"/g, "''");
  if (/(^|\s)#/m.test(unquoted)) {
    problems.push(
      "a # comment: pasted into zsh (macOS), where interactive comments are off, it reaches the command as arguments; say it in the text",
    );
  }
  if (/(^|[^&>|])&(?!&)\s*($|\s)/m.test(unquoted)) {
    problems.push(
      "a command sent to the background with &: give a server a block of its own, marked <!-- test: background -->",
    );
  }
  return problems;
}

async function documents(): Promise<{ name: string; text: string }[]> {
  const names = ["README.md"];
  for await (const entry of Deno.readDir(`${REPO}/docs`)) {
    if (entry.isFile && entry.name.endsWith(".md")) {
      names.push(`docs/${entry.name}`);
    }
  }
  names.sort((a, b) =>
    a === "README.md" ? -1 : b === "README.md" ? 1 : a < b ? -1 : 1
  );
  return await Promise.all(names.map(async (name) => ({
    name,
    text: await Deno.readTextFile(`${REPO}/${name}`),
  })));
}

Deno.test("every command block in README.md and docs/*.md is runnable or marked shown-only with a reason", async () => {
  const problems: string[] = [];
  let shell = 0;
  for (const { name, text } of await documents()) {
    for (const block of readBlocks(name, text)) {
      if (SHELL_LANGUAGES.has(block.language)) shell++;
      for (const problem of blockProblems(block)) {
        problems.push(`${where(block)}: ${problem}`);
      }
    }
  }
  assert(shell > 0, "no command blocks found: is the fence syntax ```sh?");
  assertEquals(problems, [], `\n${problems.join("\n")}`);
});

/** A copy of the repository's files (not .git, .env or saved tokens), as a learner's checkout would be. */
async function copyRepo(): Promise<string> {
  const copy = await Deno.makeTempDir({ prefix: "offline-repo-" });
  const skip = (name: string) =>
    name.startsWith(".") && name !== ".env.example" ||
    ["node_modules", "sf-tokens.json"].includes(name);
  const walk = async (from: string, to: string) => {
    for await (const entry of Deno.readDir(from)) {
      if (skip(entry.name)) continue;
      if (entry.isDirectory) {
        await Deno.mkdir(`${to}/${entry.name}`);
        await walk(`${from}/${entry.name}`, `${to}/${entry.name}`);
      } else if (entry.isFile) {
        await Deno.copyFile(`${from}/${entry.name}`, `${to}/${entry.name}`);
      }
    }
  };
  await walk(REPO, copy);
  return copy;
}

/** A process whose output is collected as it comes. */
interface Watched {
  child: Deno.ChildProcess;
  /** Everything printed so far, stdout then stderr interleaved as it came. */
  output(): string;
  /** Resolves with the first match of `pattern` in the output, or null once the process has ended without one. */
  waitFor(pattern: RegExp): Promise<RegExpExecArray | null>;
  done: Promise<Output>;
}

function watch(child: Deno.ChildProcess): Watched {
  let all = "";
  const streams = { stdout: "", stderr: "" };
  let changed = Promise.withResolvers<void>();
  let ended = false;
  const pump = async (name: "stdout" | "stderr") => {
    for await (
      const chunk of child[name].pipeThrough(new TextDecoderStream())
    ) {
      streams[name] += chunk;
      all += chunk;
      changed.resolve();
      changed = Promise.withResolvers<void>();
    }
  };
  const done = Promise.all([pump("stdout"), pump("stderr"), child.status])
    .then(([, , status]) => {
      ended = true;
      changed.resolve();
      return { code: status.code, ...streams };
    });
  return {
    child,
    output: () => all,
    async waitFor(pattern) {
      while (true) {
        const found = pattern.exec(all);
        if (found || ended) return found;
        await changed.promise;
      }
    },
    done,
  };
}

/** Started in the sandbox as a person in another browser: signs in as the demo user, clicks Allow, prints where the org sent the browser. */
const PERSON = `import { signInAndDecide } from "${
  new URL("./demo_org.ts", import.meta.url).href
}";
console.log((await signInAndDecide(Deno.args[0])).href);`;

/** A fake xdg-open: a browser that signs in as the demo user and clicks Allow. */
function fakeBrowser(log: string): string {
  const play = `import { playDemoUser } from "${
    new URL("./demo_org.ts", import.meta.url).href
  }"; await playDemoUser(Deno.args[0]);`;
  return `#!/bin/sh\nexec "${DENO}" eval '${play}' "$1" >>"${log}" 2>&1\n`;
}

const AUTHORIZATION_URL =
  /https?:\/\/[^\s"'<>]+\/services\/oauth2\/authorize\?[^\s"'<>]+/;

/** One document's blocks in one shell, in order, in a fresh copy of the repository. */
async function runDocument(
  sandbox: Sandbox,
  shell: string[],
  blocks: Block[],
): Promise<{ failures: string[]; notes: string[]; ran: number }> {
  let ran = 0;
  const failures: string[] = [];
  const notes: string[] = [];
  const copy = await copyRepo();
  const servers: Watched[] = [];
  const browserLog = `${sandbox.bin}/browser.log`;
  const label = (block: Block) => `${where(block)} in ${shell[0]}`;
  try {
    for (const block of blocks) {
      const missing = (block.options.get("needs") ?? [])
        .filter((tool) => !findTool(tool));
      if (missing.length) {
        notes.push(
          `${label(block)}: skipped, ${missing.join(", ")} not installed`,
        );
        continue;
      }
      ran++;
      await Deno.writeTextFile(browserLog, "");
      const org = block.options.has("org")
        ? await startOrg(sandbox, copy)
        : null;
      try {
        const failure = await runBlock(sandbox, shell, block, copy, servers);
        if (failure) {
          const browser = await Deno.readTextFile(browserLog);
          failures.push(
            `${label(block)}: ${failure}\n--- the block ---\n${block.code}${
              browser ? `\n--- the fake browser ---\n${browser}` : ""
            }`,
          );
        }
      } finally {
        if (org) {
          org.child.kill("SIGINT");
          await org.done;
          await Deno.remove(`${copy}/.env`);
        }
      }
    }
  } finally {
    await stopServers(servers);
    await Deno.remove(copy, { recursive: true });
  }
  return { failures, notes, ran };
}

/** Stops the servers that background blocks started, as Ctrl+C would. */
async function stopServers(servers: Watched[]) {
  for (const server of servers.splice(0)) {
    server.child.kill("SIGINT");
    await server.done;
  }
}

/** Starts a standalone demo org in the sandbox and writes the copy's .env for it, as a learner would for a real org. */
async function startOrg(sandbox: Sandbox, copy: string): Promise<Watched> {
  const org = watch(sandbox.spawn(
    [DENO, "run", "-A", "demo_org.ts", "--port", "0"],
    { cwd: copy },
  ));
  const url = await org.waitFor(/listening on (http:\/\/\S+)/);
  const id = await org.waitFor(/client_id: +(\S+)/);
  if (!url || !id) {
    throw new Error(`the demo org did not start: ${org.output()}`);
  }
  await Deno.writeTextFile(
    `${copy}/.env`,
    `SF_INSTANCE_URL=${url[1]}\nSF_CLIENT_ID=${id[1]}\n`,
  );
  return org;
}

/** Runs one block; a description of what went wrong, or null. */
async function runBlock(
  sandbox: Sandbox,
  shell: string[],
  block: Block,
  copy: string,
  servers: Watched[],
): Promise<string | null> {
  const paste = block.options.has("paste");
  const background = block.options.has("background");
  if (background) await stopServers(servers); // one server at a time, as in one terminal
  // timeout(1) runs the block in a process group of its own and ends all of it.
  const limit = background ? "600" : "120";
  const run = watch(sandbox.spawn(
    [
      "timeout",
      "-k",
      "5",
      limit,
      ...shell,
      `${STRICT}\n${block.code}`,
    ],
    { cwd: copy, stdin: paste ? "piped" : "null" },
  ));
  if (background) {
    const listening = await run.waitFor(/listening/i);
    if (!listening) {
      return `it ended without saying it was listening: ${
        describe(await run.done)
      }`;
    }
    servers.push(run);
    return null;
  }
  if (paste) {
    const url = await run.waitFor(AUTHORIZATION_URL);
    if (url) {
      const person = await runIn(sandbox, [DENO, "eval", PERSON, url[0]], {
        cwd: copy,
      });
      const writer = run.child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(person.stdout));
      await writer.close();
      if (person.code !== 0) {
        return `the person could not sign in: ${describe(person)}`;
      }
    }
  }
  const output = await run.done;
  const expected = Number(block.options.get("exit")?.[0] ?? 0);
  if (output.code !== expected) {
    return `exit ${output.code}, expected ${expected}${
      output.code === 124 ? " (timed out)" : ""
    }\n${describe(output)}`;
  }
  for (const text of block.options.get("expect") ?? []) {
    if (!`${output.stdout}${output.stderr}`.includes(text)) {
      return `the output lacks "${text}"\n${describe(output)}`;
    }
  }
  return null;
}

/** The shells a block runs in, where installed, with no startup files: bash, zsh (macOS's shell), and sh (POSIX: dash on Debian, bash 3.2 on macOS). */
const SHELLS = [["bash", "-c"], ["zsh", "-f", "-c"], ["sh", "-c"]];

/** Every command must succeed; a pipeline fails with any of its parts where the shell can tell (dash cannot). */
const STRICT = "set -e\n(set -o pipefail) 2>/dev/null && set -o pipefail";

Deno.test({
  name: ISOLATED
    ? "every sh block in README.md and docs/*.md runs as written, offline, in bash, zsh and sh"
    : `every sh block in README.md and docs/*.md runs as written (skipped: ${WHY_NOT_ISOLATED}; the blocks use the fixed ports 8000 and 8080)`,
  ignore: !ISOLATED,
  async fn() {
    const docs = (await documents()).map(({ name, text }) => ({
      name,
      blocks: readBlocks(name, text).filter((block) =>
        block.language === "sh" && block.shownOnly === undefined
      ),
    }));
    const shells = SHELLS.filter(([name]) => findTool(name));
    const notes = SHELLS.filter(([name]) => !findTool(name))
      .map(([name]) => `${name} is not installed: its runs are skipped`);
    const failures: string[] = [];
    // Each shell in a sandbox of its own, so the fixed ports never meet.
    await Promise.all(shells.map(async (shell) => {
      const sandbox = await openSandbox();
      try {
        await Deno.writeTextFile(
          `${sandbox.bin}/xdg-open`,
          fakeBrowser(`${sandbox.bin}/browser.log`),
          { mode: 0o755 },
        );
        let ran = 0;
        for (const { blocks } of docs) {
          const result = await runDocument(sandbox, shell, blocks);
          failures.push(...result.failures);
          notes.push(...result.notes);
          ran += result.ran;
        }
        assert(ran > 0, `no block ran in ${shell[0]}`);
        notes.push(`${ran} blocks ran in ${shell[0]}`);
        assertEquals(await fetched(sandbox), [], "Deno fetched packages");
      } finally {
        await sandbox.close();
      }
    }));
    for (const note of notes) console.log(`note: ${note}`);
    assertEquals(failures.length, 0, `\n${failures.join("\n\n")}`);
  },
});
