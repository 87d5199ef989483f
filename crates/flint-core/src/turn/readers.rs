//! The read-only project tools a model may call: `read_file` (a line range, numbered,
//! bounded), `list_dir` (one folder, ignore rules applied) and `search` (a regular
//! expression over the project's files as ripgrep walks them: ignore rules, no binary
//! files; ripgrep's own crates). Every path is confined as edits are (inside the root,
//! never git's folder), every answer is bounded in size and the search in time, and a
//! bad argument is an error result the model can correct - never a failed turn.
//! Nothing here writes; issue 15's runner adds edits and commands with approvals.

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use serde_json::{json, Value};

use flint_model::{ToolCall, ToolInput, ToolSpec};
use flint_project::ProjectDir;

use super::tools::{ToolOutput, ToolRunner};

/// At most this much of a file in one answer.
const MAX_READ_BYTES: usize = 256 * 1024;
/// At most this many lines in one answer (the model asks for the next range).
const MAX_READ_LINES: usize = 2_000;
/// At most this many entries of a folder.
const MAX_ENTRIES: usize = 500;
/// At most this many matching lines, each cut at `MAX_LINE_CHARS`.
const MAX_MATCHES: usize = 200;
const MAX_LINE_CHARS: usize = 300;
/// A search stops after this long and says so.
const SEARCH_DEADLINE: Duration = Duration::from_secs(5);
/// Files larger than this are not searched (generated bundles, data).
const MAX_SEARCHED_FILE: u64 = 4 * 1024 * 1024;

/// The read-only tools, for the project at the root each call names.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProjectReaders;

fn schema(properties: Value, required: &[&str]) -> ToolInput {
    ToolInput::Json {
        schema: json!({ "type": "object", "properties": properties, "required": required }),
    }
}

impl ToolRunner for ProjectReaders {
    fn specs(&self) -> Vec<ToolSpec> {
        vec![
            ToolSpec {
                name: "read_file".into(),
                description: format!(
                    "Reads a text file of the project, with line numbers. Paths are relative \
                     to the project root. At most {MAX_READ_LINES} lines at a time: pass \
                     start_line (1-based) and end_line for the rest."
                ),
                input: schema(
                    json!({
                        "path": { "type": "string" },
                        "start_line": { "type": "integer", "minimum": 1 },
                        "end_line": { "type": "integer", "minimum": 1 },
                    }),
                    &["path"],
                ),
            },
            ToolSpec {
                name: "list_dir".into(),
                description: "Lists one folder of the project (\"\" for the root), folders \
                              first, ignored files left out."
                    .into(),
                input: schema(json!({ "path": { "type": "string" } }), &[]),
            },
            ToolSpec {
                name: "search".into(),
                description: format!(
                    "Searches the project's text files for a regular expression (Rust regex \
                     syntax), respecting .gitignore; optionally only under a folder. Answers \
                     path:line: text, at most {MAX_MATCHES} lines."
                ),
                input: schema(
                    json!({
                        "pattern": { "type": "string" },
                        "path": { "type": "string" },
                        "case_insensitive": { "type": "boolean" },
                    }),
                    &["pattern"],
                ),
            },
        ]
    }

    fn run<'a>(&'a self, root: &'a Path, call: &'a ToolCall) -> BoxFuture<'a, ToolOutput> {
        let (root, call) = (root.to_path_buf(), call.clone());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || run_now(&root, &call))
                .await
                .unwrap_or_else(|e| ToolOutput::error(format!("the tool stopped: {e}")))
        })
    }
}

/// Runs one call (blocking: reads files).
fn run_now(root: &Path, call: &ToolCall) -> ToolOutput {
    let args: Value = if call.input.trim().is_empty() {
        json!({})
    } else {
        match serde_json::from_str(&call.input) {
            Ok(v) => v,
            Err(e) => return ToolOutput::error(format!("the arguments are not JSON: {e}")),
        }
    };
    let dir = match ProjectDir::open(root) {
        Ok(d) => d,
        Err(e) => return ToolOutput::error(e.to_string()),
    };
    let text = |k: &str| args[k].as_str().unwrap_or_default().to_string();
    match call.name.as_str() {
        "read_file" => read_file(
            &dir,
            &text("path"),
            args["start_line"].as_u64(),
            args["end_line"].as_u64(),
        ),
        "list_dir" => list_dir(&dir, &text("path")),
        "search" => search(
            &dir,
            &text("pattern"),
            &text("path"),
            args["case_insensitive"].as_bool().unwrap_or(false),
        ),
        other => ToolOutput::error(format!("there is no tool `{other}`")),
    }
}

