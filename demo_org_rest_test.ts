/**
 * The demo org's REST API (demo_org/rest.ts, records.ts, front_door.ts), in
 * process: each shape and error, the Salesforce CLI's requests command by
 * command (as the CLI sent them to the demo org, measured by hand), writes
 * and their caps, the front door, and hostile input.
 */

import {
  assert,
  assertEquals,
  assertFalse,
  assertMatch,
  assertStringIncludes,
} from "./_test_deps.ts";
import { createDemoOrg, type DemoOrg, LATEST_API_VERSION } from "./demo_org.ts";
import { createCodeChallenge, createCodeVerifier } from "./pkce.ts";
import {
  FRONT_DOOR_LIFETIME_MS,
  MAX_FRONT_DOOR_LINKS,
  MAX_JSON_BYTES,
  MAX_RECORDS,
} from "./demo_org/limits.ts";

const REDIRECT_URI = "http://localhost:8000/callback";
const USER_ID = "0055g00000DEMOUAA5";
const EDGE = "001A0000006Vm9rIAC";
const BURLINGTON = "001A0000006Vm9sIAC";

/** A demo org for one test, without a socket; the test may move its clock. */
function newOrg(clock = { now: Date.now() }): DemoOrg {
  return createDemoOrg("http://127.0.0.1:8080", {
    redirectUri: REDIRECT_URI,
    now: () => clock.now,
  });
}

/** Signs in, allows and redeems the code, as a browser and the walkthrough would: a live access token. */
async function accessToken(org: DemoOrg, scope = "api web refresh_token") {
  const verifier = createCodeVerifier();
  const authorize = `${org.url}/services/oauth2/authorize?${new URLSearchParams(
    {
      response_type: "code",
      client_id: org.client.client_id,
      redirect_uri: REDIRECT_URI,
      code_challenge: await createCodeChallenge(verifier),
      code_challenge_method: "S256",
      scope,
    },
  )}`;
  const signedIn = await org.handle(
    new Request(`${org.url}/login`, {
      method: "POST",
      body: new URLSearchParams({
        username: "",
        password: "x",
        startURL: authorize.slice(org.url.length),
      }),
    }),
  );
  const cookie = signedIn.headers.get("set-cookie")!.split(";")[0];
  const page = await org.handle(
    new Request(authorize, { headers: { cookie } }),
  );
  const consent = /name="consent" value="([^"]+)"/.exec(await page.text())![1];
  const decided = await org.handle(
    new Request(`${org.url}/services/oauth2/authorize`, {
      method: "POST",
      headers: { cookie },
      body: new URLSearchParams({ consent, decision: "allow" }),
    }),
  );
  const code = new URL(decided.headers.get("location")!).searchParams.get(
    "code",
  )!;
  const tokens = await org.handle(
    new Request(`${org.url}/services/oauth2/token`, {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        client_id: org.client.client_id,
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier,
      }),
    }),
  );
  return (await tokens.json()).access_token as string;
}

interface Answer {
  status: number;
  headers: Headers;
  // deno-lint-ignore no-explicit-any -- each check reads its own JSON shape
  body: any;
}

/** Sends a request as a client would (Bearer token, JSON body) and reads the answer: JSON when it says so. */
async function send(
  org: DemoOrg,
  method: string,
  path: string,
  options: {
    token?: string;
    body?: BodyInit | null;
    headers?: Record<string, string>;
  } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (typeof options.body === "string") {
    headers["content-type"] ??= "application/json";
  }
  const response = await org.handle(
    new Request(`${org.url}${path}`, { method, headers, body: options.body }),
  );
  const text = await response.text();
  const json = response.headers.get("content-type")?.includes("json");
  return {
    status: response.status,
    headers: response.headers,
    body: json ? JSON.parse(text) : text,
  };
}

const q = (soql: string) => `q=${encodeURIComponent(soql)}`;

Deno.test("GET /services/data/ lists every version from 31.0 to the latest, with no token needed", async () => {
  const { status, headers, body } = await send(
    newOrg(),
    "GET",
    "/services/data/",
  );
  assertEquals(status, 200);
  assertEquals(headers.get("content-type"), "application/json;charset=UTF-8");
  assertEquals(body[0], {
    label: "Summer '14",
    url: "/services/data/v31.0",
    version: "31.0",
  });
  assertEquals(
    body.find((v: { version: string }) => v.version === "62.0").label,
    "Winter '25",
  );
  assertEquals(body.at(-1).version, LATEST_API_VERSION);
});

