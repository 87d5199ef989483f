//! Project awareness on a synthetic 100,000-file git repository (made here, in a
//! temporary folder): file index build, save -> Flint knows (watcher latency), git
//! status full and per path beside `git status`, and context assembly for a prompt
//! mentioning five files. Prints a table.
//!
//!     cargo bench -p flint-core --bench project            (FLINT_BENCH_FILES=20000 for a quick run)

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark stops loudly

use std::path::Path;
use std::process::Command;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use flint_core::model::fake::FakeModel;
use flint_core::store::Store;
use flint_core::{Engine, SlotClient};
use flint_project::{FileIndex, ProjectWatcher, WatchEvent};

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn git(root: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(args)
        .current_dir(root)
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "git {args:?}");
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // cargo test --benches asks for a list
    }
    let files: usize = std::env::var("FLINT_BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    println!("making a {files}-file repository in {} ...", root.display());
    let t = Instant::now();
    for i in 0..files {
        let dir = root.join(format!("src/m{:03}/d{:02}", i % 500, (i / 500) % 20));
        if i < 10_000 || i % 500 == 0 {
            std::fs::create_dir_all(&dir).unwrap();
        }
        std::fs::write(
            dir.join(format!("f{i}.rs")),
            format!("pub fn f{i}() -> usize {{ {i} }}\n"),
        )
        .unwrap();
    }
    std::fs::write(root.join(".gitignore"), "target/\n").unwrap();
    git(&root, &["init", "-q"]);
    git(&root, &["add", "-A"]);
    git(
        &root,
        &[
            "-c",
            "user.name=b",
            "-c",
            "user.email=b@b",
            "commit",
            "-qm",
            "init",
        ],
    );
    println!("  made in {:.1} s\n", t.elapsed().as_secs_f64());

    let mut rows: Vec<(String, String)> = Vec::new();

    // 1. Index build (cold page cache is not controlled; runs 2..4 are reported).
    let mut builds = Vec::new();
    let mut index = FileIndex::default();
    for _ in 0..4 {
        let t = Instant::now();
        index = FileIndex::build(&root);
        builds.push(t.elapsed());
    }
    assert!(index.len() >= files);
    rows.push((
        "index build (files listed)".into(),
        format!(
            "{} ({} files)",
            ms(percentile(&mut builds[1..].to_vec(), 0.5)),
            index.len()
        ),
    ));
    let t = Instant::now();
    for q in ["f4242", "m123d07", "src/m4/f9"] {
        let _ = index.search(q, 20);
    }
    rows.push(("fuzzy search, 3 queries".into(), ms(t.elapsed())));

    // 1b. The agent's snapshots around a command: the first (every file read into the
    // private store), then after one file changed (the stat cache: only it is read).
    let data = tempfile::tempdir().unwrap();
    let mut snaps = flint_core::store::Snapshots::open(data.path(), &root).unwrap();
    let t = Instant::now();
    let mut last = snaps.take().unwrap();
    rows.push(("snapshot, first (all files hashed)".into(), ms(t.elapsed())));
    let mut times = Vec::new();
    for i in 0..5 {
        std::fs::write(
            root.join(format!("src/m00{i}/d00/f{i}.rs")),
            format!("// snap {i}\n"),
        )
        .unwrap();
        let t = Instant::now();
        let now = snaps.take().unwrap();
        times.push(t.elapsed());
        assert_eq!(snaps.changes(&last, &now).unwrap().len(), 1);
        last = now;
    }
    rows.push((
        "snapshot after one change, median of 5".into(),
        ms(percentile(&mut times, 0.5)),
    ));
    drop(snaps);
    let t = Instant::now();
    let mut reopened = flint_core::store::Snapshots::open(data.path(), &root).unwrap();
    assert_eq!(reopened.take().unwrap(), last);
    rows.push((
        "snapshot after a restart (stat cache read back)".into(),
        ms(t.elapsed()),
    ));

    // 2. Save -> Flint knows: time from a write to the watcher's batch naming the file.
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let watcher = ProjectWatcher::start(&root, move |e| {
        if let WatchEvent::Changed(p) = e {
            let _ = tx.lock().unwrap().send((Instant::now(), p));
        }
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    while rx.try_recv().is_ok() {}
    let mut lat = Vec::new();
    let mut lat_in_order = Vec::new();
    for i in 0..60 {
        let rel = format!("src/m{:03}/d00/f{}.rs", i, i);
        let t = Instant::now();
        std::fs::write(root.join(&rel), format!("// saved {i}\n")).unwrap();
        loop {
            let (at, paths) = rx
                .recv_timeout(Duration::from_secs(10))
                .expect("the watcher reported nothing");
            if paths.contains(&rel) {
                lat.push(at - t);
                lat_in_order.push(at - t);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    rows.push((
        format!(
            "save -> Flint knows, median ({} debounce){}",
            ms(flint_project::DEBOUNCE),
            if watcher.polling() { ", POLLING" } else { "" }
        ),
        ms(percentile(&mut lat, 0.5)),
    ));
    rows.push((
        "save -> Flint knows, p90 / p99 / max".into(),
        format!(
            "{} / {} / {}",
            ms(percentile(&mut lat, 0.9)),
            ms(percentile(&mut lat, 0.99)),
            ms(percentile(&mut lat, 1.0))
        ),
    ));
    println!(
        "save -> Flint knows, every save in order (ms): {:?}",
        lat_in_order
            .iter()
            .map(|d| (d.as_secs_f64() * 1000.0).round() as u64)
            .collect::<Vec<_>>()
    );

    // 3. Git status: the app's full status (flint_project::status: untracked files listed,
    //    renames in the index found) beside `git status --porcelain`, alternating, five
    //    of each after one warm-up of each; then libgit2 per changed path.
    let repo = git2::Repository::open(&root).unwrap();
    let mut ours = Vec::new();
    let mut kept = Vec::new();
    let mut theirs = Vec::new();
    let mut libgit2 = Vec::new();
    let mut changed = (0, 0);
    // What a kept reader holds (its handles' index and object caches): the process's
    // resident memory before and after its first read, before any other status (roughly:
    // the allocator may keep what the read freed, or reuse what earlier sections freed).
    let rss_kib = || {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .unwrap_or(0)
    };
    let before = rss_kib();
    let reader = flint_project::StatusReader::new(&root);
    let _ = reader.read().unwrap();
    rows.push((
        "git status reader, memory it keeps (resident growth over its first read)".into(),
        format!(
            "{:.1} MiB",
            (rss_kib().saturating_sub(before)) as f64 / 1024.0
        ),
    ));
    for round in 0..6 {
        let t = Instant::now();
        let n = flint_project::status(&root).unwrap().unwrap().changes.len();
        let a = t.elapsed();
        let t = Instant::now();
        let k = reader.read().unwrap().unwrap().changes.len();
        let c = t.elapsed();
        assert_eq!(k, n, "the kept reader and a fresh one agree");
        let t = Instant::now();
        let l = flint_project::status_libgit2(&root)
            .unwrap()
            .unwrap()
            .changes
            .len();
        let d = t.elapsed();
        assert_eq!(l, n, "gitoxide's read and libgit2's agree");
        let t = Instant::now();
        let out = Command::new("git")
            .args(["status", "--porcelain"])
            .current_dir(&root)
            .output()
            .unwrap();
        let b = t.elapsed();
        changed = (
            n,
            out.stdout
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .count(),
        );
        if round > 0 {
            ours.push(a);
            kept.push(c);
            theirs.push(b);
            libgit2.push(d);
        }
    }
    let (ours, kept, theirs, libgit2) = (
        percentile(&mut ours, 0.5),
        percentile(&mut kept, 0.5),
        percentile(&mut theirs, 0.5),
        percentile(&mut libgit2, 0.5),
    );
    rows.push((
        "git status, full, as the app reads it again (handles kept) / `git status`".into(),
        format!(
            "{} / {} ({:.2}x)",
            ms(kept),
            ms(theirs),
            kept.as_secs_f64() / theirs.as_secs_f64()
        ),
    ));
    // The same reader just after the index changed (a file staged, then unstaged, by git
    // between reads): its handles parse the index again, as after the user's git command.
    let mut after_index = Vec::new();
    for round in 0..5 {
        let path = "src/m000/d00/f0.rs";
        if round % 2 == 0 {
            git(&root, &["add", path]);
        } else {
            git(&root, &["reset", "-q", "--", path]);
        }
        let t = Instant::now();
        let _ = reader.read().unwrap().unwrap();
        after_index.push(t.elapsed());
    }
    let after_index = percentile(&mut after_index, 0.5);
    rows.push((
        "git status, full, kept handles just after the index changed / `git status`".into(),
        format!(
            "{} / {} ({:.2}x)",
            ms(after_index),
            ms(theirs),
            after_index.as_secs_f64() / theirs.as_secs_f64()
        ),
    ));
    rows.push((
        "git status, full, read once: Flint (gitoxide) / `git status --porcelain`, median of 5"
            .into(),
        format!(
            "{} / {} ({:.2}x; {} / {} changed)",
            ms(ours),
            ms(theirs),
            ours.as_secs_f64() / theirs.as_secs_f64(),
            changed.0,
            changed.1
        ),
    ));
    rows.push((
        "git status, full, read once by libgit2 in one pass (Flint before) / `git status`".into(),
        format!(
            "{} / {} ({:.2}x)",
            ms(libgit2),
            ms(theirs),
            libgit2.as_secs_f64() / theirs.as_secs_f64()
        ),
    ));
    let t = Instant::now();
    for i in 0..60 {
        let _ = repo
            .status_file(Path::new(&format!("src/m{:03}/d00/f{}.rs", i, i)))
            .unwrap();
    }
    rows.push((
        "git status, 60 changed paths one by one (libgit2)".into(),
        ms(t.elapsed()),
    ));
    // The app's read after saves: the kept reader, the paths in one gitoxide pass; and
    // one saved path alone (median of 5).
    let saved: Vec<String> = (0..60)
        .map(|i| format!("src/m{:03}/d00/f{}.rs", i, i))
        .collect();
    let _ = reader.read_paths(&saved[..1]).unwrap();
    let t = Instant::now();
    let read = reader.read_paths(&saved).unwrap();
    let all = t.elapsed();
    assert_eq!(read.iter().filter(|(_, c)| c.is_some()).count(), 60);
    let mut one = Vec::new();
    for p in saved.iter().take(5) {
        let t = Instant::now();
        let _ = reader.read_paths(std::slice::from_ref(p)).unwrap();
        one.push(t.elapsed());
    }
    rows.push((
        "git status after saves, as the app reads it: 60 paths at once / 1 path (gitoxide)".into(),
        format!("{} / {}", ms(all), ms(percentile(&mut one, 0.5))),
    ));
    // 4. Context assembly for a prompt with five mentioned files.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let db = tempfile::tempdir().unwrap();
    let engine = Engine::new(
        Store::open(&db.path().join("flint.db")).unwrap(),
        Some(SlotClient::new(
            Arc::new(FakeModel::new()),
            "openai",
            "gpt-5.3-codex-spark",
        )),
        None,
    );
    let prompt = "compare @src/m001/d00/f1.rs @src/m002/d00/f2.rs @src/m003/d00/f3.rs @src/m004/d00/f4.rs @src/m005/d00/f5.rs";
    flint_core::context::warm();
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let (_, report) = rt
            .block_on(engine.preview_context(&root, None, prompt, true))
            .unwrap();
        times.push(t.elapsed());
        assert_eq!(
            report
                .sections
                .iter()
                .filter(|s| s.name.starts_with('@'))
                .count(),
            5
        );
    }
    rows.push((
        "context assembly, 5 mentioned files, median".into(),
        ms(percentile(&mut times, 0.5)),
    ));

    drop(watcher);
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    println!("{:w$}  time", "what");
    for (k, v) in rows {
        println!("{k:w$}  {v}");
    }
}
