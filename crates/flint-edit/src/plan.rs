//! Works out what every file touched by a set of edits would become, without writing
//! anything. Edits apply in order over an in-memory overlay, so two edits to one file in
//! the same answer compose.

use std::collections::BTreeMap;

use flint_project::ProjectDir;

use crate::matching::{self, Mismatch};
use crate::text::{join_lines, split_lines, TextFile};
use crate::{Chunk, Edit, EditError};

/// One file's change: its bytes when planned and after. `None` is "does not exist".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Relative to the project root, with `/` separators.
    pub path: String,
    pub before: Option<Vec<u8>>,
    pub after: Option<Vec<u8>>,
    /// For a file that is the target of a move: where it came from.
    pub moved_from: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    pub files: Vec<FileChange>,
}

struct Entry {
    before: Option<Vec<u8>>,
    current: Option<TextFile>,
    moved_from: Option<String>,
}

struct Overlay<'a> {
    project: &'a ProjectDir,
    entries: BTreeMap<String, Entry>,
    order: Vec<String>,
}

/// A file this long is never replaced whole by a block less than half its length.
const SHRINK_GUARD_LINES: usize = 20;

/// Normalises a path the model wrote: `/` separators, no leading `./`.
pub(crate) fn normalize(path: &str) -> String {
    let p = path.trim().replace('\\', "/");
    let p = p.trim_start_matches("./");
    p.to_string()
}

impl<'a> Overlay<'a> {
    fn entry(&mut self, path: &str) -> Result<&mut Entry, EditError> {
        if !self.entries.contains_key(path) {
            let abs = self
                .project
                .resolve(path)
                .map_err(|_| EditError::OutsideProject { path: path.into() })?;
            if path.is_empty() || abs == self.project.root() {
                return Err(EditError::OutsideProject { path: path.into() });
            }
            let (before, current) = match std::fs::symlink_metadata(&abs) {
                Ok(m) if m.is_dir() => return Err(EditError::IsFolder { path: path.into() }),
                Ok(_) => {
                    let bytes = std::fs::read(&abs).map_err(|e| EditError::Io {
                        path: path.into(),
                        detail: e.to_string(),
                    })?;
                    let text = TextFile::decode(path, &bytes)?;
                    (Some(bytes), Some(text))
                }
                Err(_) => (None, None),
            };
            self.entries.insert(
                path.to_string(),
                Entry {
                    before,
                    current,
                    moved_from: None,
                },
            );
            self.order.push(path.to_string());
        }
        self.entries
            .get_mut(path)
            .ok_or_else(|| EditError::Missing { path: path.into() })
    }

    fn existing(&mut self, path: &str) -> Result<TextFile, EditError> {
        self.entry(path)?
            .current
            .clone()
            .ok_or_else(|| EditError::Missing { path: path.into() })
    }

    /// Sets a file's new text, keeping its conventions (line endings, BOM) if it has any.
    fn set(
        &mut self,
        path: &str,
        text: String,
        final_newline: Option<bool>,
    ) -> Result<(), EditError> {
        let e = self.entry(path)?;
        let mut file = match &e.current {
            Some(f) => TextFile {
                text: String::new(),
                ..f.clone()
            },
            None => TextFile::new(String::new()),
        };
        if let Some(f) = final_newline {
            file.final_newline = f;
        }
        file.text = text;
        e.current = Some(file);
        Ok(())
    }
}

/// Plans `edits` against the project's files as they are now; the first edit that
/// cannot be planned fails the whole set.
pub fn plan(project: &ProjectDir, edits: &[Edit]) -> Result<ChangeSet, EditError> {
    let (set, mut failures) = plan_each(project, edits, true);
    match failures.pop() {
        Some((_, e)) => Err(e),
        None => Ok(set),
    }
}

