import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import type { Ask } from "../bindings/Ask";
import type { Item } from "../bindings/Item";
import { Conversation } from "../lib/conversation.svelte";
import { FakeIpc, makeItem } from "../lib/fake-ipc";
import { setIpc } from "../lib/ipc";
import ChatPane from "./ChatPane.svelte";

// Agents over ACP in the chat pane: choosing and installing one, its own questions,
// its calls and plan as they change, and what it changed.

function pane(agent: string | null = "codex") {
  localStorage.clear();
  const fake = new FakeIpc();
  fake.snapshotValue = {
    ...fake.snapshotValue,
    workspace: {
      info: { root: "/p", name: "p", git: null },
      project: { id: 1, path: "/p", name: "p", opened_at: 0 },
      session: {
        id: 1,
        project_id: 1,
        title: "t",
        slot: "fast",
        agent,
        created_at: 0,
        updated_at: 0,
      },
      items: [],
      settled: [],
    },
  };
  setIpc(fake);
  const conversation = new Conversation((cb) => cb());
  const changed: unknown[] = [];
  render(ChatPane, {
    conversation,
    fast: fake.snapshotValue.fast,
    deep: null,
    slot: "fast",
    agent,
    title: "t",
    onsettings: () => {},
    onfork: () => {},
    onagent: (s) => changed.push(s),
  });
  return { fake, conversation, changed };
}

const call = (id: number, toolName: string, text: string): Item => ({
  ...makeItem({ id, role: "assistant", text }),
  kind: "tool_call",
  tool_name: toolName,
  call_id: `c${id}`,
});

async function started(fake: FakeIpc, conversation: Conversation) {
  await conversation.send("fix it");
  fake.emit({
    type: "started",
    user_item: makeItem({ id: 1, role: "user", text: "fix it" }),
    assistant_item: makeItem({ id: 2, role: "assistant", status: "streaming" }),
  });
}

describe("the agent picker", () => {
  it("uses an installed agent, and installs a missing one first with its progress shown", async () => {
    const { fake, changed } = pane(null);
    const picker = (await screen.findByTestId("agent-picker")) as HTMLSelectElement;
    await waitFor(() => expect(picker.options.length).toBe(4));
    expect([...picker.options].map((o) => o.textContent?.trim())).toEqual([
      "Flint's model",
      "Codex",
      "Claude Code (not installed)",
      "Other agent…",
    ]);
    await fireEvent.change(picker, { target: { value: "codex" } });
    await waitFor(() => expect(fake.sessionAgents).toEqual(["codex"]));
    expect(changed.length).toBe(1);

    await fireEvent.change(picker, { target: { value: "claude" } });
    // Not installed: offered, not chosen yet.
    expect(fake.sessionAgents).toEqual(["codex"]);
    await fireEvent.click(await screen.findByTestId("install-agent"));
    await waitFor(() => expect(fake.installed).toEqual(["claude"]));
    await waitFor(() => expect(fake.sessionAgents).toEqual(["codex", "claude"]));

    // Any command that speaks ACP.
    await fireEvent.change(picker, { target: { value: "custom" } });
    const input = await screen.findByTestId("agent-command");
    await fireEvent.input(input, { target: { value: "my-agent --acp" } });
    await fireEvent.submit(input.closest("form")!);
    await waitFor(() => expect(fake.sessionAgents.at(-1)).toBe("my-agent --acp"));
  });

  it("names a command-line agent by its program", async () => {
    pane("'/opt/agents/my agent' --acp --verbose");
    const picker = (await screen.findByTestId("agent-picker")) as HTMLSelectElement;
    await waitFor(() => expect(picker.value).toBe("custom"));
    expect(picker.selectedOptions[0]!.textContent?.trim()).toBe("Agent: my agent");
  });

  it("shows the agent's context use in the meter, not a preview", async () => {
    const { fake, conversation } = pane("codex");
    await started(fake, conversation);
    fake.emit({
      type: "context",
      report: {
        sections: [],
        used: 10343,
        window: 121600,
        exact: true,
        left_out: [],
      },
    });
    const meter = await screen.findByTestId("context-meter");
    expect(meter.textContent).toContain("10,343 / 121,600 tokens");
  });
});

