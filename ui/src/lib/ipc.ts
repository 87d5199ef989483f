// The one module that talks to the Rust side (CONVENTIONS.md 14). Components call
// `ipc()`; tests install a fake with `setIpc` and never load Tauri.
import { Channel, invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import { getCurrentWindow } from "@tauri-apps/api/window";
import type { AgentEntry } from "../bindings/AgentEntry";
import type { AgentMode } from "../bindings/AgentMode";
import type { AgentSignIn } from "../bindings/AgentSignIn";
import type { AgentSettings } from "../bindings/AgentSettings";
import type { Answer } from "../bindings/Answer";
import type { ApplyOutcome } from "../bindings/ApplyOutcome";
import type { Checkpoint } from "../bindings/Checkpoint";
import type { ConnectionTest } from "../bindings/ConnectionTest";
import type { ContextReport } from "../bindings/ContextReport";
import type { FileMatch } from "../bindings/FileMatch";
import type { GitChange } from "../bindings/GitChange";
import type { GitStatus } from "../bindings/GitStatus";
import type { FileDecision } from "../bindings/FileDecision";
import type { Review } from "../bindings/Review";
import type { SearchFilter } from "../bindings/SearchFilter";
import type { SearchHit } from "../bindings/SearchHit";
import type { SessionSummary } from "../bindings/SessionSummary";
import type { Detected } from "../bindings/Detected";
import type { Dropped } from "../bindings/Dropped";
import type { Entry } from "../bindings/Entry";
import type { SettingsView } from "../bindings/SettingsView";
import type { Slot } from "../bindings/Slot";
import type { ErrorCode } from "../bindings/ErrorCode";
import type { ErrorInfo } from "../bindings/ErrorInfo";
import type { Snapshot } from "../bindings/Snapshot";
import type { QuickInfo } from "../bindings/QuickInfo";
import type { ProjectList } from "../bindings/ProjectList";
import type { TurnEvent } from "../bindings/TurnEvent";

export type Unlisten = () => void;

export interface Ipc {
  snapshot(): Promise<Snapshot>;
  openProject(path: string): Promise<Snapshot>;
  /** Opens dropped paths as a project; null for a repeated delivery of one drop. */
  openDropped(paths: string[]): Promise<Snapshot | null>;
  /** Something was dropped on the window. */
  onDrop(cb: (d: Dropped) => void): Promise<Unlisten>;
  /** Shows the folder picker; null when the user cancels. */
  pickProject(): Promise<Snapshot | null>;
  listDir(path: string): Promise<Entry[]>;
  newSession(): Promise<Snapshot>;
  /** Starts a turn in `mode`; events arrive on `onEvent`. Resolves to the turn id. */
  sendPrompt(prompt: string, mode: AgentMode, onEvent: (e: TurnEvent) => void): Promise<number>;
  /** Answers a question a running turn waits on; false if none waits with that id. */
  answerQuestion(questionId: number, answer: Answer): Promise<boolean>;
  /** Undoes everything the session's latest turn changed, newest first. */
  undoTurn(): Promise<Checkpoint[]>;
  /** Always-allowed command prefixes of the project, and why there is no sandbox. */
  agentSettings(): Promise<AgentSettings>;
  forgetCommand(prefix: string): Promise<AgentSettings>;
  /** The agents Flint knows (Codex, Claude Code, Gemini CLI) and where each is. */
  listAgents(): Promise<AgentEntry[]>;
  /** Installs a known agent with npm; each line npm prints goes to `onProgress`. */
  installAgent(id: string, onProgress: (line: string) => void): Promise<string>;
  /** The current session talks to an agent (an id or a command line), or its model (null). */
  setSessionAgent(agent: string | null): Promise<Snapshot>;
  /** The session's agent uses this model (one it offered) from its next turn on. */
  setAgentModel(model: string): Promise<void>;
  /** How the session's agent can be signed in to. */
  agentSignInMethods(): Promise<AgentSignIn[]>;
  /** Signs in with `method`; `values` are its variables (a key), not kept by Flint. */
  agentSignIn(method: string, values: Record<string, string>): Promise<void>;
  /** The quick-prompt window: a new session in the active project, on its fast model. */
  quickInfo(): Promise<QuickInfo>;
  quickSend(prompt: string, onEvent: (e: TurnEvent) => void): Promise<number>;
  /** Opens the quick prompt's session in the main window and hides the quick prompt. */
  quickContinue(): Promise<void>;
  quickHide(): Promise<void>;
  /** The main window: a quick-prompt answer proposed edits. */
  onQuickReview(cb: (r: Review) => void): Promise<Unlisten>;
  /** Re-answers the latest prompt with the deep model. Resolves to the turn id. */
  escalate(mode: AgentMode, onEvent: (e: TurnEvent) => void): Promise<number>;
  /** Answers the latest prompt again on the session's model. */
  retry(mode: AgentMode, onEvent: (e: TurnEvent) => void): Promise<number>;
  stopTurn(turnId: number): Promise<boolean>;
  /** Opens an http(s) link in the system browser. */
  openUrl(url: string): Promise<void>;
  /** A stored answer's markdown as safe HTML blocks (made in Rust). */
  renderMarkdown(text: string): Promise<string[]>;
  /** The first frame is painted (logged by Rust with the time since start). */
  uiReady(): Promise<void>;
  /** Open projects (the shown one first) and recent ones, for the switcher. */
  projects(): Promise<ProjectList>;
  /** Project files matching `query` fuzzily, best first. */
  searchFiles(query: string): Promise<FileMatch[]>;
  /** What the next turn would send for `prompt`. */
  previewContext(prompt: string): Promise<ContextReport>;
  gitStatus(): Promise<GitStatus | null>;
  gitDiff(path: string, staged: boolean): Promise<string>;
  gitStage(paths: string[]): Promise<GitStatus | null>;
  gitUnstage(paths: string[]): Promise<GitStatus | null>;
  gitCommit(message: string): Promise<GitStatus | null>;
  gitSuggestMessage(): Promise<string>;
  /** Saved paths' new git status (repository-relative path, change or null if clean). */
  onGitChanges(cb: (changes: Array<[string, GitChange | null]>) => void): Promise<Unlisten>;
  /** The repository changed (commit, checkout, stage), by Flint or anyone. */
  onGitRefresh(cb: () => void): Promise<Unlisten>;
  listSessions(all: boolean): Promise<SessionSummary[]>;
  searchSessions(query: string, filter: SearchFilter): Promise<SearchHit[]>;
  openSession(id: number): Promise<Snapshot>;
  renameSession(id: number, title: string): Promise<Snapshot>;
  forkSession(itemId: number): Promise<Snapshot>;
  deleteSession(id: number): Promise<Snapshot>;
  /** Saves a session where the user picks; the path, or null if cancelled. */
  exportSession(id: number, json: boolean): Promise<string | null>;
  review(itemId: number): Promise<Review>;
  applyReview(itemId: number, decisions: FileDecision[]): Promise<ApplyOutcome>;
  undo(): Promise<Checkpoint>;
  redo(): Promise<Checkpoint>;
  getSettings(): Promise<SettingsView>;
  /** Registers the quick prompt's global shortcut ("" turns it off) and saves it. */
  setQuickShortcut(accelerator: string): Promise<SettingsView>;
  saveSettings(
    fast: Slot | null,
    deep: Slot | null,
    baseUrls: Record<string, string>,
  ): Promise<Snapshot>;
  /** Stores a key in the keychain, or with `plaintext` in the settings file. */
  saveKey(provider: string, key: string, plaintext: boolean): Promise<SettingsView>;
  forgetKey(provider: string): Promise<SettingsView>;
  listModels(provider: string, baseUrl: string | null): Promise<string[]>;
  testConnection(slot: Slot, baseUrl: string | null): Promise<ConnectionTest>;
  detectProviders(): Promise<Detected[]>;
  useProvider(provider: string, model: string): Promise<Snapshot>;
  /** A project opened by other means (a folder dropped on the window). */
  onWorkspace(cb: (s: Snapshot) => void): Promise<Unlisten>;
  onNotice(cb: (e: ErrorInfo) => void): Promise<Unlisten>;
  /** The watcher saw changes; the list is the files the user changed since the last turn. */
  onFilesChanged(cb: (userChanged: string[]) => void): Promise<Unlisten>;
}

export const tauriIpc: Ipc = {
  snapshot: () => invoke<Snapshot>("snapshot"),
  openProject: (path) => invoke<Snapshot>("open_project", { path }),
  openDropped: (paths) => invoke<Snapshot | null>("open_dropped", { paths }),
  onDrop: (cb) => listen<Dropped>("drop", (e) => cb(e.payload)),
  pickProject: () => invoke<Snapshot | null>("pick_project"),
  listDir: (path) => invoke<Entry[]>("list_dir", { path }),
  newSession: () => invoke<Snapshot>("new_session"),
  quickInfo: () => invoke<QuickInfo>("quick_info"),
  quickSend: (prompt, onEvent) => {
    const channel = new Channel<TurnEvent>();
    channel.onmessage = onEvent;
    return invoke<number>("quick_send", { prompt, onEvent: channel });
  },
  quickContinue: () => invoke<void>("quick_continue"),
  quickHide: () => invoke<void>("quick_hide"),
  onQuickReview: (cb) => listen<Review>("quick-review", (e) => cb(e.payload)),
  sendPrompt: (prompt, mode, onEvent) => {
    const channel = new Channel<TurnEvent>();
    channel.onmessage = onEvent;
    return invoke<number>("send_prompt", { prompt, mode, onEvent: channel });
  },
  answerQuestion: (questionId, answer) =>
    invoke<boolean>("answer_question", { questionId, answer }),
  undoTurn: () => invoke<Checkpoint[]>("undo_turn"),
  agentSettings: () => invoke<AgentSettings>("agent_settings"),
  forgetCommand: (prefix) => invoke<AgentSettings>("forget_command", { prefix }),
  listAgents: () => invoke<AgentEntry[]>("list_agents"),
  installAgent: (id, onProgress) => {
    const channel = new Channel<string>();
    channel.onmessage = onProgress;
    return invoke<string>("install_agent", { id, onProgress: channel });
  },
  setSessionAgent: (agent) => invoke<Snapshot>("set_session_agent", { agent }),
  setAgentModel: (model) => invoke<void>("set_agent_model", { model }),
  agentSignInMethods: () => invoke<AgentSignIn[]>("agent_sign_in_methods"),
  agentSignIn: (method, values) => invoke<void>("agent_sign_in", { method, values }),
  escalate: (mode, onEvent) => {
    const channel = new Channel<TurnEvent>();
    channel.onmessage = onEvent;
    return invoke<number>("escalate", { mode, onEvent: channel });
  },
  retry: (mode, onEvent) => {
    const channel = new Channel<TurnEvent>();
    channel.onmessage = onEvent;
    return invoke<number>("retry", { mode, onEvent: channel });
  },
  stopTurn: (turnId) => invoke<boolean>("stop_turn", { turnId }),
  openUrl: (url) => invoke<void>("open_url", { url }),
  renderMarkdown: (text) => invoke<string[]>("render_markdown", { text }),
  uiReady: () => invoke<void>("ui_ready"),
  projects: () => invoke<ProjectList>("projects"),
  searchFiles: (query) => invoke<FileMatch[]>("search_files", { query }),
  previewContext: (prompt) => invoke<ContextReport>("preview_context", { prompt }),
  gitStatus: () => invoke<GitStatus | null>("git_status"),
  gitDiff: (path, staged) => invoke<string>("git_diff", { path, staged }),
  gitStage: (paths) => invoke<GitStatus | null>("git_stage", { paths }),
  gitUnstage: (paths) => invoke<GitStatus | null>("git_unstage", { paths }),
  gitCommit: (message) => invoke<GitStatus | null>("git_commit", { message }),
  gitSuggestMessage: () => invoke<string>("git_suggest_message"),
  onGitChanges: (cb) =>
    listen<Array<[string, GitChange | null]>>("git-changes", (e) => cb(e.payload)),
  onGitRefresh: (cb) => listen("git-refresh", () => cb()),
  listSessions: (all) => invoke<SessionSummary[]>("list_sessions", { all }),
  searchSessions: (query, filter) => invoke<SearchHit[]>("search_sessions", { query, filter }),
  openSession: (id) => invoke<Snapshot>("open_session", { id }),
  renameSession: (id, title) => invoke<Snapshot>("rename_session", { id, title }),
  forkSession: (itemId) => invoke<Snapshot>("fork_session", { itemId }),
  deleteSession: (id) => invoke<Snapshot>("delete_session", { id }),
  exportSession: (id, json) => invoke<string | null>("export_session", { id, json }),
  review: (itemId) => invoke<Review>("review", { itemId }),
  applyReview: (itemId, decisions) => invoke<ApplyOutcome>("apply_review", { itemId, decisions }),
  undo: () => invoke<Checkpoint>("undo"),
  redo: () => invoke<Checkpoint>("redo"),
  getSettings: () => invoke<SettingsView>("get_settings"),
  setQuickShortcut: (accelerator) => invoke<SettingsView>("set_quick_shortcut", { accelerator }),
  saveSettings: (fast, deep, baseUrls) =>
    invoke<Snapshot>("save_settings", { fast, deep, baseUrls }),
  saveKey: (provider, key, plaintext) =>
    invoke<SettingsView>("save_key", { provider, key, plaintext }),
  forgetKey: (provider) => invoke<SettingsView>("forget_key", { provider }),
  listModels: (provider, baseUrl) => invoke<string[]>("list_models", { provider, baseUrl }),
  testConnection: (slot, baseUrl) => invoke<ConnectionTest>("test_connection", { slot, baseUrl }),
  detectProviders: () => invoke<Detected[]>("detect_providers"),
  useProvider: (provider, model) => invoke<Snapshot>("use_provider", { provider, model }),
  onWorkspace: (cb) => listen<Snapshot>("workspace", (e) => cb(e.payload)),
  onNotice: (cb) => listen<ErrorInfo>("notice", (e) => cb(e.payload)),
  onFilesChanged: (cb) => listen<string[]>("files-changed", (e) => cb(e.payload)),
};

/** The label of the window this page is in ("main" or "quick"); no IPC involved. */
export function windowLabel(): string {
  try {
    return getCurrentWindow().label;
  } catch {
    return "main"; // outside Tauri (tests, a plain browser)
  }
}

let current: Ipc = tauriIpc;

export function ipc(): Ipc {
  return current;
}

export function setIpc(next: Ipc): void {
  current = next;
}

/** Rust commands reject with `{code, message}`; anything else becomes one (its code
 * `other`: not one Flint knows). */
export function asError(e: unknown): ErrorInfo {
  if (e && typeof e === "object" && "message" in e) {
    const o = e as { code?: unknown; message: unknown };
    const code = typeof o.code === "string" ? (o.code as ErrorCode) : "other";
    return { code, message: String(o.message) };
  }
  return { code: "other", message: String(e) };
}

/** Errors the user fixes in Settings (a key, a model): offered with a way there. */
export function fixedInSettings(code: ErrorCode): boolean {
  switch (code) {
    case "missing_key":
    case "bad_key":
    case "insecure_key":
    case "no_model":
    case "unknown_model":
    case "no_route":
      return true;
    default:
      return false;
  }
}
