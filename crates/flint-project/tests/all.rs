//! The project on disk: ignore rules and git state, on folders and repositories made here.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::fs;
use std::path::Path;

use flint_project::ProjectDir;
use git2::{Repository, Signature};

pub(crate) fn write(root: &Path, rel: &str, text: &str) {
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

pub(crate) fn commit(repo: &Repository, file: &str) -> git2::Oid {
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

/// A repository's AGENTS.md is its content: a link to a secret outside it, or to an
/// endless device, is not read; a huge file is cut.
#[cfg(unix)]
#[test]
fn agents_files_are_regular_files_inside_the_repository_and_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    Repository::init(&root).unwrap();
    let secrets = tempfile::tempdir().unwrap();
    write(
        secrets.path(),
        "id_rsa",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
    );
    std::os::unix::fs::symlink(secrets.path().join("id_rsa"), root.join("AGENTS.md")).unwrap();
    std::fs::create_dir_all(root.join("a")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", root.join("a/AGENTS.md")).unwrap();
    write(&root, "a/b/AGENTS.md", &"x".repeat(200 * 1024));
    let found = flint_project::agents_files(&root.join("a/b"), None);
    assert_eq!(
        found.len(),
        1,
        "{:?}",
        found.iter().map(|f| &f.path).collect::<Vec<_>>()
    );
    assert!(found[0].text.len() < 70 * 1024);
    assert!(found[0]
        .text
        .ends_with("[... cut: the file is over 64 KiB]"));
    // A global file that is a device is not read either.
    let found =
        flint_project::agents_files(&root.join("a/b"), Some(std::path::Path::new("/dev/zero")));
    assert_eq!(found.len(), 1);
}

mod watching {
    use super::write;
    use flint_project::{ProjectWatcher, WatchEvent};
    use git2::Repository;
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
        Repository::init(&root).unwrap();
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

        // A commit (or stage, checkout) is reported as a change of the repository.
        std::thread::sleep(Duration::from_millis(300));
        while rx.try_recv().is_ok() {}
        let repo = Repository::open(&root).unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(std::path::Path::new("src/a.rs")).unwrap();
        index.write().unwrap();
        eprintln!("test: index written {:?}", std::time::SystemTime::now());
        let until = Instant::now() + Duration::from_secs(5);
        let mut saw_git = false;
        let mut got = Vec::new();
        while !saw_git && Instant::now() < until {
            let e = rx.recv_timeout(Duration::from_millis(200));
            saw_git = matches!(e, Ok(WatchEvent::Git));
            if let Ok(e) = e {
                got.push(e);
            }
        }
        assert!(saw_git, "no Git event after staging: {got:?}");

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

mod git_panel {
    use super::{commit as make_commit, write};
    use flint_project::{commit, diff_file, stage, status, status_of, unstage, ChangeCode};
    use git2::Repository;

    fn identity(repo: &Repository) {
        let mut c = repo.config().unwrap();
        c.set_str("user.name", "Flint Test").unwrap();
        c.set_str("user.email", "test@flint.invalid").unwrap();
    }

    #[test]
    fn staged_unstaged_untracked_and_a_commit() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let repo = Repository::init(&root).unwrap();
        identity(&repo);
        make_commit(&repo, "a.txt");
        make_commit(&repo, "b.txt");
        write(&root, "a.txt", "changed a\n");
        write(&root, "b.txt", "changed b\n");
        write(&root, "new.txt", "new\n");
        stage(&root, &["b.txt".into()]).unwrap();

        let st = status(&root).unwrap().unwrap();
        let by = |p: &str| st.changes.iter().find(|c| c.path == p).cloned().unwrap();
        assert_eq!(
            (by("a.txt").staged, by("a.txt").unstaged),
            (None, Some(ChangeCode::Modified))
        );
        assert_eq!(
            (by("b.txt").staged, by("b.txt").unstaged),
            (Some(ChangeCode::Modified), None)
        );
        assert!(by("new.txt").untracked);

        // The incremental status of the saved paths agrees with the full one.
        let some = status_of(&root, &["a.txt".into(), "b.txt".into()]).unwrap();
        assert_eq!(
            some[0].1.as_ref().unwrap().unstaged,
            Some(ChangeCode::Modified)
        );
        assert_eq!(
            some[1].1.as_ref().unwrap().staged,
            Some(ChangeCode::Modified)
        );

        let d = diff_file(&root, "b.txt", true).unwrap();
        assert!(d.contains("-b.txt") && d.contains("+changed b"), "{d}");
        let d = diff_file(&root, "new.txt", false).unwrap();
        assert!(d.contains("+new"), "{d}");

        unstage(&root, &["b.txt".into()]).unwrap();
        assert_eq!(
            status(&root)
                .unwrap()
                .unwrap()
                .changes
                .iter()
                .find(|c| c.path == "b.txt")
                .unwrap()
                .staged,
            None
        );

        stage(&root, &["a.txt".into(), "new.txt".into()]).unwrap();
        let id = commit(&root, "Change a, add new").unwrap();
        assert_eq!(id.len(), 7);
        let st = status(&root).unwrap().unwrap();
        assert_eq!(
            st.changes
                .iter()
                .map(|c| c.path.as_str())
                .collect::<Vec<_>>(),
            ["b.txt"]
        );
        assert_eq!(
            commit(&root, "again").unwrap_err().to_string(),
            "git could not read the repository: nothing is staged to commit"
        );
        assert!(commit(&root, "  ").is_err());
    }

    #[test]
    fn a_repository_without_commits_and_a_folder_without_git() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let repo = Repository::init(&root).unwrap();
        identity(&repo);
        write(&root, "first.txt", "1\n");
        let st = status(&root).unwrap().unwrap();
        assert!(st.state.unborn && st.changes[0].untracked);
        stage(&root, &["first.txt".into()]).unwrap();
        assert_eq!(
            status(&root).unwrap().unwrap().changes[0].staged,
            Some(ChangeCode::Added)
        );
        unstage(&root, &["first.txt".into()]).unwrap();
        assert!(status(&root).unwrap().unwrap().changes[0].untracked);
        stage(&root, &["first.txt".into()]).unwrap();
        commit(&root, "first").unwrap();
        assert!(!status(&root).unwrap().unwrap().state.unborn);

        let plain = tempfile::tempdir().unwrap();
        assert!(status(plain.path()).unwrap().is_none());
    }
}

/// The status as gitoxide reads it (the app's) reports exactly what libgit2's one-pass
/// read does, in every state a tree can be in.
#[test]
fn the_status_read_agrees_with_libgit2() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let repo = Repository::init(&root).unwrap();
    for f in [
        "README.md",
        "a/one.txt",
        "a/b/two.txt",
        "a/b/c/three.txt",
        "gone/x.txt",
        "gone/deep/y.txt",
        "old/name.txt",
        "moved/then-edited.txt",
        "build/kept.txt",
        "top.txt",
        "b/same.txt",
    ] {
        commit(&repo, f);
    }
    commit(&repo, ".gitignore");
    write(&root, ".gitignore", "build/\n*.log\n");
    // Modified, staged, deleted (a file, and a whole folder), renamed in the index (and
    // renamed then edited), untracked files and folders, ignored ones, a tracked file
    // inside an ignored folder, a repository inside, a link, a file turned into a folder.
    write(&root, "a/b/two.txt", "edited\n");
    write(&root, "a/b/c/three.txt", "staged\n");
    write(&root, "a/new.txt", "untracked\n");
    write(&root, "fresh/deeper/n.txt", "untracked folder\n");
    write(&root, "debug.log", "ignored\n");
    write(&root, "build/out.bin", "ignored\n");
    write(
        &root,
        "build/kept.txt",
        "tracked in an ignored folder, edited\n",
    );
    fs::remove_dir_all(root.join("gone")).unwrap();
    fs::remove_file(root.join("top.txt")).unwrap();
    fs::create_dir_all(root.join("top.txt")).unwrap();
    write(&root, "top.txt/inside.txt", "a folder where a file was\n");
    Repository::init(root.join("nested")).unwrap();
    write(&root, "nested/file.txt", "inside another repository\n");
    #[cfg(unix)]
    std::os::unix::fs::symlink("a/one.txt", root.join("link")).unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(Path::new("a/b/c/three.txt")).unwrap();
    fs::rename(root.join("old/name.txt"), root.join("new-name.txt")).unwrap();
    index.remove_path(Path::new("old/name.txt")).unwrap();
    index.add_path(Path::new("new-name.txt")).unwrap();
    fs::create_dir_all(root.join("moved2")).unwrap();
    fs::rename(
        root.join("moved/then-edited.txt"),
        root.join("moved2/then-edited.txt"),
    )
    .unwrap();
    index
        .remove_path(Path::new("moved/then-edited.txt"))
        .unwrap();
    index.add_path(Path::new("moved2/then-edited.txt")).unwrap();
    index.write().unwrap();
    write(&root, "moved2/then-edited.txt", "moved, then edited\n");
    // A new file at a renamed file's old name: an entry of its own.
    write(
        &root,
        "old/name.txt",
        "a new file where the renamed one was\n",
    );

    let one_pass = flint_project::status_libgit2(&root).unwrap().unwrap();
    assert_eq!(flint_project::status(&root).unwrap().unwrap(), one_pass);
    // The paths read one by one (after a save), every changed one and a few others.
    let mut asked: Vec<String> = one_pass
        .changes
        .iter()
        .map(|c| c.path.clone())
        .filter(|p| !p.ends_with('/'))
        .collect();
    asked.extend(
        [
            "README.md",
            "debug.log",
            "build/out.bin",
            "a/one.txt",
            "new-name.txt",
            "moved2/then-edited.txt",
        ]
        .map(String::from),
    );
    let reader = flint_project::StatusReader::new(&root);
    let mut expected = flint_project::status_of(&root, &asked).unwrap();
    // libgit2 reads nothing for a tracked file turned into a folder, one path at a time;
    // the whole read (either library's) says it is deleted, and so does gitoxide's here.
    for (path, change) in &mut expected {
        if path == "top.txt" {
            assert_eq!(*change, None);
            *change = one_pass
                .changes
                .iter()
                .find(|c| c.path == "top.txt")
                .cloned();
        }
    }
    assert_eq!(reader.read_paths(&asked).unwrap(), expected);
    let paths: Vec<&str> = one_pass.changes.iter().map(|c| c.path.as_str()).collect();
    for p in [
        "a/b/two.txt",
        "a/b/c/three.txt",
        "a/new.txt",
        "fresh/deeper/n.txt",
        "build/kept.txt",
        "gone/x.txt",
        "gone/deep/y.txt",
        "nested/",
        "top.txt",
        "top.txt/inside.txt",
    ] {
        assert!(paths.contains(&p), "{p} missing from {paths:?}");
    }
    for p in ["debug.log", "build/out.bin", "nested/file.txt", ".git/"] {
        assert!(!paths.iter().any(|q| q.starts_with(p)), "{p} in {paths:?}");
    }
    assert_eq!(
        paths.iter().filter(|p| **p == "old/name.txt").count(),
        2,
        "the rename and the new file: {paths:?}"
    );

    // A name that reads as a pattern.
    write(&root, "we*ird/[x]/f.txt", "odd\n");
    let one_pass = flint_project::status_libgit2(&root).unwrap().unwrap();
    assert_eq!(flint_project::status(&root).unwrap().unwrap(), one_pass);
}

