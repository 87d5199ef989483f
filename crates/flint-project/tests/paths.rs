//! The status read after a save, path by path, from a process whose folder is inside the
//! repository (its own test binary: the folder is the process's), for a project that is
//! a folder of the repository, with names that look like pathspec magic. gitoxide's
//! answer (no libgit2 to fall back on) must be libgit2's.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::fs;
use std::path::Path;

use git2::{Repository, Signature};

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

/// Names that look like pathspec magic (each must stand for itself alone), in `proj/`.
const ODD: [&str; 8] = [
    "plain.txt",
    "with space.txt",
    "star*.txt",
    "[ab].txt",
    ":(glob)x.txt",
    "(paren).txt",
    "!bang.txt",
    "a).txt",
];

#[test]
fn paths_read_after_a_save_from_inside_the_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let top = tmp.path().canonicalize().unwrap();
    let repo = Repository::init(&top).unwrap();
    let mut names: Vec<String> = ODD.iter().map(|n| format!("proj/{n}")).collect();
    names.extend(["proj/a.txt", "proj/b.txt", "other/file.txt"].map(String::from));
    let mut index = repo.index().unwrap();
    for n in &names {
        write(&top, n, n);
        index.add_path(Path::new(n)).unwrap();
    }
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = Signature::now("T", "t@t").unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "base", &tree, &[])
        .unwrap();
    // Edited: each odd name (each must not stand for another file: a.txt and b.txt stay
    // as they are, as does the file outside the project); new: one more odd name.
    for n in ODD {
        write(&top, &format!("proj/{n}"), "edited\n");
    }
    write(&top, "proj/new *.txt", "untracked\n");
    // The process's folder inside the repository, below the project.
    let inside = top.join("proj/deeper");
    fs::create_dir_all(&inside).unwrap();
    std::env::set_current_dir(&inside).unwrap();

    let project = top.join("proj");
    let mut asked: Vec<String> = ODD.map(String::from).to_vec();
    asked.extend(["a.txt", "b.txt", "new *.txt"].map(String::from));
    let expected = flint_project::status_of(&project, &asked).unwrap();
    let changed = expected.iter().filter(|(_, c)| c.is_some()).count();
    assert_eq!(changed, 9, "{expected:?}");
    assert_eq!(
        flint_project::status_of_gitoxide(&project, &asked).unwrap(),
        expected
    );
    let reader = flint_project::StatusReader::new(&project);
    assert_eq!(reader.read_paths(&asked).unwrap(), expected);
    assert!(reader.read_paths(&[]).unwrap().is_empty());

    // Many paths at once (a folder of new files): the whole read, picked out.
    let mut many = asked.clone();
    for i in 0..250 {
        let n = format!("gen/f{i}.txt");
        write(&project, &n, "new\n");
        many.push(n);
    }
    let expected = flint_project::status_of(&project, &many).unwrap();
    assert_eq!(
        flint_project::status_of_gitoxide(&project, &many).unwrap(),
        expected
    );
}