Deno.test("every REST error is Salesforce's JSON array, with its status and errorCode", async () => {
  const org = newOrg();
  const token = await accessToken(org);
  const idOnly = await accessToken(org, "id openid");
  const cases: [string, string, string | undefined, number, string, string][] =
    [
      [
        "GET",
        "/services/data/v62.0/limits",
        undefined,
        401,
        "INVALID_SESSION_ID",
        "Session expired or invalid",
      ],
      [
        "GET",
        "/services/data/v62.0/limits",
        "00D5g000004DEMO!forged",
        401,
        "INVALID_SESSION_ID",
        "Session expired or invalid",
      ],
      [
        "GET",
        "/services/data/v62.0/limits",
        idOnly,
        401,
        "INVALID_SESSION_ID",
        "not valid for use with the REST API",
      ],
      [
        "GET",
        "/services/data/v99.0/",
        token,
        404,
        "NOT_FOUND",
        "The requested resource does not exist",
      ],
      [
        "GET",
        "/services/apexrest/constructor",
        token,
        404,
        "NOT_FOUND",
        "does not exist",
      ],
      [
        "GET",
        "/services/data/v62.0/tooling/query?q=SELECT+Id+FROM+SandboxProcess",
        token,
        404,
        "NOT_FOUND",
        "does not exist",
      ],
      [
        "GET",
        "/services/data/v62.0/sobjects/Foo/describe",
        token,
        404,
        "NOT_FOUND",
        "does not exist",
      ],
      [
        "GET",
        `/services/data/v62.0/sobjects/User/005000000000000AAA`,
        token,
        404,
        "NOT_FOUND",
        "does not exist",
      ],
      [
        "GET",
        `/services/data/v62.0/sobjects/Contact/${EDGE}`,
        token,
        404,
        "NOT_FOUND",
        "does not exist",
      ],
      [
        "GET",
        "/services/data/v62.0/sobjects/Account/Foo",
        token,
        404,
        "NOT_FOUND",
        "Provided external ID field does not exist or is not accessible: Foo",
      ],
      [
        "GET",
        `/services/data/v62.0/sobjects/Account/${EDGE}?fields=Name,Bogus`,
        token,
        400,
        "INVALID_FIELD",
        "No such column 'Bogus' on entity 'Account'",
      ],
      [
        "PUT",
        `/services/data/v62.0/sobjects/Account/${EDGE}`,
        token,
        405,
        "METHOD_NOT_ALLOWED",
        "HTTP Method 'PUT' not allowed. Allowed are HEAD,GET,PATCH,DELETE",
      ],
      [
        "POST",
        "/services/data/v62.0/limits",
        token,
        405,
        "METHOD_NOT_ALLOWED",
        "Allowed are HEAD,GET",
      ],
      [
        "GET",
        `/services/data/v62.0/query?${q("SELECT Id FROM ScratchOrgInfo")}`,
        token,
        400,
        "INVALID_TYPE",
        "sObject type 'ScratchOrgInfo' is not supported",
      ],
      [
        "GET",
        `/services/data/v62.0/query?${q("SELECT Bogus FROM Account")}`,
        token,
        400,
        "INVALID_FIELD",
        "No such column 'Bogus'",
      ],
      [
        "GET",
        "/services/data/v62.0/query?q=DELETE%20everything",
        token,
        400,
        "MALFORMED_QUERY",
        "expected SELECT",
      ],
      [
        "GET",
        "/services/data/v62.0/query",
        token,
        400,
        "MALFORMED_QUERY",
        "unexpected end of query",
      ],
      [
        "GET",
        `/services/data/v62.0/query?${
          q("SELECT Id FROM Account WHERE Id = 'x'")
        }`,
        token,
        400,
        "INVALID_QUERY_FILTER_OPERATOR",
        "invalid ID field: x",
      ],
    ];
  for (const [method, path, bearer, status, errorCode, message] of cases) {
    const answer = await send(org, method, path, { token: bearer });
    assertEquals(answer.status, status, path);
    assertEquals(
      answer.headers.get("content-type"),
      "application/json;charset=UTF-8",
      path,
    );
    assertEquals(answer.body.length, 1, path);
    assertEquals(answer.body[0].errorCode, errorCode, path);
    assertStringIncludes(answer.body[0].message, message, path);
  }
});

