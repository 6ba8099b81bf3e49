/**
 * A tiny SOQL reader for the demo org: the subset a workshop needs, and a
 * clear `MALFORMED_QUERY` naming anything else, so that a query the demo
 * cannot run is refused and never answered with the wrong rows (facts L).
 *
 * The subset: `SELECT field, ... | COUNT() FROM Object [WHERE condition
 * [AND condition ...]] [ORDER BY field [ASC|DESC], ...] [LIMIT n]`, where a
 * condition is `field = value` or `field IN (value, ...)` or `field IN
 * (SELECT field FROM Object [WHERE ...])` (the semi-join `sf org display user`
 * sends). Values are `'text'`, numbers, `true`, `false` and `null`.
 *
 * @see https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select.htm
 * @module
 */

/** A field's value, as JSON has it. */
export type Value = string | number | boolean | null;
/** A record: field name to value, names spelled as the object spells them. */
export type Row = Record<string, Value>;

/** One comparison; the WHERE clause ANDs them. */
export type Condition =
  | { field: string; equals: Value }
  | { field: string; in: Value[] }
  | { field: string; inQuery: Query };

/** A parsed query; names as written, matched to the object's fields when run. */
export interface Query {
  /** The fields, or "count" for `SELECT COUNT()`. */
  select: string[] | "count";
  from: string;
  where: Condition[];
  orderBy: { field: string; descending: boolean }[];
  limit?: number;
}

/** What the query runs against: an object's fields (name and describe type) and its records. */
export interface Table {
  name: string;
  fields: { name: string; type: string }[];
  rows: Row[];
}

/** A query's answer: the object, the selected fields (as the object spells them), and the matching records, whole. */
export interface QueryResult {
  table: Table;
  fields: string[];
  rows: Row[];
  count: boolean;
}

/** A query Salesforce would refuse, with its `errorCode`. */
export class SoqlError extends Error {
  constructor(readonly errorCode: string, message: string) {
    super(message);
    this.name = "SoqlError";
  }
}

/** Salesforce's own limit on a query's length. */
export const MAX_SOQL_LENGTH = 100_000;

const SUBSET =
  "The demo org reads SELECT field, ... or COUNT() FROM Object [WHERE field = value or field IN (...) [AND ...]] [ORDER BY field [ASC|DESC], ...] [LIMIT n].";

/** Words the demo org knows Salesforce has but does not run, and what to call them in the error. */
const UNSUPPORTED: Record<string, string> = {
  OR: "OR",
  NOT: "NOT",
  LIKE: "LIKE",
  INCLUDES: "INCLUDES",
  EXCLUDES: "EXCLUDES",
  GROUP: "GROUP BY",
  HAVING: "HAVING",
  OFFSET: "OFFSET",
  WITH: "WITH",
  FOR: "FOR VIEW, FOR REFERENCE and FOR UPDATE",
  USING: "USING SCOPE",
  TYPEOF: "TYPEOF",
  NULLS: "NULLS FIRST and NULLS LAST",
  ALL: "ALL ROWS",
  "!=": "comparisons other than =",
  "<>": "comparisons other than =",
  "<": "comparisons other than =",
  "<=": "comparisons other than =",
  ">": "comparisons other than =",
  ">=": "comparisons other than =",
};
const KEYWORDS = new Set(["SELECT", "FROM", "WHERE", "AND", "IN", "ORDER"]);
for (
  const word of ["BY", "ASC", "DESC", "LIMIT", ...Object.keys(UNSUPPORTED)]
) {
  KEYWORDS.add(word);
}

interface Token {
  kind: "word" | "string" | "number" | "symbol" | "end";
  text: string;
  value?: Value;
  /** Where it starts in the query, for Salesforce's `Row:...:Column:...`. */
  at: number;
}

const TOKEN =
  /\s*(?:(?<string>'(?:[^'\\]|\\.)*')|(?<number>-?\d+(?:\.\d+)?(?![\w.:-]))|(?<word>[\w.:+-]+)|(?<symbol>!=|<=|>=|<>|[=<>,()])|(?<other>\S))/y;
