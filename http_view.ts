/**
 * The wire, as text: `--http` shows each request and response of a run as
 * HTTP/1.1 text (request line, headers, blank line, body; status line,
 * headers, body), and each back-channel request as the `curl` command that
 * sends it again, with every secret as a shell variable.
 *
 * Masking is main.ts's one rule set (`maskField`, `maskForm`, `maskHeader`,
 * `maskJson`, `maskUrl`): what this file prints is masked exactly as the
 * steps are. main.ts imports this file only when `--http` is given, so a gist
 * of main.ts alone runs without it.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9112#section-2.1 (HTTP/1.1 message format)
 * @module
 */

import {
  isSecretField,
  maskForm,
  maskHeader,
  maskJson,
  maskUrl,
  safeJson,
  terminalSafe,
} from "./main.ts";

/** A request as it went out or came in, before masking. */
export interface WireRequest {
  method: string;
  url: string;
  /** As sent; `Host` is taken from the URL when missing. */
  headers: Iterable<[string, string]>;
  body?: string;
}

/** A response as it came back or went out, before masking. */
export interface WireResponse {
  status: number;
  statusText?: string;
  headers: Iterable<[string, string]>;
  body?: string;
}

/** One exchange as `--http` prints it, and as `--json` carries it in `data.http`. */
export interface HttpEntry {
  channel: "back" | "front";
  /** Who sent the request ("script", "browser"), and who answered ("org", "callback"). */
  from: string;
  to: string;
  request: string;
  response: string;
  /** Back channel only: the same request as a curl command. */
  curl?: string;
}

/** The headers Deno's `fetch` adds to every request (Deno 2.9): the wire has them, the code never sets them. */
export function sentByFetch(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string },
): WireRequest {
  const headers: [string, string][] = [["host", new URL(url).host]];
  const given = Object.entries(init.headers ?? {}).map((
    [name, value],
  ): [string, string] => [name.toLowerCase(), value]);
  headers.push(...given);
  const has = (name: string) => given.some(([key]) => key === name);
  if (!has("accept")) headers.push(["accept", "*/*"]);
  headers.push(
    ["accept-encoding", "gzip,br"],
    ["accept-language", "*"],
    ["user-agent", `Deno/${Deno.version.deno}`],
  );
  if (init.body !== undefined) {
    if (!has("content-type")) {
      headers.push([
        "content-type",
        "application/x-www-form-urlencoded;charset=UTF-8",
      ]);
    }
    headers.push([
      "content-length",
      String(new TextEncoder().encode(init.body).length),
    ]);
  }
  return { method: init.method ?? "GET", url, headers, body: init.body };
}

/** The request as HTTP/1.1 text, masked. @see https://www.rfc-editor.org/rfc/rfc9112#section-3 */
export function requestText(
  request: WireRequest,
  showSecrets: boolean,
): string {
  const url = new URL(request.url);
  const target = maskUrl(`${url.pathname}${url.search}`, showSecrets);
  const headers = [...request.headers];
  if (!headers.some(([name]) => name.toLowerCase() === "host")) {
    headers.unshift(["host", url.host]);
  }
  return message(
    `${request.method} ${target} HTTP/1.1`,
    headers,
    request.body,
    showSecrets,
  );
}

/** The response as HTTP/1.1 text, masked; status 0 means no answer came. @see https://www.rfc-editor.org/rfc/rfc9112#section-4 */
export function responseText(
  response: WireResponse,
  showSecrets: boolean,
): string {
  if (response.status === 0) return "(no answer)";
  const reason = response.statusText || REASONS[response.status] || "";
  return message(
    `HTTP/1.1 ${response.status} ${reason}`.trimEnd(),
    [...response.headers],
    response.body,
    showSecrets,
  );
}

