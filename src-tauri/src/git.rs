//! The git panel's commands: status, per-file diffs, stage, unstage, commit, and a
//! commit message suggested by the fast model. Paths are relative to the repository.

use std::path::PathBuf;
use std::sync::Arc;

use tauri::State;

use flint_core::project::{self, GitStatus, StatusReader};
use flint_core::{CoreError, ErrorInfo};

use crate::state::AppState;

type Result<T> = std::result::Result<T, ErrorInfo>;

async fn root(state: &AppState) -> Result<PathBuf> {
    Ok(shown(state).await?.0)
}

/// The shown project's root and its status reader (which keeps the repository open).
async fn shown(state: &AppState) -> Result<(PathBuf, Arc<StatusReader>)> {
    let current = state.projects.current.lock().await;
    current
        .as_ref()
        .map(|c| (c.dir.root().to_path_buf(), c.git.clone()))
        .ok_or_else(|| CoreError::NoProject.info())
}

/// Runs git work off the async executor.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::result::Result<T, project::ProjectError> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CoreError::Internal(e.to_string()).info())?
        .map_err(|e| CoreError::from(e).info())
}

#[tauri::command]
pub async fn git_status(state: State<'_, AppState>) -> Result<Option<GitStatus>> {
    let (_, git) = shown(&state).await?;
    blocking(move || git.read()).await
}

#[tauri::command]
pub async fn git_diff(state: State<'_, AppState>, path: String, staged: bool) -> Result<String> {
    let root = root(&state).await?;
    blocking(move || project::diff_file(&root, &path, staged)).await
}

#[tauri::command]
pub async fn git_stage(
    state: State<'_, AppState>,
    paths: Vec<String>,
) -> Result<Option<GitStatus>> {
    let (root, git) = shown(&state).await?;
    state.engine.invalidate_git(&root);
    blocking(move || {
        project::stage(&root, &paths)?;
        git.read()
    })
    .await
}

#[tauri::command]
pub async fn git_unstage(
    state: State<'_, AppState>,
    paths: Vec<String>,
) -> Result<Option<GitStatus>> {
    let (root, git) = shown(&state).await?;
    state.engine.invalidate_git(&root);
    blocking(move || {
        project::unstage(&root, &paths)?;
        git.read()
    })
    .await
}

/// Commits what is staged; returns the new status (and the short id in `branch` history).
#[tauri::command]
pub async fn git_commit(state: State<'_, AppState>, message: String) -> Result<Option<GitStatus>> {
    let (root, git) = shown(&state).await?;
    state.engine.invalidate_git(&root);
    blocking(move || {
        project::commit(&root, &message)?;
        git.read()
    })
    .await
}

#[tauri::command]
pub async fn git_suggest_message(state: State<'_, AppState>) -> Result<String> {
    let root = root(&state).await?;
    state
        .engine
        .suggest_commit_message(&root)
        .await
        .map_err(|e| e.info())
}