/// A reader that keeps its repository handles between reads sees every change made in
/// between, by anyone (the index rewritten by another handle, HEAD moved, the repository
/// replaced or removed): each read equals a fresh one-pass read.
#[test]
fn a_kept_status_reader_sees_what_changed_between_reads() {
    use flint_project::{status_libgit2, status_of, StatusReader};
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let repo = Repository::init(&root).unwrap();
    for f in ["a/one.txt", "b/two.txt", "c/three.txt", "top.txt"] {
        commit(&repo, f);
    }
    let reader = StatusReader::new(&root);
    let fresh = || status_libgit2(&root).unwrap();
    let check = |what: &str| {
        let kept = reader.read().unwrap();
        assert_eq!(kept, fresh(), "after: {what}");
        kept
    };
    assert!(check("nothing").unwrap().changes.is_empty());
    write(&root, "a/one.txt", "edited\n");
    assert_eq!(check("an edit").unwrap().changes.len(), 1);
    // Staged by another handle (the user's git), the index file's time left as it was
    // (a rewrite within the file system's time resolution).
    let index_file = root.join(".git/index");
    let before = fs::metadata(&index_file).unwrap().modified().unwrap();
    let other = Repository::open(&root).unwrap();
    let mut index = other.index().unwrap();
    index.add_path(Path::new("a/one.txt")).unwrap();
    index.write().unwrap();
    let f = fs::File::options().write(true).open(&index_file).unwrap();
    f.set_modified(before).unwrap();
    drop(f);
    let staged = check("staging").unwrap();
    assert!(staged.changes[0].staged.is_some() && staged.changes[0].unstaged.is_none());
    commit(&other, "a/one.txt");
    assert!(check("a commit").unwrap().changes.is_empty());
    // Tracked in a new top-level folder and gone from disk: only the refreshed index
    // knows the folder (the tree is cut by the index's paths).
    write(&root, "fresh/new.txt", "new\n");
    let mut index = other.index().unwrap();
    index.add_path(Path::new("fresh/new.txt")).unwrap();
    index.write().unwrap();
    fs::remove_dir_all(root.join("fresh")).unwrap();
    write(&root, "untracked/u.txt", "u\n");
    let st = check("a new folder staged, then removed").unwrap();
    assert!(
        st.changes.iter().any(|c| c.path == "fresh/new.txt"),
        "{st:?}"
    );
    // Let go (the project put in the background), then read again from new handles.
    reader.release();
    assert_eq!(
        reader.read_paths(&["untracked/u.txt".into()]).unwrap(),
        status_of(&root, &["untracked/u.txt".into()]).unwrap()
    );
    // Its index file deleted: everything staged as deleted, as a fresh read says.
    fs::remove_file(root.join(".git/index")).unwrap();
    assert!(!check("the index deleted").unwrap().changes.is_empty());
    // The repository's configuration changed (libgit2 caches parts of it per handle).
    write(&root, "ignored-by-config", "untracked/\n");
    fs::OpenOptions::new()
        .append(true)
        .open(root.join(".git/config"))
        .and_then(|mut f| {
            std::io::Write::write_all(
                &mut f,
                format!(
                    "[core]\n\texcludesFile = {}\n",
                    root.join("ignored-by-config").display()
                )
                .as_bytes(),
            )
        })
        .unwrap();
    let st = check("the configuration changed").unwrap();
    assert!(
        !st.changes.iter().any(|c| c.path.starts_with("untracked/")),
        "{st:?}"
    );
    // The repository made again at the same place, with no commit.
    drop((repo, other));
    fs::remove_dir_all(root.join(".git")).unwrap();
    Repository::init(&root).unwrap();
    let st = check("the repository made again").unwrap();
    assert!(
        st.changes.iter().all(|c| c.untracked && c.staged.is_none()),
        "{st:?}"
    );
    // The repository replaced by another: the kept handles are not used for it.
    fs::remove_dir_all(root.join(".git")).unwrap();
    let again = Repository::init(&root).unwrap();
    commit(&again, "top.txt");
    let st = check("the repository replaced").unwrap();
    assert!(
        st.changes
            .iter()
            .any(|c| c.path == "a/one.txt" && c.untracked),
        "{st:?}"
    );
    fs::remove_dir_all(root.join(".git")).unwrap();
    assert_eq!(check("the repository removed"), None);
    assert!(reader.read_paths(&["top.txt".into()]).is_err());
}