/// Plans every edit that can be planned, composing them in order, and reports the
/// others (by index) instead of stopping: what review shows while an answer streams.
pub fn plan_lenient(project: &ProjectDir, edits: &[Edit]) -> (ChangeSet, Vec<(usize, EditError)>) {
    plan_each(project, edits, false)
}

fn plan_each(
    project: &ProjectDir,
    edits: &[Edit],
    strict: bool,
) -> (ChangeSet, Vec<(usize, EditError)>) {
    let mut o = Overlay {
        project,
        entries: BTreeMap::new(),
        order: Vec::new(),
    };
    let mut failures = Vec::new();
    for (i, edit) in edits.iter().enumerate() {
        if let Err(e) = plan_one(&mut o, edit) {
            failures.push((i, e));
            if strict {
                return (ChangeSet::default(), failures);
            }
        }
    }
    (finish(o), failures)
}

fn plan_one(o: &mut Overlay<'_>, edit: &Edit) -> Result<(), EditError> {
    {
        match edit {
            Edit::Add { path, content } => {
                let path = normalize(path);
                o.set(&path, content.clone(), Some(true))?;
            }
            Edit::Delete { path } => {
                let path = normalize(path);
                o.existing(&path)?;
                o.entry(&path)?.current = None;
            }
            Edit::Update {
                path,
                move_to,
                chunks,
            } => {
                let path = normalize(path);
                let file = o.existing(&path)?;
                let lines = apply_chunks(&path, &file.lines(), chunks)?;
                // As apply_patch does, an updated file always ends with a newline.
                let text = join_lines(&lines, true);
                match move_to.as_deref().map(normalize) {
                    Some(to) if to != path => {
                        // Resolve the target first, so a refused target changes nothing.
                        o.entry(&to)?;
                        o.entry(&path)?.current = None;
                        let conventions = file.clone();
                        let target = o.entry(&to)?;
                        target.current = Some(TextFile {
                            text,
                            final_newline: true,
                            ..conventions
                        });
                        target.moved_from = Some(path.clone());
                    }
                    _ => o.set(&path, text, Some(true))?,
                }
            }
            Edit::Replace {
                path,
                search,
                replace,
            } => {
                let path = normalize(path);
                let exists = o.entry(&path)?.current.is_some();
                if !exists && search.trim().is_empty() {
                    // An empty SEARCH on a missing file creates it.
                    let mut content = replace.clone();
                    content.push('\n');
                    return o.set(&path, content, Some(true));
                }
                let file = o.existing(&path)?;
                let lines = file.lines();
                let mut pattern = split_lines(search);
                let mut found = matching::find_unique(&lines, &pattern);
                // Models sometimes open a SEARCH with a blank line the file does not
                // have there (Aider's issue #25): try once without it.
                if matches!(found, Err(Mismatch::None { .. }))
                    && pattern.len() > 2
                    && pattern[0].trim().is_empty()
                {
                    let without = pattern[1..].to_vec();
                    if let Ok(at) = matching::find_unique(&lines, &without) {
                        pattern = without;
                        found = Ok(at);
                    }
                }
                let at = found.map_err(|m| mismatch(&path, search, m))?;
                let replacement = matching::reindent(
                    &lines[at..at + pattern.len()],
                    &pattern,
                    split_lines(replace),
                );
                let mut out = lines[..at].to_vec();
                out.extend(replacement);
                out.extend_from_slice(&lines[at + pattern.len()..]);
                let text = join_lines(&out, file.final_newline);
                o.set(&path, text, None)?;
            }
            Edit::Whole { path, content } => {
                let path = normalize(path);
                // A whole file is inferred from a fenced block under a path: an example
                // snippet there must not replace a long file. A large shrink is never
                // taken as a whole file (apply_patch or SEARCH/REPLACE can delete).
                if let Some(existing) = &o.entry(&path)?.current {
                    let (old, new) = (existing.text.lines().count(), content.lines().count());
                    if old >= SHRINK_GUARD_LINES && new * 2 < old {
                        return Err(EditError::Shrink {
                            path,
                            before: old,
                            after: new,
                        });
                    }
                }
                o.set(&path, content.clone(), Some(content.ends_with('\n')))?;
            }
            Edit::Write { path, content } => {
                let path = normalize(path);
                o.set(&path, content.clone(), Some(content.ends_with('\n')))?;
            }
        }
    }
    Ok(())
}

