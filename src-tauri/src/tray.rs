//! The tray icon and its menu: Quick prompt, Open Flint, Recent projects, Quit. Linux
//! trays (StatusNotifierItem) send no click events, so the menu is the way in there,
//! on every system alike. The recent projects are rebuilt whenever a project opens.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Emitter, Manager, Wry};

use crate::state::AppState;

const QUICK: &str = "quick-prompt";
const OPEN: &str = "open";
const QUIT: &str = "quit";
const RECENT_PREFIX: &str = "recent:";
const RECENT_NONE: &str = "recent-none";
/// How many recent projects the menu lists.
const RECENT: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    QuickPrompt,
    OpenMain,
    OpenRecent(usize),
    Quit,
}

impl Action {
    pub fn from_menu_id(id: &str) -> Option<Self> {
        match id {
            QUICK => Some(Self::QuickPrompt),
            OPEN => Some(Self::OpenMain),
            QUIT => Some(Self::Quit),
            _ => id
                .strip_prefix(RECENT_PREFIX)
                .and_then(|n| n.parse().ok())
                .map(Self::OpenRecent),
        }
    }
}

/// The submenu to rebuild and the folders behind its items.
pub struct Tray {
    recent: Submenu<Wry>,
    paths: Mutex<Vec<PathBuf>>,
}

/// Builds the tray icon. On Linux the indicator library is loaded on first use and a
/// missing one panics inside libappindicator-sys, so that is caught: Flint runs on
/// without a tray and says so.
pub fn install(app: &AppHandle) {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| build(app))) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("flint: no tray icon: {e}"),
        Err(_) => eprintln!("flint: no tray icon (libayatana-appindicator3 is not installed)"),
    }
}

fn build(app: &AppHandle) -> tauri::Result<()> {
    let quick = MenuItem::with_id(app, QUICK, "Quick prompt", true, None::<&str>)?;
    let open = MenuItem::with_id(app, OPEN, "Open Flint", true, None::<&str>)?;
    let none = MenuItem::with_id(app, RECENT_NONE, "No recent projects", false, None::<&str>)?;
    let recent = Submenu::with_items(app, "Recent projects", true, &[&none])?;
    let separator = PredefinedMenuItem::separator(app)?;
    // PredefinedMenuItem::quit does nothing on Linux: a plain item that exits.
    let quit = MenuItem::with_id(app, QUIT, "Quit Flint", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&quick, &open, &recent, &separator, &quit])?;
    let mut builder = TrayIconBuilder::with_id("flint")
        .menu(&menu)
        .tooltip("Flint")
        .on_menu_event(|app: &AppHandle, event: MenuEvent| {
            if let Some(action) = Action::from_menu_id(event.id().as_ref()) {
                run(app, action);
            }
        });
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)?;
    app.manage(Tray {
        recent,
        paths: Mutex::new(Vec::new()),
    });
    refresh_recent(app);
    Ok(())
}

/// Rebuilds "Recent projects" from the history, in the background.
pub fn refresh_recent(app: &AppHandle) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let projects = state
            .engine
            .db(|s| s.recent_projects(RECENT))
            .await
            .unwrap_or_default();
        let paths: Vec<PathBuf> = projects.iter().map(|p| PathBuf::from(&p.path)).collect();
        let names: Vec<String> = projects.into_iter().map(|p| p.name).collect();
        let handle = app.clone();
        // Menus belong to the main thread.
        let _ = app.run_on_main_thread(move || {
            if let Err(e) = set_recent(&handle, &paths, &names) {
                eprintln!("flint: cannot update the tray's recent projects: {e}");
            }
        });
    });
}

fn set_recent(app: &AppHandle, paths: &[PathBuf], names: &[String]) -> tauri::Result<()> {
    let Some(tray) = app.try_state::<Tray>() else {
        return Ok(()); // no tray on this desktop
    };
    while tray.recent.remove_at(0)?.is_some() {}
    if paths.is_empty() {
        let none = MenuItem::with_id(app, RECENT_NONE, "No recent projects", false, None::<&str>)?;
        tray.recent.append(&none)?;
    }
    for (i, name) in names.iter().enumerate() {
        // `&` marks a mnemonic in menu text; `&&` is a literal ampersand.
        let item = MenuItem::with_id(
            app,
            format!("{RECENT_PREFIX}{i}"),
            name.replace('&', "&&"),
            true,
            None::<&str>,
        )?;
        tray.recent.append(&item)?;
    }
    *tray.paths.lock().unwrap_or_else(PoisonError::into_inner) = paths.to_vec();
    Ok(())
}

/// What a menu item does.
pub fn run(app: &AppHandle, action: Action) {
    match action {
        Action::QuickPrompt => {
            if let Err(e) = crate::windows::show(app) {
                eprintln!("flint: cannot show the quick prompt: {e}");
            }
        }
        Action::OpenMain => crate::windows::show_main(app),
        Action::OpenRecent(i) => {
            let path = app.try_state::<Tray>().and_then(|t| {
                t.paths
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(i)
                    .cloned()
            });
            if let Some(path) = path {
                crate::windows::show_main(app);
                open_in_main(app, path);
            }
        }
        Action::Quit => app.exit(0),
    }
}

/// Opens `path` as the project in the main window (tray, or a later launch).
pub fn open_in_main(app: &AppHandle, path: PathBuf) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        match state.open(&path).await {
            Ok(snapshot) => {
                let _ = app.emit_to("main", "workspace", snapshot);
            }
            Err(e) => {
                let _ = app.emit_to("main", "notice", e);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu_ids_map_to_actions() {
        assert_eq!(
            Action::from_menu_id("quick-prompt"),
            Some(Action::QuickPrompt)
        );
        assert_eq!(Action::from_menu_id("open"), Some(Action::OpenMain));
        assert_eq!(Action::from_menu_id("quit"), Some(Action::Quit));
        assert_eq!(
            Action::from_menu_id("recent:3"),
            Some(Action::OpenRecent(3))
        );
        assert_eq!(Action::from_menu_id("recent-none"), None);
        assert_eq!(Action::from_menu_id("recent:x"), None);
    }
}
