import { mount } from "svelte";
import App from "./App.svelte";
import QuickPrompt from "./components/QuickPrompt.svelte";
import { ipc, windowLabel } from "./lib/ipc";
import { onFirstPaint } from "./lib/perf";
import "./app.css";
import "./bindings/highlight.css";

const target = document.getElementById("app");
if (!target) throw new Error("index.html lacks #app");
// One bundle, two windows: the main window and the quick prompt (a window labelled "quick").
const app = windowLabel() === "quick" ? mount(QuickPrompt, { target }) : mount(App, { target });
onFirstPaint(
  () =>
    void ipc()
      .uiReady()
      .catch(() => {}),
);
export default app;
