/**
 * # A picture of the run: `--report FILE.md`
 *
 * Turns the record of one run into a Markdown page for a gist or a chat: a
 * title with the date, the org and the outcome; a Mermaid sequence diagram
 * with one arrow per HTTP exchange, front channel and back channel told
 * apart, and a note for each check; then every step with its why and its
 * data, and with `--http` the raw requests and responses.
 *
 * `main.ts` imports this file only when `--report` is given. It writes text
 * and depends on nothing: GitHub draws the diagram (Mermaid), and only the
 * test loads the Mermaid library, to prove the text draws.
 *
 * Every value in the record may have come from outside (an org, a callback,
 * a pasted line), so none reaches the page as written: diagram labels pass
 * through `mermaidLabel`, prose through `markdownText`, values in prose
 * through `inlineCode`, and blocks through `fenced`. The record arrives
 * already masked by main.ts's one masking rule set; this file masks nothing
 * itself.
 *
 * @see https://mermaid.js.org/syntax/sequenceDiagram.html
 * @module
 */

import { safeJson, terminalSafe } from "./main.ts";

// ---------------------------------------------------------------------------
// The record of a run (agreed in /work/coord/INTERFACES.md; this is the source of truth)
// ---------------------------------------------------------------------------

/** Who takes part in an exchange; the report's diagram has one participant each. */
export type Party = "browser" | "callback" | "script" | "org" | "attacker";

/** One HTTP exchange as it crossed the wire, already masked by main.ts's one masking rule set. */
export interface Exchange {
  /** "front": through the browser (authorize, sign-in, consent, the 302, the callback); "back": script <-> org directly. */
  channel: "front" | "back";
  /** Who sent the request. */
  from: Party;
  /** Who answered it. */
  to: Party;
  /** The step it belongs to (1..11); the pre-browser check belongs to step 4. */
  step: number;
  /** "GET", "POST". */
  method: string;
  /** Masked: query values that are secrets masked (code=aPrx…, state kept). */
  url: string;
  /** 0 when no answer (network error, timeout). */
  status: number;
  /** Short label values that matter here, masked, e.g. { code_challenge: "…", code: "aPrx…" } or { location: "http://localhost:8000/callback?code=aPrx…&state=…" }. */
  highlights?: Record<string, string>;
  /** The raw HTTP/1.1 text (request line, headers, blank line, body), masked; present when --http. */
  request?: string;
  /** The raw HTTP/1.1 response text (status line, headers, body), masked; present when --http. */
  response?: string;
}

/** A check that held (or failed), for the diagram's notes: "state matched", "signature valid", "ID token verified". */
export interface CheckNote {
  step: number;
  text: string;
  ok: boolean;
}

/** The attacker's move in an exercise (issue 20). */
export interface AttackRecord {
  exercise: string;
  step: number;
  /** Who, what they hold, the request (masked). */
  attacker: Record<string, unknown>;
  /** What came back. */
  answer: Record<string, unknown>;
  /** Which defence held, where in the code. */
  defence: string;
  held: boolean;
  /** Whom the attacker's request went to; the org when left out. (An addition to INTERFACES.md, optional.) */
  to?: Party;
}

/** One event of a run: an exchange, a check or an attacker's move. */
export type RunEvent =
  | { kind: "exchange"; exchange: Exchange }
  | { kind: "check"; check: CheckNote }
  | { kind: "attack"; attack: AttackRecord };

/** Everything a report needs, in the order things happened. */
export interface RunRecord {
  startedAt: Date;
  /** The org's origin. */
  instanceUrl: string;
  showSecrets: boolean;
  /** --http given: include request/response text. */
  http: boolean;
  /** Data as printed (masked). */
  steps: {
    step: number;
    title: string;
    why: string;
    data: Record<string, unknown>;
  }[];
  /** Everything in order of occurrence; exchanges, checks and attacks interleaved. */
  events: RunEvent[];
  outcome:
    | { kind: "completed" }
    | {
      kind: "failed";
      step: number | null;
      error: string;
      error_description: string;
    }
    | { kind: "interrupted"; step: number | null };
}

// ---------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------

/** The legend under the diagram's heading: how to tell the channels apart. */
const LEGEND =
  "Each arrow is one HTTP request and its answer, in the order they happened. " +
  "**Solid arrows** are the front channel: the browser, at the org and at the callback. " +
  "**Dotted arrows on a shaded band** are the back channel: the script straight to the org, no browser in between. " +
  "A cross at the end means no answer came. Notes are the checks the script made: ✓ held, ✗ failed.";

/** Renders the Markdown page of one run. */
export function renderReport(record: RunRecord): string {
  return [
    `# ${title(record)}`,
    secretsLine(record.showSecrets),
    "## The run as a sequence diagram",
    LEGEND,
    fenced("mermaid", sequenceDiagram(record)),
    "## Step by step",
    ...stepSections(record),
    ...outcomeSection(record),
  ].join("\n\n") + "\n";
}

