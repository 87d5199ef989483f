use super::*;

fn git(dir: &Path, args: &[&str]) {
    assert!(std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
        .status
        .success());
}

#[test]
fn a_command_s_changes_come_back_as_exact_files() {
    let data = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let root = project.path();
    std::fs::write(root.join(".gitignore"), "target/\n").unwrap();
    std::fs::write(root.join("keep.txt"), "same\n").unwrap();
    std::fs::write(root.join("edit.txt"), b"crlf\r\nline\r\n").unwrap();
    std::fs::write(root.join("gone.sh"), "#!/bin/sh\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root.join("gone.sh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::os::unix::fs::symlink("keep.txt", root.join("link")).unwrap();
    }
    std::fs::create_dir(root.join("target")).unwrap();
    std::fs::write(root.join("target/out"), "ignored").unwrap();
    std::fs::create_dir(root.join(".git")).unwrap();
    std::fs::write(root.join(".git/config"), "never read").unwrap();

    let mut snaps = Snapshots::open(data.path(), root).unwrap();
    let before = snaps.take().unwrap();
    assert_eq!(snaps.take().unwrap(), before, "nothing changed, same files");
    std::fs::write(root.join("edit.txt"), b"crlf\r\nchanged\r\n").unwrap();
    std::fs::remove_file(root.join("gone.sh")).unwrap();
    std::fs::write(root.join("new.txt"), "new").unwrap();
    std::fs::write(root.join("target/out"), "changed but ignored").unwrap();
    #[cfg(unix)]
    std::fs::remove_file(root.join("link")).unwrap();
    let after = snaps.take().unwrap();
    let files = snaps.changes(&before, &after).unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    #[cfg(unix)]
    assert_eq!(paths, ["edit.txt", "gone.sh", "link", "new.txt"]);
    let edit = &files[0];
    assert_eq!(edit.before.as_deref(), Some(&b"crlf\r\nline\r\n"[..]));
    assert_eq!(edit.after.as_deref(), Some(&b"crlf\r\nchanged\r\n"[..]));
    #[cfg(unix)]
    {
        assert_eq!(files[1].before_mode, Some(0o755));
        assert_eq!(files[1].after, None);
        assert_eq!(files[2].before_link.as_deref(), Some("keep.txt"));
    }
    assert_eq!(files[3].before, None);
    assert_eq!(
        snaps.file(&before, "keep.txt").unwrap().as_deref(),
        Some(&b"same\n"[..])
    );
    assert_eq!(snaps.file(&before, ".git/config").unwrap(), None);
    // The project's own git folder was never written.
    assert_eq!(std::fs::read_dir(root.join(".git")).unwrap().count(), 1);
    // Reopened (a restart), the store still has the bytes, and its stat cache.
    let mut again = Snapshots::open(data.path(), root).unwrap();
    assert_eq!(again.changes(&before, &after).unwrap().len(), files.len());
    assert_eq!(again.take().unwrap(), after);
}

#[test]
fn a_change_the_stat_cache_cannot_see_is_still_read() {
    let data = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let f = project.path().join("a.txt");
    std::fs::write(&f, "one").unwrap();
    let mut snaps = Snapshots::open(data.path(), project.path()).unwrap();
    let before = snaps.take().unwrap();
    // Same size, written within the same instant as the read: only a re-read tells.
    std::fs::write(&f, "two").unwrap();
    let after = snaps.take().unwrap();
    let files = snaps.changes(&before, &after).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].after.as_deref(), Some(&b"two"[..]));
}

#[test]
fn snapshots_are_exact_bytes_and_skip_nested_repositories() {
    let data = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let root = project.path();
    std::fs::write(root.join(".gitattributes"), "* text=auto ident\n").unwrap();
    std::fs::write(root.join("crlf.txt"), b"one\r\ntwo\r\n").unwrap();
    std::fs::write(root.join("id.txt"), "$Id: kept as written $\n").unwrap();
    // A nested repository with a commit (what a `git clone` into the project makes).
    let nested = root.join("vendor/lib");
    std::fs::create_dir_all(&nested).unwrap();
    git(&nested, &["init", "-q"]);
    std::fs::write(nested.join("f"), "x").unwrap();
    git(&nested, &["add", "f"]);
    git(
        &nested,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "x",
        ],
    );
    let mut snaps = Snapshots::open(data.path(), root).unwrap();
    let before = snaps.take().unwrap();
    assert_eq!(
        snaps.file(&before, "crlf.txt").unwrap().as_deref(),
        Some(&b"one\r\ntwo\r\n"[..])
    );
    assert_eq!(
        snaps.file(&before, "id.txt").unwrap().as_deref(),
        Some(&b"$Id: kept as written $\n"[..])
    );
    assert_eq!(snaps.file(&before, "vendor/lib/f").unwrap(), None);
    // A command that only changes line endings is a change.
    std::fs::write(root.join("crlf.txt"), b"one\ntwo\n").unwrap();
    let after = snaps.take().unwrap();
    let files = snaps.changes(&before, &after).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].before.as_deref(), Some(&b"one\r\ntwo\r\n"[..]));
}

