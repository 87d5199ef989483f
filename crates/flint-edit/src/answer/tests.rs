use super::*;

fn all(text: &str) -> Vec<Edit> {
    let mut p = AnswerParser::new();
    let mut out = p.push(text);
    out.extend(p.finish());
    out
}

#[test]
fn finds_each_format() {
    let text = "Here is the fix.\n\n\
        src/lib.rs\n```rust\n<<<<<<< SEARCH\nfn a() {}\n=======\nfn a() { b() }\n>>>>>>> REPLACE\n```\n\n\
        And a new file:\n\nnotes/todo.md\n```\n- one\n```\n\n\
        ```diff\n*** Begin Patch\n*** Delete File: old.txt\n*** End Patch\n```\n\
        Done. See `src/main.rs` for more.\n```rust\nfn example() {}\n```\n";
    let edits = all(text);
    assert_eq!(
        edits,
        vec![
            Edit::Replace {
                path: "src/lib.rs".into(),
                search: "fn a() {}".into(),
                replace: "fn a() { b() }".into()
            },
            Edit::Whole {
                path: "notes/todo.md".into(),
                content: "- one\n".into()
            },
            Edit::Delete {
                path: "old.txt".into()
            },
        ]
    );
}

#[test]
fn patch_operations_arrive_one_file_at_a_time() {
    let mut p = AnswerParser::new();
    assert!(p
        .push("*** Begin Patch\n*** Add File: a.txt\n+x\n")
        .is_empty());
    let first = p.push("*** Update File: b.txt\n");
    assert_eq!(
        first,
        vec![Edit::Add {
            path: "a.txt".into(),
            content: "x\n".into()
        }]
    );
    assert!(p.push("@@\n-old\n+new\n").is_empty());
    assert_eq!(p.push("*** End Patch\n").len(), 1);
}

#[test]
fn an_update_shows_its_finished_chunks_before_it_ends() {
    let mut p = AnswerParser::new();
    p.push("*** Begin Patch\n*** Update File: a.txt\n@@\n-a\n+A\n");
    assert!(p.provisional().is_none());
    p.push("@@\n-z\n");
    let Some(edits) = p.provisional() else {
        panic!("no provisional edit")
    };
    let Edit::Update { chunks, .. } = &edits[0] else {
        panic!()
    };
    assert_eq!(chunks.len(), 1);
    assert!(p.provisional().is_none(), "once per finished chunk");
}

#[test]
fn markers_of_five_to_nine_characters_are_read() {
    for n in 5..=9 {
        let (l, e, r) = ("<".repeat(n), "=".repeat(n), ">".repeat(n));
        let text = format!("a.txt\n```\n{l} SEARCH\nTwo\n{e}\nToo\n{r} REPLACE\n```\n");
        assert_eq!(
            all(&text),
            vec![Edit::Replace {
                path: "a.txt".into(),
                search: "Two".into(),
                replace: "Too".into()
            }],
            "{n} marker characters"
        );
    }
}

#[test]
fn markers_flint_cannot_read_are_never_written_as_a_whole_file() {
    let mut p = AnswerParser::new();
    let mut edits = p.push("a.txt\n```\n<<<< SEARCH\nTwo\n====\nToo\n>>>> REPLACE\n```\n");
    edits.extend(p.finish());
    assert!(edits.is_empty(), "{edits:?}");
    assert_eq!(p.errors().len(), 1, "{:?}", p.errors());
}

#[test]
fn a_second_block_in_a_fence_reuses_the_previous_path() {
    let edits = all(
        "```python\nsrc/a.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n\n\
         <<<<<<< SEARCH\nz\n=======\nw\n>>>>>>> REPLACE\n```\n",
    );
    let paths: Vec<&str> = edits.iter().map(Edit::path).collect();
    assert_eq!(paths, ["src/a.py", "src/a.py"]);
}

#[test]
fn a_path_in_a_fence_of_its_own_names_the_next_block() {
    let edits = all("```python\nfoo.txt\n```\n```python\n<<<<<<< SEARCH\none\n=======\ntwo\n>>>>>>> REPLACE\n```\n");
    assert_eq!(
        edits,
        vec![Edit::Replace {
            path: "foo.txt".into(),
            search: "one".into(),
            replace: "two".into()
        }]
    );
}

