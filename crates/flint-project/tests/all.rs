//! The project on disk: ignore rules and git state, on folders and repositories made here.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::fs;
use std::path::Path;

use flint_project::ProjectDir;
use git2::{Repository, Signature};

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn names(p: &ProjectDir, dir: &str) -> Vec<String> {
    p.list_dir(dir)
        .unwrap()
        .into_iter()
        .map(|e| e.path)
        .collect()
}

#[test]
fn the_tree_respects_ignore_files_at_every_level() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(root, ".gitignore", "target/\n*.log\n");
    write(root, "src/.gitignore", "generated.rs\n");
    write(root, "src/main.rs", "fn main() {}");
    write(root, "src/generated.rs", "// generated");
    write(root, "src/nested/deep.rs", "");
    write(root, "target/debug/app", "bin");
    write(root, "build.log", "log");
    write(root, ".ignore", "secret.txt\n");
    write(root, "secret.txt", "");
    write(root, "README.md", "");
    Repository::init(root).unwrap();
    let p = ProjectDir::open(root).unwrap();
    // Folders first, then files, case-insensitively; .git is never listed.
    assert_eq!(
        names(&p, ""),
        vec!["src", ".gitignore", ".ignore", "README.md"]
    );
    assert_eq!(
        names(&p, "src"),
        vec!["src/nested", "src/.gitignore", "src/main.rs"]
    );
    assert_eq!(names(&p, "src/nested"), vec!["src/nested/deep.rs"]);
    assert_eq!(p.list_dir("../").unwrap_err().code(), "outside_project");
}

#[test]
fn gitignore_applies_without_a_repository_too() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), ".gitignore", "*.log\n");
    write(tmp.path(), "a.log", "");
    write(tmp.path(), "a.txt", "");
    let p = ProjectDir::open(tmp.path()).unwrap();
    assert_eq!(names(&p, ""), vec![".gitignore", "a.txt"]);
    assert!(p.info().git.is_none());
}

fn commit(repo: &Repository, file: &str) -> git2::Oid {
    let root = repo.workdir().unwrap().to_path_buf();
    write(&root, file, file);
    let mut index = repo.index().unwrap();
    index.add_path(Path::new(file)).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = Signature::now("Test", "test@example.com").unwrap();
    let parents: Vec<git2::Commit> = repo
        .head()
        .ok()
        .and_then(|h| h.peel_to_commit().ok())
        .into_iter()
        .collect();
    let parents: Vec<&git2::Commit> = parents.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, "commit", &tree, &parents)
        .unwrap()
}

#[test]
fn git_states_unborn_branch_and_detached() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repository::init(tmp.path()).unwrap();
    repo.set_head("refs/heads/trunk").unwrap();

    let git = ProjectDir::open(tmp.path()).unwrap().info().git.unwrap();
    assert_eq!(
        (git.branch.as_str(), git.unborn, git.detached),
        ("trunk", true, false)
    );

    let first = commit(&repo, "a.txt");
    let git = ProjectDir::open(tmp.path()).unwrap().info().git.unwrap();
    assert_eq!(
        (git.branch.as_str(), git.unborn, git.detached),
        ("trunk", false, false)
    );

    commit(&repo, "b.txt");
    repo.set_head_detached(first).unwrap();
    let git = ProjectDir::open(tmp.path()).unwrap().info().git.unwrap();
    assert!(git.detached);
    assert_eq!(git.branch, first.to_string()[..7]);

    // A subfolder of a repository reports the repository's branch.
    fs::create_dir_all(tmp.path().join("sub")).unwrap();
    repo.set_head("refs/heads/trunk").unwrap();
    let git = ProjectDir::open(&tmp.path().join("sub"))
        .unwrap()
        .info()
        .git
        .unwrap();
    assert_eq!(git.branch, "trunk");
}

#[test]
fn a_wide_tree_lists_only_what_is_asked() {
    let tmp = tempfile::tempdir().unwrap();
    for d in 0..50 {
        for f in 0..40 {
            write(tmp.path(), &format!("d{d:02}/f{f:02}.rs"), "");
        }
    }
    let p = ProjectDir::open(tmp.path()).unwrap();
    assert_eq!(p.list_dir("").unwrap().len(), 50);
    assert_eq!(p.list_dir("d07").unwrap().len(), 40);
}