const ESCAPES: Record<string, string> = {
  n: "\n",
  t: "\t",
  r: "\r",
  b: "\b",
  f: "\f",
  "'": "'",
  '"': '"',
  "\\": "\\",
};

/** Splits a query into words, literals and symbols; an unterminated string or a stray character is refused here. */
function tokenize(soql: string): Token[] {
  const tokens: Token[] = [];
  TOKEN.lastIndex = 0;
  for (let match; (match = TOKEN.exec(soql));) {
    const groups = match.groups!;
    const text = match[0].trimStart();
    const at = match.index + match[0].length - text.length;
    if (groups.string !== undefined) {
      tokens.push({
        kind: "string",
        text,
        value: unescape(soql, text, at),
        at,
      });
    } else if (groups.number !== undefined) {
      tokens.push({ kind: "number", text, value: Number(text), at });
    } else if (groups.word !== undefined) {
      tokens.push({ kind: "word", text, at });
    } else if (groups.symbol !== undefined) {
      tokens.push({ kind: "symbol", text, at });
    } else {
      const what = text === "'" ? "an unterminated string" : `'${text}'`;
      throw malformed(soql, at, `unexpected token: ${what}.`);
    }
  }
  tokens.push({ kind: "end", text: "", at: soql.length });
  return tokens;
}

/** The text of a quoted literal, with SOQL's escapes undone. */
function unescape(soql: string, quoted: string, at: number): string {
  return quoted.slice(1, -1).replace(/\\(.)/gs, (_, char: string) => {
    if (Object.hasOwn(ESCAPES, char)) return ESCAPES[char];
    throw malformed(
      soql,
      at,
      `Invalid string literal: illegal escape '\\${char}'.`,
    );
  });
}

/** A MALFORMED_QUERY pointing at a place in the query, as Salesforce's `ERROR at Row:1:Column:n`. */
function malformed(soql: string, at: number, detail: string): SoqlError {
  const before = soql.slice(0, at).split("\n");
  const where = `ERROR at Row:${before.length}:Column:${
    before.at(-1)!.length + 1
  }`;
  return new SoqlError("MALFORMED_QUERY", `${where}: ${detail} ${SUBSET}`);
}

/** Reads tokens in order, and says what went wrong where. */
function cursor(soql: string, tokens: Token[]) {
  let i = 0;
  const word = (token: Token) =>
    token.kind === "word" ? token.text.toUpperCase() : "";
  const c = {
    peek: () => tokens[i],
    next: () => tokens[i++],
    /** True, and moves past it, when the next token is this keyword. */
    take(keyword: string): boolean {
      if (word(tokens[i]) !== keyword) return false;
      i++;
      return true;
    },
    /** Refuses the next token: as something the demo does not support, or as plain bad syntax. */
    fail(expected: string, token = tokens[i]): never {
      const key = token.kind === "word" ? word(token) : token.text;
      const shown = token.kind === "end"
        ? "unexpected end of query"
        : `unexpected token: '${token.text.slice(0, 40)}'`;
      const detail = Object.hasOwn(UNSUPPORTED, key)
        ? `the demo org does not support ${UNSUPPORTED[key]}.`
        : `expected ${expected}.`;
      throw malformed(soql, token.at, `${shown}: ${detail}`);
    },
    expect(keyword: string) {
      if (!c.take(keyword)) c.fail(keyword);
    },
    symbol(text: string): boolean {
      if (tokens[i].kind !== "symbol" || tokens[i].text !== text) return false;
      i++;
      return true;
    },
    /** A plain field or object name: no keyword, no relationship path. */
    name(what: string): string {
      const token = tokens[i];
      if (token.kind !== "word" || KEYWORDS.has(word(token))) c.fail(what);
      if (token.text.includes(".")) {
        throw malformed(
          soql,
          token.at,
          `unexpected token: '${
            token.text.slice(0, 40)
          }': the demo org does not support relationship fields (such as Account.Name).`,
        );
      }
      if (!/^[A-Za-z]\w*$/.test(token.text)) c.fail(what);
      i++;
      return token.text;
    },
  };
  return c;
}
type Cursor = ReturnType<typeof cursor>;

