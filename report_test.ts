/**
 * The report of a run (`report.ts`): its Markdown read back with a real
 * Markdown parser (marked, the one Mermaid itself uses), and its diagram
 * parsed and drawn by the real Mermaid library in headless Chromium, with
 * hostile values in every field that can come from outside. Then
 * `main.ts --report` end to end: what it refuses before it starts, the page
 * of a completed, failed and interrupted run, the leak scan, the diagram of
 * a real run drawn, and docs/example-report.md checked against today's.
 *
 * Mermaid is pinned here and nowhere else: the script writes text and never
 * loads it. Its browser bundle is served from a local `Deno.serve` on
 * loopback to a page in Chromium (Debian's `chromium` package, driven by
 * playwright-core as in browser_test.ts). Without Chromium the drawing tests
 * are skipped and say how to install it. Set SCREENSHOT_DIR to keep the
 * screenshots they take.
 */

// Brings the pinned Mermaid into Deno's npm cache; its browser bundle is then a file on disk.
// deno-lint-ignore no-import-prefix -- test-only, pinned here so that nothing the demo runs can name it
import "npm:mermaid@12.3.0/package.json" with { type: "json" };
// deno-lint-ignore no-import-prefix -- marked is Mermaid's own Markdown parser, already in the cache with it
import { marked, type Token } from "npm:marked@16.4.2";
import {
  assert,
  assertEquals,
  assertFalse,
  assertMatch,
  assertStringIncludes,
} from "./_test_deps.ts";
import type { Browser, Page } from "./_test_deps.ts";
import {
  assertNoLeak,
  childEnv,
  chromiumFor,
  type Finished,
  keepScreenshot,
  launchChromium,
  MAIN,
  orgArgs,
  RAW_TOKEN,
  run,
  runApproved,
  spawn,
  UNREACHED_ORG,
  withDemoOrg,
  withTempDir,
} from "./_test_utils.ts";
import { playDemoUser } from "./demo_org.ts";
import {
  type Exchange,
  fenced,
  inlineCode,
  markdownParagraph,
  markdownText,
  mermaidLabel,
  renderReport,
  type RunEvent,
  type RunRecord,
  sequenceDiagram,
  truncate,
} from "./report.ts";

// ---------------------------------------------------------------------------
// Records to render: a demo run, and one where every outside value is hostile
// ---------------------------------------------------------------------------

const ORG = "http://127.0.0.1:53211";
const CALLBACK = "http://localhost:8000/callback";
const ID_URL = `${ORG}/id/00D5g000004DEMOEA4/0055g00000DEMOUAA5`;

function exchange(
  fields: Partial<Exchange> & Pick<Exchange, "step" | "method" | "url">,
): RunEvent {
  return {
    kind: "exchange",
    exchange: {
      channel: "back",
      from: "script",
      to: "org",
      status: 200,
      ...fields,
    },
  };
}

function check(step: number, text: string, ok = true): RunEvent {
  return { kind: "check", check: { step, text, ok } };
}

/** What a demo run with --refresh --revoke records, shortened (as main.ts would fill it in, masked). */
function demoRecord(overrides: Partial<RunRecord> = {}): RunRecord {
  const front = { channel: "front", from: "browser" } as const;
  return {
    startedAt: new Date("2026-12-01T08:26:31.512Z"),
    instanceUrl: ORG,
    showSecrets: false,
    http: false,
    steps: [
      {
        step: 1,
        title: "OAuth Flow Started",
        why:
          "First the settings: which org, which app (its consumer key), and where the org should send the browser back.",
        data: { instance: ORG, client_secret: "********" },
      },
      {
        step: 5,
        title: "Authorization Code Received",
        why:
          "Now the browser: you sign in at the org and click Allow, and the org sends the browser back to the callback with a one-time code and our state.",
        data: { authorization_code: "aPrxCn…bwU=", state_verified: true },
      },
      {
        step: 7,
        title: "Token Response Received",
        why:
          "The org answers with the tokens, and the script checks the signature over the identity URL with the client secret.",
        data: { status: 200, body: { access_token: "00D5g0…1Xun" } },
      },
    ],
    events: [
      exchange({
        step: 4,
        method: "GET",
        url: `${ORG}/services/oauth2/authorize?client_id=3MVG9&state=d2cz`,
        highlights: { check: "looks fine" },
      }),
      exchange({
        ...front,
        step: 5,
        method: "GET",
        url: `${ORG}/services/oauth2/authorize?client_id=3MVG9`,
        highlights: {
          code_challenge: "RIp4kPVtUtFWwcN5W_mYGJd2_99lw7cXE6_CD9GQIgo",
          state: "d2czUEPOjgkgGKexpOesm1lK-Ujpyh-Xb5AgsvSRuoc",
        },
      }),
      exchange({
        ...front,
        step: 5,
        method: "POST",
        url: `${ORG}/services/oauth2/authorize`,
        status: 302,
        highlights: {
          location: `${CALLBACK}?code=aPrxCn…bwU=&state=d2czUEPOjgkg`,
        },
      }),
      exchange({
        ...front,
        to: "callback",
        step: 5,
        method: "GET",
        url: `${CALLBACK}?code=aPrxCn…bwU=&state=d2czUEPOjgkg`,
        highlights: { code: "aPrxCn…bwU=" },
      }),
      check(5, "state matched"),
      exchange({
        step: 7,
        method: "POST",
        url: `${ORG}/services/oauth2/token`,
        highlights: {
          grant_type: "authorization_code",
          code: "aPrxCn…bwU=",
          code_verifier: "7pwA2N…OmUM",
        },
        request:
          "POST /services/oauth2/token HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\ngrant_type=authorization_code&code=aPrxCn%E2%80%A6bwU%3D",
        response:
          'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{"access_token":"00D5g0…1Xun"}',
      }),
      check(7, "signature valid"),
      exchange({ step: 7, method: "GET", url: `${ORG}/id/keys` }),
      check(7, "ID token verified"),
      exchange({
        step: 9,
        method: "GET",
        url: ID_URL,
        highlights: { authorization: "Bearer 00D5g0…1Xun" },
      }),
      exchange({
        step: 11,
        method: "POST",
        url: `${ORG}/services/oauth2/revoke`,
      }),
      exchange({
        step: 11,
        method: "GET",
        url: ID_URL,
        status: 403,
        highlights: { error: "Bad_OAuth_Token" },
      }),
    ],
    outcome: { kind: "completed" },
    ...overrides,
  };
}

