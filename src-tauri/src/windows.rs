//! The app's windows, shown and hidden: the quick prompt (small, undecorated, always on
//! top, out of the taskbar, placed on the screen that holds the pointer; created on
//! first use, then hidden and shown again) and the main window. A leaf: the tray, the
//! global shortcut, the quick prompt's commands and a second launch all come here.

use tauri::{
    AppHandle, Manager, PhysicalPosition, WebviewUrl, WebviewWindow, WebviewWindowBuilder,
};

/// The quick prompt's window label (main.ts mounts the quick prompt in it).
pub const QUICK: &str = "quick";
const WIDTH: f64 = 640.0; // logical pixels
const HEIGHT: f64 = 360.0;

/// Shows the quick prompt (creating it on first use) on the pointer's screen, focused.
pub fn show(app: &AppHandle) -> tauri::Result<()> {
    let window = match app.get_webview_window(QUICK) {
        Some(w) => w,
        None => create(app)?,
    };
    place_on_pointer_screen(app, &window);
    window.show()?;
    window.set_focus()?;
    Ok(())
}

fn create(app: &AppHandle) -> tauri::Result<WebviewWindow> {
    // The same UI bundle; main.ts mounts the quick prompt in a window with this label.
    WebviewWindowBuilder::new(app, QUICK, WebviewUrl::App("index.html".into()))
        .title("Flint quick prompt")
        .inner_size(WIDTH, HEIGHT)
        .resizable(false)
        .maximizable(false)
        .minimizable(false)
        .decorations(false)
        .always_on_top(true)
        .skip_taskbar(true)
        .visible(false) // shown once placed: no flash at (0, 0)
        .center()
        .build()
}

/// Centres the window on the monitor under the pointer, a third of the way down. Where
/// the pointer cannot be read (Wayland) the window keeps its centred placement.
fn place_on_pointer_screen(app: &AppHandle, window: &WebviewWindow) {
    let Ok(pointer) = app.cursor_position() else {
        return;
    };
    let monitor = app
        .monitor_from_point(pointer.x, pointer.y)
        .ok()
        .flatten()
        .or_else(|| app.primary_monitor().ok().flatten());
    let Some(monitor) = monitor else {
        return;
    };
    let scale = monitor.scale_factor();
    let area = monitor.work_area();
    let (w, h) = (WIDTH * scale, HEIGHT * scale);
    let x = f64::from(area.position.x) + (f64::from(area.size.width) - w) / 2.0;
    let y = f64::from(area.position.y) + (f64::from(area.size.height) - h) / 3.0;
    let _ = window.set_position(PhysicalPosition::new(x.round() as i32, y.round() as i32));
}

pub fn hide(app: &AppHandle) {
    if let Some(w) = app.get_webview_window(QUICK) {
        let _ = w.hide();
    }
}

static MAIN_SHOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Shows the main window at start-up, made hidden (tauri.conf.json), the first time
/// only (a later page load must not unhide or unminimise it; `show_main` counts as a
/// first show too), and without focus: the user may have gone back to their editor, or
/// opened the quick prompt, meanwhile. Called when its page has loaded
/// (`webview::guard`), and by `show_main_later`.
pub fn show_main_first<R: tauri::Runtime>(app: &tauri::AppHandle<R>) {
    if MAIN_SHOWN.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    if let Some(w) = app.get_webview_window("main") {
        crate::trace_start("window shown");
        let _ = w.show();
    }
}

/// Should the page never load, the main window is shown after `after` all the same,
/// so Flint never runs with no window.
pub fn show_main_later(app: &AppHandle, after: std::time::Duration) {
    let app = app.clone();
    std::thread::spawn(move || {
        std::thread::sleep(after);
        let main = app.clone();
        let _ = app.run_on_main_thread(move || show_main_first(&main));
    });
}

/// Shows the main window, brought to the front.
pub fn show_main(app: &AppHandle) {
    MAIN_SHOWN.store(true, std::sync::atomic::Ordering::SeqCst);
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
    }
}
