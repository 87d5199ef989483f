//! The desktop shell: a thin Tauri adapter over flint-core. It owns the window, turns
//! UI calls into engine calls (`commands`), streams each turn over its own Channel, and
//! opens folders dropped on the window. No product logic lives here.

mod agents;
#[macro_use]
mod command_list;
mod commands;
mod git;
mod history;
mod instance;
mod quick;
mod settings;
mod shortcut;
mod state;
mod tray;
mod webview;
mod windows;

use std::path::PathBuf;
use std::process::ExitCode;

use tauri::{DragDropEvent, Emitter, Listener, Manager, WindowEvent};

use state::AppState;

static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// When the app started (first asked).
pub(crate) fn started() -> std::time::Instant {
    *STARTED.get_or_init(std::time::Instant::now)
}

/// With `FLINT_TRACE_START=1`, says on stderr how long after start each step of the
/// start-up was reached (how the time to the first paint is taken apart). Never fails:
/// it runs inside the webview's callbacks, where a panic would abort.
pub(crate) fn trace_start(step: &str) {
    use std::io::Write;
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("FLINT_TRACE_START").is_some_and(|v| v == "1")) {
        let _ = writeln!(
            std::io::stderr().lock(),
            "flint: start {:>5} ms {step}",
            started().elapsed().as_millis()
        );
    }
}

