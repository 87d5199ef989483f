// The chat transcript and the turn in flight. Text batches from Rust are appended in a
// requestAnimationFrame loop: however many arrive between two paints, the DOM is
// updated once per frame.
import type { AgentMode } from "../bindings/AgentMode";
import type { AgentModel } from "../bindings/AgentModel";
import type { ContextReport } from "../bindings/ContextReport";
import type { Answer } from "../bindings/Answer";
import type { ErrorInfo } from "../bindings/ErrorInfo";
import type { Question } from "../bindings/Question";
import type { Item } from "../bindings/Item";
import type { ItemKind } from "../bindings/ItemKind";
import type { ItemRole } from "../bindings/ItemRole";
import type { ItemStatus } from "../bindings/ItemStatus";
import type { TurnEvent } from "../bindings/TurnEvent";
import type { Metrics } from "../bindings/Metrics";
import type { Review } from "../bindings/Review";
import { asError, ipc } from "./ipc";
import { textArrived, textShown, turnEnded, turnSent } from "./perf";

/** What Continue sends after an answer the provider cut off. */
export const CONTINUE_PROMPT =
  "Your previous answer was cut off at the length limit. Continue from where it stopped. If it stopped inside a code block or an edit, write that whole block or edit again, complete, rather than its remainder.";

/** What Go on sends after a turn stopped at its step limit. */
export const GO_ON_PROMPT =
  "You stopped at the step limit; the calls you made last were not run. Go on from where you stopped.";

export interface ChatItem {
  id: number;
  kind: ItemKind;
  role: ItemRole;
  text: string;
  /** For a tool call: the tool it calls. */
  toolName: string | null;
  status: ItemStatus;
  error: string | null;
  model: string | null;
  metrics: Metrics | null;
  reasoning: string | null;
  /** Closed markdown blocks as safe HTML from Rust (null until rendered). */
  blocks: string[] | null;
  /** How much of `text` (UTF-16 units) the blocks cover; the rest is the open tail. */
  closed: number;
  /** While streaming: time to first text and an estimate of tokens/s (4 chars a token). */
  live: { ttftMs: number | null; tokensPerSec: number | null } | null;
  /** A command call's output as it ran (this window only; the result item keeps what
   * the model was sent). */
  output: string;
}

/** At most this much of a command's live output is kept on screen (its end). */
const MAX_SHOWN_OUTPUT = 200_000;

const MODES: AgentMode[] = ["ask", "auto-edit", "full-auto"];

function storedMode(): AgentMode {
  const m = globalThis.localStorage?.getItem("flint.mode");
  return MODES.includes(m as AgentMode) ? (m as AgentMode) : "ask";
}

export type FrameScheduler = (cb: () => void) => void;

const browserFrame: FrameScheduler = (cb) => {
  requestAnimationFrame(() => cb());
};

function fromItem(i: Item): ChatItem {
  return {
    id: i.id,
    kind: i.kind,
    role: i.role,
    text: i.text,
    toolName: i.tool_name,
    status: i.status,
    error: i.error,
    model: i.model,
    metrics: i.metrics,
    reasoning: i.reasoning,
    blocks: null,
    closed: 0,
    live: null,
    output: "",
  };
}

export class Conversation {
  items = $state<ChatItem[]>([]);
  turnId = $state<number | null>(null);
  sending = $state(false);
  error = $state<ErrorInfo | null>(null);
  /** Shown while a failed request is being sent again (before the first token). */
  retrying = $state<string | null>(null);
  /** A message to bring into view once shown (opening a session at a search hit). */
  focus = $state<number | null>(null);
  /** The edit proposals of the answer that has any, newest: what the review pane shows. */
  review = $state<Review | null>(null);
  /** What the running turn waits for the user to decide, oldest first. */
  questions = $state<Question[]>([]);
  /** The last turn stopped at its step limit (its last calls not run): how many. */
  stepLimit = $state<number | null>(null);
  /** How full an agent's context is, as it last said (an agent's session has no preview). */
  usage = $state<ContextReport | null>(null);
  /** The models the session's agent offers, and the one in use. */
  agentModels = $state<AgentModel[]>([]);
  agentModel = $state<string | null>(null);
  /** The agent asked to be signed in to (its last turn failed for that). */
  signInNeeded = $state(false);
  /** What the model may do without asking (the composer's switch), kept across starts. */
  #mode = $state<AgentMode>(storedMode());

