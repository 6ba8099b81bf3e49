/**
 * The walkthrough in a real browser: headless Chromium (Debian's `chromium`
 * package) driven by playwright-core through the demo org's consent page and
 * the callback's result pages, at phone and desktop widths.
 *
 * Without Chromium these tests are skipped and say how to install it.
 * Set SCREENSHOT_DIR to keep the screenshots they take.
 */

import {
  assertEquals,
  assertFalse,
  assertStringIncludes,
} from "./_test_deps.ts";
import type { Browser, Page } from "./_test_deps.ts";
import {
  chromiumFor,
  keepScreenshot,
  launchChromium,
  orgArgs,
  recordingLauncher,
  type Running,
  spawn,
  spawnAskingForMissingScope,
  withDemoOrg,
} from "./_test_utils.ts";

const hasChromium = chromiumFor("browser_test.ts");

const VIEWPORTS = {
  phone: { width: 390, height: 844 },
  desktop: { width: 1280, height: 800 },
};

/** A headless Chromium with a new, empty profile (playwright makes one per launch). */
async function withBrowser(fn: (browser: Browser) => Promise<void>) {
  const browser = await launchChromium();
  try {
    await fn(browser);
  } finally {
    await browser.close();
  }
}

async function screenshot(page: Page, name: string) {
  await keepScreenshot(name, () => page.screenshot({ fullPage: true }));
}

/** Starts the script against a demo org and opens its authorization URL in Chromium. */
async function startInBrowser(
  browser: Browser,
  viewport: keyof typeof VIEWPORTS,
  fn: (page: Page, script: Running) => Promise<void>,
  extraArgs: string[] = [],
) {
  await withDemoOrg(async (org, redirect) => {
    const script = spawn([...orgArgs(org, redirect), ...extraArgs]);
    const step3 = await script.waitForStep(3);
    await script.waitForStep(4);
    const context = await browser.newContext({
      viewport: VIEWPORTS[viewport],
    });
    try {
      const page = await context.newPage();
      await page.goto(step3.data.authorization_url);
      // The demo org is new each run: it asks to sign in first.
      const username = page.getByLabel("Username");
      assertEquals(await username.inputValue(), "learner@demo-org.example");
      await screenshot(page, `sign-in-${viewport}`);
      await page.getByRole("button", { name: "Log In" }).click();
      await page.getByRole("button", { name: "Allow" }).waitFor();
      await fn(page, script);
    } finally {
      await context.close();
    }
  });
}

Deno.test({
  name: "the consent page shows the app name and the requested scopes",
  ignore: !hasChromium,
  async fn() {
    await withBrowser(async (browser) => {
      for (const viewport of ["phone", "desktop"] as const) {
        await startInBrowser(browser, viewport, async (page, script) => {
          const text = await page.locator("main").innerText();
          assertStringIncludes(text, "OAuth Walkthrough (demo)");
          assertStringIncludes(text, "Manage user data via APIs (api)");
          assertStringIncludes(text, "Access the identity URL service");
          assertEquals(
            text.includes("Perform requests at any time"),
            false,
            "refresh_token was not requested",
          );
          await screenshot(page, `consent-${viewport}`);
          // The buttons fit on a phone screen without scrolling sideways.
          const width = await page.evaluate<number>(
            "document.documentElement.scrollWidth",
          );
          assertEquals(width <= VIEWPORTS[viewport].width, true);
          await page.getByRole("button", { name: "Deny" }).click();
          await script.finish();
        }, ["--scope", "api id"]);
      }
    });
  },
});

Deno.test({
  name: "Allow in Chromium ends with the success page and exit 0",
  ignore: !hasChromium,
  async fn() {
    await withBrowser(async (browser) => {
      for (const viewport of ["phone", "desktop"] as const) {
        await startInBrowser(browser, viewport, async (page, script) => {
          await page.getByRole("button", { name: "Allow" }).click();
          await page.waitForURL(/\/callback\?code=/);
          const heading = await page.locator("h1").innerText();
          assertStringIncludes(heading, "Authorization code received");
          const text = await page.locator("main").innerText();
          assertStringIncludes(text, "return to the terminal");
          assertEquals(
            text.includes(new URL(page.url()).searchParams.get("code")!),
            false,
          );
          await screenshot(page, `success-${viewport}`);
          const result = await script.finish();
          assertEquals(result.code, 0, result.stderr);
          assertEquals(result.steps.at(-1)?.title, "Identity Retrieved");
        });
      }
    });
  },
});

