/**
 * The demo org's data: five objects in Salesforce's shapes (Account,
 * Contact, User, Profile, Organization), a few records of each, and the
 * writes the REST API allows (create, update, delete Accounts and
 * Contacts), with Salesforce's checks and errors (facts L).
 *
 * Records live in memory, per demo org, and are capped in number and size
 * so that no client can grow the org without bound.
 *
 * @see https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_account.htm
 * @module
 */

import { MAX_RECORDS } from "./limits.ts";
import { idKey, type Row, type Table, type Value } from "./soql.ts";
import {
  type DemoOrgState,
  DISPLAY_NAME,
  ORG_ID,
  toId18,
  USER_ID,
  USERNAME,
} from "./state.ts";

/** A field as describe shows it. */
export interface FieldSpec {
  name: string;
  label: string;
  /** Salesforce's describe type: id, string, picklist, reference, boolean, int, email, phone, url, textarea, datetime. */
  type: string;
  /** The most characters it holds (text types), else 0. */
  length: number;
  /** May be empty; false for a required field. */
  nillable: boolean;
  createable: boolean;
  updateable: boolean;
  /** A reference's target object, and the relationship's name. */
  referenceTo?: string;
  relationshipName?: string;
  picklistValues?: string[];
}

/** An object as describe shows it. */
export interface SObjectSpec {
  name: string;
  label: string;
  labelPlural: string;
  keyPrefix: string;
  /** Whether the REST API may create, update and delete its records here. */
  writable: boolean;
  fields: FieldSpec[];
}

/** A field in one line: name, type, label, length, and flags (`c` createable, `u` updateable, `r` required). */
type FieldLine = [string, string, string, number, string, Partial<FieldSpec>?];

function fields(lines: FieldLine[]): FieldSpec[] {
  return lines.map(([name, type, label, length, flags, more]) => ({
    name,
    label,
    type,
    length,
    nillable: !flags.includes("r"),
    createable: flags.includes("c"),
    updateable: flags.includes("u"),
    ...more,
  }));
}

const toUser = (relationshipName: string) => ({
  referenceTo: "User",
  relationshipName,
});
/** The fields every object has, filled in by the org itself. */
const AUDIT: FieldLine[] = [
  ["CreatedDate", "datetime", "Created Date", 0, ""],
  ["CreatedById", "reference", "Created By ID", 18, "", toUser("CreatedBy")],
  ["LastModifiedDate", "datetime", "Last Modified Date", 0, ""],
  [
    "LastModifiedById",
    "reference",
    "Last Modified By ID",
    18,
    "",
    toUser("LastModifiedBy"),
  ],
];
const OWNER: FieldLine = [
  "OwnerId",
  "reference",
  "Owner ID",
  18,
  "cu",
  toUser("Owner"),
];

