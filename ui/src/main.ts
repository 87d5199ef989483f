import { mount } from "svelte";
import App from "./App.svelte";
import QuickPrompt from "./components/QuickPrompt.svelte";
import { ipc, windowLabel } from "./lib/ipc";
import { onFirstPaint } from "./lib/perf";
import { warmFontsWhenIdle } from "./lib/warm";
import "./app.css";
import "./bindings/highlight.css";

// No WebKit context menu in a release build ("Open Link", "Reload", "Inspect Element"
// act on the app itself); text fields and selected text keep theirs, for copy and paste.
if (import.meta.env.PROD) {
  window.addEventListener("contextmenu", (e) => {
    const t = e.target as HTMLElement | null;
    const editable = t?.closest?.("input, textarea, [contenteditable]");
    const selected = (window.getSelection()?.toString() ?? "") !== "" && !t?.closest?.("a");
    if (!editable && !selected) e.preventDefault();
  });
}

const target = document.getElementById("app");
if (!target) throw new Error("index.html lacks #app");
// One bundle, two windows: the main window and the quick prompt (a window labelled "quick").
const app = windowLabel() === "quick" ? mount(QuickPrompt, { target }) : mount(App, { target });
onFirstPaint(() => {
  void ipc()
    .uiReady()
    .catch(() => {});
  // After the first paint, once the page is idle: the window is already shown.
  warmFontsWhenIdle();
});
export default app;