describe("an agent's turn", () => {
  it("asks its own question with its options, and answers with the one picked", async () => {
    const { fake, conversation } = pane();
    await started(fake, conversation);
    fake.emit({ type: "itemAdded", item: call(3, "acp.tool", '{"title":"Edit /p/a.rs"}') });
    const ask: Ask = {
      kind: "permission",
      title: "Edit /p/a.rs\u202e",
      tool_kind: "edit",
      outside: [],
      command: null,
      options: [
        { id: "approved", name: "Yes", kind: "allow_once" },
        { id: "always", name: "Always", kind: "allow_always" },
        { id: "abort", name: "No, provide feedback", kind: "reject_once" },
      ],
      review: null,
    };
    fake.emit({ type: "question", question: { id: 9, item_id: 3, ask } });
    // What the agent wrote is shown with hidden characters made visible.
    expect((await screen.findByTestId("approval-title")).textContent).toBe("Edit /p/a.rs\\u{202e}");
    await fireEvent.click(screen.getByTestId("agent-option-allow_always"));
    await fireEvent.click(screen.getByTestId("agent-option-reject_once"));
    await fireEvent.click(screen.getByTestId("agent-option-allow_once"));
    expect(fake.answers).toEqual([
      [9, { kind: "choose", option_id: "always" }],
      [9, { kind: "choose", option_id: "abort" }],
      [9, { kind: "choose", option_id: "approved" }],
    ]);
    expect(screen.queryByTestId("approval-outside")).toBeNull();
  });

  it("shows calls by their titles, replaces them as they change, and keeps the plan current", async () => {
    const { fake, conversation } = pane();
    await started(fake, conversation);
    fake.emit({
      type: "itemAdded",
      item: call(3, "acp.tool", '{"title":"Run tests","status":"in_progress"}'),
    });
    fake.emit({ type: "toolOutput", item_id: 3, text: "running 3 tests\n" });
    fake.emit({
      type: "itemAdded",
      item: call(3, "acp.tool", '{"title":"cargo test","status":"completed"}'),
    });
    const calls = await screen.findAllByTestId("tool-tool_call");
    expect(calls.length).toBe(1);
    expect(calls[0]!.textContent).toContain("cargo test");
    // The live output survives the replacement.
    expect((await screen.findByTestId("tool-output")).textContent).toContain("running 3 tests");

    const plan = (steps: Array<[string, string]>) =>
      JSON.stringify({ plan: steps.map(([step, status]) => ({ step, status })) });
    fake.emit({
      type: "itemAdded",
      item: call(
        4,
        "acp.plan",
        plan([
          ["Read", "in_progress"],
          ["Fix", "pending"],
        ]),
      ),
    });
    fake.emit({
      type: "itemAdded",
      item: call(
        4,
        "acp.plan",
        plan([
          ["Read", "completed"],
          ["Fix", "in_progress"],
        ]),
      ),
    });
    const shown = await screen.findAllByTestId("agent-plan");
    expect(shown.length).toBe(1);
    expect(shown[0]!.querySelector("li.completed")?.textContent).toBe("Read");
    expect(shown[0]!.querySelector("li.in_progress")?.textContent).toBe("Fix");
  });

  it("offers the review of what the agent changed", async () => {
    const { fake, conversation } = pane();
    await started(fake, conversation);
    fake.emit({
      type: "itemAdded",
      item: call(5, "acp.changes", '{"files":["a.rs","b.rs"],"not_recorded":[]}'),
    });
    fake.emit({
      type: "finished",
      item_id: 2,
      status: "complete",
      error: null,
      metrics: { ttft_ms: null, tokens_per_sec: null, input_tokens: null, output_tokens: null },
      reasoning: null,
      turn_done: true,
    });
    expect((await screen.findByTestId("tool-tool_call")).textContent).toContain("Changed 2 files");
    fake.reviews[5] = { item_id: 5, files: [], failures: [] };
    await fireEvent.click(await screen.findByTestId("review-changes"));
    await waitFor(() => expect(conversation.review?.item_id).toBe(5));
  });
});

describe("an agent's models and sign-in", () => {
  it("offers the agent's models and sets the one picked", async () => {
    const { fake, conversation } = pane();
    await started(fake, conversation);
    fake.emit({
      type: "agentSession",
      models: [
        { id: "gpt-5.5", name: "GPT-5.5" },
        { id: "gpt-5.3-codex-spark", name: "GPT-5.3-Codex-Spark" },
      ],
      current_model: "gpt-5.5",
    });
    const select = (await screen.findByTestId("agent-model")) as HTMLSelectElement;
    expect([...select.options].map((o) => o.textContent)).toEqual([
      "GPT-5.5",
      "GPT-5.3-Codex-Spark",
    ]);
    await fireEvent.change(select, { target: { value: "gpt-5.3-codex-spark" } });
    expect(fake.agentModels).toEqual(["gpt-5.3-codex-spark"]);
  });

  it("offers the agent's sign-in when it asks for one, then tries again", async () => {
    const { fake, conversation } = pane();
    await started(fake, conversation);
    fake.emit({
      type: "finished",
      item_id: 2,
      status: "failed",
      error: { code: "agent_sign_in", message: "Authentication required" },
      metrics: { ttft_ms: null, tokens_per_sec: null, input_tokens: null, output_tokens: null },
      reasoning: null,
      turn_done: true,
    });
    await screen.findByTestId("agent-sign-in");
    const key = await screen.findByTestId("sign-in-var");
    const button = screen.getByTestId("sign-in-codex-api-key") as HTMLButtonElement;
    expect(button.disabled).toBe(true);
    await fireEvent.input(key, { target: { value: "sk-test" } });
    await fireEvent.submit(key.closest("form")!);
    await waitFor(() =>
      expect(fake.signIns).toEqual([["codex-api-key", { CODEX_API_KEY: "sk-test" }]]),
    );
    await waitFor(() => expect(fake.retries).toBe(1));
  });
});
