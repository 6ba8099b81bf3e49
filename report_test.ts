/**
 * The report of a run (`report.ts`): its Markdown read back with a real
 * Markdown parser (marked, the one Mermaid itself uses), and its diagram
 * parsed and drawn by the real Mermaid library in headless Chromium, with
 * hostile values in every field that can come from outside.
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
import { type Browser, chromium, type Page } from "./_test_deps.ts";
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

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
if (!hasChromium) {
  console.warn(
    `report_test.ts: drawing skipped, no Chromium at ${CHROMIUM}. ` +
      "Install it with `sudo apt-get install chromium` (Debian, Ubuntu) and run `deno test -A` again.",
  );
}

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
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
      ],
    });
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
      const dir = Deno.env.get("SCREENSHOT_DIR");
      if (dir && screenshot && !drawn.error) {
        await Deno.mkdir(dir, { recursive: true });
        await Deno.writeFile(
          `${dir}/${screenshot}.png`,
          await page.locator("#out svg").screenshot(),
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
      const arrows = drawn.messages.filter(({ type }) =>
        type !== NOTE && type < 10
      );
      assertEquals(
        arrows.map(({ from, to, type }) =>
          `${from} ${
            ({ [SOLID]: "->>", [DOTTED]: "-->>" })[type] ?? type
          } ${to}`
        ),
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
