use super::*;
use std::fs;

fn setup() -> (tempfile::TempDir, ProjectDir) {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.txt"), "a\n").unwrap();
    fs::write(dir.path().join("b.txt"), "b\n").unwrap();
    let p = ProjectDir::open(dir.path()).unwrap();
    (dir, p)
}

/// No staging file is left in `dir` (the project's root).
fn no_staging_left(dir: &std::path::Path) {
    let names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

fn w(path: &str, expected: Option<&[u8]>, content: Option<&[u8]>) -> Write {
    Write {
        path: path.into(),
        expected: expected.map(content_hash),
        content: content.map(<[u8]>::to_vec),
        ..Default::default()
    }
}

#[cfg(unix)]
#[test]
fn a_folder_swapped_for_a_link_after_the_check_carries_nothing_out() {
    let (dir, p) = setup();
    fs::create_dir(dir.path().join("sub")).unwrap();
    fs::write(dir.path().join("sub/x.txt"), "x\n").unwrap();
    fs::create_dir(dir.path().join(".git")).unwrap();
    let outside = tempfile::tempdir().unwrap();
    for (swap_to, seen) in [
        (outside.path().to_path_buf(), "outside"),
        (dir.path().join(".git"), "git"),
    ] {
        let root = dir.path().to_path_buf();
        let to = swap_to.clone();
        AFTER_CHECK.with(|h| {
            *h.borrow_mut() = Some(Box::new(move || {
                fs::rename(root.join("sub"), root.join("sub-held")).unwrap();
                std::os::unix::fs::symlink(&to, root.join("sub")).unwrap();
            }))
        });
        let mut staged_there = None;
        let done = apply_with(
            &p,
            &[
                w("sub/x.txt", Some(b"x\n"), Some(b"X\n")),
                w("sub/new.txt", None, Some(b"n\n")),
            ],
            // Everything staged: nothing may be there, not even for a moment.
            &mut |_| {
                staged_there = Some(fs::read_dir(&swap_to).unwrap().count());
                Ok(())
            },
        );
        assert_eq!(staged_there, Some(0), "{seen}: staged there");
        // Written into the folder that was checked (held by its handle), or
        // refused; never where the link leads.
        let held = fs::read_to_string(dir.path().join("sub-held/x.txt")).unwrap();
        assert!(done.is_ok() == (held == "X\n"), "{seen}: {done:?}");
        assert!(
            fs::read_dir(&swap_to).unwrap().next().is_none(),
            "{seen}: wrote there"
        );
        fs::remove_file(dir.path().join("sub")).unwrap();
        fs::remove_dir_all(dir.path().join("sub-held")).unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/x.txt"), "x\n").unwrap();
    }
}

#[test]
fn a_staging_write_that_fails_halfway_leaves_nothing_behind() {
    let (dir, p) = setup();
    FAIL_STAGE_AT.with(|f| f.set(Some(1)));
    let err = apply(
        &p,
        &[
            w("a.txt", Some(b"a\n"), Some(b"A\n")),
            w("new/b.txt", None, Some(b"a longer new file\n")),
        ],
    )
    .unwrap_err();
    FAIL_STAGE_AT.with(|f| f.set(None));
    assert_eq!(err.code(), "io");
    assert_eq!(fs::read_to_string(dir.path().join("a.txt")).unwrap(), "a\n");
    assert!(!dir.path().join("new").exists());
    no_staging_left(dir.path());
}

#[cfg(unix)]
#[test]
fn a_git_dir_renamed_to_a_plain_name_is_still_refused() {
    let (dir, p) = setup();
    let git = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir.path())
        .status();
    if !git.is_ok_and(|s| s.success()) {
        return; // no git here: nothing to test against
    }
    p.resolve("a.txt").unwrap(); // the project's git dirs are known from here on
    fs::rename(dir.path().join(".git"), dir.path().join("sub")).unwrap();
    let config = fs::read(dir.path().join("sub/config")).unwrap();
    let err = apply(
        &p,
        &[w(
            "sub/config",
            Some(&config),
            Some(b"[core]\n\tfsmonitor = evil\n"),
        )],
    )
    .unwrap_err();
    assert_eq!(err.code(), "outside_project");
    let err = apply(
        &p,
        &[w(
            "sub/hooks/post-checkout",
            None,
            Some(b"#!/bin/sh\nevil\n"),
        )],
    )
    .unwrap_err();
    assert_eq!(err.code(), "outside_project");
    assert_eq!(fs::read(dir.path().join("sub/config")).unwrap(), config);
    assert!(!dir.path().join("sub/hooks/post-checkout").exists());
}

