//! Finds edit proposals in a model's answer while it streams. Three formats are
//! accepted, whichever the model uses:
//!
//! - apply_patch (V4A) between `*** Begin Patch` and `*** End Patch`, fenced or not;
//!   each file's operation is emitted as soon as the next one starts, so review can
//!   begin before the patch ends;
//! - SEARCH/REPLACE blocks (`<<<<<<< SEARCH` / `=======` / `>>>>>>> REPLACE`) with the
//!   file's path on the line before the fence (or first inside it);
//! - a whole file in a fenced block whose only header is its path on the line before.
//!
//! Only complete lines are looked at, so any split of the text into deltas yields the
//! same edits in the same order.

use crate::{patch, Edit};

#[derive(Debug, Default)]
pub struct AnswerParser {
    partial: String,
    state: State,
    /// The last non-blank line outside any block: a path candidate for the next fence.
    last_line: String,
    errors: Vec<String>,
    /// A chunk of the patch operation still streaming has completed (see `provisional`).
    provisional_upto: Option<usize>,
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Prose,
    /// Inside a fence. `path` is the candidate from the line before or the info string.
    Fence {
        ticks: usize,
        path: Option<String>,
        body: Vec<String>,
        blocks: usize,
        sr: Option<SearchReplace>,
    },
    Patch {
        fenced: Option<usize>,
        section: Vec<String>,
    },
}

#[derive(Debug)]
struct SearchReplace {
    path: Option<String>,
    search: Vec<String>,
    replace: Vec<String>,
    in_replace: bool,
}

