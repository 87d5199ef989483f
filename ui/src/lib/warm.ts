// The first time the page lays out text in a font it has not used yet (the monospace face
// of code, its bold and italic, a heading's size), WebKit finds and opens that font:
// 20-45 ms on the benchmark machine, paid inside the frame that shows the answer's first
// heading, first code block or first patch (measured: those were the slow frames of a
// streaming answer). Laying out one hidden sample of every face an answer uses, once the
// app has painted and is idle, pays that cost before any answer streams.

/** Every face the transcript's markdown can ask for (same classes as rendered answers). */
const SAMPLE = [
  "<h1>Aa</h1><h2>Aa <code>Aa</code></h2><h3>Aa</h3><h4>Aa</h4>",
  "<p>Aa <strong>Aa</strong> <em>Aa</em> <strong><em>Aa</em></strong> <code>Aa</code> <del>Aa</del> <a>Aa</a></p>",
  "<ul><li>Aa</li></ul><ol><li>Aa</li></ol><blockquote><p>Aa</p></blockquote>",
  "<table><thead><tr><th>Aa</th></tr></thead><tbody><tr><td>Aa</td></tr></tbody></table>",
  '<pre class="code"><code>Aa <span class="hl-lb hl-db">Aa</span> <span class="hl-li hl-di">Aa</span> ',
  '<span class="hl-lb hl-li hl-db hl-di">Aa</span> <span class="hl-lu hl-du">Aa</span></code></pre>',
  // The review pane's diff face, where an answer's first edit shows.
  '<pre class="diff"><span class="line">Aa <b>Aa</b> <i>Aa</i></span></pre>',
].join("");

/** Lays the sample out when the page is next idle (after the first paint). */
export function warmFontsWhenIdle(): void {
  if (typeof window.requestIdleCallback === "function")
    window.requestIdleCallback(() => warmFonts());
  else setTimeout(() => warmFonts(), 50);
}

/** Lays the sample out off screen, then removes it. */
export function warmFonts(doc: Document = document): void {
  const box = doc.createElement("div");
  box.setAttribute("aria-hidden", "true");
  // Laid out (fonts are opened by layout) but never seen or reachable.
  box.style.cssText =
    "position:fixed;left:0;top:0;width:400px;visibility:hidden;pointer-events:none";
  const text = doc.createElement("div");
  text.className = "text md";
  // A constant written here, not model output.
  text.innerHTML = SAMPLE;
  box.appendChild(text);
  doc.body.appendChild(box);
  // Reading a size lays the sample out now; it goes once that layout is done.
  void text.offsetHeight;
  box.remove();
}
