import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import type { Review } from "../bindings/Review";
import { Conversation } from "../lib/conversation.svelte";
import { FakeIpc, makeItem } from "../lib/fake-ipc";
import { setIpc } from "../lib/ipc";
import ReviewPane from "./ReviewPane.svelte";

const review: Review = {
  item_id: 7,
  files: [
    {
      path: "src/lib.rs",
      moved_from: null,
      change: "modified",
      base_hash: "h1",
      status: "pending",
      detail: null,
      hunks: [
        {
          old_start: 1,
          old_len: 2,
          new_start: 1,
          new_len: 2,
          lines: [
            { kind: "context", text: "fn a() {", html: '<span class="hl-storage">fn</span> a() {' },
            { kind: "removed", text: "    1", html: null },
            { kind: "added", text: "    2", html: null },
          ],
        },
        {
          old_start: 20,
          old_len: 1,
          new_start: 20,
          new_len: 1,
          lines: [
            { kind: "removed", text: "x", html: null },
            { kind: "added", text: "y", html: null },
          ],
        },
      ],
    },
  ],
  failures: [
    {
      path: "b.rs",
      code: "no_match",
      message: "b.rs: the lines starting `q` are not in the file",
      feedback: "The edit could not be applied: b.rs: ...",
    },
  ],
};

function setup() {
  localStorage.clear();
  const fake = new FakeIpc();
  fake.reviews[7] = review;
  setIpc(fake);
  const conversation = new Conversation((cb) => cb());
  conversation.review = review;
  render(ReviewPane, { conversation });
  return { fake, conversation };
}

describe("ReviewPane", () => {
  it("applies only the accepted hunks, chosen by mouse", async () => {
    const { fake } = setup();
    const toggles = await screen.findAllByTestId("hunk-toggle");
    // Highlighted lines keep their spans; plain ones are text.
    expect(document.querySelector(".diff .hl-storage")?.textContent).toBe("fn");
    expect(toggles.map((t) => t.textContent)).toEqual(["✓ accepted", "✓ accepted"]);
    await fireEvent.click(toggles[1]!);
    expect(toggles[1]!.textContent).toBe("✗ rejected");
    await fireEvent.click(screen.getByTestId("apply"));
    await waitFor(() => expect(fake.applied.length).toBe(1));
    expect(fake.applied[0]).toEqual([
      7,
      [{ path: "src/lib.rs", base_hash: "h1", accept: [true, false] }],
    ]);
    await waitFor(() =>
      expect(screen.getByTestId("review-message").textContent).toContain("Nothing applied"),
    );
    expect(screen.getByTestId("review-file").dataset.status).toBe("applied");
  });

  it("is driven by the keyboard", async () => {
    const { fake } = setup();
    await screen.findAllByTestId("hunk");
    await fireEvent.keyDown(window, { key: "j" });
    await fireEvent.keyDown(window, { key: "r" });
    const hunks = screen.getAllByTestId("hunk");
    expect(hunks[1]!.classList.contains("focused")).toBe(true);
    expect(hunks[1]!.classList.contains("off")).toBe(true);
    await fireEvent.keyDown(window, { key: "a" });
    expect(hunks[1]!.classList.contains("off")).toBe(false);
    await fireEvent.keyDown(window, { key: "v" });
    expect(document.querySelector("table.diff")).not.toBeNull();
    await fireEvent.keyDown(window, { key: "A" });
    await waitFor(() => expect(fake.applied[0]![1][0]!.accept).toEqual([true, true]));
    await fireEvent.keyDown(window, { key: "u" });
    await waitFor(() => expect(fake.undos).toBe(1));
  });

  it("rejects everything in one action", async () => {
    const { fake } = setup();
    await fireEvent.click(await screen.findByTestId("reject-all"));
    await waitFor(() => expect(fake.applied[0]![1][0]!.accept).toEqual([false, false]));
    expect(screen.getByTestId("review-file").dataset.status).toBe("rejected");
  });

  it("lists edits that failed and sends them back to the model", async () => {
    const { fake } = setup();
    expect((await screen.findByTestId("review-failures")).textContent).toContain("not in the file");
    await fireEvent.click(screen.getByText("Send this back to the model"));
    await waitFor(() => expect(fake.sent.length).toBe(1));
    expect(fake.sent[0]).toContain("The edit could not be applied: b.rs");
  });

  const answer = (status: "complete" | "truncated") =>
    makeItem({ id: 7, text: "an answer", status });

  it("auto-applies an answer's proposals when it completes", async () => {
    localStorage.setItem("flint.autoApply", "1");
    const fake = new FakeIpc();
    fake.reviews[7] = review;
    setIpc(fake);
    const conversation = new Conversation((cb) => cb());
    conversation.load([answer("complete")]);
    conversation.review = review;
    render(ReviewPane, { conversation });
    await waitFor(() => expect(fake.applied.length).toBe(1));
  });

  it("leaves an answer that was cut off for the user to review", async () => {
    localStorage.setItem("flint.autoApply", "1");
    const fake = new FakeIpc();
    fake.reviews[7] = review;
    setIpc(fake);
    const conversation = new Conversation((cb) => cb());
    conversation.load([answer("truncated")]);
    conversation.review = review;
    render(ReviewPane, { conversation });
    await screen.findByTestId("review-file");
    await new Promise((r) => setTimeout(r, 50));
    expect(fake.applied.length).toBe(0);
  });
});