impl AnswerParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds more of the answer; returns the edits it completed.
    pub fn push(&mut self, delta: &str) -> Vec<Edit> {
        self.partial.push_str(delta);
        let mut out = Vec::new();
        while let Some(nl) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=nl).collect();
            let line = line
                .trim_end_matches('\n')
                .trim_end_matches('\r')
                .to_string();
            self.line(&line, &mut out);
        }
        out
    }

    /// Ends the answer: a last line without a newline is read. A patch that never got
    /// its `*** End Patch` has yielded its complete operations (each one closed by the
    /// next header); its last operation cannot be known complete - the stream may have
    /// stopped between a `-` line and its `+` lines - so it is never yielded, and an
    /// error says so. A SEARCH/REPLACE block that never closed is an error too.
    pub fn finish(&mut self) -> Vec<Edit> {
        let mut out = Vec::new();
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(line.trim_end_matches('\r'), &mut out);
        }
        match std::mem::take(&mut self.state) {
            State::Patch { section, .. } => self.unterminated(&section),
            State::Fence {
                sr: Some(b), path, ..
            } => {
                let file = b.path.or(path).unwrap_or_else(|| "a file".into());
                self.errors.push(format!(
                    "a SEARCH/REPLACE block for {file} never reached its REPLACE marker, so it \
                     is not applied"
                ));
            }
            _ => {}
        }
        out
    }

    /// The patch operation still streaming, with its changes complete so far (an
    /// update's finished `@@` chunks), once per newly finished chunk: review grows with
    /// the patch instead of waiting for the file's last chunk.
    pub fn provisional(&mut self) -> Option<Vec<Edit>> {
        let upto = self.provisional_upto.take()?;
        let State::Patch { section, .. } = &self.state else {
            return None;
        };
        let refs: Vec<&str> = section[..upto.min(section.len())]
            .iter()
            .map(String::as_str)
            .collect();
        patch::parse_body(&refs).ok().filter(|e| !e.is_empty())
    }

    /// Problems found in blocks that looked like edits but could not be read.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// The last operation of a patch that ended without `*** End Patch`: not applied,
    /// and said so.
    fn unterminated(&mut self, section: &[String]) {
        if section.iter().all(|l| l.trim().is_empty()) {
            return;
        }
        let op = section
            .iter()
            .map(|l| l.trim())
            .find(|l| l.starts_with("***"))
            .unwrap_or("its last operation")
            .to_string();
        self.errors.push(format!(
            "the patch ends without '*** End Patch', so its last operation ({op}) may be \
             cut off and is not applied"
        ));
    }

    /// A fenced block with no SEARCH/REPLACE in it: a whole file when a path names it.
    /// A block that is only a path (a model putting the file name in a fence of its
    /// own) names the file of the next block. A body holding SEARCH/REPLACE markers is
    /// never a whole file: it is a block Flint could not read, and writing it would
    /// put the markers into the user's file.
    fn whole_file(&mut self, path: Option<String>, body: Vec<String>, out: &mut Vec<Edit>) {
        // Looser than the markers read: any run of 3 or more, so a block whose markers
        // are too short or too long to read is caught too.
        let looks_like_marker = |l: &String, c: char, word: &str| {
            let t = l.trim();
            let n = t.chars().take_while(|&x| x == c).count();
            n >= 3 && t[n..].trim_start().starts_with(word)
        };
        let markers = body
            .iter()
            .any(|l| looks_like_marker(l, '<', "SEARCH") || looks_like_marker(l, '>', "REPLACE"));
        if markers {
            self.errors.push(format!(
                "a fenced block{} holds SEARCH/REPLACE markers Flint could not read; it is \
                 not applied",
                path.map(|p| format!(" for {p}")).unwrap_or_default()
            ));
            return;
        }
        match path {
            Some(path) => {
                let mut content = body.join("\n");
                content.push('\n');
                out.push(Edit::Whole { path, content });
            }
            None => {
                let lines: Vec<&String> = body.iter().filter(|l| !l.trim().is_empty()).collect();
                if let [only] = lines[..] {
                    if let Some(p) = as_path(only) {
                        self.last_line = p;
                    }
                }
            }
        }
    }

    fn flush_section(&mut self, section: &[String], out: &mut Vec<Edit>) {
        if section.iter().all(|l| l.trim().is_empty()) {
            return;
        }
        let refs: Vec<&str> = section.iter().map(String::as_str).collect();
        match patch::parse_body(&refs) {
            Ok(edits) => out.extend(edits),
            Err(e) => self.errors.push(e.to_string()),
        }
    }

    fn line(&mut self, line: &str, out: &mut Vec<Edit>) {
        let trimmed = line.trim();
        match &mut self.state {
            State::Prose => {
                if trimmed == "*** Begin Patch" {
                    self.state = State::Patch {
                        fenced: None,
                        section: Vec::new(),
                    };
                } else if let Some(ticks) = fence_open(trimmed) {
                    let info = trimmed[ticks..].trim();
                    let path = path_in_info(info).or_else(|| as_path(&self.last_line));
                    self.state = State::Fence {
                        ticks,
                        path,
                        body: Vec::new(),
                        blocks: 0,
                        sr: None,
                    };
                } else if is_search_marker(trimmed) {
                    // An unfenced block: the path is on the line before.
                    self.state = State::Fence {
                        ticks: 0,
                        path: None,
                        body: Vec::new(),
                        blocks: 0,
                        sr: Some(SearchReplace {
                            path: as_path(&self.last_line),
                            search: Vec::new(),
                            replace: Vec::new(),
                            in_replace: false,
                        }),
                    };
                } else if !trimmed.is_empty() {
                    self.last_line = trimmed.to_string();
                }
            }
            State::Patch { fenced, section } => {
                let is_header = ["*** Add File: ", "*** Delete File: ", "*** Update File: "]
                    .iter()
                    .any(|h| trimmed.starts_with(h));
                let closes_fence = fenced.is_some_and(|t| fence_close(trimmed, t));
                if trimmed == "*** End Patch" || closes_fence {
                    let section = std::mem::take(section);
                    let fenced = *fenced;
                    if closes_fence {
                        // The fence closed before `*** End Patch`: as in `finish`, the
                        // last operation is not known to be complete.
                        self.unterminated(&section);
                        self.state = State::Prose;
                        return;
                    }
                    self.flush_section(&section, out);
                    // After `*** End Patch` inside a fence, the fence still has to close.
                    self.state = match fenced {
                        Some(ticks) => State::Fence {
                            ticks,
                            path: None,
                            body: Vec::new(),
                            blocks: 1,
                            sr: None,
                        },
                        None => State::Prose,
                    };
                } else if is_header && !section.is_empty() {
                    let done = std::mem::take(section);
                    section.push(line.to_string());
                    self.flush_section(&done, out);
                } else {
                    // A new `@@` closes the update's previous chunk.
                    let chunk_done = (trimmed == "@@" || trimmed.starts_with("@@ "))
                        && section
                            .iter()
                            .any(|l| l.trim_start().starts_with("*** Update File: "))
                        && section
                            .iter()
                            .any(|l| l.starts_with('-') || l.starts_with('+'));
                    if chunk_done {
                        self.provisional_upto = Some(section.len());
                    }
                    section.push(line.to_string());
                }
            }
            State::Fence {
                ticks,
                path,
                body,
                blocks,
                sr,
            } => {
                if let Some(block) = sr {
                    if !block.in_replace && is_divider(trimmed) {
                        block.in_replace = true;
                    } else if block.in_replace && is_replace_marker(trimmed) {
                        let block = sr.take();
                        *blocks += 1;
                        if let Some(b) = block {
                            // A block with no path of its own belongs to the fence's
                            // file, else to the previous block's (real replies put
                            // several blocks for one file in one fence).
                            match b.path.or_else(|| path.clone()) {
                                Some(p) => {
                                    *path = Some(p.clone());
                                    out.push(Edit::Replace {
                                        path: p,
                                        search: b.search.join("\n"),
                                        replace: b.replace.join("\n"),
                                    });
                                }
                                None => self
                                    .errors
                                    .push("a SEARCH/REPLACE block names no file".into()),
                            }
                        }
                        if *ticks == 0 {
                            self.state = State::Prose;
                        }
                    } else if block.in_replace {
                        block.replace.push(line.to_string());
                    } else {
                        block.search.push(line.to_string());
                    }
                    return;
                }
                if *ticks > 0 && fence_close(trimmed, *ticks) {
                    let (path, body, blocks) = (path.take(), std::mem::take(body), *blocks);
                    self.state = State::Prose;
                    self.last_line.clear();
                    if blocks == 0 {
                        self.whole_file(path, body, out);
                    }
                    return;
                }
                if is_search_marker(trimmed) {
                    // A path written as the fence's first line belongs to the block.
                    let own = body
                        .iter()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .and_then(|l| as_path(l));
                    *sr = Some(SearchReplace {
                        path: own,
                        search: Vec::new(),
                        replace: Vec::new(),
                        in_replace: false,
                    });
                    body.clear();
                } else if trimmed == "*** Begin Patch" && body.iter().all(|l| l.trim().is_empty()) {
                    let ticks = *ticks;
                    self.state = State::Patch {
                        fenced: Some(ticks),
                        section: Vec::new(),
                    };
                } else if *ticks == 0 {
                    self.state = State::Prose;
                } else {
                    body.push(line.to_string());
                }
            }
        }
    }
}

