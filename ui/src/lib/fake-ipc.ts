// A scriptable stand-in for the Rust side, for UI tests.
import type { Entry } from "../bindings/Entry";
import type { ErrorInfo } from "../bindings/ErrorInfo";
import type { Snapshot } from "../bindings/Snapshot";
import type { TurnEvent } from "../bindings/TurnEvent";
import type { Ipc } from "./ipc";

export class FakeIpc implements Ipc {
  snapshotValue: Snapshot = {
    workspace: null,
    model: { model: "fake-model", base_url: "http://127.0.0.1:1/v1", has_key: false },
    notice: null,
  };
  dirs: Record<string, Entry[]> = {};
  sent: string[] = [];
  stopped: number[] = [];
  emit: (e: TurnEvent) => void = () => {};
  failSend: ErrorInfo | null = null;
  workspaceListeners: Array<(s: Snapshot) => void> = [];
  noticeListeners: Array<(e: ErrorInfo) => void> = [];

  snapshot = async () => this.snapshotValue;
  openProject = async () => this.snapshotValue;
  pickProject = async () => null;
  newSession = async () => this.snapshotValue;
  listDir = async (path: string) => {
    const entries = this.dirs[path];
    if (!entries) throw { code: "not_found", message: `${path} does not exist` };
    return entries;
  };
  sendPrompt = async (prompt: string, onEvent: (e: TurnEvent) => void) => {
    if (this.failSend) throw this.failSend;
    this.sent.push(prompt);
    this.emit = onEvent;
    return this.sent.length;
  };
  stopTurn = async (turnId: number) => {
    this.stopped.push(turnId);
    return true;
  };
  onWorkspace = async (cb: (s: Snapshot) => void) => {
    this.workspaceListeners.push(cb);
    return () => {};
  };
  onNotice = async (cb: (e: ErrorInfo) => void) => {
    this.noticeListeners.push(cb);
    return () => {};
  };
}