#[test]
fn an_unterminated_patch_never_yields_its_last_operation() {
    // Cut between the `-` line and its `+` line: applying it would delete the line.
    let mut p = AnswerParser::new();
    let mut edits = p.push("*** Begin Patch\n*** Add File: a.txt\n+x\n*** Update File: app.py\n@@ def main():\n-    print(\"old\")\n");
    edits.extend(p.finish());
    assert_eq!(
        edits.len(),
        1,
        "only the operation a header closed: {edits:?}"
    );
    assert_eq!(edits[0].path(), "a.txt");
    assert!(
        p.errors()[0].contains("Update File: app.py"),
        "{:?}",
        p.errors()
    );
    // The same when a fence closes before `*** End Patch`.
    let mut p = AnswerParser::new();
    let mut edits = p.push("```\n*** Begin Patch\n*** Update File: app.py\n@@\n-a\n```\n");
    edits.extend(p.finish());
    assert!(edits.is_empty());
    assert_eq!(p.errors().len(), 1);
}

#[test]
fn an_unclosed_search_replace_block_is_an_error() {
    let mut p = AnswerParser::new();
    let mut edits = p.push("```\nfoo.txt\n<<<<<<< SEARCH\nTwo\n=======\nToo\n\noops!\n");
    edits.extend(p.finish());
    assert!(edits.is_empty());
    assert!(p.errors()[0].contains("foo.txt"), "{:?}", p.errors());
}

#[test]
fn a_block_whose_close_flint_cannot_read_never_swallows_the_next() {
    let mut p = AnswerParser::new();
    let mut edits = p.push(
        "a.txt\n```\n<<<<<<< SEARCH\nTwo\n=======\nToo\n>>>> REPLACE\n```\n\nb.txt\n```\n\
         <<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n```\n",
    );
    edits.extend(p.finish());
    assert_eq!(
        edits,
        vec![Edit::Replace {
            path: "b.txt".into(),
            search: "x".into(),
            replace: "y".into()
        }]
    );
    assert!(p.errors()[0].contains("a.txt"), "{:?}", p.errors());
}

#[test]
fn a_heading_underline_in_a_search_is_text() {
    let edits = all(
        "README.md\n```\n<<<<<<< SEARCH\nUsage\n=====\n=======\nUse\n===\n>>>>>>> REPLACE\n```\n",
    );
    assert_eq!(
        edits,
        vec![Edit::Replace {
            path: "README.md".into(),
            search: "Usage\n=====".into(),
            replace: "Use\n===".into()
        }]
    );
}

#[test]
fn diffs_and_older_markers_are_never_whole_files() {
    for text in [
        "a.py\n```diff\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x\n+y\n```\n",
        "a.py\n```\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x\n+y\n```\n",
        "a.py\n```\n<<<<<<< ORIGINAL\nx\n=======\ny\n>>>>>>> UPDATED\n```\n",
        "a.py\n```\n<<<<<<< search\nx\n=======\ny\n>>>>>>> replace\n```\n",
    ] {
        let mut p = AnswerParser::new();
        let mut edits = p.push(text);
        edits.extend(p.finish());
        assert!(edits.is_empty(), "{text}: {edits:?}");
        assert_eq!(p.errors().len(), 1, "{text}");
    }
}

#[test]
fn a_second_block_after_prose_does_not_take_the_previous_path() {
    let mut p = AnswerParser::new();
    let mut edits = p.push(
        "```\na.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n\nAnd in b.py:\n\
         <<<<<<< SEARCH\nimport os\n=======\nimport sys\n>>>>>>> REPLACE\n```\n",
    );
    edits.extend(p.finish());
    assert_eq!(edits.len(), 1);
    assert_eq!(p.errors(), ["a SEARCH/REPLACE block names no file"]);
}

#[test]
fn a_path_only_fence_never_names_a_whole_file() {
    // A command in a fence of its own, then another fence: no file is written.
    let edits = all("```bash\n./setup.sh\n```\n```bash\necho done\n```\n");
    assert!(edits.is_empty(), "{edits:?}");
    assert_eq!(as_path("sys.exit(main())"), None);
    assert_eq!(as_path("x=1"), None);
    assert_eq!(
        as_path("app/(shop)/page.tsx").as_deref(),
        Some("app/(shop)/page.tsx")
    );
}

#[test]
fn the_path_may_be_inside_the_fence_or_in_its_info() {
    let edits = all("```\nsrc/a.rs\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n```\n");
    assert_eq!(
        edits,
        vec![Edit::Replace {
            path: "src/a.rs".into(),
            search: "x".into(),
            replace: "y".into()
        }]
    );
    let edits = all("```toml Cargo.toml\n[package]\n```\n");
    assert_eq!(
        edits,
        vec![Edit::Whole {
            path: "Cargo.toml".into(),
            content: "[package]\n".into()
        }]
    );
}
