import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BlockView, CHUNK_CHARS } from "./blocks";

// jsdom has no IntersectionObserver or ResizeObserver and lays nothing out: the observers
// are played by the test, which says which chunk is near, where and how tall it is.
class Watching {
  readonly seen = new Set<Element>();
  observe(el: Element) {
    this.seen.add(el);
  }
  unobserve(el: Element) {
    this.seen.delete(el);
  }
  disconnect() {
    this.seen.clear();
  }
}

class FakeObserver extends Watching {
  static last: FakeObserver | null = null;
  constructor(
    readonly callback: (entries: IntersectionObserverEntry[]) => void,
    readonly options: IntersectionObserverInit,
  ) {
    super();
    FakeObserver.last = this;
  }
  report(el: Element, near: boolean, height: number, top = 1000) {
    const rect = { top, bottom: top + height, height, left: 0, right: 100, width: 100 };
    this.callback([
      {
        target: el,
        isIntersecting: near,
        boundingClientRect: rect as DOMRectReadOnly,
      } as IntersectionObserverEntry,
    ]);
  }
}

class FakeResizeObserver extends Watching {
  static last: FakeResizeObserver | null = null;
  constructor(readonly callback: (entries: ResizeObserverEntry[]) => void) {
    super();
    FakeResizeObserver.last = this;
  }
  /** `el` laid out with its top at `top` and `height` tall. */
  report(el: Element, top: number, height: number) {
    el.getBoundingClientRect = () => ({ top, bottom: top + height, height }) as DOMRect;
    this.callback([{ target: el } as ResizeObserverEntry]);
  }
}

const block = (i: number) => `<p>block ${i} ${"x".repeat(CHUNK_CHARS / 4)}</p>`;
const blocks = (n: number, from = 0) => Array.from({ length: n }, (_, i) => block(from + i));

let host: HTMLElement;
let root: HTMLElement;
beforeEach(() => {
  (globalThis as { IntersectionObserver?: unknown }).IntersectionObserver = FakeObserver;
  (globalThis as { ResizeObserver?: unknown }).ResizeObserver = FakeResizeObserver;
  root = document.createElement("div");
  host = document.createElement("div");
  root.append(host);
  document.body.append(root);
});
afterEach(() => {
  root.remove();
  delete (globalThis as { IntersectionObserver?: unknown }).IntersectionObserver;
  delete (globalThis as { ResizeObserver?: unknown }).ResizeObserver;
  document.getSelection()?.removeAllRanges();
});

const chunks = () => Array.from(host.querySelectorAll<HTMLElement>(".chunk"));

