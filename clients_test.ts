/**
 * Real Salesforce clients against the standalone demo org: jsforce logs in
 * with PKCE and makes its first API calls, as a workshop would ask: queries,
 * describe, and an Account's whole life through `sobject('Account')`.
 */

import { assert, assertEquals } from "./_test_deps.ts";
import { signInAndDecide } from "./demo_org.ts";
import { childEnv, record, withDemoOrg } from "./_test_utils.ts";

const CLIENT = new URL("./_jsforce_client.ts", import.meta.url).pathname;

Deno.test("jsforce logs in with PKCE, reads identity, queries with and without filters, describes, creates, retrieves, updates and destroys an Account, refreshes, revokes, and then meets the revocation", async () => {
  await withDemoOrg(async (org, redirect) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLIENT, org.url, org.client.client_id, redirect],
      cwd: new URL(".", import.meta.url).pathname,
      env: childEnv(),
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let out = "";
    while (!out.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`jsforce ended early: ${await stderr}`);
      out += value;
    }
    const first = JSON.parse(out.split("\n")[0]);
    assertEquals(first.verifierLength, 171);
    const location = await signInAndDecide(first.authorizationUrl);
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(`${location.href}\n`));
    await writer.close();
    for (let chunk; !(chunk = await reader.read()).done;) out += chunk.value;
    const status = await child.status;
    record(out);
    await stderr;
    assertEquals(status.code, 0, out);
    const said = Object.assign(
      {},
      ...out.trim().split("\n").map((line) => JSON.parse(line)),
    );
    assertEquals(said.identity, "learner@demo-org.example");
    assertEquals(said.query, { totalSize: 5, first: "Edge Communications" });
    // Filters filter: the one Account, the one Contact, never all of them.
    assertEquals(said.filtered_query, ["United Oil & Gas"]);
    assertEquals(said.find, ["Sean Forbes"]);
    assertEquals(said.describe, {
      name: "Account",
      keyPrefix: "001",
      required: true,
    });
    assertEquals(said.describe_global, [
      "Account",
      "Contact",
      "User",
      "Profile",
      "Organization",
    ]);
    // sobject('Account'): create, retrieve, update, retrieve, destroy, then gone.
    assertEquals(said.create, { success: true, prefix: "001" });
    assertEquals(said.retrieve, "jsforce Ltd");
    assertEquals(said.update, true);
    assertEquals(said.retrieve_updated, "Lyon");
    assertEquals(said.destroy, true);
    assertEquals(said.retrieve_destroyed, {
      error: "NOT_FOUND",
      message: "The requested resource does not exist",
    });
    assertEquals(said.create_invalid, {
      error: "INVALID_FIELD",
      message: "No such column 'Bogus' on sobject of type Account",
    });
    assertEquals(said.trailing_slash_query, 1);
    assert(
      org.received.includes("GET //services/data/v50.0/query"),
      "jsforce asked for a double slash",
    );
    assertEquals(said.versions, 36);
    assertEquals(said.limits, 15000);
    assertEquals(said.refreshed, "string");
    assertEquals(said.revoked, true);
    // As against Salesforce: the identity URL answers 403, the REST API 401.
    assertEquals(said.identity_after_revoke, {
      error: "ERROR_HTTP_403",
      message: "Bad_OAuth_Token",
    });
    assertEquals(said.query_after_revoke, {
      error: "INVALID_SESSION_ID",
      message: "Session expired or invalid",
    });
  });
});