Deno.test("the Salesforce CLI's requests, command by command, get the answers it reads", async () => {
  const org = newOrg();
  const token = await accessToken(org);
  const context = { created: "" };
  type Check = (body: Answer["body"]) => void;
  // [command, method, path, JSON body, status, check]; in order, since writes change the org.
  const steps: [
    string,
    string,
    string | (() => string),
    string | null,
    number,
    Check,
  ][] = [
    [
      "org login web",
      "GET",
      `/services/data/v51.0/sobjects/User/${USER_ID}`,
      null,
      200,
      (b) => {
        assertEquals(b.attributes, {
          type: "User",
          url: `/services/data/v51.0/sobjects/User/${USER_ID}`,
        });
        assertEquals([b.Id, b.Username], [USER_ID, "learner@demo-org.example"]);
      },
    ],
    [
      "org login web",
      "GET",
      `/services/data/v51.0/query?${
        q("SELECT Id FROM ScratchOrgInfo limit 1")
      }`,
      null,
      400,
      (b) => {
        assertEquals(b[0].errorCode, "INVALID_TYPE"); // a normal org: not a Dev Hub
      },
    ],
    [
      "org login web",
      "GET",
      "/services/data",
      null,
      200,
      (b) => assertEquals(b.at(-1).version, LATEST_API_VERSION),
    ],
    [
      "org login web",
      "GET",
      `/services/data/v66.0/query?${
        q("SELECT Name, InstanceName, IsSandbox, TrialExpirationDate, NamespacePrefix, OrganizationType FROM Organization")
      }`,
      null,
      200,
      (b) => {
        assertEquals([b.totalSize, b.done], [1, true]);
        assertEquals(b.records[0].attributes.type, "Organization");
        assertEquals(
          [b.records[0].IsSandbox, b.records[0].TrialExpirationDate],
          [false, null],
        );
      },
    ],
    ["org display", "GET", "/services/data/v66.0", null, 200, (b) => {
      assertEquals(b.identity, org.identityUrl);
      assertEquals(b.query, "/services/data/v66.0/query");
    }],
    [
      "org display user",
      "GET",
      `/services/data/v66.0/query?${
        q("SELECT name FROM Profile WHERE Id IN (SELECT ProfileId FROM User WHERE username='learner@demo-org.example')")
      }`,
      null,
      200,
      (b) => {
        assertEquals(b.totalSize, 1);
        assertEquals(b.records[0].Name, "System Administrator");
        assertMatch(b.records[0].attributes.url, /\/sobjects\/Profile\/00e/);
      },
    ],
    [
      "org display user",
      "GET",
      `/services/data/v66.0/query?${
        q("SELECT id FROM User WHERE username='learner@demo-org.example'")
      }`,
      null,
      200,
      (b) => {
        assertEquals(b.records.map((r: { Id: string }) => r.Id), [USER_ID]);
      },
    ],
    [
      "data query",
      "GET",
      `/services/data/v66.0/query?${
        q("SELECT Id, Name FROM Account WHERE Name = 'Edge Communications'")
      }`,
      null,
      200,
      (b) => {
        assertEquals(b.records, [{
          attributes: {
            type: "Account",
            url: `/services/data/v66.0/sobjects/Account/${EDGE}`,
          },
          Id: EDGE,
          Name: "Edge Communications",
        }]);
      },
    ],
    [
      "data query",
      "GET",
      `/services/data/v66.0/query?${
        q("SELECT Id, Name FROM Account WHERE Name = 'Edge Communications'")
      }&columns=true`,
      null,
      200,
      (b) => {
        assertEquals(b.entityName, "Account");
        assertEquals(
          b.columnMetadata.map((c: { columnName: string }) => c.columnName),
          ["Id", "Name"],
        );
        assertEquals(b.keyPrefix, "001");
      },
    ],
    [
      "data query",
      "GET",
      `/services/data/v66.0/query?${q("SELECT COUNT() FROM Contact")}`,
      null,
      200,
      (b) => {
        assertEquals(b, { totalSize: 6, done: true, records: [] });
      },
    ],
    [
      "data query",
      "GET",
      `/services/data/v66.0/query?${
        q("SELECT Name, Industry FROM Account ORDER BY Name DESC LIMIT 3")
      }`,
      null,
      200,
      (b) => {
        assertEquals(b.records.map((r: { Name: string }) => r.Name), [
          "United Oil & Gas",
          "Pyramid Construction",
          "Grand Hotels & Resorts",
        ]);
      },
    ],
    [
      "data query",
      "GET",
      `/services/data/v66.0/query?${
        q("SELECT Name FROM Account WHERE Name LIKE 'E%'")
      }`,
      null,
      400,
      (b) => {
        assertEquals(b[0].errorCode, "MALFORMED_QUERY");
        assertStringIncludes(b[0].message, "does not support LIKE");
      },
    ],
    [
      "data get record --record-id",
      "GET",
      `/services/data/v66.0/sobjects/Account/${EDGE}`,
      null,
      200,
      (b) => {
        assertEquals(Object.keys(b).slice(0, 3), ["attributes", "Id", "Name"]);
        assertEquals([b.Name, b.Industry, b.NumberOfEmployees], [
          "Edge Communications",
          "Electronics",
          1000,
        ]);
      },
    ],
    [
      "data get record --where",
      "GET",
      `/services/data/v66.0/query?${
        q("SELECT id FROM Contact WHERE LastName = 'Forbes'")
      }`,
      null,
      200,
      (b) => {
        assertEquals(b.totalSize, 1); // one record, or the CLI refuses the --where
        context.created = b.records[0].Id;
      },
    ],
    [
      "data get record --where",
      "GET",
      () => `/services/data/v66.0/sobjects/Contact/${context.created}`,
      null,
      200,
      (b) => {
        assertEquals([b.Name, b.AccountId], ["Sean Forbes", EDGE]);
      },
    ],
    [
      "data create record",
      "POST",
      "/services/data/v66.0/sobjects/Account",
      '{"Name":"Acme","Industry":"Energy","NumberOfEmployees":"12"}',
      201,
      (b) => {
        assertEquals([b.success, b.errors], [true, []]);
        assertMatch(b.id, /^001[A-Za-z0-9]{15}$/);
        context.created = b.id;
      },
    ],
    [
      "data update record --where",
      "GET",
      `/services/data/v66.0/query?${
        q("SELECT id FROM Account WHERE Name = 'Acme'")
      }`,
      null,
      200,
      (b) => {
        assertEquals(b.records.map((r: { Id: string }) => r.Id), [
          context.created,
        ]);
      },
    ],
    [
      "data update record",
      "PATCH",
      () => `/services/data/v66.0/sobjects/Account/${context.created}`,
      '{"BillingCity":"Paris"}',
      204,
      (b) => {
        assertEquals(b, "");
      },
    ],
    [
      "data get record",
      "GET",
      () => `/services/data/v66.0/sobjects/Account/${context.created}`,
      null,
      200,
      (b) => {
        assertEquals([b.Name, b.Industry, b.NumberOfEmployees, b.BillingCity], [
          "Acme",
          "Energy",
          12,
          "Paris",
        ]);
        assertEquals([b.OwnerId, b.CreatedById], [USER_ID, USER_ID]);
      },
    ],
    [
      "data delete record",
      "DELETE",
      () => `/services/data/v66.0/sobjects/Account/${context.created}`,
      null,
      204,
      (b) => {
        assertEquals(b, "");
      },
    ],
    [
      "data get record",
      "GET",
      () => `/services/data/v66.0/sobjects/Account/${context.created}`,
      null,
      404,
      (b) => {
        assertEquals(b[0].errorCode, "NOT_FOUND");
      },
    ],
    [
      "data create record",
      "POST",
      "/services/data/v66.0/sobjects/Account",
      '{"Name":"Acme","IsX":true}',
      400,
      (b) => {
        assertEquals(b, [{
          message: "No such column 'IsX' on sobject of type Account",
          errorCode: "INVALID_FIELD",
        }]);
      },
    ],
    [
      "data create record",
      "POST",
      "/services/data/v66.0/sobjects/Contact",
      '{"FirstName":"Ann"}',
      400,
      (b) => {
        assertEquals(b, [{
          message: "Required fields are missing: [LastName]",
          errorCode: "REQUIRED_FIELD_MISSING",
          fields: ["LastName"],
        }]);
      },
    ],
    [
      "sobject describe",
      "GET",
      "/services/data/v66.0/sobjects/Account/describe",
      null,
      200,
      (b) => {
        assertEquals([b.name, b.keyPrefix, b.createable], [
          "Account",
          "001",
          true,
        ]);
        const name = b.fields.find((f: { name: string }) => f.name === "Name");
        assertEquals(
          [
            name.type,
            name.length,
            name.nillable,
            name.createable,
            name.updateable,
            name.soapType,
          ],
          ["string", 255, false, true, true, "xsd:string"],
        );
        assertEquals(b.childRelationships[0].relationshipName, "Contacts");
        assertEquals(
          b.urls.rowTemplate,
          "/services/data/v66.0/sobjects/Account/{ID}",
        );
      },
    ],
    ["sobject list", "GET", "/services/data/v66.0/sobjects", null, 200, (b) => {
      assertEquals([b.encoding, b.maxBatchSize], ["UTF-8", 200]);
      assertEquals(b.sobjects.map((s: { name: string }) => s.name), [
        "Account",
        "Contact",
        "User",
        "Profile",
        "Organization",
      ]);
      assertEquals(b.sobjects.map((s: { keyPrefix: string }) => s.keyPrefix), [
        "001",
        "003",
        "005",
        "00e",
        "00D",
      ]);
      assertFalse(b.sobjects.some((s: { custom: boolean }) => s.custom));
    }],
    [
      "api request rest",
      "GET",
      `/services/data/v66.0/sobjects/Account/${BURLINGTON}?fields=Name,Industry`,
      null,
      200,
      (b) => {
        assertEquals(b, {
          attributes: {
            type: "Account",
            url: `/services/data/v66.0/sobjects/Account/${BURLINGTON}`,
          },
          Name: "Burlington Textiles",
          Industry: "Apparel",
        });
      },
    ],
    [
      "limits api display",
      "GET",
      "/services/data/v66.0/limits",
      null,
      200,
      (b) => {
        assertEquals(b.DailyApiRequests.Max, 15000);
        assert(b.DailyApiRequests.Remaining < 15000);
      },
    ],
    // `org login access-token` keeps the instance URL with its trailing slash.
    [
      "org login access-token",
      "GET",
      "//services/data",
      null,
      200,
      (b) => assertEquals(b[0].version, "31.0"),
    ],
    [
      "data query, after org login access-token",
      "GET",
      `//services/data/v66.0/query?${
        q("SELECT Id, Name FROM Account WHERE Industry = 'Energy'")
      }`,
      null,
      200,
      (b) => {
        assertEquals(b.records.map((r: { Name: string }) => r.Name), [
          "United Oil & Gas",
        ]);
      },
    ],
  ];
  for (const [command, method, path, body, status, check] of steps) {
    const where = typeof path === "string" ? path : path();
    const answer = await send(org, method, where, { token, body });
    assertEquals(answer.status, status, `sf ${command}: ${method} ${where}`);
    if (where.includes("/v")) { // an API call, not the version list
      assertMatch(
        answer.headers.get("sforce-limit-info")!,
        /^api-usage=\d+\/15000$/,
      );
    }
    check(answer.body);
  }
});

