// The agent in the real app, in Ask mode: the stand-in plays a model that reads a
// file, patches it (the patch reviewed in the review pane), runs the project's tests
// (the command approved), sees them fail, patches again, runs them again (allowed for
// the session, so not asked twice) and they pass; then the whole turn is undone and
// every file is byte-identical to before.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { WebDriver, Keys, waitFor } from "./webdriver.mjs";
import { need, startJourney, stopAll } from "./harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = resolve(here, "../fixtures");
const out = join(here, "out");
let driverUrl;
let project;

const WRONG = "*** Begin Patch\n*** Update File: calc.sh\n@@\n add() {\n-  echo $(( $1 - $2 ))\n+  echo $(( $1 + $2 ))1\n }\n*** End Patch";
const RIGHT = "*** Begin Patch\n*** Update File: calc.sh\n@@\n add() {\n-  echo $(( $1 + $2 ))1\n+  echo $(( $1 + $2 ))\n }\n*** End Patch";
const call = (id, name, input, custom = false) => ({
  id,
  name,
  input: custom ? input : JSON.stringify(input),
  custom,
});
const script = {
  steps: [
    { text: "Let me read `add`.", calls: [call("c1", "read_file", { path: "calc.sh" })] },
    { text: "", calls: [call("c2", "apply_patch", WRONG, true)] },
    { text: "", calls: [call("c3", "run_command", { command: "sh test_calc.sh", why: "run the tests" })] },
    { text: "Off by a digit.", calls: [call("c4", "apply_patch", RIGHT, true)] },
    { text: "", calls: [call("c5", "run_command", { command: "sh test_calc.sh", why: "check again" })] },
    { text: "Fixed: `add` adds, and the tests pass.", calls: [] },
  ],
};

/** Every file of the project but .git, with its bytes. */
function files(root) {
  const outMap = {};
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      if (name === ".git") continue;
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else outMap[relative(root, p)] = readFileSync(p).toString("base64");
    }
  };
  walk(root);
  return outMap;
}

before(async () => {
  mkdirSync(out, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), "flint-agent-"));
  const scriptFile = join(dir, "script.json");
  writeFileSync(scriptFile, JSON.stringify(script));
  ({ project, driverUrl } = await startJourney(fixtures, ["--script", scriptFile, "--rate", "2000"]));
  writeFileSync(join(project, "calc.sh"), "add() {\n  echo $(( $1 - $2 ))\n}\n");
  writeFileSync(
    join(project, "test_calc.sh"),
    '. ./calc.sh\nfor t in "2 3 5" "-1 1 0"; do set -- $t\n' +
      '  if [ "$(add $1 $2)" = "$3" ]; then echo "ok add $1 $2"; else echo "FAIL add $1 $2"; exit 1; fi\ndone\n',
  );
});

after(() => stopAll());

const text = async (wd, css) => wd.text(await wd.find(css));

test("a scripted task: read, patch, test, patch, test, all approved; then the turn undone to the byte", async () => {
  const before = files(project);
  const wd = await new WebDriver(driverUrl).start(need("FLINT_APP"), [project]);
  try {
    const composer = await waitFor("the composer", () => wd.find("[data-testid=composer]"));
    assert.equal(await wd.execute("return document.querySelector('[data-testid=mode]').value"), "ask");
    await wd.type(composer, "make the tests pass" + Keys.ENTER);

    // The first patch waits for review: the pane shows its hunk, nothing is written.
    await waitFor("the edit to approve", async () => (await text(wd, "[data-testid=approval]")).includes("calc.sh"));
    await waitFor("its hunk in review", async () => (await wd.findAll("[data-testid=hunk]")).length === 1);
    assert.match(readFileSync(join(project, "calc.sh"), "utf8"), /\$1 - \$2/);
    // The read before it is folded in the transcript, as what it did.
    assert.match(await text(wd, "[data-testid=transcript]"), /Read calc\.sh/);
    writeFileSync(join(out, "agent-review.png"), await wd.screenshot());
    await wd.click(await wd.find("[data-testid=apply]"));

    // The test run waits for approval: the command, where, and why.
    await waitFor("the command to approve", async () => {
      const [c] = await wd.findAll("[data-testid=approval-command]");
      return c && (await wd.text(c)) === "sh test_calc.sh";
    });
    assert.equal(await text(wd, "[data-testid=approval-why]"), "run the tests");
    writeFileSync(join(out, "agent-approval.png"), await wd.screenshot());
    await wd.click(await wd.find("[data-testid=allow-session]"));

    // It fails; the output shows under the call.
    await waitFor("the failing output", async () =>
      (await wd.findAll("[data-testid=tool-output]")).length >= 1 &&
      (await text(wd, "[data-testid=tool-output]")).includes("FAIL add 2 3"),
    );

    // The second patch: accepted from the prompt.
    await waitFor("the second edit", async () => {
      const [a] = await wd.findAll("[data-testid=accept-edit]");
      return a;
    });
    await wd.click(await wd.find("[data-testid=accept-edit]"));

    // The second run is not asked (allowed for the session), and passes.
    await waitFor("the final answer", async () => (await text(wd, "[data-testid=transcript]")).includes("the tests pass."), 30000);
    const outputs = await Promise.all((await wd.findAll("[data-testid=tool-output]")).map((e) => wd.text(e)));
    assert.equal(outputs.length, 2);
    assert.match(outputs[1], /ok add -1 1\n/);
    assert.equal(readFileSync(join(project, "calc.sh"), "utf8"), "add() {\n  echo $(( $1 + $2 ))\n}\n");
    await wd.execute("document.querySelector('[data-testid=transcript]').scrollTop = 1e9");
    writeFileSync(join(out, "agent-output.png"), await wd.screenshot());

    // The whole turn, undone: every file as it was.
    await wd.click(await wd.find("[data-testid=undo-turn]"));
    await waitFor("the undo", async () => {
      const [m] = await wd.findAll("[data-testid=undo-turn-message]");
      return m && (await wd.text(m)).startsWith("Undid the turn");
    });
    assert.deepEqual(files(project), before);
  } catch (e) {
    // What was on screen when it failed, to look at.
    writeFileSync(join(out, "agent-failed.png"), await wd.screenshot());
    throw e;
  } finally {
    await wd.quit();
  }
});
