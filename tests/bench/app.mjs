// The app half of the benchmark suite (`cargo xtask bench` runs it and prints the table):
// the release app under Xvfb, driven through tauri-driver, streaming a long code-heavy
// answer from the stand-in server. Prints one JSON object of figures on stdout.
//
// What is measured, and where:
// - display: Enter to the answer's last line painted, server unpaced (the UI records
//   both moments; window.__flintPerf, ui/src/lib/perf.ts);
// - lag: per painted frame, from the oldest text in it reaching Rust (stamped there) to
//   the paint; and frame gaps while streaming, at paced rates;
// - cold start: process spawn to the first paint (logged by the app on stderr);
// - memory: proportional set size (PSS) summed over the app and every process it
//   started (WebKit's web and network processes), idle and after 100k tokens;
// - opening a 200-turn session from the history.
// The sustained display and the cold start run twice: on the quiet machine and under a
// synthetic load (a busy loop on every core but one, at normal priority, started and
// stopped here), the stand-in for the user's build running beside Flint.
import { spawn, execFileSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { existsSync, readFileSync, readdirSync, realpathSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { WebDriver, Keys, waitFor } from "../e2e/webdriver.mjs";
import { makeProject, mark, need, startDriver, startReplay, startXvfb, stopAll, stopSince } from "../e2e/harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = resolve(here, "../fixtures");
const answerPath = join(fixtures, "bench/answer.md");
const answer = readFileSync(answerPath, "utf8");
const out = join(here, "out");
const app = need("FLINT_APP");
const makeSession = need("FLINT_MAKE_SESSION");
const quick = process.env.FLINT_BENCH_QUICK === "1";
// One phase only (display, paced, acp, cold, 100k, session200), e.g. to re-measure it.
const only = process.env.FLINT_BENCH_ONLY ?? null;
const phase = (name) => only === null || only === name;
const log = (...a) => console.error("bench:", ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- processes and memory ----------------------------------------------------------

function procs() {
  const all = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      all.push({ pid: Number(d), ppid, comm });
    } catch {
      // gone already
    }
  }
  return all;
}

function tree(root) {
  const all = procs();
  const pids = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of all) {
      if (!pids.has(p.pid) && pids.has(p.ppid)) {
        pids.add(p.pid);
        grew = true;
      }
    }
  }
  return all.filter((p) => pids.has(p.pid));
}

function rollup(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const kb = (k) => Number((text.match(new RegExp(`^${k}:\\s+(\\d+) kB`, "m")) ?? [0, 0])[1]);
    return { pss: kb("Pss"), rss: kb("Rss") };
  } catch {
    return { pss: 0, rss: 0 };
  }
}

/** PSS and RSS in MiB summed over a process and its descendants, with their names. */
function memory(root) {
  const ps = tree(root);
  let pss = 0;
  let rss = 0;
  const split = [];
  for (const p of ps) {
    const m = rollup(p.pid);
    pss += m.pss;
    rss += m.rss;
    split.push(`${p.comm} ${(m.pss / 1024).toFixed(0)}`);
  }
  return { pssMiB: pss / 1024, rssMiB: rss / 1024, processes: ps.map((p) => p.comm), split: split.join(", ") };
}

/** The app's pid among the descendants of tauri-driver (it starts WebKitWebDriver, which
 *  starts the app). */
function appPid() {
  const exe = realpathSync(app);
  for (const p of procs()) {
    try {
      if (realpathSync(`/proc/${p.pid}/exe`) === exe) return p.pid;
    } catch {
      // not ours to read, or gone
    }
  }
  throw new Error("the app process was not found");
}

// ---- statistics --------------------------------------------------------------------

