// A minimal W3C WebDriver client over fetch. tauri-driver needs one capability
// ("tauri:options") and no browserName, which general clients insist on sending; the
// protocol itself is a handful of JSON endpoints, so the end-to-end tests speak it
// directly and stay free of a browser-automation dependency tree.

import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";
const here = dirname(fileURLToPath(import.meta.url));

/** The X display the harness started (harness.mjs sets it), where screenshots are taken. */
let shotDisplay = null;
export function takeScreenshotsFrom(display) {
  shotDisplay = display;
}

/** The X display's root window as PNG bytes (xshot.py, GTK's own screen capture), or
 *  null where the harness started no X display. */
function displayShot() {
  const display = shotDisplay;
  if (!display) return null;
  const dir = mkdtempSync(join(tmpdir(), "flint-shot-"));
  try {
    const file = join(dir, "shot.png");
    // The system's Python: python3-gi is installed for it, not for a pyenv or venv one
    // that may come first on the PATH.
    execFileSync("/usr/bin/python3", [join(here, "xshot.py"), file], {
      env: { ...process.env, DISPLAY: display },
      stdio: ["ignore", "ignore", "pipe"],
      timeout: 20000,
    });
    return readFileSync(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export class WebDriver {
  constructor(base) {
    this.base = base;
    this.id = null;
  }

  async #call(method, path, body) {
    const res = await fetch(this.base + path, {
      method,
      headers: { "content-type": "application/json; charset=utf-8" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json().catch(() => ({}));
    if (!res.ok || (json.value && json.value.error)) {
      const v = json.value ?? {};
      throw new Error(`${method} ${path}: ${v.error ?? res.status} ${v.message ?? ""}`.trim());
    }
    return json.value;
  }

  async start(application, args = []) {
    const value = await this.#call("POST", "/session", {
      capabilities: { alwaysMatch: { "tauri:options": { application, args } } },
    });
    this.id = value.sessionId;
    return this;
  }

  async quit() {
    if (!this.id) return;
    const id = this.id;
    this.id = null;
    await this.#call("DELETE", `/session/${id}`).catch(() => {});
  }

  #s(path) {
    return `/session/${this.id}${path}`;
  }

  // Elements are W3C element references ({ [ELEMENT]: id }), so they can also be passed
  // to `execute` as arguments.
  find(css) {
    return this.#call("POST", this.#s("/element"), { using: "css selector", value: css });
  }

  findAll(css) {
    return this.#call("POST", this.#s("/elements"), { using: "css selector", value: css });
  }

  /** The element's textContent: exact, whitespace included, whatever its layout. */
  text(el) {
    return this.execute("return arguments[0].textContent", [el]);
  }

  attribute(el, name) {
    return this.#call("GET", this.#s(`/element/${el[ELEMENT]}/attribute/${name}`));
  }

  click(el) {
    return this.#call("POST", this.#s(`/element/${el[ELEMENT]}/click`), {});
  }

  type(el, text) {
    return this.#call("POST", this.#s(`/element/${el[ELEMENT]}/value`), { text });
  }

  /** Handles of the app's windows (webviews). */
  windows() {
    return this.#call("GET", this.#s("/window/handles"));
  }

  window() {
    return this.#call("GET", this.#s("/window"));
  }

  switchTo(handle) {
    return this.#call("POST", this.#s("/window"), { handle });
  }

  execute(script, args = []) {
    return this.#call("POST", this.#s("/execute/sync"), { script, args });
  }

  executeAsync(script, args = []) {
    return this.#call("POST", this.#s("/execute/async"), { script, args });
  }

  /** What a person sees now, as PNG bytes. First waits until the page has painted a
   *  frame after its last change (two animation frames: the first runs before a paint,
   *  the second after it), then, where the tests run on an X display, takes the picture
   *  from the display itself: WebKitWebDriver's own screenshot has shown an earlier
   *  frame than the DOM the test had just checked. Elsewhere it is WebDriver's. */
  async screenshot() {
    await this.executeAsync(
      `const done = arguments[arguments.length - 1];
       const timer = setTimeout(done, 1000); // a hidden page runs no animation frames
       requestAnimationFrame(() => requestAnimationFrame(() => { clearTimeout(timer); setTimeout(done, 50); }));`,
    ).catch(() => {});
    const fromDisplay = displayShot();
    if (fromDisplay) return fromDisplay;
    return Buffer.from(await this.#call("GET", this.#s("/screenshot")), "base64");
  }
}

export const Keys = { ENTER: "\uE007" };

/** Polls `probe` until it returns a truthy value; throws with the last error or value. */
export async function waitFor(what, probe, timeoutMs = 20000) {
  const until = Date.now() + timeoutMs;
  let last;
  while (Date.now() < until) {
    try {
      const v = await probe();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
}
