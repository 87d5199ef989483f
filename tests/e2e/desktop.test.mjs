// Flint on the desktop. The quick prompt as a user reaches it: from the tray menu
// (clicked over D-Bus, as a panel does), from the global shortcut (pressed with
// xdotool), and from `flint --quick-prompt` run while Flint is running (handed to the
// running instance); a prompt there streams its answer and continues in the main
// window. A second project opened from the command line beside the first, with the
// switcher going back. And a folder dragged in from another window.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { WebDriver, Keys, waitFor } from "./webdriver.mjs";
import { makeProject, need, startDriver, startReplay, startSessionBus, startXvfb, stopAll } from "./harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = resolve(here, "../fixtures");
const out = join(here, "out");
const expected = readFileSync(join(fixtures, "sse/chat-hello.txt"), "utf8");
const PROMPT = "What is this project, in one line?";

let app;
let env;
let wd;
let project;
let mainHandle;

// The tray is clicked over D-Bus, the shortcut pressed with xdotool and the folder
// dragged from a GTK window: X11 and D-Bus tools, so these journeys run on Linux.
const skip = process.platform !== "linux" && "Linux desktop tools (X11, D-Bus)";

before(async () => {
  if (skip) return;
  app = need("FLINT_APP");
  mkdirSync(out, { recursive: true });
  const scratch = makeProject(join(fixtures, "project"));
  project = scratch.project;
  const display = await startXvfb();
  const bus = await startSessionBus();
  const baseUrl = await startReplay(["--chat", join(fixtures, "sse/chat-hello.sse"), "--rate", "400"]);
  env = {
    DISPLAY: display,
    DBUS_SESSION_BUS_ADDRESS: bus,
    FLINT_DATA_DIR: join(scratch.home, "data"),
    FLINT_CONFIG_DIR: join(scratch.home, "config"),
    OPENAI_BASE_URL: baseUrl,
    OPENAI_API_KEY: "",
    FLINT_MODEL: "fixture-model",
  };
  wd = await new WebDriver(await startDriver(env)).start(app, [project]);
  await waitFor("the main window", async () => (await wd.findAll("[data-testid=composer]")).length > 0, 30000);
  mainHandle = await wd.window();
});

after(async () => {
  await wd?.quit();
  stopAll();
});

const gdbus = (...args) =>
  execFileSync("gdbus", ["call", "--session", "--timeout", "5", ...args], {
    env: { ...process.env, ...env },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });

/** Clicks the tray menu item labelled `label` the way a panel does: dbusmenu's Event. */
function clickTray(label) {
  const path = "/org/ayatana/NotificationItem/tray_icon_tray_app_flint/Menu";
  const names = gdbus("--dest", "org.freedesktop.DBus", "--object-path", "/org/freedesktop/DBus", "--method", "org.freedesktop.DBus.ListNames");
  for (const name of names.match(/:\d+\.\d+/g) ?? []) {
    let layout;
    try {
      layout = gdbus("--dest", name, "--object-path", path, "--method", "com.canonical.dbusmenu.GetLayout", "--", "0", "-1", "['label']");
    } catch {
      continue; // not the app
    }
    const m = layout.match(new RegExp(`\\((\\d+), \\{'label': <'${label}'>`));
    assert.ok(m, `no tray item "${label}" in ${layout}`);
    gdbus("--dest", name, "--object-path", path, "--method", "com.canonical.dbusmenu.Event", "--", m[1], "clicked", '<"">', "0");
    return layout;
  }
  throw new Error("no tray menu on the session bus");
}

/** The quick-prompt window's handle, once it exists; the main window's is `main`. */
async function windows() {
  const main = mainHandle;
  const quick = await waitFor("the quick-prompt window", async () => {
    for (const h of await wd.windows()) {
      if (h === main) continue;
      await wd.switchTo(h);
      if ((await wd.findAll("[data-testid=quick-prompt]")).length > 0) return h;
    }
    await wd.switchTo(main);
    return null;
  });
  return { main, quick };
}

const visible = () => wd.execute("return document.visibilityState === 'visible'");