function pct(values, p) {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const median = (v) => pct(v, 50);

// ---- set-up ------------------------------------------------------------------------

const scratch = makeProject(join(fixtures, "project"));
const display = await startXvfb();
const base = mark(); // each phase stops what it started, the display stays
mkdirSync(out, { recursive: true });
let serial = 0;

function appEnv(baseUrl, dataDir) {
  return {
    DISPLAY: display,
    FLINT_DATA_DIR: dataDir,
    FLINT_CONFIG_DIR: join(scratch.home, "config"),
    OPENAI_BASE_URL: baseUrl,
    OPENAI_API_KEY: "",
    FLINT_MODEL: "fixture-model",
    // What the app itself picks on a machine without a GPU render node (lib.rs,
    // software_rendering_fallback); the end-to-end harness pins WebKit's default
    // renderer for its screenshots, so the benchmarks say it outright.
    WEBKIT_DISABLE_DMABUF_RENDERER: existsSync("/dev/dri") ? "0" : "1",
  };
}

/** A stand-in server with `args`, tauri-driver for it, and the app open on the project. */
async function session(replayArgs, dataDir = join(scratch.home, `data-${serial++}`)) {
  const baseUrl = await startReplay(replayArgs);
  const driverUrl = await startDriver(appEnv(baseUrl, dataDir));
  const wd = await new WebDriver(driverUrl).start(app, [scratch.project]);
  await waitFor("the project", async () => (await wd.findAll("[data-testid=composer]")).length > 0, 30000);
  return wd;
}

/** Sends a prompt, waits for the answer to complete (polling slowly, so the poll does not
 *  load the webview it measures), and returns what the UI recorded. */
async function ask(wd, prompt, timeoutMs) {
  const before = (await wd.findAll("[data-testid=message-assistant]")).length;
  await wd.type(await wd.find("[data-testid=composer]"), prompt + Keys.ENTER);
  await waitFor(
    "the answer to complete",
    async () =>
      wd.execute(
        `const p = window.__flintPerf;
         const els = document.querySelectorAll('[data-testid=message-assistant]');
         return els.length > ${before} && p.turnPaintedAt !== null
           && els[els.length - 1].dataset.status === 'complete';`,
      ),
    timeoutMs,
  );
  const perf = await wd.execute("return window.__flintPerf;");
  const chars = await wd.execute(
    "const els = document.querySelectorAll('[data-testid=message-assistant]'); return Number(els[els.length - 1].dataset.chars);",
  );
  if (chars !== expectedChars(prompt)) throw new Error(`answer has ${chars} characters, expected ${expectedChars(prompt)}`);
  return perf;
}

let repeat = 1;
const expectedChars = () => answer.length * repeat;

function summary(perf) {
  const longFrames = perf.frames.filter((f) => f > 50);
  return {
    displayMs: perf.turnPaintedAt - perf.turnSentAt,
    lagP50: pct(perf.lags, 50),
    lagP99: pct(perf.lags, 99),
    lagMax: pct(perf.lags, 100),
    transportP50: pct(perf.transport, 50),
    transportP99: pct(perf.transport, 99),
    frames: perf.frames.length,
    longFrames: longFrames.length,
    longestFrame: pct(perf.frames, 100),
  };
}

const results = { answerChars: answer.length };

/** Keeps every core but one busy at normal priority until the returned stop is called. */
function startLoad() {
  const busy = [];
  for (let i = 0; i < Math.max(1, availableParallelism() - 1); i++)
    busy.push(spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }));
  return async () => {
    for (const p of busy) p.kill("SIGKILL");
    await Promise.all(busy.map((p) => (p.exitCode === null && p.signalCode === null ? new Promise((r) => p.once("exit", r)) : null)));
  };
}

/** Runs `body` once on the quiet machine and once under the synthetic load. */
async function quietAndLoaded(body) {
  await body("quiet");
  const stop = startLoad();
  try {
    await sleep(1000);
    await body("loaded");
  } finally {
    await stop();
  }
}

