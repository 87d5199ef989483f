import { beforeEach, describe, expect, it } from "vitest";
import type { Item } from "../bindings/Item";
import { Conversation } from "./conversation.svelte";
import { FakeIpc, makeItem } from "./fake-ipc";
import { setIpc } from "./ipc";
import { perf, unixNow } from "./perf";

function item(id: number, role: "user" | "assistant", text: string): Item {
  return makeItem({ id, role, text });
}

describe("Conversation", () => {
  let fake: FakeIpc;
  let frames: Array<() => void>;
  let conv: Conversation;
  const paint = () => frames.splice(0).forEach((f) => f());

  beforeEach(() => {
    fake = new FakeIpc();
    setIpc(fake);
    frames = [];
    conv = new Conversation((cb) => frames.push(cb));
  });

  it("follows a turn of several answers and tool items by their ids", async () => {
    await conv.send("what is in a.rs?");
    fake.emit({
      type: "started",
      user_item: item(1, "user", "what is in a.rs?"),
      assistant_item: { ...item(2, "assistant", ""), status: "streaming" },
    });
    fake.emit({ type: "delta", item_id: 2, text: "Let me read it.", arrived_ms: 0 });
    const done = {
      type: "finished" as const,
      status: "complete" as const,
      error: null,
      metrics: { ttft_ms: 1, tokens_per_sec: 1, input_tokens: 1, output_tokens: 1 },
      reasoning: null,
    };
    fake.emit({ ...done, item_id: 2, turn_done: false });
    // The first answer is final, the turn goes on.
    expect(conv.streaming).toBe(true);
    const call = { ...item(3, "assistant", '{"path":"a.rs"}'), kind: "tool_call" as const };
    fake.emit({ type: "itemAdded", item: { ...call, call_id: "c1", tool_name: "read_file" } });
    const result = { ...item(4, "assistant", "fn hi() {}"), kind: "tool_result" as const };
    fake.emit({ type: "itemAdded", item: { ...result, role: "tool", call_id: "c1" } });
    fake.emit({
      type: "itemAdded",
      item: { ...item(5, "assistant", ""), status: "streaming" },
    });
    // Text for the second answer goes there, even with the first still pending.
    fake.emit({ type: "delta", item_id: 5, text: "It defines hi.", arrived_ms: 0 });
    paint();
    expect(conv.items.map((i) => [i.id, i.kind, i.text])).toEqual([
      [1, "prompt", "what is in a.rs?"],
      [2, "answer", "Let me read it."],
      [3, "tool_call", '{"path":"a.rs"}'],
      [4, "tool_result", "fn hi() {}"],
      [5, "answer", "It defines hi."],
    ]);
    expect(conv.items[2]!.toolName).toBe("read_file");
    expect(conv.items[4]!.live).not.toBeNull();
    fake.emit({ ...done, item_id: 5, turn_done: true });
    expect(conv.streaming).toBe(false);
    expect(conv.items[4]!.live).toBeNull();
  });

  it("sends the chosen mode, keeps questions until answered and shows command output", async () => {
    conv.mode = "full-auto";
    expect(new Conversation().mode).toBe("full-auto"); // kept for the next start
    await conv.send("run the tests");
    expect(fake.modes).toEqual(["full-auto"]);
    fake.emit({
      type: "started",
      user_item: item(1, "user", "run the tests"),
      assistant_item: { ...item(2, "assistant", ""), status: "streaming" },
    });
    const call = { ...item(3, "assistant", '{"command":"npm test"}'), kind: "tool_call" as const };
    fake.emit({ type: "itemAdded", item: { ...call, call_id: "c1", tool_name: "run_command" } });
    const ask = {
      kind: "command" as const,
      command: "npm test",
      cwd: "",
      why: "check",
      prefix: "npm test",
    };
    fake.emit({ type: "question", question: { id: 9, item_id: 3, ask } });
    expect(conv.questions.map((q) => q.id)).toEqual([9]);
    expect(conv.editQuestion(3)).toBeNull();
    await conv.answer(9, { kind: "allowForSession" });
    expect(fake.answers).toEqual([[9, { kind: "allowForSession" }]]);
    // Still shown until the turn says it no longer waits.
    expect(conv.questions).toHaveLength(1);
    fake.emit({ type: "answered", question_id: 9 });
    expect(conv.questions).toHaveLength(0);
    fake.emit({ type: "toolOutput", item_id: 3, text: "PASS a\n" });
    fake.emit({ type: "toolOutput", item_id: 3, text: "PASS b\n" });
    expect(conv.items[2]!.output).toBe("PASS a\nPASS b\n");
    // A flood keeps only its end on screen.
    fake.emit({ type: "toolOutput", item_id: 3, text: "x".repeat(300_000) + "END" });
    expect(conv.items[2]!.output.length).toBe(200_000);
    expect(conv.items[2]!.output.endsWith("END")).toBe(true);
    // A question left when the turn ends goes with it.
    fake.emit({ type: "question", question: { id: 10, item_id: 3, ask } });
    fake.emit({
      type: "finished",
      item_id: 2,
      status: "cancelled",
      error: null,
      metrics: { ttft_ms: null, tokens_per_sec: null, input_tokens: null, output_tokens: null },
      reasoning: null,
      turn_done: true,
    });
    expect(conv.questions).toHaveLength(0);
    conv.mode = "ask";
  });

  it("a turn that ends before its id comes back is not left running", async () => {
    // The fake answers the whole turn while the send is still in flight.
    const original = fake.sendPrompt;
    fake.sendPrompt = async (prompt, _mode, onEvent) => {
      onEvent({
        type: "started",
        user_item: item(1, "user", prompt),
        assistant_item: { ...item(2, "assistant", ""), status: "streaming" },
      });
      onEvent({ type: "error", error: { code: "store", message: "the disk is full" } });
      return 7;
    };
    await conv.send("hi");
    fake.sendPrompt = original;
    expect(conv.streaming).toBe(false);
    expect(conv.items[1]!.status).toBe("interrupted");
    expect(conv.error?.message).toBe("the disk is full");
  });

  it("appends many deltas in one frame", async () => {
    expect(await conv.send("  hi  ")).toBe(true);
    expect(fake.sent).toEqual(["hi"]);
    expect(conv.streaming).toBe(true);
    fake.emit({
      type: "started",
      user_item: item(1, "user", "hi"),
      assistant_item: { ...item(2, "assistant", ""), status: "streaming" },
    });
    for (const t of ["a", "b", "c"])
      fake.emit({ type: "delta", item_id: 2, text: t, arrived_ms: 0 });
    expect(frames.length).toBe(1); // one paint scheduled for three batches
    expect(conv.items[1]!.text).toBe("");
    paint();
    expect(conv.items[1]!.text).toBe("abc");
    expect(conv.items[1]!.live?.ttftMs).not.toBeNull(); // the live readout runs while streaming
    fake.emit({ type: "delta", item_id: 2, text: "d", arrived_ms: 0 });
    fake.emit({
      type: "finished",
      item_id: 2,
      status: "complete",
      error: null,
      metrics: { ttft_ms: 12, tokens_per_sec: 900, input_tokens: 5, output_tokens: 4 },
      reasoning: "thought",
      turn_done: true,
    });
    // Finished flushes what is pending without waiting for the frame.
    expect(conv.items[1]!.text).toBe("abcd");
    expect(conv.items[1]!.status).toBe("complete");
    expect(conv.items[1]!.metrics?.tokens_per_sec).toBe(900);
    expect(conv.items[1]!.reasoning).toBe("thought");
    expect(conv.items[1]!.live).toBeNull();
    expect(conv.streaming).toBe(false);
  });

  it("measures from text reaching Rust to its paint, and the turn's last paint", async () => {
    await conv.send("time it");
    fake.emit({
      type: "started",
      user_item: item(1, "user", "time it"),
      assistant_item: { ...item(2, "assistant", ""), status: "streaming" },
    });
    const arrived = unixNow() - 30; // reached Rust 30 ms ago
    fake.emit({ type: "delta", item_id: 2, text: "a", arrived_ms: arrived });
    fake.emit({ type: "delta", item_id: 2, text: "b", arrived_ms: arrived + 5 });
    paint();
    fake.emit({
      type: "finished",
      item_id: 2,
      status: "complete",
      error: null,
      metrics: { ttft_ms: 1, tokens_per_sec: 1, input_tokens: 1, output_tokens: 2 },
      reasoning: null,
      turn_done: true,
    });
    await new Promise((r) => setTimeout(r, 60));
    // One painted frame, measured from the oldest text in it.
    expect(perf.lags.length).toBe(1);
    expect(perf.lags[0]).toBeGreaterThanOrEqual(30);
    expect(perf.lags[0]).toBeLessThan(5_000);
    expect(perf.turnPaintedAt).not.toBeNull();
    expect(perf.turnPaintedAt!).toBeGreaterThanOrEqual(perf.turnSentAt!);
  });

  it("stops writing a streaming answer into the view once another session is shown", async () => {
    await conv.send("long one");
    fake.emit({
      type: "started",
      user_item: item(1, "user", "long one"),
      assistant_item: { ...item(2, "assistant", ""), status: "streaming" },
    });
    conv.load([item(7, "user", "elsewhere")]);
    expect(conv.streaming).toBe(false);
    fake.emit({ type: "delta", item_id: 2, text: "late", arrived_ms: 0 });
    paint();
    expect(conv.items.map((i) => i.text)).toEqual(["elsewhere"]);
  });

  it("takes closed markdown blocks and leaves the rest as the open tail", async () => {
    await conv.send("q");
    fake.emit({
      type: "started",
      user_item: item(1, "user", "q"),
      assistant_item: { ...item(2, "assistant", ""), status: "streaming" },
    });
    fake.emit({ type: "delta", item_id: 2, text: "Para.\n\nMore", arrived_ms: 0 });
    fake.emit({ type: "blocks", item_id: 2, html: ["<p>Para.</p>"], closed_utf16: 7 });
    expect(conv.items[1]!.blocks).toEqual(["<p>Para.</p>"]);
    expect(conv.items[1]!.text.slice(conv.items[1]!.closed)).toBe("More");
  });

  it("keeps partial text and the reason when a turn fails", async () => {
    await conv.send("q");
    fake.emit({
      type: "started",
      user_item: item(1, "user", "q"),
      assistant_item: item(2, "assistant", ""),
    });
    fake.emit({ type: "delta", item_id: 2, text: "half", arrived_ms: 0 });
    fake.emit({
      type: "finished",
      item_id: 2,
      status: "failed",
      error: { code: "dropped", message: "The connection closed" },
      metrics: { ttft_ms: null, tokens_per_sec: null, input_tokens: null, output_tokens: null },
      reasoning: null,
      turn_done: true,
    });
    expect(conv.items[1]).toMatchObject({
      text: "half",
      status: "failed",
      error: "The connection closed",
    });
  });

  it("refuses empty prompts and a second send while streaming", async () => {
    expect(await conv.send("   ")).toBe(false);
    expect(await conv.send("one")).toBe(true);
    expect(await conv.send("two")).toBe(false);
    expect(fake.sent).toEqual(["one"]);
    await conv.stop();
    expect(fake.stopped).toEqual([1]);
  });

  it("shows a rejected send as an error and keeps the prompt unsent", async () => {
    fake.failSend = { code: "no_project", message: "open a project first" };
    expect(await conv.send("q")).toBe(false);
    expect(conv.error?.message).toBe("open a project first");
    expect(conv.streaming).toBe(false);
  });

  it("loads stored items", () => {
    conv.load([item(1, "user", "a"), item(2, "assistant", "b")]);
    expect(conv.items.map((i) => i.text)).toEqual(["a", "b"]);
  });
});

describe("Conversation escalation and retries", () => {
  it("escalates with no new user item and shows retries until text arrives", async () => {
    const fake = new FakeIpc();
    setIpc(fake);
    const frames: Array<() => void> = [];
    const conv = new Conversation((cb) => frames.push(cb));
    conv.load([item(1, "user", "hard question"), item(2, "assistant", "quick guess")]);
    expect(await conv.escalate()).toBe(true);
    expect(fake.escalations).toBe(1);
    fake.emit({
      type: "started",
      user_item: null,
      assistant_item: { ...item(3, "assistant", ""), status: "streaming" },
    });
    fake.emit({
      type: "retrying",
      item_id: 3,
      attempt: 2,
      after_ms: 500,
      reason: "The provider had a server error.",
    });
    expect(conv.retrying).toContain("attempt 2");
    fake.emit({ type: "delta", item_id: 3, text: "careful", arrived_ms: 0 });
    expect(conv.retrying).toBeNull();
    frames.splice(0).forEach((f) => f());
    expect(conv.items.map((i) => i.text)).toEqual(["hard question", "quick guess", "careful"]);
  });
});
