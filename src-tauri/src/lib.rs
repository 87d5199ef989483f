//! The desktop shell: a thin Tauri adapter over flint-core. It owns the window, turns
//! UI calls into engine calls (`commands`), streams each turn over its own Channel, and
//! opens folders dropped on the window. No product logic lives here.

mod commands;
mod git;
mod history;
mod settings;
mod state;

use std::path::PathBuf;
use std::process::ExitCode;

use tauri::{DragDropEvent, Emitter, Manager, WindowEvent};

use state::AppState;

/// Starts the app, opening `initial` as the project when given.
pub fn run(initial: Option<PathBuf>) -> ExitCode {
    // Without a display the toolkit would abort with a backtrace; say what is wrong.
    #[cfg(target_os = "linux")]
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        eprintln!(
            "flint: no display (DISPLAY and WAYLAND_DISPLAY are unset). Run Flint in a desktop \
             session, or use the headless commands: `flint ask`, `flint apply`, `flint sessions`."
        );
        return ExitCode::FAILURE;
    }
    let result = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .setup(move |app| {
            // Load the syntaxes in the background so the first diff is not the slow one.
            std::thread::spawn(flint_render::warm);
            std::thread::spawn(flint_core::context::warm);
            let state = AppState::init(initial.clone())?;
            state.set_app(app.handle().clone());
            app.manage(state);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::snapshot,
            commands::open_project,
            commands::open_dropped,
            commands::pick_project,
            commands::list_dir,
            commands::new_session,
            commands::send_prompt,
            commands::escalate,
            commands::retry,
            commands::stop_turn,
            commands::review,
            commands::apply_review,
            commands::undo,
            commands::search_files,
            commands::render_markdown,
            commands::open_url,
            history::list_sessions,
            history::search_sessions,
            history::open_session,
            history::rename_session,
            history::fork_session,
            history::delete_session,
            history::export_session,
            git::git_status,
            git::git_diff,
            git::git_stage,
            git::git_unstage,
            git::git_commit,
            git::git_suggest_message,
            commands::preview_context,
            commands::redo,
            settings::get_settings,
            settings::save_settings,
            settings::save_key,
            settings::forget_key,
            settings::list_models,
            settings::test_connection,
            settings::detect_providers,
            settings::use_provider,
        ])
        .on_window_event(|window, event| {
            // Drops go to the UI first: on the composer they attach files, anywhere else
            // they open a project (through `open_dropped`).
            if let WindowEvent::DragDrop(DragDropEvent::Drop { paths, position }) = event {
                let scale = window.scale_factor().unwrap_or(1.0);
                let at = position.to_logical::<f64>(scale);
                let _ = window.app_handle().emit(
                    "drop",
                    state::Dropped {
                        paths: paths.iter().map(|p| p.display().to_string()).collect(),
                        x: at.x,
                        y: at.y,
                    },
                );
            }
        })
        .run(tauri::generate_context!());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flint: the app could not start: {e}");
            ExitCode::FAILURE
        }
    }
}
