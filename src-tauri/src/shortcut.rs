//! The quick prompt's global shortcut: registered at start-up from the settings,
//! changeable in the settings view at run time; when a new one is refused (taken by
//! another program, or not a valid combination) the previous one stays and the user is
//! told why. Wayland has no global shortcuts for apps: there the settings view says to
//! bind `flint --quick-prompt` in the desktop's own keyboard settings.

use std::sync::{Mutex, PoisonError};

use tauri::{AppHandle, Manager, State};
use tauri_plugin_global_shortcut::{GlobalShortcutExt, Shortcut, ShortcutEvent, ShortcutState};

use flint_core::config::SettingsView;
use flint_core::{ErrorInfo, Settings};

use crate::state::AppState;

/// The shortcut registered now, as the user wrote it (none when off or refused).
#[derive(Default)]
pub struct Registered(Mutex<Option<(Shortcut, String)>>);

fn on_press(app: &AppHandle, _shortcut: &Shortcut, event: ShortcutEvent) {
    if event.state == ShortcutState::Pressed {
        if let Err(e) = crate::windows::show(app) {
            eprintln!("flint: cannot show the quick prompt: {e}");
        }
    }
}

fn refused(accelerator: &str, e: impl std::fmt::Display) -> ErrorInfo {
    let text = e.to_string();
    // global-hotkey's errors, flattened to text by the plugin: "HotKey already
    // registered", "Unable to register hotkey" (X11 BadAccess: another program holds
    // it), or a parse error.
    if text.contains("already registered") || text.contains("Unable to register") {
        ErrorInfo {
            code: flint_core::ErrorCode::ShortcutTaken,
            message: format!("{accelerator} is taken by another program; choose another."),
        }
    } else {
        ErrorInfo {
            code: flint_core::ErrorCode::ShortcutInvalid,
            message: format!(
                "{accelerator:?} is not a shortcut Flint understands ({text}). Write it like \
                 CommandOrControl+Shift+Space."
            ),
        }
    }
}

/// Registers `accelerator` ("" turns the shortcut off) in place of the current one; on
/// failure the current one stays registered.
pub fn set(app: &AppHandle, accelerator: &str) -> Result<(), ErrorInfo> {
    let accelerator = accelerator.trim();
    let registered = app.state::<Registered>();
    let mut current = registered.0.lock().unwrap_or_else(PoisonError::into_inner);
    let gs = app.global_shortcut();
    if accelerator.is_empty() {
        if let Some((old, _)) = current.take() {
            let _ = gs.unregister(old);
        }
        return Ok(());
    }
    let new: Shortcut = accelerator.parse().map_err(|e| refused(accelerator, e))?;
    if current.as_ref().is_some_and(|(s, _)| *s == new) {
        return Ok(());
    }
    if let Some((old, _)) = current.as_ref() {
        let _ = gs.unregister(*old);
    }
    match gs.on_shortcut(new, on_press) {
        Ok(()) => {
            *current = Some((new, accelerator.to_string()));
            Ok(())
        }
        Err(e) => {
            if let Some((old, _)) = current.as_ref() {
                if gs.on_shortcut(*old, on_press).is_err() {
                    *current = None;
                }
            }
            Err(refused(accelerator, e))
        }
    }
}

/// The shortcut registered now, as the user wrote it.
pub fn current(app: &AppHandle) -> Option<String> {
    let registered = app.try_state::<Registered>()?;
    let current = registered.0.lock().unwrap_or_else(PoisonError::into_inner);
    current.as_ref().map(|(_, text)| text.clone())
}

/// At start-up: the shortcut from the settings. A refusal is reported as a notice.
pub fn register_from_settings(app: &AppHandle, state: &AppState) {
    let settings = Settings::read(&state.paths.settings_file()).unwrap_or_default();
    if let Err(e) = set(app, settings.quick_shortcut()) {
        state.set_notice(ErrorInfo {
            code: e.code,
            message: format!("The quick-prompt shortcut is not registered: {}", e.message),
        });
    }
}

/// Changes the shortcut: registered first, saved only if that worked.
#[tauri::command]
pub async fn set_quick_shortcut(
    app: AppHandle,
    state: State<'_, AppState>,
    accelerator: String,
) -> Result<SettingsView, ErrorInfo> {
    set(&app, &accelerator)?;
    let file = state.paths.settings_file();
    let mut settings = Settings::read(&file).map_err(|e| e.info())?;
    settings.quick_shortcut = Some(accelerator.trim().to_string());
    settings.write(&file).map_err(|e| e.info())?;
    state.settings_view().map_err(|e| e.info())
}
