import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import { FakeIpc } from "../lib/fake-ipc";
import { setIpc } from "../lib/ipc";
import GitPanel from "./GitPanel.svelte";

function fake() {
  const f = new FakeIpc();
  f.git = {
    state: { branch: "main", detached: false, unborn: false },
    upstream: "origin/main",
    ahead: 2,
    behind: 0,
    changes: [
      { path: "a.rs", staged: null, unstaged: "modified", untracked: false },
      { path: "new.txt", staged: null, unstaged: null, untracked: true },
    ],
  };
  setIpc(f);
  return f;
}

describe("GitPanel", () => {
  it("stages, suggests a message and commits", async () => {
    const f = fake();
    render(GitPanel);
    expect((await screen.findByTestId("git-panel")).textContent).toContain("↑2 ↓0");
    await fireEvent.click(screen.getByLabelText("Stage a.rs"));
    await waitFor(() => expect(f.staged).toEqual([["a.rs"]]));
    await fireEvent.click(await screen.findByText("Suggest"));
    await waitFor(() =>
      expect((screen.getByTestId("commit-message") as HTMLTextAreaElement).value).toBe(
        "Add the suggested message",
      ),
    );
    await fireEvent.click(screen.getByTestId("commit"));
    await waitFor(() => expect(f.commits).toEqual(["Add the suggested message"]));
    expect(await screen.findByText("Committed.")).toBeTruthy();
  });

  it("shows a file's diff and merges a saved path's new status", async () => {
    const f = fake();
    render(GitPanel);
    await fireEvent.click(await screen.findByText("a.rs"));
    expect((await screen.findByText("+added")).className).toContain("added");
    f.gitListeners[0]!([["a.rs", null]]);
    await waitFor(() => expect(screen.queryByLabelText("Stage a.rs")).toBeNull());
  });

  it("says when the folder is not a repository", async () => {
    const f = new FakeIpc();
    setIpc(f);
    render(GitPanel);
    expect(await screen.findByText("This folder is not a git repository.")).toBeTruthy();
  });
});
