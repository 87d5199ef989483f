//! The commands the UI calls. Each validates its input, calls the engine, and returns
//! data or an `ErrorInfo` (`{code, message}`); none touches the file system directly.

use std::path::PathBuf;

use tauri::ipc::Channel;
use tauri::{AppHandle, State};
use tauri_plugin_dialog::DialogExt;

use flint_core::context::ContextReport;
use flint_core::project::{Entry, FileMatch};
use flint_core::review::{ApplyOutcome, FileDecision, Review};
use flint_core::store::Checkpoint;
use flint_core::{AgentMode, Answer, CoreError, ErrorInfo, TurnEvent, TurnKind};

use crate::state::{AppState, Snapshot};

type Result<T> = std::result::Result<T, ErrorInfo>;

fn info(e: impl Into<CoreError>) -> ErrorInfo {
    e.into().info()
}

#[tauri::command]
pub async fn snapshot(state: State<'_, AppState>) -> Result<Snapshot> {
    Ok(state.snapshot().await)
}

#[tauri::command]
pub async fn open_project(state: State<'_, AppState>, path: String) -> Result<Snapshot> {
    state.open(&PathBuf::from(path)).await
}

/// Opens what was dropped on the window (a folder, or a dropped file's folder). `None`
/// for a repeated delivery of the same drop.
#[tauri::command]
pub async fn open_dropped(
    state: State<'_, AppState>,
    paths: Vec<String>,
) -> Result<Option<Snapshot>> {
    let paths: Vec<PathBuf> = paths.into_iter().map(PathBuf::from).collect();
    state.open_dropped(&paths).await.transpose()
}

/// Shows the system folder picker; `None` when the user cancels.
#[tauri::command]
pub async fn pick_project(app: AppHandle, state: State<'_, AppState>) -> Result<Option<Snapshot>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title("Open a project folder")
        .pick_folder(move |folder| {
            let _ = tx.send(folder);
        });
    let picked = rx.await.ok().flatten();
    let Some(folder) = picked else {
        return Ok(None);
    };
    let path = folder.into_path().map_err(|e| ErrorInfo {
        code: flint_core::ErrorCode::NotAFolder,
        message: format!("that location cannot be opened as a folder: {e}"),
    })?;
    state.open(&path).await.map(Some)
}

/// One directory of the current project's tree (`""` for the root).
#[tauri::command]
pub async fn list_dir(state: State<'_, AppState>, path: String) -> Result<Vec<Entry>> {
    let dir = {
        let current = state.projects.current.lock().await;
        current
            .as_ref()
            .map(|c| c.dir.clone())
            .ok_or_else(|| CoreError::NoProject.info())?
    };
    tokio::task::spawn_blocking(move || dir.list_dir(&path))
        .await
        .map_err(|e| CoreError::Internal(e.to_string()).info())?
        .map_err(info)
}

/// Starts an empty session in the current project.
#[tauri::command]
pub async fn new_session(state: State<'_, AppState>) -> Result<Snapshot> {
    let project_id = {
        let current = state.projects.current.lock().await;
        current
            .as_ref()
            .map(|c| c.workspace.project.id)
            .ok_or_else(|| CoreError::NoProject.info())?
    };
    let session = state
        .engine
        .new_session(project_id, "")
        .await
        .map_err(|e| e.info())?;
    if let Some(c) = state.projects.current.lock().await.as_mut() {
        c.workspace.session = Some(session);
    }
    Ok(state.current_snapshot().await)
}

/// Sends a prompt in the current session; the turn streams over `on_event`. Returns the
/// turn's id for `stop_turn`.
#[tauri::command]
pub async fn send_prompt(
    state: State<'_, AppState>,
    prompt: String,
    mode: Option<AgentMode>,
    on_event: Channel<TurnEvent>,
) -> Result<u32> {
    if prompt.trim().is_empty() {
        return Err(CoreError::EmptyPrompt.info());
    }
    let session_id = current_session(&state).await?;
    Ok(spawn_turn(
        &state,
        session_id,
        on_event,
        TurnKind::Prompt(prompt),
        Some(mode.unwrap_or_default()),
        None,
    ))
}

/// Answers the latest prompt again on the session's model (after a failure or Stop).
#[tauri::command]
pub async fn retry(
    state: State<'_, AppState>,
    mode: Option<AgentMode>,
    on_event: Channel<TurnEvent>,
) -> Result<u32> {
    let session_id = current_session(&state).await?;
    Ok(spawn_turn(
        &state,
        session_id,
        on_event,
        TurnKind::Retry,
        Some(mode.unwrap_or_default()),
        None,
    ))
}