/// Kept handles are let go a while after the last read, or at once when asked.
#[test]
fn a_status_readers_handles_go_when_idle_or_released() {
    use flint_project::StatusReader;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let repo = Repository::init(&root).unwrap();
    commit(&repo, "a.txt");
    let keep = std::time::Duration::from_millis(1500);
    let reader = StatusReader::new(&root).keeping_for(keep);
    reader.read().unwrap().unwrap();
    let last = std::time::Instant::now(); // before the last read's own time
    reader.read_paths(&["a.txt".into()]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(reader.holds_handles(), !cfg!(windows));
    // Let go once idle that long, not before (however slow the machine).
    let gone = (0..500).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        !reader.holds_handles()
    });
    assert!(gone, "let go once idle");
    if !cfg!(windows) {
        assert!(last.elapsed() >= keep, "let go after {:?}", last.elapsed());
    }
    reader.read().unwrap().unwrap();
    reader.release();
    assert!(!reader.holds_handles());
    // A status read once (`status`) keeps nothing.
    let once = StatusReader::new(&root).keeping_for(std::time::Duration::ZERO);
    once.read().unwrap().unwrap();
    assert!(!once.holds_handles());
    assert!(reader.read().unwrap().unwrap().changes.is_empty());
}

/// A working tree whose `.git` is a file naming a git folder elsewhere
/// (`git init --separate-git-dir`): the read is of that working tree.
#[test]
fn the_status_read_follows_a_separate_git_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let (root, gitdir) = (base.join("tree"), base.join("elsewhere.git"));
    fs::create_dir_all(&root).unwrap();
    let ok = std::process::Command::new("git")
        .args(["init", "-q", "--separate-git-dir"])
        .arg(&gitdir)
        .arg(&root)
        .status()
        .unwrap()
        .success();
    assert!(ok, "git init --separate-git-dir");
    let repo = Repository::open(&root).unwrap();
    for f in ["a/1.txt", "b/2.txt", "c/3.txt", "d/4.txt", "top.txt"] {
        commit(&repo, f);
    }
    write(&root, "b/2.txt", "edited\n");
    write(&root, "e/new.txt", "untracked\n");
    // What `git status` says. (libgit2 1.9 takes the git folder's parent for the working
    // tree here, as git writes no core.worktree: its one-pass read lists every file
    // deleted and `elsewhere.git/` untracked.)
    let st = flint_project::status(&root).unwrap().unwrap();
    let changes: Vec<_> = st
        .changes
        .iter()
        .map(|c| (c.path.as_str(), c.unstaged, c.untracked))
        .collect();
    assert_eq!(
        changes,
        [
            ("b/2.txt", Some(flint_project::ChangeCode::Modified), false),
            ("e/new.txt", None, true)
        ]
    );
    // Read path by path (after a save): the same.
    let asked = ["b/2.txt", "e/new.txt", "a/1.txt"].map(String::from);
    let read = flint_project::StatusReader::new(&root)
        .read_paths(&asked)
        .unwrap();
    let by_path: Vec<_> = read
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_ref().map(|c| (c.unstaged, c.untracked))))
        .collect();
    assert_eq!(
        by_path,
        [
            (
                "b/2.txt",
                Some((Some(flint_project::ChangeCode::Modified), false))
            ),
            ("e/new.txt", Some((None, true))),
            ("a/1.txt", None)
        ]
    );
}