/** The objects the demo org knows. Salesforce's Account.Description holds 32,000 characters; the demo's 4,000 keep memory small. */
export const SOBJECTS: SObjectSpec[] = [
  {
    name: "Account",
    label: "Account",
    labelPlural: "Accounts",
    keyPrefix: "001",
    writable: true,
    fields: fields([
      ["Id", "id", "Account ID", 18, ""],
      ["Name", "string", "Account Name", 255, "cur"],
      ["Type", "picklist", "Account Type", 255, "cu", {
        picklistValues: [
          "Prospect",
          "Customer - Direct",
          "Customer - Channel",
          "Partner",
          "Other",
        ],
      }],
      ["Industry", "picklist", "Industry", 255, "cu", {
        picklistValues: [
          "Apparel",
          "Construction",
          "Electronics",
          "Energy",
          "Hospitality",
          "Technology",
          "Other",
        ],
      }],
      ["BillingCity", "string", "Billing City", 40, "cu"],
      ["Phone", "phone", "Account Phone", 40, "cu"],
      ["Website", "url", "Website", 255, "cu"],
      ["NumberOfEmployees", "int", "Employees", 0, "cu"],
      ["Description", "textarea", "Account Description", 4000, "cu"],
      OWNER,
      ...AUDIT,
    ]),
  },
  {
    name: "Contact",
    label: "Contact",
    labelPlural: "Contacts",
    keyPrefix: "003",
    writable: true,
    fields: fields([
      ["Id", "id", "Contact ID", 18, ""],
      ["AccountId", "reference", "Account ID", 18, "cu", {
        referenceTo: "Account",
        relationshipName: "Account",
      }],
      ["FirstName", "string", "First Name", 40, "cu"],
      ["LastName", "string", "Last Name", 80, "cur"],
      ["Name", "string", "Full Name", 121, ""],
      ["Title", "string", "Title", 128, "cu"],
      ["Email", "email", "Email", 80, "cu"],
      ["Phone", "phone", "Business Phone", 40, "cu"],
      OWNER,
      ...AUDIT,
    ]),
  },
  {
    name: "User",
    label: "User",
    labelPlural: "Users",
    keyPrefix: "005",
    writable: false,
    fields: fields([
      ["Id", "id", "User ID", 18, ""],
      ["Username", "string", "Username", 80, ""],
      ["Name", "string", "Full Name", 121, ""],
      ["FirstName", "string", "First Name", 40, ""],
      ["LastName", "string", "Last Name", 80, ""],
      ["Alias", "string", "Alias", 8, ""],
      ["Email", "email", "Email", 128, ""],
      ["IsActive", "boolean", "Active", 0, ""],
      ["UserType", "picklist", "User Type", 40, ""],
      ["ProfileId", "reference", "Profile ID", 18, "", {
        referenceTo: "Profile",
        relationshipName: "Profile",
      }],
      ["LanguageLocaleKey", "picklist", "Language", 40, ""],
      ["LocaleSidKey", "picklist", "Locale", 40, ""],
      ["TimeZoneSidKey", "picklist", "Time Zone", 40, ""],
      ...AUDIT,
    ]),
  },
  {
    name: "Profile",
    label: "Profile",
    labelPlural: "Profiles",
    keyPrefix: "00e",
    writable: false,
    fields: fields([
      ["Id", "id", "Profile ID", 18, ""],
      ["Name", "string", "Name", 255, ""],
      ["UserType", "picklist", "User Type", 40, ""],
      ["Description", "string", "Description", 255, ""],
      ...AUDIT,
    ]),
  },
  {
    name: "Organization",
    label: "Organization",
    labelPlural: "Organizations",
    keyPrefix: "00D",
    writable: false,
    fields: fields([
      ["Id", "id", "Organization ID", 18, ""],
      ["Name", "string", "Name", 80, ""],
      ["InstanceName", "string", "Instance Name", 5, ""],
      ["IsSandbox", "boolean", "Is Sandbox", 0, ""],
      ["OrganizationType", "picklist", "Edition", 40, ""],
      ["TrialExpirationDate", "datetime", "Trial Expiration Date", 0, ""],
      ["NamespacePrefix", "string", "Namespace Prefix", 15, ""],
      ["LanguageLocaleKey", "picklist", "Language", 40, ""],
      ...AUDIT,
    ]),
  },
];

/** The object with this name, in any case. */
export function findSObject(name: string): SObjectSpec | undefined {
  return SOBJECTS.find((o) => o.name.toLowerCase() === name.toLowerCase());
}

/** The object an id belongs to, by its three-character prefix. */
export function sObjectOfId(id: string): SObjectSpec | undefined {
  return SOBJECTS.find((o) => o.keyPrefix === id.slice(0, 3));
}

/** A demo org's records: by id (see `idKey`), in insertion order. */
export interface DataStore {
  records: Map<string, { type: string; row: Row }>;
  /** Numbers the ids of new records; never reused. */
  created: number;
}

export const PROFILE_ID = "00e5g00000DEMOP";
const SEEDED = "2026-01-01T00:00:00.000+0000";

/** The demo org's records, made on first use. */
export function dataOf(org: DemoOrgState): DataStore {
  org.data ??= seed();
  return org.data;
}

