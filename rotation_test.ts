/**
 * Refresh token rotation, as the script meets it (facts L): step 10 says
 * whether the refresh token rotated, and `--save` replaces its file with the
 * refreshed tokens at once, so that no file keeps a token the org has
 * retired (presenting one again revokes the whole login).
 */

import {
  assert,
  assertEquals,
  assertFalse,
  assertNotEquals,
  assertStringIncludes,
} from "./_test_deps.ts";
import {
  childEnv,
  MAIN,
  orgArgs,
  run,
  runApproved,
  withDemoOrg,
  withTempDir,
} from "./_test_utils.ts";
import { mask } from "./main.ts";
import { playDemoUser, type ServedDemoOrg } from "./demo_org.ts";

/** The refresh tokens the org issued, oldest first. */
function refreshTokensIssued(org: ServedDemoOrg): string[] {
  return org.issued.filter((token) => token.startsWith("5Aep861"));
}

/** Presents a refresh token to the org as any client would, outside the script. */
async function refreshWith(org: ServedDemoOrg, refreshToken: string) {
  const response = await fetch(`${org.url}/services/oauth2/token`, {
    method: "POST",
    body: new URLSearchParams({
      grant_type: "refresh_token",
      refresh_token: refreshToken,
      client_id: org.client.client_id,
      client_secret: org.client.client_secret,
    }),
  });
  return { status: response.status, body: await response.json() };
}

/** Signs in against a standalone demo org with --refresh --save FILE, as a browser would approve. */
async function refreshAndSave(
  org: ServedDemoOrg,
  redirect: string,
  file: string,
) {
  return await runApproved([
    ...orgArgs(org, redirect),
    "--refresh",
    "--save",
    file,
  ]);
}

Deno.test("--refresh --save against a rotating app leaves a file whose refresh token still refreshes, and the old one, presented again, revokes the grant", async () => {
  await withTempDir(async (dir) => {
    await withDemoOrg(async (org, redirect) => {
      const file = `${dir}/sf-tokens.json`;
      const result = await refreshAndSave(org, redirect, file);
      assertEquals(result.code, 0, result.stderr);
      const [first, second] = refreshTokensIssued(org);
      assert(first && second, "the refresh rotated");
      const step10 = result.steps.find((s) => s.step === 10)!.data;
      assertEquals(step10.refresh_token_rotated, true);
      assertStringIncludes(step10.rotation, "rotated: a new refresh token");
      assertEquals(step10.refresh_token, mask(second, false));
      assertStringIncludes(
        result.stderr,
        `replaced ${file} with the refreshed tokens: the new refresh token`,
      );

      // The file holds the new refresh token, with the new access token, 0600, and no leftover.
      const saved = JSON.parse(await Deno.readTextFile(file));
      assertEquals(saved.refresh_token, second);
      assertEquals(saved.access_token, org.issued.at(-2));
      if (Deno.build.os !== "windows") {
        assertEquals((await Deno.stat(file)).mode! & 0o777, 0o600);
      }
      assertEquals(
        [...Deno.readDirSync(dir)].map((entry) => entry.name),
        ["sf-tokens.json"],
      );

      // The saved refresh token still refreshes (and rotates again).
      const later = await refreshWith(org, saved.refresh_token);
      assertEquals(later.status, 200);
      assertNotEquals(later.body.refresh_token, saved.refresh_token);
      // The first one, presented again, is caught: the whole grant is revoked.
      const reused = await refreshWith(org, first);
      assertEquals(reused.status, 400);
      assertEquals(reused.body.error, "invalid_grant");
      assertEquals(
        (await refreshWith(org, later.body.refresh_token)).status,
        400,
      );
      assertEquals(org.approvals.length, 0);
    }, { rotateRefreshTokens: true });
  });
});