  #pending = "";
  /** The turn started last has ended (its last Finished, or an Error). */
  #ended = false;
  /** The answer the pending text belongs to. */
  #pendingItem: number | null = null;
  /** When the oldest pending text reached Rust (Unix ms). */
  #pendingArrived = 0;
  #sentAt = 0;
  #firstAt: number | null = null;
  #frameQueued = false;
  #epoch = 0;
  #schedule: FrameScheduler;

  constructor(schedule: FrameScheduler = browserFrame) {
    this.#schedule = schedule;
  }

  get streaming(): boolean {
    return this.sending || this.turnId !== null;
  }

  get mode(): AgentMode {
    return this.#mode;
  }

  set mode(m: AgentMode) {
    this.#mode = m;
    globalThis.localStorage?.setItem("flint.mode", m);
  }

  /** After the step limit: another turn, as many steps again, from where it stopped. */
  async goOn(): Promise<boolean> {
    return this.send(GO_ON_PROMPT);
  }

  /** Answers a question; it leaves `questions` when the turn says it is answered. */
  async answer(questionId: number, answer: Answer): Promise<void> {
    try {
      await ipc().answerQuestion(questionId, answer);
    } catch (e) {
      this.error = asError(e);
    }
  }

  /** Shows the review of `itemId` (what an agent changed, as it is now). */
  async showReview(itemId: number): Promise<void> {
    try {
      this.review = await ipc().review(itemId);
    } catch (e) {
      this.error = asError(e);
    }
  }

  /** The edit question waiting on the review of `itemId`, if any. */
  editQuestion(itemId: number): Question | null {
    return this.questions.find((q) => q.item_id === itemId && q.ask.kind === "edit") ?? null;
  }

  load(items: Item[]): void {
    // Another session or project: a turn still streaming goes on (and is saved) but
    // no longer writes into what is shown.
    this.#epoch += 1;
    this.turnId = null;
    this.items = items.map(fromItem);
    this.#pending = "";
    this.error = null;
    this.review = null;
    this.usage = null;
    this.agentModels = [];
    this.agentModel = null;
    this.signInNeeded = false;
    this.questions = [];
    this.stepLimit = null;
    const last = [...items].reverse().find((i) => i.kind === "answer");
    if (last) {
      ipc()
        .review(last.id)
        .then((r) => {
          if (r.files.length > 0 || r.failures.length > 0) this.review = r;
        })
        .catch(() => {});
    }
  }

  async send(prompt: string): Promise<boolean> {
    const text = prompt.trim();
    if (!text) return false;
    return this.#start((onEvent) => ipc().sendPrompt(text, this.mode, onEvent));
  }

  /** Asks from the quick-prompt window: a new session in the active project. */
  async sendQuick(prompt: string): Promise<boolean> {
    const text = prompt.trim();
    if (!text) return false;
    this.items = [];
    this.review = null;
    return this.#start((onEvent) => ipc().quickSend(text, onEvent));
  }

  /** Has the deep model answer the latest prompt again. */
  async escalate(): Promise<boolean> {
    return this.#start((onEvent) => ipc().escalate(this.mode, onEvent));
  }

  /** After an answer the provider cut off at its length limit: asks the model to go on
   * from where it stopped (the cut-off answer is in the history it is sent). */
  async continueAnswer(): Promise<boolean> {
    return this.send(CONTINUE_PROMPT);
  }

  /** Answers the latest prompt again (after a failure, Stop, or a crash). */
  async retry(): Promise<boolean> {
    return this.#start((onEvent) => ipc().retry(this.mode, onEvent));
  }