/** Parses a query in the demo org's subset; anything else throws a SoqlError with MALFORMED_QUERY. */
export function parseSoql(soql: string): Query {
  if (soql.length > MAX_SOQL_LENGTH) {
    throw new SoqlError(
      "MALFORMED_QUERY",
      `SOQL statements cannot be longer than ${MAX_SOQL_LENGTH} characters`,
    );
  }
  const c = cursor(soql, tokenize(soql));
  const query = parseQuery(c, false);
  if (c.peek().kind !== "end") c.fail("the end of the query");
  return query;
}

/** SELECT ... FROM ... [WHERE ...] [ORDER BY ...] [LIMIT n]; a semi-join's inner query stops after WHERE. */
function parseQuery(c: Cursor, inner: boolean): Query {
  c.expect("SELECT");
  const select = parseSelect(c);
  c.expect("FROM");
  const query: Query = {
    select,
    from: c.name("an object name"),
    where: [],
    orderBy: [],
  };
  if (c.take("WHERE")) query.where = parseConditions(c, inner);
  if (inner) return query;
  if (c.take("ORDER")) {
    c.expect("BY");
    do {
      const field = c.name("a field name");
      const descending = c.take("DESC");
      if (!descending) c.take("ASC");
      query.orderBy.push({ field, descending });
    } while (c.symbol(","));
  }
  if (c.take("LIMIT")) {
    const token = c.next();
    const whole = Number.isSafeInteger(token.value) && Number(token.value) >= 0;
    if (token.kind !== "number" || !whole) {
      c.fail("a whole number after LIMIT", token);
    }
    query.limit = token.value as number;
  }
  return query;
}

/** `COUNT()`, or fields separated by commas. */
function parseSelect(c: Cursor): string[] | "count" {
  if (c.peek().kind === "word" && c.peek().text.toUpperCase() === "COUNT") {
    c.next();
    if (!c.symbol("(") || !c.symbol(")")) {
      c.fail("COUNT() (the demo org does not support COUNT(field))");
    }
    return "count";
  }
  const fields: string[] = [];
  do {
    if (c.peek().text === "(") {
      c.fail(
        "a field name (the demo org does not support subqueries in SELECT)",
      );
    }
    fields.push(c.name("a field name"));
    if (c.peek().text === "(") {
      c.fail(
        `a field name (the demo org does not support functions such as ${
          fields.at(-1)
        }())`,
      );
    }
  } while (c.symbol(","));
  return fields;
}

/** `field = value` or `field IN (...)`, joined by AND. */
function parseConditions(c: Cursor, inner: boolean): Condition[] {
  const conditions: Condition[] = [];
  do {
    if (c.peek().text === "(") {
      c.fail(
        "a field name (the demo org does not support parentheses in WHERE)",
      );
    }
    const field = c.name("a field name");
    if (c.symbol("=")) {
      conditions.push({ field, equals: parseValue(c) });
    } else if (c.take("IN")) {
      if (!c.symbol("(")) c.fail("( after IN");
      if (c.peek().text.toUpperCase() === "SELECT") {
        if (inner) {
          c.fail(
            "a value (the demo org does not support a semi-join inside a semi-join)",
          );
        }
        conditions.push({ field, inQuery: parseQuery(c, true) });
      } else {
        const values = [parseValue(c)];
        while (c.symbol(",")) values.push(parseValue(c));
        conditions.push({ field, in: values });
      }
      if (!c.symbol(")")) c.fail(") to close IN");
    } else {
      c.fail("= or IN");
    }
  } while (c.take("AND"));
  return conditions;
}

