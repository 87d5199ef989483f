// Processes an end-to-end run needs: an Xvfb display, the stand-in model server and
// tauri-driver, each on a free display/port, each stopped by its pid afterwards.
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, cpSync, writeFileSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { takeScreenshotsFrom } from "./webdriver.mjs";

const started = [];

export function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the end-to-end tests through \`cargo xtask test\``);
  return v;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function track(child, name) {
  child.on("error", (e) => console.error(`${name}: ${e.message}`));
  started.push(child);
  return child;
}

export async function startXvfb() {
  for (let n = 90; n < 200; n++) {
    if (existsSync(`/tmp/.X11-unix/X${n}`) || existsSync(`/tmp/.X${n}-lock`)) continue;
    const child = track(
      spawn("Xvfb", [`:${n}`, "-screen", "0", "1280x800x24", "-nolisten", "tcp"], { stdio: "ignore" }),
      "Xvfb",
    );
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline) {
      if (existsSync(`/tmp/.X11-unix/X${n}`)) {
        // Screenshots are taken from this display (webdriver.mjs).
        takeScreenshotsFrom(`:${n}`);
        return `:${n}`;
      }
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error("could not start Xvfb on any display from :90 to :199");
}

/** Starts flint-replay with the given arguments (`--chat FILE`, `--rate N`, ...);
 *  resolves to its base URL. */
export function startReplay(args) {
  const child = track(
    spawn(need("FLINT_REPLAY"), args, { stdio: ["ignore", "pipe", "inherit"] }),
    "flint-replay",
  );
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (\S+)/);
      if (m) resolve(m[1]);
    });
    child.on("exit", (code) => reject(new Error(`flint-replay exited (${code})`)));
  });
}

export async function startDriver(env) {
  const [port, nativePort] = [await freePort(), await freePort()];
  track(
    spawn(need("TAURI_DRIVER"), ["--port", String(port), "--native-port", String(nativePort)], {
      // Without a GPU the app switches WebKitGTK to its shared-memory renderer (lib.rs,
      // software_rendering_fallback): 60 frames/s instead of ~12, measured by the
      // benchmarks. Under that renderer a WebDriver screenshot of an idle page waits for
      // a frame that never comes, so the tests keep WebKit's default renderer.
      env: { ...process.env, WEBKIT_DISABLE_DMABUF_RENDERER: "0", ...env },
      stdio: ["ignore", "inherit", "inherit"],
    }),
    "tauri-driver",
  );
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    try {
      await fetch(`${base}/status`);
      return base;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error("tauri-driver did not start listening");
}

/** A private D-Bus session bus (what a desktop session has): the tray menu is exported
 *  on it. Resolves to its address. */
export function startSessionBus() {
  const child = track(
    spawn("dbus-daemon", ["--session", "--nofork", "--nopidfile", "--print-address=1"], {
      stdio: ["ignore", "pipe", "inherit"],
    }),
    "dbus-daemon",
  );
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("\n")) resolve(out.trim());
    });
    child.on("exit", (code) => reject(new Error(`dbus-daemon exited (${code})`)));
  });
}

/** How many processes were started so far; `stopSince` stops those started after. */
export function mark() {
  return started.length;
}

export function stopSince(n) {
  for (const child of started.splice(n).reverse()) {
    if (child.exitCode === null) child.kill("SIGTERM");
  }
}

export function stopAll() {
  for (const child of started.reverse()) {
    if (child.exitCode === null) child.kill("SIGTERM");
  }
  started.length = 0;
}

/** A scratch copy of the fixture project as a git repository on branch `main`, with
 *  files its .gitignore hides (which a clean checkout cannot carry). */
export function makeProject(fixtureDir) {
  const home = mkdtempSync(join(tmpdir(), "flint-e2e-"));
  const project = join(home, "project");
  cpSync(fixtureDir, project, { recursive: true });
  mkdirSync(join(project, "target"), { recursive: true });
  writeFileSync(join(project, "target", "ignored.txt"), "build output\n");
  writeFileSync(join(project, "debug.log"), "log\n");
  const git = (...args) => execFileSync("git", args, { cwd: project, stdio: "ignore" });
  git("init", "-q");
  git("symbolic-ref", "HEAD", "refs/heads/main");
  git("config", "user.name", "Flint Tests");
  git("config", "user.email", "tests@flint.invalid");
  git("add", ".");
  git("-c", "user.name=Flint Tests", "-c", "user.email=tests@flint.invalid", "commit", "-q", "-m", "fixture");
  return { home, project };
}

/** The usual set-up of a journey: a scratch copy of the fixture project, a display,
 *  the stand-in server with `replayArgs`, and tauri-driver with the app pointed at that
 *  server as an OpenAI-compatible provider (`fixture-model`, no key). */
export async function startJourney(fixtures, replayArgs) {
  const scratch = makeProject(join(fixtures, "project"));
  const display = await startXvfb();
  const baseUrl = await startReplay(replayArgs);
  const driverUrl = await startDriver({
    DISPLAY: display,
    FLINT_DATA_DIR: join(scratch.home, "data"),
    FLINT_CONFIG_DIR: join(scratch.home, "config"),
    OPENAI_BASE_URL: baseUrl,
    OPENAI_API_KEY: "",
    FLINT_MODEL: "fixture-model",
  });
  return { project: scratch.project, baseUrl, driverUrl };
}