test("the tray menu opens the quick prompt; an answer streams there and continues in Flint", { skip }, async () => {
  const layout = clickTray("Quick prompt");
  // The tray also lists the recent projects, this one first.
  assert.match(layout, /'label': <'project'>/);
  const { main, quick } = await windows();
  assert.equal(await wd.window(), quick);
  await waitFor("the project and model in the quick prompt", async () =>
    /project · fixture-model/.test(await wd.text(await wd.find("[data-testid=quick-target]"))),
  );
  await wd.type(await wd.find("[data-testid=quick-input]"), PROMPT + Keys.ENTER);
  const answer = await waitFor("the streamed answer", async () => {
    const [el] = await wd.findAll("[data-testid=message-assistant]");
    return el && (await wd.attribute(el, "data-status")) === "complete" && el;
  });
  assert.equal(Number(await wd.attribute(answer, "data-chars")), expected.length);
  writeFileSync(join(out, "quick-prompt.png"), await wd.screenshot());

  // Continue in Flint: the main window shows the session, and the quick prompt hides.
  await wd.click(await wd.find("[data-testid=quick-continue]"));
  await waitFor("the quick prompt to hide", async () => !(await visible()));
  await wd.switchTo(main);
  const said = await waitFor("the session in the main window", async () => {
    const users = await wd.findAll("[data-testid=message-user] .text");
    return users.length === 1 && (await wd.text(users[0]));
  });
  assert.equal(said, PROMPT);
  const [inMain] = await wd.findAll("[data-testid=message-assistant]");
  assert.equal(Number(await wd.attribute(inMain, "data-chars")), expected.length);
  writeFileSync(join(out, "quick-continued.png"), await wd.screenshot());
});

test("`flint --quick-prompt` opens the quick prompt in the running Flint, and Esc hides it", { skip }, async () => {
  const { quick } = await windows();
  assert.equal(await visible(), false, "hidden after Continue");
  const second = spawn(app, ["--quick-prompt"], { env: { ...process.env, ...env }, stdio: "ignore" });
  const code = await new Promise((r) => second.on("exit", r));
  assert.equal(code, 0, "the second launch hands over and exits");
  await wd.switchTo(quick);
  await waitFor("the quick prompt to show", visible);
  await wd.execute("document.activeElement.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true}))");
  await waitFor("Esc to hide it", async () => !(await visible()));
});

test("the global shortcut opens the quick prompt", { skip }, async () => {
  const { quick } = await windows();
  assert.equal(await visible(), false);
  execFileSync("xdotool", ["key", "ctrl+shift+space"], { env: { ...process.env, ...env } });
  await wd.switchTo(quick);
  await waitFor("the shortcut to show the quick prompt", visible);
});

test("`flint OTHER` opens a second project in the running Flint; the switcher goes back", { skip }, async () => {
  const scratch = makeProject(join(fixtures, "project"));
  const other = join(scratch.home, "other");
  renameSync(scratch.project, other);
  await wd.switchTo(mainHandle);
  const second = spawn(app, [other], { env: { ...process.env, ...env }, stdio: "ignore" });
  assert.equal(await new Promise((r) => second.on("exit", r)), 0, "handed to the running Flint");
  await waitFor("the second project", async () => (await wd.text(await wd.find("[data-testid=project-name]"))) === "other");

  await wd.click(await wd.find("[data-testid=project-name]"));
  const open = await waitFor("the open projects", async () => {
    const els = await wd.findAll("[data-testid=switch-open]");
    return els.length === 2 && els;
  });
  assert.deepEqual(await Promise.all(open.map((e) => wd.text(e))), ["● other", "● project"]);
  writeFileSync(join(out, "switcher.png"), await wd.screenshot());
  await wd.click(open[1]);
  await waitFor("back on the first project", async () => (await wd.text(await wd.find("[data-testid=project-name]"))) === "project");
  // Its conversation (from the quick prompt, continued here) is still there.
  const users = await wd.findAll("[data-testid=message-user] .text");
  assert.equal(await wd.text(users[0]), PROMPT);
});

test("a folder dragged onto the window from outside opens as the project", { skip }, async () => {
  const scratch = makeProject(join(fixtures, "project"));
  const dropped = join(scratch.home, "dropped");
  renameSync(scratch.project, dropped);
  await wd.switchTo(mainHandle);
  // A small GTK window (tests/e2e/drag_source.py) holds the folder, as a file manager
  // would; xdotool drags it onto the chat pane (XDND with text/uri-list).
  const source = spawn("/usr/bin/python3", [join(here, "drag_source.py"), dropped, "1080", "720"], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    await new Promise((resolveReady, reject) => {
      source.stdout.on("data", (d) => String(d).includes("ready") && resolveReady());
      source.on("exit", (code) => reject(new Error(`drag source exited (${code})`)));
    });
    const xdo = (...args) => execFileSync("xdotool", args, { env: { ...process.env, ...env } });
    xdo("mousemove", "1120", "745");
    xdo("mousedown", "1");
    for (const [x, y] of [[1100, 730], [1000, 650], [800, 500], [640, 380], [620, 360]]) {
      xdo("mousemove", String(x), String(y));
      await new Promise((r) => setTimeout(r, 120));
    }
    xdo("mouseup", "1");
    await waitFor("the dropped folder as the project", async () => (await wd.text(await wd.find("[data-testid=project-name]"))) === "dropped");
    writeFileSync(join(out, "dropped.png"), await wd.screenshot());
  } finally {
    if (source.exitCode === null) source.kill();
  }
});