/// Starts the app, opening `initial` as the project when given and the quick prompt
/// when asked; if Flint is already running, hands both to it instead.
pub fn run(initial: Option<PathBuf>, quick_prompt: bool) -> ExitCode {
    started();
    // Without a display the toolkit would abort with a backtrace; say what is wrong.
    #[cfg(target_os = "linux")]
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        eprintln!(
            "flint: no display (DISPLAY and WAYLAND_DISPLAY are unset). Run Flint in a desktop \
             session, or use the headless commands: `flint ask`, `flint apply`, `flint sessions`."
        );
        return ExitCode::FAILURE;
    }
    let launch = instance::Launch::new(initial.clone(), quick_prompt);
    let primary = match instance::data_dir().map(|d| instance::claim(&d, &launch)) {
        Some(Ok(instance::Claim::Forwarded)) => return ExitCode::SUCCESS,
        Some(Ok(instance::Claim::Primary(p))) => Some(p),
        Some(Err(e)) => {
            eprintln!("flint: cannot reach a running Flint ({e}); starting a new one");
            None
        }
        None => None,
    };
    #[cfg(target_os = "linux")]
    software_rendering_fallback();
    trace_start("toolkit");
    let builder = tauri::Builder::default();
    #[cfg(windows)]
    let builder = builder.plugin(tauri_plugin_single_instance::init(|app, argv, cwd| {
        let path = argv
            .iter()
            .skip(1)
            .find(|a| !a.starts_with('-'))
            .map(|p| std::path::Path::new(&cwd).join(p));
        let quick = argv.iter().any(|a| a == "--quick-prompt");
        on_launch(
            app,
            instance::Launch {
                quick_prompt: quick,
                path,
            },
        );
    }));
    let result = builder
        .plugin(webview::guard())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_global_shortcut::Builder::new().build())
        .manage(shortcut::Registered::default())
        .setup(move |app| {
            trace_start("setup");
            // Load the syntaxes in the background so the first diff is not the slow one.
            std::thread::spawn(flint_render::warm);
            let state = AppState::init(initial.clone())?;
            let handle = app.handle().clone();
            state.set_app(handle.clone());
            shortcut::register_from_settings(&handle, &state);
            app.manage(state);
            tray::install(&handle);
            {
                let h = handle.clone();
                app.listen_any(state::PROJECTS_CHANGED, move |_| tray::refresh_recent(&h));
            }
            if let Some(primary) = primary {
                let h = handle.clone();
                app.manage(primary.serve(move |launch| on_launch(&h, launch)));
            }
            if quick_prompt {
                if let Err(e) = windows::show(&handle) {
                    eprintln!("flint: cannot show the quick prompt: {e}");
                }
            }
            windows::show_main_later(&handle, std::time::Duration::from_secs(3));
            trace_start("setup done");
            Ok(())
        })
        .invoke_handler(with_commands!(tauri::generate_handler))
        .on_window_event(|window, event| {
            // Closing the main window quits Flint, even while the hidden quick prompt
            // exists (the tray's Quit does the same).
            if let WindowEvent::CloseRequested { .. } = event {
                if window.label() == "main" {
                    window.app_handle().exit(0);
                }
            }
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
        .build(tauri::generate_context!())
        .map(|app| {
            app.run(|app, event| {
                // Closing: a launch from now on starts a new Flint.
                if let tauri::RunEvent::ExitRequested { .. } | tauri::RunEvent::Exit = event {
                    if let Some(release) = app.try_state::<instance::Release>() {
                        release.release();
                    }
                }
                // Agents (and whatever they started) end with Flint: a process that
                // exits runs no destructors, and Codex's adapter never ends by itself.
                if let tauri::RunEvent::Exit = event {
                    flint_core::exec::kill_all_services();
                }
            })
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flint: the app could not start: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Without a GPU render node (virtual machines, containers, Xvfb), WebKitGTK's DMA-BUF
/// renderer falls back to a path that repaints the whole window slowly: measured here
/// under Xvfb, every frame that changed anything took 70-100 ms instead of 16 ms, so a
/// streaming answer ran at ~12 frames/s (docs/benchmarks.md). Its shared-memory renderer
/// keeps 60 frames/s there. Machines with a GPU keep the default; a user's own setting of
/// the variable always wins. Runs before the toolkit starts, while there is one thread.
#[cfg(target_os = "linux")]
fn software_rendering_fallback() {
    const VAR: &str = "WEBKIT_DISABLE_DMABUF_RENDERER";
    if std::env::var_os(VAR).is_some() {
        return;
    }
    let has_render_node = std::fs::read_dir("/dev/dri").is_ok_and(|d| {
        d.flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
    });
    if !has_render_node {
        std::env::set_var(VAR, "1");
    }
}

/// A later launch reached this running Flint: open what it asked for.
fn on_launch(app: &tauri::AppHandle, launch: instance::Launch) {
    let has_path = launch.path.is_some();
    if let Some(path) = launch.path {
        windows::show_main(app);
        tray::open_in_main(app, path);
    }
    if launch.quick_prompt {
        if let Err(e) = windows::show(app) {
            eprintln!("flint: cannot show the quick prompt: {e}");
        }
    } else if !has_path {
        windows::show_main(app);
    }
}

#[cfg(test)]
mod tests {
    macro_rules! names {
        ($($module:ident :: $name:ident),* $(,)?) => {
            vec![$(stringify!($name).to_string()),*]
        };
    }

    /// The commands the app registers (and build.rs declares): the one list.
    fn registered() -> Vec<String> {
        with_commands!(names)
    }

    #[test]
    fn every_command_is_declared_and_allowed_where_it_is_used() {
        let mut registered = registered();
        registered.sort();
        let unique = registered.len();
        registered.dedup();
        assert_eq!(unique, registered.len(), "a command is listed twice");
        let main = include_str!("../capabilities/main.json");
        let quick = include_str!("../capabilities/quick.json");
        let allowed =
            |cap: &str, c: &str| cap.contains(&format!("\"allow-{}\"", c.replace('_', "-")));
        for c in &registered {
            let for_quick = c.starts_with("quick_");
            assert!(
                for_quick || allowed(main, c),
                "the main window may not call {c}"
            );
        }
        // The quick window gets only what it needs.
        let quick_allowed: Vec<&String> = registered.iter().filter(|c| allowed(quick, c)).collect();
        assert_eq!(
            quick_allowed,
            [
                "open_url",
                "quick_continue",
                "quick_hide",
                "quick_info",
                "quick_send",
                "render_markdown",
                "stop_turn",
                "ui_ready"
            ]
        );
    }
}