Deno.test("--demo --demo-rotate --refresh --save FILE saves step 10's new refresh token, not step 8's", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/demo-tokens.json`;
    const result = await run([
      "--demo",
      "--demo-rotate",
      "--no-browser",
      "--json",
      "--refresh",
      "--save",
      file,
    ]);
    assertEquals(result.code, 0, result.stderr);
    assertStringIncludes(result.stderr, "Its app rotates refresh tokens.");
    const step8 = result.steps.find((s) => s.step === 8)!.data;
    const step10 = result.steps.find((s) => s.step === 10)!.data;
    assertEquals(step10.refresh_token_rotated, true);
    const saved = JSON.parse(await Deno.readTextFile(file));
    assertEquals(mask(saved.refresh_token, false), step10.refresh_token);
    assertNotEquals(mask(saved.refresh_token, false), step8.refresh_token);
    assertEquals(mask(saved.access_token, false), step10.access_token);
  });
});

Deno.test("without rotation step 10 says the refresh token stays, and --save replaces only the access token", async () => {
  await withTempDir(async (dir) => {
    await withDemoOrg(async (org, redirect) => {
      const file = `${dir}/sf-tokens.json`;
      const result = await refreshAndSave(org, redirect, file);
      assertEquals(result.code, 0, result.stderr);
      const step10 = result.steps.find((s) => s.step === 10)!.data;
      assertEquals(step10.refresh_token_rotated, false);
      assertStringIncludes(
        step10.rotation,
        "not rotated: no refresh token came back",
      );
      const [only] = refreshTokensIssued(org);
      assertEquals(refreshTokensIssued(org).length, 1);
      const saved = JSON.parse(await Deno.readTextFile(file));
      assertEquals(saved.refresh_token, only);
      assertEquals(saved.access_token, org.issued.at(-1));
      assertStringIncludes(
        result.stderr,
        "a new access token, the same refresh token",
      );
      assertEquals((await refreshWith(org, only)).status, 200);
    });
  });
});

Deno.test("when the refreshed tokens cannot be written, the file keeps the old ones whole and the hint says its refresh token is dead", async () => {
  await withTempDir(async (dir) => {
    await withDemoOrg(async (org, redirect) => {
      const file = `${dir}/sf-tokens.json`;
      // Something in the way of FILE.tmp that cannot simply be removed.
      await Deno.mkdir(`${file}.tmp/in-the-way`, { recursive: true });
      const result = await refreshAndSave(org, redirect, file);
      assertEquals(result.code, 1, result.stderr);
      const failure = result.steps.at(-1)!.data;
      assertEquals(failure.error, "save_failed");
      assertStringIncludes(failure.hint, "rotated out and is dead");
      const saved = JSON.parse(await Deno.readTextFile(file));
      assertEquals(saved.refresh_token, refreshTokensIssued(org)[0]);
    }, { rotateRefreshTokens: true });
  });
});

/** A task's `deno run` permission flags, as deno.json has them. */
async function taskPermissions(task: string): Promise<string[]> {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("./deno.json", import.meta.url)),
  );
  return (config.tasks[task] as string).split(" ")
    .filter((word) => word.startsWith("--allow-"));
}

Deno.test("deno task start's permissions let --save sf-tokens.json --refresh replace the file through sf-tokens.json.tmp", async () => {
  const permissions = await taskPermissions("start");
  await withTempDir(async (dir) => {
    await withDemoOrg(async (org, redirect) => {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          ...permissions,
          MAIN,
          ...orgArgs(org, redirect),
          "--refresh",
          "--save",
          "sf-tokens.json",
        ],
        cwd: dir,
        env: childEnv(),
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // Approve once the callback server listens (step 4), as a browser would.
      let stdout = "";
      const lines = child.stdout.pipeThrough(new TextDecoderStream());
      const reader = lines.getReader();
      while (!stdout.includes('"step":4')) {
        const { value, done } = await reader.read();
        if (done) break;
        stdout += value;
      }
      const step3 = stdout.split("\n").filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line)).find((step) => step.step === 3);
      await playDemoUser(step3.data.authorization_url);
      for (let read; !(read = await reader.read()).done;) stdout += read.value;
      const stderr = await new Response(child.stderr).text();
      assertEquals((await child.status).code, 0, stderr);
      const saved = JSON.parse(
        await Deno.readTextFile(`${dir}/sf-tokens.json`),
      );
      assertEquals(saved.refresh_token, refreshTokensIssued(org)[1]);
      assertFalse(stdout.includes(saved.refresh_token));
    }, { rotateRefreshTokens: true });
  });
});

Deno.test("--save with --refresh is refused at start when the run may not write FILE.tmp, naming it", async () => {
  await withTempDir(async (dir) => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net=127.0.0.1,[::1],localhost",
        "--allow-read=.env,tokens.json",
        "--allow-write=tokens.json",
        MAIN,
        "--demo",
        "--no-browser",
        "--refresh",
        "--save",
        "tokens.json",
      ],
      cwd: dir,
      env: childEnv(),
      clearEnv: true,
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assertEquals(output.code, 2, stderr);
    assertStringIncludes(
      stderr,
      'Cannot use --save with --refresh: this run may not write "tokens.json.tmp"',
    );
    assertStringIncludes(stderr, "deno run -A main.ts --demo --save FILE");
    assertEquals([...Deno.readDirSync(dir)], []);
  });
});