Deno.test("rows put attributes first and spell fields as the object does, whatever case they were asked in", async () => {
  const org = newOrg();
  const token = await accessToken(org);
  const user = await send(
    org,
    "GET",
    `/services/data/v51.0/sobjects/User/${USER_ID}?fields=username`,
    { token },
  );
  assertEquals(user.body, {
    attributes: {
      type: "User",
      url: `/services/data/v51.0/sobjects/User/${USER_ID}`,
    },
    Username: "learner@demo-org.example",
  });
  const query = await send(
    org,
    "GET",
    `/services/data/v62.0/query?${q("select id, name from account limit 2")}`,
    { token },
  );
  assertEquals(query.body.totalSize, 2);
  assertEquals(Object.keys(query.body.records[0]), [
    "attributes",
    "Id",
    "Name",
  ]);
  // The 15-character id finds the record too, and answers with the 18.
  const short = await send(
    org,
    "GET",
    `/services/data/v62.0/sobjects/Account/${EDGE.slice(0, 15)}`,
    { token },
  );
  assertEquals(short.body.Id, EDGE);
});

Deno.test("a filtered query never returns unfiltered rows: each Account and Contact is found by each of its values, and only records with that value", async () => {
  const org = newOrg();
  const token = await accessToken(org);
  for (
    const [type, fields] of [["Account", [
      "Id",
      "Name",
      "Industry",
      "BillingCity",
      "Type",
    ]], ["Contact", ["Id", "LastName", "Email", "AccountId"]]] as const
  ) {
    const all = await send(
      org,
      "GET",
      `/services/data/v66.0/query?${
        q(`SELECT ${fields.join(", ")} FROM ${type}`)
      }`,
      { token },
    );
    assert(all.body.totalSize >= 5);
    for (const record of all.body.records) {
      for (const field of fields) {
        const soql = `SELECT ${
          fields.join(", ")
        } FROM ${type} WHERE ${field} = '${record[field]}'`;
        const { body } = await send(
          org,
          "GET",
          `/services/data/v66.0/query?${q(soql)}`,
          { token },
        );
        assert(
          body.records.some((r: { Id: string }) => r.Id === record.Id),
          soql,
        );
        for (const found of body.records) {
          assertEquals(
            found[field].toLowerCase(),
            record[field].toLowerCase(),
            soql,
          );
        }
        const expected = all.body.records.filter((r: Record<string, string>) =>
          r[field].toLowerCase() === record[field].toLowerCase()
        );
        assertEquals(body.totalSize, expected.length, soql);
      }
    }
  }
});

