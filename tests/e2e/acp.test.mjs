// Codex itself in the real app, over ACP: the user picks "Codex" for the session,
// Codex's adapter (codex-acp, as `cargo xtask test` installs it) runs with a custom
// model provider pointing at the stand-in, which plays a scripted Responses
// conversation: Codex runs `cat a.txt`, patches a.txt, runs it again and answers. In
// Ask mode Codex asks before the patch: the approval shows its options and the diff is
// in the review pane, the file untouched; allowed, Codex writes it; the command's
// output shows live; the turn's review from its snapshot shows what changed; the turn
// is undone to the byte.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { WebDriver, Keys, waitFor } from "./webdriver.mjs";
import { makeProject, need, startDriver, startReplay, startXvfb, stopAll } from "./harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = resolve(here, "../fixtures");
const out = join(here, "out");
let driverUrl;
let project;
let codexHome = null;
let skip = null;

before(async () => {
  mkdirSync(out, { recursive: true });
  const agents = process.env.FLINT_TEST_AGENTS;
  if (!agents) {
    if (process.env.FLINT_REQUIRE_AGENTS) throw new Error("FLINT_TEST_AGENTS is not set");
    skip = "codex-acp is not installed (cargo xtask test installs it)";
    return;
  }
  const scratch = makeProject(join(fixtures, "project"));
  project = scratch.project;
  writeFileSync(join(project, "a.txt"), "one\ntwo\nthree\n");
  const display = await startXvfb();
  const baseUrl = await startReplay(["--script", join(fixtures, "acp", "codex-turn.json"), "--rate", "2000"]);
  // Codex's home, out of /tmp (its sandbox helper refuses to run from there, and then
  // Codex runs no command and writes no file), whatever the checkout's location.
  const cache = join(homedir(), ".cache", "flint-tests");
  mkdirSync(cache, { recursive: true });
  codexHome = mkdtempSync(join(cache, "e2e-codex-home-"));
  writeFileSync(
    join(codexHome, "config.toml"),
    `model = "gpt-5.3-codex-spark"\nmodel_provider = "standin"\n` +
      `model_catalog_json = "${join(fixtures, "acp", "codex-catalog.json")}"\n\n` +
      `[model_providers.standin]\nname = "Stand-in"\nbase_url = "${baseUrl}"\n` +
      `wire_api = "responses"\nenv_key = "STANDIN_KEY"\n`,
  );
  driverUrl = await startDriver({
    DISPLAY: display,
    FLINT_DATA_DIR: join(scratch.home, "data"),
    FLINT_CONFIG_DIR: join(scratch.home, "config"),
    OPENAI_BASE_URL: baseUrl,
    OPENAI_API_KEY: "",
    FLINT_MODEL: "fixture-model",
    // Codex is found on the PATH, as a user's own install would be.
    PATH: `${agents}:${process.env.PATH}`,
    CODEX_HOME: codexHome,
    STANDIN_KEY: "stand-in",
  });
});

after(() => {
  stopAll();
  if (codexHome) rmSync(codexHome, { recursive: true, force: true });
});

const text = async (wd, css) => wd.text(await wd.find(css));

test("Codex over ACP: its question with the diff, the patch allowed, output live, reviewed, undone", async (t) => {
  if (skip) return t.skip(skip);
  const wd = await new WebDriver(driverUrl).start(need("FLINT_APP"), [project]);
  try {
    const composer = await waitFor("the composer", () => wd.find("[data-testid=composer]"));
    // Codex for this session, from the picker in the chat header.
    await waitFor("Codex in the picker", async () =>
      wd.execute("return [...document.querySelector('[data-testid=agent-picker]').options].some(o => o.value === 'codex' && !o.textContent.includes('not installed'))"),
    );
    await wd.execute(
      "const s = document.querySelector('[data-testid=agent-picker]'); s.value = 'codex'; s.dispatchEvent(new Event('change', {bubbles: true}))",
    );
    await waitFor("the session on Codex", async () =>
      (await wd.execute("return document.querySelector('[data-testid=agent-picker]').value")) === "codex",
    );
    assert.equal(await wd.execute("return document.querySelector('[data-testid=mode]').value"), "ask");
    await wd.type(composer, "Make two loud in a.txt" + Keys.ENTER);

    // Codex asks before it patches (its read-only mode): its own options, the diff in
    // the review pane, the file untouched.
    await waitFor("Codex's question", async () => (await wd.findAll("[data-testid=agent-option-allow_once]")).length === 1, 60000);
    assert.match(await text(wd, "[data-testid=approval-title]"), /a\.txt/);
    await waitFor("its hunk in review", async () => (await wd.findAll("[data-testid=hunk]")).length === 1);
    assert.equal(readFileSync(join(project, "a.txt"), "utf8"), "one\ntwo\nthree\n");
    // Its first command ran before it: folded under its title, its output shown.
    assert.match(await text(wd, "[data-testid=transcript]"), /Reading it first\./);
    writeFileSync(join(out, "acp-approval.png"), await wd.screenshot());
    await wd.click(await wd.find("[data-testid=agent-option-allow_once]"));

    await waitFor("the final answer", async () => (await text(wd, "[data-testid=transcript]")).includes("a.txt now says TWO."), 60000);
    assert.equal(readFileSync(join(project, "a.txt"), "utf8"), "one\nTWO\nthree\n");
    const outputs = await Promise.all((await wd.findAll("[data-testid=tool-output]")).map((e) => wd.text(e)));
    assert.ok(outputs.some((o) => o.includes("TWO")), JSON.stringify(outputs));
    await wd.execute("document.querySelector('[data-testid=transcript]').scrollTop = 1e9");
    writeFileSync(join(out, "acp-turn.png"), await wd.screenshot());

    // The turn's review from its snapshot: what Codex changed, hunk by hunk.
    await wd.click(await wd.find("[data-testid=review-changes]"));
    await waitFor("the changes in review", async () => (await wd.findAll("[data-testid=hunk]")).length === 1);
    assert.match(await text(wd, "[data-testid=review-pane]"), /a\.txt/);
    writeFileSync(join(out, "acp-review.png"), await wd.screenshot());

    // Undone: a.txt as it was.
    await wd.click(await wd.find("[data-testid=undo-turn]"));
    await waitFor("the undo", async () => {
      const [m] = await wd.findAll("[data-testid=undo-turn-message]");
      return m && (await wd.text(m)).startsWith("Undid the turn");
    });
    assert.equal(readFileSync(join(project, "a.txt"), "utf8"), "one\ntwo\nthree\n");
  } catch (e) {
    writeFileSync(join(out, "acp-failed.png"), await wd.screenshot());
    throw e;
  } finally {
    await wd.quit();
  }
});
