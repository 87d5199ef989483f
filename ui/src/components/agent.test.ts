import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import type { Ask } from "../bindings/Ask";
import type { Review } from "../bindings/Review";
import { Conversation } from "../lib/conversation.svelte";
import { FakeIpc, makeItem } from "../lib/fake-ipc";
import { setIpc } from "../lib/ipc";
import ChatPane from "./ChatPane.svelte";
import ReviewPane from "./ReviewPane.svelte";
import SettingsDialog from "./SettingsDialog.svelte";

// jsdom has no modal dialogs.
HTMLDialogElement.prototype.showModal ??= function (this: HTMLDialogElement) {
  this.open = true;
};

const command: Ask = {
  kind: "command",
  command: "cargo test --all <script>",
  cwd: "crates/core",
  why: "see if the fix holds",
  prefix: "cargo test",
};

async function turnWaiting(ask: Ask, itemId = 3) {
  localStorage.clear();
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
  await conversation.send("fix it");
  fake.emit({
    type: "started",
    user_item: makeItem({ id: 1, role: "user", text: "fix it" }),
    assistant_item: makeItem({ id: 2, role: "assistant", status: "streaming" }),
  });
  fake.emit({
    type: "itemAdded",
    item: {
      ...makeItem({
        id: itemId,
        role: "assistant",
        text: '{"command":["bash","-lc","cargo test"]}',
      }),
      kind: "tool_call",
      tool_name: "shell",
      call_id: "c1",
    },
  });
  fake.emit({ type: "question", question: { id: 5, item_id: itemId, ask } });
  return { fake, conversation };
}

/** The running turn's answer (item 2) is final and the turn is done. */
function endTurn(fake: FakeIpc) {
  fake.emit({
    type: "finished",
    item_id: 2,
    status: "complete",
    error: null,
    metrics: { ttft_ms: null, tokens_per_sec: null, input_tokens: null, output_tokens: null },
    reasoning: null,
    turn_done: true,
  });
}

describe("the approval prompt", () => {
  it("shows the command as text, where and why, and answers each way", async () => {
    const { fake } = await turnWaiting(command);
    expect((await screen.findByTestId("approval-command")).textContent).toBe(
      "cargo test --all <script>",
    );
    expect(document.querySelector("script")).toBeNull();
    expect(screen.getByTestId("approval").textContent).toContain("in crates/core");
    expect(screen.getByTestId("approval-why").textContent).toBe("see if the fix holds");
    // The call reads as what it does.
    expect(screen.getByTestId("tool-tool_call").textContent).toContain("Ran cargo test");
    await fireEvent.click(screen.getByTestId("allow-session"));
    await fireEvent.click(screen.getByTestId("allow-always"));
    await fireEvent.click(screen.getByTestId("allow-once"));
    await fireEvent.click(screen.getByTestId("deny"));
    await fireEvent.input(screen.getByTestId("deny-message"), {
      target: { value: "use nextest" },
    });
    await fireEvent.click(screen.getByTestId("deny-send"));
    await waitFor(() => expect(fake.answers.length).toBe(4));
    expect(fake.answers.map(([, a]) => a)).toEqual([
      { kind: "allowForSession" },
      { kind: "allowAlways" },
      { kind: "allow" },
      { kind: "deny", message: "use nextest" },
    ]);
    fake.emit({ type: "answered", question_id: 5 });
    await waitFor(() => expect(screen.queryByTestId("approval")).toBeNull());
    // The command's output shows live under its call.
    fake.emit({ type: "toolOutput", item_id: 3, text: "running 3 tests\n" });
    expect((await screen.findByTestId("tool-output")).textContent).toContain("running 3 tests");
  });

  it("shows hidden characters in a command as escapes, and never reads an argv as a shell line", async () => {
    await turnWaiting({ ...command, command: "ls \u202eexe.sh\u0007", why: null });
    expect((await screen.findByTestId("approval-command")).textContent).toBe(
      "ls \\u{202e}exe.sh\\u{0007}",
    );
    const conversation = new Conversation((cb) => cb());
    conversation.load([
      {
        ...makeItem({
          id: 1,
          role: "assistant",
          text: JSON.stringify({ command: ["./evil", "-c", "cargo test"] }),
        }),
        kind: "tool_call",
        tool_name: "shell",
      },
    ]);
    render(ChatPane, {
      conversation,
      fast: null,
      deep: null,
      slot: "fast",
      agent: null,
      title: "t",
      onsettings: () => {},
      onfork: () => {},
    });
    const summaries = screen.getAllByTestId("tool-tool_call").map((e) => e.textContent ?? "");
    expect(summaries.some((t) => t.includes("Ran ./evil -c cargo test"))).toBe(true);
  });

  it("offers no prefix for a command that chains", async () => {
    await turnWaiting({ ...command, command: "make && rm -rf x", prefix: null });
    await screen.findByTestId("approval");
    expect(screen.queryByTestId("allow-always")).toBeNull();
    expect(screen.queryByTestId("allow-session")).toBeNull();
  });

  it("lets the turn's edit be decided in the review pane while the turn waits", async () => {
    const review: Review = {
      item_id: 3,
      failures: [],
      files: [
        {
          path: "a.rs",
          moved_from: null,
          change: "modified",
          base_hash: "h",
          status: "pending",
          detail: null,
          hunks: [
            {
              old_start: 1,
              old_len: 1,
              new_start: 1,
              new_len: 1,
              lines: [
                { kind: "removed", text: "a", html: null },
                { kind: "added", text: "b", html: null },
              ],
            },
          ],
        },
      ],
    };
    const { fake, conversation } = await turnWaiting({ kind: "edit", review });
    fake.reviews[3] = review;
    conversation.review = review;
    render(ReviewPane, { conversation });
    expect(screen.getByTestId("approval").textContent).toContain("wants to edit a.rs");
    // The turn is running, but this edit is what it waits for: the pane is live.
    const apply = screen.getByTestId("apply") as HTMLButtonElement;
    expect(apply.disabled).toBe(false);
    await fireEvent.click(apply);
    await waitFor(() => expect(fake.answers).toEqual([[5, { kind: "reviewed" }]]));
    expect(fake.applied[0]![0]).toBe(3);
  });
});

