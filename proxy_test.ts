/**
 * Proxy variables, as company laptops set them: loopback never goes through
 * the proxy (the demo, and any org on loopback, work with HTTP_PROXY,
 * HTTPS_PROXY and ALL_PROXY set in both cases and no NO_PROXY), and a real
 * org that cannot be reached through one gets a hint naming the variable and
 * NO_PROXY. A fake proxy on loopback records whatever reaches it.
 */

import {
  assertEquals,
  assertFalse,
  assertStringIncludes,
} from "./_test_deps.ts";
import {
  childEnv,
  orgArgs,
  redirectUri,
  run,
  runApproved,
  withDemoOrg,
} from "./_test_utils.ts";

/** A raw TCP server that records the first line of each request that reaches it and answers each with `answer`, then closes. */
async function withRecordingServer(
  answer: string,
  fn: (origin: string, lines: string[]) => Promise<void>,
) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const lines: string[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      const buffer = new Uint8Array(4096);
      const read = await conn.read(buffer).catch(() => null);
      const text = new TextDecoder().decode(buffer.subarray(0, read ?? 0));
      lines.push(text.split("\r\n")[0]);
      await conn.write(new TextEncoder().encode(answer)).catch(() => {});
      conn.close();
    }
  })();
  try {
    await fn(`http://127.0.0.1:${listener.addr.port}`, lines);
  } finally {
    listener.close();
    await serving.catch(() => {});
  }
}

/** A "proxy" that refuses everything with 502, and records what reached it. */
function withFakeProxy(fn: (url: string, reached: string[]) => Promise<void>) {
  return withRecordingServer(
    "HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    fn,
  );
}

/** Every proxy variable Deno's fetch reads, in both cases, pointing at `proxy`; no NO_PROXY. */
function everyProxyVariable(proxy: string): Record<string, string> {
  return Object.fromEntries(
    ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"].flatMap((name) => [
      [name, proxy],
      [name.toLowerCase(), proxy],
    ]),
  );
}

Deno.test("--demo walks all eleven steps with every proxy variable set and no NO_PROXY, and nothing reaches the proxy (with --http too)", async () => {
  await withFakeProxy(async (proxy, reached) => {
    for (const http of [[], ["--http"]]) {
      const result = await run([
        "--demo",
        "--no-browser",
        "--json",
        "--refresh",
        "--revoke",
        "--redirect-uri",
        redirectUri(),
        ...http,
      ], { env: everyProxyVariable(proxy) });
      assertEquals(result.code, 0, result.stderr);
      assertEquals(result.steps.at(-1)?.step, 11);
    }
    assertEquals(reached, []);
  });
});

Deno.test("an org on loopback (a standalone demo org, as 127.0.0.1 and as localhost) is reached directly with every proxy variable set", async () => {
  await withFakeProxy(async (proxy, reached) => {
    await withDemoOrg(async (org, redirect) => {
      const port = new URL(org.url).port;
      for (const instance of [org.url, `http://localhost:${port}`]) {
        const args = orgArgs(org, redirect);
        args[args.indexOf("--instance-url") + 1] = instance;
        const result = await runApproved([...args, "--refresh"], {
          env: everyProxyVariable(proxy),
        });
        assertEquals(result.code, 0, `${instance}: ${result.stderr}`);
        assertEquals(result.steps.at(-1)?.step, 10, instance);
      }
    });
    assertEquals(reached, []);
  });
});

Deno.test("a real org that a proxy does not let through: the hint names the proxy variable and NO_PROXY", async () => {
  await withFakeProxy(async (proxy, reached) => {
    for (const variable of ["HTTPS_PROXY", "https_proxy", "ALL_PROXY"]) {
      reached.length = 0;
      const result = await run([
        "--instance-url",
        "https://acme.my.salesforce.com",
        "--client-id",
        "3MVG9x",
        "--no-browser",
        "--json",
      ], { env: { [variable]: proxy } });
      assertEquals(result.code, 1, result.stderr);
      const failure = result.steps.at(-1)!.data;
      assertEquals(failure.error, "network_error", variable);
      assertStringIncludes(
        failure.hint,
        `${variable} is set, so this request went through that proxy`,
      );
      assertStringIncludes(
        failure.hint,
        "add acme.my.salesforce.com to NO_PROXY",
      );
      assertEquals(reached, ["CONNECT acme.my.salesforce.com:443 HTTP/1.1"]);
    }
  });
});