try {
  // 1. Display, unpaced: three runs in one app, a new session for each.
  if (phase("display")) {
    const wd = await session(["--answer", answerPath]);
    const runs = [];
    for (let i = 0; i < (quick ? 1 : 3); i++) {
      if (i > 0) await wd.click(await wd.find("[data-testid=new-session]"));
      await sleep(500);
      runs.push(summary(await ask(wd, `Walk me through the code (${i}).`, 60000)));
      log("unpaced", JSON.stringify(runs[runs.length - 1]));
    }
    writeFileSync(join(out, "streamed-long.png"), await wd.screenshot());
    results.unpaced = runs;
    results.displayMs = median(runs.map((r) => r.displayMs));
    await wd.quit();
    stopSince(base);
  }

  // 2. Sustained, paced (events/s; one event is one token-sized piece), quiet and loaded.
  results.paced = { quiet: {}, loaded: {} };
  if (phase("paced"))
    await quietAndLoaded(async (load) => {
      for (const rate of quick ? [5000] : [1000, 5000, 20000]) {
        const wd = await session(["--answer", answerPath, "--rate", String(rate)]);
        const s = summary(await ask(wd, `Walk me through the code at ${rate}.`, 120000));
        log(`paced ${rate} ${load}`, JSON.stringify(s));
        results.paced[load][rate] = s;
        await wd.quit();
        stopSince(base);
      }
    });

  // 2b. The same answer from an agent over ACP: Flint's benchmark agent
  //     (flint-fake-agent) streams it paced, each piece stamped with when it left the
  //     agent, so the lag runs from the agent's write to the paint. Then the app's
  //     memory with that agent still running.
  results.acp = {};
  const fakeAgent = process.env.FLINT_FAKE_AGENT;
  if (fakeAgent && phase("acp")) {
    for (const rate of quick ? [5000] : [1000, 5000]) {
      const scriptPath = join(scratch.home, `acp-${rate}.json`);
      writeFileSync(scriptPath, JSON.stringify({ prompts: [[{ stream: { file: answerPath, rate } }]] }));
      const wd = await session(["--answer", answerPath]);
      await wd.execute(
        "const s = document.querySelector('[data-testid=agent-picker]'); s.value = 'custom'; s.dispatchEvent(new Event('change', {bubbles: true}))",
      );
      await wd.type(await wd.find("[data-testid=agent-command]"), `'${fakeAgent}' '${scriptPath}'` + Keys.ENTER);
      await waitFor(
        "the session on the agent",
        async () => (await wd.execute("return document.querySelector('[data-testid=agent-picker]').value")) === "custom",
      );
      const s = summary(await ask(wd, `Walk me through the code at ${rate}, agent.`, 120000));
      await sleep(2000);
      const mem = memory(appPid());
      log(`acp ${rate}`, JSON.stringify(s), JSON.stringify(mem));
      results.acp[rate] = { ...s, mem };
      if (rate === 5000) writeFileSync(join(out, "acp-streamed.png"), await wd.screenshot());
      await wd.quit();
      stopSince(base);
    }
  }

  // 3. Cold start to first paint (10 starts, quiet and loaded), and idle memory, the
  //    app started directly (no driver).
  results.cold = {};
  if (phase("cold")) {
    const replay = await startReplay(["--answer", answerPath]);
    const runs = quick ? 3 : 11; // the first of each set fills the page cache
    await quietAndLoaded(async (load) => {
      const starts = [];
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        const child = spawn(app, [scratch.project], {
          env: { ...process.env, ...appEnv(replay, join(scratch.home, `cold-${load}-${i}`)) },
          stdio: ["ignore", "ignore", "pipe"],
        });
        const painted = await new Promise((resolvePaint, reject) => {
          let err = "";
          const timer = setTimeout(() => reject(new Error(`no first paint in 30 s: ${err}`)), 30000);
          child.stderr.on("data", (d) => {
            err += d;
            const m = err.match(/first paint (\d+) ms after start/);
            if (m) {
              clearTimeout(timer);
              resolvePaint({ wall: Math.round(performance.now() - t0), inApp: Number(m[1]) });
            }
          });
        });
        starts.push(painted);
        if (load === "quiet" && i === runs - 1) {
          await sleep(5000);
          results.idle = memory(child.pid);
        }
        child.kill("SIGTERM");
        await new Promise((r) => child.once("exit", r));
        // FLINT_BENCH_GAP=ms waits between starts (to tell leftovers of the previous
        // start from the start itself).
        if (process.env.FLINT_BENCH_GAP) await sleep(Number(process.env.FLINT_BENCH_GAP));
      }
      log(`cold start ${load}`, JSON.stringify(starts));
      const walls = starts.slice(1).map((s) => s.wall);
      results.cold[load] = { first: starts[0].wall, p50: median(walls), p90: pct(walls, 90), walls };
    });
    log("idle", JSON.stringify(results.idle));
    stopSince(base);
  }

  // 4. Memory after streaming ~100k tokens in one answer (the long answer five times).
  if (phase("100k")) {
    repeat = 5;
    const wd = await session(["--answer", answerPath, "--repeat", String(repeat)]);
    await sleep(3000);
    const before = memory(appPid());
    const s = summary(await ask(wd, "All of it, five times.", 300000));
    await sleep(3000);
    const afterMem = memory(appPid());
    log("100k", JSON.stringify(s), JSON.stringify(before), JSON.stringify(afterMem));
    results.stream100k = { ...s, chars: answer.length * repeat, before, after: afterMem };
    writeFileSync(join(out, "streamed-100k.png"), await wd.screenshot());
    await wd.quit();
    stopSince(base);
    repeat = 1;
  }

  // 5. Opening a 200-turn session from the history.
  if (phase("session200")) {
    const dataDir = join(scratch.home, "data-200");
    execFileSync(makeSession, [dataDir, realpathSync(scratch.project), "200", answerPath], { stdio: "ignore" });
    const wd = await session(["--answer", answerPath], dataDir);
    const opens = [];
    for (let i = 0; i < (quick ? 1 : 3); i++) {
      await wd.click(await wd.find("[data-testid=new-session]"));
      await waitFor("an empty session", async () => (await wd.findAll("[data-testid=message-user]")).length === 0);
      await wd.click(await wd.find("[data-testid=history-tab]"));
      const item = await waitFor("the long session in the list", async () => {
        const items = await wd.findAll("[data-testid=session-item]");
        for (const el of items) if ((await wd.text(el)).includes("200-turn")) return el;
        return null;
      });
      await wd.click(item);
      const ms = await waitFor(
        "the session to be painted",
        async () =>
          wd.execute(
            `const p = window.__flintPerf;
             return p.sessionPaintedAt !== null && document.body.textContent.includes('Turn 199:')
               ? p.sessionPaintedAt - p.sessionAskedAt : null;`,
          ),
        30000,
      );
      opens.push(ms);
      await wd.click(await wd.find("[data-testid=files-tab]")).catch(() => {});
    }
    await sleep(1000);
    writeFileSync(join(out, "session-200.png"), await wd.screenshot());
    log("200-turn open", JSON.stringify(opens));
    results.session200Ms = median(opens);
    results.session200Runs = opens;
    await wd.quit();
    stopSince(base);
  }
} finally {
  stopAll();
}

