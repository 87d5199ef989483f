import { fireEvent, render, screen } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import { CONTINUE_PROMPT, Conversation } from "../lib/conversation.svelte";
import { FakeIpc, makeItem } from "../lib/fake-ipc";
import { setIpc } from "../lib/ipc";
import ChatPane from "./ChatPane.svelte";

describe("ChatPane", () => {
  it("offers a way back to the live answer after the user scrolls up", async () => {
    const fake = new FakeIpc();
    setIpc(fake);
    const conversation = new Conversation((cb) => cb());
    render(ChatPane, {
      conversation,
      fast: fake.snapshotValue.fast,
      deep: null,
      slot: "fast",
      agent: null,
      title: "t",
      onsettings: () => {},
      onfork: () => {},
    });
    await conversation.send("q");
    const transcript = screen.getByTestId("transcript");
    Object.defineProperty(transcript, "scrollHeight", { value: 2000, configurable: true });
    Object.defineProperty(transcript, "clientHeight", { value: 500, configurable: true });
    // Following the end: a scroll event that finds the answer grown past the end
    // (it grew between the scroll and the event) does not let go of it.
    transcript.scrollTop = 1500;
    await fireEvent.scroll(transcript);
    Object.defineProperty(transcript, "scrollHeight", { value: 2600, configurable: true });
    await fireEvent.scroll(transcript);
    expect(screen.queryByTestId("live-end")).toBeNull();
    expect(transcript.dataset["following"]).toBe("true");
    Object.defineProperty(transcript, "scrollHeight", { value: 2000, configurable: true });
    // A move up the user did not make (the answer laid out shorter pulled the position
    // up, and grew again before the event): still following.
    transcript.scrollTop = 1400;
    await fireEvent.scroll(transcript);
    expect(transcript.dataset["following"]).toBe("true");
    // The user scrolls up to read (with the scroll bar: a pointer held on the transcript).
    await fireEvent.pointerDown(transcript);
    transcript.scrollTop = 100;
    await fireEvent.scroll(transcript);
    const back = await screen.findByTestId("live-end");
    expect(transcript.dataset["following"]).toBe("false");
    await fireEvent.pointerUp(window);
    await fireEvent.click(back);
    expect(transcript.scrollTop).toBe(2000);
    expect(screen.queryByTestId("live-end")).toBeNull();
    // A wheel turned up lets go at once (before its scroll event arrives).
    await fireEvent.wheel(transcript, { deltaY: -40 });
    expect(await screen.findByTestId("live-end")).toBeTruthy();
  });
});

describe("ChatPane with a long session", () => {
  it("builds the latest messages only, and earlier ones a page at a time", async () => {
    const fake = new FakeIpc();
    setIpc(fake);
    const conversation = new Conversation((cb) => cb());
    const items = Array.from({ length: 400 }, (_, n) =>
      makeItem({ id: n + 1, role: n % 2 === 0 ? "user" : "assistant" }),
    );
    conversation.load(items);
    render(ChatPane, {
      conversation,
      fast: fake.snapshotValue.fast,
      deep: null,
      slot: "fast",
      agent: null,
      title: "t",
      onsettings: () => {},
      onfork: () => {},
    });
    const count = () => document.querySelectorAll("[data-item-id]").length;
    expect(count()).toBe(60);
    expect(document.querySelector('[data-item-id="400"]')).toBeTruthy();
    await fireEvent.click(screen.getByTestId("earlier"));
    expect(count()).toBe(120);
    // Opening at a search hit far back shows it.
    conversation.focus = 7;
    await new Promise((r) => setTimeout(r, 0));
    expect(document.querySelector('[data-item-id="7"]')).toBeTruthy();
  });
});

describe("ChatPane after an answer the provider cut off", () => {
  it("says so and offers Continue, which asks the model to go on", async () => {
    const fake = new FakeIpc();
    setIpc(fake);
    const conversation = new Conversation((cb) => cb());
    conversation.load([
      makeItem({ id: 1, role: "user" }),
      makeItem({ id: 2, status: "truncated" }),
    ]);
    render(ChatPane, {
      conversation,
      fast: fake.snapshotValue.fast,
      deep: null,
      slot: "fast",
      agent: null,
      title: "t",
      onsettings: () => {},
      onfork: () => {},
    });
    expect(screen.getByText(/Cut off — the provider stopped at its length limit/)).toBeTruthy();
    await fireEvent.click(screen.getByTestId("continue"));
    expect(fake.sent).toEqual([CONTINUE_PROMPT]);
  });
});
