//! The sessions view's commands: list, search, open at an item, rename, fork, delete,
//! export. Everything goes through the engine's store.

use std::path::Path;

use tauri::{AppHandle, State};
use tauri_plugin_dialog::DialogExt;

use flint_core::store::history::{to_markdown, SearchFilter, SearchHit, SessionSummary};
use flint_core::{CoreError, ErrorInfo};

use crate::state::{AppState, Snapshot};

type Result<T> = std::result::Result<T, ErrorInfo>;

fn info(e: CoreError) -> ErrorInfo {
    e.info()
}

/// Sessions newest first: the current project's, or all with `all`.
#[tauri::command]
pub async fn list_sessions(state: State<'_, AppState>, all: bool) -> Result<Vec<SessionSummary>> {
    let project = if all {
        None
    } else {
        state
            .projects
            .current
            .lock()
            .await
            .as_ref()
            .map(|c| c.workspace.project.id)
    };
    state
        .engine
        .db(move |s| s.list_sessions(project, 200))
        .await
        .map_err(info)
}

#[tauri::command]
pub async fn search_sessions(
    state: State<'_, AppState>,
    query: String,
    filter: SearchFilter,
) -> Result<Vec<SearchHit>> {
    state
        .engine
        .db(move |s| s.search(&query, &filter, 100))
        .await
        .map_err(info)
}

/// Makes `id` the current session (opening its project if it is another one).
#[tauri::command]
pub async fn open_session(state: State<'_, AppState>, id: i64) -> Result<Snapshot> {
    open_session_now(&state, id).await
}

/// Makes session `id` the current one (opening its project if another is open).
pub(crate) async fn open_session_now(state: &AppState, id: i64) -> Result<Snapshot> {
    let (session, project) = state
        .engine
        .db(move |s| {
            let session = s.session(id)?;
            let project = s.project(session.project_id)?;
            Ok((session, project))
        })
        .await
        .map_err(info)?;
    let same = state
        .projects
        .current
        .lock()
        .await
        .as_ref()
        .is_some_and(|c| c.workspace.project.id == project.id);
    if !same {
        state.open(Path::new(&project.path)).await?;
    }
    if let Some(c) = state.projects.current.lock().await.as_mut() {
        c.workspace.session = Some(session);
    }
    Ok(state.current_snapshot().await)
}

#[tauri::command]
pub async fn rename_session(
    state: State<'_, AppState>,
    id: i64,
    title: String,
) -> Result<Snapshot> {
    let t = title.trim().to_string();
    state
        .engine
        .db(move |s| s.set_session_title(id, &t))
        .await
        .map_err(info)?;
    if let Some(c) = state.projects.current.lock().await.as_mut() {
        if let Some(s) = c.workspace.session.as_mut().filter(|s| s.id == id) {
            s.title = title.trim().to_string();
        }
    }
    Ok(state.current_snapshot().await)
}

/// A new session with the current one's history up to `item_id`; it becomes current.
#[tauri::command]
pub async fn fork_session(state: State<'_, AppState>, item_id: i64) -> Result<Snapshot> {
    let fork = state
        .engine
        .db(move |s| {
            let item = s.item(item_id)?;
            s.fork_session(item.session_id, item_id)
        })
        .await
        .map_err(info)?;
    open_session(state, fork.id).await
}

/// Deletes a session (the UI confirms first). If it was current, the project's latest
/// other session (or none) becomes current.
#[tauri::command]
pub async fn delete_session(state: State<'_, AppState>, id: i64) -> Result<Snapshot> {
    // Its agent (if one runs) ends with it.
    state.engine.stop_agent(id).await;
    state
        .engine
        .db(move |s| s.delete_session(id))
        .await
        .map_err(info)?;
    let current_id = state.projects.current.lock().await.as_ref().and_then(|c| {
        c.workspace
            .session
            .as_ref()
            .map(|s| (s.id, c.workspace.project.id))
    });
    if let Some((sid, pid)) = current_id {
        if sid == id {
            let next = state
                .engine
                .db(move |s| s.latest_session(pid))
                .await
                .map_err(info)?;
            if let Some(c) = state.projects.current.lock().await.as_mut() {
                c.workspace.session = next;
            }
        }
    }
    Ok(state.current_snapshot().await)
}

/// Saves a session as Markdown or JSON where the user picks; the path, or none if
/// they cancelled.
#[tauri::command]
pub async fn export_session(
    app: AppHandle,
    state: State<'_, AppState>,
    id: i64,
    json: bool,
) -> Result<Option<String>> {
    let (session, items, name) = state
        .engine
        .db(move |s| {
            let (session, items) = s.session_with_items(id)?;
            Ok((session, items, s.project_name_of(id)?.unwrap_or_default()))
        })
        .await
        .map_err(info)?;
    let text = if json {
        serde_json::to_string_pretty(&serde_json::json!({ "session": session, "items": items }))
            .map_err(|e| CoreError::Internal(e.to_string()).info())?
    } else {
        to_markdown(&session, &name, &items)
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let ext = if json { "json" } else { "md" };
    let stem: String = session
        .title
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    app.dialog()
        .file()
        .set_file_name(format!(
            "{}.{ext}",
            if stem.is_empty() {
                "session".into()
            } else {
                stem
            }
        ))
        .add_filter(ext, &[ext])
        .save_file(move |p| {
            let _ = tx.send(p);
        });
    let Some(path) = rx.await.ok().flatten().and_then(|p| p.into_path().ok()) else {
        return Ok(None);
    };
    std::fs::write(&path, text).map_err(|e| ErrorInfo {
        code: flint_core::ErrorCode::Io,
        message: format!("could not write {}: {e}", path.display()),
    })?;
    Ok(Some(path.display().to_string()))
}
