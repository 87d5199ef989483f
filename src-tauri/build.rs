//! Tauri's build step. Flint's own commands are declared here so that each window's
//! capability (src-tauri/capabilities) must allow every command it may call: the main
//! window gets all of them, the quick-prompt window only its few. A test in lib.rs
//! checks this list against the commands the app registers.

/// Every command in `generate_handler!` (src-tauri/src/lib.rs).
const COMMANDS: &[&str] = &[
    "snapshot",
    "open_project",
    "open_dropped",
    "pick_project",
    "list_dir",
    "new_session",
    "send_prompt",
    "escalate",
    "retry",
    "stop_turn",
    "review",
    "apply_review",
    "undo",
    "redo",
    "search_files",
    "render_markdown",
    "open_url",
    "ui_ready",
    "projects",
    "preview_context",
    "quick_info",
    "quick_send",
    "quick_continue",
    "quick_hide",
    "set_quick_shortcut",
    "list_sessions",
    "search_sessions",
    "open_session",
    "rename_session",
    "fork_session",
    "delete_session",
    "export_session",
    "git_status",
    "git_diff",
    "git_stage",
    "git_unstage",
    "git_commit",
    "git_suggest_message",
    "get_settings",
    "save_settings",
    "save_key",
    "forget_key",
    "list_models",
    "test_connection",
    "detect_providers",
    "use_provider",
];

fn main() {
    // tauri-build does not watch a custom capabilities folder itself.
    println!("cargo:rerun-if-changed=src-tauri/capabilities");
    // Build scripts run in the package root, which here is the repository root.
    let attributes = tauri_build::Attributes::new()
        .capabilities_path_pattern("./src-tauri/capabilities/**/*")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        println!("cargo:warning=tauri-build failed: {e:#}");
        std::process::exit(1);
    }
}