/** Values a hostile org, callback or pasted line could send, each aimed at the diagram or the Markdown. */
const HOSTILE = {
  statement: "x; participant Evil; Browser->>Evil: injected",
  comment: "kept # and the rest would be a comment",
  arrows: "a --> b ->> c -x d --)",
  entity: "#35;#lt;script#gt;window.pwned=1#lt;/script#gt;",
  markers:
    "\ufb02\u00b0\u00b060\u00b6\u00dfscript\ufb02\u00b0\u00b062\u00b6\u00df",
  html: "<img src=x onerror=window.pwned=1><b>bold</b>",
  script: "<script>window.pwned=1</script>",
  directive: '%%{init: {"theme":"forest","themeCSS":"*{display:none}"}}%%',
  katex: "$$\\href{javascript:window.pwned=1}{x}$$",
  quotes: `"double" 'single' \`back\` \\slash`,
  wrap: "wrap:eaten?",
  style: "style:#ff0000;",
  newline: "line one\nNote over Browser: line two\r\u2028",
  controls: "\u001b[31mred\u001b]52;c;aGk=\u0007\u202eevil",
  long: "L".repeat(5000),
  fence: "```\n# heading\n~~~",
  br: "one<br>two<br/>three",
  ampersand: "&amp; &lt;b&gt; &#60;",
};

