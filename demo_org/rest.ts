/**
 * The REST API, as far as everyday clients use it (facts K and L): the
 * version list, a version's resource map, limits, SOQL queries, describe
 * (global and per object), and records: read, create, update, delete.
 * Shapes and errors are Salesforce's; the data is `demo_org/records.ts`,
 * the queries `demo_org/soql.ts`.
 *
 * @see https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_list.htm
 * @module
 */

import { MAX_JSON_BYTES, readBody } from "./limits.ts";
import {
  createRecord,
  dataOf,
  deleteRecord,
  type FieldSpec,
  findRecord,
  findSObject,
  SOBJECTS,
  type SObjectSpec,
  tables,
  updateRecord,
  type WriteError,
} from "./records.ts";
import {
  parseSoql,
  type Query,
  type QueryResult,
  type Row,
  runQuery,
  SoqlError,
} from "./soql.ts";
import {
  baseUrl,
  bearerGrant,
  type DemoOrgState,
  identityUrlAt,
  LATEST_API_VERSION,
} from "./state.ts";

/** Oldest API version listed; clients pin old ones (jsforce 50.0, the Salesforce CLI 51.0 at first). */
const OLDEST_API_VERSION = 31;
const DAILY_API_LIMIT = 15_000;

/** One REST API call: the org, the request, and the version's base path. */
interface Call {
  org: DemoOrgState;
  request: Request;
  url: URL;
  /** `/services/data/vNN.N`, for the URLs in answers. */
  data: string;
  headers: Record<string, string>;
}
type Resource = (
  call: Call,
  ...parts: string[]
) => Response | Promise<Response>;

/** The resources under `/services/data/vNN.N`, by path and method. */
const RESOURCES: [RegExp, Record<string, Resource>][] = [
  [/^$/, { GET: resourceMap }],
  [/^\/limits$/, { GET: limits }],
  [/^\/query(?:All)?$/, { GET: query }],
  [/^\/sobjects$/, { GET: describeGlobal }],
  [/^\/sobjects\/(\w+)$/, { GET: sObjectInfo, POST: create }],
  [/^\/sobjects\/(\w+)\/describe$/, { GET: describe }],
  [/^\/sobjects\/(\w+)\/([^/]+)$/, {
    GET: retrieve,
    PATCH: update,
    DELETE: destroy,
  }],
];

/** Salesforce's REST error body: a JSON array of `{message, errorCode}` (and `fields` for a write). */
function restError(
  status: number,
  errorCode: string,
  message: string,
  headers = {},
  fields?: string[],
): Response {
  return restJson(status, [{
    message,
    errorCode,
    ...(fields ? { fields } : {}),
  }], headers);
}

function restJson(status: number, body: unknown, headers = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: {
      ...(body === undefined
        ? {}
        : { "content-type": "application/json;charset=UTF-8" }),
      "cache-control": "no-store",
      ...headers,
    },
  });
}

function notFound(
  headers = {},
  message = "The requested resource does not exist",
): Response {
  return restError(404, "NOT_FOUND", message, headers);
}

/** `Summer '14` for 31.0: three releases a year, named by season. */
function releaseName(version: number): string {
  const k = version - OLDEST_API_VERSION;
  const season = ["Summer", "Winter", "Spring"][k % 3];
  return `${season} '${14 + Math.ceil(k / 3)}`;
}

/** Every listed version, oldest first, as `31.0`. */
function versions(): string[] {
  const latest = Number.parseInt(LATEST_API_VERSION);
  return Array.from(
    { length: latest - OLDEST_API_VERSION + 1 },
    (_, i) => `${OLDEST_API_VERSION + i}.0`,
  );
}

/** Any path under /services/: the data API, or Salesforce's JSON 404. */
export async function rest(
  org: DemoOrgState,
  request: Request,
): Promise<Response> {
  try {
    return await answer(org, request);
  } finally {
    await discardBody(request);
  }
}

