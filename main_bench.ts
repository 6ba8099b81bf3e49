/**
 * How much the walkthrough costs.
 *
 * `deno bench -A main_bench.ts`: PKCE and one in-process demo flow, and the
 * whole process against an empty `deno run` (the baseline).
 *
 * `deno run -A main_bench.ts [RUNS]`: the whole process side by side with an
 * empty `deno run` and the probe (`../shared/bench/probe.ts`, or `$PROBE`:
 * only the runtime work the flow cannot avoid), interleaved, RUNS rounds
 * (default 20). It prints medians of wall time, time to step 4 (the first
 * `"step":4` line on stdout: the callback is listening) and peak memory
 * (maximum resident set size, from `/usr/bin/time` where it exists).
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

/** The demo without openid: no ID token, so no discovery, keys or signature. */
const NO_OPENID = ["--scope", "api id refresh_token"];

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

Deno.bench("the same, --scope without openid", {
  group: "whole process",
  n: 30,
}, async () => {
  await runDeno([MAIN, ...demoArgs(freePort()), ...NO_OPENID]);
});

Deno.bench("deno run -A main.ts --help", {
  group: "whole process",
  n: 30,
}, async () => {
  await runDeno([MAIN, "--help"]);
});

// ---------------------------------------------------------------------------
// deno run -A main_bench.ts: side by side with the probe, interleaved
// ---------------------------------------------------------------------------

/** One whole-process run: wall time, time to the first step 4 line, peak memory. */
interface Sample {
  wallMs: number;
  step4Ms?: number;
  maxRssKib?: number;
}

const TIME = "/usr/bin/time";

/** Runs `deno run -A ...args`, timing it from spawn to exit and to its first `"step":4` line. */
async function sample(args: string[]): Promise<Sample> {
  const rssFile = Deno.makeTempFileSync();
  const withTime = await Deno.stat(TIME).then(() => true, () => false);
  const command = withTime
    ? [TIME, "-f", "%M", "-o", rssFile, Deno.execPath()]
    : [Deno.execPath()];
  const start = performance.now();
  const child = new Deno.Command(command[0], {
    args: [...command.slice(1), "run", "-A", ...args],
    stdout: "piped",
    stderr: "null",
    stdin: "null",
  }).spawn();
  let step4Ms: number | undefined;
  let seen = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    seen += chunk;
    if (step4Ms === undefined && /"step":4[,}]/.test(seen)) {
      step4Ms = performance.now() - start;
    }
  }
  const { code } = await child.status;
  const wallMs = performance.now() - start;
  if (code !== 0) throw new Error(`deno run ${args.join(" ")} exited ${code}`);
  const rss = Number(Deno.readTextFileSync(rssFile).trim().split("\n").pop());
  Deno.removeSync(rssFile);
  return { wallMs, step4Ms, maxRssKib: withTime ? rss : undefined };
}

function median(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** The middle half of the runs: from the 25th to the 75th percentile. */
function spread(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const at = (q: number) => sorted[Math.round(q * (sorted.length - 1))];
  return at(0.75) - at(0.25);
}

/** Runs each command once per round, in turn, and prints a Markdown table of medians. */
async function compareWholeProcess(rounds: number) {
  const probe = Deno.env.get("PROBE") ??
    new URL("../shared/bench/probe.ts", import.meta.url).pathname;
  const hasProbe = await Deno.stat(probe).then(() => true, () => false);
  const commands: [string, () => string[]][] = [
    ["empty `deno run`", () => [EMPTY]],
    ...(hasProbe
      ? [["the probe", () => [probe]] as [string, () => string[]]]
      : []),
    ["`main.ts --demo --no-browser --json`", () => [
      MAIN,
      ...demoArgs(freePort()),
    ]],
    ["the same without openid", () => [
      MAIN,
      ...demoArgs(freePort()),
      ...NO_OPENID,
    ]],
    ["`main.ts --help`", () => [MAIN, "--help"]],
  ];
  const samples = commands.map(() => [] as Sample[]);
  for (const [, args] of commands) await sample(args()); // warm-up
  for (let round = 0; round < rounds; round++) {
    for (const [i, [, args]] of commands.entries()) {
      samples[i].push(await sample(args()));
    }
  }
  const base = hasProbe ? samples[1] : samples[0];
  const ratio = (value: number, of: number) =>
    `${value.toFixed(1)} (${(value / of).toFixed(2)}×)`;
  console.log(
    `Medians of ${rounds} interleaved runs; ratios to ${
      hasProbe ? "the probe" : "the empty run"
    }.\n`,
  );
  console.log(
    "| run | wall ms | middle-half spread ms | to step 4 ms | max RSS MiB |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: |");
  const baseWall = median(base.map((s) => s.wallMs));
  const baseStep4 = base.some((s) => s.step4Ms !== undefined)
    ? median(base.map((s) => s.step4Ms!))
    : NaN;
  const baseRss = median(base.map((s) => s.maxRssKib ?? NaN)) / 1024;
  for (const [i, [name]] of commands.entries()) {
    const runs = samples[i];
    const wall = runs.map((s) => s.wallMs);
    const step4 = runs.flatMap((s) => s.step4Ms ?? []);
    const rss = runs.flatMap((s) => s.maxRssKib ?? []).map((k) => k / 1024);
    console.log(
      `| ${name} | ${ratio(median(wall), baseWall)} | ${
        spread(wall).toFixed(1)
      } | ${step4.length ? ratio(median(step4), baseStep4) : "–"} | ${
        rss.length ? ratio(median(rss), baseRss) : "–"
      } |`,
    );
  }
}

if (import.meta.main) {
  await compareWholeProcess(Number(Deno.args[0] ?? 20));
  Deno.removeSync(EMPTY);
}