/// Re-answers the latest prompt with the deep model; the session stays on it.
#[tauri::command]
pub async fn escalate(
    state: State<'_, AppState>,
    mode: Option<AgentMode>,
    on_event: Channel<TurnEvent>,
) -> Result<u32> {
    let session_id = current_session(&state).await?;
    Ok(spawn_turn(
        &state,
        session_id,
        on_event,
        TurnKind::Escalate,
        Some(mode.unwrap_or_default()),
        None,
    ))
}

/// The current session, created on first use.
pub(crate) async fn current_session(state: &AppState) -> Result<i64> {
    let mut current = state.projects.current.lock().await;
    let c = current
        .as_mut()
        .ok_or_else(|| CoreError::NoProject.info())?;
    if let Some(s) = &c.workspace.session {
        return Ok(s.id);
    }
    let s = state
        .engine
        .new_session(c.workspace.project.id, "")
        .await
        .map_err(|e| e.info())?;
    let id = s.id;
    c.workspace.session = Some(s);
    Ok(id)
}

/// Also told of each event of a turn (the quick prompt forwards edits to the main window).
pub(crate) type Forward = Box<dyn Fn(&TurnEvent) + Send + Sync>;

/// Starts a turn in the engine and forwards its events to `on_event` (and `forward`);
/// returns its id for `stop_turn`. With a mode the model acts (the agent's tools, as
/// the mode allows); without one it answers in text (the quick prompt, which has no
/// room to ask the user anything).
pub(crate) fn spawn_turn(
    state: &AppState,
    session_id: i64,
    on_event: Channel<TurnEvent>,
    kind: TurnKind,
    mode: Option<AgentMode>,
    forward: Option<Forward>,
) -> u32 {
    let mut turn = match mode {
        Some(mode) => state
            .engine
            .clone()
            .with_agent()
            .start_turn_in(session_id, kind, mode),
        None => state.engine.start_turn(session_id, kind),
    };
    let id = turn.id;
    tauri::async_runtime::spawn(async move {
        // A closed window drops its channel; the turn still completes and is saved.
        while let Some(event) = turn.events.recv().await {
            if let Some(f) = &forward {
                f(&event);
            }
            let _ = on_event.send(event);
        }
    });
    id
}

/// Answers a question a running turn waits on (a command to allow, an edit decided in
/// the review pane); false if none waits with that id.
#[tauri::command]
pub fn answer_question(state: State<'_, AppState>, question_id: u32, answer: Answer) -> bool {
    state.engine.answer_question(question_id, answer)
}

/// Undoes everything the current session's latest turn changed (its edits and what
/// its commands changed), to the byte.
#[tauri::command]
pub async fn undo_turn(state: State<'_, AppState>) -> Result<Vec<Checkpoint>> {
    let session_id = current_session(&state).await?;
    state
        .engine
        .undo_turn(session_id)
        .await
        .map_err(|e| e.info())
}

/// The command prefixes always allowed in the current project, and whether commands
/// can be sandboxed here (and if not, why).
#[tauri::command]
pub async fn agent_settings(state: State<'_, AppState>) -> Result<AgentSettings> {
    let id = current_project_id(&state).await?;
    let allowed = state
        .engine
        .db(move |s| s.allowed_commands(id))
        .await
        .map_err(|e| e.info())?;
    let sandbox = match flint_core::exec::sandbox_support() {
        flint_core::exec::SandboxSupport::Bubblewrap(_) => None,
        flint_core::exec::SandboxSupport::Seatbelt => None,
        flint_core::exec::SandboxSupport::Unavailable(why) => Some(why),
    };
    Ok(AgentSettings { allowed, sandbox })
}

/// Stops always allowing a command prefix in the current project.
#[tauri::command]
pub async fn forget_command(state: State<'_, AppState>, prefix: String) -> Result<AgentSettings> {
    let id = current_project_id(&state).await?;
    state
        .engine
        .db(move |s| s.forget_command(id, &prefix))
        .await
        .map_err(|e| e.info())?;
    agent_settings(state).await
}

/// What Settings shows of the agent.
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
#[ts(export)]
pub struct AgentSettings {
    /// Command prefixes always allowed in the current project.
    pub allowed: Vec<String>,
    /// Why commands cannot be sandboxed here (Full auto then asks for each); none when
    /// they can.
    pub sandbox: Option<String>,
}