/** The version list (no token needed, as on Salesforce), or a version's resource for a live token with the api scope. */
async function answer(org: DemoOrgState, request: Request): Promise<Response> {
  const url = new URL(request.url);
  const path = url.pathname.replace(/\/+$/, "");
  if (request.method === "GET" && path === "/services/data") {
    return restJson(
      200,
      versions().map((version) => ({
        label: releaseName(Number.parseInt(version)),
        url: `/services/data/v${version}`,
        version,
      })),
    );
  }
  const match = /^\/services\/data\/v(\d+\.\d)(\/.*)?$/.exec(path);
  if (!match) return notFound();
  const grant = bearerGrant(org, request);
  if (!grant) {
    return restError(401, "INVALID_SESSION_ID", "Session expired or invalid");
  }
  if (!grant.scopes.some((s) => s === "api" || s === "full")) {
    return restError(
      401,
      "INVALID_SESSION_ID",
      "This session is not valid for use with the REST API",
    );
  }
  const [, version, resource = ""] = match;
  if (!versions().includes(version)) return notFound();
  org.apiCalls++;
  const headers = {
    "sforce-limit-info": `api-usage=${org.apiCalls}/${DAILY_API_LIMIT}`,
  };
  const call = {
    org,
    request,
    url,
    data: `/services/data/v${version}`,
    headers,
  };
  for (const [pattern, methods] of RESOURCES) {
    const parts = pattern.exec(resource);
    if (!parts) continue;
    const method = request.method === "HEAD" ? "GET" : request.method;
    if (Object.hasOwn(methods, method)) {
      return await methods[method](call, ...parts.slice(1));
    }
    const allowed = Object.keys(methods).join(",");
    return restError(
      405,
      "METHOD_NOT_ALLOWED",
      `HTTP Method '${request.method}' not allowed. Allowed are HEAD,${allowed}`,
      headers,
    );
  }
  return notFound(headers);
}

/** Cancels a body nobody read, so the connection is not left waiting. */
async function discardBody(request: Request) {
  if (request.body && !request.bodyUsed && !request.body.locked) {
    await request.body.cancel();
  }
}

/** GET /services/data/vNN.N/: the resources of a version, `identity` among them. */
function resourceMap(call: Call): Response {
  const names = [
    "sobjects",
    "query",
    "queryAll",
    "search",
    "limits",
    "recent",
    "composite",
    "tooling",
    "metadata",
    "connect",
    "chatter",
    "analytics",
    "actions",
  ];
  return restJson(200, {
    ...Object.fromEntries(names.map((name) => [name, `${call.data}/${name}`])),
    identity: identityUrlAt(baseUrl(call.request)),
  }, call.headers);
}

function limits(call: Call): Response {
  return restJson(200, {
    DailyApiRequests: {
      Max: DAILY_API_LIMIT,
      Remaining: Math.max(0, DAILY_API_LIMIT - call.org.apiCalls),
    },
    DailyAsyncApexExecutions: { Max: 250_000, Remaining: 250_000 },
    DailyBulkApiBatches: { Max: 15_000, Remaining: 15_000 },
    DataStorageMB: { Max: 5, Remaining: 5 },
    FileStorageMB: { Max: 20, Remaining: 20 },
    SingleEmail: { Max: 15, Remaining: 15 },
  }, call.headers);
}

// ---------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------

/** Runs a parsed query on the org's records; Salesforce's 400 for one it refuses. */
function run(call: Call, parsed: () => Query): QueryResult | Response {
  try {
    return runQuery(parsed(), tables(dataOf(call.org)));
  } catch (error) {
    if (!(error instanceof SoqlError)) throw error;
    return restError(400, error.errorCode, error.message, call.headers);
  }
}

/** A record as the REST API shows it: `attributes {type, url}` first, then the fields asked for (all by default). */
function recordJson(call: Call, type: string, row: Row, fields?: string[]) {
  const picked = fields
    ? Object.fromEntries(fields.map((f) => [f, row[f] ?? null]))
    : row;
  return {
    attributes: { type, url: `${call.data}/sobjects/${type}/${row.Id}` },
    ...picked,
  };
}

/** GET .../query?q=SOQL (and queryAll): `{totalSize, done, records}`; with `columns=true`, the columns instead, as the Salesforce CLI asks first. */
function query(call: Call): Response {
  const soql = call.url.searchParams.get("q") ?? "";
  const result = run(call, () => parseSoql(soql));
  if (result instanceof Response) return result;
  if (call.url.searchParams.get("columns") === "true") {
    return restJson(200, describeColumns(result), call.headers);
  }
  return restJson(200, {
    totalSize: result.rows.length,
    done: true,
    records: result.count
      ? []
      : result.rows.map((row) =>
        recordJson(call, result.table.name, row, result.fields)
      ),
  }, call.headers);
}

const APEX_TYPES: Record<string, string> = {
  id: "Id",
  reference: "Id",
  boolean: "Boolean",
  int: "Integer",
  datetime: "Datetime",
};

/**
 * `query?columns=true`: the columns a query would return, not its records.
 * Not in the facts file: the shape is Salesforce's as the CLI reads it,
 * filled in from the demo org's describe.
 */
