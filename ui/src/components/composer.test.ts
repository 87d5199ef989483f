import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import { Conversation } from "../lib/conversation.svelte";
import { FakeIpc } from "../lib/fake-ipc";
import { setIpc } from "../lib/ipc";
import Composer from "./Composer.svelte";

function setup() {
  const fake = new FakeIpc();
  fake.files = ["src/main.rs", "src/engine/turn.rs", "README.md"];
  setIpc(fake);
  const conversation = new Conversation((cb) => cb());
  render(Composer, { conversation, onsent: () => {} });
  return { fake, box: screen.getByTestId("composer") as HTMLTextAreaElement };
}

async function typeText(box: HTMLTextAreaElement, text: string) {
  box.value = text;
  box.setSelectionRange(text.length, text.length);
  await fireEvent.input(box);
}

describe("Composer", () => {
  it("offers files after @ and inserts the chosen one", async () => {
    const { box } = setup();
    await typeText(box, "explain @turn");
    const list = await screen.findByTestId("mentions");
    expect(list.textContent).toContain("src/engine/turn.rs");
    await fireEvent.keyDown(box, { key: "Enter" });
    expect(box.value).toBe("explain @src/engine/turn.rs ");
    expect(screen.queryByTestId("mentions")).toBeNull();
  });

  it("sends on Enter when no file list is open", async () => {
    const { fake, box } = setup();
    await typeText(box, "hello");
    await fireEvent.keyDown(box, { key: "Enter" });
    await waitFor(() => expect(fake.sent).toEqual(["hello"]));
  });

  it("shows the context meter and what would not fit", async () => {
    const { box } = setup();
    await typeText(box, "look at @huge.rs");
    await waitFor(() => expect(screen.getByTestId("left-out").textContent).toBe("1 left out"), {
      timeout: 2000,
    });
    const meter = screen.getByTestId("context-meter");
    expect(meter.textContent).toContain("/ 128,000 tokens");
    expect(meter.title).toContain("Left out: @huge.rs (200000 tokens) does not fit the window");
  });
});
