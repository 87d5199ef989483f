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
    /// A path a fence held alone (a model putting the file name in a fence of its own):
    /// the file of the next fence's SEARCH/REPLACE blocks, never of a whole file.
    carried: Option<String>,
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Prose,
    /// Inside a fence. `path` is the candidate from the line before or the info string;
    /// `carried` the path a fence of its own named just before (see the parser's).
    Fence {
        ticks: usize,
        path: Option<String>,
        carried: Option<String>,
        /// The fence's info string (`rust`, `diff`, `python src/a.py`).
        info: String,
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
    /// How many `<` opened the block: the divider is that long (or the usual 7), so a
    /// shorter or longer run of `=` in the quoted text (a heading's underline) is text.
    marker: usize,
    /// Only blank lines (or `...`) since the previous block in this fence: a block
    /// with no path of its own may take the previous block's.
    follows_closely: bool,
}

impl SearchReplace {
    fn new(path: Option<String>, marker: usize, follows_closely: bool) -> Self {
        Self {
            path,
            search: Vec::new(),
            replace: Vec::new(),
            in_replace: false,
            marker,
            follows_closely,
        }
    }
}

impl AnswerParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds more of the answer; returns the edits it completed.
    pub fn push(&mut self, delta: &str) -> Vec<Edit> {
        let mut out = Vec::new();
        if !delta.contains('\n') {
            self.partial.push_str(delta);
            return out;
        }
        // Each line is read where it lies and the consumed text dropped once: draining
        // line by line from the front would move the rest each time, O(bytes x lines)
        // for an answer pushed whole.
        let buffered = std::mem::take(&mut self.partial) + delta;
        let mut start = 0;
        while let Some(nl) = buffered[start..].find('\n') {
            let line = buffered[start..start + nl].trim_end_matches('\r');
            self.line(line, &mut out);
            start += nl + 1;
        }
        self.partial = buffered[start..].to_string();
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
    /// own) names the file of the next fence's SEARCH/REPLACE blocks. A body holding
    /// marker-like lines is never a whole file: it is a block Flint could not read, and
    /// writing it would put the markers into the user's file. Nor is a unified diff.
    fn whole_file(
        &mut self,
        path: Option<String>,
        info: &str,
        body: Vec<String>,
        out: &mut Vec<Edit>,
    ) {
        let Some(path) = path else {
            let lines: Vec<&String> = body.iter().filter(|l| !l.trim().is_empty()).collect();
            if let [only] = lines[..] {
                self.carried = as_path(only);
            }
            return;
        };
        if body.iter().any(|l| looks_like_marker(l)) {
            self.errors.push(format!(
                "a fenced block for {path} holds SEARCH/REPLACE markers Flint could not read; \
                 it is not applied"
            ));
            return;
        }
        let lang = info.split_whitespace().next().unwrap_or_default();
        let first = body.iter().find(|l| !l.trim().is_empty());
        let diff = matches!(lang, "diff" | "patch" | "udiff")
            || first.is_some_and(|l| l.starts_with("--- ") || l.starts_with("@@ "))
                && body
                    .iter()
                    .any(|l| l.starts_with("+++ ") || l.starts_with("@@ "));
        if diff {
            self.errors.push(format!(
                "a unified diff for {path} is not applied: Flint applies apply_patch, \
                 SEARCH/REPLACE blocks or whole files"
            ));
            return;
        }
        let mut content = body.join("\n");
        content.push('\n');
        out.push(Edit::Whole { path, content });
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
                        carried: self.carried.take(),
                        info: info.to_string(),
                        body: Vec::new(),
                        blocks: 0,
                        sr: None,
                    };
                } else if let Some(marker) = search_marker(trimmed) {
                    // An unfenced block: the path is on the line before.
                    self.state = State::Fence {
                        ticks: 0,
                        path: None,
                        carried: None,
                        info: String::new(),
                        body: Vec::new(),
                        blocks: 0,
                        sr: Some(SearchReplace::new(as_path(&self.last_line), marker, false)),
                    };
                } else if !trimmed.is_empty() {
                    self.last_line = trimmed.to_string();
                    // Prose after a path-only fence: it no longer names what follows.
                    self.carried = None;
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
                            carried: None,
                            info: String::new(),
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
                carried,
                info,
                body,
                blocks,
                sr,
            } => {
                if let Some(block) = sr {
                    if let Some(marker) = search_marker(trimmed) {
                        // A new block while one is open: the open one's closing marker
                        // was not one Flint reads. It is not applied (its REPLACE part
                        // would swallow this block's markers); this block starts anew.
                        let file = block.path.clone().or_else(|| path.clone());
                        self.errors.push(format!(
                            "a SEARCH/REPLACE block{} has no REPLACE marker Flint reads, so \
                             it is not applied",
                            file.map(|f| format!(" for {f}")).unwrap_or_default()
                        ));
                        // The new block's path is what it would have been read with:
                        // the last line before it that is not blank or a fence. It
                        // never falls back to the broken block's file.
                        let swallowed = if block.in_replace {
                            &block.replace
                        } else {
                            &block.search
                        };
                        let own = swallowed
                            .iter()
                            .rev()
                            .map(|l| l.trim())
                            .find(|l| !l.is_empty() && !l.starts_with("```"))
                            .and_then(as_path);
                        *blocks += 1;
                        *sr = Some(SearchReplace::new(own, marker, false));
                    } else if !block.in_replace && is_divider(trimmed, block.marker) {
                        block.in_replace = true;
                    } else if block.in_replace && is_replace_marker(trimmed) {
                        let block = sr.take();
                        if let Some(b) = block {
                            // A block with no path of its own belongs to the fence's
                            // file (or the path a fence of its own named), else to the
                            // previous block's when only blank lines came between (real
                            // replies put several blocks for one file in one fence).
                            let fallback = if *blocks == 0 {
                                path.clone().or_else(|| carried.clone())
                            } else if b.follows_closely {
                                path.clone()
                            } else {
                                None
                            };
                            let marked = b
                                .search
                                .iter()
                                .chain(&b.replace)
                                .any(|l| looks_like_marker(l));
                            match b.path.or(fallback) {
                                Some(p) if marked => self.errors.push(format!(
                                    "a SEARCH/REPLACE block for {p} holds marker lines Flint \
                                     could not read; it is not applied"
                                )),
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
                        *blocks += 1;
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
                    let info = std::mem::take(info);
                    self.state = State::Prose;
                    self.last_line.clear();
                    if blocks == 0 {
                        self.whole_file(path, &info, body, out);
                    }
                    return;
                }
                if let Some(marker) = search_marker(trimmed) {
                    // A path written as the fence's first line belongs to the block.
                    let own = body
                        .iter()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .and_then(|l| as_path(l));
                    let closely = body.iter().all(|l| matches!(l.trim(), "" | "..." | "…"));
                    *sr = Some(SearchReplace::new(own, marker, closely));
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
/// same range): how many there are.
fn search_marker(line: &str) -> Option<usize> {
    let rest = marker(line, '<')?;
    (rest == "SEARCH" || rest == "SEARCH>").then(|| line.chars().take_while(|&c| c == '<').count())
}

/// The divider of a block opened with `opened` marker characters: as many `=`, or the
/// usual 7.
fn is_divider(line: &str, opened: usize) -> bool {
    let n = line.chars().take_while(|&c| c == '=').count();
    (n == opened || n == 7) && line[n..].trim().is_empty()
}

fn is_replace_marker(line: &str) -> bool {
    marker(line, '>') == Some("REPLACE")
}

/// What follows a run of 5 to 9 `c` characters at the start of a trimmed line.
fn marker(line: &str, c: char) -> Option<&str> {
    let n = line.chars().take_while(|&x| x == c).count();
    (5..=9).contains(&n).then(|| line[n..].trim())
}

/// A line that looks like an edit block's marker, read or not: 3 or more `<` or `>` and
/// a marker word (SEARCH/REPLACE, Aider's older ORIGINAL/UPDATED), any case. Such a
/// line is never written into a file.
fn looks_like_marker(line: &str) -> bool {
    let t = line.trim();
    ['<', '>'].iter().any(|&c| {
        let n = t.chars().take_while(|&x| x == c).count();
        let word = t[n..].trim_start().to_ascii_uppercase();
        n >= 3
            && ["SEARCH", "REPLACE", "ORIGINAL", "UPDATED"]
                .iter()
                .any(|w| word.starts_with(w))
    })
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
    // Parentheses only as a whole segment (a Next.js route group, `app/(shop)/x.tsx`):
    // `sys.exit(main())` is code, not a path.
    let call_like = t
        .split('/')
        .any(|seg| seg.contains(['(', ')']) && !(seg.starts_with('(') && seg.ends_with(')')));
    let plausible = !t.is_empty()
        && t.len() < 200
        && !t.contains(char::is_whitespace)
        && !t.contains(['=', '"', '\'', ';', ',', '<', '>', '|', '&', '$', '{', '}'])
        && !call_like
        && !t.contains("://")
        && (t.contains('.') || t.contains('/'))
        && !t.ends_with('.')
        && t.chars().any(|c| c.is_alphanumeric());
    plausible.then(|| t.to_string())
}

#[cfg(test)]
mod tests;