/** The page's title: the date, the org's host, and how the run ended. */
function title(record: RunRecord): string {
  return `OAuth run on ${inlineCode(orgHost(record.instanceUrl))}, ${
    date(record.startedAt)
  }: ${outcomeText(record.outcome)}`;
}

function date(startedAt: Date): string {
  const time = startedAt instanceof Date ? startedAt.getTime() : NaN;
  if (Number.isNaN(time)) return "date unknown";
  return new Date(time).toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

/** The org's host (with its port), or the start of whatever was recorded when it is no URL. */
function orgHost(instanceUrl: string): string {
  try {
    return new URL(instanceUrl).host || truncate(String(instanceUrl), 80);
  } catch {
    return truncate(String(instanceUrl), 80);
  }
}

/** How the run ended, in a few words: "completed", "failed at step 7", "interrupted at step 5". */
function outcomeWords(outcome: RunRecord["outcome"]): string {
  if (outcome.kind === "completed") return "completed";
  const where = Number.isInteger(outcome.step)
    ? `at step ${outcome.step}`
    : "before step 1";
  return `${outcome.kind} ${where}`;
}

function outcomeText(outcome: RunRecord["outcome"]): string {
  return outcome.kind === "failed"
    ? `${outcomeWords(outcome)} (${inlineCode(outcome.error)})`
    : outcomeWords(outcome);
}

function secretsLine(showSecrets: boolean): string {
  return showSecrets
    ? "> **⚠ Secrets are NOT masked** (`--show-secrets`): this file holds live tokens, the authorization code, " +
      "the code verifier and session cookies. Do not share it; delete it when done."
    : "> **Secrets are masked.** This file holds no full token, authorization code, code verifier, " +
      "client secret or session cookie (run with `--show-secrets` to see them).";
}

/** Each step: its title, its why, its data; with --http, its exchanges as raw HTTP. */
function stepSections(record: RunRecord): string[] {
  const exchanges = record.events.flatMap((event) =>
    event.kind === "exchange" ? [event.exchange] : []
  ).slice(0, MAX_SHOWN_EXCHANGES);
  const shown = new Set<number>();
  const sections = record.steps.flatMap(({ step, title, why, data }) => {
    const mine = shown.has(step)
      ? []
      : exchanges.filter((exchange) => exchange.step === step);
    shown.add(step);
    return [
      `### ${markdownText(`${step}. ${title}`)}`,
      markdownParagraph(why),
      fenced("json", safeJson(record.http ? withoutHttp(data) : data, 2)),
      ...(record.http ? mine.flatMap(httpBlocks) : []),
    ];
  });
  // Exchanges of a step that never printed (the one that failed, say).
  const unfinished = record.http
    ? exchanges.filter((exchange) => !shown.has(exchange.step))
    : [];
  for (const step of new Set(unfinished.map((exchange) => exchange.step))) {
    sections.push(
      `### ${markdownText(`Step ${step}, unfinished`)}`,
      ...unfinished.filter((exchange) => exchange.step === step).flatMap(
        httpBlocks,
      ),
    );
  }
  return sections;
}

/** A step's data less its `http` list (--http's view of the exchanges), which the page shows as HTTP blocks instead. */
function withoutHttp(data: Record<string, unknown>): Record<string, unknown> {
  const { http: _http, ...rest } = data;
  return rest;
}

/** One exchange as raw HTTP/1.1: a heading, the request, the response. */
function httpBlocks(exchange: Exchange): string[] {
  const channel = exchange.channel === "back"
    ? "Back channel"
    : "Front channel";
  const blocks = [
    `#### ${channel}: ${
      inlineCode(`${exchange.method} ${urlPath(exchange.url)}`)
    } → ${statusText(exchange.status)}`,
  ];
  for (const text of [exchange.request, exchange.response]) {
    if (typeof text === "string") blocks.push(fenced("http", rawHttp(text)));
  }
  return blocks;
}

/** How the run ended, in words, when it did not complete. */
function outcomeSection({ outcome }: RunRecord): string[] {
  switch (outcome.kind) {
    case "completed":
      return [];
    case "failed":
      return [
        `## The run ${outcomeWords(outcome)}`,
        `- error: ${inlineCode(outcome.error)}\n- error_description: ${
          inlineCode(outcome.error_description)
        }`,
      ];
    case "interrupted":
      return [
        `## The run was ${outcomeWords(outcome)}`,
        "It was stopped (Ctrl+C, SIGTERM, or q at a --pause prompt); the diagram above ends where it stopped.",
      ];
  }
}

// ---------------------------------------------------------------------------
// The diagram
// ---------------------------------------------------------------------------

/** The diagram's participants, by party, in the order they stand from left to right. */
const PARTICIPANTS: Record<Party, string> = {
  attacker: "Attacker",
  browser: "Browser",
  callback: "Callback",
  script: "Script",
  org: "Org",
};

/** Limits that keep a hostile record from making the diagram too big to draw (Mermaid refuses over 50,000 characters). */
const DIAGRAM_BUDGET = 40_000;
/** The most exchanges shown as HTTP text under the steps (each request or response at most MAX_HTTP characters). */
const MAX_SHOWN_EXCHANGES = 100;
const MAX_HIGHLIGHTS = 5;
const MAX_VALUE = 96;
const MAX_TEXT = 160;
/** The back channel's band: grey at low opacity, readable in light and dark themes. */
const BACK_CHANNEL_BAND = "rect rgba(128, 128, 128, 0.12)";

/** The Mermaid `sequenceDiagram` of a run: participants, then one statement per event, then how it ended. */
export function sequenceDiagram(record: RunRecord): string {
  const hasAttacker = record.events.some((event) => event.kind === "attack");
  const lines = [
    "sequenceDiagram",
    ...(hasAttacker ? ["  participant Attacker"] : []),
    "  participant Browser",
    "  box transparent the script (main.ts)",
    "    participant Callback as Callback server",
    "    participant Script",
    "  end",
    `  participant Org as Org ${mermaidLabel(orgHost(record.instanceUrl))}`,
  ];
  let size = lines.join("\n").length;
  let inBand = false;
  let left = 0;
  for (const event of record.events) {
    const statements = eventStatements(event);
    // A check stays on the band it follows; an attack never is on it.
    const back: boolean = event.kind === "exchange"
      ? event.exchange.channel === "back"
      : event.kind === "check" && inBand;
    if (back !== inBand) statements.unshift(back ? BACK_CHANNEL_BAND : "end");
    const text = statements.map((line) => `  ${line}`).join("\n");
    if (left > 0 || size + text.length > DIAGRAM_BUDGET) {
      left++;
      continue;
    }
    lines.push(text);
    size += text.length + 1;
    inBand = back;
  }
  if (inBand) lines.push("  end");
  if (left > 0) {
    lines.push(
      `  Note over Browser,Org: ${
        mermaidLabel(`… ${left} more events not drawn (too many to draw)`)
      }`,
    );
  }
  lines.push(`  ${endNote(record.outcome)}`);
  return lines.join("\n");
}

/** The diagram statements for one event: an arrow, a note, or an attacker's move. */
function eventStatements(event: RunEvent): string[] {
  switch (event.kind) {
    case "exchange":
      return [exchangeArrow(event.exchange)];
    case "check": {
      const { step, text, ok } = event.check;
      const over = step === 5 ? "Callback" : "Script";
      return [`Note over ${over}: ${ok ? "✓" : "✗"} ${mermaidLabel(text)}`];
    }
    case "attack": {
      const { exercise, step, defence, held, to } = event.attack;
      const target = participant(to ?? "org");
      return [
        `Attacker-x${target}: ${stepMark(step)} ${
          mermaidLabel(`attack: ${exercise}`)
        }`,
        `Note over Attacker,${target}: ${
          held ? "✓ defence held" : "✗ ATTACK SUCCEEDED"
        }<br/>${mermaidLabel(defence, MAX_TEXT)}`,
      ];
    }
  }
}

/** One exchange as one arrow: `->>` on the front channel, `-->>` on the back, a cross (`-x`) when no answer came. */
function exchangeArrow(exchange: Exchange): string {
  const dotted = exchange.channel === "back" ? "--" : "-";
  const head = exchange.status === 0 ? "x" : ">>";
  const label = [
    `${stepMark(exchange.step)} ${
      mermaidLabel(`${exchange.method} ${urlPath(exchange.url)}`, 80)
    } → ${statusText(exchange.status)}`,
    ...Object.entries(exchange.highlights ?? {}).slice(0, MAX_HIGHLIGHTS).map((
      [key, value],
    ) => mermaidLabel(`${truncate(key, 32)}=${truncate(String(value))}`, 100)),
  ].join("<br/>");
  return `${participant(exchange.from)}${dotted}${head}${
    participant(exchange.to)
  }: ${label}`;
}

/** The last statement: where the run ended, and why when it failed. */
function endNote(outcome: RunRecord["outcome"]): string {
  switch (outcome.kind) {
    case "completed":
      return "Note over Browser,Org: ✓ completed";
    case "failed":
      return `Note over Browser,Org: ✗ ${
        mermaidLabel(outcomeWords(outcome))
      }<br/>${
        mermaidLabel(`${outcome.error}: ${outcome.error_description}`, MAX_TEXT)
      }`;
    case "interrupted":
      return `Note over Browser,Org: ⏹ ${mermaidLabel(outcomeWords(outcome))}`;
  }
}

function participant(party: Party): string {
  return Object.hasOwn(PARTICIPANTS, party) ? PARTICIPANTS[party] : "Script";
}

function stepMark(step: number): string {
  return Number.isInteger(step) ? `${step} ·` : "·";
}

function statusText(status: number): string {
  return status === 0 ? "no answer" : String(status);
}

/** A URL's path, without its query (the values that matter are the highlights); the text's start when it is no URL. */
function urlPath(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return truncate(String(url), MAX_VALUE);
  }
}

