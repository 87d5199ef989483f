//! Agents over ACP in the app: which are known and where, installing one (npm's
//! progress streamed to the window), and choosing the agent of the current session.

use tauri::ipc::Channel;
use tauri::State;

use flint_core::{AgentEntry, AgentSignIn, CoreError, ErrorInfo};

use crate::state::{AppState, Snapshot};

type Result<T> = std::result::Result<T, ErrorInfo>;

/// The agents Flint knows, and where each is.
#[tauri::command]
pub async fn list_agents(state: State<'_, AppState>) -> Result<Vec<AgentEntry>> {
    let engine = state.engine.clone();
    tauri::async_runtime::spawn_blocking(move || engine.known_agents())
        .await
        .map_err(|e| CoreError::Internal(e.to_string()).info())
}

/// Installs a known agent with npm into Flint's data folder; each line npm prints goes
/// to `on_progress`. Returns where it was installed.
#[tauri::command]
pub async fn install_agent(
    state: State<'_, AppState>,
    id: String,
    on_progress: Channel<String>,
) -> Result<String> {
    let mut progress = |line: &str| {
        let _ = on_progress.send(line.to_string());
    };
    state
        .engine
        .install_agent(&id, &mut progress)
        .await
        .map_err(|e| e.info())
}

/// Makes the current session talk to an agent (`codex`, `claude`, `gemini`, a command
/// line), or to its model again (none). A session with turns keeps them: a new agent
/// is told the transcript on its first turn.
#[tauri::command]
pub async fn set_session_agent(
    state: State<'_, AppState>,
    agent: Option<String>,
) -> Result<Snapshot> {
    let session_id = crate::commands::current_session(&state).await?;
    let session = state
        .engine
        .set_session_agent(session_id, agent)
        .await
        .map_err(|e| e.info())?;
    if let Some(c) = state.projects.current.lock().await.as_mut() {
        c.workspace.session = Some(session);
    }
    Ok(state.current_snapshot().await)
}

/// The current session's agent uses `model` (one it offered) from its next turn on.
#[tauri::command]
pub async fn set_agent_model(state: State<'_, AppState>, model: String) -> Result<()> {
    let session_id = crate::commands::current_session(&state).await?;
    state.engine.set_agent_model(session_id, model);
    Ok(())
}

/// How the current session's agent can be signed in to.
#[tauri::command]
pub async fn agent_sign_in_methods(state: State<'_, AppState>) -> Result<Vec<AgentSignIn>> {
    let session_id = crate::commands::current_session(&state).await?;
    state
        .engine
        .agent_sign_in_methods(session_id)
        .await
        .map_err(|e| e.info())
}

/// Signs in to the current session's agent with `method`; `values` are the method's
/// variables (an API key), handed to the agent for this sign-in only and not kept.
#[tauri::command]
pub async fn agent_sign_in(
    state: State<'_, AppState>,
    method: String,
    values: std::collections::BTreeMap<String, String>,
) -> Result<()> {
    let session_id = crate::commands::current_session(&state).await?;
    state
        .engine
        .agent_sign_in(session_id, &method, values.into_iter().collect())
        .await
        .map_err(|e| e.info())
}