fn finish(mut o: Overlay<'_>) -> ChangeSet {
    let mut files = Vec::new();
    for path in std::mem::take(&mut o.order) {
        let Some(e) = o.entries.remove(&path) else {
            continue;
        };
        let after = e.current.map(|f| {
            let mut text = f.text.clone();
            if f.final_newline && !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            f.encode(&text)
        });
        if after == e.before {
            continue; // no change to this file
        }
        files.push(FileChange {
            path,
            before: e.before,
            after,
            moved_from: e.moved_from,
        });
    }
    ChangeSet { files }
}

fn mismatch(path: &str, quoted: &str, m: Mismatch) -> EditError {
    match m {
        Mismatch::None { nearest } => EditError::NoMatch {
            path: path.into(),
            quoted: quoted.into(),
            nearest,
            several: Vec::new(),
        },
        Mismatch::Several { lines } => EditError::NoMatch {
            path: path.into(),
            quoted: quoted.into(),
            nearest: Vec::new(),
            several: lines,
        },
    }
}

/// Applies V4A chunks to a file's lines, as apply_patch does: each chunk is looked for
/// after the previous one (its `@@` anchor first), a chunk with no old lines appends at
/// the end, and a trailing empty line the file lacks is forgiven.
fn apply_chunks(path: &str, lines: &[String], chunks: &[Chunk]) -> Result<Vec<String>, EditError> {
    let mut replacements: Vec<(usize, usize, Vec<String>)> = Vec::new();
    let mut from = 0;
    for chunk in chunks {
        if let Some(anchor) = &chunk.anchor {
            match matching::seek(lines, std::slice::from_ref(anchor), from, false) {
                Some(i) => from = i + 1,
                None => {
                    return Err(EditError::NoMatch {
                        path: path.into(),
                        quoted: anchor.clone(),
                        nearest: matching::nearest(lines, std::slice::from_ref(anchor)),
                        several: Vec::new(),
                    })
                }
            }
        }
        if chunk.old.is_empty() {
            replacements.push((lines.len(), 0, chunk.new.clone()));
            continue;
        }
        let mut old: &[String] = &chunk.old;
        let mut new: &[String] = &chunk.new;
        let mut found = matching::seek(lines, old, from, chunk.eof);
        if found.is_none() && old.last().is_some_and(String::is_empty) {
            old = &old[..old.len() - 1];
            if new.last().is_some_and(String::is_empty) {
                new = &new[..new.len() - 1];
            }
            found = matching::seek(lines, old, from, chunk.eof);
        }
        match found {
            Some(i) => {
                replacements.push((i, old.len(), new.to_vec()));
                from = i + old.len();
            }
            None => {
                return Err(EditError::NoMatch {
                    path: path.into(),
                    quoted: chunk.old.join("\n"),
                    nearest: matching::nearest(lines, &chunk.old),
                    several: Vec::new(),
                })
            }
        }
    }
    replacements.sort_by_key(|r| r.0);
    let mut out = lines.to_vec();
    for (start, len, new) in replacements.into_iter().rev() {
        out.splice(start..start + len, new);
    }
    Ok(out)
}

impl ChangeSet {
    /// The writes that apply this change set in full, each guarded by the hash of the
    /// bytes it was planned against.
    pub fn writes(&self) -> Vec<crate::Write> {
        self.files
            .iter()
            .map(|f| crate::Write {
                path: f.path.clone(),
                expected: f.before.as_deref().map(crate::content_hash),
                content: f.after.clone(),
                ..Default::default()
            })
            .collect()
    }
}