/// A filter driver named by the repository's configuration (a clean filter runs when a
/// file's stamp no longer matches the index) is never run by a status read.
#[cfg(unix)]
#[test]
fn a_status_read_runs_no_filter_the_configuration_names() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let repo = Repository::init(&root).unwrap();
    commit(&repo, "a.txt");
    commit(&repo, "b.txt");
    let ran = root.join("ran");
    write(&root, ".gitattributes", "*.txt filter=planted\n");
    let mut config = repo.config().unwrap();
    config
        .set_str(
            "filter.planted.clean",
            &format!("touch {} && cat", ran.display()),
        )
        .unwrap();
    // The same bytes with a new time: only the content (through the filter) can tell.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    let f = fs::File::options()
        .write(true)
        .open(root.join("a.txt"))
        .unwrap();
    f.set_modified(later).unwrap();
    drop(f);
    write(&root, "b.txt", "edited");
    let st = flint_project::status(&root).unwrap().unwrap();
    let paths: Vec<_> = st.changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, [".gitattributes", "b.txt"]);
    assert!(!ran.exists(), "the filter ran");
    // The filter would run (so the test is not vacuous): git itself runs it.
    let ok = std::process::Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(&root)
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok && ran.exists(), "git ran the filter");
}

#[test]
fn a_repository_with_a_submodule_is_listed_without_descending_into_it() {
    let other = tempfile::tempdir().unwrap();
    let other_repo = Repository::init(other.path()).unwrap();
    commit(&other_repo, "lib.txt");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let repo = Repository::init(&root).unwrap();
    commit(&repo, "main.txt");
    let url = format!("file://{}", other.path().display());
    let mut sub = repo
        .submodule(&url, std::path::Path::new("vendor/lib"), true)
        .unwrap();
    sub.clone(None).unwrap();
    sub.add_finalize().unwrap();

    let st = flint_project::status(&root).unwrap().unwrap();
    assert_eq!(
        flint_project::status_libgit2(&root).unwrap().unwrap(),
        st,
        "libgit2's read agrees"
    );
    let paths: Vec<&str> = st.changes.iter().map(|c| c.path.as_str()).collect();
    assert!(paths.contains(&".gitmodules"), "{paths:?}");
    assert!(paths.contains(&"vendor/lib"), "{paths:?}");
    assert!(
        !paths.iter().any(|p| p.starts_with("vendor/lib/")),
        "{paths:?}"
    );
    // The summary for the model and the tree both cope.
    assert!(flint_project::status_summary(&root, 10)
        .unwrap()
        .contains("vendor/lib"));
    let p = ProjectDir::open(&root).unwrap();
    assert!(p
        .list_dir("vendor")
        .unwrap()
        .iter()
        .any(|e| e.path == "vendor/lib"));
}

