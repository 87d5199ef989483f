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

    /// Ends the answer: a last line without a newline is read, and a patch that never
    /// got its `*** End Patch` still yields its complete operations.
    pub fn finish(&mut self) -> Vec<Edit> {
        let mut out = Vec::new();
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(line.trim_end_matches('\r'), &mut out);
        }
        if let State::Patch { section, .. } = std::mem::take(&mut self.state) {
            self.flush_section(&section, &mut out);
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
                } else if trimmed == "<<<<<<< SEARCH" {
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
                    self.flush_section(&section, out);
                    // After `*** End Patch` inside a fence, the fence still has to close.
                    self.state = match (fenced, closes_fence) {
                        (Some(ticks), false) => State::Fence {
                            ticks,
                            path: None,
                            body: Vec::new(),
                            blocks: 1,
                            sr: None,
                        },
                        _ => State::Prose,
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
                    match trimmed {
                        "=======" if !block.in_replace => block.in_replace = true,
                        ">>>>>>> REPLACE" => {
                            let block = sr.take();
                            *blocks += 1;
                            if let Some(b) = block {
                                match b.path.or_else(|| path.clone()) {
                                    Some(p) => out.push(Edit::Replace {
                                        path: p,
                                        search: b.search.join("\n"),
                                        replace: b.replace.join("\n"),
                                    }),
                                    None => self
                                        .errors
                                        .push("a SEARCH/REPLACE block names no file".into()),
                                }
                            }
                            if *ticks == 0 {
                                self.state = State::Prose;
                            }
                        }
                        _ if block.in_replace => block.replace.push(line.to_string()),
                        _ => block.search.push(line.to_string()),
                    }
                    return;
                }
                if *ticks > 0 && fence_close(trimmed, *ticks) {
                    let (path, body, blocks) = (path.take(), std::mem::take(body), *blocks);
                    self.state = State::Prose;
                    self.last_line.clear();
                    if blocks == 0 {
                        if let Some(path) = path {
                            let mut content = body.join("\n");
                            content.push('\n');
                            out.push(Edit::Whole { path, content });
                        }
                    }
                    return;
                }
                if trimmed == "<<<<<<< SEARCH" {
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
