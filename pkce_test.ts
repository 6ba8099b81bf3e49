import {
  assertEquals,
  assertMatch,
  assertNotEquals,
  assertRejects,
  assertThrows,
} from "./_test_deps.ts";
import {
  base64url,
  createCodeChallenge,
  createCodeVerifier,
  generatePkce,
} from "./pkce.ts";

// RFC 7636 Appendix B, byte for byte.
const RFC_OCTETS = [
  116,
  24,
  223,
  180,
  151,
  153,
  224,
  37,
  79,
  250,
  96,
  125,
  216,
  173,
  187,
  186,
  22,
  212,
  37,
  77,
  105,
  214,
  191,
  240,
  91,
  88,
  5,
  88,
  83,
  132,
  141,
  121,
];
const RFC_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const RFC_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

Deno.test("base64url() encodes the RFC 7636 Appendix B octets to its verifier", () => {
  assertEquals(base64url(new Uint8Array(RFC_OCTETS)), RFC_VERIFIER);
});

Deno.test("createCodeChallenge() matches the RFC 7636 Appendix B challenge", async () => {
  assertEquals(await createCodeChallenge(RFC_VERIFIER), RFC_CHALLENGE);
});

Deno.test("createCodeVerifier() gives 43 to 128 unreserved characters across byte lengths", () => {
  const cases: [number, number][] = [[32, 43], [33, 44], [48, 64], [64, 86], [
    96,
    128,
  ]];
  for (const [bytes, length] of cases) {
    const verifier = createCodeVerifier(bytes);
    assertEquals(verifier.length, length, `${bytes} bytes`);
    assertMatch(verifier, /^[A-Za-z0-9_-]+$/); // base64url, no padding
  }
  assertEquals(createCodeVerifier().length, 43);
});

Deno.test("createCodeVerifier() rejects lengths RFC 7636 does not allow", () => {
  for (const bytes of [0, 16, 31, 97, 200, 32.5]) {
    assertThrows(() => createCodeVerifier(bytes), RangeError, "RFC 7636");
  }
});

Deno.test("createCodeVerifier() never repeats itself", () => {
  const seen = new Set(Array.from({ length: 100 }, () => createCodeVerifier()));
  assertEquals(seen.size, 100);
});

Deno.test("createCodeChallenge() rejects verifiers outside RFC 7636 §4.1", async () => {
  const bad = [
    "",
    "a".repeat(42), // too short
    "a".repeat(129), // too long
    "a".repeat(42) + "=", // padding is not unreserved
    "a".repeat(42) + "+",
    "a".repeat(42) + " ",
    "a".repeat(42) + "é",
  ];
  for (const verifier of bad) {
    await assertRejects(
      () => createCodeChallenge(verifier),
      TypeError,
      "Cannot create a code challenge",
    );
  }
  // The edges are fine, including every unreserved symbol.
  await createCodeChallenge("a".repeat(128));
  await createCodeChallenge("-._~".repeat(10) + "aaa");
});

Deno.test("generatePkce() pairs a fresh verifier with its S256 challenge", async () => {
  const first = await generatePkce();
  const second = await generatePkce();
  assertEquals(first.code_challenge_method, "S256");
  assertEquals(
    first.code_challenge,
    await createCodeChallenge(first.code_verifier),
  );
  assertMatch(first.code_challenge, /^[A-Za-z0-9_-]{43}$/);
  assertNotEquals(first.code_verifier, second.code_verifier);
  assertNotEquals(first.code_challenge, second.code_challenge);
});