describe("the step limit", () => {
  it("says the turn stopped and goes on with a new turn", async () => {
    const { fake } = await turnWaiting(command);
    fake.emit({ type: "answered", question_id: 5 });
    fake.emit({ type: "stepLimit", steps: 50 });
    endTurn(fake);
    expect((await screen.findByTestId("step-limit")).textContent).toContain("after 50 steps");
    await fireEvent.click(screen.getByTestId("go-on"));
    await waitFor(() => expect(fake.sent.length).toBe(2));
    expect(fake.sent[1]).toContain("Go on from where you stopped");
    await waitFor(() => expect(screen.queryByTestId("step-limit")).toBeNull());
  });
});

describe("the mode switch and the agent's settings", () => {
  it("sends the mode chosen in the composer, kept for next time", async () => {
    const { fake, conversation } = await turnWaiting(command);
    fake.emit({ type: "answered", question_id: 5 });
    endTurn(fake);
    // The turn acted: it can be undone whole.
    await fireEvent.click(await screen.findByTestId("undo-turn"));
    await waitFor(() => expect(fake.turnsUndone).toBe(1));
    await fireEvent.change(screen.getByTestId("mode"), { target: { value: "auto-edit" } });
    expect(conversation.mode).toBe("auto-edit");
    expect(localStorage.getItem("flint.mode")).toBe("auto-edit");
    await conversation.send("again");
    expect(fake.modes).toEqual(["ask", "auto-edit"]);
  });

  it("lists the always-allowed commands, removes one, and says whether there is a sandbox", async () => {
    const fake = new FakeIpc();
    fake.agent = { allowed: ["cargo test", "npm run"], sandbox: "bubblewrap is not installed" };
    setIpc(fake);
    render(SettingsDialog, { onclose: () => {}, onsaved: () => {} });
    const section = await screen.findByTestId("agent-settings");
    expect(section.textContent).toContain("cargo test");
    expect(screen.getByTestId("sandbox-status").textContent).toContain(
      "bubblewrap is not installed",
    );
    await fireEvent.click(screen.getAllByTestId("forget-command")[0]!);
    await waitFor(() => expect(section.textContent).not.toContain("cargo test"));
    expect(section.textContent).toContain("npm run");
  });
});
