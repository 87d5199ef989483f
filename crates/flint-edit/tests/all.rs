//! Edits against real folders: OpenAI's apply_patch conformance scenarios, and Flint's
//! own scenarios for the other formats and the safety rules.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use flint_edit::{apply, patch, plan, AnswerParser, EditError};
use flint_project::ProjectDir;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// Every file under `root`, by relative path.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    if !root.exists() {
        return out;
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for (rel, bytes) in tree(from) {
        let p = to.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    }
}

/// Parses a whole V4A patch, plans it and applies it in full.
fn apply_patch(root: &Path, text: &str) -> Result<(), EditError> {
    let project = ProjectDir::open(root).unwrap();
    let edits = patch::parse(text)?;
    let set = plan(&project, &edits)?;
    apply(&project, &set.writes()).map(|_| ())
}

#[test]
fn apply_patch_conformance_scenarios() {
    let dir = fixtures().join("apply-patch/scenarios");
    let mut names: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    names.sort();
    assert!(names.len() >= 23, "scenarios missing: {}", names.len());
    for scenario in names {
        let name = scenario.file_name().unwrap().to_string_lossy().into_owned();
        let work = tempfile::tempdir().unwrap();
        copy_tree(&scenario.join("input"), work.path());
        let before = tree(work.path());
        let text = fs::read_to_string(scenario.join("patch.txt")).unwrap();
        let result = apply_patch(work.path(), &text);
        if name.starts_with("015_") {
            // Where Flint deliberately differs from Codex: a change set that fails part
            // way leaves nothing applied (Codex keeps created.txt).
            assert_eq!(result.unwrap_err().code(), "missing", "{name}");
            assert_eq!(tree(work.path()), before, "{name}: nothing may be written");
            continue;
        }
        let expected = tree(&scenario.join("expected"));
        if expected == before && name.contains("rejects")
            || name.contains("fails")
            || name.starts_with("009_")
        {
            assert!(result.is_err(), "{name}: should be rejected");
        } else {
            result.unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert_eq!(tree(work.path()), expected, "{name}");
    }
}

#[test]
fn edit_scenarios() {
    let dir = fixtures().join("edits");
    let mut scenarios: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    scenarios.sort();
    assert!(scenarios.len() >= 14, "scenarios missing");
    for scenario in scenarios {
        let name = scenario.file_name().unwrap().to_string_lossy().into_owned();
        let work = tempfile::tempdir().unwrap();
        copy_tree(&scenario.join("input"), work.path());
        let before = tree(work.path());
        let project = ProjectDir::open(work.path()).unwrap();
        let answer = fs::read_to_string(scenario.join("answer.md")).unwrap();
        let result = apply_answer(&project, &answer);
        match fs::read_to_string(scenario.join("error.txt")) {
            Ok(spec) => {
                let spec = spec.trim();
                let (code, words) = spec.split_once(' ').unwrap_or((spec, ""));
                let err = result.expect_err(&name);
                assert_eq!(err.code(), code, "{name}: {err}");
                assert!(
                    err.to_string().contains(words),
                    "{name}: `{err}` lacks `{words}`"
                );
                assert_eq!(
                    tree(work.path()),
                    before,
                    "{name}: a failed answer must change nothing"
                );
            }
            Err(_) => {
                result.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(
                    tree(work.path()),
                    tree(&scenario.join("expected")),
                    "{name}"
                );
            }
        }
    }
}

fn project_with(files: &[(&str, &[u8])]) -> (tempfile::TempDir, ProjectDir) {
    let dir = tempfile::tempdir().unwrap();
    for (p, b) in files {
        let path = dir.path().join(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b).unwrap();
    }
    let project = ProjectDir::open(dir.path()).unwrap();
    (dir, project)
}

/// Applies an answer all or nothing, as `flint apply` does: a block the parser could not
/// read fails the whole answer.
fn apply_answer(project: &ProjectDir, answer: &str) -> Result<(), EditError> {
    let mut parser = AnswerParser::new();
    let mut edits = parser.push(answer);
    edits.extend(parser.finish());
    if let Some(problem) = parser.errors().first() {
        return Err(EditError::InvalidPatch {
            detail: problem.clone(),
        });
    }
    let set = plan(project, &edits)?;
    apply(project, &set.writes()).map(|_| ())
}

#[test]
fn paths_outside_the_project_are_refused() {
    let (dir, p) = project_with(&[("a.txt", b"a\n")]);
    let outside = tempfile::tempdir().unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(outside.path(), dir.path().join("escape")).unwrap();
    for path in [
        "../evil.txt",
        "/etc/evil.txt",
        "a/../../evil.txt",
        ".git/config",
        "escape/evil.txt",
    ] {
        if path.starts_with("escape") && cfg!(not(unix)) {
            continue;
        }
        let answer = format!("*** Begin Patch\n*** Add File: {path}\n+x\n*** End Patch\n");
        let err = apply_answer(&p, &answer).unwrap_err();
        assert_eq!(err.code(), "outside_project", "{path}");
    }
    assert!(tree(outside.path()).is_empty());
}

/// Git's own files are never edited, whatever name or link reaches them: a hook or
/// `core.fsmonitor` written there runs code on the next `git status`.
#[test]
fn git_files_are_refused_by_any_name_or_link() {
    let (dir, p) = project_with(&[("a.txt", b"a\n")]);
    git_init(dir.path());
    let config = fs::read(dir.path().join(".git/config")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(".git", dir.path().join("g")).unwrap();
    let p = ProjectDir::open(p.root()).unwrap();
    for path in [
        ".GIT/config",
        ".git./config",
        "GIT~1/config",
        "g/config",
        "g/hooks/pre-commit",
    ] {
        if path.starts_with("g/") && cfg!(not(unix)) {
            continue;
        }
        for answer in [
            format!("*** Begin Patch\n*** Add File: {path}\n+[core]\n+\tfsmonitor = touch /tmp/pwned\n*** End Patch\n"),
            format!("*** Begin Patch\n*** Update File: {path}\n@@\n+\tfsmonitor = x\n*** End of File\n*** End Patch\n"),
        ] {
            let err = apply_answer(&p, &answer).unwrap_err();
            assert_eq!(err.code(), "outside_project", "{path}: {err}");
        }
    }
    assert_eq!(fs::read(dir.path().join(".git/config")).unwrap(), config);
    assert!(!dir.path().join(".git/hooks/pre-commit").exists());
}

/// A repository made as `git init` makes it, without git on the machine.
fn git_init(root: &Path) {
    let status = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(root)
        .status();
    if !status.is_ok_and(|s| s.success()) {
        fs::create_dir_all(root.join(".git/hooks")).unwrap();
        fs::write(root.join(".git/config"), "[core]\n").unwrap();
        fs::write(root.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    }
}

#[test]
fn a_user_edit_after_planning_is_a_conflict() {
    let (dir, p) = project_with(&[("a.txt", b"one\ntwo\n")]);
    let mut parser = AnswerParser::new();
    let edits =
        parser.push("*** Begin Patch\n*** Update File: a.txt\n@@\n-two\n+2\n*** End Patch\n");
    let set = plan(&p, &edits).unwrap();
    fs::write(
        dir.path().join("a.txt"),
        b"one\ntwo\nthree (typed by the user)\n",
    )
    .unwrap();
    assert_eq!(
        apply(&p, &set.writes()).unwrap_err(),
        EditError::Conflict {
            path: "a.txt".into()
        }
    );
    // Re-planning against the current content succeeds and keeps the user's line.
    let set = plan(&p, &edits).unwrap();
    apply(&p, &set.writes()).unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join("a.txt")).unwrap(),
        "one\n2\nthree (typed by the user)\n"
    );
}

mod laws {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Any chunking of a streamed answer yields the same edits.
        #[test]
        fn any_chunking_yields_the_same_edits(cuts in proptest::collection::vec(0usize..400, 0..40)) {
            let answer = "Intro.\n\nsrc/a.rs\n```rust\n<<<<<<< SEARCH\nold()\n=======\nnew()\n>>>>>>> REPLACE\n```\n\
                          ```\n*** Begin Patch\n*** Add File: b.txt\n+é ✓\n*** Update File: c.txt\n@@ ctx\n-x\n+y\n*** End Patch\n```\n\
                          notes.md\n```\n# n\n```\n";
            let whole = {
                let mut p = AnswerParser::new();
                let mut e = p.push(answer);
                e.extend(p.finish());
                e
            };
            prop_assert_eq!(whole.len(), 4);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % answer.len()).filter(|&c| answer.is_char_boundary(c)).collect();
            cuts.sort_unstable();
            let mut p = AnswerParser::new();
            let mut got = Vec::new();
            let mut prev = 0;
            for c in cuts {
                got.extend(p.push(&answer[prev..c]));
                prev = c;
            }
            got.extend(p.push(&answer[prev..]));
            got.extend(p.finish());
            prop_assert_eq!(got, whole);
        }

        /// Applying a change set and then writing back what it replaced is the identity.
        #[test]
        fn apply_then_undo_is_identity(lines in proptest::collection::vec("[a-c ]{0,4}", 1..20), pick in 0usize..20, new in "[x-z]{1,3}") {
            let original: String = lines.iter().map(|l| format!("{l}\n")).collect();
            let (dir, p) = project_with(&[("f.txt", original.as_bytes())]);
            let target = lines[pick % lines.len()].clone();
            let edits = vec![flint_edit::Edit::Whole { path: "f.txt".into(), content: original.replacen(&format!("{target}\n"), &format!("{new}\n"), 1) }];
            let set = plan(&p, &edits).unwrap();
            let applied = apply(&p, &set.writes()).unwrap();
            let undo: Vec<flint_edit::Write> = applied.files.iter().map(|f| flint_edit::Write {
                path: f.path.clone(),
                expected: f.after.as_deref().map(flint_edit::content_hash),
                content: f.before.clone(),
                mode: f.before_mode,
                link: f.before_link.clone(),
            }).collect();
            apply(&p, &undo).unwrap();
            prop_assert_eq!(fs::read_to_string(dir.path().join("f.txt")).unwrap(), original);
        }
    }
}

