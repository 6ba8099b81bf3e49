/**
 * The demo org's SOQL subset (demo_org/soql.ts), table by table: what it
 * reads, what it refuses and how, and what a query returns on a small table.
 */

import {
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "./_test_deps.ts";
import {
  MAX_SOQL_LENGTH,
  parseSoql,
  type Query,
  runQuery,
  SoqlError,
  type Table,
} from "./demo_org/soql.ts";

const ACCOUNT_1 = "001A0000006Vm9rIAC";
const ACCOUNT_2 = "001A0000006Vm9sIAC";

Deno.test("parseSoql() reads the subset: fields or COUNT(), FROM, WHERE = and IN with AND, ORDER BY, LIMIT", () => {
  const base = { where: [], orderBy: [] };
  const cases: [string, Query][] = [
    ["SELECT Id FROM Account", { select: ["Id"], from: "Account", ...base }],
    ["select id, name from account", {
      select: ["id", "name"],
      from: "account",
      ...base,
    }],
    ["SELECT COUNT() FROM Contact", {
      select: "count",
      from: "Contact",
      ...base,
    }],
    ["SELECT Id FROM Account WHERE Name = 'Edge Communications'", {
      select: ["Id"],
      from: "Account",
      where: [{ field: "Name", equals: "Edge Communications" }],
      orderBy: [],
    }],
    // What jsforce's find() and the CLI's --where build: no spaces around =.
    ["SELECT id FROM User WHERE username='learner@demo-org.example'", {
      select: ["id"],
      from: "User",
      where: [{ field: "username", equals: "learner@demo-org.example" }],
      orderBy: [],
    }],
    [
      "SELECT Id FROM Account WHERE IsDeleted = false AND NumberOfEmployees = -5 AND Type = null AND Rate = 1.5",
      {
        select: ["Id"],
        from: "Account",
        where: [
          { field: "IsDeleted", equals: false },
          { field: "NumberOfEmployees", equals: -5 },
          { field: "Type", equals: null },
          { field: "Rate", equals: 1.5 },
        ],
        orderBy: [],
      },
    ],
    [String.raw`SELECT Id FROM Account WHERE Name = 'O\'Brien \\ \n'`, {
      select: ["Id"],
      from: "Account",
      where: [{ field: "Name", equals: "O'Brien \\ \n" }],
      orderBy: [],
    }],
    ["SELECT Id FROM Account WHERE Industry IN ('Energy', 'Apparel')", {
      select: ["Id"],
      from: "Account",
      where: [{ field: "Industry", in: ["Energy", "Apparel"] }],
      orderBy: [],
    }],
    // `sf org display user` asks exactly this.
    [
      "SELECT name FROM Profile WHERE Id IN (SELECT ProfileId FROM User WHERE username='a@b.c')",
      {
        select: ["name"],
        from: "Profile",
        where: [{
          field: "Id",
          inQuery: {
            select: ["ProfileId"],
            from: "User",
            where: [{ field: "username", equals: "a@b.c" }],
            orderBy: [],
          },
        }],
        orderBy: [],
      },
    ],
    ["SELECT Name FROM Account ORDER BY Industry DESC, Name ASC, Id LIMIT 3", {
      select: ["Name"],
      from: "Account",
      where: [],
      orderBy: [
        { field: "Industry", descending: true },
        { field: "Name", descending: false },
        { field: "Id", descending: false },
      ],
      limit: 3,
    }],
    ["  SELECT Id\n  FROM Account\n  limit 0  ", {
      select: ["Id"],
      from: "Account",
      ...base,
      limit: 0,
    }],
  ];
  for (const [soql, expected] of cases) {
    assertEquals(parseSoql(soql), expected, soql);
  }
});

Deno.test("parseSoql() refuses everything else with MALFORMED_QUERY, naming what the demo org does not support and where", () => {
  const cases: [string, string][] = [
    [
      "SELECT Id FROM Account WHERE Name = 'a' OR Name = 'b'",
      "does not support OR",
    ],
    [
      "SELECT Id FROM Account WHERE Name LIKE 'E%'",
      "Column:35: unexpected token: 'LIKE': the demo org does not support LIKE",
    ],
    ["SELECT Id FROM Account WHERE NOT Name = 'a'", "does not support NOT"],
    [
      "SELECT Id FROM Account WHERE Name != 'a'",
      "does not support comparisons other than =",
    ],
    [
      "SELECT Id FROM Account WHERE NumberOfEmployees > 5",
      "does not support comparisons other than =",
    ],
    [
      "SELECT Id FROM Account WHERE NumberOfEmployees <= 5",
      "does not support comparisons other than =",
    ],
    ["SELECT Id FROM Account WHERE Name NOT IN ('a')", "does not support NOT"],
    [
      "SELECT Id FROM Account WHERE (Name = 'a')",
      "does not support parentheses in WHERE",
    ],
    [
      "SELECT Industry FROM Account GROUP BY Industry",
      "does not support GROUP BY",
    ],
    ["SELECT Id FROM Account LIMIT 5 OFFSET 5", "does not support OFFSET"],
    [
      "SELECT Id FROM Account ORDER BY Name NULLS LAST",
      "does not support NULLS FIRST and NULLS LAST",
    ],
    ["SELECT Id FROM Account FOR UPDATE", "does not support FOR VIEW"],
    ["SELECT Id FROM Account WITH SECURITY_ENFORCED", "does not support WITH"],
    ["SELECT Id FROM Account USING SCOPE mine", "does not support USING SCOPE"],
    ["SELECT COUNT(Id) FROM Account", "does not support COUNT(field)"],
    [
      "SELECT MAX(NumberOfEmployees) FROM Account",
      "does not support functions such as MAX()",
    ],
    [
      "SELECT Id, (SELECT Id FROM Contacts) FROM Account",
      "does not support subqueries in SELECT",
    ],
    [
      "SELECT Account.Name FROM Contact",
      "does not support relationship fields",
    ],
    [
      "SELECT Id FROM Contact WHERE Account.Name = 'x'",
      "does not support relationship fields",
    ],
    ["SELECT Id FROM Account a", "expected the end of the query"],
    [
      "SELECT Id FROM Account WHERE CreatedDate = TODAY",
      "does not support date literals",
    ],
    [
      "SELECT Id FROM Account WHERE CreatedDate = 2026-01-01T00:00:00Z",
      "does not support date literals",
    ],
    [
      "SELECT Id FROM Account WHERE Id = :accountId",
      "does not support date literals or bind variables",
    ],
    [
      "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact WHERE Id IN (SELECT Id FROM Contact))",
      "semi-join inside a semi-join",
    ],
    [
      "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact LIMIT 1)",
      "expected ) to close IN",
    ],
    ["SELECT Id FROM Account LIMIT 2.5", "a whole number after LIMIT"],
    ["SELECT Id FROM Account LIMIT -1", "a whole number after LIMIT"],
    [
      "SELECT Id FROM Account WHERE Name = 'unterminated",
      "unterminated string",
    ],
    [String.raw`SELECT Id FROM Account WHERE Name = 'a\%'`, "illegal escape"],
    ["SELECT Id FROM Account; DROP TABLE Account", "unexpected token: ';'"],
    ["SELECT FROM Account", "expected a field name"],
    ["SELECT Id, FROM Account", "expected a field name"],
    ["SELECT Id Account", "expected FROM"],
    ["SELECT Id FROM", "unexpected end of query: expected an object name"],
    ["DELETE FROM Account", "expected SELECT"],
    ["", "unexpected end of query: expected SELECT"],
    [
      "SELECT Id FROM Account\nWHERE Name = 'a'\n  OR Id = 'b'",
      "ERROR at Row:3:Column:3",
    ],
  ];
  for (const [soql, expected] of cases) {
    const error = assertThrows(
      () => parseSoql(soql),
      SoqlError,
      undefined,
      soql,
    );
    assertEquals(error.errorCode, "MALFORMED_QUERY", soql);
    assertStringIncludes(error.message, expected, soql);
    // Every refusal says what the demo org does read.
    assertStringIncludes(error.message, "The demo org reads SELECT", soql);
  }
  const long = assertThrows(
    () =>
      parseSoql(
        `SELECT Id FROM Account WHERE Name = '${"x".repeat(MAX_SOQL_LENGTH)}'`,
      ),
    SoqlError,
  );
  assertStringIncludes(long.message, "cannot be longer than 100000 characters");
});

/** Two small tables: accounts (one with no industry) and contacts pointing at them. */
function testTables(): Table[] {
  return [
    {
      name: "Account",
      fields: [
        { name: "Id", type: "id" },
        { name: "Name", type: "string" },
        { name: "Industry", type: "picklist" },
        { name: "NumberOfEmployees", type: "int" },
        { name: "IsPartner", type: "boolean" },
        { name: "Description", type: "textarea" },
        { name: "CreatedDate", type: "datetime" },
      ],
      rows: [
        {
          Id: ACCOUNT_1,
          Name: "Edge",
          Industry: "Energy",
          NumberOfEmployees: 10,
          IsPartner: true,
        },
        {
          Id: ACCOUNT_2,
          Name: "burlington",
          Industry: null,
          NumberOfEmployees: 30,
          IsPartner: false,
        },
        {
          Id: "001A0000006Vm9tIAC",
          Name: "Apex",
          Industry: "Apparel",
          NumberOfEmployees: 20,
          IsPartner: false,
        },
      ],
    },
    {
      name: "Contact",
      fields: [
        { name: "Id", type: "id" },
        { name: "LastName", type: "string" },
        { name: "AccountId", type: "reference" },
      ],
      rows: [
        {
          Id: "0035g00000DEMC1AAP",
          LastName: "Gonzalez",
          AccountId: ACCOUNT_1,
        },
        { Id: "0035g00000DEMC2AAP", LastName: "Forbes", AccountId: ACCOUNT_1 },
        { Id: "0035g00000DEMC3AAP", LastName: "Rogers", AccountId: ACCOUNT_2 },
      ],
    },
  ];
}

Deno.test("runQuery() returns exactly the rows that match, in order, limited; COUNT() counts them", () => {
  const cases: [string, string[] | number][] = [
    ["SELECT Name FROM Account", ["Edge", "burlington", "Apex"]],
    ["SELECT Name FROM Account WHERE Name = 'EDGE'", ["Edge"]], // text ignores case
    ["SELECT Name FROM Account WHERE Name = 'Edg'", []], // whole values only
    [`SELECT Name FROM Account WHERE Id = '${ACCOUNT_2}'`, ["burlington"]],
    [`SELECT Name FROM Account WHERE Id = '${ACCOUNT_2.slice(0, 15)}'`, [
      "burlington",
    ]], // 15 characters too
    [`SELECT Name FROM Account WHERE Id = '${ACCOUNT_2.toLowerCase()}'`, [
      "burlington",
    ]], // 18 characters ignore case
    [
      `SELECT Name FROM Account WHERE Id = '${
        ACCOUNT_2.slice(0, 15).toLowerCase()
      }'`,
      [],
    ], // 15 do not
    ["SELECT Name FROM Account WHERE Industry = null", ["burlington"]],
    ["SELECT Name FROM Account WHERE IsPartner = false", [
      "burlington",
      "Apex",
    ]],
    [
      "SELECT Name FROM Account WHERE IsPartner = false AND NumberOfEmployees = 20",
      ["Apex"],
    ],
    [
      "SELECT Name FROM Account WHERE IsPartner = true AND NumberOfEmployees = 20",
      [],
    ],
    ["SELECT Name FROM Account WHERE Industry IN ('energy', 'Apparel')", [
      "Edge",
      "Apex",
    ]],
    ["SELECT Name FROM Account ORDER BY Name", ["Apex", "burlington", "Edge"]], // ignoring case
    ["SELECT Name FROM Account ORDER BY Name DESC LIMIT 2", [
      "Edge",
      "burlington",
    ]],
    ["SELECT Name FROM Account ORDER BY Industry", [
      "burlington",
      "Apex",
      "Edge",
    ]], // nulls first
    ["SELECT Name FROM Account ORDER BY Industry DESC", [
      "Edge",
      "Apex",
      "burlington",
    ]], // nulls last
    [
      "SELECT Name FROM Account ORDER BY IsPartner DESC, NumberOfEmployees DESC",
      ["Edge", "burlington", "Apex"],
    ],
    ["SELECT Name FROM Account LIMIT 0", []],
    ["SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact)", [
      "Edge",
      "burlington",
    ]],
    [
      "SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact WHERE LastName = 'rogers')",
      ["burlington"],
    ],
    ["SELECT COUNT() FROM Contact", 3],
    [`SELECT COUNT() FROM Contact WHERE AccountId = '${ACCOUNT_1}'`, 2],
    ["SELECT COUNT() FROM Contact LIMIT 1", 1],
  ];
  for (const [soql, expected] of cases) {
    const result = runQuery(parseSoql(soql), testTables());
    if (typeof expected === "number") {
      assertEquals([result.count, result.rows.length], [true, expected], soql);
    } else {
      assertEquals(result.rows.map((row) => row.Name), expected, soql);
    }
  }
});

Deno.test("runQuery() names the fields as the object spells them, and refuses unknown objects, fields and ill-typed values as Salesforce does", () => {
  const spelled = runQuery(
    parseSoql("select name, ID from account"),
    testTables(),
  );
  assertEquals(spelled.fields, ["Name", "Id"]);
  const cases: [string, string, string][] = [
    [
      "SELECT Id FROM ScratchOrgInfo",
      "INVALID_TYPE",
      "sObject type 'ScratchOrgInfo' is not supported",
    ],
    [
      "SELECT Id FROM ScratchOrgInfo",
      "INVALID_TYPE",
      "(The demo org knows Account, Contact.)",
    ],
    [
      "SELECT Bogus FROM Account",
      "INVALID_FIELD",
      "No such column 'Bogus' on entity 'Account'",
    ],
    [
      "SELECT Id FROM Account WHERE Bogus = 1",
      "INVALID_FIELD",
      "No such column 'Bogus'",
    ],
    [
      "SELECT Id FROM Account ORDER BY Bogus",
      "INVALID_FIELD",
      "No such column 'Bogus'",
    ],
    [
      "SELECT Id FROM Account WHERE Id IN (SELECT Bogus FROM Contact)",
      "INVALID_FIELD",
      "on entity 'Contact'",
    ],
    [
      "SELECT Id, id FROM Account",
      "MALFORMED_QUERY",
      "duplicate field selected: Id",
    ],
    [
      "SELECT Id FROM Account WHERE Name = 5",
      "MALFORMED_QUERY",
      "must be of type string and should be enclosed in quotes",
    ],
    [
      "SELECT Id FROM Account WHERE NumberOfEmployees = '5'",
      "MALFORMED_QUERY",
      "must be of type int and should not be enclosed in quotes",
    ],
    [
      "SELECT Id FROM Account WHERE IsPartner = 'true'",
      "MALFORMED_QUERY",
      "must be of type boolean",
    ],
    [
      "SELECT Id FROM Account WHERE CreatedDate = '2026-01-01'",
      "MALFORMED_QUERY",
      "must be of type dateTime",
    ],
    [
      "SELECT Id FROM Account WHERE Industry IN ('Energy', 5)",
      "MALFORMED_QUERY",
      "must be of type string",
    ],
    [
      "SELECT Id FROM Account WHERE Id = 'nonsense'",
      "INVALID_QUERY_FILTER_OPERATOR",
      "invalid ID field: nonsense",
    ],
    [
      "SELECT Id FROM Account WHERE Description = 'x'",
      "INVALID_FIELD",
      "can not be filtered",
    ],
    [
      "SELECT Id FROM Account ORDER BY Description",
      "INVALID_FIELD",
      "can not be sorted",
    ],
    [
      "SELECT Id FROM Account WHERE Name IN (SELECT AccountId FROM Contact)",
      "MALFORMED_QUERY",
      "semi join",
    ],
    [
      "SELECT Id FROM Account WHERE Id IN (SELECT LastName FROM Contact)",
      "MALFORMED_QUERY",
      "semi join",
    ],
    [
      "SELECT Id FROM Account WHERE Id IN (SELECT Id, AccountId FROM Contact)",
      "MALFORMED_QUERY",
      "semi join",
    ],
  ];
  for (const [soql, errorCode, message] of cases) {
    const error = assertThrows(
      () => runQuery(parseSoql(soql), testTables()),
      SoqlError,
      undefined,
      soql,
    );
    assertEquals(error.errorCode, errorCode, soql);
    assertStringIncludes(error.message, message, soql);
  }
});
