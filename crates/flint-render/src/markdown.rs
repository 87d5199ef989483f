//! A streaming answer's markdown, split into blocks as it arrives. A block is closed
//! when what follows can no longer change it (a blank line after a paragraph, the
//! closing fence of a code block); a closed block is rendered once to safe HTML and never
//! looked at again, and only the open tail changes. The work stays linear in the
//! answer's length however it is chunked.
//!
//! Safety: raw HTML in the markdown is shown as text; links and images keep their target
//! only for http(s) (and the app opens them outside); nothing else can carry script.

use pulldown_cmark::{html, CodeBlockKind, CowStr, Event, Options, Parser, Tag, TagEnd};

use crate::{escape, highlight_lines};

const PATCH_BEGIN: &str = "*** Begin Patch";
const PATCH_END: &str = "*** End Patch";

/// Splits markdown into blocks as text arrives.
#[derive(Debug, Default)]
pub struct BlockSplitter {
    /// Text of the open block (complete lines, then a partial one).
    open: String,
    /// Inside a fenced code block: the fence that closes it.
    fence: Option<String>,
    /// Bytes of `open` already scanned for line ends.
    scanned: usize,
}

impl BlockSplitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds text; returns the blocks it closed, in order.
    pub fn push(&mut self, delta: &str) -> Vec<String> {
        self.open.push_str(delta);
        let mut closed = Vec::new();
        let mut line_start = self.line_start();
        while let Some(rel) = self.open[self.scanned..].find('\n') {
            let end = self.scanned + rel + 1;
            let line = self.open[line_start..end]
                .trim_end_matches(['\n', '\r'])
                .to_string();
            self.scanned = end;
            let trimmed = line.trim_start();
            match &self.fence {
                Some(f) => {
                    let closes = if f == PATCH_END {
                        trimmed.trim_end() == PATCH_END
                    } else {
                        trimmed.starts_with(f.as_str())
                            && trimmed
                                .trim_end()
                                .chars()
                                .all(|c| c == f.chars().next().unwrap_or('`'))
                    };
                    if closes {
                        self.fence = None;
                        closed.push(self.take(end));
                        line_start = 0;
                        continue;
                    }
                }
                None => {
                    let fence_len = trimmed
                        .chars()
                        .take_while(|&c| c == '`' || c == '~')
                        .count();
                    // An unfenced apply_patch is a block of its own, like a fence:
                    // its lines must not run together as a paragraph.
                    let patch = trimmed.trim_end() == PATCH_BEGIN;
                    if patch
                        || fence_len >= 3
                            && trimmed
                                .chars()
                                .next()
                                .is_some_and(|c| trimmed[..fence_len].chars().all(|x| x == c))
                    {
                        // A fence opens a new block: what came before is closed.
                        if line_start > 0 {
                            let before = self.open[..line_start].to_string();
                            self.open.drain(..line_start);
                            self.scanned -= line_start;
                            if !before.trim().is_empty() {
                                closed.push(before);
                            }
                        }
                        let c = trimmed.chars().next().unwrap_or('`');
                        self.fence = Some(if patch {
                            PATCH_END.to_string()
                        } else {
                            std::iter::repeat_n(c, fence_len).collect()
                        });
                        line_start = self.scanned;
                        continue;
                    }
                    if line.trim().is_empty() {
                        let block = self.take(end);
                        if !block.trim().is_empty() {
                            closed.push(block);
                        }
                        line_start = 0;
                        continue;
                    }
                }
            }
            line_start = self.scanned;
        }
        closed
    }

    /// The open block's text as it stands (shown as plain text until it closes).
    pub fn tail(&self) -> &str {
        &self.open
    }

    /// Ends the answer: whatever is open is the last block.
    pub fn finish(&mut self) -> Option<String> {
        self.fence = None;
        self.scanned = 0;
        let block = std::mem::take(&mut self.open);
        (!block.trim().is_empty()).then_some(block)
    }

    fn line_start(&self) -> usize {
        self.open[..self.scanned]
            .rfind('\n')
            .map_or(0, |i| i + 1)
            .min(self.scanned)
    }

    fn take(&mut self, end: usize) -> String {
        let block: String = self.open.drain(..end).collect();
        self.scanned = 0;
        block
    }
}

