// A ~100k-token answer in the real app: it streams with the view following its end, the
// parts of it far from what is shown are emptied (the page keeps little of it laid out),
// scrolling back fills them again where they were, and it opens again from the history.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { WebDriver, Keys, waitFor } from "./webdriver.mjs";
import { need, startJourney, stopAll } from "./harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = resolve(here, "../fixtures");
const out = join(here, "out");
const answerPath = join(fixtures, "bench/answer.md");
const REPEAT = 5;
let driverUrl;
let project;

before(async () => {
  mkdirSync(out, { recursive: true });
  ({ project, driverUrl } = await startJourney(fixtures, ["--answer", answerPath, "--repeat", String(REPEAT)]));
});

after(() => stopAll());

// The transcript's scroll state and the answer's chunks: how many, how many emptied.
const STATE = `
  const t = document.querySelector('[data-testid=transcript]');
  const chunks = [...document.querySelectorAll('[data-testid=message-assistant] .chunk')];
  return {
    top: t.scrollTop, height: t.scrollHeight, client: t.clientHeight,
    chunks: chunks.length,
    empty: chunks.filter((c) => c.childElementCount === 0).length,
    lazy: chunks.filter((c) => c.classList.contains('lazy')).length,
    elements: document.getElementsByTagName('*').length,
  };`;

/** The first line of text at the top of the transcript, and where it is. */
const AT_TOP = `
  const t = document.querySelector('[data-testid=transcript]');
  const r = t.getBoundingClientRect();
  for (let y = r.top + 10; y < r.top + 300; y += 8) {
    const el = document.elementFromPoint(r.left + 60, y);
    const block = el && el.closest('.chunk > *');
    if (block) return { text: block.textContent.slice(0, 80), y: block.getBoundingClientRect().top };
  }
  const el = document.elementFromPoint(r.left + 60, r.top + 30);
  return { text: '', debug: el ? el.outerHTML.slice(0, 200) : 'none' };`;

/** Scrolls the transcript up as the user does: the wheel says so (the view then stops
 *  following the live end; a scroll position set by a script alone does not), then the
 *  position is set. `to` is an expression of `t`, the transcript. */
const scrollTo = (wd, to) =>
  wd.execute(
    `const t = document.querySelector('[data-testid=transcript]');
     t.dispatchEvent(new WheelEvent('wheel', { deltaY: -100, bubbles: true, cancelable: true }));
     t.scrollTop = ${to}; return 1;`,
  );

const frames = (wd, n) =>
  wd.executeAsync(
    `const done = arguments[arguments.length - 1]; let k = ${n};
     const f = () => (--k > 0 ? requestAnimationFrame(f) : done(1)); requestAnimationFrame(f);`,
  );

test("a 100k-token answer: followed to its end, mostly emptied off screen, filled again in place, reopened", async () => {
  const expected = readFileSync(answerPath, "utf8").length * REPEAT;
  let wd = await new WebDriver(driverUrl).start(need("FLINT_APP"), [project]);
  try {
    const composer = await waitFor("the composer", () => wd.find("[data-testid=composer]"));
    await wd.type(composer, "All of it, five times." + Keys.ENTER);
    await waitFor(
      "the whole answer",
      async () => {
        const [el] = await wd.findAll("[data-testid=message-assistant]");
        return el && (await wd.attribute(el, "data-status")) === "complete";
      },
      120000,
    );
    const el = (await wd.findAll("[data-testid=message-assistant]"))[0];
    assert.equal(Number(await wd.attribute(el, "data-chars")), expected);
    await frames(wd, 10);
    const end = await wd.execute(STATE);
    // The view followed the answer to its end.
    assert.ok(end.height - end.top - end.client < 5, `not at the end: ${JSON.stringify(end)}`);
    // Most of it is emptied: a handful of chunks near the end are laid out.
    assert.ok(end.chunks >= 20, `chunks: ${JSON.stringify(end)}`);
    // Kept: those within two view heights of the view (the window is 1280x800 under Xvfb).
    assert.ok(end.chunks - end.empty <= 6, `chunks kept: ${JSON.stringify(end)}`);
    assert.ok(end.elements < 6000, `elements in the page (32,263 before): ${end.elements}`);
    writeFileSync(join(out, "long-end.png"), await wd.screenshot());

    // Back to a point in the middle (its chunk and those around it emptied), then up a
    // step at a time: at each stop, as the chunks around are filled again and laid out,
    // what is read at the top of the view stays where it is.
    await scrollTo(wd, "t.scrollHeight * 0.45");
    for (let step = 0; step < 6; step++) {
      // Each move lands near (or, the first, on) emptied chunks: they are filled and
      // laid out in the frames after it; from then on what is read stays in place.
      if (step > 0) await scrollTo(wd, "t.scrollTop - 350");
      await frames(wd, step === 0 ? 6 : 3);
      const read = await wd.execute(AT_TOP);
      assert.ok(read.text.length > 0, `text at the top at step ${step}: ${JSON.stringify(read)} ${JSON.stringify(await wd.execute(STATE))}`);
      await frames(wd, 4);
      const later = await wd.execute(AT_TOP);
      assert.equal(later.text, read.text, `step ${step}`);
      assert.ok(Math.abs(later.y - read.y) < 2, `step ${step}: moved from ${read.y} to ${later.y}`);
    }
    const mid = await wd.execute(STATE);
    assert.ok(mid.chunks - mid.empty >= 2, `filled around the middle: ${JSON.stringify(mid)}`);

    // The top: the answer's first words, filled again.
    await scrollTo(wd, "0");
    await frames(wd, 6);
    const first = await wd.execute(
      "return document.querySelector('[data-testid=message-assistant] .chunk').textContent.slice(0, 40)",
    );
    assert.match(first, /^Here is a walk through the code paths/);
    writeFileSync(join(out, "long-top.png"), await wd.screenshot());
  } finally {
    await wd.quit();
  }

  // Opened again from the history: all of it there, most of it never laid out.
  wd = await new WebDriver(driverUrl).start(need("FLINT_APP"), []);
  try {
    await waitFor("the restored answer", async () => {
      const [el] = await wd.findAll("[data-testid=message-assistant]");
      return el && Number(await wd.attribute(el, "data-chars")) === expected;
    });
    await waitFor("its blocks", async () => (await wd.execute(STATE)).chunks > 0);
    await frames(wd, 10);
    const opened = await wd.execute(STATE);
    assert.ok(opened.lazy >= opened.chunks - 1, `lazy: ${JSON.stringify(opened)}`);
    assert.ok(opened.chunks - opened.empty <= 6, `chunks kept: ${JSON.stringify(opened)}`);
    assert.ok(opened.height - opened.top - opened.client < 5, `not at the end: ${JSON.stringify(opened)}`);
  } finally {
    await wd.quit();
  }
});