const DEMO_USER = toId18(USER_ID);
/** Who made the seed records, and when. */
const SEED_AUDIT: Row = {
  CreatedDate: SEEDED,
  CreatedById: DEMO_USER,
  LastModifiedDate: SEEDED,
  LastModifiedById: DEMO_USER,
};

/** The org, its one user, and the user's profile. */
const ORGANIZATION: Row = {
  Id: toId18(ORG_ID),
  Name: "Demo Org",
  InstanceName: "DEMO1",
  IsSandbox: false,
  OrganizationType: "Developer Edition",
  TrialExpirationDate: null,
  NamespacePrefix: null,
  LanguageLocaleKey: "en_US",
};
const PROFILE: Row = {
  Id: toId18(PROFILE_ID),
  Name: "System Administrator",
  UserType: "Standard",
  Description: null,
};
const USER: Row = {
  Id: DEMO_USER,
  Username: USERNAME,
  Name: DISPLAY_NAME,
  FirstName: "Demo",
  LastName: "Learner",
  Alias: "dlear",
  Email: USERNAME,
  IsActive: true,
  UserType: "Standard",
  ProfileId: toId18(PROFILE_ID),
  LanguageLocaleKey: "en_US",
  LocaleSidKey: "en_GB",
  TimeZoneSidKey: "Europe/London",
};

/** Five Accounts from Salesforce's own sample data, each with its Contacts (first name, last name, title). */
const ACCOUNTS = [
  [
    "001A0000006Vm9r",
    "Edge Communications",
    "Electronics",
    "Austin",
    "Customer - Direct",
    1000,
    [
      ["Rose", "Gonzalez", "SVP, Procurement"],
      ["Sean", "Forbes", "CFO"],
    ],
  ],
  [
    "001A0000006Vm9s",
    "Burlington Textiles",
    "Apparel",
    "Burlington",
    "Customer - Direct",
    9000,
    [
      ["Jack", "Rogers", "VP, Facilities"],
    ],
  ],
  [
    "001A0000006Vm9t",
    "Pyramid Construction",
    "Construction",
    "Paris",
    "Customer - Channel",
    2680,
    [
      ["Pat", "Stumuller", "SVP, Administration and Finance"],
    ],
  ],
  [
    "001A0000006Vm9u",
    "Grand Hotels & Resorts",
    "Hospitality",
    "Chicago",
    "Customer - Direct",
    5600,
    [
      ["Tim", "Barr", "SVP, Administration and Finance"],
    ],
  ],
  [
    "001A0000006Vm9v",
    "United Oil & Gas",
    "Energy",
    "New York",
    "Customer - Direct",
    145000,
    [
      ["Stella", "Pavlova", "SVP, Production"],
    ],
  ],
] as const;

/** The records every demo org starts with: the Organization, the demo user and their Profile, five Accounts, six Contacts. */
function seed(): DataStore {
  const store: DataStore = { records: new Map(), created: 0 };
  const add = (type: string, row: Row) =>
    store.records.set(idKey(row.Id), { type, row: { ...row, ...SEED_AUDIT } });
  add("Organization", ORGANIZATION);
  add("Profile", PROFILE);
  add("User", USER);
  let contacts = 0;
  for (
    const [id15, name, industry, city, type, employees, people] of ACCOUNTS
  ) {
    const id = toId18(id15);
    add("Account", {
      Id: id,
      Name: name,
      Type: type,
      Industry: industry,
      BillingCity: city,
      Phone: null,
      Website: null,
      NumberOfEmployees: employees,
      Description: null,
      OwnerId: DEMO_USER,
    });
    for (const [first, last, title] of people) {
      add("Contact", {
        Id: toId18(`0035g00000DEMC${++contacts}`),
        AccountId: id,
        FirstName: first,
        LastName: last,
        Name: `${first} ${last}`,
        Title: title,
        Email: `${first}.${last}@example.com`.toLowerCase(),
        Phone: null,
        OwnerId: DEMO_USER,
      });
    }
  }
  return store;
}