#[cfg(unix)]
#[test]
fn a_rollback_never_writes_through_what_was_put_at_the_name() {
    let (dir, p) = setup();
    let victim = dir.path().join("victim.txt");
    fs::write(&victim, "precious\n").unwrap();
    let root = dir.path().to_path_buf();
    // After a.txt is renamed into place, a racing process makes the name a hard link
    // to another file; then the next commit fails and a.txt is put back.
    BEFORE_ROLLBACK.with(|h| {
        *h.borrow_mut() = Some(Box::new(move || {
            fs::remove_file(root.join("a.txt")).unwrap();
            fs::hard_link(root.join("victim.txt"), root.join("a.txt")).unwrap();
        }))
    });
    FAIL_COMMIT_AT.with(|f| f.set(Some(1)));
    let err = apply(
        &p,
        &[
            w("a.txt", Some(b"a\n"), Some(b"A\n")),
            w("b.txt", Some(b"b\n"), Some(b"B\n")),
        ],
    )
    .unwrap_err();
    FAIL_COMMIT_AT.with(|f| f.set(None));
    assert_eq!(err.code(), "io");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(fs::read_to_string(dir.path().join("a.txt")).unwrap(), "a\n");
}

#[cfg(unix)]
#[test]
fn one_file_is_not_written_twice_under_two_names() {
    let (dir, p) = setup();
    std::os::unix::fs::symlink("a.txt", dir.path().join("cur.txt")).unwrap();
    let err = apply(
        &p,
        &[
            w("a.txt", Some(b"a\n"), Some(b"one\n")),
            w("cur.txt", Some(b"a\n"), Some(b"two\n")),
        ],
    )
    .unwrap_err();
    assert!(err.to_string().contains("same file"), "{err}");
    assert_eq!(fs::read_to_string(dir.path().join("a.txt")).unwrap(), "a\n");
}

#[cfg(unix)]
#[test]
fn deleted_files_come_back_with_their_mode_and_as_links() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, p) = setup();
    let path = dir.path().join("run.sh");
    fs::write(&path, "#!/bin/sh\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::symlink("a.txt", dir.path().join("cur")).unwrap();
    let done = apply(
        &p,
        &[
            w("run.sh", Some(b"#!/bin/sh\n"), None),
            w("cur", Some(b"a\n"), None),
        ],
    )
    .unwrap();
    assert!(!path.exists() && fs::symlink_metadata(dir.path().join("cur")).is_err());
    assert_eq!(fs::read_to_string(dir.path().join("a.txt")).unwrap(), "a\n");
    // Undo, as the engine does it from the checkpoint.
    let back: Vec<Write> = done
        .files
        .iter()
        .map(|f| Write {
            path: f.path.clone(),
            expected: None,
            content: f.before.clone(),
            mode: f.before_mode,
            link: f.before_link.clone(),
        })
        .collect();
    apply(&p, &back).unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o750
    );
    assert_eq!(
        fs::read_link(dir.path().join("cur")).unwrap(),
        Path::new("a.txt")
    );
}

#[test]
fn a_failed_commit_puts_everything_back() {
    let (dir, p) = setup();
    let writes = [
        w("a.txt", Some(b"a\n"), Some(b"A\n")),
        w("b.txt", Some(b"b\n"), None),
        w("new/deep/c.txt", None, Some(b"c\n")),
    ];
    FAIL_COMMIT_AT.with(|f| f.set(Some(2)));
    let err = apply(&p, &writes).unwrap_err();
    FAIL_COMMIT_AT.with(|f| f.set(None));
    assert_eq!(err.code(), "io");
    assert_eq!(fs::read_to_string(dir.path().join("a.txt")).unwrap(), "a\n");
    assert_eq!(fs::read_to_string(dir.path().join("b.txt")).unwrap(), "b\n");
    assert!(!dir.path().join("new").exists());
    no_staging_left(dir.path());

    let done = apply(&p, &writes).unwrap();
    assert_eq!(done.files.len(), 3);
    assert_eq!(
        fs::read_to_string(dir.path().join("new/deep/c.txt")).unwrap(),
        "c\n"
    );
    assert!(!dir.path().join("b.txt").exists());
}

#[test]
fn when_the_way_back_cannot_be_recorded_nothing_is_written() {
    let (dir, p) = setup();
    let writes = [
        w("a.txt", Some(b"a\n"), Some(b"A\n")),
        w("b.txt", Some(b"b\n"), None),
        w("new/c.txt", None, Some(b"c\n")),
    ];
    let mut seen = 0;
    let err = apply_with(&p, &writes, &mut |applied| {
        seen = applied.files.len();
        // Everything is staged, nothing renamed yet.
        assert_eq!(fs::read_to_string(dir.path().join("a.txt")).unwrap(), "a\n");
        Err(io("history", "disk full"))
    })
    .unwrap_err();
    assert_eq!((seen, err.code()), (3, "io"));
    assert_eq!(fs::read_to_string(dir.path().join("a.txt")).unwrap(), "a\n");
    assert_eq!(fs::read_to_string(dir.path().join("b.txt")).unwrap(), "b\n");
    assert!(!dir.path().join("new").exists());
    no_staging_left(dir.path());
}

