// The real app, driven through tauri-driver and WebKitWebDriver under Xvfb: open the
// fixture project from the command line, stream an answer from the stand-in server,
// restart, and find the conversation again.
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
const expected = readFileSync(join(fixtures, "sse/chat-hello.txt"), "utf8");
const PROMPT = "What does this project do?";

let driverUrl;
let project;
let app;
let replayUrl;

before(async () => {
  app = need("FLINT_APP");
  mkdirSync(out, { recursive: true });
  // Paced at 400 events/s so the answer visibly streams for a fraction of a second.
  let baseUrl;
  ({ project, driverUrl, baseUrl } = await startJourney(fixtures, ["--chat", join(fixtures, "sse/chat-hello.sse"), "--rate", "400"]));
  replayUrl = baseUrl.replace(/\/v1$/, "");
});

after(() => stopAll());

async function launch(args) {
  return new WebDriver(driverUrl).start(app, args);
}

/** The picture of the project before anything was asked: a picture of the answer that
 *  equals it shows an earlier frame than the one the test checked. */
let emptyShot = null;

async function shot(wd, name, { unlike = null } = {}) {
  const png = await wd.screenshot();
  writeFileSync(join(out, name), png);
  assert.ok(png.length > 1000, "screenshot has content");
  if (unlike) assert.ok(!png.equals(unlike), `${name} shows the empty start screen, not what was checked`);
}

/** The fixture answer as markdown: its code in a highlighted block, prose as text. */
async function checkRendered(wd, el) {
  const text = await wd.execute("return arguments[0].querySelector('.text').textContent", [el]);
  assert.match(text, /The project is a small Rust crate\./);
  assert.match(text, /Résumé: it prints a greeting ✓\./);
  assert.ok(!text.includes("```"), `fences shown: ${text}`);
  const code = await wd.execute("return arguments[0].querySelector('pre.code').textContent", [el]);
  assert.equal(code, 'fn main() {\n    println!("hello from the fixture");\n}');
  assert.ok(await wd.execute("return !!arguments[0].querySelector('pre.code [class^=hl-]')", [el]), "code is highlighted");
}

async function textOf(wd, css) {
  const els = await wd.findAll(css);
  return Promise.all(els.map((e) => wd.text(e)));
}

