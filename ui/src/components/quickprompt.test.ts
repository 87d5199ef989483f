import { fireEvent, render, screen } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import type { Item } from "../bindings/Item";
import { Conversation } from "../lib/conversation.svelte";
import { FakeIpc, makeItem } from "../lib/fake-ipc";
import { setIpc } from "../lib/ipc";
import QuickPrompt from "./QuickPrompt.svelte";

function item(id: number, role: "user" | "assistant", text: string): Item {
  const status = role === "assistant" ? "streaming" : "complete";
  return makeItem({ id, session_id: 9, role, text, status });
}

describe("QuickPrompt", () => {
  it("asks the active project, streams the answer, continues in Flint, hides on Esc", async () => {
    const fake = new FakeIpc();
    setIpc(fake);
    const conversation = new Conversation((cb) => cb());
    render(QuickPrompt, { conversation });
    expect(await screen.findByText("project · fixture-model")).toBeTruthy();
    const input = screen.getByTestId("quick-input");
    await fireEvent.input(input, { target: { value: "what is this?" } });
    await fireEvent.keyDown(input, { key: "Enter" });
    expect(fake.quickSent).toEqual(["what is this?"]);
    fake.emit({
      type: "started",
      user_item: item(1, "user", "what is this?"),
      assistant_item: item(2, "assistant", ""),
    });
    fake.emit({ type: "delta", item_id: 2, text: "A small crate.", arrived_ms: 0 });
    fake.emit({
      type: "finished",
      item_id: 2,
      status: "complete",
      error: null,
      metrics: { ttft_ms: 1, tokens_per_sec: 1, input_tokens: 1, output_tokens: 3 },
      reasoning: null,
      turn_done: true,
    });
    expect(await screen.findByText(/A small crate\./)).toBeTruthy();
    await fireEvent.click(await screen.findByTestId("quick-continue"));
    expect(fake.continued).toBe(1);
    await fireEvent.keyDown(window, { key: "Escape" });
    expect(fake.hidden).toBe(1);
  });

  it("says what is missing when no project is open", async () => {
    const fake = new FakeIpc();
    fake.quickInfo = async () => {
      throw { code: "no_project", message: "Open a project in Flint first." };
    };
    setIpc(fake);
    render(QuickPrompt, { conversation: new Conversation((cb) => cb()) });
    expect(await screen.findByText("Open a project in Flint first.")).toBeTruthy();
    expect((screen.getByTestId("quick-input") as HTMLTextAreaElement).disabled).toBe(true);
  });
});