function describeColumns({ table, fields }: QueryResult) {
  const spec = findSObject(table.name)!;
  return {
    columnMetadata: fields.map((name) => {
      const field = spec.fields.find((f) => f.name === name)!;
      return {
        aggregate: false,
        apexType: APEX_TYPES[field.type] ?? "String",
        booleanType: field.type === "boolean",
        columnName: name,
        custom: false,
        displayName: name,
        foreignKeyName: null,
        insertable: field.createable,
        joinColumns: [],
        numberType: field.type === "int",
        textType: !Object.hasOwn(APEX_TYPES, field.type),
        updatable: field.updateable,
      };
    }),
    entityName: table.name,
    groupBy: false,
    idSelected: fields.includes("Id"),
    keyPrefix: spec.keyPrefix,
  };
}

// ---------------------------------------------------------------------------
// Describe
// ---------------------------------------------------------------------------

/** The object named in a path, or Salesforce's 404. */
function sObjectOr404(call: Call, name: string): SObjectSpec | Response {
  return findSObject(name) ?? notFound(call.headers);
}

/** An object's entry in describe global, as Salesforce lists it. */
function globalEntry(call: Call, spec: SObjectSpec) {
  const writable = spec.writable;
  const sobject = `${call.data}/sobjects/${spec.name}`;
  return {
    activateable: false,
    createable: writable,
    custom: false,
    customSetting: false,
    deletable: writable,
    deprecatedAndHidden: false,
    feedEnabled: false,
    hasSubtypes: false,
    isSubtype: false,
    keyPrefix: spec.keyPrefix,
    label: spec.label,
    labelPlural: spec.labelPlural,
    layoutable: true,
    mergeable: writable,
    mruEnabled: writable,
    name: spec.name,
    queryable: true,
    replicateable: writable,
    retrieveable: true,
    searchable: writable,
    triggerable: writable,
    undeletable: writable,
    updateable: writable,
    urls: {
      sobject,
      describe: `${sobject}/describe`,
      rowTemplate: `${sobject}/{ID}`,
    },
  };
}

/** GET .../sobjects: describe global. */
function describeGlobal(call: Call): Response {
  return restJson(200, {
    encoding: "UTF-8",
    maxBatchSize: 200,
    sobjects: SOBJECTS.map((spec) => globalEntry(call, spec)),
  }, call.headers);
}

/** GET .../sobjects/Type: the object's basic information. */
function sObjectInfo(call: Call, name: string): Response {
  const spec = sObjectOr404(call, name);
  if (spec instanceof Response) return spec;
  return restJson(200, {
    objectDescribe: globalEntry(call, spec),
    recentItems: [],
  }, call.headers);
}

const SOAP_TYPES: Record<string, string> = {
  id: "tns:ID",
  reference: "tns:ID",
  boolean: "xsd:boolean",
  int: "xsd:int",
  datetime: "xsd:dateTime",
};

/** One field as sObject describe shows it. */
function describeField(field: FieldSpec) {
  const longText = field.type === "textarea";
  return {
    aggregatable: !longText,
    autoNumber: false,
    byteLength: field.length * 3,
    calculated: false,
    caseSensitive: false,
    createable: field.createable,
    custom: false,
    defaultValue: null,
    defaultedOnCreate: field.type === "datetime" ||
      /^(Owner|CreatedBy|LastModifiedBy)Id$/.test(field.name),
    digits: field.type === "int" ? 9 : 0,
    externalId: false,
    filterable: !longText,
    groupable: !longText && field.type !== "datetime",
    idLookup: field.name === "Id" || field.name === "Username",
    label: field.label,
    length: field.type === "int" || field.type === "boolean" ||
        field.type === "datetime"
      ? 0
      : field.length,
    name: field.name,
    nameField: field.name === "Name",
    nillable: field.nillable,
    picklistValues: (field.picklistValues ?? []).map((value) => ({
      active: true,
      defaultValue: false,
      label: value,
      validFor: null,
      value,
    })),
    precision: 0,
    referenceTo: field.referenceTo ? [field.referenceTo] : [],
    relationshipName: field.relationshipName ?? null,
    restrictedPicklist: false,
    scale: 0,
    soapType: SOAP_TYPES[field.type] ?? "xsd:string",
    sortable: !longText,
    type: field.type,
    unique: field.name === "Username",
    updateable: field.updateable,
  };
}

/** GET .../sobjects/Type/describe: the object, its fields, and the objects that point at it. */
function describe(call: Call, name: string): Response {
  const spec = sObjectOr404(call, name);
  if (spec instanceof Response) return spec;
  const children = SOBJECTS.flatMap((child) =>
    child.fields.filter((f) =>
      f.referenceTo === spec.name && f.name === "AccountId"
    )
      .map((f) => ({
        cascadeDelete: true,
        childSObject: child.name,
        deprecatedAndHidden: false,
        field: f.name,
        relationshipName: `${child.labelPlural}`,
      }))
  );
  return restJson(200, {
    ...globalEntry(call, spec),
    childRelationships: children,
    fields: spec.fields.map(describeField),
    recordTypeInfos: [],
  }, call.headers);
}

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

