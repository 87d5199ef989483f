//! `cargo xtask bundle [TAURI BUILD ARGS...]`: the installable packages for this system,
//! built by the Tauri CLI from ui/node_modules (release build, embedded UI, icons and
//! metadata from tauri.conf.json). Without `--bundles` it builds what works offline:
//! .deb and .rpm on Linux (an AppImage downloads linuxdeploy: CI asks for it), .app and
//! .dmg on macOS, .msi and the NSIS installer on Windows.
//!
//! On Debian/Ubuntu it then checks the .deb as a user would meet it: installed with
//! apt (which pulls its dependencies), the installed `flint` started on a virtual display
//! until it paints its window, then removed again.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{apt_get, have, output, setup, sh, step, target_dir, Result};

pub(crate) fn run(args: &[String]) -> Result {
    setup()?;
    let root = crate::root();
    build(&root, args)?;
    if cfg!(target_os = "linux") && have("dpkg-query", "--version") {
        check_deb(&root)
    } else {
        Ok(())
    }
}

fn build(root: &Path, args: &[String]) -> Result {
    let cli = root.join("ui/node_modules/@tauri-apps/cli/tauri.js");
    let cli = cli.display().to_string();
    let mut cmd: Vec<&str> = vec![&cli, "build"];
    if !args.iter().any(|a| a == "--bundles" || a == "-b") {
        cmd.push("--bundles");
        cmd.push(if cfg!(target_os = "linux") {
            "deb,rpm"
        } else if cfg!(target_os = "macos") {
            "app,dmg"
        } else {
            "msi,nsis"
        });
    }
    cmd.extend(args.iter().map(String::as_str));
    step("building the packages (Tauri bundler; a release build, several minutes cold)");
    sh(root, "node", &cmd, &[])
}

fn deb_file(root: &Path) -> Result<PathBuf> {
    let dir = target_dir(root).join("release/bundle/deb");
    let mut debs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("no .deb was built ({}: {e})", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    debs.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    debs.pop()
        .ok_or_else(|| format!("no .deb in {}", dir.display()))
}

fn check_deb(root: &Path) -> Result {
    let deb = deb_file(root)?;
    let deb_arg = deb.display().to_string();
    let package = output("dpkg-deb", &["--field", &deb_arg, "Package"])?;
    let package = package.trim().to_string();
    step(&format!(
        "installing {} (apt, with its dependencies)",
        deb.display()
    ));
    apt_get(&["install", "-y", "--no-install-recommends", &deb_arg])?;
    let result = started_installed(&package);
    step(&format!("removing {package} again"));
    let removed = apt_get(&["remove", "-y", &package]);
    result.and(removed)
}

/// The installed files are where a desktop looks for them, and the installed binary
/// starts and paints its window.
fn started_installed(package: &str) -> Result {
    let files = output("dpkg", &["--listfiles", package])?;
    let exe = files
        .lines()
        .find(|l| l.starts_with("/usr/bin/"))
        .ok_or("the package installs no program in /usr/bin")?
        .to_string();
    for wanted in [".desktop", "/icons/hicolor/"] {
        if !files.lines().any(|l| l.contains(wanted)) {
            return Err(format!("the package installs no {wanted} file"));
        }
    }
    step(&format!(
        "starting the installed {exe} on a virtual display"
    ));
    let (display, mut xvfb) = start_xvfb()?;
    let scratch = std::env::temp_dir().join(format!("flint-deb-check-{}", std::process::id()));
    let result = (|| {
        let mut app = Command::new(&exe)
            .env("DISPLAY", &display)
            .env("FLINT_DATA_DIR", scratch.join("data"))
            .env("FLINT_CONFIG_DIR", scratch.join("config"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not start {exe}: {e}"))?;
        let (tx, rx) = mpsc::channel();
        if let Some(err) = app.stderr.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(std::io::Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        let painted = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains("first paint") => break Some(line),
                Ok(line) => seen.push(line),
                Err(_) => break None,
            }
        };
        let _ = app.kill();
        let _ = app.wait();
        match painted {
            Some(line) => {
                println!("the installed app started: {line}");
                Ok(())
            }
            None => Err(format!(
                "the installed app did not paint its window within 60 s; it said:\n{}",
                seen.join("\n")
            )),
        }
    })();
    let _ = xvfb.kill();
    let _ = xvfb.wait();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn start_xvfb() -> Result<(String, std::process::Child)> {
    for n in 200..300 {
        if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
            || Path::new(&format!("/tmp/.X{n}-lock")).exists()
        {
            continue;
        }
        let mut child = Command::new("Xvfb")
            .args([
                &format!(":{n}"),
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("could not start Xvfb: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
                return Ok((format!(":{n}"), child));
            }
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
    }
    Err("could not start Xvfb on any display from :200 to :299".into())
}