Deno.test("writes check each field as Salesforce does, and deleting an Account deletes its Contacts", async () => {
  const org = newOrg();
  const token = await accessToken(org);
  const post = (type: string, body: string) =>
    send(org, "POST", `/services/data/v66.0/sobjects/${type}`, { token, body });
  const cases: [string, string, number, string, string][] = [
    [
      "Account",
      '{"Name":""}',
      400,
      "REQUIRED_FIELD_MISSING",
      "Required fields are missing: [Name]",
    ],
    [
      "Account",
      `{"Name":"${"x".repeat(256)}"}`,
      400,
      "STRING_TOO_LONG",
      "Account Name: data value too large: xxxxxxxxxxxxxxxxxxxx… (max length=255)",
    ],
    [
      "Account",
      `{"Name":"A","Description":"${"x".repeat(4001)}"}`,
      400,
      "STRING_TOO_LONG",
      "(max length=4000)",
    ],
    [
      "Account",
      '{"Name":"A","Id":"001000000000000AAA"}',
      400,
      "INVALID_FIELD_FOR_INSERT_UPDATE",
      "Unable to create/update fields: Id.",
    ],
    [
      "Account",
      '{"Name":"A","CreatedDate":"2020-01-01T00:00:00.000+0000"}',
      400,
      "INVALID_FIELD_FOR_INSERT_UPDATE",
      "CreatedDate",
    ],
    [
      "Account",
      '{"Name":"A","NumberOfEmployees":"many"}',
      400,
      "JSON_PARSER_ERROR",
      "Cannot deserialize instance of int",
    ],
    [
      "Account",
      '{"Name":{"first":"A"}}',
      400,
      "JSON_PARSER_ERROR",
      "Cannot deserialize",
    ],
    ["Account", '["Name"]', 400, "JSON_PARSER_ERROR", "START_ARRAY"],
    [
      "Account",
      "{not json",
      400,
      "JSON_PARSER_ERROR",
      "Cannot parse the request body as JSON",
    ],
    [
      "Contact",
      '{"LastName":"Lee","Email":"not-an-address"}',
      400,
      "INVALID_EMAIL_ADDRESS",
      "Email: invalid email address: not-an-address",
    ],
    [
      "Contact",
      '{"LastName":"Lee","AccountId":"003000000000000AAA"}',
      400,
      "MALFORMED_ID",
      "Account ID: id value of incorrect type",
    ],
    [
      "Contact",
      '{"LastName":"Lee","AccountId":"001000000000000AAA"}',
      400,
      "INVALID_CROSS_REFERENCE_KEY",
      "invalid cross reference id",
    ],
    [
      "Contact",
      '{"LastName":"Lee","Name":"Ann Lee"}',
      400,
      "INVALID_FIELD_FOR_INSERT_UPDATE",
      "Name",
    ],
    [
      "User",
      '{"LastName":"Lee"}',
      400,
      "INVALID_TYPE_FOR_OPERATION",
      "entity type cannot be inserted: User",
    ],
    [
      "Organization",
      '{"Name":"Mine"}',
      400,
      "INVALID_TYPE_FOR_OPERATION",
      "entity type cannot be inserted: Organization",
    ],
    ["Foo", '{"Name":"x"}', 404, "NOT_FOUND", "does not exist"],
  ];
  for (const [type, body, status, errorCode, message] of cases) {
    const answer = await post(type, body);
    assertEquals(
      [answer.status, answer.body[0].errorCode],
      [status, errorCode],
      body,
    );
    assertStringIncludes(answer.body[0].message, message, body);
  }
  // Field names in any case, text from numbers, booleans from text, a Contact's Name computed.
  const account = await post(
    "Account",
    '{"attributes":{"type":"Account"},"name":"Lee Ltd","NUMBEROFEMPLOYEES":7,"Phone":123}',
  );
  assertEquals(account.status, 201, JSON.stringify(account.body));
  const contact = await post(
    "Contact",
    `{"FirstName":"Ann","LastName":"Lee","AccountId":"${
      account.body.id.slice(0, 15)
    }"}`,
  );
  const read = (type: string, id: string) =>
    send(org, "GET", `/services/data/v66.0/sobjects/${type}/${id}`, { token });
  const lee = (await read("Account", account.body.id)).body;
  assertEquals([lee.Name, lee.NumberOfEmployees, lee.Phone], [
    "Lee Ltd",
    7,
    "123",
  ]);
  const ann = (await read("Contact", contact.body.id)).body;
  assertEquals([ann.Name, ann.AccountId], ["Ann Lee", account.body.id]); // kept in 18 characters
  const patch = (type: string, id: string, body: string) =>
    send(org, "PATCH", `/services/data/v66.0/sobjects/${type}/${id}`, {
      token,
      body,
    });
  assertEquals(
    (await patch("Contact", contact.body.id, '{"FirstName":"Anna"}')).status,
    204,
  );
  assertEquals((await read("Contact", contact.body.id)).body.Name, "Anna Lee");
  const emptied = await patch("Contact", contact.body.id, '{"LastName":null}');
  assertEquals([emptied.status, emptied.body[0].errorCode], [
    400,
    "REQUIRED_FIELD_MISSING",
  ]);
  const user = await patch("User", USER_ID, '{"FirstName":"X"}');
  assertEquals([user.status, user.body[0].errorCode], [
    400,
    "INVALID_TYPE_FOR_OPERATION",
  ]);
  assertEquals(
    (await patch("Account", "001000000000000AAA", '{"Name":"X"}')).status,
    404,
  );
  // An Account's Contacts go with it, as on Salesforce.
  assertEquals(
    (await send(
      org,
      "DELETE",
      `/services/data/v66.0/sobjects/Account/${account.body.id}`,
      { token },
    )).status,
    204,
  );
  assertEquals((await read("Contact", contact.body.id)).status, 404);
  assertEquals(
    (await send(
      org,
      "DELETE",
      `/services/data/v66.0/sobjects/User/${USER_ID}`,
      { token },
    )).body[0].errorCode,
    "INVALID_TYPE_FOR_OPERATION",
  );
});