/// Stops a running turn; what arrived is kept. Stopping a finished turn does nothing.
#[tauri::command]
pub fn stop_turn(state: State<'_, AppState>, turn_id: u32) -> bool {
    state.engine.cancel_turn(turn_id)
}

/// The review of an answer's edits against the files as they are now.
#[tauri::command]
pub async fn review(state: State<'_, AppState>, item_id: i64) -> Result<Review> {
    state.engine.review(item_id).await.map_err(|e| e.info())
}

/// Applies the user's per-hunk decisions on an answer's edits as one checkpoint.
#[tauri::command]
pub async fn apply_review(
    state: State<'_, AppState>,
    item_id: i64,
    decisions: Vec<FileDecision>,
) -> Result<ApplyOutcome> {
    state
        .engine
        .apply_review(item_id, decisions)
        .await
        .map_err(|e| e.info())
}

async fn current_project_id(state: &AppState) -> Result<i64> {
    let current = state.projects.current.lock().await;
    current
        .as_ref()
        .map(|c| c.workspace.project.id)
        .ok_or_else(|| CoreError::NoProject.info())
}

/// Reverts the current project's latest checkpoint.
#[tauri::command]
pub async fn undo(state: State<'_, AppState>) -> Result<Checkpoint> {
    let id = current_project_id(&state).await?;
    state.engine.undo(id).await.map_err(|e| e.info())
}

/// Re-applies the checkpoint undone last.
#[tauri::command]
pub async fn redo(state: State<'_, AppState>) -> Result<Checkpoint> {
    let id = current_project_id(&state).await?;
    state.engine.redo(id).await.map_err(|e| e.info())
}

/// Files of the current project matching `query` fuzzily, best first (for @-mentions).
#[tauri::command]
pub async fn search_files(state: State<'_, AppState>, query: String) -> Result<Vec<FileMatch>> {
    let index = {
        let current = state.projects.current.lock().await;
        current
            .as_ref()
            .map(|c| c.index.clone())
            .ok_or_else(|| CoreError::NoProject.info())?
    };
    tokio::task::spawn_blocking(move || {
        index
            .read()
            .map(|i| i.search(&query, 20))
            .unwrap_or_default()
    })
    .await
    .map_err(|e| CoreError::Internal(e.to_string()).info())
}

/// What the next turn would send for `prompt`, for the composer's context meter.
#[tauri::command]
pub async fn preview_context(state: State<'_, AppState>, prompt: String) -> Result<ContextReport> {
    let (root, session) = {
        let current = state.projects.current.lock().await;
        let c = current
            .as_ref()
            .ok_or_else(|| CoreError::NoProject.info())?;
        (
            c.dir.root().to_path_buf(),
            c.workspace.session.as_ref().map(|s| s.id),
        )
    };
    state
        .engine
        .preview_context(&root, session, &prompt, false)
        .await
        .map(|(_, report)| report)
        .map_err(|e| e.info())
}

/// A stored answer's markdown as safe HTML blocks (for answers loaded from history).
#[tauri::command]
pub async fn render_markdown(text: String) -> Result<Vec<String>> {
    tokio::task::spawn_blocking(move || {
        let mut splitter = flint_render::markdown::BlockSplitter::new();
        let mut blocks: Vec<String> = splitter
            .push(&text)
            .iter()
            .map(|b| flint_render::markdown::render_block(b))
            .collect();
        blocks.extend(
            splitter
                .finish()
                .map(|b| flint_render::markdown::render_block(&b)),
        );
        blocks
    })
    .await
    .map_err(|e| CoreError::Internal(e.to_string()).info())
}

/// Opens an http(s) link from an answer in the system browser; anything else is refused.
#[tauri::command]
pub fn open_url(url: String) -> Result<()> {
    let lower = url.trim().to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return Err(ErrorInfo {
            code: flint_core::ErrorCode::UnsafeLink,
            message: "Only http and https links open.".into(),
        });
    }
    open::that_detached(url.trim()).map_err(|e| ErrorInfo {
        code: flint_core::ErrorCode::OpenFailed,
        message: format!("could not open the link: {e}"),
    })
}

/// The window painted its first frame: logged once with the time since start, which is
/// how start-up time is watched (the benchmark suite reads this line).
#[tauri::command]
pub fn ui_ready() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        eprintln!(
            "flint: first paint {} ms after start",
            crate::started().elapsed().as_millis()
        );
    });
}

/// The project switcher: open projects and recent ones.
#[tauri::command]
pub async fn projects(state: State<'_, AppState>) -> Result<crate::state::ProjectList> {
    state.projects().await
}
