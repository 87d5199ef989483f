//! Edit proposals, from a model's answer to the user's files. This crate reads edits in
//! the three formats models write (`answer`, `patch`), works out what each file would
//! become (`plan`, with `matching` for text the model quoted imperfectly), shows the
//! difference as hunks Flint computes itself (`hunk`), and writes an accepted change
//! set all-or-nothing (`apply`). It never writes outside the project, never writes a
//! file the user changed since the proposal was made, and knows nothing of sessions or
//! storage: the caller keeps the checkpoints it returns.

mod answer;
mod apply;
mod hunk;
mod matching;
pub mod patch;
mod plan;
mod text;

pub use answer::AnswerParser;
pub use apply::{apply, apply_with, content_hash, Applied, AppliedFile, Write};
pub use hunk::{hunks, merge, DiffLine, Hunk, LineKind};
pub use plan::{plan, plan_lenient, ChangeSet, FileChange};
pub use text::{TextFile, MAX_FILE_BYTES};

/// One edit as the model proposed it, whatever the format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    Add {
        path: String,
        content: String,
    },
    Delete {
        path: String,
    },
    Update {
        path: String,
        move_to: Option<String>,
        chunks: Vec<Chunk>,
    },
    Replace {
        path: String,
        search: String,
        replace: String,
    },
    Whole {
        path: String,
        content: String,
    },
    /// A file written whole on purpose (an agent's `fs/write_text_file`): created or
    /// replaced with exactly this text, however much shorter (no guard against an
    /// inferred snippet, as for `Whole`).
    Write {
        path: String,
        content: String,
    },
}

impl Edit {
    pub fn path(&self) -> &str {
        match self {
            Self::Add { path, .. }
            | Self::Delete { path }
            | Self::Update { path, .. }
            | Self::Replace { path, .. }
            | Self::Whole { path, .. }
            | Self::Write { path, .. } => path,
        }
    }
}

/// One change of a V4A update: the lines it expects (`old`) and what replaces them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The `@@` line: a line to find first, before `old`.
    pub anchor: Option<String>,
    pub old: Vec<String>,
    pub new: Vec<String>,
    /// `*** End of File`: the chunk is at the end of the file.
    pub eof: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("the patch is not valid: {detail}")]
    InvalidPatch { detail: String },
    #[error("`{path}` is outside the project")]
    OutsideProject { path: String },
    #[error("{path} does not exist")]
    Missing { path: String },
    #[error("{path} is a folder, not a file")]
    IsFolder { path: String },
    #[error("{path} is a binary file; Flint only edits text")]
    Binary { path: String },
    #[error("{path} is {bytes} bytes, over the {} MiB limit for edits", MAX_FILE_BYTES >> 20)]
    TooLarge { path: String, bytes: usize },
    #[error("{path}: {}", describe_mismatch(.quoted, .nearest, .several))]
    NoMatch {
        path: String,
        quoted: String,
        nearest: Vec<(usize, String)>,
        several: Vec<usize>,
    },
    #[error("{path} changed since the proposal was made, and the edit no longer fits it")]
    Conflict { path: String },
    #[error(
        "{path}: a block of {after} lines would replace the whole file of {before} lines; a \
         snippet is not the file, so it is not applied (change part of a file with a \
         SEARCH/REPLACE block or apply_patch)"
    )]
    Shrink {
        path: String,
        before: usize,
        after: usize,
    },
    #[error("could not write {path}: {detail}; nothing was changed")]
    Io { path: String, detail: String },
    /// A write failed and putting back what was already written failed too: the files
    /// are partly changed. The way back (the checkpoint) must be kept.
    #[error(
        "could not write {path}: {detail}; and these could not be put back, so they are \
         changed: {unrestored}"
    )]
    PartlyWritten {
        path: String,
        detail: String,
        unrestored: String,
    },
}

fn describe_mismatch(quoted: &str, nearest: &[(usize, String)], several: &[usize]) -> String {
    let first = quoted.lines().next().unwrap_or_default();
    if !several.is_empty() {
        let at: Vec<String> = several.iter().map(usize::to_string).collect();
        return format!(
            "the lines starting `{first}` appear {} times (lines {}); quote more context to pick one",
            several.len(),
            at.join(", ")
        );
    }
    if nearest.is_empty() {
        return format!("the lines starting `{first}` are not in the file");
    }
    let near: Vec<String> = nearest.iter().map(|(n, l)| format!("{n}: {l}")).collect();
    // The nearest lines line up with the quoted ones: name the first that differs (as
    // loosely as matching compares), which is the line the model has to fix.
    let same = |a: &str, b: &str| {
        matching::fold_punctuation(a.trim()) == matching::fold_punctuation(b.trim())
    };
    let quoted_lines: Vec<&str> = quoted.split('\n').collect();
    let differs = quoted_lines
        .iter()
        .zip(nearest)
        .position(|(q, (_, f))| !same(q, f));
    let what = match differs {
        Some(i) => format!(
            "line {} of the quoted lines, `{}`, does not match line {} of the file, `{}`",
            i + 1,
            quoted_lines[i].trim(),
            nearest[i].0,
            nearest[i].1.trim()
        ),
        None if quoted_lines.len() > nearest.len() => format!(
            "the {} quoted lines starting `{first}` are more than the file holds",
            quoted_lines.len()
        ),
        None => format!("the lines starting `{first}` are not in the file"),
    };
    format!("{what}; the nearest lines are:\n{}", near.join("\n"))
}

impl EditError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidPatch { .. } => "invalid_patch",
            Self::OutsideProject { .. } => "outside_project",
            Self::Missing { .. } => "missing",
            Self::IsFolder { .. } => "is_folder",
            Self::Binary { .. } => "binary",
            Self::TooLarge { .. } => "too_large",
            Self::NoMatch { .. } => "no_match",
            Self::Conflict { .. } => "conflict",
            Self::Shrink { .. } => "shrink",
            Self::Io { .. } => "io",
            Self::PartlyWritten { .. } => "partly_written",
        }
    }

    /// What to tell the model so it can correct the edit (the nearest real lines).
    pub fn feedback(&self) -> String {
        format!("The edit could not be applied: {self}")
    }
}
