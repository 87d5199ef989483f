import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { describe, expect, it, vi } from "vitest";
import { FakeIpc } from "../lib/fake-ipc";
import { setIpc } from "../lib/ipc";
import SessionsPanel from "./SessionsPanel.svelte";

const session = (id: number, title: string) => ({
  session: {
    id,
    project_id: 1,
    title,
    slot: "fast" as const,
    agent: null,
    created_at: 0,
    updated_at: 1764000000000,
  },
  project_name: "demo",
  project_path: "/code/demo",
  model: "fast-m",
  items: 4,
});

function setup() {
  const fake = new FakeIpc();
  fake.sessions = [session(2, "Second"), session(1, "First")];
  fake.hits = [
    {
      item_id: 11,
      session: session(1, "First").session,
      project_name: "demo",
      role: "assistant",
      model: "fast-m",
      created_at: 0,
      snippet: [
        { text: "the ", hit: false },
        { text: "tokenizer", hit: true },
        { text: " <b>panics</b>", hit: false },
      ],
    },
  ];
  setIpc(fake);
  const onopen = vi.fn();
  render(SessionsPanel, { current: 2, onopen });
  return { fake, onopen };
}

describe("SessionsPanel", () => {
  it("lists sessions newest first and opens one", async () => {
    const { fake, onopen } = setup();
    const items = await screen.findAllByTestId("session-item");
    expect(items.map((i) => i.querySelector(".title")?.textContent)).toEqual(["Second", "First"]);
    await fireEvent.click(items[1]!);
    await waitFor(() => expect(fake.opened).toEqual([1]));
    expect(onopen).toHaveBeenCalledWith(fake.snapshotValue, null);
  });

  it("searches with marked words, as text, and opens the session at the hit", async () => {
    const { fake, onopen } = setup();
    await fireEvent.input(await screen.findByTestId("session-search"), {
      target: { value: "tokenizer" },
    });
    const hit = await screen.findByTestId("search-hit", {}, { timeout: 2000 });
    expect(hit.querySelector("mark")?.textContent).toBe("tokenizer");
    expect(hit.querySelector("b")).toBeNull(); // model text never becomes markup
    expect(fake.searches[0]![0]).toBe("tokenizer");
    const fromDate = screen.getByLabelText("From date");
    await fireEvent.input(fromDate, { target: { value: "2026-11-01" } });
    await fireEvent.change(fromDate);
    await waitFor(
      () => expect(fake.searches.at(-1)![1].from).toBe(new Date("2026-11-01T00:00:00").getTime()),
      {
        timeout: 2000,
      },
    );
    await fireEvent.click(hit);
    await waitFor(() => expect(onopen).toHaveBeenCalledWith(fake.snapshotValue, 11));
  });

  it("renames and deletes after confirmation", async () => {
    const { fake } = setup();
    await screen.findAllByTestId("session-item");
    await fireEvent.click(screen.getAllByLabelText("Rename")[0]!);
    await fireEvent.input(screen.getByLabelText("New title"), { target: { value: "Renamed" } });
    await fireEvent.click(screen.getByText("Save"));
    await waitFor(() => expect(fake.renamed).toEqual([[2, "Renamed"]]));

    window.confirm = () => false;
    await fireEvent.click(screen.getAllByTestId("session-delete")[1]!);
    expect(fake.deleted).toEqual([]);
    window.confirm = () => true;
    await fireEvent.click(screen.getAllByTestId("session-delete")[1]!);
    await waitFor(() => expect(fake.deleted).toEqual([1]));
  });
});
