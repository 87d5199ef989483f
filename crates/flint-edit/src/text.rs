//! A text file as Flint edits it: the bytes decoded to a string with LF line endings,
//! plus what must be put back on write (a BOM, CRLF endings, whether the last line ends
//! in a newline). A file whose lines end in both CRLF and LF keeps each line's own
//! ending where an edit leaves the line alone; new lines take the file's majority.
//! Binary files and files over the size limit are refused here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::EditError;

/// Larger files are refused: a model rewriting them is more likely a mistake, and
/// matching and diffing them would stall review.
pub const MAX_FILE_BYTES: usize = 4 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextFile {
    pub text: String,
    pub bom: bool,
    /// The majority convention: what new lines get.
    pub crlf: bool,
    pub final_newline: bool,
    /// Set only for a file with both endings: its lines as read.
    pub(crate) mixed: Option<Arc<Mixed>>,
}

/// A mixed-ending file as read (LF-normalised, one string: no allocation per line) and
/// whether each line ended in CRLF, so `encode` can give untouched lines their own
/// ending back.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Mixed {
    text: String,
    crlf: Vec<bool>,
}

/// How long matching a mixed file's old lines to its new ones may take before the
/// diff settles for a coarser answer (lines it could not pair take the majority).
const MIXED_DIFF_DEADLINE: Duration = Duration::from_millis(500);

impl TextFile {
    pub fn decode(path: &str, bytes: &[u8]) -> Result<Self, EditError> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(EditError::TooLarge {
                path: path.into(),
                bytes: bytes.len(),
            });
        }
        let (bom, body) = match bytes {
            [0xEF, 0xBB, 0xBF, rest @ ..] => (true, rest),
            _ => (false, bytes),
        };
        if body.iter().take(8192).any(|&b| b == 0) {
            return Err(EditError::Binary { path: path.into() });
        }
        let raw = std::str::from_utf8(body).map_err(|_| EditError::Binary { path: path.into() })?;
        let crlf_count = raw.matches("\r\n").count();
        let lf_count = raw.matches('\n').count();
        // The file's convention is what most of its lines use.
        let crlf = crlf_count > 0 && crlf_count * 2 >= lf_count;
        let text = if crlf_count > 0 {
            raw.replace("\r\n", "\n")
        } else {
            raw.to_string()
        };
        let mixed = (crlf_count > 0 && crlf_count < lf_count).then(|| {
            let ends = raw
                .split_inclusive('\n')
                .map(|l| {
                    // The last line, with no ending: if it gets one, the majority's.
                    l.ends_with("\r\n") || (!l.ends_with('\n') && crlf)
                })
                .collect();
            Arc::new(Mixed {
                text: text.clone(),
                crlf: ends,
            })
        });
        Ok(Self {
            final_newline: text.ends_with('\n'),
            text,
            bom,
            crlf,
            mixed,
        })
    }

    /// A new file: LF, no BOM, ending in a newline.
    pub fn new(text: String) -> Self {
        Self {
            final_newline: true,
            text,
            bom: false,
            crlf: false,
            mixed: None,
        }
    }

    /// Bytes for `text` written in this file's conventions.
    pub fn encode(&self, text: &str) -> Vec<u8> {
        let body = match &self.mixed {
            Some(m) => m.encode(text, self.crlf),
            None if self.crlf => text.replace('\n', "\r\n"),
            None => text.to_string(),
        };
        let mut out = Vec::with_capacity(body.len() + 3);
        if self.bom {
            out.extend_from_slice(&[0xEF, 0xBB, 0xBF]);
        }
        out.extend_from_slice(body.as_bytes());
        out
    }

    /// The lines, without their line endings (a final newline adds no empty line).
    pub fn lines(&self) -> Vec<String> {
        split_lines(&self.text)
    }
}

impl Mixed {
    /// `text` with each line that pairs with an old line (a line-level diff) ending as
    /// that line did, and every other line ending in `majority`.
    fn encode(&self, text: &str, majority: bool) -> String {
        let new: Vec<&str> = text
            .split_inclusive('\n')
            .map(|l| l.strip_suffix('\n').unwrap_or(l))
            .collect();
        let old: Vec<&str> = self
            .text
            .split_inclusive('\n')
            .map(|l| l.strip_suffix('\n').unwrap_or(l))
            .collect();
        let mut ending = vec![majority; new.len()];
        let deadline = Instant::now() + MIXED_DIFF_DEADLINE;
        for op in similar::capture_diff_slices_deadline(
            similar::Algorithm::Myers,
            &old,
            &new,
            Some(deadline),
        ) {
            if let similar::DiffOp::Equal {
                old_index,
                new_index,
                len,
            } = op
            {
                ending[new_index..new_index + len]
                    .copy_from_slice(&self.crlf[old_index..old_index + len]);
            }
        }
        let mut out = String::with_capacity(text.len() + new.len());
        for (i, piece) in text.split_inclusive('\n').enumerate() {
            match piece.strip_suffix('\n') {
                Some(body) => {
                    out.push_str(body);
                    out.push_str(if ending[i] { "\r\n" } else { "\n" });
                }
                None => out.push_str(piece),
            }
        }
        out
    }
}

pub fn split_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    if lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}

/// Joins lines, ending with a newline when `final_newline`.
pub fn join_lines(lines: &[String], final_newline: bool) -> String {
    let mut s = lines.join("\n");
    if final_newline && !lines.is_empty() {
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conventions_survive_a_round_trip() {
        let bytes = b"\xEF\xBB\xBFa\r\nb\r\n";
        let f = TextFile::decode("x", bytes).unwrap();
        assert_eq!(
            (f.text.as_str(), f.bom, f.crlf, f.final_newline),
            ("a\nb\n", true, true, true)
        );
        assert_eq!(f.encode(&f.text), bytes);
        let f = TextFile::decode("x", b"a\nb").unwrap();
        assert!(!f.crlf && !f.final_newline);
        assert_eq!(f.lines(), ["a", "b"]);
    }

    #[test]
    fn a_mixed_file_keeps_each_untouched_line_ending() {
        let f = TextFile::decode("x", b"one\r\ntwo\nthree\r\nfour\n").unwrap();
        assert_eq!(f.text, "one\ntwo\nthree\nfour\n");
        assert_eq!(f.encode(&f.text), b"one\r\ntwo\nthree\r\nfour\n");
        // A changed line and a new one take the majority (a tie counts as CRLF).
        assert_eq!(
            f.encode("one\ntwo\nTHREE\nnew\nfour\n"),
            b"one\r\ntwo\nTHREE\r\nnew\r\nfour\n"
        );
        let f = TextFile::decode("x", b"a\nb\nc\r\nd").unwrap();
        assert!(!f.crlf);
        assert_eq!(f.encode("z\na\nb\nc\nd\n"), b"z\na\nb\nc\r\nd\n");
    }

    #[test]
    fn binary_and_huge_files_are_refused() {
        assert_eq!(TextFile::decode("x", b"a\0b").unwrap_err().code(), "binary");
        assert_eq!(
            TextFile::decode("x", &[0xff, 0xfe, 0x41])
                .unwrap_err()
                .code(),
            "binary"
        );
        let big = vec![b'a'; MAX_FILE_BYTES + 1];
        assert_eq!(TextFile::decode("x", &big).unwrap_err().code(), "too_large");
    }
}