/// The states the first agreement test cannot make with libgit2's API alone, made with
/// `git` itself: a merge conflict, a mode change, a file turned into a link (in the
/// working tree and in the index), an intent to add, a submodule whose HEAD moved.
#[cfg(unix)]
#[test]
fn the_status_read_agrees_with_libgit2_on_conflicts_modes_and_submodules() {
    use std::os::unix::fs::PermissionsExt;
    let git = |root: &Path, args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(["-c", "user.name=T", "-c", "user.email=t@t", "-c"])
            .arg("protocol.file.allow=always")
            .args(args)
            .current_dir(root)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    let lib = tempfile::tempdir().unwrap();
    let lib = lib.path().canonicalize().unwrap();
    git(&lib, &["init", "-q", "-b", "main"]);
    write(&lib, "lib.txt", "1\n");
    git(&lib, &["add", "-A"]);
    git(&lib, &["commit", "-qm", "one"]);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    git(&root, &["init", "-q", "-b", "main"]);
    for f in [
        "conflict.txt",
        "mode.sh",
        "to-link.txt",
        "staged-link.txt",
        "keep.txt",
    ] {
        write(&root, f, &format!("{f}\n"));
    }
    git(
        &root,
        &["submodule", "add", "-q", lib.to_str().unwrap(), "sub"],
    );
    git(
        &root,
        &["submodule", "add", "-q", lib.to_str().unwrap(), "sub-dirty"],
    );
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-qm", "base"]);
    git(&root, &["checkout", "-qb", "other"]);
    write(&root, "conflict.txt", "theirs\n");
    git(&root, &["commit", "-qam", "theirs"]);
    git(&root, &["checkout", "-q", "main"]);
    write(&root, "conflict.txt", "ours\n");
    git(&root, &["commit", "-qam", "ours"]);
    let merged = std::process::Command::new("git")
        .args(["merge", "-q", "other"])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(!merged.status.success(), "a conflict");
    fs::set_permissions(root.join("mode.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::remove_file(root.join("to-link.txt")).unwrap();
    std::os::unix::fs::symlink("keep.txt", root.join("to-link.txt")).unwrap();
    fs::remove_file(root.join("staged-link.txt")).unwrap();
    std::os::unix::fs::symlink("keep.txt", root.join("staged-link.txt")).unwrap();
    git(&root, &["add", "staged-link.txt"]);
    write(&root, "intent.txt", "to add\n");
    git(&root, &["add", "-N", "intent.txt"]);
    let sub = root.join("sub");
    write(&sub, "lib.txt", "2\n");
    git(&sub, &["commit", "-qam", "two"]);
    // Only its files changed (its HEAD where the index says): read by libgit2.
    write(&root, "sub-dirty/lib.txt", "changed, not committed\n");

    let one_pass = flint_project::status_libgit2(&root).unwrap().unwrap();
    let read = flint_project::status(&root).unwrap().unwrap();
    assert_eq!(read, one_pass);
    let asked: Vec<String> = [
        "conflict.txt",
        "mode.sh",
        "to-link.txt",
        "staged-link.txt",
        "intent.txt",
        "keep.txt",
        "sub",
        "sub-dirty",
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(
        flint_project::StatusReader::new(&root)
            .read_paths(&asked)
            .unwrap(),
        flint_project::status_of(&root, &asked).unwrap()
    );
    let paths: Vec<&str> = read.changes.iter().map(|c| c.path.as_str()).collect();
    for p in [
        "conflict.txt",
        "mode.sh",
        "to-link.txt",
        "staged-link.txt",
        "sub",
        "sub-dirty",
    ] {
        assert!(paths.contains(&p), "{p} missing from {read:?}");
    }
}

/// What a repository plants for the read (rules files that never end, names that are
/// not UTF-8) and the user's own `status.showUntrackedFiles=no`: the read still answers,
/// as libgit2's does (or as `git status` does, for the setting).
#[cfg(unix)]
#[test]
fn the_status_read_copes_with_planted_files_and_honours_show_untracked() {
    use std::os::unix::ffi::OsStrExt;
    let in_time = |root: &Path| {
        let root = root.to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(flint_project::status(&root).map(Option::unwrap));
        });
        rx.recv_timeout(std::time::Duration::from_secs(20))
            .expect("the read answered in time")
            .unwrap()
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let repo = Repository::init(&root).unwrap();
    commit(&repo, "a.txt");
    write(&root, "a.txt", "edited\n");
    write(&root, "new.txt", "untracked\n");
    let expected = flint_project::status_libgit2(&root).unwrap().unwrap();
    assert_eq!(expected.changes.len(), 2);
    // An exclude file that is an endless device, named by the repository or linked.
    let mut config = repo.config().unwrap();
    config.set_str("core.excludesFile", "/dev/zero").unwrap();
    assert_eq!(in_time(&root), expected);
    config.remove("core.excludesFile").unwrap();
    let exclude = root.join(".git/info/exclude");
    let _ = fs::remove_file(&exclude);
    std::os::unix::fs::symlink("/dev/zero", &exclude).unwrap();
    assert_eq!(in_time(&root), expected);
    fs::remove_file(&exclude).unwrap();
    // A file name that is not UTF-8: left out, as libgit2 leaves it out.
    let odd = std::ffi::OsStr::from_bytes(b"odd-\xff.txt");
    fs::write(root.join(odd), "x").unwrap();
    assert_eq!(in_time(&root), expected);
    assert_eq!(
        flint_project::status_libgit2(&root).unwrap().unwrap(),
        expected
    );
    fs::remove_file(root.join(odd)).unwrap();
    // The user's setting, as git honours it: no untracked files listed.
    config.set_str("status.showUntrackedFiles", "no").unwrap();
    let st = in_time(&root);
    let paths: Vec<_> = st.changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, ["a.txt"]);
}