Deno.test("records are capped in number, and bodies in size before they are read", async () => {
  const org = newOrg();
  const token = await accessToken(org);
  const post = (body: BodyInit, headers = {}) =>
    send(org, "POST", "/services/data/v66.0/sobjects/Account", {
      token,
      body,
      headers,
    });
  const count = async () =>
    (await send(
      org,
      "GET",
      `/services/data/v66.0/query?${q("SELECT COUNT() FROM Account")}`,
      { token },
    )).body.totalSize;
  const before = await count();
  let answer;
  for (let i = 0; i <= MAX_RECORDS; i++) {
    answer = await post(JSON.stringify({ Name: `Bulk ${i}` }));
    if (answer.status !== 201) break;
  }
  assertEquals([answer!.status, answer!.body[0].errorCode], [
    400,
    "STORAGE_LIMIT_EXCEEDED",
  ]);
  assertStringIncludes(
    answer!.body[0].message,
    `at most ${MAX_RECORDS} records`,
  );
  const accounts = await count();
  assert(accounts > before && accounts < MAX_RECORDS, String(accounts));
  // Deleting makes room again.
  const { body } = await send(
    org,
    "GET",
    `/services/data/v66.0/query?${
      q("SELECT Id FROM Account WHERE Name = 'Bulk 0'")
    }`,
    { token },
  );
  await send(
    org,
    "DELETE",
    `/services/data/v66.0/sobjects/Account/${body.records[0].Id}`,
    { token },
  );
  assertEquals((await post('{"Name":"One more"}')).status, 201);

  // A body that says it is too large is refused unread; one that turns out too large is cut off.
  const declared = await post("{}", {
    "content-length": String(MAX_JSON_BYTES + 1),
  });
  assertEquals([declared.status, declared.body[0].errorCode], [
    413,
    "REQUEST_ENTITY_TOO_LARGE",
  ]);
  let pulled = 0;
  const endless = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled += 1024;
      controller.enqueue(new Uint8Array(1024).fill(0x20));
    },
  });
  const streamed = await post(endless);
  assertEquals(streamed.status, 413);
  assert(pulled <= MAX_JSON_BYTES + 2 * 1024, `read ${pulled} bytes`);
});

Deno.test("under hostile writes the records and front-door links stay within their caps, a few MB in all", async () => {
  const org = newOrg();
  const token = await accessToken(org);
  // Each field as long as the client may make it; then a body past the limit, and a field past its length.
  const record = (i: number, junk = "") =>
    JSON.stringify({
      Name: `${i}`.padEnd(255, "n"),
      Description: "d".repeat(4000),
      Website: "w".repeat(255),
      BillingCity: "c".repeat(40),
      ...(junk ? { Junk: junk } : {}),
    });
  const path = "/services/data/v66.0/sobjects/Account";
  for (let i = 0; i < 3 * MAX_RECORDS; i++) {
    await send(org, "POST", path, { token, body: record(i) });
    await send(org, "POST", path, {
      token,
      body: record(i, "j".repeat(MAX_JSON_BYTES)),
    });
    const long = JSON.parse(record(i));
    long.Description = "d".repeat(MAX_JSON_BYTES - 2000); // refused: longer than the field
    await send(org, "POST", path, { token, body: JSON.stringify(long) });
    await send(org, "GET", "/services/oauth2/singleaccess", { token });
  }
  assertEquals(org.data!.records.size, MAX_RECORDS);
  assertEquals(org.frontDoorLinks!.size, MAX_FRONT_DOOR_LINKS);
  // What the org keeps, measured as text: 300 records of about 5 KB each.
  const kept = JSON.stringify([...org.data!.records.values()]).length +
    JSON.stringify([...org.frontDoorLinks!]).length;
  assert(kept < 2 * 1024 * 1024, `the org keeps ${kept >> 10} KiB`);
});

