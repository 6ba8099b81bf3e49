/**
 * The few REST API resources clients read right after login (facts K):
 * the version list, a version's resource map, the demo user's record, a few
 * canned SOQL queries, and limits. Small and canned, in Salesforce's shapes;
 * anything else gets Salesforce's own error, saying what the demo org knows.
 *
 * @module
 */

import {
  baseUrl,
  bearerGrant,
  type DemoOrgState,
  DISPLAY_NAME,
  identityUrlAt,
  LATEST_API_VERSION,
  ORG_ID,
  toId18,
  USER_ID,
  USERNAME,
} from "./state.ts";

/** Oldest API version listed; clients pin old ones (jsforce 50.0, the Salesforce CLI 51.0 at first). */
const OLDEST_API_VERSION = 31;
const DAILY_API_LIMIT = 15_000;

/** Salesforce's REST error body: a JSON array of `{message, errorCode}`. */
function restError(status: number, errorCode: string, message: string) {
  return restJson(status, [{ message, errorCode }]);
}

function restJson(status: number, body: unknown, headers = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      "content-type": "application/json;charset=UTF-8",
      "cache-control": "no-store",
      ...headers,
    },
  });
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
  await request.body?.cancel();
  const url = new URL(request.url);
  const path = url.pathname.replace(/\/+$/, "");
  if (request.method === "GET" && path === "/services/data") {
    // The version list needs no token, as on Salesforce.
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
  const data = `/services/data/v${version}`;
  const base = baseUrl(request);
  if (request.method !== "GET") return notFound();
  if (resource === "") {
    return restJson(200, resourceMap(data, base), headers);
  }
  if (resource === "/limits") return restJson(200, limits(org), headers);
  if (resource === "/query") {
    const columns = url.searchParams.get("columns") === "true";
    return query(url.searchParams.get("q") ?? "", data, headers, columns);
  }
  const user = /^\/sobjects\/User\/(\w{15}|\w{18})$/.exec(resource);
  if (user) return userRecord(user[1], data, url.searchParams, headers);
  return notFound();
}

function notFound(): Response {
  return restError(404, "NOT_FOUND", "The requested resource does not exist");
}

/** GET /services/data/vNN.N/: the resources of a version, `identity` among them. */
function resourceMap(data: string, base: string) {
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
  return {
    ...Object.fromEntries(names.map((name) => [name, `${data}/${name}`])),
    identity: identityUrlAt(base),
  };
}

function limits(org: DemoOrgState) {
  return {
    DailyApiRequests: {
      Max: DAILY_API_LIMIT,
      Remaining: DAILY_API_LIMIT - org.apiCalls,
    },
    DailyAsyncApexExecutions: { Max: 250_000, Remaining: 250_000 },
    DailyBulkApiBatches: { Max: 15_000, Remaining: 15_000 },
    DataStorageMB: { Max: 5, Remaining: 5 },
    FileStorageMB: { Max: 20, Remaining: 20 },
    SingleEmail: { Max: 15, Remaining: 15 },
  };
}

/** The records the demo org has, by sObject type. */
function records(data: string): Record<string, Record<string, unknown>[]> {
  const attributes = (type: string, id: string) => ({
    type,
    url: `${data}/sobjects/${type}/${id}`,
  });
  const organization = toId18(ORG_ID);
  const user = toId18(USER_ID);
  const accounts = [
    ["001A0000006Vm9rIAC", "Edge Communications", "Electronics", "Austin"],
    ["001A0000006Vm9sIAC", "Burlington Textiles", "Apparel", "Burlington"],
    ["001A0000006Vm9tIAC", "Pyramid Construction", "Construction", "Paris"],
    ["001A0000006Vm9uIAC", "Grand Hotels & Resorts", "Hospitality", "Chicago"],
    ["001A0000006Vm9vIAC", "United Oil & Gas", "Energy", "New York"],
  ];
  return {
    Organization: [{
      attributes: attributes("Organization", organization),
      Id: organization,
      Name: "Demo Org",
      InstanceName: "DEMO1",
      IsSandbox: false,
      OrganizationType: "Developer Edition",
      TrialExpirationDate: null,
      NamespacePrefix: null,
      LanguageLocaleKey: "en_US",
      CreatedDate: "2026-01-01T00:00:00.000+0000",
    }],
    User: [{
      attributes: attributes("User", user),
      Id: user,
      Username: USERNAME,
      Name: DISPLAY_NAME,
      FirstName: "Demo",
      LastName: "Learner",
      Email: USERNAME,
      IsActive: true,
      UserType: "Standard",
      LanguageLocaleKey: "en_US",
      TimeZoneSidKey: "Europe/London",
      CreatedDate: "2026-01-01T00:00:00.000+0000",
    }],
    Account: accounts.map(([id, name, industry, city]) => ({
      attributes: attributes("Account", id),
      Id: id,
      Name: name,
      Industry: industry,
      BillingCity: city,
      Type: "Customer - Direct",
      CreatedDate: "2026-01-01T00:00:00.000+0000",
    })),
  };
}