/** Reason phrases for the statuses a run meets; `fetch` and `Deno.serve` do not always say. */
const REASONS: Record<number, string> = {
  200: "OK",
  204: "No Content",
  302: "Found",
  303: "See Other",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  410: "Gone",
  421: "Misdirected Request",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** The longest body shown; the rest is counted. */
const MAX_BODY = 2_000;

function message(
  startLine: string,
  headers: [string, string][],
  body: string | undefined,
  showSecrets: boolean,
): string {
  const type = headers.find(([name]) => name.toLowerCase() === "content-type")
    ?.[1] ?? "";
  const lines = [
    startLine,
    ...headers.map(([name, value]) =>
      `${headerCase(name)}: ${maskHeader(name, value, showSecrets)}`
    ),
  ].map(terminalSafe);
  const shown = body === undefined
    ? /html/i.test(type) ? "(an HTML page, not shown)" : ""
    : bodyText(body, type, showSecrets);
  return lines.join("\n") + (shown ? `\n\n${shown}` : "\n");
}

/** `content-type` as `Content-Type`: header names are case-insensitive, and read better so. */
function headerCase(name: string): string {
  return name.toLowerCase().replace(
    /(^|-)([a-z])/g,
    (_, dash, letter) => dash + letter.toUpperCase(),
  ).replace(/^Www-/, "WWW-");
}

/** A body as shown: forms and JSON masked by field, HTML pages summed up, anything else terminal-safe and capped. */
function bodyText(body: string, type: string, showSecrets: boolean): string {
  if (body === "") return "";
  if (/html/i.test(type)) {
    return `(an HTML page, ${
      new TextEncoder().encode(body).length
    } bytes, not shown)`;
  }
  if (/json/i.test(type) || /^\s*[[{]/.test(body)) {
    try {
      return cap(safeJson(maskJson(JSON.parse(body), showSecrets), 2));
    } catch { /* not JSON after all: shown as text */ }
  }
  if (/urlencoded/i.test(type) || /^[\w.-]+=[^\s]*$/.test(body.trim())) {
    return cap(terminalSafe(maskForm(body.trim(), showSecrets)));
  }
  return cap(body.split("\n").map(terminalSafe).join("\n"));
}

function cap(text: string): string {
  return text.length <= MAX_BODY
    ? text
    : `${text.slice(0, MAX_BODY)}… (${text.length - MAX_BODY} more characters)`;
}

// ---------------------------------------------------------------------------
// Copy as curl
// ---------------------------------------------------------------------------

/** The shell variable that stands for each secret field in a curl command, and what to set it to. */
const VARIABLES: Record<string, [string, string]> = {
  client_secret: ["SF_CLIENT_SECRET", "the app's consumer secret"],
  code: ["CODE", "a new code: each works once"],
  code_verifier: ["CODE_VERIFIER", "the verifier of that code's run"],
  access_token: ["ACCESS_TOKEN", "the access token"],
  refresh_token: ["REFRESH_TOKEN", "the refresh token"],
  id_token: ["ID_TOKEN", "the ID token"],
  token: ["TOKEN", "the token"],
  password: ["PASSWORD", "the password"],
};

/** Variables never filled in, even with --show-secrets. */
const ALWAYS_VARIABLE = ["client_secret", "password"];

/** Text for a shell word: literal text, and variables to expand. */
type Piece = string | { variable: string };

/** One shell word: single-quoted when all literal, else double-quoted with `$NAME` left to expand. */
function shellWord(pieces: Piece[]): string {
  if (pieces.every((piece) => typeof piece === "string")) {
    return `'${pieces.join("").replaceAll("'", `'\\''`)}'`;
  }
  return `"${
    pieces.map((piece, index) => {
      if (typeof piece === "string") return piece.replace(/[\\$`"]/g, "\\$&");
      const next = pieces[index + 1];
      const joined = typeof next === "string" && /^\w/.test(next);
      return joined ? `\${${piece.variable}}` : `$${piece.variable}`;
    }).join("")
  }"`;
}

/**
 * The request as a curl command: every secret a shell variable
 * (`"$SF_CLIENT_SECRET"`, `"$CODE"`, `"$ACCESS_TOKEN"`…) unless
 * --show-secrets, and the client secret always; a first line says which to
 * set. `known` names secret values seen earlier in the run by their field
 * (a refresh token sent back as revocation's `token` is `$REFRESH_TOKEN`).
 */
export function curlCommand(
  request: WireRequest,
  showSecrets: boolean,
  known: ReadonlyMap<string, string> = new Map(),
): string {
  const needed = new Map<string, string>();
  /** The value itself, or the variable that stands for it. */
  const value = (field: string, text: string): Piece => {
    if (!isSecretField(field)) return text;
    if (showSecrets && !ALWAYS_VARIABLE.includes(field)) return text;
    const [name, what] = VARIABLES[known.get(text) ?? field] ??
      VARIABLES[field] ?? [field.toUpperCase(), field];
    needed.set(name, what);
    return { variable: name };
  };
  const url = new URL(request.url);
  const target: Piece[] = [`${url.origin}${url.pathname}`];
  [...url.searchParams].forEach(([field, text], index) => {
    target.push(`${index ? "&" : "?"}${formEncode(field)}=`);
    const piece = value(field, text);
    target.push(typeof piece === "string" ? formEncode(piece) : piece);
  });
  const hasBody = request.method === "POST" && request.body !== undefined;
  const method = request.method === "GET" || hasBody
    ? ""
    : ` -X ${request.method}`;
  const args = [`curl -sS${method} ${shellWord(target)}`];
  for (const [name, text] of request.headers) {
    const header = headerCase(name);
    if (!["Accept", "Content-Type", "Authorization"].includes(header)) continue;
    const [scheme, credentials = ""] = text.split(/ (.*)/s);
    const bearer = header === "Authorization" && /^bearer$/i.test(scheme);
    args.push(
      `-H ${
        shellWord(
          bearer
            ? [`${header}: ${scheme} `, value("access_token", credentials)]
            : [`${header}: ${text}`],
        )
      }`,
    );
  }
  if (hasBody) {
    for (const [field, text] of new URLSearchParams(request.body)) {
      args.push(
        `--data-urlencode ${shellWord([`${field}=`, value(field, text)])}`,
      );
    }
  }
  const command = args.join(" \\\n  ");
  if (needed.size === 0) return command;
  const names = [...needed].map(([name, what]) => `${name} (${what})`);
  return `${commentLines(`first set ${names.join(", ")}`)}\n${command}`;
}

/** One form value, encoded as a form encodes it. */
function formEncode(text: string): string {
  return new URLSearchParams([["", text]]).toString().slice(1);
}

/** A shell comment, wrapped at 78 columns. */
function commentLines(text: string): string {
  const lines: string[] = [];
  let line = "#";
  for (const word of text.split(" ")) {
    if (line.length + 1 + word.length > 78 && line !== "#") {
      lines.push(line);
      line = "#";
    }
    line += ` ${word}`;
  }
  return [...lines, line].join("\n");
}

// ---------------------------------------------------------------------------
// On screen
// ---------------------------------------------------------------------------

/** A step's exchanges as `--http` prints them after its data. */
export function httpBlock(entries: HttpEntry[]): string {
  return entries.map((entry) => {
    const title = `── ${entry.channel} channel: ${entry.from} → ${entry.to} `;
    const parts = [
      title.padEnd(Math.max(title.length, 60), "─"),
      entry.request.trimEnd(),
      "",
      entry.response.trimEnd(),
    ];
    if (entry.curl) {
      parts.push("", entry.curl.split("\n").map(terminalSafe).join("\n"));
    }
    return parts.join("\n").replace(/^(?=.)/gm, "  ");
  }).join("\n\n") + "\n";
}