Deno.test("a double slash anywhere in a path is read as one", async () => {
  const org = newOrg();
  const token = await accessToken(org);
  for (
    const path of [
      "//services/data/v66.0/limits",
      "/services//data/v66.0//limits",
      "//services///data//v66.0/limits/",
    ]
  ) {
    const answer = await send(org, "GET", path, { token });
    assertEquals(answer.status, 200, path);
    assertEquals(answer.body.DailyApiRequests.Max, 15000, path);
  }
  const created = await send(
    org,
    "POST",
    "//services/data/v66.0/sobjects//Contact",
    { token, body: '{"LastName":"Slash"}' },
  );
  assertEquals(created.status, 201); // the body survives the rewrite
  assertEquals((await send(org, "GET", "//", {})).status, 200); // the home page
});

/** The front-door link `sf org open` gets, for a token. */
async function frontDoorLink(org: DemoOrg, token: string, redirect?: string) {
  const query = redirect === undefined
    ? ""
    : `?redirect_uri=${encodeURIComponent(redirect)}`;
  return await send(org, "GET", `/services/oauth2/singleaccess${query}`, {
    token,
  });
}

Deno.test("the front door: singleaccess hands out a one-time link that signs the browser in and goes to retURL on this org", async () => {
  const org = newOrg();
  const token = await accessToken(org);
  const { status, body } = await frontDoorLink(org, token);
  assertEquals(status, 200);
  const link = new URL(body.frontdoor_uri);
  assertEquals(link.origin + link.pathname, `${org.url}/secur/frontdoor.jsp`);
  assertMatch(link.searchParams.get("otp")!, /^[\w-]{43}$/);
  assertFalse(link.searchParams.has("retURL")); // the home page

  // What the browser does with it: signed in, and sent to the home page.
  const opened = await org.handle(new Request(link));
  assertEquals(opened.status, 302);
  assertEquals(opened.headers.get("location"), `${org.url}/`);
  const cookie = opened.headers.get("set-cookie")!;
  assertMatch(
    cookie,
    /^demo_org_sid_8080=[\w-]{43}; Path=\/; HttpOnly; SameSite=Lax$/,
  );
  const home = await org.handle(
    new Request(`${org.url}/`, { headers: { cookie: cookie.split(";")[0] } }),
  );
  assertStringIncludes(
    await home.text(),
    "Signed in as <strong>Demo Learner</strong>",
  );
  const signedOut = await org.handle(new Request(`${org.url}/`));
  assertFalse((await signedOut.text()).includes("Signed in as"));
  // The session is a real one: an authorize request skips the sign-in page.
  const authorize = await org.handle(
    new Request(
      `${org.url}/services/oauth2/authorize?${new URLSearchParams({
        response_type: "code",
        client_id: org.client.client_id,
        redirect_uri: REDIRECT_URI,
        code_challenge: await createCodeChallenge(createCodeVerifier()),
        code_challenge_method: "S256",
        scope: "api web",
      })}`,
      { headers: { cookie: cookie.split(";")[0] } },
    ),
  );
  const html = await authorize.text();
  assertFalse(html.includes('action="/login"'));
  assertStringIncludes(html, 'name="consent"');

  // Once only.
  const again = await org.handle(new Request(link));
  assertEquals(again.status, 400);
  assertEquals(again.headers.get("set-cookie"), null);
  await again.body?.cancel();

  // `sf org open --path lightning/setup/SetupOneHome/home`: no leading slash.
  const deep = new URL(
    (await frontDoorLink(org, token, "lightning/setup/SetupOneHome/home")).body
      .frontdoor_uri,
  );
  assertEquals(
    deep.searchParams.get("retURL"),
    "/lightning/setup/SetupOneHome/home",
  );
  const went = await org.handle(new Request(deep));
  assertEquals(
    went.headers.get("location"),
    `${org.url}/lightning/setup/SetupOneHome/home`,
  );
});

