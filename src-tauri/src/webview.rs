//! The webview's boundary: it shows Flint's own page and nothing else. Answers can hold
//! links (opened in the system browser by `open_url`, never in the app), but WebKit's
//! own context menu ("Open Link"), a drag of a link, or anything else that navigates the
//! window would put a foreign page where the app's IPC is reachable. Every navigation
//! is checked here, for every webview.

use tauri::plugin::{Builder, TauriPlugin};
use tauri::{Runtime, Url};

/// The plugin that refuses navigation away from the app's page.
pub fn guard<R: Runtime>() -> TauriPlugin<R> {
    Builder::new("navigation-guard")
        .on_navigation(|_webview, url| own_page(url))
        .build()
}

/// Whether `url` is the app's own page: `tauri://localhost` (Linux, macOS),
/// `http(s)://tauri.localhost` (Windows), and only in a development build (the UI
/// served by Vite) a localhost address.
pub fn own_page(url: &Url) -> bool {
    match url.scheme() {
        "tauri" => url.host_str() == Some("localhost"),
        "http" | "https" => match url.host_str() {
            Some("tauri.localhost") => true,
            Some("localhost" | "127.0.0.1") => !cfg!(feature = "custom-protocol"),
            _ => false,
        },
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
        assert!(ok("tauri://localhost/index.html"));
        assert!(ok("http://tauri.localhost/"));
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
