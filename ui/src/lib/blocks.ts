// The closed blocks of an answer, virtualised. A 100k-token answer is ~10,000 laid-out
// lines: kept in the page, their DOM and render tree were most of what the answer cost
// the web process (measured: the answer's text hidden during the stream grew it by 39 MiB
// instead of 65; its DOM removed afterwards gave back 16). So blocks are grouped into
// chunks of about CHUNK_CHARS of HTML; a chunk far from the visible part of the transcript
// is emptied and keeps only its height (its HTML strings stay here), and is filled again
// as it comes near. The last chunk, which a stream appends to, is never emptied.
//
// Written here rather than taken from a virtual-list package: those place rows they
// measure in a scroller they own; here the rows are a message's own blocks inside the
// transcript's scroller, streamed in, with heights the page already knows.

/** About how much HTML one chunk holds (a screen or two of text). */
export const CHUNK_CHARS = 24 * 1024;
/** How near (in heights of the visible part) a chunk must come to be filled. */
export const NEAR = "200% 0px";

interface Chunk {
  el: HTMLElement;
  html: string[];
  size: number;
  /** Emptied: only its height is kept. */
  empty: boolean;
  /** Within NEAR of the visible part, as last reported. */
  near: boolean;
  /** Its height when last seen laid out (0 until then). */
  height: number;
}

/** A message's closed blocks in `host`, filled only near `root`'s visible part. */
export class BlockView {
  readonly #host: HTMLElement;
  readonly #root: HTMLElement | null;
  #chunks: Chunk[] = [];
  #of = new Map<Element, Chunk>();
  #count = 0;
  #first: string | undefined;
  #last: string | undefined;
  #io: IntersectionObserver | null = null;
  #ro: ResizeObserver | null = null;
  readonly #copy = () => this.#fillSelected();
  readonly #selection = () => this.#letGo();