// ---------------------------------------------------------------------------
// Escaping: no value from outside breaks or injects into the page
// ---------------------------------------------------------------------------

/*
 * In a Mermaid sequence diagram a label runs to the end of its line, but
 * `;` also ends it and `#` starts a comment; `<br>` breaks the line; `$$…$$`
 * is KaTeX; `%%{…}%%` anywhere is a directive that changes the
 * configuration; a `:` ends a participant's alias, a leading `wrap:` is
 * eaten, and a line with `style…:…#…;` loses its last `;`; and Mermaid's own
 * entity syntax (`#35;` for `#`) is decoded through private markers
 * (`ﬂ°°35¶ß`) that a value could forge. So each of those characters is
 * written as an entity (`#35;`), which Mermaid draws as the character
 * itself; backticks and double quotes too, though Mermaid 12 reads them as
 * text, as it does `&`, `,`, `@` and `'`. Control, bidi and separator
 * characters are shown as `\u000a`, as in the terminal; long values are cut
 * with `…` before escaping, so no entity is cut in half. report_test.ts
 * draws hostile values with Mermaid, in strict and loose mode.
 */

/** The characters a label never holds as they are. */
const MERMAID_SPECIAL = /[#;:<>%${}`"\ufb02\u00b6]/g;
const MERMAID_ENTITIES: Record<string, string> = { "<": "#lt;", ">": "#gt;" };

/** Text made safe as one Mermaid label: escaped, on one line, at most `max` characters shown. */
export function mermaidLabel(text: string, max = MAX_TEXT): string {
  return terminalSafe(truncate(String(text), max)).replace(
    MERMAID_SPECIAL,
    (char) => MERMAID_ENTITIES[char] ?? `#${char.codePointAt(0)};`,
  );
}

/** The first `max` characters (code points), with `…` when cut. */
export function truncate(text: string, max = MAX_VALUE): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : chars.slice(0, max - 1).join("") + "…";
}

