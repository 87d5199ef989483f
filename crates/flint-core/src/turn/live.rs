//! The live view of one streaming answer: fed the text deltas, it coalesces them into
//! frame-sized batches, closes markdown blocks and renders them once, and follows the
//! edits the answer proposes as they complete. It knows nothing of the model or the
//! store: the turn driver feeds it and sends what it gives.

use std::time::Instant;

use flint_edit::{AnswerParser, Edit};

use crate::engine::FRAME;
use crate::TurnEvent;

/// What one piece of text changed.
pub(crate) struct Pushed {
    /// Edits completed, or a streaming patch operation shown provisionally: the review
    /// should be planned again (after the events in `before_review` are sent).
    pub edits_changed: bool,
    /// Text to send before the review, so the text before an edit shows first.
    pub before_review: Option<TurnEvent>,
}

pub(crate) struct LiveAnswer {
    item_id: i64,
    /// Render blocks and follow edits (a front end shows them); otherwise text only.
    live: bool,
    /// Follow the edits in the text (not for an agent's answer: what it changes is
    /// measured on disk, its text is only shown).
    edits_followed: bool,
    text: String,
    pending: String,
    arrived_ms: f64,
    blocks: flint_render::markdown::BlockSplitter,
    rendered: Vec<String>,
    closed_utf16: u32,
    text_utf16: u32,
    parser: AnswerParser,
    edits: Vec<Edit>,
    /// Review showed the finished chunks of a patch operation still streaming: the
    /// final review must replace it even if nothing more completes.
    shown_provisional: bool,
    /// The patch operation still streaming, as the last push found it (the parser
    /// hands it out once per finished chunk).
    provisional: Option<Vec<Edit>>,
    last_emit: Instant,
}

impl LiveAnswer {
    pub fn new(item_id: i64, live: bool, started: Instant) -> Self {
        Self {
            item_id,
            live,
            edits_followed: true,
            text: String::new(),
            pending: String::new(),
            arrived_ms: 0.0,
            blocks: flint_render::markdown::BlockSplitter::new(),
            rendered: Vec::new(),
            closed_utf16: 0,
            text_utf16: 0,
            parser: AnswerParser::new(),
            edits: Vec::new(),
            shown_provisional: false,
            provisional: None,
            // "A frame ago", so the very first delta is sent the moment it arrives.
            last_emit: started.checked_sub(FRAME).unwrap_or(started),
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The edits to review now: those complete, and the operation still streaming.
    pub fn edits_shown(&mut self) -> (Vec<Edit>, &[String]) {
        let mut shown = self.edits.clone();
        shown.extend(self.provisional.take().unwrap_or_default());
        (shown, self.parser.errors())
    }

    /// Renders the text's blocks but follows no edits in it.
    pub fn without_edits(mut self) -> Self {
        self.edits_followed = false;
        self
    }

    /// Takes a piece of the answer's text.
    pub fn push(&mut self, t: &str, now_ms: f64) -> Pushed {
        self.text.push_str(t);
        if self.pending.is_empty() {
            self.arrived_ms = now_ms;
        }
        self.pending.push_str(t);
        self.text_utf16 += t.encode_utf16().count() as u32;
        if !self.live {
            return Pushed {
                edits_changed: false,
                before_review: None,
            };
        }
        let closed_now = self.blocks.push(t);
        if !closed_now.is_empty() {
            self.rendered.extend(
                closed_now
                    .iter()
                    .map(|b| flint_render::markdown::render_block(b)),
            );
            // Everything but the open tail is closed (blank lines between blocks
            // included, though they render to nothing). The tail just after a block
            // closes is short, so this stays linear.
            self.closed_utf16 = self.text_utf16 - self.blocks.tail().encode_utf16().count() as u32;
        }
        if !self.edits_followed {
            return Pushed {
                edits_changed: false,
                before_review: None,
            };
        }
        let found = self.parser.push(t);
        self.provisional = self.parser.provisional();
        let provisional = self.provisional.is_some();
        if found.is_empty() && !provisional {
            return Pushed {
                edits_changed: false,
                before_review: None,
            };
        }
        self.shown_provisional |= provisional;
        self.edits.extend(found);
        let before_review = self.take_delta();
        Pushed {
            edits_changed: true,
            before_review,
        }
    }

    fn take_delta(&mut self) -> Option<TurnEvent> {
        if self.pending.is_empty() {
            return None;
        }
        self.last_emit = Instant::now();
        Some(TurnEvent::Delta {
            item_id: self.item_id,
            text: std::mem::take(&mut self.pending),
            arrived_ms: self.arrived_ms,
        })
    }

    /// The batch due now: the text gathered for a frame, then the blocks closed.
    pub fn due(&mut self) -> Vec<TurnEvent> {
        if self.pending.is_empty() || self.last_emit.elapsed() < FRAME {
            return Vec::new();
        }
        let mut out: Vec<TurnEvent> = self.take_delta().into_iter().collect();
        if !self.rendered.is_empty() {
            out.push(TurnEvent::Blocks {
                item_id: self.item_id,
                html: std::mem::take(&mut self.rendered),
                closed_utf16: self.closed_utf16,
            });
        }
        out
    }

    /// The answer ended: the rest of the text, the last block (the open tail is final
    /// now), and whether the review must be planned once more (an operation of a patch
    /// cut off before `*** End Patch` is never applied: `finish` drops it with an error,
    /// and what review showed of it while it streamed goes away).
    pub fn finish(&mut self) -> (Vec<TurnEvent>, bool) {
        let mut out: Vec<TurnEvent> = self.take_delta().into_iter().collect();
        if let Some(last) = self.blocks.finish().filter(|_| self.live) {
            self.rendered
                .push(flint_render::markdown::render_block(&last));
        }
        self.closed_utf16 = self.text_utf16;
        if !self.rendered.is_empty() {
            out.push(TurnEvent::Blocks {
                item_id: self.item_id,
                html: std::mem::take(&mut self.rendered),
                closed_utf16: self.closed_utf16,
            });
        }
        let errors_before = self.parser.errors().len();
        let last = self.parser.finish();
        let redo = !last.is_empty()
            || self.shown_provisional
            || self.parser.errors().len() > errors_before;
        self.edits.extend(last);
        (out, redo && self.live)
    }

    /// The edits proposed, final, and the parser's errors.
    pub fn edits(&self) -> (&[Edit], &[String]) {
        (&self.edits, self.parser.errors())
    }
}
