//! A server-sent events decoder that takes bytes in chunks of any size.
//!
//! Written here rather than taken from a crate because Flint needs three properties at
//! once and the common crates give at most two: bytes (not `&str`) in, so a UTF-8
//! sequence split across chunks is never mangled; every line ending the spec allows
//! (LF, CRLF, and a CR whose LF arrives in the next chunk); and work linear in the
//! stream's length even when one `data:` line is megabytes long, because a partial line
//! is never rescanned from its start.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, if the server set one.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// The most one event may hold (its lines, and its data joined). Real events are a few
/// hundred bytes, a large tool call's arguments a few megabytes; past this the provider
/// is broken or hostile, and holding more would only grow memory.
pub const MAX_EVENT_BYTES: usize = 16 << 20;

#[derive(Debug, Default)]
pub struct SseDecoder {
    /// A line or an event grew past `MAX_EVENT_BYTES`: the stream must end.
    overflowed: bool,
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for a line end (all belong to the partial line).
    scanned: usize,
    /// The previous chunk ended in CR: a leading LF in the next one belongs to it.
    skip_lf: bool,
    started: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a line or an event grew past `MAX_EVENT_BYTES`; the decoder then drops
    /// what it held and the caller must end the stream.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Feeds a chunk and appends every event it completes to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) {
        if self.overflowed {
            return;
        }
        let mut chunk = chunk;
        if self.skip_lf && !chunk.is_empty() {
            self.skip_lf = false;
            if let [b'\n', rest @ ..] = chunk {
                chunk = rest;
            }
        }
        self.buf.extend_from_slice(chunk);
        let mut start = 0;
        let mut i = self.scanned;
        while let Some(off) = memchr2(&self.buf[i..]) {
            let end = i + off;
            let line_ending_cr = self.buf[end] == b'\r';
            let line = std::mem::take(&mut self.buf);
            self.line(&line[start..end], out);
            self.buf = line;
            let mut next = end + 1;
            if line_ending_cr {
                if next < self.buf.len() {
                    if self.buf[next] == b'\n' {
                        next += 1;
                    }
                } else {
                    self.skip_lf = true;
                }
            }
            start = next;
            i = next;
        }
        if start > 0 {
            self.buf.drain(..start);
        }
        self.scanned = self.buf.len();
        if self.buf.len() > MAX_EVENT_BYTES || self.data.len() > MAX_EVENT_BYTES {
            self.overflowed = true;
            self.buf = Vec::new();
            self.data = String::new();
        }
    }

    /// Ends the stream: a final line or event that lacked its terminator is still
    /// dispatched, since some servers close without the last blank line.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            self.line(&line, out);
        }
        self.scanned = 0;
        self.dispatch(out);
    }

    fn line(&mut self, raw: &[u8], out: &mut Vec<SseEvent>) {
        let mut raw = raw;
        if !self.started {
            self.started = true;
            if let [0xEF, 0xBB, 0xBF, rest @ ..] = raw {
                raw = rest;
            }
        }
        if raw.is_empty() {
            self.dispatch(out);
            return;
        }
        if raw[0] == b':' {
            return; // comment, e.g. OpenRouter's `: OPENROUTER PROCESSING` keep-alives
        }
        let (name, value) = match raw.iter().position(|&b| b == b':') {
            Some(p) => {
                let v = &raw[p + 1..];
                (&raw[..p], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (raw, &[][..]),
        };
        match name {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&String::from_utf8_lossy(value));
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {} // id, retry and unknown fields do not affect the answer
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.has_data {
            out.push(SseEvent {
                event: self.event.take(),
                data: std::mem::take(&mut self.data),
            });
        }
        self.event = None;
        self.has_data = false;
    }
}

fn memchr2(hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == b'\n' || b == b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_chunks(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.feed(c, &mut out);
        }
        d.finish(&mut out);
        out
    }

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    #[test]
    fn a_line_or_event_past_the_limit_ends_the_stream_without_holding_it() {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        d.feed(b"data: ", &mut out);
        let piece = vec![b'x'; 1 << 20];
        for _ in 0..17 {
            d.feed(&piece, &mut out);
        }
        assert!(d.overflowed() && out.is_empty());
        // Many short data lines in one event count too.
        let mut d = SseDecoder::new();
        let line = [b"data: ".as_slice(), &vec![b'y'; 1 << 20], b"\n"].concat();
        for _ in 0..17 {
            d.feed(&line, &mut out);
        }
        assert!(d.overflowed() && out.is_empty());
    }

    #[test]
    fn fields_comments_and_multiline_data() {
        let s = b": keep-alive\nevent: delta\ndata: a\ndata:b\nid: 7\n\ndata: [DONE]\n\n";
        assert_eq!(
            decode_chunks(&[s]),
            vec![ev(Some("delta"), "a\nb"), ev(None, "[DONE]")]
        );
    }

    #[test]
    fn crlf_and_lone_cr_line_endings() {
        assert_eq!(
            decode_chunks(&[b"data: x\r\n\r\ndata: y\r\rdata: z\n\n"]),
            vec![ev(None, "x"), ev(None, "y"), ev(None, "z")]
        );
        // A CR at a chunk's end whose LF opens the next chunk is one line ending.
        assert_eq!(
            decode_chunks(&[b"data: x\r", b"\n\r", b"\ndata: y\n\n"]),
            vec![ev(None, "x"), ev(None, "y")]
        );
    }

    #[test]
    fn utf8_split_across_chunks() {
        let s = "data: héllo ✓ 🦀\n\n".as_bytes();
        for cut in 0..s.len() {
            assert_eq!(
                decode_chunks(&[&s[..cut], &s[cut..]]),
                vec![ev(None, "héllo ✓ 🦀")],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn bom_and_missing_final_blank_line() {
        assert_eq!(
            decode_chunks(&[b"\xEF\xBB\xBFdata: a\n\ndata: b"]),
            vec![ev(None, "a"), ev(None, "b")]
        );
    }

    #[test]
    fn long_line_fed_byte_by_byte_is_linear() {
        // 4 MB in one data line, fed in 1-byte chunks: quadratic rescanning would take
        // minutes here; linear work takes a fraction of a second.
        let payload = "x".repeat(4 << 20);
        let s = format!("data: {payload}\n\n");
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for b in s.as_bytes().chunks(1) {
            d.feed(b, &mut out);
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data.len(), payload.len());
    }

    proptest! {
        #[test]
        fn any_chunking_decodes_the_same(cuts in proptest::collection::vec(0usize..400, 0..30), crlf in any::<bool>()) {
            let mut s = String::from("event: a\ndata: {\"x\":\"é✓\"}\n\n: c\ndata: 1\ndata: 2\n\ndata: [DONE]\n\n");
            if crlf { s = s.replace('\n', "\r\n"); }
            let bytes = s.as_bytes();
            let whole = decode_chunks(&[bytes]);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut prev = 0;
            for c in cuts { chunks.push(&bytes[prev..c]); prev = c; }
            chunks.push(&bytes[prev..]);
            prop_assert_eq!(decode_chunks(&chunks), whole);
        }
    }
}
