/**
 * A real Salesforce client, jsforce, against an org: spawned by
 * `clients_test.ts` (jsforce leaves a timer that would trip the op
 * sanitizer in-process). Prints one JSON line per call; reads the address
 * the browser was sent back to on standard input.
 *
 * ```sh
 * deno run -A _jsforce_client.ts ORG_URL CLIENT_ID REDIRECT_URI
 * ```
 *
 * @module
 */

import { jsforce } from "./_test_deps.ts";

const [loginUrl, clientId, redirectUri] = Deno.args;
const say = (line: Record<string, unknown>) =>
  console.log(JSON.stringify(line));

/** Runs a call and prints what it gave, or the error jsforce raised (its name is the errorCode). */
async function attempt(name: string, call: () => Promise<unknown>) {
  try {
    say({ [name]: await call() });
  } catch (error) {
    const { name: code, message } = error as Error;
    say({ [name]: { error: code, message } });
  }
}

const oauth2 = new jsforce.OAuth2({
  loginUrl,
  clientId,
  redirectUri,
  useVerifier: true,
});
say({
  authorizationUrl: oauth2.getAuthorizationUrl({
    scope: "api id web refresh_token",
    state: "jsforce",
  }),
  verifierLength: oauth2.codeVerifier?.length,
});

const reader = Deno.stdin.readable.pipeThrough(new TextDecoderStream())
  .getReader();
let line = "";
while (!line.includes("\n")) line += (await reader.read()).value ?? "";
reader.releaseLock();
const code = new URL(line.trim()).searchParams.get("code") ?? "";

const tokens = await oauth2.requestToken(code);
say({ token_response: Object.keys(tokens) });
const conn = new jsforce.Connection({
  oauth2,
  instanceUrl: tokens.instance_url,
  accessToken: tokens.access_token,
  refreshToken: tokens.refresh_token,
  version: "50.0", // jsforce's default, older than the org's latest
});
await attempt("identity", async () => (await conn.identity()).username);
await attempt("query", async () => {
  const result = await conn.query<{ Name: string }>(
    "SELECT Id, Name FROM Account",
  );
  return { totalSize: result.totalSize, first: result.records[0].Name };
});
await attempt("filtered_query", async () => {
  const result = await conn.query<{ Name: string }>(
    "SELECT Id, Name FROM Account WHERE Industry = 'Energy' AND Type = 'Customer - Direct'",
  );
  return result.records.map((record) => record.Name);
});
await attempt(
  "find",
  async () =>
    (await conn.sobject("Contact").find({ LastName: "Forbes" }, ["Name"]))
      .map((record) => record.Name),
);
await attempt("describe", async () => {
  const account = await conn.sobject("Account").describe();
  const name = account.fields.find((field) => field.name === "Name");
  return {
    name: account.name,
    keyPrefix: account.keyPrefix,
    required: !name?.nillable,
  };
});
await attempt(
  "describe_global",
  async () => (await conn.describeGlobal()).sobjects.map((s) => s.name),
);

// Records: create, retrieve, update, retrieve again, destroy, and then nothing.
const accounts = conn.sobject("Account");
let created = "";
await attempt("create", async () => {
  const result = await accounts.create({
    Name: "jsforce Ltd",
    Industry: "Technology",
  });
  created = result.id ?? "";
  return { success: result.success, prefix: created.slice(0, 3) };
});
await attempt("retrieve", async () => (await accounts.retrieve(created)).Name);
await attempt(
  "update",
  async () =>
    (await accounts.update({ Id: created, BillingCity: "Lyon" })).success,
);
await attempt(
  "retrieve_updated",
  async () => (await accounts.retrieve(created)).BillingCity,
);
await attempt("destroy", async () => (await accounts.destroy(created)).success);
await attempt("retrieve_destroyed", () => accounts.retrieve(created));
await attempt("create_invalid", () => accounts.create({ Bogus: "x" }));
await attempt(
  "versions",
  async () => (await conn.request<unknown[]>("/services/data/")).length,
);
await attempt("limits", async () => (await conn.limits()).DailyApiRequests.Max);
// An instance URL kept with a trailing slash, as `sf org login access-token`
// stores it: jsforce then asks for //services/data/….
const slashed = new jsforce.Connection({
  instanceUrl: `${tokens.instance_url}/`,
  accessToken: tokens.access_token,
  version: "50.0",
});
await attempt("trailing_slash_query", async () =>
  (await slashed.query(
    "SELECT Id FROM Account WHERE Name = 'Edge Communications'",
  )).totalSize);
const refreshed = await oauth2.refreshToken(tokens.refresh_token!);
say({ refreshed: typeof refreshed.access_token });
await oauth2.revokeToken(tokens.refresh_token!);
say({ revoked: true });

// A connection that knows its identity URL (as authorize() leaves one) and
// cannot refresh: it must meet the revocation, as against Salesforce.
const dead = new jsforce.Connection({
  instanceUrl: tokens.instance_url,
  accessToken: refreshed.access_token,
  version: "50.0",
});
dead.userInfo = { id: "", organizationId: "", url: tokens.id };
await attempt("identity_after_revoke", () => dead.identity());
await attempt(
  "query_after_revoke",
  async () => await dead.query("SELECT Id FROM Account"),
);
Deno.exit(0); // jsforce keeps a timer alive