/** Markdown's inline punctuation, escaped with a backslash where it appears in prose. */
const MARKDOWN_SPECIAL = /[\\`*_[\]<>&~|#]/g;

/** Prose made safe as Markdown text on one line: no markup, no HTML, no entities. */
export function markdownText(text: string): string {
  return terminalSafe(String(text)).replace(
    MARKDOWN_SPECIAL,
    (char) => `\\${char}`,
  );
}

/** Prose made safe as one Markdown paragraph: nor can its start make it a list, a quote, a rule or code. */
export function markdownParagraph(text: string): string {
  return markdownText(String(text).trimStart())
    .replace(/^[+\-=]/, "\\$&")
    .replace(/^(\d+)([.)])/, "$1\\$2");
}

/** A value in prose, as a code span: its backticks cannot end it, and it stays on one line. */
export function inlineCode(text: string): string {
  const value = terminalSafe(String(text));
  if (value === "") return "(empty)";
  const ticks = "`".repeat(longestRun(value, "`") + 1);
  const pad = /^[` ]|[` ]$/.test(value) ? " " : "";
  return `${ticks}${pad}${value}${pad}${ticks}`;
}

/** A fenced code block whose fence is longer than any run of backticks inside. */
export function fenced(language: string, content: string): string {
  const fence = "`".repeat(Math.max(3, longestRun(content, "`") + 1));
  return `${fence}${language}\n${content.replace(/\n$/, "")}\n${fence}`;
}

function longestRun(text: string, char: string): number {
  let longest = 0;
  let run = 0;
  for (const c of text) {
    run = c === char ? run + 1 : 0;
    longest = Math.max(longest, run);
  }
  return longest;
}

/** The most of one request or response the page holds. */
const MAX_HTTP = 8_000;

/** Raw HTTP text for a fenced block: lines as LF, control characters shown as escapes, bounded. */
function rawHttp(text: string): string {
  const cut = text.length > MAX_HTTP
    ? `${text.slice(0, MAX_HTTP)}\n… (${
      text.length - MAX_HTTP
    } more characters left out)`
    : text;
  return cut.split(/\r?\n/).map(terminalSafe).join("\n");
}