const KNOWN = "the demo org only knows Organization, User and Account";

/** GET …/query?q=: SOQL parsed just enough for `SELECT fields FROM Type [WHERE …] [LIMIT n]`. */
function query(
  soql: string,
  data: string,
  headers: Record<string, string>,
  columns = false,
): Response {
  const parsed =
    /^\s*SELECT\s+(.+?)\s+FROM\s+(\w+)(?:\s+WHERE\s+.+?)?(?:\s+ORDER\s+BY\s+.+?)?(?:\s+LIMIT\s+(\d+))?\s*$/is
      .exec(soql);
  if (!parsed) {
    return restError(
      400,
      "MALFORMED_QUERY",
      `unexpected token: the demo org reads only SELECT fields FROM Type [WHERE …] [LIMIT n]: ${
        soql.slice(0, 100)
      }`,
    );
  }
  const [, fieldList, type, limit] = parsed;
  const all = records(data);
  const typeName = Object.keys(all).find((name) =>
    name.toLowerCase() === type.toLowerCase()
  );
  if (!typeName) {
    return restError(
      400,
      "INVALID_TYPE",
      `sObject type '${type}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names. (${KNOWN}.)`,
    );
  }
  const fields = fieldList.split(",").map((f) => f.trim());
  const rows = all[typeName].slice(0, limit ? Number(limit) : undefined);
  const unknown = unknownField(all[typeName][0], typeName, fields);
  if (unknown) return unknown;
  if (columns) {
    return restJson(
      200,
      describeColumns(all[typeName][0], typeName, fields),
      headers,
    );
  }
  return restJson(200, {
    totalSize: rows.length,
    done: true,
    records: rows.map((row) => pick(row, fields)),
  }, headers);
}

/**
 * `query?columns=true`: the columns a query would return, not its records
 * (the Salesforce CLI asks it before `sf data query`). Not in the facts
 * file: the shape is Salesforce's as the CLI reads it, filled in with what
 * the demo org can know.
 */
function describeColumns(
  first: Record<string, unknown>,
  type: string,
  fields: string[],
) {
  const row = pick(first, fields);
  const names = Object.keys(row).filter((k) => k !== "attributes");
  return {
    columnMetadata: names.map((name) => ({
      aggregate: false,
      apexType: name === "Id" ? "Id" : "String",
      booleanType: typeof row[name] === "boolean",
      columnName: name,
      custom: false,
      displayName: name,
      foreignKeyName: null,
      insertable: name !== "Id",
      joinColumns: [],
      numberType: false,
      textType: typeof row[name] === "string" && name !== "Id",
      updatable: name !== "Id",
    })),
    entityName: type,
    groupBy: false,
    idSelected: names.includes("Id"),
    keyPrefix: String(first.Id).slice(0, 3),
  };
}

/** Salesforce's INVALID_FIELD for the first field the record lacks, if any. */
function unknownField(
  row: Record<string, unknown>,
  type: string,
  fields: string[],
): Response | undefined {
  const known = Object.keys(row).filter((k) => k !== "attributes");
  const missing = fields.find((f) =>
    !known.some((k) => k.toLowerCase() === f.toLowerCase())
  );
  if (missing === undefined) return undefined;
  return restError(
    400,
    "INVALID_FIELD",
    `No such column '${
      missing.slice(0, 80)
    }' on entity '${type}'. (The demo org's ${type} has ${known.join(", ")}.)`,
  );
}

/** A record's `attributes` and the named fields, spelled as the record spells them. */
function pick(row: Record<string, unknown>, fields: string[]) {
  const out: Record<string, unknown> = { attributes: row.attributes };
  for (const field of fields) {
    const key = Object.keys(row).find((k) =>
      k.toLowerCase() === field.toLowerCase()
    )!;
    out[key] = row[key];
  }
  return out;
}

/** GET …/sobjects/User/<id>[?fields=…]: the demo user's record. */
function userRecord(
  id: string,
  data: string,
  params: URLSearchParams,
  headers: Record<string, string>,
): Response {
  const [user] = records(data).User;
  if (id !== user.Id && id !== USER_ID) {
    return restError(
      404,
      "NOT_FOUND",
      "The requested resource does not exist",
    );
  }
  const fields = params.get("fields")?.split(",").map((f) => f.trim());
  if (!fields) return restJson(200, user, headers);
  return unknownField(user, "User", fields) ??
    restJson(200, pick(user, fields), headers);
}