/// `<<<<<<< SEARCH`, with the 5 to 9 marker characters models write (Aider accepts the
/// same range).
fn is_search_marker(line: &str) -> bool {
    marker(line, '<').is_some_and(|rest| rest == "SEARCH" || rest == "SEARCH>")
}

fn is_divider(line: &str) -> bool {
    marker(line, '=') == Some("")
}

fn is_replace_marker(line: &str) -> bool {
    marker(line, '>') == Some("REPLACE")
}

/// What follows a run of 5 to 9 `c` characters at the start of a trimmed line.
fn marker(line: &str, c: char) -> Option<&str> {
    let n = line.chars().take_while(|&x| x == c).count();
    (5..=9).contains(&n).then(|| line[n..].trim())
}

/// The number of backticks opening a fence, if `line` opens one.
fn fence_open(line: &str) -> Option<usize> {
    let ticks = line.chars().take_while(|&c| c == '`').count();
    (ticks >= 3).then_some(ticks)
}

fn fence_close(line: &str, ticks: usize) -> bool {
    let n = line.chars().take_while(|&c| c == '`').count();
    n >= ticks && line[n..].trim().is_empty()
}

/// A path in a fence's info string: "rust src/main.rs", "src/main.rs", "path=src/a.rs".
fn path_in_info(info: &str) -> Option<String> {
    info.split_whitespace()
        .map(|w| w.trim_start_matches("path=").trim_start_matches("file="))
        .filter(|w| w.contains('/') || w.contains('.'))
        .find_map(as_path)
}

/// `line` as a relative path, if that is all it is (after stripping markdown dressing
/// such as backticks, bold, a heading mark or a trailing colon).
fn as_path(line: &str) -> Option<String> {
    let t = line
        .trim()
        .trim_start_matches('#')
        .trim()
        .trim_matches('*')
        .trim_matches('`')
        .trim_end_matches(':')
        .trim_matches('`')
        .trim();
    let plausible = !t.is_empty()
        && t.len() < 200
        && !t.contains(char::is_whitespace)
        && !t.contains("://")
        && (t.contains('.') || t.contains('/'))
        && !t.ends_with('.')
        && t.chars().any(|c| c.is_alphanumeric());
    plausible.then(|| t.to_string())
}

#[cfg(test)]
mod tests {
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
}
