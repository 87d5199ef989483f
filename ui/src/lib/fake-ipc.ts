// A scriptable stand-in for the Rust side, for UI tests.
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
import type { ErrorInfo } from "../bindings/ErrorInfo";
import type { Item } from "../bindings/Item";
import type { Snapshot } from "../bindings/Snapshot";
import type { QuickInfo } from "../bindings/QuickInfo";
import type { ProjectList } from "../bindings/ProjectList";
import type { TurnEvent } from "../bindings/TurnEvent";
import type { Ipc } from "./ipc";

export class FakeIpc implements Ipc {
  snapshotValue: Snapshot = {
    workspace: null,
    fast: {
      provider: "openai-chat",
      model: "fake-model",
      base_url: "http://127.0.0.1:1/v1",
      key_source: "none",
      needs_key: false,
      context_window: null,
    },
    deep: null,
    notice: null,
  };
  settings: SettingsView = {
    presets: [
      {
        id: "cerebras",
        name: "Cerebras",
        base_url: "https://api.cerebras.ai/v1",
        key_env: "CEREBRAS_API_KEY",
        needs_key: true,
        local: false,
        default_model: "gpt-oss-120b",
        models: ["gpt-oss-120b"],
      },
    ],
    fast: null,
    deep: null,
    base_urls: {},
    keys: { cerebras: "none" },
    keychain_problem: null,
    settings_file: "/tmp/settings.toml",
    quick_shortcut: "CommandOrControl+Shift+Space",
  };
  detected: Detected[] = [];
  saved: Array<{ fast: Slot | null; deep: Slot | null; baseUrls: Record<string, string> }> = [];
  keysSaved: Array<[string, string, boolean]> = [];
  tests: Array<[Slot, string | null]> = [];
  escalations = 0;
  dirs: Record<string, Entry[]> = {};
  sent: string[] = [];
  stopped: number[] = [];
  emit: (e: TurnEvent) => void = () => {};
  failSend: ErrorInfo | null = null;
  workspaceListeners: Array<(s: Snapshot) => void> = [];
  noticeListeners: Array<(e: ErrorInfo) => void> = [];