Deno.test({
  name:
    "Deny in Chromium ends with the error page and exit 1 with access_denied",
  ignore: !hasChromium,
  async fn() {
    await withBrowser(async (browser) => {
      for (const viewport of ["phone", "desktop"] as const) {
        await startInBrowser(browser, viewport, async (page, script) => {
          await page.getByRole("button", { name: "Deny" }).click();
          await page.waitForURL(/\/callback\?error=access_denied/);
          const text = await page.locator("main").innerText();
          // The user signed in and said no: no failed sign-in.
          assertEquals(await page.title(), "Access denied");
          assertStringIncludes(text, "Access denied");
          assertFalse(text.includes("Sign-in failed"));
          assertStringIncludes(
            text,
            "access_denied: end-user denied authorization",
          );
          assertStringIncludes(
            text,
            "This page is served by the script on your machine; the org sent your browser here.",
          );
          assertStringIncludes(text, "clicked Deny");
          assertStringIncludes(text, "Return to the terminal");
          await screenshot(page, `denied-${viewport}`);
          const result = await script.finish();
          assertEquals(result.code, 1);
          assertEquals(result.steps.at(-1)?.data.error, "access_denied");
        });
      }
    });
  },
});

/** Words (runs of text between spaces and `<wbr>` hints) that the page breaks across lines; none should be. */
const BROKEN_WORDS = `(() => {
  const broken = [];
  const walker = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const match of node.textContent.matchAll(/\\S+/g)) {
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
      if (lines.size > 1) broken.push(match[0]);
    }
  }
  return broken;
})()`;

/** Checks a page fits its viewport and breaks no word, and keeps a screenshot. */
async function assertWrapsCleanly(page: Page, name: string, width: number) {
  await screenshot(page, name);
  assertEquals(await page.evaluate<string[]>(BROKEN_WORDS), [], name);
  const scrollWidth = await page.evaluate<number>(
    "document.documentElement.scrollWidth",
  );
  assertEquals(scrollWidth <= width, true, `${name}: ${scrollWidth}px wide`);
}

Deno.test({
  name:
    "the demo org's home, chooser and error pages wrap long values cleanly at 390 and 1280 px: no word broken, nothing wider than the screen",
  ignore: !hasChromium,
  async fn() {
    await withBrowser(async (browser) => {
      await withDemoOrg(async (org, redirect) => {
        for (const viewport of ["phone", "desktop"] as const) {
          const context = await browser.newContext({
            viewport: VIEWPORTS[viewport],
          });
          try {
            const page = await context.newPage();
            const { width } = VIEWPORTS[viewport];
            await page.goto(org.url);
            const text = await page.locator("main").innerText();
            assertStringIncludes(text, org.client.client_id);
            await assertWrapsCleanly(page, `home-${viewport}`, width);
            const authorize = new URL("/services/oauth2/authorize", org.url);
            authorize.search = new URLSearchParams({
              client_id: org.client.client_id,
              redirect_uri: redirect,
              response_type: "code",
              code_challenge: "x".repeat(43),
              prompt: "select_account",
            }).toString();
            await page.goto(authorize.href);
            await page.getByRole("button", { name: "Log In" }).click();
            await page.getByRole("button", { name: "Allow" }).waitFor();
            await page.goto(authorize.href); // signed in now: the chooser
            await page.getByText("Choose an account").waitFor();
            await assertWrapsCleanly(page, `chooser-${viewport}`, width);
            authorize.searchParams.set("scope", "api chatter_api");
            authorize.searchParams.delete("prompt");
            await page.goto(authorize.href);
            await page.getByText("We can't authorize you").waitFor();
            assertStringIncludes(
              await page.locator("main").innerText(),
              "Your terminal cannot see this page",
            );
            await assertWrapsCleanly(page, `error-${viewport}`, width);
          } finally {
            await context.close();
          }
        }
      });
    });
  },
});

Deno.test({
  name:
    "--demo with Chromium as the browser: asking for a scope the app lacks ends the run with invalid_scope once the org shows its page, and the page says the terminal was told",
  ignore: !hasChromium || Deno.build.os !== "linux",
  async fn() {
    const launcher = await recordingLauncher();
    try {
      const script = spawnAskingForMissingScope(launcher.path);
      const url = await launcher.opened(); // the script opened "the browser"
      await withBrowser(async (browser) => {
        const page = await browser.newPage({ viewport: VIEWPORTS.desktop });
        await page.goto(url);
        await page.getByRole("button", { name: "Log In" }).click();
        await page.getByText("We can't authorize you").waitFor();
        const result = await script.finish();
        assertEquals(result.code, 1, result.stderr);
        assertEquals(result.steps.at(-1)?.data.error, "invalid_scope");
        assertStringIncludes(
          await page.locator("main").innerText(),
          "The walkthrough in your terminal has been told",
        );
        await screenshot(page, "invalid-scope-told");
      });
    } finally {
      await launcher.remove();
    }
  },
});