/** How each hostile value should read in the diagram: as it is, but for controls shown as escapes and long values cut. */
function shownAs(value: string, max: number): string {
  const escaped = value.replace(
    // deno-lint-ignore no-control-regex -- the controls are what it finds
    /[\u0000-\u001f\u2028\u202e]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  return value.length < max ? escaped : `${value.slice(0, max - 1)}…`;
}

/** The org's name, with every character that ends a participant's alias. */
const HOSTILE_ORG =
  "x, y@z; participant Evil: #35; %%{init: {}}%% <br> -->> Org";

/** One of each hostile value in every field an outside party can fill. */
function hostileRecord(): RunRecord {
  const values = Object.values(HOSTILE);
  const highlights = Object.fromEntries(
    values.map((value, i) => [`k${i}`, value]),
  );
  return demoRecord({
    instanceUrl: HOSTILE_ORG,
    http: true,
    steps: [{
      step: 1,
      title: `${HOSTILE.html} ${HOSTILE.fence}`,
      why: `# not a heading ${HOSTILE.fence} ${HOSTILE.script}`,
      data: { value: HOSTILE.fence, ...HOSTILE },
    }],
    events: [
      // Five highlights each are shown, so the values are spread over several exchanges.
      ...[0, 5, 10, 15].map((start) =>
        exchange({
          channel: "front",
          from: "browser",
          to: "callback",
          step: 1,
          method: HOSTILE.statement,
          url: `${CALLBACK}/${HOSTILE.script}?state=${HOSTILE.directive}`,
          highlights: Object.fromEntries(
            Object.entries(highlights).slice(start, start + 5),
          ),
          request: `GET / HTTP/1.1\r\n${HOSTILE.fence}\r\n${HOSTILE.controls}`,
          response: `HTTP/1.1 200 OK\r\n\r\n${"`".repeat(12)}`,
        })
      ),
      ...values.map((value) => check(1, value, false)),
      exchange({ step: 1, method: "GET", url: HOSTILE.statement, status: 0 }),
      {
        kind: "attack",
        attack: {
          exercise: HOSTILE.statement,
          step: 1,
          attacker: { who: HOSTILE.html },
          answer: {},
          defence: HOSTILE.directive,
          held: true,
          to: "callback",
        },
      },
    ],
    outcome: {
      kind: "failed",
      step: 1,
      error: `${HOSTILE.fence}${HOSTILE.script}`,
      error_description: `${HOSTILE.statement} ${HOSTILE.newline}`,
    },
  });
}

// ---------------------------------------------------------------------------
// The Markdown, read back by a Markdown parser
// ---------------------------------------------------------------------------

/** Every token of a Markdown text, nested ones too. */
function allTokens(markdown: string): Token[] {
  const found: Token[] = [];
  marked.walkTokens(marked.lexer(markdown), (token) => void found.push(token));
  return found;
}

function headings(markdown: string): string[] {
  return marked.lexer(markdown).flatMap((token) =>
    token.type === "heading" ? [`${"#".repeat(token.depth)} ${token.text}`] : []
  );
}

function codeBlocks(markdown: string): { lang: string; text: string }[] {
  return marked.lexer(markdown).flatMap((token) =>
    token.type === "code" ? [{ lang: token.lang ?? "", text: token.text }] : []
  );
}

function mermaidBlock(markdown: string): string {
  const blocks = codeBlocks(markdown).filter(({ lang }) => lang === "mermaid");
  assertEquals(blocks.length, 1);
  return blocks[0].text;
}

Deno.test("mermaidLabel() writes each character that means something to Mermaid as an entity", () => {
  const cases: [string, string][] = [
    ["GET /services/oauth2/token", "GET /services/oauth2/token"],
    ["a;b", "a#59;b"],
    ["a#b", "a#35;b"],
    ["#35;", "#35;35#59;"],
    ["<br>", "#lt;br#gt;"],
    ["%%{init}%%", "#37;#37;#123;init#125;#37;#37;"],
    ["$$x$$", "#36;#36;x#36;#36;"],
    ["wrap:x", "wrap#58;x"],
    ["a, b@c", "a, b@c"],
    ["\"'`\\", "#34;'#96;\\"],
    ["a&amp;b", "a&amp#59;b"],
    ["\ufb02\u00b0\u00b060\u00b6\u00df", "#64258;\u00b0\u00b060#182;\u00df"],
    ["one\ntwo\r", "one\\u000atwo\\u000d"],
    ["\u001b[31m\u202e", "\\u001b[31m\\u202e"],
    ["a --> b ->> c", "a --#gt; b -#gt;#gt; c"],
  ];
  for (const [input, expected] of cases) {
    assertEquals(mermaidLabel(input), expected, JSON.stringify(input));
  }
});

Deno.test("mermaidLabel() cuts long values before escaping, so no entity is cut in half", () => {
  assertEquals(mermaidLabel("x".repeat(200), 10), "xxxxxxxxx…");
  assertEquals(mermaidLabel("x".repeat(200)).length, 160);
  assertEquals(mermaidLabel(";".repeat(200), 4), "#59;#59;#59;…");
  assertEquals(truncate("😀".repeat(5), 3), "😀😀…"); // code points, not UTF-16 halves
  assertEquals(truncate("short"), "short");
});

Deno.test("fenced() uses a fence longer than any run of backticks inside", () => {
  for (const inside of ["plain", "```", "a ```` b", "`\n```\n`````"]) {
    const markdown = `${fenced("json", inside)}\n\nafter`;
    assertEquals(codeBlocks(markdown), [{ lang: "json", text: inside }]);
    assertEquals(marked.lexer(markdown).at(-1)?.raw, "after");
  }
});

Deno.test("inlineCode() keeps a value in one code span, whatever it holds", () => {
  for (
    const value of ["invalid_grant", "`", "a `` b", " lead", "<b>x</b>", "*x*"]
  ) {
    const spans = allTokens(`x ${inlineCode(value)} y`).flatMap((token) =>
      token.type === "codespan" ? [token.text] : []
    );
    assertEquals(spans, [value]);
  }
  assertEquals(inlineCode("two\nlines"), "`two\\u000alines`");
  assertEquals(inlineCode(""), "(empty)");
});

Deno.test("markdownText() and markdownParagraph() leave no markup, HTML or block start", () => {
  for (
    const text of [
      "*x* _y_ [a](b) <b>c</b> &amp; `d` ~e~ |f|",
      "# h",
      "- li",
      "1. li",
      "> q",
      "    code",
      "---",
    ]
  ) {
    const tokens = allTokens(markdownParagraph(text));
    assertEquals(tokens[0].type, "paragraph", text);
    assertEquals(
      tokens.filter((token) =>
        !["paragraph", "text", "escape"].includes(token.type)
      ),
      [],
      text,
    );
    assertEquals(
      allTokens(`## ${markdownText(text)}`)[0].type,
      "heading",
      text,
    );
  }
});

Deno.test("renderReport() titles the page with the date, the host and the outcome, and says secrets are masked", () => {
  const page = renderReport(demoRecord());
  assertEquals(
    page.split("\n")[0],
    "# OAuth run on `127.0.0.1:53211`, 2026-12-01 08:26 UTC: completed",
  );
  assertStringIncludes(page.split("\n\n")[1], "Secrets are masked");
  const shown = renderReport(demoRecord({ showSecrets: true }));
  assertStringIncludes(shown.split("\n\n")[1], "Secrets are NOT masked");
  const failed = renderReport(demoRecord({
    outcome: {
      kind: "failed",
      step: 7,
      error: "invalid_grant",
      error_description: "expired authorization code",
    },
  }));
  assertStringIncludes(
    failed.split("\n")[0],
    ": failed at step 7 (`invalid_grant`)",
  );
  const interrupted = renderReport(demoRecord({
    outcome: { kind: "interrupted", step: 5 },
  }));
  assertStringIncludes(interrupted.split("\n")[0], ": interrupted at step 5");
});

Deno.test("renderReport() has the diagram, then each step with its why and its data as JSON", () => {
  const page = renderReport(demoRecord());
  assertEquals(headings(page), [
    "# OAuth run on `127.0.0.1:53211`, 2026-12-01 08:26 UTC: completed",
    "## The run as a sequence diagram",
    "## Step by step",
    "### 1. OAuth Flow Started",
    "### 5. Authorization Code Received",
    "### 7. Token Response Received",
  ]);
  const blocks = codeBlocks(page);
  assertEquals(blocks.map(({ lang }) => lang), [
    "mermaid",
    "json",
    "json",
    "json",
  ]);
  assertEquals(JSON.parse(blocks[2].text), {
    authorization_code: "aPrxCn…bwU=",
    state_verified: true,
  });
  assertStringIncludes(page, "\n\nNow the browser: you sign in at the org");
});

Deno.test("renderReport() with --http shows each exchange's request and response under its step", () => {
  const page = renderReport(demoRecord({ http: true }));
  assertEquals(
    headings(page).filter((heading) => heading.startsWith("#### ")),
    [
      "#### Front channel: `GET /services/oauth2/authorize` → 200",
      "#### Front channel: `POST /services/oauth2/authorize` → 302",
      "#### Front channel: `GET /callback` → 200",
      "#### Back channel: `POST /services/oauth2/token` → 200",
      "#### Back channel: `GET /id/keys` → 200",
      "### Step 4, unfinished",
      "#### Back channel: `GET /services/oauth2/authorize` → 200",
      "### Step 9, unfinished",
      "#### Back channel: `GET /id/00D5g000004DEMOEA4/0055g00000DEMOUAA5` → 200",
      "### Step 11, unfinished",
      "#### Back channel: `POST /services/oauth2/revoke` → 200",
      "#### Back channel: `GET /id/00D5g000004DEMOEA4/0055g00000DEMOUAA5` → 403",
    ].filter((heading) => heading.startsWith("#### ")),
  );
  const http = codeBlocks(page).filter(({ lang }) => lang === "http");
  assertEquals(http.map(({ text }) => text.split("\n")[0]), [
    "POST /services/oauth2/token HTTP/1.1",
    "HTTP/1.1 200 OK",
  ]);
  assertFalse(http[0].text.includes("\r"));
  // --http's own list in the step's data is not repeated as JSON.
  const withList = demoRecord({ http: true });
  withList.steps[2].data.http = [{
    channel: "back",
    request: "POST /services/oauth2/token HTTP/1.1",
  }];
  assertEquals(
    JSON.parse(codeBlocks(renderReport(withList))[3].text),
    { status: 200, body: { access_token: "00D5g0…1Xun" } },
  );
  assertEquals(
    codeBlocks(renderReport(demoRecord())).some(({ lang }) => lang === "http"),
    false,
  );
});

Deno.test("renderReport() ends a failed run's diagram at the failure, with the error", () => {
  const record = demoRecord();
  const page = renderReport({
    ...record,
    events: record.events.slice(0, 6),
    outcome: {
      kind: "failed",
      step: 7,
      error: "invalid_grant",
      error_description: "invalid authorization code",
    },
  });
  const diagram = mermaidBlock(page).split("\n");
  assertEquals(
    diagram.at(-1),
    "  Note over Browser,Org: ✗ failed at step 7<br/>invalid_grant#58; invalid authorization code",
  );
  assertMatch(diagram.at(-2)!, /^ {2}end$/); // the band of the token request, closed
  assertEquals(headings(page).at(-1), "## The run failed at step 7");
  assertStringIncludes(
    page,
    "- error: `invalid_grant`\n- error_description: `invalid authorization code`",
  );
});

Deno.test("renderReport() draws the attacker only when an attack happened", () => {
  assertFalse(sequenceDiagram(demoRecord()).includes("Attacker"));
  const attacked = demoRecord();
  attacked.events.push({
    kind: "attack",
    attack: {
      exercise: "stolen-code",
      step: 7,
      attacker: {},
      answer: { status: 400 },
      defence: "the org checked the code_verifier",
      held: true,
    },
  });
  const diagram = sequenceDiagram(attacked).split("\n");
  assertEquals(diagram[1], "  participant Attacker");
  assertStringIncludes(
    diagram.join("\n"),
    "  Attacker-xOrg: 7 · attack#58; stolen-code\n",
  );
});

Deno.test("renderReport() with hostile values: the Markdown holds no HTML, no extra heading, no broken block", () => {
  const page = renderReport(hostileRecord());
  const tokens = allTokens(page);
  assertEquals(tokens.filter((token) => token.type === "html"), []);
  assertEquals(tokens.filter((token) => token.type === "link"), []);
  assertEquals(headings(page).map((heading) => heading.split(" ")[0]), [
    "#",
    "##",
    "##",
    "###",
    "####",
    "####",
    "####",
    "####",
    "####",
    "##",
  ]);
  assertEquals(codeBlocks(page).map(({ lang }) => lang), [
    "mermaid",
    "json",
    ...Array(8).fill("http"),
  ]);
  const data = JSON.parse(codeBlocks(page)[1].text);
  assertEquals(data.fence, HOSTILE.fence); // the whole value, inside its block
  for (const { text } of codeBlocks(page)) {
    // Controls shown as \u escapes, as in the terminal.
    // deno-lint-ignore no-control-regex -- the controls are what it looks for
    assertFalse(/[\u0000-\u0009\u000b-\u001f\u202e\u2028]/.test(text), text);
  }
  const lines = mermaidBlock(page).split("\n");
  assertEquals(
    lines.filter((line) => !/^(sequenceDiagram| {2}.*)$/.test(line)),
    [],
  );
  // Past the arrow or the note's participants, none of Mermaid's special characters but in entities and our own line breaks.
  const labels = lines.flatMap((line) => {
    const label = /^ +[\w ,>x-]+: (.*)$/.exec(line)?.[1];
    return label === undefined ? [] : [label.replaceAll(/#\w+;|<br\/>/g, "")];
  });
  assertEquals(labels.length, 26);
  const alias = lines.find((line) => line.startsWith("  participant Org as "))!;
  assertFalse(/[#;:<>%$`]/.test(alias.replaceAll(/#\w+;/g, "")), alias);
  assertEquals(labels.filter((label) => /[#;:<>%$`]/.test(label)), []);
});

Deno.test("renderReport() keeps a huge record small enough for Mermaid to draw", () => {
  const huge = demoRecord();
  const big = Object.fromEntries(
    [...Array(50).keys()].map((i) => [`k${i}`, ";".repeat(10_000)]),
  );
  huge.events = [...Array(2_000).keys()].map((i) =>
    exchange({
      step: 7,
      method: "GET",
      url: `${ORG}/${";".repeat(10_000)}${i}`,
      highlights: big,
    })
  );
  const diagram = sequenceDiagram(huge);
  assert(diagram.length < 45_000, `${diagram.length} characters`);
  assertMatch(diagram, /Note over Browser,Org: … \d+ more events not drawn/);
});

// ---------------------------------------------------------------------------
// The diagram, drawn by Mermaid in headless Chromium
// ---------------------------------------------------------------------------

const hasChromium = chromiumFor("report_test.ts");

/** Mermaid's browser bundle, a file in Deno's npm cache once the import above has brought the package in. */
const MERMAID_JS = import.meta.resolve(
  "npm:mermaid@12.3.0/dist/mermaid.min.js",
);

/** The page: Mermaid, and a function that draws a diagram and reports what it drew. */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>report diagram</title>
<body style="margin: 0; background: white">
<div id="out"></div>
<script src="/mermaid.min.js"></script>
<script>
let count = 0;
window.drawDiagram = async (text, securityLevel) => {
  mermaid.initialize({ startOnLoad: false, securityLevel });
  const out = document.getElementById("out");
  out.innerHTML = "";
  try {
    await mermaid.parse(text);
    const { db } = await mermaid.mermaidAPI.getDiagramFromText(text);
    const { svg, bindFunctions } = await mermaid.render("diagram" + ++count, text);
    out.innerHTML = svg;
    bindFunctions?.(out);
    const all = [...out.querySelectorAll("*")];
    return {
      svg: out.querySelectorAll("svg").length,
      actors: [...db.getActors().values()].map((actor) => actor.name),
      descriptions: [...new Set([...out.querySelectorAll("text.actor")].map((text) => text.textContent))],
      messages: db.getMessages().map(({ from, to, type }) => ({ from, to, type })),
      lines: [...out.querySelectorAll("[class^=messageLine]")].map((line) => line.getAttribute("class")),
      labels: [...out.querySelectorAll(".messageText")].map((text) => text.textContent),
      notes: [...out.querySelectorAll(".note")].map((note) =>
        [...note.parentNode.querySelectorAll(".noteText")].map((text) => text.textContent).join("\\n")
      ),
      injected: all.flatMap((element) => [
        ...(/^(script|iframe|img|object|embed|foreignObject|a)$/i.test(element.localName) ? [element.localName] : []),
        ...[...element.attributes].filter((attr) => /^on/i.test(attr.name) || /javascript:/i.test(attr.value)).map((attr) => attr.name),
      ]),
      pwned: window.pwned ?? null,
    };
  } catch (error) {
    return { error: String(error?.message ?? error) };
  }
};
</script>`;

interface Drawn {
  error?: string;
  svg: number;
  actors: string[];
  descriptions: string[];
  messages: { from: string; to: string; type: number }[];
  lines: string[];
  labels: string[];
  notes: string[];
  injected: string[];
  pwned: unknown;
}

/** Mermaid's line types (sequenceDb's LINETYPE). */
const SOLID = 0, DOTTED = 1, NOTE = 2, SOLID_CROSS = 3, DOTTED_CROSS = 4;

/** The arrows Mermaid drew, as `from op to` (notes left out). */
function drawnArrows(drawn: Drawn): string[] {
  return drawn.messages.filter(({ type }) => type !== NOTE && type < 10).map((
    { from, to, type },
  ) => `${from} ${({ [SOLID]: "->>", [DOTTED]: "-->>" })[type] ?? type} ${to}`);
}

type Draw = (
  text: string,
  options?: { securityLevel?: "strict" | "loose"; screenshot?: string },
) => Promise<Drawn>;

/** A page in headless Chromium with Mermaid loaded from loopback; `draw` renders a diagram there. */
async function withMermaid(fn: (draw: Draw) => Promise<void>) {
  if (!MERMAID_JS.startsWith("file:")) {
    throw new Error(
      `Cannot find Mermaid's browser bundle: resolved to "${MERMAID_JS}"`,
    );
  }
  const bundle = await Deno.readFile(new URL(MERMAID_JS));
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) =>
      new URL(request.url).pathname === "/mermaid.min.js"
        ? new Response(bundle, {
          headers: { "content-type": "text/javascript" },
        })
        : new Response(PAGE, {
          headers: { "content-type": "text/html; charset=utf-8" },
        }),
  );
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const page: Page = await browser.newPage({
      viewport: { width: 1400, height: 900 },
    });
    await page.goto(`http://127.0.0.1:${server.addr.port}/`);
    await fn(async (text, { securityLevel = "strict", screenshot } = {}) => {
      const drawn = await page.evaluate(
        ([text, level]) =>
          (globalThis as unknown as {
            drawDiagram(text: string, level: string): Promise<Drawn>;
          }).drawDiagram(text, level),
        [text, securityLevel] as const,
      );
      if (screenshot && !drawn.error) {
        await keepScreenshot(
          screenshot,
          () => page.locator("#out svg").screenshot(),
        );
      }
      return drawn;
    });
  } finally {
    await browser?.close();
    await server.shutdown();
  }
}

const PARTICIPANTS = ["Browser", "Callback", "Script", "Org"];

Deno.test({
  name:
    "the diagram of a demo run parses and draws: one arrow per exchange, in order, each channel in its line",
  ignore: !hasChromium,
  async fn() {
    await withMermaid(async (draw) => {
      const drawn = await draw(mermaidBlock(renderReport(demoRecord())), {
        screenshot: "report-demo-run",
      });
      assertEquals(drawn.error, undefined);
      assertEquals(drawn.svg, 1);
      assertEquals(drawn.actors, PARTICIPANTS);
      assertEquals(
        drawnArrows(drawn),
        [
          "Script -->> Org",
          "Browser ->> Org",
          "Browser ->> Org",
          "Browser ->> Callback",
          "Script -->> Org",
          "Script -->> Org",
          "Script -->> Org",
          "Script -->> Org",
          "Script -->> Org",
        ],
      );
      assertEquals(drawn.lines.length, 9);
      assertEquals(
        drawn.lines.filter((line) => line === "messageLine0").length,
        3,
      );
      assertEquals(drawn.labels.slice(0, 4), [
        "4 · GET /services/oauth2/authorize → 200",
        "check=looks fine",
        "5 · GET /services/oauth2/authorize → 200",
        "code_challenge=RIp4kPVtUtFWwcN5W_mYGJd2_99lw7cXE6_CD9GQIgo",
      ]);
      assertStringIncludes(
        drawn.labels.join("\n"),
        "5 · POST /services/oauth2/authorize → 302\nlocation=http://localhost:8000/callback?code=aPrxCn…bwU=&state=d2czUEPOjgkg\n5 · GET /callback → 200\n",
      );
      assertEquals(drawn.notes, [
        "✓ state matched",
        "✓ signature valid",
        "✓ ID token verified",
        "✓ completed",
      ]);
      assertEquals(drawn.injected, []);
    });
  },
});

Deno.test({
  name:
    "the diagram of a failed run ends at the failure, and one with no answer ends its arrow in a cross",
  ignore: !hasChromium,
  async fn() {
    const record = demoRecord();
    record.events = record.events.slice(0, 5);
    record.events.push(
      exchange({
        step: 7,
        method: "POST",
        url: `${ORG}/services/oauth2/token`,
        status: 0,
      }),
    );
    record.outcome = {
      kind: "failed",
      step: 7,
      error: "network_error",
      error_description: "Cannot reach the token endpoint: connection refused",
    };
    await withMermaid(async (draw) => {
      const drawn = await draw(mermaidBlock(renderReport(record)), {
        screenshot: "report-failed-run",
      });
      assertEquals(drawn.error, undefined);
      assertEquals(drawn.messages.at(-1)?.type, NOTE);
      assertEquals(
        drawn.messages.filter(({ type }) => type === DOTTED_CROSS).length,
        1,
      );
      assertEquals(
        drawn.notes.at(-1),
        "✗ failed at step 7\nnetwork_error: Cannot reach the token endpoint: connection refused",
      );
    });
  },
});

Deno.test({
  name:
    "hostile values in a report appear as text in the diagram and inject nothing, in strict and loose mode",
  ignore: !hasChromium,
  async fn() {
    const record = hostileRecord();
    const diagram = mermaidBlock(renderReport(record));
    await withMermaid(async (draw) => {
      for (const securityLevel of ["strict", "loose"] as const) {
        const drawn = await draw(diagram, {
          securityLevel,
          screenshot: `report-hostile-${securityLevel}`,
        });
        assertEquals(drawn.error, undefined, securityLevel);
        assertEquals(drawn.svg, 1);
        assertEquals(drawn.actors, ["Attacker", ...PARTICIPANTS]);
        assertEquals(drawn.injected, []);
        assertEquals(drawn.pwned, null);
        // Four exchanges to the callback, one that got no answer, the attacker's move.
        assertEquals(
          drawn.messages.filter(({ type }) => type !== NOTE && type < 10).map((
            { type },
          ) => type),
          [
            SOLID,
            SOLID,
            SOLID,
            SOLID,
            DOTTED_CROSS,
            SOLID_CROSS,
          ],
        );
        // Each value on its own line of its arrow's label, and in its own note, whole.
        Object.values(HOSTILE).forEach((value, i) => {
          assertEquals(
            drawn.labels.filter((label) =>
              label === `k${i}=${shownAs(value, 96)}`
            ).length,
            4 === Math.floor(i / 5) ? 0 : 1, // five highlights an arrow, four arrows
            `${securityLevel}: k${i} ${value}`,
          );
          assertEquals(
            drawn.notes.filter((note) => note === `✗ ${shownAs(value, 160)}`)
              .length,
            1,
            `${securityLevel}: note ${value}`,
          );
        });
        assertEquals(drawn.descriptions.toSorted(), [
          "Attacker",
          "Browser",
          "Callback server",
          `Org ${HOSTILE_ORG}`,
          "Script",
        ]);
        assertEquals(drawn.notes.length, Object.keys(HOSTILE).length + 2);
        assertStringIncludes(drawn.notes.at(-1)!, "✗ failed at step 1\n```");
      }
    });
  },
});

/** Every Mermaid block the repository shows: the flow diagram, and those in its Markdown files. */
async function repositoryDiagrams(): Promise<[string, string][]> {
  const root = new URL("./", import.meta.url);
  const found: [string, string][] = [
    ["docs/flow.mmd", await Deno.readTextFile(new URL("docs/flow.mmd", root))],
  ];
  const files = ["README.md"];
  for await (const entry of Deno.readDir(new URL("docs/", root))) {
    if (entry.isFile && entry.name.endsWith(".md")) {
      files.push(`docs/${entry.name}`);
    }
  }
  for (const file of files.sort()) {
    const text = await Deno.readTextFile(new URL(file, root));
    codeBlocks(text).filter(({ lang }) => lang === "mermaid").forEach((
      { text },
      i,
    ) => found.push([`${file} #${i + 1}`, text]));
  }
  return found;
}

Deno.test({
  name:
    "the flow diagram and every Mermaid block in the repository's Markdown parse and draw",
  ignore: !hasChromium,
  async fn() {
    const diagrams = await repositoryDiagrams();
    await withMermaid(async (draw) => {
      for (const [where, text] of diagrams) {
        const drawn = await draw(text, {
          screenshot: where === "docs/flow.mmd" ? "flow" : undefined,
        });
        assertEquals(drawn.error, undefined, where);
        assertEquals(drawn.svg, 1, where);
      }
      // The README's picture of the flow is this file, once it has one.
      const readme = diagrams.find(([where]) => where === "README.md #1");
      if (readme) assertEquals(readme[1].trim(), diagrams[0][1].trim());
      const flow = await draw(diagrams[0][1]);
      assertEquals(flow.actors, PARTICIPANTS);
      const shown = [...flow.labels, ...flow.notes].join("\n");
      for (let step = 1; step <= 11; step++) {
        assertMatch(shown, new RegExp(`(^|\\n)${step} · `), `step ${step}`);
      }
    });
  },
});

// ---------------------------------------------------------------------------
// main.ts --report: the page of a real run
// ---------------------------------------------------------------------------

/** Runs `--demo --no-browser --json` with `args` and `--report run.md` in a temporary folder: the run, its page and the page's mode. */
async function demoReport(args: string[], options: { record?: boolean } = {}) {
  let written: { result: Finished; page: string; mode: number } | undefined;
  await withTempDir(async (cwd) => {
    const result = await run(
      ["--demo", "--no-browser", "--json", ...args, "--report", "run.md"],
      { cwd, ...options },
    );
    const path = `${cwd}/run.md`;
    written = {
      result,
      page: await Deno.readTextFile(path),
      mode: (await Deno.stat(path)).mode ?? 0,
    };
  });
  return written!;
}

/** The arrows of a page's diagram as `from op to`, read from its text. */
function arrowsOf(page: string): string[] {
  return mermaidBlock(page).split("\n").flatMap((line) => {
    const found = /^ {2}(\w+)(-->>|->>|--x|-x)(\w+): /.exec(line);
    return found ? [`${found[1]} ${found[2]} ${found[3]}`] : [];
  });
}

/** The notes of a page's diagram, in order. */
function notesOf(page: string): string[] {
  return mermaidBlock(page).split("\n").flatMap((line) => {
    const found = /^ {2}Note over [\w,]+: (.*)$/.exec(line);
    return found ? [found[1]] : [];
  });
}

/** A page's diagram as its arrows' first lines and its notes, in order. */
function timelineOf(page: string): string[] {
  return mermaidBlock(page).split("\n").flatMap((line) => {
    const arrow = /^ {2}\w+-+(?:>>|x)\w+: ([^<]*)/.exec(line);
    const note = /^ {2}Note over [\w,]+: ([^<]*)/.exec(line);
    return arrow ? [arrow[1]] : note ? [note[1]] : [];
  });
}

/** What a demo run with --refresh --revoke draws: the check before the browser, the browser at the org and the callback, then the back channel. */
const DEMO_ARROWS = [
  "Script -->> Org", // 4: the check before the browser
  "Browser ->> Org", // 5: the authorization URL: sign in
  "Browser ->> Org", // 5: POST /login
  "Browser ->> Org", // 5: the authorization URL again: the consent page
  "Browser ->> Org", // 5: Allow, answered 302 to the callback
  "Browser ->> Callback", // 5: the callback with the code
  "Script -->> Org", // 7: the token request
  "Script -->> Org", // 7: discovery
  "Script -->> Org", // 7: the key set
  "Script -->> Org", // 9: identity
  "Script -->> Org", // 10: the refresh
  "Script -->> Org", // 10: discovery
  "Script -->> Org", // 10: the key set
  "Script -->> Org", // 11: revocation
  "Script -->> Org", // 11: identity, refused
];

const DEMO_NOTES = [
  "✓ state matched",
  "✓ signature valid",
  "✓ ID token verified",
  "✓ signature valid",
  "✓ ID token verified",
  "✓ access token refused after revocation",
  "✓ completed",
];

Deno.test("--report refuses, before anything starts, a file that exists, a missing directory, no name, or a file the run may not write", async () => {
  const cases: [string, string, string[], string][] = [
    ["an existing file", "taken.md", [], 'the file already exists "taken.md"'],
    [
      "a missing directory",
      "no-such-dir/run.md",
      [],
      'no such directory "no-such-dir"',
    ],
    ["no name", "", [], "no file name given"],
    [
      "a file this run may not write",
      "run.md",
      ["--allow-net", "--allow-read", "--allow-env"],
      'this run may not write that file "run.md"',
    ],
  ];
  for (const [what, path, permissions, message] of cases) {
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/taken.md`, "mine\n");
      const output = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          ...(permissions.length > 0 ? permissions : ["-A"]),
          MAIN,
          "--demo",
          "--no-browser",
          "--report",
          path,
        ],
        cwd: dir,
        env: childEnv(),
        clearEnv: true,
        stdin: "null",
      }).output();
      const stderr = new TextDecoder().decode(output.stderr);
      assertEquals(output.code, 2, `${what}: ${stderr}`);
      assertEquals(new TextDecoder().decode(output.stdout), "", what); // no step started
      assertStringIncludes(stderr, `usage: Cannot use --report: ${message}`);
      assertFalse(
        stderr.includes("demo mode"),
        `${what}: the demo org started`,
      );
      assertEquals(await Deno.readTextFile(`${dir}/taken.md`), "mine\n");
      assertEquals(
        [...Deno.readDirSync(dir)].map((entry) => entry.name),
        ["taken.md"],
        what,
      );
    });
  }
});

Deno.test("--report in a gist without report.ts is a usage error before step 1, and says what to do; a run that stops before step 1 writes no page", async () => {
  await withTempDir(async (gist) => {
    for (const file of ["main.ts", "pkce.ts"]) {
      await Deno.copyFile(new URL(file, import.meta.url), `${gist}/${file}`);
    }
    await withTempDir(async (cwd) => {
      const result = await run([...UNREACHED_ORG, "--report", "run.md"], {
        script: `${gist}/main.ts`,
        cwd,
      });
      assertEquals(result.code, 2, result.stderr);
      assertEquals(result.stdout, "");
      assertStringIncludes(
        result.stderr,
        "usage: Cannot use --report: report.ts is not next to main.ts",
      );
      assertStringIncludes(result.stderr, "Fetch report.ts next to main.ts");
      assertFalse(result.stderr.includes("    at "), "no stack trace");
      assertEquals([...Deno.readDirSync(cwd)], []);
    });
    // With report.ts but not the demo org: the run stops before step 1, so there is no page.
    await Deno.copyFile(
      new URL("report.ts", import.meta.url),
      `${gist}/report.ts`,
    );
    await withTempDir(async (cwd) => {
      const result = await run(["--demo", "--report", "run.md"], {
        script: `${gist}/main.ts`,
        cwd,
      });
      assertEquals(result.code, 2, result.stderr);
      assertStringIncludes(result.stderr, "Cannot use --demo");
      assertEquals([...Deno.readDirSync(cwd)], []);
    });
  });
});

Deno.test("--report writes the page of a completed demo run: each step's data as printed, a note where each check held, no HTTP text without --http", async () => {
  const { result, page } = await demoReport(["--refresh", "--revoke"]);
  assertEquals(result.code, 0, result.stderr);
  assertStringIncludes(
    result.stderr,
    "note: wrote the report of this run to run.md: secrets masked",
  );
  assertMatch(
    page.split("\n")[0],
    /^# OAuth run on `127\.0\.0\.1:\d+`, \d{4}-\d\d-\d\d \d\d:\d\d UTC: completed$/,
  );
  assertEquals(
    page.split("\n")[0].split("`")[1],
    new URL(result.steps[0].data.instance).host,
  );
  assertStringIncludes(page.split("\n\n")[1], "Secrets are masked");
  assertEquals(
    headings(page).filter((heading) => heading.startsWith("### ")),
    result.steps.map(({ step, title }) => `### ${step}. ${title}`),
  );
  // Each step's JSON is what --json printed for it.
  const json = codeBlocks(page).filter(({ lang }) => lang === "json");
  assertEquals(
    json.map(({ text }) => JSON.parse(text)),
    result.steps.map(({ data }) => data),
  );
  assertEquals(codeBlocks(page).filter(({ lang }) => lang === "http"), []);
  assertEquals(headings(page).filter((h) => h.startsWith("#### ")), []);
  assertEquals(arrowsOf(page), DEMO_ARROWS);
  assertEquals(notesOf(page), DEMO_NOTES);
  // Each note follows the exchange whose answer it checked.
  const id = new URL(result.steps[7].data.id_url).pathname;
  assertEquals(timelineOf(page), [
    "4 · GET /services/oauth2/authorize → 200",
    "5 · GET /services/oauth2/authorize → 200",
    "5 · POST /login → 302",
    "5 · GET /services/oauth2/authorize → 200",
    "5 · POST /services/oauth2/authorize → 302",
    "5 · GET /callback → 200",
    "✓ state matched",
    "7 · POST /services/oauth2/token → 200",
    "✓ signature valid",
    "7 · GET /.well-known/openid-configuration → 200",
    "7 · GET /id/keys → 200",
    "✓ ID token verified",
    `9 · GET ${id} → 200`,
    "10 · POST /services/oauth2/token → 200",
    "✓ signature valid",
    "10 · GET /.well-known/openid-configuration → 200",
    "10 · GET /id/keys → 200",
    "✓ ID token verified",
    "11 · POST /services/oauth2/revoke → 200",
    `11 · GET ${id} → 403`,
    "✓ access token refused after revocation",
    "✓ completed",
  ]);
  // Without --http too: the bearer and the error of the refusal, on its arrow.
  assertMatch(
    mermaidBlock(page),
    /→ 403<br\/>authorization=Bearer 00D5g0…[^<]{4}<br\/>error=Bad_OAuth_Token\n/,
  );
  assertNoLeak(page);
});

Deno.test({
  name:
    "the diagram of a real --demo --http --refresh --revoke --report run draws in Chromium: the front and back channels in order, masked, each exchange's HTTP under its step",
  ignore: !hasChromium,
  async fn() {
    const { result, page } = await demoReport([
      "--http",
      "--refresh",
      "--revoke",
    ]);
    assertEquals(result.code, 0, result.stderr);
    assertNoLeak(page);
    // Session cookies are masked wherever the HTTP text shows them.
    for (const [, value] of page.matchAll(/Cookie: [\w-]+=([^;\n]*)/g)) {
      assertMatch(value, /^.{6}….{4}$/);
    }
    // One HTTP block pair per exchange, under the step it belongs to.
    assertEquals(
      headings(page).filter((heading) => heading.startsWith("#### ")).length,
      DEMO_ARROWS.length,
    );
    await withMermaid(async (draw) => {
      const drawn = await draw(mermaidBlock(page), {
        screenshot: "report-real-run",
      });
      assertEquals(drawn.error, undefined);
      assertEquals(drawn.svg, 1);
      assertEquals(drawn.actors, PARTICIPANTS);
      assertEquals(
        drawnArrows(drawn),
        DEMO_ARROWS,
      );
      assertEquals(
        drawn.lines.filter((line) => line === "messageLine0").length,
        5,
      );
      // Each arrow's first line is its step, method and path; the steps never go back.
      const heads = drawn.labels.filter((label) => / · /.test(label));
      assertEquals(heads.length, DEMO_ARROWS.length);
      const steps = heads.map((label) => Number(label.split(" ")[0]));
      assertEquals(steps, steps.toSorted((a, b) => a - b));
      assertEquals(heads[0], "4 · GET /services/oauth2/authorize → 200");
      assertEquals(heads[4], "5 · POST /services/oauth2/authorize → 302");
      assertEquals(heads[5], "5 · GET /callback → 200");
      assertEquals(heads[6], "7 · POST /services/oauth2/token → 200");
      assertMatch(heads[14], /^11 · GET \/id\/\w+\/\w+ → 403$/);
      const labels = drawn.labels.join("\n");
      assertMatch(labels, /\ncode_challenge=[\w-]{43}\n/);
      assertMatch(
        labels,
        /\nlocation=http:\/\/localhost:\d+\/callback\?code=aPrx[^…&]{2,6}…[^…&]{4,12}&state=/,
      );
      assertMatch(labels, /\ncode_verifier=.{6}….{4}\n/);
      assertMatch(labels, /\nauthorization=Bearer 00D5g0….{4}\n/);
      assertStringIncludes(labels, "\nerror=Bad_OAuth_Token");
      assertEquals(drawn.notes, DEMO_NOTES);
      assertEquals(drawn.injected, []);
    });
  },
});

Deno.test("--report writes the page of a failed run, its diagram ending at the failure", async () => {
  const { result, page } = await demoReport(["--scope", "api bogus"]);
  assertEquals(result.code, 1, result.stderr);
  assertEquals(result.steps.at(-1)?.data.error, "invalid_scope");
  assertStringIncludes(
    page.split("\n")[0],
    ": failed at step 5 (`invalid_scope`)",
  );
  const diagram = mermaidBlock(page).split("\n");
  assertEquals(
    diagram.at(-1),
    "  Note over Browser,Org: ✗ failed at step 5<br/>invalid_scope#58; the requested scope is not allowed",
  );
  assertEquals(arrowsOf(page), DEMO_ARROWS.slice(0, 4)); // no callback, no token request
  assertEquals(headings(page).at(-1), "## The run failed at step 5");
});

Deno.test("--report writes the page of an interrupted run, up to the step it stopped at", async () => {
  await withDemoOrg(async (org, redirect) => {
    await withTempDir(async (cwd) => {
      const script = spawn([
        ...orgArgs(org, redirect),
        "--report",
        "stopped.md",
      ], { cwd });
      await script.waitForStep(4);
      script.child.kill("SIGINT");
      const result = await script.finish();
      assertEquals(result.code, 130, result.stderr);
      const page = await Deno.readTextFile(`${cwd}/stopped.md`);
      assertStringIncludes(page.split("\n")[0], ": interrupted at step 5");
      assertEquals(arrowsOf(page), ["Script -->> Org"]); // step 4's check
      assertEquals(notesOf(page), ["⏹ interrupted at step 5"]);
      assertEquals(
        headings(page).at(-1),
        "## The run was interrupted at step 5",
      );
    });
  });
});

Deno.test("--report: a completed run whose page cannot be written at the end says so and exits 1, overwriting nothing", async () => {
  await withDemoOrg(async (org, redirect) => {
    await withTempDir(async (cwd) => {
      const script = spawn([
        ...orgArgs(org, redirect),
        "--report",
        "late.md",
      ], { cwd });
      const step3 = await script.waitForStep(3);
      await script.waitForStep(4);
      await Deno.writeTextFile(`${cwd}/late.md`, "in the way\n"); // after the check at the start
      await playDemoUser(step3.data.authorization_url);
      const result = await script.finish();
      assertEquals(result.code, 1, result.stderr);
      assertEquals(result.steps.filter(({ step }) => step === 9).length, 1);
      const failure = result.steps.at(-1)!;
      assertEquals(failure.step, null);
      assertEquals(failure.data.error, "report_failed");
      assertMatch(
        failure.data.error_description,
        /^Cannot write the report: File exists \(os error 17\) "late\.md"$/,
      );
      assertEquals(await Deno.readTextFile(`${cwd}/late.md`), "in the way\n");
    });
  });
});

Deno.test("--report: the page holds no token, code, verifier or client secret the org issued, and says so at its top", async () => {
  await withDemoOrg(async (org, redirect) => {
    await withTempDir(async (cwd) => {
      const result = await runApproved([
        ...orgArgs(org, redirect),
        "--http",
        "--refresh",
        "--revoke",
        "--report",
        "run.md",
      ], { cwd });
      assertEquals(result.code, 0, result.stderr);
      const page = await Deno.readTextFile(`${cwd}/run.md`);
      const codes = [...org.codes.entries()];
      const known = [
        org.client.client_secret,
        ...org.issued,
        ...codes.map(([code]) => code),
        ...codes.flatMap(([, { verifier }]) => verifier ? [verifier] : []),
      ];
      assert(known.length >= 5, `only ${known.length} secrets known`);
      assertNoLeak(page, known);
      assertStringIncludes(page.split("\n\n")[1], "Secrets are masked.");
      // The HTTP text is there, so the scan read what crossed the wire.
      assertStringIncludes(page, "\n\ngrant_type=authorization_code&code=");
    });
  });
});

Deno.test("--report --show-secrets writes the secrets, says so at the top, and only its owner can read the file", async () => {
  const { result, page, mode } = await demoReport(["--show-secrets"], {
    record: false,
  });
  assertEquals(result.code, 0, result.stderr);
  assertStringIncludes(result.stderr, "(mode 0600): do not share it");
  assertStringIncludes(page.split("\n\n")[1], "Secrets are NOT masked");
  assertMatch(page, RAW_TOKEN); // what the leak scan looks for, there on purpose
  if (Deno.build.os !== "windows") assertEquals(mode & 0o777, 0o600);
});

// ---------------------------------------------------------------------------
// docs/example-report.md: what the script writes today
// ---------------------------------------------------------------------------

/** The values that change from run to run, as placeholders: ports, dates and times, masked and random values, and the lengths they change. */
function placeholders(page: string): string {
  return page
    .replace(/(127\.0\.0\.1|localhost)(:|#58;|%3A|%253A)\d+/g, "$1$2PORT")
    .replace(/demo_org_sid_\d+/g, "demo_org_sid_PORT")
    .replace(/"port": \d+/g, '"port": PORT')
    .replace(/\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT/g, "HTTP-DATE")
    .replace(/\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?Z| UTC)?/g, "DATE")
    .replace(/\b\d{10,13}\b/g, "TIME")
    .replace(/expires in \d+ s/g, "expires in N s")
    .replace(/^(content-length: )\d+$/gim, "$1N")
    .replace(/\d+ bytes/g, "N bytes")
    // mask()'s six characters, the ellipsis and four, as a form or Mermaid may have escaped them
    .replace(
      /(?:[\w.!+/=-]|%[0-9A-F]{2}|#\d+;){6}…(?:[\w.!+/=-]|%[0-9A-F]{2}|#\d+;)+/g,
      "MASKED",
    )
    // state, challenge, nonce, signatures and hashes: runs of Base64 with both cases
    .replace(
      /[\w+/=-]{20,}/g,
      (run) => /[a-z]/.test(run) && /[A-Z]/.test(run) ? "RANDOM" : run,
    )
    // a label cut short: where it is cut moves with the lengths of the values before it
    .replace(/[^\s…]*…(?=<br\/>|$)/gm, "CUT…");
}

/** The task that regenerates docs/example-report.md, and the command line it runs main.ts with. */
async function exampleTask(): Promise<{ task: string; args: string[] }> {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", import.meta.url)),
  );
  const task: string = config.tasks["report-example"];
  const args = task.slice(task.indexOf(" main.ts ") + 9).split(" ");
  return { task, args };
}

Deno.test("placeholders() keeps what every run writes alike and hides what changes", () => {
  const cases: [string, string][] = [
    ["on `127.0.0.1:41517`, 2026-12-01 08:49 UTC", "on `127.0.0.1:PORT`, DATE"],
    ["Org 127.0.0.1#58;34955", "Org 127.0.0.1#58;PORT"],
    ["localhost%3A8000%2Fcallback", "localhost%3APORT%2Fcallback"],
    ['"issued_at": "1796114878440"', '"issued_at": "TIME"'],
    ["code=aPrxN9…KdM#37;3D&state", "code=MASKED&state"],
    ["code=aPrx%2BN…sEk%3D&x", "code=MASKED&x"],
    ['"Bearer 00D5g0…jm9N"', '"Bearer MASKED"'],
    ['"00D5g0….VlY", "5Aep86…Z.o."', '"MASKED", "MASKED"'],
    ["state=BqsAbUY76x2k8mzm_nTNxjnppNTnLukD-FnNQqkRW0A<br/>", "RANDOM<br/>"],
    ['"tSvI+48aFPLfSqT35vWPalkBHZQvJcFFHmPcv0Acb1I="', '"RANDOM"'],
    ["/services/oauth2/authorize", "/services/oauth2/authorize"],
    ["Content-Length: 414", "Content-Length: N"],
    ["Date: Tue, 01 Dec 2026 08:49:39 GMT", "Date: HTTP-DATE"],
    ["client_id=3MVG9DemoOrg.LocalWalk…<br/>x", "CUT…<br/>x"],
  ];
  for (const [text, expected] of cases) {
    assertEquals(placeholders(text), expected, text);
  }
});

Deno.test("docs/example-report.md is what deno task report-example writes today, but for ports, dates and random values", async () => {
  const { task, args } = await exampleTask();
  assertStringIncludes(task, "rm -f docs/example-report.md && deno run ");
  assertEquals(args.slice(-2), ["--report", "docs/example-report.md"]);
  const example = await Deno.readTextFile(
    new URL("docs/example-report.md", import.meta.url),
  );
  await withTempDir(async (cwd) => {
    const result = await run([...args.slice(0, -1), "today.md"], { cwd });
    assertEquals(result.code, 0, result.stderr);
    const today = await Deno.readTextFile(`${cwd}/today.md`);
    assertEquals(
      placeholders(today),
      placeholders(example),
      "docs/example-report.md is out of date: run deno task report-example",
    );
  });
  assertNoLeak(example);
});