  async #start(begin: (onEvent: (e: TurnEvent) => void) => Promise<number>): Promise<boolean> {
    if (this.streaming) return false;
    this.sending = true;
    this.error = null;
    this.stepLimit = null;
    this.retrying = null;
    turnSent();
    const epoch = this.#epoch;
    try {
      this.#ended = false;
      const id = await begin((e) => {
        if (epoch === this.#epoch) this.#onEvent(e);
      });
      // A turn can end before its id comes back (a fast failure): then it is not running.
      if (epoch === this.#epoch && !this.#ended) this.turnId = id;
      return true;
    } catch (e) {
      this.error = asError(e);
      return false;
    } finally {
      this.sending = false;
    }
  }

  async stop(): Promise<void> {
    if (this.turnId !== null) await ipc().stopTurn(this.turnId);
  }

  #onEvent(e: TurnEvent): void {
    switch (e.type) {
      case "started":
        if (e.user_item) this.items.push(fromItem(e.user_item));
        this.items.push({
          ...fromItem(e.assistant_item),
          live: { ttftMs: null, tokensPerSec: null },
        });
        this.#sentAt = performance.now();
        this.#firstAt = null;
        break;
      case "blocks": {
        this.#flush();
        const item = this.items.find((i) => i.id === e.item_id);
        if (item) {
          item.blocks = [...(item.blocks ?? []), ...e.html];
          item.closed = e.closed_utf16;
        }
        break;
      }
      case "itemAdded": {
        // A tool call, its result, or the answer of the next request, in turn order.
        this.#flush();
        // An item sent again (an agent's call as it changes, its plan) replaces itself.
        const at = this.items.findIndex((i) => i.id === e.item.id);
        if (at >= 0) {
          const was = this.items[at]!;
          this.items[at] = { ...fromItem(e.item), live: was.live, output: was.output };
          break;
        }
        const live = e.item.kind === "answer" ? { ttftMs: null, tokensPerSec: null } : null;
        this.items.push({ ...fromItem(e.item), live });
        if (live) {
          this.#sentAt = performance.now();
          this.#firstAt = null;
        }
        break;
      }
      case "review":
        this.review = e.review;
        break;
      case "context":
        this.usage = e.report;
        break;
      case "agentSession":
        this.agentModels = e.models;
        this.agentModel = e.current_model;
        break;
      case "question":
        this.questions.push(e.question);
        break;
      case "stepLimit":
        this.stepLimit = e.steps;
        break;
      case "answered":
        this.questions = this.questions.filter((q) => q.id !== e.question_id);
        break;
      case "toolOutput": {
        const item = this.items.find((i) => i.id === e.item_id);
        if (item) {
          const out = item.output + e.text;
          item.output = out.length > MAX_SHOWN_OUTPUT ? out.slice(-MAX_SHOWN_OUTPUT) : out;
        }
        break;
      }
      case "retrying":
        this.retrying = `${e.reason} Trying again (attempt ${e.attempt})…`;
        break;
      case "delta":
        this.retrying = null;
        if (this.#pendingItem !== e.item_id) this.#flush();
        this.#pendingItem = e.item_id;
        this.#firstAt ??= performance.now();
        textArrived(e.arrived_ms);
        if (!this.#pending) this.#pendingArrived = e.arrived_ms;
        this.#pending += e.text;
        if (!this.#frameQueued) {
          this.#frameQueued = true;
          this.#schedule(() => this.#flush(true));
        }
        break;
      case "finished": {
        this.#flush();
        this.retrying = null;
        const item = this.items.find((i) => i.id === e.item_id);
        this.signInNeeded = e.error?.code === "agent_sign_in";
        if (item) {
          item.live = null;
          item.status = e.status;
          item.error = e.error?.message ?? null;
          item.metrics = e.metrics;
          item.reasoning = e.reasoning;
        }
        if (e.turn_done) {
          this.#ended = true;
          this.turnId = null;
          this.questions = [];
          turnEnded();
        }
        break;
      }
      case "error":
        this.#flush();
        this.error = e.error;
        // An answer that was streaming stops there (the store has it interrupted).
        for (const item of this.items) {
          if (item.status === "streaming") {
            item.status = "interrupted";
            item.live = null;
          }
        }
        this.#ended = true;
        this.turnId = null;
        this.questions = [];
        turnEnded();
        break;
    }
  }

  /** Puts the pending text in the DOM; `inFrame` when called from a frame callback. */
  #flush(inFrame = false): void {
    this.#frameQueued = false;
    if (!this.#pending) return;
    textShown(this.#pendingArrived, inFrame);
    const item = this.items.find((i) => i.id === this.#pendingItem);
    if (item) {
      item.text += this.#pending;
      if (item.live && this.#firstAt !== null) {
        const secs = (performance.now() - this.#firstAt) / 1000;
        item.live = {
          ttftMs: this.#firstAt - this.#sentAt,
          tokensPerSec: secs > 0.05 ? item.text.length / 4 / secs : null,
        };
      }
    }
    this.#pending = "";
  }
}