fn read_file(dir: &ProjectDir, path: &str, start: Option<u64>, end: Option<u64>) -> ToolOutput {
    if path.is_empty() {
        return ToolOutput::error("read_file needs a path");
    }
    let Ok(abs) = dir.resolve(path) else {
        return ToolOutput::error(format!("`{path}` is outside the project"));
    };
    if abs.is_dir() {
        return ToolOutput::error(format!("{path} is a folder: use list_dir"));
    }
    // The whole file is read (bounded), so a range past the first lines is exact.
    let Some(bytes) = flint_project::read_regular(&abs, 64 * 1024 * 1024, true) else {
        return ToolOutput::error(format!("{path} does not exist or is not a regular file"));
    };
    if bytes.iter().take(8 * 1024).any(|&b| b == 0) {
        return ToolOutput::error(format!("{path} is a binary file"));
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let first = start.unwrap_or(1).max(1) as usize;
    if first > lines.len().max(1) {
        return ToolOutput::error(format!("{path} has {} lines", lines.len()));
    }
    let last = end
        .map(|e| e as usize)
        .unwrap_or(usize::MAX)
        .min(lines.len())
        .min(first + MAX_READ_LINES - 1);
    let mut out = String::new();
    let mut shown_to = first.saturating_sub(1);
    for (i, line) in lines.iter().enumerate().take(last).skip(first - 1) {
        let numbered = format!("{}: {line}\n", i + 1);
        if out.len() + numbered.len() > MAX_READ_BYTES {
            break;
        }
        out.push_str(&numbered);
        shown_to = i + 1;
    }
    if shown_to < lines.len() {
        out.push_str(&format!(
            "[lines {first}-{shown_to} of {}; read on from start_line {}]\n",
            lines.len(),
            shown_to + 1
        ));
    }
    ToolOutput::ok(out)
}

fn list_dir(dir: &ProjectDir, path: &str) -> ToolOutput {
    let entries = match dir.list_dir(path) {
        Ok(e) => e,
        Err(e) => return ToolOutput::error(e.to_string()),
    };
    let mut out = String::new();
    for e in entries.iter().take(MAX_ENTRIES) {
        out.push_str(&e.path);
        if e.is_dir {
            out.push('/');
        }
        out.push('\n');
    }
    if entries.len() > MAX_ENTRIES {
        out.push_str(&format!("[{} more entries]\n", entries.len() - MAX_ENTRIES));
    }
    if out.is_empty() {
        out.push_str("(empty)\n");
    }
    ToolOutput::ok(out)
}

fn search(dir: &ProjectDir, pattern: &str, under: &str, case_insensitive: bool) -> ToolOutput {
    use grep_regex::RegexMatcherBuilder;
    use grep_searcher::{sinks::UTF8, BinaryDetection, SearcherBuilder};
    if pattern.is_empty() {
        return ToolOutput::error("search needs a pattern");
    }
    let matcher = match RegexMatcherBuilder::new()
        .case_insensitive(case_insensitive)
        .build(pattern)
    {
        Ok(m) => m,
        Err(e) => {
            return ToolOutput::error(format!(
                "the pattern is not a valid regular expression: {e}"
            ))
        }
    };
    let Ok(start) = dir.resolve(under) else {
        return ToolOutput::error(format!("`{under}` is outside the project"));
    };
    let mut searcher = SearcherBuilder::new()
        .binary_detection(BinaryDetection::quit(0))
        .line_number(true)
        .build();
    let began = Instant::now();
    let mut out = String::new();
    let mut found = 0;
    let mut stopped = None;
    let walk = ignore::WalkBuilder::new(&start)
        .hidden(false)
        .filter_entry(|e| e.file_name() != ".git")
        .build();
    for entry in walk.flatten() {
        if found >= MAX_MATCHES {
            stopped = Some(format!("[stopped at {MAX_MATCHES} matching lines]"));
            break;
        }
        if began.elapsed() > SEARCH_DEADLINE {
            stopped = Some(format!(
                "[stopped after {} s; narrow the pattern or the path]",
                SEARCH_DEADLINE.as_secs()
            ));
            break;
        }
        let is_file = entry.file_type().is_some_and(|t| t.is_file());
        let small = entry.metadata().is_ok_and(|m| m.len() <= MAX_SEARCHED_FILE);
        if !is_file || !small {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(dir.root())
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        let _ = searcher.search_path(
            &matcher,
            entry.path(),
            UTF8(|line_number, line| {
                let line = line.trim_end();
                let cut: String = line.chars().take(MAX_LINE_CHARS).collect();
                let more = if cut.len() < line.len() { " …" } else { "" };
                out.push_str(&format!("{rel}:{line_number}: {cut}{more}\n"));
                found += 1;
                Ok(found < MAX_MATCHES)
            }),
        );
    }
    if let Some(note) = stopped {
        out.push_str(&note);
        out.push('\n');
    }
    if found == 0 && out.is_empty() {
        out.push_str("no matches\n");
    }
    ToolOutput::ok(out)
}