  snapshot = async () => this.snapshotValue;
  openProject = async (path: string) => {
    this.openedProjects.push(path);
    return this.snapshotValue;
  };
  droppedOpened: string[][] = [];
  openDropped = async (paths: string[]) => {
    this.droppedOpened.push(paths);
    return this.snapshotValue;
  };
  dropListeners: Array<(d: Dropped) => void> = [];
  onDrop = async (cb: (d: Dropped) => void) => {
    this.dropListeners.push(cb);
    return () => {};
  };
  pickProject = async () => null;
  newSession = async () => this.snapshotValue;
  listDir = async (path: string) => {
    const entries = this.dirs[path];
    if (!entries) throw { code: "not_found", message: `${path} does not exist` };
    return entries;
  };
  quickInfoValue: QuickInfo = {
    project: "project",
    model: "fixture-model",
    shortcut: "CommandOrControl+Shift+Space",
  };
  quickInfo = async () => this.quickInfoValue;
  setQuickShortcut = async (accelerator: string) => {
    if (accelerator === "Ctrl+Shift+Taken")
      throw {
        code: "shortcut_taken",
        message: `${accelerator} is taken by another program; choose another.`,
      };
    this.settings = { ...this.settings, quick_shortcut: accelerator };
    return this.settings;
  };
  quickSent: string[] = [];
  quickSend = async (prompt: string, onEvent: (e: TurnEvent) => void) => {
    this.quickSent.push(prompt);
    this.emit = onEvent;
    return 300 + this.quickSent.length;
  };
  continued = 0;
  quickContinue = async () => {
    this.continued += 1;
  };
  hidden = 0;
  quickHide = async () => {
    this.hidden += 1;
  };
  quickReview: (r: Review) => void = () => {};
  onQuickReview = async (cb: (r: Review) => void) => {
    this.quickReview = cb;
    return () => {};
  };
  modes: AgentMode[] = [];
  sendPrompt = async (prompt: string, mode: AgentMode, onEvent: (e: TurnEvent) => void) => {
    if (this.failSend) throw this.failSend;
    this.sent.push(prompt);
    this.modes.push(mode);
    this.emit = onEvent;
    return this.sent.length;
  };
  answers: Array<[number, Answer]> = [];
  answerQuestion = async (questionId: number, answer: Answer) => {
    this.answers.push([questionId, answer]);
    return true;
  };
  turnsUndone = 0;
  undoTurn = async (): Promise<Checkpoint[]> => {
    this.turnsUndone += 1;
    return [];
  };
  agent: AgentSettings = { allowed: ["cargo test"], sandbox: null };
  agentSettings = async () => this.agent;
  forgetCommand = async (prefix: string) => {
    this.agent = { ...this.agent, allowed: this.agent.allowed.filter((p) => p !== prefix) };
    return this.agent;
  };
  agents: AgentEntry[] = [
    {
      id: "codex",
      label: "Codex",
      package: "@zed-industries/codex-acp",
      version: "0.16.0",
      path: "/usr/bin/codex-acp",
      installed_version: null,
    },
    {
      id: "claude",
      label: "Claude Code",
      package: "@zed-industries/claude-agent-acp",
      version: "0.23.1",
      path: null,
      installed_version: null,
    },
  ];
  listAgents = async () => this.agents;
  installed: string[] = [];
  installAgent = async (id: string, onProgress: (line: string) => void) => {
    onProgress(`npm install ${id}`);
    this.installed.push(id);
    this.agents = this.agents.map((a) => (a.id === id ? { ...a, path: `/agents/${id}` } : a));
    return `/agents/${id}`;
  };
  sessionAgents: Array<string | null> = [];
  setSessionAgent = async (agent: string | null) => {
    this.sessionAgents.push(agent);
    const ws = this.snapshotValue.workspace;
    if (ws?.session) ws.session = { ...ws.session, agent };
    return this.snapshotValue;
  };
  agentModels: string[] = [];
  setAgentModel = async (model: string) => {
    this.agentModels.push(model);
  };
  signInMethods: AgentSignIn[] = [
    { id: "chatgpt", name: "Login with ChatGPT", description: null, vars: [] },
    { id: "codex-api-key", name: "Use CODEX_API_KEY", description: null, vars: ["CODEX_API_KEY"] },
  ];
  agentSignInMethods = async () => this.signInMethods;
  signIns: Array<[string, Record<string, string>]> = [];
  agentSignIn = async (method: string, values: Record<string, string>) => {
    this.signIns.push([method, values]);
  };
  escalate = async (_mode: AgentMode, onEvent: (e: TurnEvent) => void) => {
    this.escalations += 1;
    this.emit = onEvent;
    return 100 + this.escalations;
  };
  retries = 0;
  retry = async (_mode: AgentMode, onEvent: (e: TurnEvent) => void) => {
    this.retries += 1;
    this.emit = onEvent;
    return 200 + this.retries;
  };
  openedUrls: string[] = [];
  openUrl = async (url: string) => {
    this.openedUrls.push(url);
  };
  renderMarkdown = async (text: string) => [`<p>${text.replace(/</g, "&lt;")}</p>`];
  projectList: ProjectList = {
    open: [
      { root: "/code/demo", name: "demo", shown: true },
      { root: "/code/other", name: "other", shown: false },
    ],
    recent: [{ id: 3, path: "/code/old", name: "old", opened_at: 0 }],
  };
  projects = async () => this.projectList;
  openedProjects: string[] = [];
  ready = false;
  uiReady = async () => {
    this.ready = true;
  };
  files: string[] = [];
  searchFiles = async (query: string): Promise<FileMatch[]> =>
    this.files.filter((f) => f.includes(query)).map((path) => ({ path, indices: [] }));
  previews: string[] = [];
  previewContext = async (prompt: string): Promise<ContextReport> => {
    this.previews.push(prompt);
    const used = 1000 + prompt.length;
    return {
      sections: [{ name: "Prompt", tokens: prompt.length, included: true }],
      used,
      window: 128000,
      exact: true,
      left_out: prompt.includes("@huge")
        ? ["@huge.rs (200000 tokens) does not fit the window"]
        : [],
    };
  };
  git: GitStatus | null = null;
  staged: string[][] = [];
  commits: string[] = [];
  gitListeners: Array<(c: Array<[string, GitChange | null]>) => void> = [];
  gitStatus = async () => this.git;
  gitDiff = async (path: string, staged: boolean) =>
    `${staged ? "staged" : "unstaged"} diff of ${path}\n+added`;
  gitStage = async (paths: string[]) => {
    this.staged.push(paths);
    if (this.git) {
      this.git = {
        ...this.git,
        changes: this.git.changes.map((c) =>
          paths.includes(c.path)
            ? { ...c, staged: c.unstaged ?? "added", unstaged: null, untracked: false }
            : c,
        ),
      };
    }
    return this.git;
  };
  gitUnstage = async () => this.git;
  gitCommit = async (message: string) => {
    this.commits.push(message);
    if (this.git) this.git = { ...this.git, changes: this.git.changes.filter((c) => !c.staged) };
    return this.git;
  };
  gitSuggestMessage = async () => "Add the suggested message";
  onGitRefresh = async () => () => {};
  onGitChanges = async (cb: (c: Array<[string, GitChange | null]>) => void) => {
    this.gitListeners.push(cb);
    return () => {};
  };
  sessions: SessionSummary[] = [];
  hits: SearchHit[] = [];
  searches: Array<[string, SearchFilter]> = [];
  opened: number[] = [];
  deleted: number[] = [];
  renamed: Array<[number, string]> = [];
  forked: number[] = [];
  listSessions = async () => this.sessions;
  searchSessions = async (query: string, filter: SearchFilter) => {
    this.searches.push([query, filter]);
    return this.hits;
  };
  openSession = async (id: number) => {
    this.opened.push(id);
    return this.snapshotValue;
  };
  renameSession = async (id: number, title: string) => {
    this.renamed.push([id, title]);
    return this.snapshotValue;
  };
  forkSession = async (itemId: number) => {
    this.forked.push(itemId);
    return this.snapshotValue;
  };
  deleteSession = async (id: number) => {
    this.deleted.push(id);
    this.sessions = this.sessions.filter((s) => s.session.id !== id);
    return this.snapshotValue;
  };
  exportSession = async () => "/tmp/session.md";
  reviews: Record<number, Review> = {};
  applied: Array<[number, FileDecision[]]> = [];
  undos = 0;
  review = async (itemId: number) =>
    this.reviews[itemId] ?? { item_id: itemId, files: [], failures: [] };
  applyReview = async (itemId: number, decisions: FileDecision[]): Promise<ApplyOutcome> => {
    this.applied.push([itemId, decisions]);
    const review = await this.review(itemId);
    const files = review.files.map((f) =>
      decisions.some((d) => d.path === f.path)
        ? {
            ...f,
            status: decisions.find((d) => d.path === f.path)!.accept.some((a) => a)
              ? ("applied" as const)
              : ("rejected" as const),
          }
        : f,
    );
    this.reviews[itemId] = { ...review, files };
    return { review: this.reviews[itemId]!, checkpoint: null };
  };
  checkpoint = (): Checkpoint => ({
    id: 1,
    project_id: 1,
    item_id: null,
    summary: "a.txt",
    state: "undone",
    paths: ["a.txt"],
    created_at: 0,
  });
  undo = async () => {
    this.undos += 1;
    return this.checkpoint();
  };
  redo = async () => this.checkpoint();
  getSettings = async () => this.settings;
  saveSettings = async (fast: Slot | null, deep: Slot | null, baseUrls: Record<string, string>) => {
    this.saved.push({ fast, deep, baseUrls });
    return this.snapshotValue;
  };
  saveKey = async (provider: string, key: string, plaintext: boolean) => {
    this.keysSaved.push([provider, key, plaintext]);
    this.settings = { ...this.settings, keys: { ...this.settings.keys, [provider]: "keychain" } };
    return this.settings;
  };
  forgetKey = async () => this.settings;
  listModels = async () => ["m-a", "m-b"];
  testConnection = async (slot: Slot, baseUrl: string | null): Promise<ConnectionTest> => {
    this.tests.push([slot, baseUrl]);
    return { ok: true, message: `${slot.model} answered in 12 ms.`, ms: 12 };
  };
  detectProviders = async () => this.detected;
  useProvider = async (provider: string, model: string) => {
    this.snapshotValue = {
      ...this.snapshotValue,
      fast: { ...this.snapshotValue.fast!, provider, model },
    };
    return this.snapshotValue;
  };
  stopTurn = async (turnId: number) => {
    this.stopped.push(turnId);
    return true;
  };
  onWorkspace = async (cb: (s: Snapshot) => void) => {
    this.workspaceListeners.push(cb);
    return () => {};
  };
  filesChangedListeners: Array<(paths: string[]) => void> = [];
  onFilesChanged = async (cb: (paths: string[]) => void) => {
    this.filesChangedListeners.push(cb);
    return () => {};
  };
  onNotice = async (cb: (e: ErrorInfo) => void) => {
    this.noticeListeners.push(cb);
    return () => {};
  };
}

/** A stored item for tests: a complete answer unless `over` says otherwise; its kind
 * follows its role unless given. */
export function makeItem(over: Partial<Item> & { id: number }): Item {
  const kind = over.role === "user" ? "prompt" : over.role === "tool" ? "tool_result" : "answer";
  return {
    session_id: 1,
    role: "assistant",
    text: `message ${over.id}`,
    status: "complete",
    model: null,
    provider: null,
    error: null,
    metrics: null,
    reasoning: null,
    tool_calls: null,
    kind,
    call_id: null,
    tool_name: null,
    created_at: 0,
    ...over,
  };
}
