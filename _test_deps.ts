/**
 * The tests' third-party code, by full specifier (report_test.ts pins Mermaid
 * and marked itself). Not in `deno.json`'s `imports`, and `deno.json` has
 * `"lock": false`, on purpose: `deno task` caches every npm package the import
 * map or the lock file names before it runs any task, so `deno task demo`
 * would download all of them and fail offline. Imported here, they are
 * fetched only by what imports this file: `deno test`, `deno check`, the
 * jsforce child. The tasks `test`, `ok` and `bench` pass `--lock=deno.lock`.
 *
 * `npm:deno-std` is denoland/std's own code republished on npm, for machines
 * that cannot reach jsr.io; where JSR is reachable, `jsr:@std/assert@^1`
 * is the same API.
 *
 * @module
 */

// The whole @std/assert API, by name: TypeScript sees no names through
// `export *` from an untyped JavaScript package.
export {
  assert,
  assertAlmostEquals,
  assertArrayIncludes,
  assertEquals,
  assertExists,
  assertFalse,
  assertGreater,
  assertGreaterOrEqual,
  assertInstanceOf,
  AssertionError,
  assertIsError,
  assertLess,
  assertLessOrEqual,
  assertMatch,
  assertNotEquals,
  assertNotInstanceOf,
  assertNotMatch,
  assertNotStrictEquals,
  assertObjectMatch,
  assertRejects,
  assertStrictEquals,
  assertStringIncludes,
  assertThrows,
  equal,
  fail,
  unimplemented,
  unreachable,
} from "npm:deno-std@1.4.0/assert/mod.js";
export { default as jsforce } from "npm:jsforce@3.10.26";
export { type Browser, chromium, type Page } from "npm:playwright-core@1.65.1";
