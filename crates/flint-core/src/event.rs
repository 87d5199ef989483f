use serde::{Deserialize, Serialize};
use ts_rs::TS;

use flint_store::{Item, ItemStatus, Metrics};

use crate::ErrorInfo;

/// What a running turn tells its front end, in order: `Started`, any number of `Delta`s
/// (each a frame's worth of text, never one per token), then `Finished`. `Error` ends a
/// turn that could not be run or recorded at all (the store failed); a model's failure
/// is a `Finished` with an error, the partial answer kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "camelCase")]
#[ts(export)]
pub enum TurnEvent {
    Started {
        /// The prompt just recorded; none when escalating (the answer is to the latest).
        // Boxed: an item is large next to the other events, which are sent far more often.
        user_item: Option<Box<Item>>,
        assistant_item: Box<Item>,
    },
    /// What the turn sends, section by section, and what did not fit.
    Context {
        report: crate::context::ContextReport,
    },
    /// The request failed before the first token and is being sent again.
    Retrying {
        /// The answer item whose request is sent again.
        #[ts(type = "number")]
        item_id: i64,
        attempt: u32,
        #[ts(type = "number")]
        after_ms: u64,
        reason: String,
    },
    Delta {
        /// The answer item the text belongs to.
        #[ts(type = "number")]
        item_id: i64,
        text: String,
        /// When the oldest text in this batch reached Flint, in Unix milliseconds: the
        /// front end measures how long text takes to be painted against it.
        arrived_ms: f64,
    },
    /// Markdown blocks of the answer that can no longer change, rendered once to safe
    /// HTML; `closed_utf16` is how much of the text (in UTF-16 units, as the UI counts)
    /// they cover, so the UI shows only the rest as the open tail.
    Blocks {
        #[ts(type = "number")]
        item_id: i64,
        html: Vec<String>,
        closed_utf16: u32,
    },
    /// The answer's edit proposals so far, re-planned each time one completes. Sent
    /// as soon as the first edit has streamed; each replaces the previous one.
    Review {
        review: Box<crate::review::Review>,
    },
    /// An item the turn added after it started: a tool call the model made, its
    /// result, or the answer of the next request (which then streams like the first).
    ItemAdded {
        item: Box<Item>,
    },
    /// An answer is final. With `turn_done` it is the turn's last; otherwise the
    /// calls it made run and another answer follows.
    Finished {
        #[ts(type = "number")]
        item_id: i64,
        status: ItemStatus,
        error: Option<ErrorInfo>,
        metrics: Metrics,
        /// The model's reasoning summary, if it sent one.
        reasoning: Option<String>,
        turn_done: bool,
    },
    /// The turn waits for the user: may a command run, is an edit accepted. Answered
    /// with `Engine::answer_question`; `Answered` follows however it ends.
    Question {
        question: Box<crate::turn::Question>,
    },
    /// The turn made as many requests as it may: the last answer's calls were not run.
    /// The front end offers to go on.
    StepLimit {
        steps: u32,
    },
    /// A question is no longer waiting (answered, or the turn stopped).
    Answered {
        question_id: u32,
    },
    /// Output of a running command, as it comes (at most one a frame).
    ToolOutput {
        /// The tool-call item.
        #[ts(type = "number")]
        item_id: i64,
        text: String,
    },
    /// The session's agent (over ACP) offers these models; `current_model` is in use.
    AgentSession {
        models: Vec<crate::turn::AgentModel>,
        current_model: Option<String>,
    },
    Error {
        error: ErrorInfo,
    },
}
