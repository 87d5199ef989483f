// First run in the real app: no provider configured; a local server answers on Ollama's
// default port (the stand-in plays it), the welcome view finds it, one click connects
// it, and the chat works at once.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { WebDriver, Keys, waitFor } from "./webdriver.mjs";
import { makeProject, need, startDriver, startReplay, startXvfb, stopAll } from "./harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = resolve(here, "../fixtures");
const out = join(here, "out");
const OLLAMA_PORT = 11434;
let driverUrl;
let project;
let skip = null;

function portFree(port) {
  return new Promise((res) => {
    const srv = createServer();
    srv.once("error", () => res(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => res(true)));
  });
}

before(async () => {
  if (!(await portFree(OLLAMA_PORT))) {
    skip = `port ${OLLAMA_PORT} is taken (a real Ollama?); the first-run test needs it`;
    return;
  }
  mkdirSync(out, { recursive: true });
  const scratch = makeProject(join(fixtures, "project"));
  project = scratch.project;
  const display = await startXvfb();
  await startReplay([
    "--port", String(OLLAMA_PORT),
    "--chat", join(fixtures, "sse/chat-hello.sse"),
    "--models", join(fixtures, "models.json"),
  ]);
  // A clean environment: no provider variables at all.
  const env = { DISPLAY: display, FLINT_DATA_DIR: join(scratch.home, "data"), FLINT_CONFIG_DIR: join(scratch.home, "config") };
  for (const k of Object.keys(process.env)) {
    if (/_API_KEY$|^OPENAI_BASE_URL$|^FLINT_(MODEL|PROVIDER|BASE_URL)$/.test(k)) env[k] = "";
  }
  driverUrl = await startDriver(env);
});

after(() => stopAll());

test("first run finds a local server and chats through it in one click", async (t) => {
  if (skip) return t.skip(skip);
  const wd = await new WebDriver(driverUrl).start(need("FLINT_APP"), [project]);
  try {
    const use = await waitFor("the detected local server", () => wd.find("[data-testid=use-ollama]"));
    assert.match(await wd.text(use), /fixture-model/);
    writeFileSync(join(out, "first-run.png"), await wd.screenshot());
    await wd.click(use);
    const composer = await waitFor("the composer", () => wd.find("[data-testid=composer]"));
    await wd.type(composer, "hello" + Keys.ENTER);
    await waitFor("the answer", async () => {
      const [el] = await wd.findAll("[data-testid=message-assistant]");
      return el && (await wd.attribute(el, "data-status")) === "complete";
    });
  } finally {
    await wd.quit();
  }
});
