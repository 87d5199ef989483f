import { fireEvent, render, screen } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import { FakeIpc } from "../lib/fake-ipc";
import { setIpc } from "../lib/ipc";
import ProjectSwitcher from "./ProjectSwitcher.svelte";

describe("ProjectSwitcher", () => {
  it("lists open and recent projects and switches to one", async () => {
    const fake = new FakeIpc();
    setIpc(fake);
    let opened = 0;
    let closed = 0;
    render(ProjectSwitcher, { onclose: () => (closed += 1), onopened: () => (opened += 1) });
    const open = await screen.findAllByTestId("switch-open");
    expect(open.map((b) => b.textContent)).toEqual(["● demo", "● other"]);
    expect(screen.getByTestId("switch-recent").textContent).toBe("old");
    await fireEvent.click(open[1]!);
    await new Promise((r) => setTimeout(r, 0));
    expect(fake.openedProjects).toEqual(["/code/other"]);
    expect(opened).toBe(1);
    expect(closed).toBe(1);
  });
});
