import { fireEvent, render, screen } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import { Conversation } from "../lib/conversation.svelte";
import { FakeIpc } from "../lib/fake-ipc";
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
      title: "t",
      onsettings: () => {},
      onfork: () => {},
    });
    await conversation.send("q");
    const transcript = screen.getByTestId("transcript");
    Object.defineProperty(transcript, "scrollHeight", { value: 2000, configurable: true });
    Object.defineProperty(transcript, "clientHeight", { value: 500, configurable: true });
    transcript.scrollTop = 100;
    await fireEvent.scroll(transcript);
    const back = await screen.findByTestId("live-end");
    await fireEvent.click(back);
    expect(transcript.scrollTop).toBe(2000);
    expect(screen.queryByTestId("live-end")).toBeNull();
  });
});