Deno.test("a host NO_PROXY exempts goes direct, and its hint does not blame the proxy", async () => {
  await withFakeProxy(async (proxy, reached) => {
    // .invalid never resolves (RFC 6761): the direct attempt fails on its own.
    const result = await run([
      "--instance-url",
      "https://no-such-org.invalid",
      "--client-id",
      "3MVG9x",
      "--no-browser",
      "--json",
    ], { env: { HTTPS_PROXY: proxy, NO_PROXY: ".invalid" } });
    assertEquals(result.code, 1, result.stderr);
    const failure = result.steps.at(-1)!.data;
    assertEquals(failure.error, "network_error");
    assertStringIncludes(failure.hint, "does not resolve");
    assertFalse(failure.hint.includes("PROXY"));
    assertEquals(reached, []);
  });
});

Deno.test("deno task demo, with its narrow permissions and every proxy variable set, completes without reaching the proxy", async () => {
  await withFakeProxy(async (proxy, reached) => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", "demo", "--no-browser", "--json", "--refresh"],
      cwd: new URL(".", import.meta.url).pathname,
      env: childEnv(everyProxyVariable(proxy)),
      clearEnv: true,
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assertEquals(output.code, 0, stderr);
    const last = new TextDecoder().decode(output.stdout).trim().split("\n")
      .at(-1)!;
    assertEquals(JSON.parse(last).step, 10);
    assertEquals(reached, []);
  });
});

Deno.test("under deno task start's permissions the proxy hint still names the variable (the task may read it)", async () => {
  await withFakeProxy(async (proxy, reached) => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "task",
        "-q",
        "start",
        "--instance-url",
        "https://acme.my.salesforce.com",
        "--client-id",
        "3MVG9x",
        "--no-browser",
        "--json",
      ],
      cwd: new URL(".", import.meta.url).pathname,
      env: childEnv({ https_proxy: proxy }),
      clearEnv: true,
      stdin: "null",
    }).output();
    assertEquals(output.code, 1);
    const last = new TextDecoder().decode(output.stdout).trim().split("\n")
      .at(-1)!;
    const { data } = JSON.parse(last);
    assertEquals(data.error, "network_error");
    assertStringIncludes(data.hint, "https_proxy is set");
    assertStringIncludes(data.hint, "NO_PROXY");
    assertEquals(reached, ["CONNECT acme.my.salesforce.com:443 HTTP/1.1"]);
  });
});

Deno.test("fetchDirectToLoopback() is plain fetch when no proxy would carry the request (origin-form), and goes to the host itself when one would", async () => {
  const ok =
    "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
  await withRecordingServer(ok, async (origin, lines) => {
    const url = `${origin}/services/oauth2/token`;
    const main = new URL("./main.ts", import.meta.url).href;
    const fetchIn = async (env: Record<string, string>) => {
      const output = await new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `const { fetchDirectToLoopback } = await import(${
            JSON.stringify(main)
          }); console.log(await (await fetchDirectToLoopback(${
            JSON.stringify(url)
          })).text());`,
        ],
        env: childEnv(env),
        clearEnv: true,
      }).output();
      return new TextDecoder().decode(output.stdout).trim();
    };
    assertEquals(await fetchIn({}), "ok");
    assertEquals(await fetchIn({ HTTP_PROXY: "http://127.0.0.1:9" }), "ok");
    assertEquals(lines, [
      "GET /services/oauth2/token HTTP/1.1", // as fetch always sends it
      `GET ${url} HTTP/1.1`, // the whole URL, to the host itself, never to the proxy
    ]);
  });
});
