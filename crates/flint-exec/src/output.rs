//! A command's output: streamed on as text (never splitting a character between two
//! pieces), kept only as a bounded head and tail however much it prints.

use std::collections::VecDeque;

/// Keeps the first and last `max / 2` bytes of everything pushed.
#[derive(Debug)]
pub struct Capture {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    half: usize,
    total: u64,
    /// The start of a character cut by the end of the last piece.
    carry: Vec<u8>,
}

impl Capture {
    pub fn new(max: usize) -> Self {
        let half = (max / 2).max(1);
        Self {
            head: Vec::new(),
            tail: VecDeque::new(),
            half,
            total: 0,
            carry: Vec::new(),
        }
    }

    /// Takes a piece of output; returns it as text to stream on.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.total += bytes.len() as u64;
        let room = self.half.saturating_sub(self.head.len());
        let (to_head, rest) = bytes.split_at(room.min(bytes.len()));
        self.head.extend_from_slice(to_head);
        if rest.len() >= self.half {
            self.tail.clear();
            self.tail.extend(&rest[rest.len() - self.half..]);
        } else {
            let over = (self.tail.len() + rest.len()).saturating_sub(self.half);
            self.tail.drain(..over);
            self.tail.extend(rest);
        }
        let mut piece = std::mem::take(&mut self.carry);
        piece.extend_from_slice(bytes);
        let cut = complete_prefix(&piece);
        self.carry = piece.split_off(cut);
        String::from_utf8_lossy(&piece).into_owned()
    }

    /// What is left of a character cut at the very end (shown as a replacement).
    pub fn flush(&mut self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut self.carry)).into_owned()
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// The kept text, with a line where the middle was left out.
    pub fn finish(self) -> String {
        let kept = (self.head.len() + self.tail.len()) as u64;
        let mut text = String::from_utf8_lossy(&self.head).into_owned();
        if self.total > kept {
            text.push_str(&format!(
                "\n[... {} bytes of output left out ...]\n",
                self.total - kept
            ));
        }
        let tail: Vec<u8> = self.tail.into_iter().collect();
        text.push_str(&String::from_utf8_lossy(&tail));
        text
    }
}

/// How much of `bytes` ends on a character boundary: an incomplete UTF-8 sequence at
/// the end (at most 3 bytes) is held back; anything else invalid is let through to be
/// replaced.
fn complete_prefix(bytes: &[u8]) -> usize {
    let n = bytes.len();
    for back in 1..=3.min(n) {
        let b = bytes[n - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back for the lead
        }
        let need = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return n,
        };
        return if need > back { n - back } else { n };
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_are_never_split_between_pieces() {
        let text = "héllo wörld ✓ 🎉 end";
        let bytes = text.as_bytes();
        for size in 1..6 {
            let mut c = Capture::new(1 << 20);
            let mut streamed = String::new();
            for piece in bytes.chunks(size) {
                streamed.push_str(&c.push(piece));
            }
            streamed.push_str(&c.flush());
            assert_eq!(streamed, text, "pieces of {size}");
            assert_eq!(c.finish(), text);
        }
    }

    #[test]
    fn only_the_head_and_tail_are_kept() {
        let mut c = Capture::new(20);
        for i in 0..1000 {
            c.push(format!("{i:04}\n").as_bytes());
        }
        assert_eq!(c.total(), 5000);
        let kept = c.finish();
        assert!(kept.starts_with("0000\n0001\n"), "{kept}");
        assert!(kept.ends_with("0998\n0999\n"), "{kept}");
        assert!(kept.contains("4980 bytes of output left out"), "{kept}");
    }
}
