// Stop in the real app: a slow stream is stopped part way; what arrived stays on screen
// and in the history, marked as stopped.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
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
  // 8 events a second: the 49-event answer would take about 6 s.
  ({ project, driverUrl } = await startJourney(fixtures, ["--chat", join(fixtures, "sse/chat-hello.sse"), "--rate", "8"]));
});

after(() => stopAll());

const textOf = async (wd, css) => Promise.all((await wd.findAll(css)).map((e) => wd.text(e)));

test("Stop ends the stream and keeps what arrived; Retry answers again; both survive a restart", async () => {
  let wd = await new WebDriver(driverUrl).start(need("FLINT_APP"), [project]);
  let partial;
  try {
    const composer = await waitFor("the composer", () => wd.find("[data-testid=composer]"));
    await wd.type(composer, "Explain slowly" + Keys.ENTER);
    await waitFor("some streamed text", async () => {
      const [t] = await textOf(wd, "[data-testid=message-assistant] .text");
      return t && t.length > 10;
    });
    // The live readout shows while the answer streams.
    const live = await waitFor("the live readout", async () => {
      const [r] = await textOf(wd, "[data-testid=live-readout]");
      return r && /tok\/s/.test(r) && r;
    });
    assert.match(live, /first token \d+ ms · ~\d+ tok\/s/);
    await wd.click(await wd.find("[data-testid=stop]"));
    await waitFor("the stopped status", async () => {
      const [el] = await wd.findAll("[data-testid=message-assistant]");
      return el && (await wd.attribute(el, "data-status")) === "cancelled";
    });
    const chars = async () => Number(await wd.attribute((await wd.findAll("[data-testid=message-assistant]"))[0], "data-chars"));
    partial = await chars();
    const shown = (await textOf(wd, "[data-testid=message-assistant] .text"))[0];
    assert.ok(partial > 10 && !shown.includes("greeting"), `partial: ${shown}`);
    // Nothing more arrives after Stop.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await chars(), partial);
    assert.match((await textOf(wd, "[data-testid=message-assistant] .status"))[0], /Stopped/);
    await wd.find("[data-testid=send]"); // the composer is ready again
    writeFileSync(join(out, "stopped.png"), await wd.screenshot());

    // Retry answers the same prompt again; the stopped answer stays above it.
    await wd.click(await wd.find("[data-testid=retry]"));
    await waitFor(
      "the retried answer",
      async () => {
        const els = await wd.findAll("[data-testid=message-assistant]");
        return els.length === 2 && (await wd.attribute(els[1], "data-status")) === "complete";
      },
      30000,
    );
    assert.equal((await textOf(wd, "[data-testid=message-user]")).length, 1);
  } finally {
    await wd.quit();
  }
  wd = await new WebDriver(driverUrl).start(need("FLINT_APP"), []);
  try {
    const restored = await waitFor("the restored partial answer", async () => {
      const [el] = await wd.findAll("[data-testid=message-assistant]");
      return el && Number(await wd.attribute(el, "data-chars"));
    });
    assert.equal(restored, partial);
  } finally {
    await wd.quit();
  }
});