/** A literal: 'text', a number, true, false or null. */
function parseValue(c: Cursor): Value {
  const token = c.peek();
  if (token.kind === "string" || token.kind === "number") {
    c.next();
    return token.value!;
  }
  const word = token.kind === "word" ? token.text.toLowerCase() : "";
  if (word === "true" || word === "false" || word === "null") {
    c.next();
    return word === "null" ? null : word === "true";
  }
  return c.fail(
    "a value: 'text', a number, true, false or null (the demo org does not support date literals or bind variables)",
  );
}

// ---------------------------------------------------------------------------
// Running a query against the demo org's records
// ---------------------------------------------------------------------------

const ID_TYPES = new Set(["id", "reference"]);
const TEXT_TYPES = new Set([
  "string",
  "picklist",
  "email",
  "phone",
  "url",
  "textarea",
]);
const NUMBER_TYPES = new Set(["int", "double", "currency", "percent"]);

type Field = Table["fields"][number];

/** Runs a parsed query: INVALID_TYPE for an unknown object, INVALID_FIELD for an unknown field, and Salesforce's checks on each value's type. */
export function runQuery(query: Query, tables: Table[]): QueryResult {
  const table = findTable(query.from, tables);
  const fields = query.select === "count"
    ? []
    : query.select.map((name) => findField(table, name).name);
  const duplicate = fields.find((name, i) => fields.indexOf(name) !== i);
  if (duplicate) {
    throw new SoqlError(
      "MALFORMED_QUERY",
      `duplicate field selected: ${duplicate}`,
    );
  }
  const tests = query.where.map((condition) =>
    conditionTest(table, condition, tables)
  );
  let rows = table.rows.filter((row) => tests.every((test) => test(row)));
  const order = query.orderBy.map(({ field, descending }) => {
    const known = findField(table, field);
    if (known.type === "textarea") {
      throw new SoqlError(
        "INVALID_FIELD",
        `field '${known.name}' can not be sorted in a query call`,
      );
    }
    return { name: known.name, descending };
  });
  if (order.length) rows = rows.toSorted((a, b) => compareRows(a, b, order));
  if (query.limit !== undefined) rows = rows.slice(0, query.limit);
  return { table, fields, rows, count: query.select === "count" };
}

function findTable(name: string, tables: Table[]): Table {
  const table = tables.find((t) => t.name.toLowerCase() === name.toLowerCase());
  if (table) return table;
  throw new SoqlError(
    "INVALID_TYPE",
    `sObject type '${
      name.slice(0, 80)
    }' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names. (The demo org knows ${
      tables.map((t) => t.name).join(", ")
    }.)`,
  );
}

function findField(table: Table, name: string) {
  const field = table.fields.find((f) =>
    f.name.toLowerCase() === name.toLowerCase()
  );
  if (field) return field;
  throw new SoqlError(
    "INVALID_FIELD",
    `No such column '${
      name.slice(0, 80)
    }' on entity '${table.name}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names. (The demo org's ${table.name} has ${
      table.fields.map((f) => f.name).join(", ")
    }.)`,
  );
}

/** A condition as a test on a row, after Salesforce's checks that each value fits its field. */
function conditionTest(
  table: Table,
  condition: Condition,
  tables: Table[],
): (row: Row) => boolean {
  const field = findField(table, condition.field);
  if (field.type === "textarea") {
    throw new SoqlError(
      "INVALID_FIELD",
      `field '${field.name}' can not be filtered in a query call`,
    );
  }
  if ("inQuery" in condition) {
    const ids = semiJoinIds(field, condition.inQuery, tables);
    return (row) => ids.has(idKey(row[field.name]));
  }
  const values = "in" in condition ? condition.in : [condition.equals];
  for (const value of values) checkValue(field, value);
  return (row) =>
    values.some((value) =>
      sameValue(field.type, row[field.name] ?? null, value)
    );
}

