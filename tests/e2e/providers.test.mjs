// Providers in the real app: the fast model answers over Chat Completions, Escalate
// re-answers on the deep model over the Responses API (both served by the stand-in),
// the settings view tests a connection for real, and metrics show on each answer.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { WebDriver, Keys, waitFor } from "./webdriver.mjs";
import { makeProject, need, startDriver, startReplay, startXvfb, stopAll } from "./harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = resolve(here, "../fixtures");
const out = join(here, "out");
const expected = readFileSync(join(fixtures, "sse/chat-hello.txt"), "utf8");
let driverUrl;
let project;

before(async () => {
  mkdirSync(out, { recursive: true });
  const scratch = makeProject(join(fixtures, "project"));
  project = scratch.project;
  const config = join(scratch.home, "config");
  mkdirSync(config, { recursive: true });
  writeFileSync(join(config, "settings.toml"), '[deep]\nprovider = "openai"\nmodel = "gpt-5.3-codex-spark"\n');
  const display = await startXvfb();
  const baseUrl = await startReplay([
    "--chat", join(fixtures, "sse/chat-hello.sse"),
    "--responses", join(fixtures, "sse/responses-hello.sse"),
    "--rate", "400",
  ]);
  driverUrl = await startDriver({
    DISPLAY: display,
    FLINT_DATA_DIR: join(scratch.home, "data"),
    FLINT_CONFIG_DIR: config,
    // Both the fast (openai-chat) and the deep (openai) preset follow OPENAI_BASE_URL.
    OPENAI_BASE_URL: baseUrl,
    OPENAI_API_KEY: "sk-e2e-not-a-real-key",
    FLINT_MODEL: "fixture-model",
  });
});

after(() => stopAll());

const textOf = async (wd, css) => Promise.all((await wd.findAll(css)).map((e) => wd.text(e)));

async function answers(wd) {
  const els = await wd.findAll("[data-testid=message-assistant]");
  return Promise.all(
    els.map(async (el) => ({
      status: await wd.attribute(el, "data-status"),
      chars: Number(await wd.attribute(el, "data-chars")),
      text: await wd.execute("return arguments[0].querySelector('.text').textContent", [el]),
      who: await wd.execute("return arguments[0].querySelector('.who .name').textContent", [el]),
    })),
  );
}

test("escalate re-answers on the deep model; settings test a real connection", async () => {
  const wd = await new WebDriver(driverUrl).start(need("FLINT_APP"), [project]);
  try {
    const composer = await waitFor("the composer", () => wd.find("[data-testid=composer]"));
    assert.match((await textOf(wd, "[data-testid=active-model]"))[0], /fixture-model/);
    await wd.type(composer, "Describe the project" + Keys.ENTER);
    await waitFor("the fast answer", async () => (await answers(wd))[0]?.status === "complete");
    assert.match((await textOf(wd, "[data-testid=metrics]"))[0], /first token \d+ ms · \d+ tok\/s · 46 tokens/);

    await wd.click(await wd.find("[data-testid=escalate]"));
    const deep = await waitFor("the deep answer", async () => {
      const a = await answers(wd);
      return a.length === 2 && a[1].status === "complete" && a;
    });
    assert.equal(deep[1].chars, expected.length);
    assert.match(deep[1].text, /Résumé: it prints a greeting ✓\./);
    assert.equal(deep[1].who, "gpt-5.3-codex-spark");
    assert.match((await textOf(wd, "[data-testid=active-model]"))[0], /gpt-5.3-codex-spark \(deep\)/);
    // Usage from response.completed: 61 output tokens.
    assert.match((await textOf(wd, "[data-testid=metrics]"))[1], /61 tokens/);
    writeFileSync(join(out, "escalated.png"), await wd.screenshot());

    await wd.click(await wd.find("[data-testid=open-settings]"));
    await waitFor("the settings", () => wd.find("[data-testid=fast-test]"));
    assert.equal((await textOf(wd, "[data-testid=fast-key-source]"))[0], "from the environment");
    await wd.click(await wd.find("[data-testid=fast-test]"));
    const result = await waitFor("the test result", async () => (await textOf(wd, "[data-testid=fast-result]"))[0]);
    assert.match(result, /fixture-model answered in \d+ ms/);
    writeFileSync(join(out, "settings.png"), await wd.screenshot());
  } catch (e) {
    writeFileSync(join(out, "providers-failed.png"), await wd.screenshot());
    throw e;
  } finally {
    await wd.quit();
  }
});
