//! The quick-prompt window: small, undecorated, always on top, out of the taskbar,
//! placed on the screen that holds the pointer. The global shortcut, the tray menu and
//! `flint --quick-prompt` all open it. A prompt there starts a new session in the
//! active project on its fast model; the answer streams in the quick window, edits it
//! proposes go to the main window's review pane, and "Continue in Flint" opens the
//! session in the main window. The window is created on first use, then hidden and
//! shown again; its capability (capabilities/quick.json) allows only these commands.

use serde::Serialize;
use tauri::ipc::Channel;
use tauri::{AppHandle, Emitter, State};
use ts_rs::TS;

use flint_core::{CoreError, ErrorInfo, TurnEvent};

use crate::commands::spawn_turn;
use crate::state::AppState;
use crate::windows::{hide, show_main};

type Result<T> = std::result::Result<T, ErrorInfo>;

/// What the quick prompt shows above its input.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct QuickInfo {
    /// The active project's name.
    pub project: String,
    /// The fast model that will answer.
    pub model: String,
    /// The global shortcut that opens the window, if one is registered.
    pub shortcut: Option<String>,
}

#[tauri::command]
pub async fn quick_info(app: AppHandle, state: State<'_, AppState>) -> Result<QuickInfo> {
    let project = state
        .projects
        .current
        .lock()
        .await
        .as_ref()
        .map(|c| c.workspace.info.name.clone())
        .ok_or_else(|| ErrorInfo {
            code: flint_core::ErrorCode::NoProject,
            message: "Open a project in Flint first.".into(),
        })?;
    let model = state
        .models()
        .0
        .map(|m| m.model)
        .ok_or_else(|| CoreError::NoModel(flint_core::store::ModelSlot::Fast).info())?;
    Ok(QuickInfo {
        project,
        model,
        shortcut: crate::shortcut::current(&app),
    })
}

/// Asks in a new session of the active project; the answer streams to `on_event`.
#[tauri::command]
pub async fn quick_send(
    app: AppHandle,
    state: State<'_, AppState>,
    prompt: String,
    on_event: Channel<TurnEvent>,
) -> Result<u32> {
    if prompt.trim().is_empty() {
        return Err(CoreError::EmptyPrompt.info());
    }
    let project_id = state
        .projects
        .current
        .lock()
        .await
        .as_ref()
        .map(|c| c.workspace.project.id)
        .ok_or_else(|| CoreError::NoProject.info())?;
    let session = state
        .engine
        .new_session(project_id, "")
        .await
        .map_err(|e| e.info())?;
    state.set_quick_session(session.id);
    // Edits proposed here are reviewed in the main window.
    let main = app.clone();
    let forward = move |event: &TurnEvent| {
        if let TurnEvent::Review { review } = event {
            let _ = main.emit_to("main", "quick-review", review);
        }
    };
    Ok(spawn_turn(
        &state,
        session.id,
        on_event,
        flint_core::TurnKind::Prompt(prompt),
        None,
        Some(Box::new(forward)),
    ))
}

/// Opens the quick prompt's latest session in the main window.
#[tauri::command]
pub async fn quick_continue(app: AppHandle, state: State<'_, AppState>) -> Result<()> {
    let id = state.quick_session().ok_or_else(|| ErrorInfo {
        code: flint_core::ErrorCode::NothingToContinue,
        message: "Ask something first.".into(),
    })?;
    let snapshot = crate::history::open_session_now(&state, id).await?;
    let _ = app.emit_to("main", "workspace", snapshot);
    hide(&app);
    show_main(&app);
    Ok(())
}

#[tauri::command]
pub fn quick_hide(app: AppHandle) {
    hide(&app);
}
