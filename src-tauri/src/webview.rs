//! The webview's boundary: it shows Flint's own page and nothing else. Answers can hold
//! links (opened in the system browser by `open_url`, never in the app), but WebKit's
//! own context menu ("Open Link"), a drag of a link, or anything else that navigates the
//! window would put a foreign page where the app's IPC is reachable. Every navigation
//! is checked here, for every webview.

use tauri::plugin::{Builder, TauriPlugin};
use tauri::{Manager, Runtime, Url};

/// The plugin that refuses navigation away from the app's page.
pub fn guard<R: Runtime>() -> TauriPlugin<R> {
    Builder::new("navigation-guard")
        .on_navigation(|_webview, url| {
            crate::trace_start("navigation asked");
            own_page(url)
        })
        .on_webview_ready(|_| crate::trace_start("webview made"))
        .on_page_load(|webview, load| match load.event() {
            tauri::webview::PageLoadEvent::Started => crate::trace_start("page load started"),
            // The main window is shown once its page (the bundle, its script and
            // styles) has loaded. Shown before that, GTK draws the webview at once, and
            // WebKitGTK's first draw blocks the main thread up to 500 ms waiting for
            // the web process's first frame, while the web process waits on that same
            // thread: for its navigation's policy, then for the page's files (the app's
            // protocol is served on the main thread). Measured under Xvfb, half of all
            // starts painted ~500 ms later (docs/benchmarks.md, cold start).
            tauri::webview::PageLoadEvent::Finished => {
                crate::trace_start("page load finished");
                if webview.label() == "main" {
                    crate::windows::show_main_first(webview.app_handle());
                }
            }
        })
        .build()
}

/// Whether `url` is the app's own page: `tauri://localhost` (Linux, macOS),
/// `http(s)://tauri.localhost` (Windows), and only in a development build (the UI
/// served by Vite) a localhost address.
pub fn own_page(url: &Url) -> bool {
    let host = url.host_str();
    match url.scheme() {
        "tauri" => !cfg!(windows) && host == Some("localhost") && url.port().is_none(),
        // Exactly the app's origin: another port on tauri.localhost is a real request.
        "http" | "https" if host == Some("tauri.localhost") => {
            cfg!(windows) && url.port().is_none()
        }
        "http" | "https" => {
            matches!(host, Some("localhost" | "127.0.0.1")) && !cfg!(feature = "custom-protocol")
        }
        "about" => url.path() == "blank",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_apps_own_page_is_shown() {
        let ok = |s: &str| own_page(&Url::parse(s).unwrap());
        assert_eq!(ok("tauri://localhost/index.html"), !cfg!(windows));
        assert_eq!(ok("http://tauri.localhost/"), cfg!(windows));
        assert!(!ok("http://tauri.localhost:8080/"));
        assert!(!ok("tauri://localhost:1234/"));
        assert!(ok("about:blank"));
        for foreign in [
            "https://example.com/",
            "http://evil.example/tauri.localhost",
            "tauri://evil/",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "data:text/html,<script>1</script>",
        ] {
            assert!(!ok(foreign), "{foreign}");
        }
        assert_eq!(
            ok("http://localhost:5173/"),
            !cfg!(feature = "custom-protocol")
        );
    }
}
