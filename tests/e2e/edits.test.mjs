// Edits in the real app: an answer streams an apply_patch edit; the review pane shows
// its two hunks; the user rejects one, applies the other, and undoes it, with the file
// on disk checked at each step.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { WebDriver, Keys, waitFor } from "./webdriver.mjs";
import { need, startJourney, stopAll } from "./harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = resolve(here, "../fixtures");
const out = join(here, "out");
let driverUrl;
let project;

before(async () => {
  mkdirSync(out, { recursive: true });
  ({ project, driverUrl } = await startJourney(fixtures, ["--chat", join(fixtures, "sse/chat-edit.sse"), "--rate", "200"]));
});

after(() => stopAll());

test("a streamed edit is reviewed hunk by hunk, applied, and undone", async () => {
  const lib = join(project, "src/lib.rs");
  const original = readFileSync(lib, "utf8");
  const wd = await new WebDriver(driverUrl).start(need("FLINT_APP"), [project]);
  try {
    const composer = await waitFor("the composer", () => wd.find("[data-testid=composer]"));
    await wd.type(composer, "Make f1 and f20 return larger values" + Keys.ENTER);
    const hunks = await waitFor("two hunks in review", async () => {
      const h = await wd.findAll("[data-testid=hunk]");
      return h.length === 2 && h;
    });
    await waitFor("the answer to finish", async () => {
      const [el] = await wd.findAll("[data-testid=message-assistant]");
      return el && (await wd.attribute(el, "data-status")) === "complete";
    });
    assert.equal(readFileSync(lib, "utf8"), original, "nothing is written before review");

    const toggles = await wd.findAll("[data-testid=hunk-toggle]");
    await wd.click(toggles[1]);
    assert.equal(await wd.text(toggles[1]), "✗ rejected");
    assert.equal(hunks.length, 2);
    writeFileSync(join(out, "review.png"), await wd.screenshot());

    await wd.click(await wd.find("[data-testid=apply]"));
    await waitFor("the applied status", async () => {
      const [f] = await wd.findAll("[data-testid=review-file]");
      return f && (await wd.attribute(f, "data-status")) === "applied";
    });
    const applied = readFileSync(lib, "utf8");
    assert.match(applied, /pub fn f1\(\) -> u32 \{ 100 \}/);
    assert.match(applied, /pub fn f20\(\) -> u32 \{ 20 \}/);
    writeFileSync(join(out, "applied.png"), await wd.screenshot());

    // The git panel shows the change; stage and commit it from there.
    await wd.click(await wd.find("[data-testid=git-tab]"));
    const stage = await waitFor("the changed file in the git panel", async () => {
      const [b] = await wd.findAll("[data-testid=stage]");
      return b;
    });
    assert.match(await wd.text(await wd.find("[data-testid=git-panel]")), /src\/lib.rs/);
    await wd.click(stage);
    const msg = await waitFor("the commit box", () => wd.find("[data-testid=commit-message]"));
    await wd.type(msg, "Return 100 from f1");
    await wd.click(await wd.find("[data-testid=commit]"));
    await waitFor("the commit", async () => (await wd.text(await wd.find("[data-testid=git-panel]"))).includes("Committed."));
    const log = execFileSync("git", ["log", "--oneline", "-1"], { cwd: project, encoding: "utf8" });
    assert.match(log, /Return 100 from f1/);
    writeFileSync(join(out, "git.png"), await wd.screenshot());

    // Undo still restores the file (it is Flint's checkpoint, independent of git).
    await wd.click(await wd.find("[data-testid=undo]"));
    await waitFor("the file restored", async () => readFileSync(lib, "utf8") === original);
    assert.match(await wd.text(await wd.find("[data-testid=review-message]")), /Undid: src\/lib.rs/);
  } finally {
    await wd.quit();
  }
});