fn safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// One block of markdown as safe HTML, code highlighted by its fence's language.
pub fn render_block(markdown: &str) -> String {
    // An unfenced patch is shown as it was written, coloured as a diff.
    if markdown.trim_start().starts_with(PATCH_BEGIN) {
        let lines = highlight_lines("answer.diff", markdown.trim_end()).join("\n");
        return format!("<pre class=\"code\" data-lang=\"patch\"><code>{lines}</code></pre>\n");
    }
    let mut opts = Options::empty();
    opts.insert(Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS);
    let mut out = String::new();
    let mut events = Vec::new();
    let mut code: Option<(String, String)> = None; // (language, text)
    for event in Parser::new_ext(markdown, opts) {
        match event {
            // Raw HTML is shown, never interpreted.
            Event::Html(h) | Event::InlineHtml(h) => events.push(Event::Text(h)),
            Event::Start(Tag::CodeBlock(kind)) => {
                let lang = match kind {
                    CodeBlockKind::Fenced(info) => {
                        info.split_whitespace().next().unwrap_or("").to_string()
                    }
                    CodeBlockKind::Indented => String::new(),
                };
                code = Some((lang, String::new()));
            }
            Event::Text(t) if code.is_some() => {
                if let Some((_, text)) = code.as_mut() {
                    text.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some((lang, text)) = code.take() {
                    let file = format!("x.{}", if lang.is_empty() { "txt" } else { &lang });
                    let lines = highlight_lines(&file, &text).join("\n");
                    let class = if lang.is_empty() {
                        String::new()
                    } else {
                        format!(" data-lang=\"{}\"", escape(&lang))
                    };
                    events.push(Event::Html(CowStr::from(format!(
                        "<pre class=\"code\"{class}><code>{lines}</code></pre>\n"
                    ))));
                }
            }
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                let dest = if safe_url(&dest_url) {
                    dest_url
                } else {
                    CowStr::from("")
                };
                events.push(Event::Start(Tag::Link {
                    link_type,
                    dest_url: dest,
                    title,
                    id,
                }));
            }
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                // Images are not fetched: the model's output must not make requests.
                let _ = (link_type, dest_url, title, id);
                events.push(Event::Text(CowStr::from("[image] ")));
            }
            Event::End(TagEnd::Image) => {}
            other => events.push(other),
        }
    }
    html::push_html(&mut out, events.into_iter());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ANSWER: &str = "Intro line\nstill intro\n\n```rust\nfn main() {\n\n    let x = \"<b>\";\n}\n```\nAfter the code.\n\n- a\n- b\n";

    fn split_all(chunks: &[&str]) -> Vec<String> {
        let mut s = BlockSplitter::new();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(s.push(c));
        }
        out.extend(s.finish());
        out
    }

    #[test]
    fn blocks_close_at_blank_lines_and_fences() {
        let blocks = split_all(&[ANSWER]);
        assert_eq!(blocks.len(), 4, "{blocks:#?}");
        assert_eq!(blocks[0], "Intro line\nstill intro\n\n");
        assert!(
            blocks[1].starts_with("```rust\n") && blocks[1].ends_with("```\n"),
            "{:?}",
            blocks[1]
        );
        assert!(
            blocks[1].contains("\n\n    let x"),
            "a blank line inside code does not close it"
        );
        assert_eq!(blocks[2], "After the code.\n\n");
    }

    #[test]
    fn an_unfenced_patch_is_one_block_shown_line_by_line() {
        let text = "I'll change it.\n\n*** Begin Patch\n*** Update File: a.rs\n@@\n-x\n\n+y\n*** End Patch\n\nDone.\n";
        let blocks = split_all(&[text]);
        assert_eq!(blocks.len(), 3, "{blocks:#?}");
        assert!(blocks[1].starts_with("*** Begin Patch") && blocks[1].ends_with("*** End Patch\n"));
        let html = render_block(&blocks[1]);
        assert!(
            html.starts_with("<pre class=\"code\" data-lang=\"patch\"><code>"),
            "{html}"
        );
        assert_eq!(
            html.matches('\n').count(),
            7,
            "seven lines, one each: {html}"
        );
    }

    #[test]
    fn the_open_tail_is_what_has_not_closed() {
        let mut s = BlockSplitter::new();
        assert!(s.push("Hello wor").is_empty());
        assert_eq!(s.tail(), "Hello wor");
        assert_eq!(s.push("ld\n\nNext"), vec!["Hello world\n\n".to_string()]);
        assert_eq!(s.tail(), "Next");
    }

    proptest! {
        #[test]
        fn any_chunking_gives_the_same_blocks(cuts in proptest::collection::vec(0usize..200, 0..30)) {
            let whole = split_all(&[ANSWER]);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % ANSWER.len()).filter(|c| ANSWER.is_char_boundary(*c)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut prev = 0;
            for c in cuts { chunks.push(&ANSWER[prev..c]); prev = c; }
            chunks.push(&ANSWER[prev..]);
            prop_assert_eq!(split_all(&chunks), whole);
        }
    }

    #[test]
    fn hostile_markdown_is_inert() {
        let cases = [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "<svg onload=alert(1)>",
            "[click](javascript:alert(1))",
            "<iframe src=\"https://evil\"></iframe>",
            "![x](https://evil/track.png)",
            "<style>body{display:none}</style>",
            "&lt;script&gt; and &amp;",
        ];
        // Every tag in the output is one markdown makes; hostile text stays escaped text.
        const ALLOWED: &[&str] = &[
            "p",
            "a",
            "code",
            "pre",
            "span",
            "strong",
            "em",
            "ul",
            "ol",
            "li",
            "del",
            "h1",
            "h2",
            "h3",
            "blockquote",
            "table",
            "thead",
            "tbody",
            "tr",
            "th",
            "td",
            "input",
            "hr",
            "br",
        ];
        for md in cases {
            let html = render_block(md);
            for (i, _) in html.match_indices('<') {
                let name: String = html[i + 1..]
                    .trim_start_matches('/')
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                assert!(ALLOWED.contains(&name.as_str()), "{md} -> {html}");
            }
            assert!(!html.contains("href=\"javascript"), "{md} -> {html}");
        }
        assert!(render_block("[ok](https://example.com)").contains("href=\"https://example.com\""));
        assert!(render_block("```rust\nlet x = \"<b>\";\n```\n").contains("hl-"));
        assert!(
            render_block("`<b>` **bold**").contains("<code>&lt;b&gt;</code> <strong>bold</strong>")
        );
    }
}
