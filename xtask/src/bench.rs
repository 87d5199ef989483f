//! `cargo xtask bench`: the benchmark suite in one command (Linux only: it runs the app
//! under Xvfb and reads /proc). It builds release binaries, then prints three tables:
//!
//! 1. the app (tests/bench/app.mjs): display time, lag at paced rates, cold start,
//!    memory, opening a 200-turn session;
//! 2. the engine alone: `flint ask` beside `codex exec` against the same stand-in server
//!    streaming the same answer, as whole processes (wall time and peak RSS from GNU
//!    time);
//! 3. the criterion benchmarks of the hot paths (SSE parse, block split and render,
//!    highlight, patch planning and hunks).
//!
//! Results and the machine they were taken on are kept in docs/benchmarks.md.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::{
    apt_ensure, build_ui, cargo_bin, have, npm, output, setup, sh, step, target_dir, Result,
    APP_FEATURES,
};

/// The Codex CLI compared against, pinned so runs compare like with like.
const CODEX: &str = "@openai/codex@0.169.0";
const MODEL: &str = "gpt-5.3-codex-spark";
const PROMPT: &str = "Walk me through the code paths of this project.";

pub(crate) fn run(quick: bool) -> Result {
    if !cfg!(target_os = "linux") {
        return Err("the benchmark suite runs on Linux (Xvfb and /proc)".into());
    }
    setup()?;
    apt_ensure(&["time"])?; // GNU time: wall time and peak memory of a whole process
    build_ui()?;
    let root = crate::root();
    step("release build: the app, the stand-in server and the benchmark helpers");
    let mut build = vec![
        "build",
        "--release",
        "--package",
        "flint",
        "--package",
        "flint-replay",
        "--package",
        "flint-store",
        "--package",
        "flint-core",
        "--bins",
        "--examples",
    ];
    build.extend(APP_FEATURES);
    sh(&root, "cargo", &build, &[])?;

    let release = target_dir(&root).join("release");
    let bench_dir = target_dir(&root).join("bench");
    fs::create_dir_all(&bench_dir)
        .map_err(|e| format!("cannot create {}: {e}", bench_dir.display()))?;
    let answer = root.join("tests/fixtures/bench/answer.md");
    let tokens = output(
        release.join("examples/count_tokens"),
        &[&answer.display().to_string(), MODEL],
    )?;
    step(&format!(
        "the answer: tests/fixtures/bench/answer.md, {} bytes, {} tokens (o200k_base)",
        fs::metadata(&answer).map(|m| m.len()).unwrap_or(0),
        tokens.trim()
    ));

    step("the app under Xvfb (tests/bench/app.mjs; about 3 minutes)");
    let driver = if have("tauri-driver", "--help") {
        "tauri-driver".to_string()
    } else {
        cargo_bin("tauri-driver").display().to_string()
    };
    let quick_env = if quick { "1" } else { "0" };
    sh(
        &root,
        "node",
        &["tests/bench/app.mjs"],
        &[
            ("FLINT_APP", &release.join("flint").display().to_string()),
            (
                "FLINT_REPLAY",
                &release.join("flint-replay").display().to_string(),
            ),
            (
                "FLINT_MAKE_SESSION",
                &release.join("examples/make_session").display().to_string(),
            ),
            ("TAURI_DRIVER", &driver),
            ("FLINT_BENCH_QUICK", quick_env),
        ],
    )?;

    engine_only(
        &root,
        &release,
        &bench_dir,
        &answer,
        if quick { 2 } else { 5 },
    )?;
    hot_paths(&root, quick)
}

/// The stand-in server, stopped when dropped.
struct Replay {
    child: Child,
    url: String,
}

