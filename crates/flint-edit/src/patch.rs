//! OpenAI's apply_patch format (V4A), what Codex models are trained to write:
//!
//! ```text
//! *** Begin Patch
//! *** Add File: path        (then `+` lines)
//! *** Delete File: path
//! *** Update File: path
//! *** Move to: new/path     (optional)
//! @@ optional anchor line
//!  context / -removed / +added lines
//! *** End of File           (optional: the chunk ends the file)
//! *** End Patch
//! ```
//!
//! Markers may be padded with whitespace, as models sometimes write them.

use crate::{Chunk, Edit, EditError};

const BEGIN: &str = "*** Begin Patch";
const END: &str = "*** End Patch";
const ADD: &str = "*** Add File: ";
const DELETE: &str = "*** Delete File: ";
const UPDATE: &str = "*** Update File: ";
const MOVE: &str = "*** Move to: ";
const EOF_MARK: &str = "*** End of File";

fn invalid(detail: impl Into<String>) -> EditError {
    EditError::InvalidPatch {
        detail: detail.into(),
    }
}

/// Parses a whole patch, `*** Begin Patch` to `*** End Patch`.
pub fn parse(text: &str) -> Result<Vec<Edit>, EditError> {
    let lines: Vec<&str> = text
        .trim()
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .collect();
    if lines.first().map(|l| l.trim()) != Some(BEGIN) {
        return Err(invalid(
            "the first line of the patch must be '*** Begin Patch'",
        ));
    }
    if lines.len() < 2 || lines.last().map(|l| l.trim()) != Some(END) {
        return Err(invalid(
            "the last line of the patch must be '*** End Patch'",
        ));
    }
    let edits = parse_body(&lines[1..lines.len() - 1])?;
    if edits.is_empty() {
        return Err(invalid("the patch changes no files"));
    }
    Ok(edits)
}

/// Parses the operations between the patch markers.
pub fn parse_body(lines: &[&str]) -> Result<Vec<Edit>, EditError> {
    let mut edits = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if line.is_empty() {
            i += 1;
            continue;
        }
        if let Some(path) = line.strip_prefix(ADD) {
            i += 1;
            let mut content = Vec::new();
            while i < lines.len() {
                match lines[i].strip_prefix('+') {
                    Some(l) => content.push(l.to_string()),
                    None => break,
                }
                i += 1;
            }
            let mut text = content.join("\n");
            text.push('\n');
            edits.push(Edit::Add {
                path: path.trim().to_string(),
                content: text,
            });
        } else if let Some(path) = line.strip_prefix(DELETE) {
            edits.push(Edit::Delete {
                path: path.trim().to_string(),
            });
            i += 1;
        } else if let Some(path) = line.strip_prefix(UPDATE) {
            let path = path.trim().to_string();
            i += 1;
            let mut move_to = None;
            if let Some(to) = lines.get(i).and_then(|l| l.trim().strip_prefix(MOVE)) {
                move_to = Some(to.trim().to_string());
                i += 1;
            }
            let mut chunks = Vec::new();
            while i < lines.len() {
                let t = lines[i].trim();
                if t.starts_with("***") && t != EOF_MARK {
                    break;
                }
                // Nothing follows `*** End of File` in its file: blank lines after it
                // are spacing (Codex skips them too), not the start of a change.
                if t.is_empty() && chunks.last().is_some_and(|c: &Chunk| c.eof) {
                    i += 1;
                    continue;
                }
                let (chunk, used) = parse_chunk(&lines[i..], chunks.is_empty(), &path)?;
                chunks.push(chunk);
                i += used;
            }
            if chunks.is_empty() {
                return Err(invalid(format!("the update of {path} has no changes")));
            }
            edits.push(Edit::Update {
                path,
                move_to,
                chunks,
            });
        } else {
            return Err(invalid(format!(
                "'{line}' is not a valid hunk header; expected '*** Add File: ', \
                 '*** Delete File: ' or '*** Update File: '"
            )));
        }
    }
    Ok(edits)
}

/// One chunk of an update: an optional `@@` anchor, then its lines. Returns the chunk
/// and how many lines it used.
fn parse_chunk(lines: &[&str], first: bool, path: &str) -> Result<(Chunk, usize), EditError> {
    let mut i = 0;
    let mut anchor = None;
    let head = lines[0].trim();
    if head == "@@" {
        i = 1;
    } else if let Some(ctx) = head.strip_prefix("@@ ") {
        anchor = Some(ctx.to_string());
        i = 1;
    } else if !first {
        return Err(invalid(format!(
            "expected an '@@' line to start the next change in {path}, found '{head}'"
        )));
    }
    let mut chunk = Chunk {
        anchor,
        old: Vec::new(),
        new: Vec::new(),
        eof: false,
    };
    let start = i;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim();
        if t == EOF_MARK {
            chunk.eof = true;
            i += 1;
            break;
        }
        if (t == "@@" || t.starts_with("@@ ")) && i > start {
            break;
        }
        if t.starts_with("***") {
            break;
        }
        match line.chars().next() {
            None => {
                chunk.old.push(String::new());
                chunk.new.push(String::new());
            }
            Some(' ') => {
                chunk.old.push(line[1..].to_string());
                chunk.new.push(line[1..].to_string());
            }
            Some('-') => chunk.old.push(line[1..].to_string()),
            Some('+') => chunk.new.push(line[1..].to_string()),
            Some(_) => {
                return Err(invalid(format!(
                    "unexpected line in the update of {path}: '{line}' (lines start with ' ', '-' or '+')"
                )))
            }
        }
        i += 1;
    }
    if i == start && !chunk.eof {
        return Err(invalid(format!("an '@@' change in {path} has no lines")));
    }
    Ok((chunk, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_operation() {
        let edits = parse(
            "*** Begin Patch\n*** Add File: a.txt\n+one\n+two\n*** Delete File: b.txt\n\
             *** Update File: c.txt\n*** Move to: d.txt\n@@ fn main\n ctx\n-old\n+new\n*** End of File\n*** End Patch",
        )
        .unwrap();
        assert_eq!(edits.len(), 3);
        assert_eq!(
            edits[0],
            Edit::Add {
                path: "a.txt".into(),
                content: "one\ntwo\n".into()
            }
        );
        let Edit::Update {
            move_to, chunks, ..
        } = &edits[2]
        else {
            panic!()
        };
        assert_eq!(move_to.as_deref(), Some("d.txt"));
        assert_eq!(chunks[0].anchor.as_deref(), Some("fn main"));
        assert_eq!(chunks[0].old, ["ctx", "old"]);
        assert_eq!(chunks[0].new, ["ctx", "new"]);
        assert!(chunks[0].eof);
    }

    #[test]
    fn blank_lines_after_end_of_file_are_spacing() {
        let edits = parse(
            "*** Begin Patch\n*** Update File: a\n@@\n+x\n*** End of File\n\n\n*** End Patch",
        )
        .unwrap();
        let Edit::Update { chunks, .. } = &edits[0] else {
            panic!()
        };
        assert_eq!((chunks.len(), chunks[0].eof), (1, true));
    }

    #[test]
    fn rejects_malformed_patches() {
        for bad in [
            "*** Begin Patch\n*** End Patch",
            "*** Begin Patch\n*** Frobnicate File: x\n*** End Patch",
            "*** Begin Patch\n*** Update File: x\n*** End Patch",
            "no markers",
            "*** Begin Patch\n*** Update File: x\n@@\n-a\n@@\n*** End Patch",
        ] {
            assert_eq!(parse(bad).unwrap_err().code(), "invalid_patch", "{bad}");
        }
    }
}