  constructor(host: HTMLElement, root: HTMLElement | null) {
    this.#host = host;
    this.#root = root;
    if (typeof IntersectionObserver !== "undefined")
      this.#io = new IntersectionObserver((entries) => this.#seen(entries), {
        root,
        rootMargin: NEAR,
      });
    if (typeof ResizeObserver !== "undefined")
      this.#ro = new ResizeObserver((entries) => this.#resized(entries));
    document.addEventListener("copy", this.#copy, true);
    document.addEventListener("selectionchange", this.#selection);
  }

  /** Shows `blocks`: appended to what is shown when they extend it, else shown anew.
   *  (The engine only ever appends to an answer's blocks; an item replaced in the
   *  transcript starts again from none. Its first and last shown block are compared so
   *  that any other array is shown anew.) */
  update(blocks: readonly string[] | null): void {
    const all = blocks ?? [];
    const n = this.#count;
    if (all.length < n || (n > 0 && (all[0] !== this.#first || all[n - 1] !== this.#last)))
      this.#clear();
    if (all.length === this.#count) return;
    this.#first = all[0];
    this.#last = all[all.length - 1];
    // One insertion per chunk touched, not per block.
    let pending: string[] = [];
    let last = this.#chunks[this.#chunks.length - 1];
    let fresh = false;
    const flush = () => {
      if (last && pending.length > 0) last.el.insertAdjacentHTML("beforeend", pending.join(""));
      pending = [];
    };
    for (let i = this.#count; i < all.length; i++) {
      const html = all[i]!;
      if (!last || last.size >= CHUNK_CHARS) {
        flush();
        if (last) this.#sealed(last, fresh);
        last = this.#chunk();
        fresh = true;
      }
      last.html.push(html);
      last.size += html.length;
      pending.push(html);
    }
    flush();
    this.#count = all.length;
  }

  /** How many chunks there are, and how many are emptied (for tests). */
  get state(): { chunks: number; empty: number } {
    return { chunks: this.#chunks.length, empty: this.#chunks.filter((c) => c.empty).length };
  }

  destroy(): void {
    this.#io?.disconnect();
    this.#io = null;
    this.#ro?.disconnect();
    this.#ro = null;
    document.removeEventListener("copy", this.#copy, true);
    document.removeEventListener("selectionchange", this.#selection);
  }

  #chunk(): Chunk {
    const el = document.createElement("div");
    el.className = "chunk";
    this.#host.append(el);
    // Until the observer says otherwise a new chunk counts as near: it is being read.
    const c: Chunk = { el, html: [], size: 0, empty: false, near: true, height: 0 };
    this.#chunks.push(c);
    this.#of.set(el, c);
    this.#io?.observe(el);
    this.#ro?.observe(el);
    return c;
  }

  #clear(): void {
    for (const c of this.#chunks) {
      this.#io?.unobserve(c.el);
      this.#ro?.unobserve(c.el);
      c.el.remove();
    }
    this.#chunks = [];
    this.#of.clear();
    this.#count = 0;
    this.#first = undefined;
    this.#last = undefined;
  }

  /** A chunk no longer last: if it came and closed in one update (not laid out yet),
   *  skipped while off screen (app.css); if it is already far away, emptied now. */
  #sealed(c: Chunk, fresh: boolean): void {
    if (fresh) c.el.classList.add("lazy");
    else if (!c.near) this.#empty(c, c.el.getBoundingClientRect().height);
  }

  #seen(entries: IntersectionObserverEntry[]): void {
    const last = this.#chunks[this.#chunks.length - 1];
    for (const e of entries) {
      const c = this.#of.get(e.target);
      if (!c) continue;
      c.near = e.isIntersecting;
      const h = e.boundingClientRect.height;
      if (c.near) {
        if (c.empty) this.#fill(c);
      } else if (!c.empty && c !== last) {
        // A message scrolled far off is not laid out (content-visibility): its chunks
        // then report no height, and the one last seen is kept.
        this.#empty(c, h > 0 ? h : c.height);
      }
    }
  }

  #empty(c: Chunk, height: number): void {
    // Never before it was laid out, nor under a selection (it would lose what it
    // selects; it is let go when the selection changes).
    if (height <= 0) return;
    c.height = height;
    if (selects(c.el)) return;
    c.el.style.height = `${height}px`;
    c.el.replaceChildren();
    c.empty = true;
  }

  #fill(c: Chunk): void {
    c.el.style.height = "";
    // Skipped while off screen at the height it had (its blocks' own placeholders would
    // count it shorter).
    c.el.classList.add("lazy");
    c.el.style.setProperty("contain-intrinsic-size", `auto ${c.height}px`);
    c.el.innerHTML = c.html.join("");
    c.empty = false;
  }

  /** Chunks laid out at a new height. One wholly above what is visible moves what the
   *  user reads by the difference (WebKit has no scroll anchoring), so the scroll
   *  position takes it: a block first laid out as it scrolls into view (counted 24px
   *  until then), a chunk filled again, a window made narrower. */
  #resized(entries: ResizeObserverEntry[]): void {
    const root = this.#root;
    const top = root ? root.getBoundingClientRect().top : 0;
    const last = this.#chunks[this.#chunks.length - 1];
    for (const e of entries) {
      const c = this.#of.get(e.target);
      if (!c) continue;
      const h = e.target.getBoundingClientRect();
      // Not laid out (its message is skipped off screen): the height last seen stands.
      if (h.height === 0) continue;
      const delta = h.height - c.height;
      const seen = c.height > 0;
      c.height = h.height;
      // Reported far off before it had a height (a message skipped off screen, chunks
      // that arrived closed): emptied now that it has one.
      if (!c.near && !c.empty && c !== last) this.#empty(c, h.height);
      if (!root || !seen || delta === 0) continue;
      // While the transcript follows the live end (ChatPane marks it), it keeps to the
      // end by itself, and a move up here would read as the user scrolling away from it.
      if (root.dataset["following"] === "true") continue;
      // Its bottom before the change was above the visible top.
      if (h.bottom - delta <= top) root.scrollTop += delta;
    }
  }

  /** A copy of a selection that crosses emptied chunks copies them too: they are filled
   *  before the copy reads the selection (they are let go again as they next leave). */
  #fillSelected(): void {
    for (const c of this.#chunks) if (c.empty && selects(c.el)) this.#fill(c);
  }

  /** The selection changed: far chunks it kept (or a copy filled) are emptied once it
   *  no longer holds them. */
  #letGo(): void {
    const last = this.#chunks[this.#chunks.length - 1];
    for (const c of this.#chunks)
      if (!c.near && !c.empty && c !== last && c.height > 0) this.#empty(c, c.height);
  }
}

function selects(el: HTMLElement): boolean {
  const sel = typeof document.getSelection === "function" ? document.getSelection() : null;
  if (!sel || sel.isCollapsed) return false;
  for (let i = 0; i < sel.rangeCount; i++) if (sel.getRangeAt(i).intersectsNode(el)) return true;
  return false;
}