impl Replay {
    fn start(exe: &Path, args: &[&str]) -> Result<Self> {
        let mut child = Command::new(exe)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", exe.display()))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("flint-replay did not start: {line}"))?
            .to_string();
        Ok(Self { child, url })
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One whole-process run: wall seconds and peak RSS in MiB (GNU time), and stdout.
fn timed(
    dir: &Path,
    program: &Path,
    args: &[&str],
    envs: &[(&str, String)],
    scratch: &Path,
) -> Result<(f64, f64, String)> {
    let report = scratch.join("time.txt");
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%e %M", "-o"])
        .arg(&report)
        .arg(program)
        .args(args)
        .current_dir(dir)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("could not run {}: {e}", program.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} {} failed ({})",
            program.display(),
            args.join(" "),
            out.status
        ));
    }
    let text = fs::read_to_string(&report).map_err(|e| format!("no timing: {e}"))?;
    let mut it = text.split_whitespace();
    let secs: f64 = it.next().and_then(|v| v.parse().ok()).ok_or("bad timing")?;
    let kib: f64 = it.next().and_then(|v| v.parse().ok()).ok_or("bad timing")?;
    Ok((
        secs,
        kib / 1024.0,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// A scratch git repository copied from the fixture project.
fn scratch_project(root: &Path, bench_dir: &Path) -> Result<PathBuf> {
    let project = bench_dir.join("project");
    let _ = fs::remove_dir_all(&project);
    copy_dir(&root.join("tests/fixtures/project"), &project)?;
    let git = |args: &[&str]| {
        sh(
            &project,
            "git",
            args,
            &[
                ("GIT_AUTHOR_NAME", "Flint Bench"),
                ("GIT_AUTHOR_EMAIL", "bench@flint.invalid"),
                ("GIT_COMMITTER_NAME", "Flint Bench"),
                ("GIT_COMMITTER_EMAIL", "bench@flint.invalid"),
            ],
        )
    };
    git(&["init", "-q"])?;
    git(&["add", "."])?;
    git(&["commit", "-q", "-m", "fixture"])?;
    Ok(project)
}

fn copy_dir(from: &Path, to: &Path) -> Result {
    fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    for entry in fs::read_dir(from).map_err(|e| format!("cannot read {}: {e}", from.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let dest = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            fs::copy(entry.path(), &dest).map_err(|e| format!("cannot copy: {e}"))?;
        }
    }
    Ok(())
}

/// The native codex binary inside the npm package (the package's `codex` is a node
/// wrapper that starts it; measuring the binary leaves node out of the figures).
fn codex_binary(dir: &Path) -> Option<PathBuf> {
    let vendor = fs::read_dir(dir.join("node_modules/@openai")).ok()?;
    for pkg in vendor.flatten() {
        let Ok(triples) = fs::read_dir(pkg.path().join("vendor")) else {
            continue;
        };
        for t in triples.flatten() {
            let exe = t.path().join("bin/codex");
            if exe.is_file() {
                return Some(exe);
            }
        }
    }
    None
}

fn engine_only(
    root: &Path,
    release: &Path,
    bench_dir: &Path,
    answer: &Path,
    runs: usize,
) -> Result {
    let codex_dir = bench_dir.join("codex");
    if codex_binary(&codex_dir).is_none() {
        step(&format!(
            "installing {CODEX} for the side-by-side run (npm)"
        ));
        fs::create_dir_all(&codex_dir).map_err(|e| e.to_string())?;
        let prefix = codex_dir.display().to_string();
        sh(
            root,
            npm(),
            &[
                "install",
                "--prefix",
                &prefix,
                "--no-save",
                "--no-fund",
                "--no-audit",
                CODEX,
            ],
            &[],
        )?;
    }
    let codex =
        codex_binary(&codex_dir).ok_or("the codex package has no native binary for this system")?;

    step(&format!(
        "the engine alone: `flint ask` and `codex exec`, {runs} runs each, alternating"
    ));
    let project = scratch_project(root, bench_dir)?;
    let replay = Replay::start(
        &release.join("flint-replay"),
        &["--answer", &answer.display().to_string()],
    )?;
    let codex_home = bench_dir.join("codex-home");
    fs::create_dir_all(&codex_home).map_err(|e| e.to_string())?;
    fs::write(
        codex_home.join("config.toml"),
        format!(
            "model = \"{MODEL}\"\nmodel_provider = \"standin\"\n\n[model_providers.standin]\n\
             name = \"Stand-in\"\nbase_url = \"{}\"\nwire_api = \"responses\"\nenv_key = \"STANDIN_KEY\"\n",
            replay.url
        ),
    )
    .map_err(|e| e.to_string())?;
    let flint_data = bench_dir.join("flint-data");
    let _ = fs::remove_dir_all(&flint_data);
    let expected = fs::read_to_string(answer).map_err(|e| e.to_string())?;
    let flint_env = vec![
        ("FLINT_DATA_DIR", flint_data.display().to_string()),
        (
            "FLINT_CONFIG_DIR",
            bench_dir.join("flint-config").display().to_string(),
        ),
        ("OPENAI_API_KEY", "stand-in".to_string()),
    ];
    let codex_env = vec![
        ("CODEX_HOME", codex_home.display().to_string()),
        ("STANDIN_KEY", "stand-in".to_string()),
    ];
    let project_arg = project.display().to_string();
    let flint_args = [
        "ask",
        "--project",
        &project_arg,
        "--provider",
        "openai",
        "--base-url",
        &replay.url,
        "--model",
        MODEL,
        PROMPT,
    ];
    let codex_args = ["exec", "--skip-git-repo-check", PROMPT];
    let (mut flint, mut codex_runs) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (s, m, out) = timed(
            &project,
            &release.join("flint"),
            &flint_args,
            &flint_env,
            bench_dir,
        )?;
        if out != expected {
            return Err(format!(
                "flint ask printed {} bytes, not the {} of the answer",
                out.len(),
                expected.len()
            ));
        }
        flint.push((s, m));
        let (s, m, out) = timed(&project, &codex, &codex_args, &codex_env, bench_dir)?;
        if !out.contains(expected.trim_end()) {
            return Err(format!(
                "codex exec did not print the answer ({} bytes out)",
                out.len()
            ));
        }
        codex_runs.push((s, m));
    }
    drop(replay);
    let med = |v: &[(f64, f64)], i: usize| {
        let mut x: Vec<f64> = v.iter().map(|p| if i == 0 { p.0 } else { p.1 }).collect();
        x.sort_by(|a, b| a.total_cmp(b));
        x[x.len() / 2]
    };
    let (fw, fm, cw, cm) = (
        med(&flint, 0),
        med(&flint, 1),
        med(&codex_runs, 0),
        med(&codex_runs, 1),
    );
    println!();
    println!("| Engine only, whole process (median of {runs}) | Wall | Peak RSS |");
    println!("|---|---|---|");
    println!("| `flint ask` (release) | {fw:.2} s | {fm:.0} MiB |");
    println!("| `codex exec` ({CODEX}, native binary) | {cw:.2} s | {cm:.0} MiB |");
    println!(
        "| flint / codex (target: at most 0.5) | {:.2} | {:.2} |",
        fw / cw,
        fm / cm
    );
    Ok(())
}

/// The criterion benchmarks of the hot paths, as one table of medians.
fn hot_paths(root: &Path, quick: bool) -> Result {
    step("criterion benchmarks of the hot paths");
    let benches = [
        ("flint-model", "sse"),
        ("flint-render", "render"),
        ("flint-edit", "apply"),
    ];
    let criterion = target_dir(root).join("criterion");
    let started = std::time::SystemTime::now();
    for (package, bench) in benches {
        let mut args = vec!["bench", "--package", package, "--bench", bench];
        if quick {
            args.extend(["--", "--warm-up-time", "1", "--measurement-time", "2"]);
        }
        sh(root, "cargo", &args, &[])?;
    }
    let mut rows = Vec::new();
    collect_estimates(&criterion, &criterion, started, &mut rows);
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    println!();
    println!("| Hot path (criterion, median) | Time |");
    println!("|---|---|");
    for (id, ns) in rows {
        let shown = if ns >= 1e6 {
            format!("{:.2} ms", ns / 1e6)
        } else {
            format!("{:.1} us", ns / 1e3)
        };
        println!("| {id} | {shown} |");
    }
    Ok(())
}

/// Every `new/estimates.json` under `dir` written by this run: (benchmark id, median ns).
fn collect_estimates(
    base: &Path,
    dir: &Path,
    since: std::time::SystemTime,
    rows: &mut Vec<(String, f64)>,
) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if !p.is_dir() {
            continue;
        }
        let est = p.join("new/estimates.json");
        let fresh = fs::metadata(&est)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= since);
        if fresh {
            if let Some(ns) = fs::read_to_string(&est).ok().as_deref().and_then(median_ns) {
                let id = p.strip_prefix(base).unwrap_or(&p).display().to_string();
                rows.push((id, ns));
            }
        } else if p
            .file_name()
            .is_some_and(|n| n != "new" && n != "base" && n != "report")
        {
            collect_estimates(base, &p, since, rows);
        }
    }
}

/// The median's point estimate from criterion's estimates.json (no JSON parser here:
/// xtask has no dependencies, and the file's shape is fixed).
fn median_ns(json: &str) -> Option<f64> {
    let at = json.find("\"median\"")?;
    let rest = &json[at..];
    let pe = rest.find("\"point_estimate\":")? + "\"point_estimate\":".len();
    let num: String = rest[pe..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        .collect();
    num.parse().ok()
}