/** Every object as a table to query, its records in insertion order. */
export function tables(store: DataStore): Table[] {
  return SOBJECTS.map((spec) => ({
    name: spec.name,
    fields: spec.fields,
    rows: [...store.records.values()].filter((r) => r.type === spec.name)
      .map((r) => r.row),
  }));
}

/** The record with this id (15 or 18 characters) of this object, if the org has it. */
export function findRecord(
  store: DataStore,
  spec: SObjectSpec,
  id: string,
): Row | undefined {
  if (!/^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$/.test(id)) return undefined;
  const found = store.records.get(idKey(id));
  return found?.type === spec.name ? found.row : undefined;
}

// ---------------------------------------------------------------------------
// Writes: create, update, delete, with Salesforce's checks
// ---------------------------------------------------------------------------

/** A write Salesforce would refuse: its status and its error, in the REST API's shape. */
export interface WriteError {
  status: number;
  errorCode: string;
  message: string;
  fields?: string[];
}

function refuse(
  errorCode: string,
  message: string,
  fields?: string[],
): WriteError {
  return { status: 400, errorCode, message, ...(fields ? { fields } : {}) };
}

/** POST .../sobjects/Type: a new record from a JSON body; its id, or why not. */
export function createRecord(
  org: DemoOrgState,
  spec: SObjectSpec,
  body: unknown,
): string | WriteError {
  const store = dataOf(org);
  const values = readValues(org, spec, body, "create");
  if (!("row" in values)) return values;
  if (store.records.size >= MAX_RECORDS) {
    return refuse(
      "STORAGE_LIMIT_EXCEEDED",
      `storage limit exceeded: the demo org holds at most ${MAX_RECORDS} records; delete some, or restart it`,
    );
  }
  const missing = spec.fields.filter((f) => !f.nillable && f.createable)
    .filter((f) =>
      values.row[f.name] === undefined || values.row[f.name] === null
    )
    .map((f) => f.name);
  if (missing.length) {
    return refuse(
      "REQUIRED_FIELD_MISSING",
      `Required fields are missing: [${missing.join(", ")}]`,
      missing,
    );
  }
  store.created++;
  const serial = store.created.toString(36).toUpperCase().padStart(6, "0");
  const id = toId18(`${spec.keyPrefix}5g0000${serial}`);
  const now = timestamp(org);
  const row: Row = Object.fromEntries(spec.fields.map((f) => [f.name, null]));
  if ("OwnerId" in row) row.OwnerId = DEMO_USER;
  Object.assign(row, values.row, {
    Id: id,
    CreatedDate: now,
    CreatedById: DEMO_USER,
    LastModifiedDate: now,
    LastModifiedById: DEMO_USER,
  });
  fillName(spec, row);
  store.records.set(idKey(id), { type: spec.name, row });
  return id;
}

/** PATCH .../sobjects/Type/id: changes the named fields; nothing, or why not. */
export function updateRecord(
  org: DemoOrgState,
  spec: SObjectSpec,
  row: Row,
  body: unknown,
): WriteError | undefined {
  const values = readValues(org, spec, body, "update");
  if (!("row" in values)) return values;
  const emptied = spec.fields.filter((f) =>
    !f.nillable && values.row[f.name] === null
  )
    .map((f) => f.name);
  if (emptied.length) {
    return refuse(
      "REQUIRED_FIELD_MISSING",
      `Required fields are missing: [${emptied.join(", ")}]`,
      emptied,
    );
  }
  Object.assign(row, values.row, {
    LastModifiedDate: timestamp(org),
    LastModifiedById: DEMO_USER,
  });
  fillName(spec, row);
  return undefined;
}

/** DELETE .../sobjects/Type/id; deleting an Account deletes its Contacts, as on Salesforce. */
export function deleteRecord(org: DemoOrgState, row: Row): void {
  const { records } = dataOf(org);
  records.delete(idKey(row.Id));
  for (const [key, record] of records) {
    if (
      record.type === "Contact" && idKey(record.row.AccountId) === idKey(row.Id)
    ) {
      records.delete(key);
    }
  }
}

