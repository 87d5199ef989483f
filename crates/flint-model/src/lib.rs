//! Talking to model providers. This crate owns the wire: it turns a [`ModelRequest`] into
//! an HTTP request, decodes the server-sent events that come back, and yields a stream of
//! [`ModelEvent`]s or one typed [`ModelError`]. It knows nothing of sessions, storage or
//! the UI; flint-core drives it through the [`ModelClient`] trait, which a scripted fake
//! (feature `test-support`) also implements.

mod anthropic;
mod chat;
mod endpoint;
mod error;
#[cfg(feature = "test-support")]
pub mod fake;
mod message;
pub mod preset;
mod responses;
mod retry;
pub mod sse;
mod transport;

use std::pin::Pin;

use futures_util::Stream;
use serde::{Deserialize, Serialize};

pub use endpoint::{Endpoint, ListedModel, Wire};
pub use error::ModelError;
pub use message::{
    Message, Part, Role, ToolCall, ToolCalls, ToolInput, ToolKind, ToolResult, ToolSpec,
};
pub use preset::{Preset, PRESETS};
pub use retry::{with_retries, RetryPolicy};
pub use transport::decode_chunks;

/// How long a stream may stay silent before it counts as stalled. Generous, because a
/// reasoning model can think for a while before its first visible token.
pub const DEFAULT_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// One request for a streamed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRequest {
    pub model: String,
    pub messages: Vec<Message>,
    /// The tools the model may call; none: it answers in text only.
    pub tools: Vec<ToolSpec>,
}

impl ModelRequest {
    /// A request without tools.
    pub fn new(model: impl Into<String>, messages: Vec<Message>) -> Self {
        Self {
            model: model.into(),
            messages,
            tools: Vec::new(),
        }
    }

    /// The system messages' text joined (for formats that take it apart from the
    /// conversation: Responses' `instructions`, Anthropic's `system`), and the rest.
    pub(crate) fn split_system(&self) -> (Option<String>, Vec<&Message>) {
        let system: Vec<String> = self
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(Message::text)
            .collect();
        let rest = self
            .messages
            .iter()
            .filter(|m| m.role != Role::System)
            .collect();
        ((!system.is_empty()).then(|| system.join("\n\n")), rest)
    }
}

/// Token counts as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// What a streaming answer yields, in order. The stream ends after `Finished`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelEvent {
    /// Visible answer text.
    TextDelta(String),
    /// The model's reasoning (a summary, or thinking text where the provider shows it).
    ReasoningDelta(String),
    /// The model starts a tool call.
    ToolCallStart {
        id: String,
        name: String,
        kind: ToolKind,
    },
    /// More of a tool call's input: JSON arguments, or a custom tool's raw text.
    ToolCallDelta { id: String, arguments: String },
    /// Token usage, usually in the last chunk.
    Usage(Usage),
    /// A failure before the first token; the request is sent again after `after`.
    Retrying {
        attempt: u32,
        after: std::time::Duration,
        reason: String,
    },
    /// The provider said the answer is complete (with its stated reason, if any).
    Finished { reason: Option<String> },
}

/// Whether a finish reason says the provider cut the answer off at its length limit:
/// Chat Completions' `length`, Anthropic's `max_tokens` and
/// `model_context_window_exceeded`, the Responses API's `response.incomplete` (its
/// `max_output_tokens`, or `incomplete` when it gave no reason).
pub fn cut_off(reason: Option<&str>) -> bool {
    matches!(
        reason,
        Some(
            "length"
                | "max_tokens"
                | "max_output_tokens"
                | "model_context_window_exceeded"
                | "incomplete"
        )
    )
}

pub type EventStream = Pin<Box<dyn Stream<Item = Result<ModelEvent, ModelError>> + Send>>;

/// Anything that can stream an answer: a real provider or a scripted fake.
pub trait ModelClient: Send + Sync {
    /// Starts the request. Errors (including connection and HTTP status errors) arrive
    /// as the stream's items; after an `Err` the stream yields nothing more.
    fn stream(&self, request: ModelRequest) -> EventStream;
}