/** The record a path names, or Salesforce's 404 (with its wording for something that is not an id). */
function recordOr404(
  call: Call,
  spec: SObjectSpec,
  id: string,
): Row | Response {
  if (!/^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$/.test(id)) {
    return notFound(
      call.headers,
      `Provided external ID field does not exist or is not accessible: ${
        id.slice(0, 80)
      }`,
    );
  }
  return findRecord(dataOf(call.org), spec, id) ?? notFound(call.headers);
}

/** GET .../sobjects/Type/id[?fields=A,B]: the record, `attributes` first. */
function retrieve(call: Call, name: string, id: string): Response {
  const spec = sObjectOr404(call, name);
  if (spec instanceof Response) return spec;
  const row = recordOr404(call, spec, id);
  if (row instanceof Response) return row;
  const asked = call.url.searchParams.get("fields");
  if (asked === null) {
    return restJson(200, recordJson(call, spec.name, row), call.headers);
  }
  // The same checks as a query's: INVALID_FIELD for a field the object lacks.
  const result = run(call, () => ({
    select: asked.split(",").map((f) => f.trim()).filter(Boolean),
    from: spec.name,
    where: [{ field: "Id", equals: row.Id }],
    orderBy: [],
  }));
  if (result instanceof Response) return result;
  return restJson(
    200,
    recordJson(call, spec.name, row, result.fields),
    call.headers,
  );
}

/** A write on a read-only object: Salesforce's refusal, saying the demo keeps it fixed. */
function readOnly(call: Call, spec: SObjectSpec, verb: string): Response {
  return restError(
    400,
    "INVALID_TYPE_FOR_OPERATION",
    `entity type cannot be ${verb}: ${spec.name} (the demo org's ${spec.name} records are read-only; Accounts and Contacts can be written)`,
    call.headers,
  );
}

function writeError(call: Call, error: WriteError): Response {
  return restError(
    error.status,
    error.errorCode,
    error.message,
    call.headers,
    error.fields,
  );
}

/** POST .../sobjects/Type with a JSON body: 201 `{"id","success":true,"errors":[]}`. */
async function create(call: Call, name: string): Promise<Response> {
  const spec = sObjectOr404(call, name);
  if (spec instanceof Response) return spec;
  if (!spec.writable) return readOnly(call, spec, "inserted");
  const body = await readJson(call);
  if (body instanceof Response) return body;
  const id = createRecord(call.org, spec, body.value);
  if (typeof id !== "string") return writeError(call, id);
  return restJson(201, { id, success: true, errors: [] }, call.headers);
}

/** PATCH .../sobjects/Type/id with a JSON body of the fields to change: 204. */
async function update(call: Call, name: string, id: string): Promise<Response> {
  const spec = sObjectOr404(call, name);
  if (spec instanceof Response) return spec;
  if (!spec.writable) return readOnly(call, spec, "updated");
  const row = recordOr404(call, spec, id);
  if (row instanceof Response) return row;
  const body = await readJson(call);
  if (body instanceof Response) return body;
  const error = updateRecord(call.org, spec, row, body.value);
  return error
    ? writeError(call, error)
    : restJson(204, undefined, call.headers);
}

/** DELETE .../sobjects/Type/id: 204. */
function destroy(call: Call, name: string, id: string): Response {
  const spec = sObjectOr404(call, name);
  if (spec instanceof Response) return spec;
  if (!spec.writable) return readOnly(call, spec, "deleted");
  const row = recordOr404(call, spec, id);
  if (row instanceof Response) return row;
  deleteRecord(call.org, row);
  return restJson(204, undefined, call.headers);
}

/** The request body as JSON, read no further than MAX_JSON_BYTES (a record is a few KB at most); Salesforce's JSON_PARSER_ERROR if it is not JSON. */
async function readJson(call: Call): Promise<{ value: unknown } | Response> {
  const text = await readBody(call.request, MAX_JSON_BYTES);
  if (text === null) {
    return restError(
      413,
      "REQUEST_ENTITY_TOO_LARGE",
      `The demo org reads request bodies of at most ${
        MAX_JSON_BYTES / 1024
      } KB`,
      call.headers,
    );
  }
  try {
    return { value: JSON.parse(text) };
  } catch (error) {
    return restError(
      400,
      "JSON_PARSER_ERROR",
      `Cannot parse the request body as JSON: ${
        (error as Error).message.slice(0, 120)
      }`,
      call.headers,
    );
  }
}
