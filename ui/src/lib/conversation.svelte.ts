// The chat transcript and the turn in flight. Text batches from Rust are appended in a
// requestAnimationFrame loop: however many arrive between two paints, the DOM is
// updated once per frame.
import type { ErrorInfo } from "../bindings/ErrorInfo";
import type { Item } from "../bindings/Item";
import type { ItemStatus } from "../bindings/ItemStatus";
import type { TurnEvent } from "../bindings/TurnEvent";
import type { TurnMetrics } from "../bindings/TurnMetrics";
import { asError, ipc } from "./ipc";

export interface ChatItem {
  id: number;
  role: "user" | "assistant";
  text: string;
  status: ItemStatus;
  error: string | null;
  model: string | null;
  metrics: TurnMetrics | null;
}

export type FrameScheduler = (cb: () => void) => void;

const browserFrame: FrameScheduler = (cb) => {
  requestAnimationFrame(() => cb());
};

function fromItem(i: Item): ChatItem {
  return {
    id: i.id,
    role: i.role,
    text: i.text,
    status: i.status,
    error: i.error,
    model: i.model,
    metrics: null,
  };
}

export class Conversation {
  items = $state<ChatItem[]>([]);
  turnId = $state<number | null>(null);
  sending = $state(false);
  error = $state<ErrorInfo | null>(null);

  #pending = "";
  #frameQueued = false;
  #schedule: FrameScheduler;

  constructor(schedule: FrameScheduler = browserFrame) {
    this.#schedule = schedule;
  }

  get streaming(): boolean {
    return this.sending || this.turnId !== null;
  }

  load(items: Item[]): void {
    this.items = items.map(fromItem);
    this.#pending = "";
    this.error = null;
  }

  async send(prompt: string): Promise<boolean> {
    const text = prompt.trim();
    if (!text || this.streaming) return false;
    this.sending = true;
    this.error = null;
    try {
      this.turnId = await ipc().sendPrompt(text, (e) => this.#onEvent(e));
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
        this.items.push(fromItem(e.user_item), fromItem(e.assistant_item));
        break;
      case "delta":
        this.#pending += e.text;
        if (!this.#frameQueued) {
          this.#frameQueued = true;
          this.#schedule(() => this.#flush());
        }
        break;
      case "finished": {
        this.#flush();
        const item = this.items.find((i) => i.id === e.item_id);
        if (item) {
          item.status = e.status;
          item.error = e.error?.message ?? null;
          item.metrics = e.metrics;
        }
        this.turnId = null;
        break;
      }
      case "error":
        this.#flush();
        this.error = e.error;
        this.turnId = null;
        break;
    }
  }

  #flush(): void {
    this.#frameQueued = false;
    if (!this.#pending) return;
    const last = this.items[this.items.length - 1];
    if (last && last.role === "assistant") last.text += this.#pending;
    this.#pending = "";
  }
}