#[cfg(unix)]
#[test]
fn a_link_planted_at_a_staging_name_is_never_written_through() {
    let (dir, p) = setup();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    fs::write(&victim, "precious").unwrap();
    // Where the old predictable staging names were, and a few guesses more.
    for n in 0..4 {
        let name = format!(".a.txt.flint-{}-{n}.tmp", std::process::id());
        std::os::unix::fs::symlink(&victim, dir.path().join(name)).unwrap();
        let name = format!(".a.txt.flint-{n}-.tmp");
        let _ = std::os::unix::fs::symlink(&victim, dir.path().join(name));
    }
    apply(&p, &[w("a.txt", Some(b"a\n"), Some(b"A\n"))]).unwrap();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(fs::read_to_string(dir.path().join("a.txt")).unwrap(), "A\n");
}

#[test]
fn a_rollback_that_cannot_put_a_file_back_says_the_files_are_changed() {
    let (dir, p) = setup();
    FAIL_COMMIT_AT.with(|f| f.set(Some(1)));
    FAIL_RESTORE.with(|f| f.set(true));
    let err = apply(
        &p,
        &[
            w("a.txt", Some(b"a\n"), Some(b"A\n")),
            w("b.txt", Some(b"b\n"), Some(b"B\n")),
        ],
    )
    .unwrap_err();
    FAIL_COMMIT_AT.with(|f| f.set(None));
    FAIL_RESTORE.with(|f| f.set(false));
    assert_eq!(err.code(), "partly_written");
    let message = err.to_string();
    assert!(
        message.contains("a.txt") && !message.contains("nothing was changed"),
        "{message}"
    );
    assert_eq!(fs::read_to_string(dir.path().join("a.txt")).unwrap(), "A\n");
}

#[cfg(unix)]
#[test]
fn new_files_get_the_usual_mode() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, p) = setup();
    apply(&p, &[w("new.txt", None, Some(b"n\n"))]).unwrap();
    fs::write(dir.path().join("by-hand.txt"), "h\n").unwrap();
    let mode = |n: &str| {
        fs::metadata(dir.path().join(n))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("new.txt"), mode("by-hand.txt"));
}

#[cfg(unix)]
#[test]
fn a_link_stays_a_link_and_a_rolled_back_delete_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, p) = setup();
    std::os::unix::fs::symlink("a.txt", dir.path().join("cur.txt")).unwrap();
    apply(&p, &[w("cur.txt", Some(b"a\n"), Some(b"A\n"))]).unwrap();
    assert!(fs::symlink_metadata(dir.path().join("cur.txt"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read_to_string(dir.path().join("a.txt")).unwrap(), "A\n");

    fs::set_permissions(dir.path().join("b.txt"), fs::Permissions::from_mode(0o755)).unwrap();
    FAIL_COMMIT_AT.with(|f| f.set(Some(1)));
    let err = apply(
        &p,
        &[
            w("b.txt", Some(b"b\n"), None),
            w("a.txt", Some(b"A\n"), Some(b"x\n")),
        ],
    )
    .unwrap_err();
    FAIL_COMMIT_AT.with(|f| f.set(None));
    assert_eq!(err.code(), "io");
    let mode = fs::metadata(dir.path().join("b.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
}

#[test]
fn a_file_changed_meanwhile_is_a_conflict_and_nothing_is_written() {
    let (dir, p) = setup();
    fs::write(dir.path().join("b.txt"), "user edit\n").unwrap();
    let err = apply(
        &p,
        &[
            w("a.txt", Some(b"a\n"), Some(b"A\n")),
            w("b.txt", Some(b"b\n"), Some(b"B\n")),
        ],
    )
    .unwrap_err();
    assert_eq!(
        err,
        EditError::Conflict {
            path: "b.txt".into()
        }
    );
    assert_eq!(fs::read_to_string(dir.path().join("a.txt")).unwrap(), "a\n");
}

#[cfg(unix)]
#[test]
fn permissions_are_kept() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, p) = setup();
    let path = dir.path().join("a.txt");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    apply(&p, &[w("a.txt", Some(b"a\n"), Some(b"#!/bin/sh\n"))]).unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o755
    );
}
