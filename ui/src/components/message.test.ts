import { fireEvent, render } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import type { ChatItem } from "../lib/conversation.svelte";
import { FakeIpc } from "../lib/fake-ipc";
import { setIpc } from "../lib/ipc";
import Message from "./Message.svelte";

describe("Message", () => {
  it("opens http(s) links outside the app and ignores any other", async () => {
    const fake = new FakeIpc();
    setIpc(fake);
    const item: ChatItem = {
      id: 1,
      kind: "answer",
      role: "assistant",
      text: "x",
      toolName: null,
      status: "complete",
      error: null,
      model: "m",
      metrics: null,
      reasoning: null,
      blocks: ['<p><a href="https://example.com/doc">doc</a> <a href="">bad</a></p>'],
      closed: 1,
      live: null,
      output: "",
    };
    const { container } = render(Message, { item });
    const [good, bad] = Array.from(container.querySelectorAll("a"));
    const goodClick = new MouseEvent("click", { bubbles: true, cancelable: true });
    good!.dispatchEvent(goodClick);
    expect(goodClick.defaultPrevented).toBe(true);
    await fireEvent.click(bad!);
    expect(fake.openedUrls).toEqual(["https://example.com/doc"]);
  });
});
