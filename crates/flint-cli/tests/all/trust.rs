//! Trust at the command line: what model output can make `flint` do or print.

use super::*;

#[test]
fn a_path_with_an_escape_sequence_is_refused_and_shown_escaped() {
    let home = Home::new();
    let project = home.project().to_str().unwrap().to_owned();
    let answer =
        "*** Begin Patch\n*** Add File: evil\u{1b}]0;pwned\u{7}\u{1b}[2J.txt\n+x\n*** End Patch\n";
    let out = cli(&home, &["apply", "--project", &project, "-"], Some(answer));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
    assert!(err.contains("\\u{1b}]0;pwned"), "{err}");
    assert_eq!(std::fs::read_dir(home.project()).unwrap().count(), 0);
}

#[test]
fn git_files_are_never_written_through_a_link_or_another_spelling() {
    let home = Home::new();
    let root = home.project().to_path_buf();
    let init = Command::new("git")
        .args(["init", "-q"])
        .current_dir(&root)
        .status();
    if !init.is_ok_and(|s| s.success()) {
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join(".git/config"), "[core]\n").unwrap();
    }
    let config = std::fs::read(root.join(".git/config")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(".git", root.join("g")).unwrap();
    let project = root.to_str().unwrap().to_owned();
    for path in ["g/config", ".GIT/config"] {
        let answer = format!(
            "*** Begin Patch\n*** Update File: {path}\n@@\n+[core]\n+\tfsmonitor = touch pwned\n*** End of File\n*** End Patch\n"
        );
        let out = cli(&home, &["apply", "--project", &project, "-"], Some(&answer));
        assert!(!out.status.success(), "{path}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("outside the project"), "{path}: {err}");
    }
    assert_eq!(std::fs::read(root.join(".git/config")).unwrap(), config);
}
