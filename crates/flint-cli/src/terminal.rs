//! What reaches the user's terminal. Model output, file names and provider messages are
//! untrusted: an escape sequence in them could retitle the terminal, clear it or hide
//! text, and a bidi control could make a line read as something else. On a terminal they
//! are shown escaped (`\u{1b}`); into a pipe the answer's bytes still go out exactly.

use std::borrow::Cow;

/// A character shown escaped: what no path may hold (control and bidi characters), but
/// newline and tab, which lay text out.
fn unsafe_char(c: char) -> bool {
    c != '\n' && c != '\t' && flint_core::project::unsafe_char(c)
}

/// `text` with every unsafe character written as `\u{..}`.
pub fn escaped(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_bidi_controls_are_shown_not_obeyed() {
        assert_eq!(escaped("a\u{1b}]0;x\u{7}b"), "a\\u{1b}]0;x\\u{7}b");
        assert_eq!(escaped("x\u{202E}y"), "x\\u{202e}y");
        assert_eq!(escaped("line\n\tnext é"), "line\n\tnext é");
        assert_eq!(escaped("a\r\nb"), "a\\u{d}\nb");
    }
}
