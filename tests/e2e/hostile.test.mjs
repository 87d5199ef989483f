// Hostile model output in the real app: every payload streams through the renderer,
// none runs, and each is shown as text.
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
let baseUrl;

before(async () => {
  mkdirSync(out, { recursive: true });
  ({ project, driverUrl, baseUrl } = await startJourney(fixtures, ["--chat", join(fixtures, "sse/chat-hostile.sse"), "--rate", "400"]));
});

after(() => stopAll());

test("hostile output is inert and shown as text", async () => {
  const wd = await new WebDriver(driverUrl).start(need("FLINT_APP"), [project]);
  try {
    const composer = await waitFor("the composer", () => wd.find("[data-testid=composer]"));
    await wd.type(composer, "show me payloads" + Keys.ENTER);
    const el = await waitFor("the answer", async () => {
      const [m] = await wd.findAll("[data-testid=message-assistant]");
      return m && (await wd.attribute(m, "data-status")) === "complete" && m;
    });
    // Links are clickable in principle: click the one the model made.
    const links = await wd.execute("return Array.from(arguments[0].querySelectorAll('a')).map(a => a.getAttribute('href'))", [el]);
    for (const a of await wd.findAll("[data-testid=message-assistant] a")) await wd.click(a);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await wd.execute("return String(window.__pwned)"), "undefined");
    const tags = await wd.execute(
      "return Array.from(arguments[0].querySelectorAll('script,img,svg,iframe,style,[onclick],[onerror],[onload]')).map(e => e.tagName)",
      [el],
    );
    assert.deepEqual(tags, []);
    assert.ok(links.every((h) => h === "" || h === null || /^https?:/.test(h)), `hrefs: ${links}`);
    const text = await wd.execute("return arguments[0].querySelector('.text').textContent", [el]);
    for (const shown of ["<script>window.__pwned = 'script'</script>", "<img src=x onerror=", "<svg onload=", "<iframe src=", "<style>body", "Entities: <script> &amp; end."]) {
      assert.ok(text.includes(shown), `not shown as text: ${shown}\n${text}`);
    }
    assert.equal(await wd.execute("return getComputedStyle(document.body).display"), "block");
    writeFileSync(join(out, "hostile.png"), await wd.screenshot());

    // Whatever tries to navigate the window (WebKit's "Open Link", a script), the app's
    // own page stays: the navigation guard refuses every other URL.
    // The target is a page that answers at once (the stand-in server on 127.0.0.1), so
    // without the guard the window would be there well within the wait.
    const home = await wd.execute("return location.href");
    await wd.execute("location.assign(arguments[0]); return 1;", [`${baseUrl}/models`]).catch(() => {});
    for (let i = 0; i < 30; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const now = await wd.execute("return location.href").catch(() => "(navigated away)");
      assert.equal(now, home, "the window navigated away from the app");
    }
    await wd.find("[data-testid=composer]");
    // A script asking for a new window gets none (no handler is set, and wry then
    // refuses WebKit's request), so no second, unguarded webview exists.
    const opened = await wd.execute("const w = window.open(arguments[0]); return w === null ? 'none' : 'opened';", [`${baseUrl}/models`]);
    assert.equal(opened, "none", "window.open made a window");
  } finally {
    await wd.quit();
  }
});
