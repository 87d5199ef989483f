//! `cargo xtask bench`: the benchmark suite in one command (Linux only: it runs the app
//! under Xvfb and reads /proc). It builds release binaries, then prints three tables:
//!
//! 1. the app (tests/bench/app.mjs): display time, lag at paced rates, cold start,
//!    memory, opening a 200-turn session;
//! 2. the engine alone: `flint ask` beside `codex exec` against the same stand-in server
//!    streaming the same answer, as whole processes (wall time and peak RSS from GNU
//!    time); then the agent: a scripted 20-step task (commands and patches) to both,
//!    and the per-step overhead of a read-only tool;
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

pub(crate) fn run(quick: bool, agent_only: bool) -> Result {
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

    let runs = if quick { 2 } else { 5 };
    if agent_only {
        let codex = install_codex(&root, &bench_dir)?;
        return agent_task(&root, &release, &bench_dir, &codex, runs);
    }
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
            (
                "FLINT_FAKE_AGENT",
                &release.join("flint-fake-agent").display().to_string(),
            ),
            ("TAURI_DRIVER", &driver),
            ("FLINT_BENCH_QUICK", quick_env),
        ],
    )?;

    let codex = engine_only(&root, &release, &bench_dir, &answer, runs)?;
    agent_task(&root, &release, &bench_dir, &codex, runs)?;
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