#[test]
fn files_past_the_cap_are_left_out() {
    let data = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let big = project.path().join("big.bin");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(MAX_SNAPSHOT_FILE + 1).unwrap();
    std::fs::write(project.path().join("small"), "x").unwrap();
    let mut snaps = Snapshots::open(data.path(), project.path()).unwrap();
    let s = snaps.take().unwrap();
    assert_eq!(snaps.file(&s, "big.bin").unwrap(), None);
    assert!(snaps.file(&s, "small").unwrap().is_some());
    // A kept file that grows past the cap (4 GiB + 4 bytes) leaves the snapshot
    // without being read.
    let small = std::fs::OpenOptions::new()
        .write(true)
        .open(project.path().join("small"))
        .unwrap();
    small.set_len((4 << 30) + 4).unwrap();
    let t = std::time::Instant::now();
    let s = snaps.take().unwrap();
    assert!(
        t.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(snaps.file(&s, "small").unwrap(), None);
}

#[cfg(unix)]
#[test]
fn a_fifo_in_the_project_never_blocks_a_snapshot() {
    let data = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    assert!(std::process::Command::new("mkfifo")
        .arg(project.path().join("pipe"))
        .status()
        .unwrap()
        .success());
    std::fs::write(project.path().join("a"), "a").unwrap();
    let mut snaps = Snapshots::open(data.path(), project.path()).unwrap();
    let s = snaps.take().unwrap();
    assert_eq!(s.len(), 1);
}

#[test]
fn only_what_a_command_made_or_deleted_is_kept_for_undo() {
    let data = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let root = project.path();
    std::fs::write(root.join(".gitignore"), ".env\n").unwrap();
    std::fs::write(root.join(".env"), "SECRET=1\n").unwrap();
    std::fs::write(root.join("private.txt"), "mine").unwrap();
    std::fs::create_dir(root.join("d")).unwrap();
    std::fs::write(root.join("d/x"), "x").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            root.join("private.txt"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    let mut snaps = Snapshots::open(data.path(), root).unwrap();
    let before = snaps.take().unwrap();
    // The files above are older than the command by more than the slack for coarse
    // file times.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let since = SystemTime::now();
    // The command: empties .gitignore (.env enters the snapshot, untouched), makes a
    // file and a link, turns the folder d into a file, and deletes private.txt.
    std::fs::write(root.join(".gitignore"), "").unwrap();
    std::fs::write(root.join("made.txt"), "new").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("made.txt", root.join("made.link")).unwrap();
    std::fs::remove_dir_all(root.join("d")).unwrap();
    std::fs::write(root.join("d"), "now a file").unwrap();
    std::fs::remove_file(root.join("private.txt")).unwrap();
    let after = snaps.take().unwrap();
    let (files, unrecorded) = snaps.changes_since(&before, &after, Some(since)).unwrap();
    let kept: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(kept, [".gitignore", "made.txt", "private.txt"]);
    #[cfg(unix)]
    assert_eq!(unrecorded, [".env", "d", "d/x", "made.link"]);
    // The deleted file comes back with its own permissions.
    #[cfg(unix)]
    assert_eq!(files[2].before_mode, Some(0o600));
}

#[test]
fn a_snapshot_reads_at_most_its_budget() {
    // The budget is large (2 GiB); what is checked here is that files are read one at
    // a time into the store: many files, each under the cap, never all in memory.
    let data = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    for i in 0..50 {
        std::fs::write(project.path().join(format!("f{i}")), vec![b'x'; 100_000]).unwrap();
    }
    let mut snaps = Snapshots::open(data.path(), project.path()).unwrap();
    assert_eq!(snaps.take().unwrap().len(), 50);
}

#[test]
fn bytes_no_file_has_any_more_are_collected() {
    let data = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let f = project.path().join("churn.txt");
    std::fs::write(project.path().join("stays.txt"), "stays").unwrap();
    let mut snaps = Snapshots::open(data.path(), project.path()).unwrap();
    let mut last = snaps.take().unwrap();
    for i in 0..300 {
        std::fs::write(&f, format!("version {i}")).unwrap();
        last = snaps.take().unwrap();
    }
    // Nothing younger than an hour goes (another Flint may still need it)...
    assert_eq!(snaps.collect_garbage().unwrap(), 0);
    // ...and what is older and no file has, does.
    let later = (now_ns() / 1_000_000_000) as i64 + 10;
    assert!(snaps.collect_garbage_before(later).unwrap() >= 250);
    // What the latest snapshot has is still there.
    assert_eq!(
        snaps.file(&last, "churn.txt").unwrap().as_deref(),
        Some(&b"version 299"[..])
    );
    assert_eq!(
        snaps.file(&last, "stays.txt").unwrap().as_deref(),
        Some(&b"stays"[..])
    );
    assert_eq!(snaps.collect_garbage_before(later).unwrap(), 0);
}
