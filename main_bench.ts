/**
 * How much the walkthrough costs: `deno bench -A`.
 *
 * The whole-process group runs `deno run` of an empty file as its baseline,
 * so the report shows how many times Deno's own start-up the demo flow takes.
 */

import { freePort } from "./_test_utils.ts";
import { main } from "./main.ts";
import { generatePkce } from "./pkce.ts";

const MAIN = new URL("./main.ts", import.meta.url).pathname;
const EMPTY = Deno.makeTempFileSync({ suffix: ".ts" });

const demoArgs = (port: number) => [
  "--demo",
  "--no-browser",
  "--json",
  "--redirect-uri",
  `http://localhost:${port}/callback`,
];

Deno.bench("generatePkce()", { group: "pkce" }, async () => {
  await generatePkce();
});

Deno.bench("one demo flow, in-process (steps 1 to 9)", {
  group: "flow",
}, async (b) => {
  const port = freePort();
  const { log, error } = console;
  console.log = console.error = () => {};
  try {
    b.start();
    const code = await main(demoArgs(port));
    b.end();
    if (code !== 0) throw new Error(`the demo flow exited ${code}`);
  } finally {
    Object.assign(console, { log, error });
  }
});

async function runDeno(args: string[]) {
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    stdout: "null",
    stderr: "null",
    stdin: "null",
  }).output();
  if (code !== 0) throw new Error(`deno run ${args.join(" ")} exited ${code}`);
}

Deno.bench("deno run of an empty file", {
  group: "whole process",
  baseline: true,
  n: 30,
}, async () => {
  await runDeno([EMPTY]);
});

Deno.bench("deno run -A main.ts --demo --no-browser --json", {
  group: "whole process",
  n: 30,
}, async () => {
  await runDeno([MAIN, ...demoArgs(freePort())]);
});

// The same without openid: no ID token, so no RSA key to make (60 to 260 ms).
Deno.bench("the same, --scope without openid", {
  group: "whole process",
  n: 30,
}, async () => {
  await runDeno([
    MAIN,
    ...demoArgs(freePort()),
    "--scope",
    "api id refresh_token",
  ]);
});