/// Inputs that took minutes (an answer pushed whole, a rewrite of a huge file, a SEARCH
/// that matches nowhere in a long one) now finish at once. Not a speed measurement (the
/// benchmarks are): the bound is a hundred times what the work takes, and far below
/// what the quadratic versions took, so it only fails if one comes back.
#[test]
fn pathological_inputs_finish_in_bounded_time() {
    use std::time::{Duration, Instant};
    let bound = Duration::from_secs(20);

    // 2 MB of short lines pushed at once (draining line by line moved ~2e12 bytes).
    let answer = "x\n".repeat(1 << 20);
    let t = Instant::now();
    let mut p = AnswerParser::new();
    assert!(p.push(&answer).is_empty());
    assert!(t.elapsed() < bound, "parser: {:?}", t.elapsed());

    // A whole-file rewrite of 200k lines, and 1e6 scattered one-line changes.
    let before: String = (0..200_000).map(|i| format!("old {i}\n")).collect();
    let after: String = (0..200_000).map(|i| format!("new {i}\n")).collect();
    let t = Instant::now();
    let h = flint_edit::hunks(&before, &after);
    assert_eq!(h.len(), 1);
    assert_eq!(flint_edit::merge(&before, &after, &[true]), after);
    let before: String = (0..1_000_000).map(|i| format!("{i}\n")).collect();
    let after: String = (0..1_000_000)
        .map(|i| {
            if i % 2 == 0 {
                format!("{i}\n")
            } else {
                format!("{i}!\n")
            }
        })
        .collect();
    let h = flint_edit::hunks(&before, &after);
    assert!(!h.is_empty());
    assert_eq!(
        flint_edit::merge(&before, &after, &vec![false; h.len()]),
        before
    );
    assert!(t.elapsed() < bound, "hunks: {:?}", t.elapsed());

    // A 50-line SEARCH that matches nowhere in a 100k-line file: the error still names
    // the nearest lines.
    let file: String = (0..100_000)
        .map(|i| format!("    let v{i} = {i};\n"))
        .collect();
    let (_dir, project) = project_with(&[("big.rs", file.as_bytes())]);
    let search: String = (0..50)
        .map(|i| format!("    let w{i} = {};\n", i * 7))
        .collect();
    let answer = format!("big.rs\n```\n<<<<<<< SEARCH\n{search}=======\nx\n>>>>>>> REPLACE\n```\n");
    let t = Instant::now();
    let err = apply_answer(&project, &answer).unwrap_err();
    assert_eq!(err.code(), "no_match");
    assert!(t.elapsed() < bound, "nearest: {:?}", t.elapsed());
}
