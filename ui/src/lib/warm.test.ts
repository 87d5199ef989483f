import { describe, expect, it } from "vitest";
import { warmFonts, warmFontsWhenIdle } from "./warm";

describe("warmFonts", () => {
  it("lays out every face an answer uses, hidden, and leaves nothing behind", () => {
    const laidOut: Element[] = [];
    const read = Object.getOwnPropertyDescriptor(HTMLElement.prototype, "offsetHeight")!;
    Object.defineProperty(HTMLElement.prototype, "offsetHeight", {
      configurable: true,
      get(this: HTMLElement) {
        // What is laid out is what is in the document when a size is read.
        if (this.isConnected) laidOut.push(this.cloneNode(true) as Element);
        return 0;
      },
    });
    try {
      document.body.innerHTML = "<main>app</main>";
      warmFonts();
    } finally {
      Object.defineProperty(HTMLElement.prototype, "offsetHeight", read);
    }
    expect(document.body.innerHTML).toBe("<main>app</main>");
    expect(laidOut).toHaveLength(1);
    const sample = laidOut[0]!;
    // Styled by the same rules as an answer, so the same fonts are asked for.
    expect(sample.className).toBe("text md");
    for (const sel of ["h1", "h2 code", "h3", "p strong", "p em", "strong em", "p code", "th"])
      expect(sample.querySelector(sel), sel).not.toBeNull();
    const code = sample.querySelector("pre.code code")!;
    // Both themes' bold, italic and bold italic in the code face.
    for (const cls of [".hl-lb.hl-db", ".hl-li.hl-di", ".hl-lb.hl-li.hl-db.hl-di"])
      expect(code.querySelector(cls), cls).not.toBeNull();
    // And the review pane's diff, bold and italic.
    expect(sample.querySelector("pre.diff .line b")).not.toBeNull();
    expect(sample.querySelector("pre.diff .line i")).not.toBeNull();
  });

  it("is hidden from sight, pointer and assistive technology while it exists", () => {
    let style = "";
    let hidden: string | null = null;
    const append = document.body.appendChild.bind(document.body);
    document.body.appendChild = <T extends Node>(n: T): T => {
      const el = n as unknown as HTMLElement;
      style = el.style.cssText;
      hidden = el.getAttribute("aria-hidden");
      return append(n);
    };
    try {
      warmFonts();
    } finally {
      document.body.appendChild = append;
    }
    expect(hidden).toBe("true");
    expect(style).toContain("visibility: hidden");
    expect(style).toContain("pointer-events: none");
    expect(style).toContain("position: fixed");
  });

  it("waits for the page to be idle", () => {
    const queued: Array<() => void> = [];
    const had = Object.getOwnPropertyDescriptor(window, "requestIdleCallback");
    Object.defineProperty(window, "requestIdleCallback", {
      configurable: true,
      value: (cb: () => void) => queued.push(cb),
    });
    const added: Node[] = [];
    const append = document.body.appendChild.bind(document.body);
    document.body.appendChild = <T extends Node>(n: T): T => {
      added.push(n);
      return append(n);
    };
    try {
      warmFontsWhenIdle();
      expect(added).toHaveLength(0);
      expect(queued).toHaveLength(1);
      queued[0]!();
      expect(added).toHaveLength(1);
    } finally {
      document.body.appendChild = append;
      if (had) Object.defineProperty(window, "requestIdleCallback", had);
      else Reflect.deleteProperty(window, "requestIdleCallback");
    }
  });
});