/** Salesforce's datetime format. */
function timestamp(org: DemoOrgState): string {
  return new Date(org.now()).toISOString().replace("Z", "+0000");
}

/** A Contact's Name is its first and last name, as Salesforce computes it. */
function fillName(spec: SObjectSpec, row: Row) {
  if (spec.name === "Contact") {
    row.Name = [row.FirstName, row.LastName].filter(Boolean).join(" ");
  }
}

/** A JSON body's fields, checked and converted as Salesforce does; keys in any case; `attributes` ignored. */
function readValues(
  org: DemoOrgState,
  spec: SObjectSpec,
  body: unknown,
  write: "create" | "update",
): { row: Row } | WriteError {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return refuse(
      "JSON_PARSER_ERROR",
      `Cannot deserialize instance of ${spec.name} from ${
        Array.isArray(body) ? "START_ARRAY" : "VALUE"
      }: send a JSON object of fields`,
    );
  }
  const row: Row = {};
  for (const [key, raw] of Object.entries(body)) {
    if (key.toLowerCase() === "attributes") continue;
    const field = spec.fields.find((f) =>
      f.name.toLowerCase() === key.toLowerCase()
    );
    if (!field) {
      return refuse(
        "INVALID_FIELD",
        `No such column '${key.slice(0, 80)}' on sobject of type ${spec.name}`,
      );
    }
    if (!(write === "create" ? field.createable : field.updateable)) {
      return refuse(
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        `Unable to create/update fields: ${field.name}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.`,
        [field.name],
      );
    }
    const value = fieldValue(org, field, raw);
    if (typeof value === "object" && value !== null) return value;
    row[field.name] = value;
  }
  return { row };
}

/** One field's value from JSON: converted as Salesforce converts it (text from numbers, numbers and booleans from text), or refused. */
function fieldValue(
  org: DemoOrgState,
  field: FieldSpec,
  raw: unknown,
): Value | WriteError {
  if (raw === null || raw === "") return null;
  const wrongType = () =>
    refuse(
      "JSON_PARSER_ERROR",
      `Cannot deserialize instance of ${field.type} from ${typeof raw} value ${
        String(JSON.stringify(raw)).slice(0, 40)
      } for field ${field.name}`,
    );
  if (typeof raw === "object") return wrongType();
  if (field.type === "boolean") {
    const text = String(raw).toLowerCase();
    return text === "true" ? true : text === "false" ? false : wrongType();
  }
  if (field.type === "int") {
    const number = Number(raw);
    return typeof raw !== "boolean" && Number.isSafeInteger(number)
      ? number
      : wrongType();
  }
  const text = String(raw);
  if (text.length > field.length) {
    return refuse(
      "STRING_TOO_LONG",
      `${field.label}: data value too large: ${
        text.slice(0, 20)
      }\u2026 (max length=${field.length})`,
      [field.name],
    );
  }
  if (field.type === "email" && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(text)) {
    return refuse(
      "INVALID_EMAIL_ADDRESS",
      `${field.label}: invalid email address: ${text.slice(0, 40)}`,
      [field.name],
    );
  }
  if (field.type === "reference") return referenceValue(org, field, text);
  return text;
}

/** A reference must name an existing record of its object; it is kept in 18 characters. */
function referenceValue(
  org: DemoOrgState,
  field: FieldSpec,
  id: string,
): Value | WriteError {
  const target = findSObject(field.referenceTo!)!;
  const row = findRecord(dataOf(org), target, id);
  if (row) return row.Id;
  const wellFormed = /^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$/.test(id) &&
    id.startsWith(target.keyPrefix);
  return wellFormed
    ? refuse("INVALID_CROSS_REFERENCE_KEY", `invalid cross reference id`, [
      field.name,
    ])
    : refuse(
      "MALFORMED_ID",
      `${field.label}: id value of incorrect type: ${id.slice(0, 40)}`,
      [field.name],
    );
}