writeFileSync(join(out, "app.json"), JSON.stringify(results, null, 2));

// The table: figure, target, and whether it is met.
const f = (v, unit = "ms", digits = 0) => (v === null || v === undefined ? "n/a" : `${v.toFixed(digits)} ${unit}`);
const rows = [];
if (results.displayMs !== undefined)
  rows.push(["Display, unpaced: Enter to last line painted (median of runs)", f(results.displayMs), "< 1000 ms", results.displayMs < 1000]);
for (const load of ["quiet", "loaded"])
  for (const [rate, s] of Object.entries(results.paced[load])) {
    const target = rate === "20000" ? 100 : 50;
    const frames = rate === "1000";
    rows.push([
      `Sustained ${rate} tok/s, ${load === "quiet" ? "quiet machine" : "under load"}: lag p50 / p99 / max; frames > 50 ms`,
      `${f(s.lagP50, "", 1)}/ ${f(s.lagP99, "", 1)}/ ${f(s.lagMax, "ms", 1)}; ${s.longFrames} of ${s.frames} (longest ${f(s.longestFrame, "ms")}); of the lag, Rust -> page p50 / p99 ${f(s.transportP50, "", 1)}/ ${f(s.transportP99, "ms", 1)}`,
      `p99 < ${target} ms${frames ? ", none > 50 ms" : ""}`,
      s.lagP99 < target && (!frames || s.longFrames === 0),
    ]);
  }
for (const [rate, s] of Object.entries(results.acp)) {
  const target = rate === "5000" ? 50 : null;
  rows.push([
    `Agent over ACP, ${rate} tok/s: lag agent write -> paint p50 / p99 / max; frames > 50 ms`,
    `${f(s.lagP50, "", 1)}/ ${f(s.lagP99, "", 1)}/ ${f(s.lagMax, "ms", 1)}; ${s.longFrames} of ${s.frames} (longest ${f(s.longestFrame, "ms")})`,
    target ? `p99 < ${target} ms, none > 50 ms` : "none > 50 ms",
    (target === null || s.lagP99 < target) && s.longFrames === 0,
  ]);
  rows.push([
    `  the app with the agent running, after it streamed: PSS (processes)`,
    `${f(s.mem.pssMiB, "MiB")}; PSS MiB: ${s.mem.split}`,
    "",
    null,
  ]);
}
for (const [load, c] of Object.entries(results.cold))
  rows.push([
    `Cold start to first paint, ${load === "quiet" ? "quiet machine" : "under load"}: p50 / p90 of ${c.walls.length} (first start, cold page cache)`,
    `${f(c.p50, "")}/ ${f(c.p90)} (${f(c.first)})`,
    "p90 < 500 ms",
    c.p90 < 500,
  ]);
if (results.idle)
  rows.push([
    `Idle memory, PSS summed over ${results.idle.processes.length} processes (RSS sum)`,
    `${f(results.idle.pssMiB, "MiB")} (${f(results.idle.rssMiB, "MiB")}); PSS MiB: ${results.idle.split}`,
    "< 160 MiB",
    results.idle.pssMiB < 160,
  ]);
const m = results.stream100k;
if (m) {
  const grewMiB = m.after.pssMiB - m.before.pssMiB;
  const textMiB = m.chars / 1048576;
  rows.push([
    `After streaming ${Math.round(m.chars / 1024)} KiB (~100k tokens) in one answer: PSS before -> after`,
    `${f(m.before.pssMiB, "MiB")} -> ${f(m.after.pssMiB, "MiB")}: +${f(grewMiB, "MiB", 1)}, ${f(grewMiB / textMiB, "x", 1)} the text (after, PSS MiB: ${m.after.split}; display ${f(m.displayMs)})`,
    "growth <= 3x the text",
    grewMiB <= 3 * textMiB,
  ]);
}
if (results.session200Ms !== undefined)
  rows.push(["Opening a 200-turn session (median)", f(results.session200Ms), "< 300 ms", results.session200Ms < 300]);

console.log("| App (release build, Xvfb) | Measured | Target | Met |");
console.log("|---|---|---|---|");
for (const [what, v, target, met] of rows) console.log(`| ${what} | ${v} | ${target} | ${met === null ? "" : met ? "yes" : "NO"} |`);
