//! Tauri's build step. Flint's own commands are declared here so that each window's
//! capability (src-tauri/capabilities) must allow every command it may call: the main
//! window gets all of them, the quick-prompt window only its few. The list is the one
//! `generate_handler!` uses (src-tauri/src/command_list.rs); a test in lib.rs checks the
//! capabilities against it.

include!("src/command_list.rs");

macro_rules! names {
    ($($module:ident :: $name:ident),* $(,)?) => {
        &[$(stringify!($name)),*]
    };
}

/// Every command the app registers, from the one list (src-tauri/src/command_list.rs).
const COMMANDS: &[&str] = with_commands!(names);

fn main() {
    // tauri-build does not watch a custom capabilities folder itself.
    println!("cargo:rerun-if-changed=src-tauri/capabilities");
    println!("cargo:rerun-if-changed=src-tauri/src/command_list.rs");
    // Build scripts run in the package root, which here is the repository root.
    let attributes = tauri_build::Attributes::new()
        .capabilities_path_pattern("./src-tauri/capabilities/**/*")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        println!("cargo:warning=tauri-build failed: {e:#}");
        std::process::exit(1);
    }
}