#[test]
fn the_index_respects_ignores_and_finds_files_fuzzily() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(root, ".gitignore", "target/\n");
    write(root, "target/big.rs", "");
    for (i, p) in [
        "src/main.rs",
        "src/engine/turn.rs",
        "crates/core/src/lib.rs",
        "README.md",
    ]
    .iter()
    .enumerate()
    {
        write(root, p, &i.to_string());
    }
    let mut index = flint_project::FileIndex::build(root);
    assert_eq!(
        index.files(),
        [
            ".gitignore",
            "README.md",
            "crates/core/src/lib.rs",
            "src/engine/turn.rs",
            "src/main.rs"
        ]
    );
    let hits = index.search("turn", 5);
    assert_eq!(hits[0].path, "src/engine/turn.rs");
    assert!(!hits[0].indices.is_empty());
    assert_eq!(index.search("mainrs", 1)[0].path, "src/main.rs");
    assert!(index.search("zzz", 5).is_empty());
    index.update("src/new.rs", true);
    assert!(index.contains("src/new.rs"));
    index.update("src/new.rs", false);
    assert!(!index.contains("src/new.rs"));
}

#[test]
fn agents_files_come_global_first_then_root_down_to_the_project() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    Repository::init(&root).unwrap();
    write(&root, "AGENTS.md", "root rules");
    write(&root, "pkg/AGENTS.md", "pkg rules");
    write(&root, "pkg/app/x.rs", "");
    write(&root, "other/AGENTS.md", "not ours");
    let global = tempfile::tempdir().unwrap();
    write(global.path(), "AGENTS.md", "global rules");
    let found = flint_project::agents_files(
        &root.join("pkg/app"),
        Some(&global.path().join("AGENTS.md")),
    );
    let texts: Vec<&str> = found.iter().map(|f| f.text.as_str()).collect();
    assert_eq!(texts, ["global rules", "root rules", "pkg rules"]);
    // Outside git, only the project folder itself.
    let plain = tempfile::tempdir().unwrap();
    write(plain.path(), "AGENTS.md", "plain");
    let found = flint_project::agents_files(&plain.path().canonicalize().unwrap(), None);
    assert_eq!(found.len(), 1);
}

mod watching {
    use super::write;
    use flint_project::{ProjectWatcher, WatchEvent};
    use std::collections::BTreeSet;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    /// Collects changed paths until `want` are all seen or the time runs out.
    fn collect(
        rx: &mpsc::Receiver<WatchEvent>,
        want: usize,
        within: Duration,
    ) -> (BTreeSet<String>, usize) {
        let until = Instant::now() + within;
        let (mut seen, mut batches) = (BTreeSet::new(), 0);
        while seen.len() < want {
            let left = until.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(WatchEvent::Changed(p)) => {
                    batches += 1;
                    seen.extend(p);
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        (seen, batches)
    }

    #[test]
    fn changes_arrive_in_batches_and_ignored_files_never_do() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        write(&root, ".gitignore", "target/\n*.log\n");
        std::fs::create_dir_all(root.join("target")).unwrap();
        let (tx, rx) = mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        let _w = ProjectWatcher::start(&root, move |e| {
            let _ = tx.lock().unwrap().send(e);
        })
        .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        write(&root, "target/out.bin", "x");
        write(&root, "debug.log", "x");
        write(&root, "src/a.rs", "fn a() {}");
        let until = Instant::now() + Duration::from_secs(5);
        let mut seen = BTreeSet::new();
        while !seen.contains("src/a.rs") && Instant::now() < until {
            if let Ok(WatchEvent::Changed(p)) = rx.recv_timeout(Duration::from_millis(200)) {
                seen.extend(p);
            }
        }
        assert!(seen.contains("src/a.rs"), "{seen:?}");
        assert!(
            !seen
                .iter()
                .any(|p| p.starts_with("target/") || p.ends_with(".log")),
            "{seen:?}"
        );

        // Reading files is not changing them. (Let the writes' late events land first.)
        std::thread::sleep(Duration::from_millis(500));
        while rx.try_recv().is_ok() {}
        for _ in 0..20 {
            let _ = std::fs::read(root.join("src/a.rs")).unwrap();
        }
        std::thread::sleep(Duration::from_millis(300));
        let reads: Vec<WatchEvent> = rx.try_iter().collect();
        assert!(reads.is_empty(), "reads reported as changes: {reads:?}");

        // A burst, as a branch checkout makes: 2,000 files in a few batches.
        for i in 0..2000 {
            write(&root, &format!("burst/f{i:04}.rs"), "x");
        }
        let (seen, batches) = collect(&rx, 2000, Duration::from_secs(20));
        assert_eq!(
            seen.iter().filter(|p| p.starts_with("burst/")).count(),
            2000
        );
        assert!(batches < 200, "{batches} batches for 2,000 files");
    }
}