/// The pinned Codex CLI in target/bench/codex (npm, the first time); its native binary.
fn install_codex(root: &Path, bench_dir: &Path) -> Result<PathBuf> {
    let codex_dir = bench_dir.join("codex");
    if codex_binary(&codex_dir).is_none() {
        step(&format!(
            "installing {CODEX} for the side-by-side runs (npm)"
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
    codex_binary(&codex_dir)
        .ok_or_else(|| "the codex package has no native binary for this system".into())
}

/// `flint ask` beside `codex exec` streaming one long answer; returns the codex binary.
fn engine_only(
    root: &Path,
    release: &Path,
    bench_dir: &Path,
    answer: &Path,
    runs: usize,
) -> Result<PathBuf> {
    let codex = install_codex(root, bench_dir)?;

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
    let ((fw, fm), (cw, cm)) = (medians(&flint), medians(&codex_runs));
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
    Ok(codex)
}

/// What the stand-in saw of one run: for each request after the first, the time from
/// the end of the previous reply to its arrival (the client's time between two steps:
/// reading the reply, running the calls, sending the results), in ms.
fn step_gaps(url: &str) -> Result<Vec<f64>> {
    use std::io::{Read, Write};
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let mut conn = std::net::TcpStream::connect(&addr).map_err(|e| e.to_string())?;
    write!(
        conn,
        "GET /__requests HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut text = String::new();
    conn.read_to_string(&mut text).map_err(|e| e.to_string())?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let list = crate::json::Json::parse(body)?;
    let num = |j: &crate::json::Json| match j {
        crate::json::Json::Num(n) => n.parse::<f64>().ok(),
        _ => None,
    };
    let reqs: Vec<(f64, Option<f64>)> = list
        .items()
        .iter()
        .filter_map(|r| Some((num(r.get("received_ms"))?, num(r.get("done_ms")))))
        .collect();
    Ok(reqs
        .windows(2)
        .filter_map(|w| Some(w[1].0 - w[0].1?))
        .collect())
}

/// The medians of runs' (wall seconds, peak MiB).
fn medians(runs: &[(f64, f64)]) -> (f64, f64) {
    let mut wall: Vec<f64> = runs.iter().map(|r| r.0).collect();
    let mut peak: Vec<f64> = runs.iter().map(|r| r.1).collect();
    (percentile(&mut wall, 0.5), percentile(&mut peak, 0.5))
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// The agent: the same scripted 20-step task (tests/fixtures/bench/agent) played by
/// the stand-in to `flint ask --mode full-auto` and to `codex exec` (workspace-write
/// sandbox, no approvals), each on a fresh copy of the project, alternating; then a
/// read-only task for the per-step overhead of `read_file`.
fn agent_task(root: &Path, release: &Path, bench_dir: &Path, codex: &Path, runs: usize) -> Result {
    step(&format!(
        "the agent: a 20-step task to `flint ask --mode full-auto` and `codex exec`, {runs} runs each"
    ));
    let fixtures = root.join("tests/fixtures/bench/agent");
    let script = fixtures.join("codex-task.json").display().to_string();
    // Codex offers apply_patch only to models it has metadata for: a catalogue entry
    // for the benchmark's model, made from one of its own (`codex debug models`). Its
    // home stays out of /tmp: its Linux sandbox helper refuses to run from there.
    let home = bench_dir.join("codex-agent-home");
    let _ = fs::remove_dir_all(&home);
    fs::create_dir_all(&home).map_err(|e| e.to_string())?;
    let home_env = home.display().to_string();
    let models = Command::new(codex)
        .args(["debug", "models"])
        .env("CODEX_HOME", &home_env)
        .output()
        .map_err(|e| format!("codex debug models: {e}"))?;
    let catalog = home.join("catalog.json");
    fs::write(home.join("models.json"), &models.stdout).map_err(|e| e.to_string())?;
    sh(
        &home,
        "node",
        &[
            "-e",
            "const fs = require('fs'); const all = JSON.parse(fs.readFileSync('models.json', 'utf8')).models; \
             const m = all.find((x) => x.apply_patch_tool_type === 'freeform') || all[0]; \
             m.slug = process.argv[1]; m.display_name = process.argv[1]; \
             fs.writeFileSync('catalog.json', JSON.stringify({ models: [m] }));",
            MODEL,
        ],
        &[],
    )?;
    let run_dir = bench_dir.join("agent-run");
    let fresh = || -> Result<PathBuf> {
        let _ = fs::remove_dir_all(&run_dir);
        copy_dir(&fixtures.join("project"), &run_dir)?;
        Ok(run_dir.clone())
    };
    let checked = |dir: &Path, who: &str| -> Result {
        let out = Command::new("sh")
            .arg("check.sh")
            .current_dir(dir)
            .output()
            .map_err(|e| e.to_string())?;
        if String::from_utf8_lossy(&out.stdout).trim() == "ok" {
            Ok(())
        } else {
            Err(format!(
                "{who} did not finish the task: {}",
                String::from_utf8_lossy(&out.stdout)
            ))
        }
    };
    let flint_env = vec![
        (
            "FLINT_DATA_DIR",
            bench_dir.join("agent-flint-data").display().to_string(),
        ),
        (
            "FLINT_CONFIG_DIR",
            bench_dir.join("flint-config").display().to_string(),
        ),
        ("OPENAI_API_KEY", "stand-in".to_string()),
    ];
    let codex_env = vec![
        ("CODEX_HOME", home_env.clone()),
        ("STANDIN_KEY", "stand-in".to_string()),
    ];
    let prompt = "Scale the nine values and make the check pass.";
    let (mut flint, mut codex_runs) = (Vec::new(), Vec::new());
    let (mut flint_gaps, mut codex_gaps) = (Vec::new(), Vec::new());
    // One `flint ask --mode MODE` run of a script on a fresh copy of the project: its
    // wall seconds and peak MiB, the project after it, and the gaps between its steps.
    let flint_run = |script: &str, model: &str, mode: &str, prompt: &str| {
        let replay = Replay::start(&release.join("flint-replay"), &["--script", script])?;
        let project = fresh()?;
        let p = project.display().to_string();
        let args = [
            "ask",
            "--project",
            &p,
            "--provider",
            "openai",
            "--base-url",
            &replay.url,
            "--model",
            model,
            "--mode",
            mode,
            prompt,
        ];
        let (s, m, _) = timed(
            &project,
            &release.join("flint"),
            &args,
            &flint_env,
            bench_dir,
        )?;
        Ok::<_, String>((s, m, project, step_gaps(&replay.url)?))
    };
    for _ in 0..runs {
        let (s, m, project, gaps) = flint_run(&script, MODEL, "full-auto", prompt)?;
        checked(&project, "flint ask")?;
        flint.push((s, m));
        flint_gaps.extend(gaps);

        let replay = Replay::start(&release.join("flint-replay"), &["--script", &script])?;
        fs::write(
            home.join("config.toml"),
            format!(
                "model = \"{MODEL}\"\nmodel_provider = \"standin\"\nmodel_catalog_json = \"{}\"\n\
                 approval_policy = \"never\"\nsandbox_mode = \"workspace-write\"\n\n\
                 [model_providers.standin]\nname = \"Stand-in\"\nbase_url = \"{}\"\n\
                 wire_api = \"responses\"\nenv_key = \"STANDIN_KEY\"\n",
                catalog.display(),
                replay.url
            ),
        )
        .map_err(|e| e.to_string())?;
        let project = fresh()?;
        let (s, m, _) = timed(
            &project,
            codex,
            &["exec", "--skip-git-repo-check", prompt],
            &codex_env,
            bench_dir,
        )?;
        checked(&project, "codex exec")?;
        codex_runs.push((s, m));
        codex_gaps.extend(step_gaps(&replay.url)?);
    }
    // The read-only steps alone: 19 read_file calls (JSON tools, a non-Codex model).
    let reads = fixtures.join("read-task.json").display().to_string();
    let mut read_gaps = Vec::new();
    for _ in 0..runs {
        read_gaps.extend(flint_run(&reads, "bench-reader", "ask", "read them")?.3);
    }
    let ((fw, fm), (cw, cm)) = (medians(&flint), medians(&codex_runs));
    println!();
    println!("| The agent, 20 steps, whole process (median of {runs}) | Wall | Peak RSS | Between steps p50 / p90 |");
    println!("|---|---|---|---|");
    println!(
        "| `flint ask --mode full-auto` (release) | {fw:.2} s | {fm:.0} MiB | {:.1} / {:.1} ms |",
        percentile(&mut flint_gaps.clone(), 0.5),
        percentile(&mut flint_gaps, 0.9)
    );
    println!(
        "| `codex exec` ({CODEX}, workspace-write) | {cw:.2} s | {cm:.0} MiB | {:.1} / {:.1} ms |",
        percentile(&mut codex_gaps.clone(), 0.5),
        percentile(&mut codex_gaps, 0.9)
    );
    println!(
        "| flint / codex (target: at most 0.5) | {:.2} | {:.2} | |",
        fw / cw,
        fm / cm
    );
    println!(
        "| a `read_file` step in Flint (target: under 5 ms) | | | {:.2} / {:.2} ms |",
        percentile(&mut read_gaps.clone(), 0.5),
        percentile(&mut read_gaps, 0.9)
    );
    println!(
        "\nThe stand-in streams each step unpaced (its own time is a few ms of the wall), so \
         the wall time is the harness's."
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
