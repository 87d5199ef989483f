//! A text file as Flint edits it: the bytes decoded to a string with LF line endings,
//! plus what must be put back on write (a BOM, CRLF endings, whether the last line ends
//! in a newline). Binary files and files over the size limit are refused here.

use crate::EditError;

/// Larger files are refused: a model rewriting them is more likely a mistake, and
/// matching and diffing them would stall review.
pub const MAX_FILE_BYTES: usize = 4 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextFile {
    pub text: String,
    pub bom: bool,
    pub crlf: bool,
    pub final_newline: bool,
}

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
        Ok(Self {
            final_newline: text.ends_with('\n'),
            text,
            bom,
            crlf,
        })
    }

    /// A new file: LF, no BOM, ending in a newline.
    pub fn new(text: String) -> Self {
        Self {
            final_newline: true,
            text,
            bom: false,
            crlf: false,
        }
    }

    /// Bytes for `text` written in this file's conventions.
    pub fn encode(&self, text: &str) -> Vec<u8> {
        let body = if self.crlf {
            text.replace('\n', "\r\n")
        } else {
            text.to_string()
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