Deno.test("the front door is no open redirect, needs a live token with web, and keeps few links for a short time", async () => {
  const clock = { now: Date.now() };
  const org = newOrg(clock);
  const token = await accessToken(org);
  for (
    const redirect of [
      "https://evil.example/",
      "//evil.example/",
      "/\\evil.example",
      "javascript:alert(1)",
      "/ spaced",
      "x".repeat(3000),
    ]
  ) {
    const { status, body } = await frontDoorLink(org, token, redirect);
    assertEquals([status, body.error], [400, "invalid_request"], redirect);
  }
  // A retURL edited into the link is held to the same rule.
  const link = new URL((await frontDoorLink(org, token)).body.frontdoor_uri);
  link.searchParams.set("retURL", "https://evil.example/");
  const edited = await org.handle(new Request(link));
  assertEquals([edited.status, edited.headers.get("location")], [400, null]);
  await edited.body?.cancel();

  assertEquals(
    (await send(org, "GET", "/services/oauth2/singleaccess")).body,
    "Bad_OAuth_Token",
  );
  assertEquals(
    (await send(org, "GET", "/services/oauth2/singleaccess", {
      token: "00D!forged",
    })).status,
    403,
  );
  const apiOnly = await accessToken(org, "api");
  assertEquals((await frontDoorLink(org, apiOnly)).body, "Insufficient_Scope");

  const expiring = new URL(
    (await frontDoorLink(org, token)).body.frontdoor_uri,
  );
  clock.now += FRONT_DOOR_LIFETIME_MS + 1;
  const late = await org.handle(new Request(expiring));
  assertEquals(late.status, 400);
  await late.body?.cancel();
  for (let i = 0; i < 3 * MAX_FRONT_DOOR_LINKS; i++) {
    await frontDoorLink(org, token);
  }
  assertEquals(org.frontDoorLinks!.size, MAX_FRONT_DOOR_LINKS);
});

Deno.test("hostile requests get a Salesforce-shaped 4xx, never a 500", async () => {
  const org = newOrg();
  const token = await accessToken(org);
  const cases: [string, string, BodyInit | null][] = [
    ["GET", `/services/data/v66.0/query?q=${"%28".repeat(5000)}`, null],
    [
      "GET",
      `/services/data/v66.0/query?q=SELECT+Id+FROM+Account+WHERE+Name+IN+(${
        "'x',".repeat(2000)
      }'y')`,
      null,
    ],
    [
      "GET",
      `/services/data/v66.0/query?q=SELECT+${
        "Id,".repeat(3000)
      }Name+FROM+Account`,
      null,
    ],
    [
      "GET",
      "/services/data/v66.0/query?q=SELECT+Id+FROM+Account+WHERE+Name+%3D+%27%5Cu12%27",
      null,
    ],
    ["GET", "/services/data/v66.0/query?q=%00%FF%FE", null],
    ["GET", "/services/data/v66.0/query?q=SELECT+Id+FROM+__proto__", null],
    ["GET", "/services/data/v66.0/query?q=SELECT+__proto__+FROM+Account", null],
    [
      "GET",
      "/services/data/v66.0/query?q=SELECT+Id+FROM+Account+WHERE+constructor+%3D+1",
      null,
    ],
    ["GET", "/services/data/v66.0/sobjects/__proto__/describe", null],
    ["GET", "/services/data/v66.0/sobjects/Account/%E0%A4%A", null],
    ["GET", `/services/data/v66.0/sobjects/Account/${EDGE}?fields=,,,`, null],
    [
      "GET",
      `/services/data/v66.0/sobjects/Account/${EDGE}?fields=__proto__`,
      null,
    ],
    [
      "POST",
      "/services/data/v66.0/sobjects/Account",
      '{"__proto__":{"Name":"x"}}',
    ],
    [
      "POST",
      "/services/data/v66.0/sobjects/Account",
      '{"Name":"x","toString":"y"}',
    ],
    ["POST", "/services/data/v66.0/sobjects/Account", "null"],
    ["POST", "/services/data/v66.0/sobjects/Account", '"text"'],
    ["POST", "/services/data/v66.0/sobjects/Account", ""],
    [
      "POST",
      "/services/data/v66.0/sobjects/Account",
      `{"Name":"${"\\u0000".repeat(300)}"}`,
    ],
    [
      "POST",
      "/services/data/v66.0/sobjects/Account",
      new Uint8Array([0xff, 0xfe, 0x7b]),
    ],
    [
      "POST",
      "/services/data/v66.0/sobjects/Account",
      '{"Name":"x","NumberOfEmployees":1e400}',
    ],
    [
      "POST",
      "/services/data/v66.0/sobjects/Contact",
      '{"LastName":"x","AccountId":["001A0000006Vm9rIAC"]}',
    ],
    ["PATCH", `/services/data/v66.0/sobjects/Account/${EDGE}`, "[]"],
    [
      "PATCH",
      `/services/data/v66.0/sobjects/Account/${EDGE}`,
      '{"Name":true,"Industry":12}',
    ],
    ["DELETE", "/services/data/v66.0/sobjects/Account/Foo", null],
    ["OPTIONS", "/services/data/v66.0/sobjects", null],
    ["GET", "/services/data/v66.0/sobjects/Account/a/b/c", null],
    ["GET", "/services/data/v0.0/", null],
    ["GET", "/services/data/v66.0.1/", null],
    ["GET", "/services/oauth2/singleaccess?redirect_uri=%00", null],
    ["GET", "/secur/frontdoor.jsp?otp=__proto__", null],
    ["GET", "/secur/frontdoor.jsp", null],
  ];
  for (const [method, path, body] of cases) {
    const answer = await send(org, method, path, { token, body });
    assert(answer.status < 500, `${method} ${path}: ${answer.status}`);
    if (path.startsWith("/services/data")) {
      assert(
        answer.status < 300 ||
          Array.isArray(answer.body),
        `${method} ${path}: ${JSON.stringify(answer.body)}`,
      );
    }
  }
});