describe("BlockView", () => {
  it("shows every block in order, in chunks of about CHUNK_CHARS, appending as they stream", () => {
    const view = new BlockView(host, root);
    const all = blocks(10);
    view.update(all.slice(0, 3));
    view.update(all.slice(0, 7));
    view.update(all);
    expect(host.innerHTML.replace(/<div class="chunk[^"]*">|<\/div>/g, "")).toBe(all.join(""));
    // Four blocks of a quarter chunk each fill one chunk. Each was laid out as it
    // streamed: none is marked to be skipped off screen (that would lay it out again).
    expect(chunks().map((c) => c.className)).toEqual(["chunk", "chunk", "chunk"]);
    expect(FakeObserver.last!.seen.size).toBe(3);
    expect(FakeObserver.last!.options.root).toBe(root);
  });

  it("marks chunks that arrive closed to be skipped off screen (an answer from the history)", () => {
    const view = new BlockView(host, root);
    view.update(blocks(12));
    expect(chunks().map((c) => c.className)).toEqual(["chunk lazy", "chunk lazy", "chunk"]);
    // More than a chunk in one update while streaming: the ones closed in it too.
    view.update(blocks(22));
    expect(chunks().map((c) => c.className)).toEqual([
      "chunk lazy",
      "chunk lazy",
      "chunk",
      "chunk lazy",
      "chunk lazy",
      "chunk",
    ]);
  });

  it("empties a chunk that is far off, keeping its height, and fills it again as it comes near", () => {
    const view = new BlockView(host, root);
    const all = blocks(12);
    view.update(all);
    const io = FakeObserver.last!;
    const [first, , last] = chunks();
    const before = first!.innerHTML;
    io.report(first!, true, 480);
    io.report(first!, false, 480);
    expect(first!.childElementCount).toBe(0);
    expect(first!.style.height).toBe("480px");
    expect(view.state).toEqual({ chunks: 3, empty: 1 });
    // The last chunk, which the stream appends to, stays.
    io.report(last!, false, 300);
    expect(last!.childElementCount).toBe(4);
    io.report(first!, true, 480);
    expect(first!.innerHTML).toBe(before);
    expect(first!.style.height).toBe("");
    // Skipped whole while off screen from now on, at the height it had.
    expect(first!.classList.contains("lazy")).toBe(true);
    expect(first!.style.getPropertyValue("contain-intrinsic-size")).toBe("auto 480px");
    expect(view.state.empty).toBe(0);
  });

  it("keeps the height last seen when a far message reports none (not laid out)", () => {
    const view = new BlockView(host, root);
    view.update(blocks(8));
    const io = FakeObserver.last!;
    const [first] = chunks();
    // Never laid out: nothing to keep, so nothing is emptied.
    io.report(first!, false, 0);
    expect(view.state.empty).toBe(0);
    // Laid out once (while it was in view), then its message is skipped off screen.
    FakeResizeObserver.last!.report(first!, 2000, 350);
    io.report(first!, false, 0);
    expect(first!.style.height).toBe("350px");
    expect(view.state.empty).toBe(1);
  });

  it("empties the former last chunk once the stream moves on, if it is far off by then", () => {
    const view = new BlockView(host, root);
    view.update(blocks(4));
    const io = FakeObserver.last!;
    const [first] = chunks();
    first!.getBoundingClientRect = () => ({ height: 200 }) as DOMRect;
    io.report(first!, false, 200);
    expect(view.state.empty).toBe(0);
    view.update(blocks(5));
    expect(view.state).toEqual({ chunks: 2, empty: 1 });
    expect(first!.style.height).toBe("200px");
    // What streamed after it is shown.
    expect(chunks()[1]!.innerHTML).toBe(block(4));
  });

  it("never empties a chunk the user has selected text in", () => {
    const view = new BlockView(host, root);
    view.update(blocks(8));
    const io = FakeObserver.last!;
    const [first] = chunks();
    const range = document.createRange();
    range.selectNodeContents(first!.firstElementChild!);
    document.getSelection()!.addRange(range);
    io.report(first!, false, 300);
    expect(view.state.empty).toBe(0);
    expect(first!.childElementCount).toBe(4);
    // Once the selection goes, the far chunk it kept is let go.
    document.getSelection()!.removeAllRanges();
    document.dispatchEvent(new Event("selectionchange"));
    expect(view.state.empty).toBe(1);
    expect(first!.style.height).toBe("300px");
  });

  it("keeps what the user reads in place when a chunk wholly above it changes height", () => {
    const view = new BlockView(host, root);
    view.update(blocks(12));
    const ro = FakeResizeObserver.last!;
    const [first, second, last] = chunks();
    expect(ro.seen.size).toBe(3);
    let scrolled = 1000;
    Object.defineProperty(root, "scrollTop", {
      get: () => scrolled,
      set: (v: number) => (scrolled = v),
    });
    root.getBoundingClientRect = () => ({ top: 0 }) as DOMRect;
    // First laid out: nothing to compare with.
    ro.report(first!, -900, 300);
    ro.report(second!, -600, 300);
    ro.report(last!, 200, 300);
    expect(scrolled).toBe(1000);
    // The first, above the visible top, is laid out 40px taller (a block counted 24px
    // until it came into view): the view moves with it.
    ro.report(first!, -900, 340);
    expect(scrolled).toBe(1040);
    // One across the visible top, or below it, grows where the user reads or below:
    // nothing moves.
    ro.report(second!, -100, 500);
    ro.report(last!, 200, 800);
    expect(scrolled).toBe(1040);
    // Shorter above the view: the view moves up with it.
    ro.report(first!, -900, 300);
    expect(scrolled).toBe(1000);
    // Following the live end (ChatPane marks the transcript): it keeps to the end
    // itself, nothing here moves.
    root.dataset["following"] = "true";
    ro.report(first!, -900, 260);
    expect(scrolled).toBe(1000);
    root.dataset["following"] = "false";
    ro.report(first!, -900, 340);
    expect(scrolled).toBe(1080);
    // Not laid out (its message skipped): no height, nothing moves, the last one stands.
    ro.report(first!, -900, 0);
    expect(scrolled).toBe(1080);
    const io = FakeObserver.last!;
    io.report(first!, false, 0);
    expect(first!.style.height).toBe("340px");
  });

  it("empties a chunk reported far off before it had a height once it has one", () => {
    const view = new BlockView(host, root);
    view.update(blocks(8));
    const [first] = chunks();
    // Its message was skipped off screen: far, but no height to keep.
    FakeObserver.last!.report(first!, false, 0);
    expect(view.state.empty).toBe(0);
    FakeResizeObserver.last!.report(first!, -2000, 420);
    expect(view.state.empty).toBe(1);
    expect(first!.style.height).toBe("420px");
  });

  it("copies what a selection crosses, emptied chunks included", () => {
    const view = new BlockView(host, root);
    view.update(blocks(12));
    const io = FakeObserver.last!;
    const [first, second, last] = chunks();
    io.report(second!, false, 300);
    expect(second!.childElementCount).toBe(0);
    const range = document.createRange();
    range.setStart(first!.firstElementChild!, 0);
    range.setEnd(last!.firstElementChild!, 1);
    document.getSelection()!.addRange(range);
    document.dispatchEvent(new Event("copy"));
    expect(second!.childElementCount).toBe(4);
    expect(document.getSelection()!.toString()).toContain("block 5 ");
    // Still selected: kept. Selection gone: emptied again.
    document.dispatchEvent(new Event("selectionchange"));
    expect(second!.childElementCount).toBe(4);
    document.getSelection()!.removeAllRanges();
    document.dispatchEvent(new Event("selectionchange"));
    expect(second!.childElementCount).toBe(0);
    // Once the view is gone, a copy fills nothing.
    view.destroy();
    document.getSelection()!.addRange(range);
    document.dispatchEvent(new Event("copy"));
    expect(second!.childElementCount).toBe(0);
  });

  it("shows blocks anew when they are replaced rather than extended", () => {
    const view = new BlockView(host, root);
    view.update(blocks(6));
    // Longer, another first block.
    view.update(blocks(8, 100));
    expect(host.textContent).not.toContain("block 0 ");
    expect(host.textContent).toContain("block 107 ");
    // Longer, the same first block but not what was shown after it.
    view.update([
      block(100),
      "<p>other</p>",
      block(7),
      block(8),
      block(9),
      block(10),
      block(11),
      block(12),
      block(13),
    ]);
    expect(host.textContent).not.toContain("block 101 ");
    expect(host.textContent).toContain("other");
    view.update(["<p>another answer</p>"]);
    expect(host.innerHTML).toBe('<div class="chunk"><p>another answer</p></div>');
    expect(FakeObserver.last!.seen.size).toBe(1);
    view.update(null);
    expect(host.innerHTML).toBe("");
  });
});