/** `Id IN (SELECT ProfileId FROM User WHERE ...)`: the inner query's ids; both sides must be ids. */
function semiJoinIds(
  field: Field,
  inner: Query,
  tables: Table[],
): Set<string> {
  const result = runQuery(inner, tables);
  const innerField = result.fields.length === 1
    ? findField(result.table, result.fields[0])
    : undefined;
  if (
    !ID_TYPES.has(field.type) || !innerField || !ID_TYPES.has(innerField.type)
  ) {
    throw new SoqlError(
      "MALFORMED_QUERY",
      `semi join sub-selects must select one Id or reference field, compared with an Id or reference field ('${field.name}')`,
    );
  }
  return new Set(result.rows.map((row) => idKey(row[innerField.name])));
}

/** Salesforce's refusals of a value that does not fit its field's type. */
function checkValue(field: Field, value: Value) {
  if (value === null) return;
  const kind = ID_TYPES.has(field.type) || TEXT_TYPES.has(field.type)
    ? "string"
    : NUMBER_TYPES.has(field.type)
    ? "number"
    : field.type;
  const quoted = typeof value === "string";
  if (kind === "string" && !quoted) {
    throw new SoqlError(
      "MALFORMED_QUERY",
      `value of filter criterion for field '${field.name}' must be of type string and should be enclosed in quotes`,
    );
  }
  if (kind !== "string" && typeof value !== kind) {
    throw new SoqlError(
      "MALFORMED_QUERY",
      `value of filter criterion for field '${field.name}' must be of type ${
        field.type === "datetime" ? "dateTime" : field.type
      } and should not be enclosed in quotes${
        field.type === "datetime"
          ? " (the demo org compares dates only with null)"
          : ""
      }`,
    );
  }
  if (
    ID_TYPES.has(field.type) &&
    !/^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$/.test(value as string)
  ) {
    throw new SoqlError(
      "INVALID_QUERY_FILTER_OPERATOR",
      `invalid ID field: ${String(value).slice(0, 40)}`,
    );
  }
}

/**
 * An id in one spelling: its 15 case-sensitive characters. An 18-character
 * id is case-insensitive because its last three characters say which of the
 * first 15 are upper case (five flags each), so that case is restored here.
 */
export function idKey(id: Value): string {
  if (typeof id !== "string" || id.length !== 18) return String(id ?? "");
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
  let key = "";
  for (let i = 0; i < 15; i++) {
    const flags = alphabet.indexOf(id[15 + Math.floor(i / 5)].toUpperCase());
    const upper = (flags >> (i % 5)) & 1;
    key += upper ? id[i].toUpperCase() : id[i].toLowerCase();
  }
  return key;
}

/** Salesforce's `=`: text ignores case, ids match in 15 or 18 characters, null matches only null. */
function sameValue(type: string, actual: Value, wanted: Value): boolean {
  if (wanted === null || actual === null) return wanted === actual;
  if (ID_TYPES.has(type)) return idKey(actual) === idKey(wanted);
  if (typeof actual === "string" && typeof wanted === "string") {
    return actual.toLowerCase() === wanted.toLowerCase();
  }
  return actual === wanted;
}

/** ORDER BY: nulls first when ascending and last when descending, text ignoring case, as Salesforce sorts. */
function compareRows(
  a: Row,
  b: Row,
  order: { name: string; descending: boolean }[],
): number {
  for (const { name, descending } of order) {
    const [x, y] = [a[name] ?? null, b[name] ?? null];
    if (x === y) continue;
    let difference: number;
    if (x === null) difference = -1;
    else if (y === null) difference = 1;
    else if (typeof x === "string" && typeof y === "string") {
      const [p, q] = [x.toLowerCase(), y.toLowerCase()];
      difference = p < q ? -1 : p > q ? 1 : 0;
    } else {
      difference = x < y ? -1 : x > y ? 1 : 0;
    }
    if (difference !== 0) return descending ? -difference : difference;
  }
  return 0;
}