test("opens a project, streams an answer, and keeps it across a restart", async () => {
  let wd = await launch([project]);
  try {
    // The three panes, the project and its branch.
    const name = await waitFor("the project name", async () => {
      const [t] = await textOf(wd, "[data-testid=project-name]");
      return t;
    });
    assert.equal(name, "project");
    assert.match((await textOf(wd, "[data-testid=git-branch]"))[0], /main/);
    await wd.find("[data-testid=review-pane]");

    // The file tree respects the project's .gitignore.
    const tree = await waitFor("the file tree", async () => {
      const names = await textOf(wd, "[data-testid=file-tree] .entry");
      return names.length > 0 && names;
    });
    assert.ok(tree.some((t) => t.includes("src")), `tree: ${tree}`);
    assert.ok(tree.includes("Cargo.toml"), `tree: ${tree}`);
    assert.ok(!tree.some((t) => t.includes("target") || t === "debug.log"), `ignored files shown: ${tree}`);

    // Ask; the answer streams in and completes.
    const composer = await wd.find("[data-testid=composer]");
    emptyShot = await wd.screenshot();
    await wd.type(composer, PROMPT + Keys.ENTER);
    const answer = await waitFor("the streamed answer", async () => {
      const [el] = await wd.findAll("[data-testid=message-assistant]");
      if (!el || (await wd.attribute(el, "data-status")) !== "complete") return null;
      return el;
    });
    // All of it arrived, and it is shown as markdown: a highlighted code block, no fences.
    assert.equal(Number(await wd.attribute(answer, "data-chars")), expected.length);
    await checkRendered(wd, answer);
    assert.deepEqual(await textOf(wd, "[data-testid=message-user] .text"), [PROMPT]);
    const metrics = await textOf(wd, "[data-testid=metrics]");
    assert.match(metrics[0], /first token \d+ ms/);
    await shot(wd, "streamed.png", { unlike: emptyShot });
  } finally {
    await wd.quit();
  }

  // Start again with no argument: the last project and its conversation come back.
  wd = await launch([]);
  try {
    await waitFor("the restored project", async () => (await textOf(wd, "[data-testid=project-name]"))[0] === "project");
    const restored = await waitFor("the restored conversation", async () => {
      const els = await wd.findAll("[data-testid=message-assistant]");
      return els.length === 1 && (await wd.findAll("[data-testid=message-assistant] pre.code")).length === 1 && els[0];
    });
    assert.equal(Number(await wd.attribute(restored, "data-chars")), expected.length);
    await checkRendered(wd, restored);
    assert.deepEqual(await textOf(wd, "[data-testid=message-user] .text"), [PROMPT]);
    await shot(wd, "restored.png", { unlike: emptyShot });

    // Full-text search over the history finds the answer and opens its session.
    await wd.click(await wd.find("[data-testid=history-tab]"));
    await wd.type(await waitFor("the search box", () => wd.find("[data-testid=session-search]")), "greeting");
    const hit = await waitFor("a search hit", async () => {
      const [h] = await wd.findAll("[data-testid=search-hit]");
      return h;
    });
    assert.equal(await wd.execute("return arguments[0].querySelector('mark').textContent", [hit]), "greeting");
    await shot(wd, "search.png");
    await wd.click(hit);
    await waitFor("the session shown", async () => (await textOf(wd, "[data-testid=message-user] .text"))[0] === PROMPT);
  } finally {
    await wd.quit();
  }
});

test("a path that is not a folder gets a clear message and changes nothing", async () => {
  const wd = await launch([join(project, "Cargo.toml")]);
  try {
    const notice = await waitFor("the notice", async () => (await textOf(wd, "[data-testid=notice]"))[0]);
    assert.match(notice, /is not a folder/);
    // The previous project is still the one shown.
    assert.equal((await textOf(wd, "[data-testid=project-name]"))[0], "project");
    await shot(wd, "not-a-folder.png");
  } finally {
    await wd.quit();
  }
});

test("an @-mention picked from the index sends the file's content with the prompt", async () => {
  const wd = await launch([project]);
  try {
    const composer = await waitFor("the composer", () => wd.find("[data-testid=composer]"));
    await wd.type(composer, "Summarise @lib");
    const list = await waitFor("the file list", async () => {
      const [l] = await wd.findAll("[data-testid=mentions]");
      return l && (await wd.text(l)).includes("src/lib.rs") && l;
    });
    assert.ok(list);
    await wd.type(composer, "\uE004"); // Tab picks the highlighted file
    const value = await wd.execute("return arguments[0].value", [composer]);
    assert.equal(value, "Summarise @src/lib.rs ");
    const meter = await waitFor("the context meter", async () => {
      const [m] = await wd.findAll("[data-testid=context-meter]");
      return m && (await wd.text(m));
    });
    assert.match(meter, /tokens/);
    writeFileSync(join(out, "mention.png"), await wd.screenshot());
    await wd.type(composer, Keys.ENTER);
    const sent = await waitFor("the request with the file", async () => {
      const reqs = await (await fetch(`${replayUrl}/__requests`)).json();
      const bodies = reqs.filter((r) => r.path.endsWith("/chat/completions")).map((r) => JSON.parse(r.body));
      const last = bodies[bodies.length - 1];
      const user = last?.messages?.[last.messages.length - 1]?.content ?? "";
      return user.includes("Summarise @src/lib.rs") && user;
    });
    assert.match(sent, /<file path="src\/lib.rs">\npub fn f1\(\) -> u32 \{ 1 \}/);
  } finally {
    await wd.quit();
  }
});
