//! What a conversation sent to a model is made of: messages of parts (text, reasoning,
//! tool calls and their results), and the tools the model may call. Each wire module
//! writes these in its own format; this module only says what they mean.

use serde::{Deserialize, Serialize};

/// Who said a message in the conversation sent to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    /// The results of the tool calls the model asked for (Chat Completions' `tool`
    /// messages, Anthropic's `tool_result` blocks, Responses' `*_call_output` items).
    Tool,
}

/// How a tool takes its input: JSON arguments matching a schema, or free text (the
/// Responses API's custom tools, e.g. `apply_patch` taking a V4A patch as it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolKind {
    Function,
    Custom,
}

/// A call the model made: `input` is the JSON arguments of a function tool, or the raw
/// text of a custom one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub kind: ToolKind,
    pub input: String,
}

/// What running a tool call gave back, for the model to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolResult {
    pub call_id: String,
    /// The kind of the call answered (the Responses API answers each kind its own way).
    pub kind: ToolKind,
    pub output: String,
    pub is_error: bool,
}

/// One part of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    Text {
        text: String,
    },
    /// The model's reasoning; kept in the history, never sent back (providers take
    /// reasoning back only in their own opaque forms).
    Reasoning {
        text: String,
    },
    ToolCall(ToolCall),
    ToolResult(ToolResult),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub parts: Vec<Part>,
}

impl Message {
    /// A message of one text part.
    pub fn new(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            parts: vec![Part::Text { text: text.into() }],
        }
    }

    /// The message's text parts, joined.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for p in &self.parts {
            if let Part::Text { text } = p {
                out.push_str(text);
            }
        }
        out
    }

    /// Everything the model reads of it, as one text (calls' names and input, results'
    /// output): what the context meter counts.
    pub fn flattened(&self) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text { text } => out.push_str(text),
                Part::Reasoning { .. } => {}
                Part::ToolCall(c) => {
                    out.push_str(&c.name);
                    out.push('\n');
                    out.push_str(&c.input);
                }
                Part::ToolResult(r) => out.push_str(&r.output),
            }
        }
        out
    }

    /// Whether it is nothing but text (what every wire writes as a plain string).
    pub(crate) fn is_text_only(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text { .. }))
    }

    pub fn tool_calls(&self) -> impl Iterator<Item = &ToolCall> {
        self.parts.iter().filter_map(|p| match p {
            Part::ToolCall(c) => Some(c),
            _ => None,
        })
    }

    pub fn tool_results(&self) -> impl Iterator<Item = &ToolResult> {
        self.parts.iter().filter_map(|p| match p {
            Part::ToolResult(r) => Some(r),
            _ => None,
        })
    }
}

/// How a tool's input is described to the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolInput {
    /// JSON arguments matching this JSON Schema.
    Json { schema: serde_json::Value },
    /// Free text, with the Lark grammar it follows if there is one. Formats without
    /// custom tools get a function taking it as one string argument, `input`.
    Freeform { grammar: Option<String> },
}

/// A tool offered to the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub input: ToolInput,
}

impl ToolSpec {
    /// The JSON Schema of its arguments where a format takes only JSON tools.
    pub(crate) fn json_schema(&self) -> serde_json::Value {
        match &self.input {
            ToolInput::Json { schema } => schema.clone(),
            ToolInput::Freeform { .. } => serde_json::json!({
                "type": "object",
                "properties": { "input": { "type": "string", "description": "the input, as the tool's description says" } },
                "required": ["input"],
            }),
        }
    }
}

/// An id for a call a server sent without one: unique in this process (a fixed
/// `call_0` would repeat in every request, and providers refuse two calls of one id in a
/// conversation).
pub(crate) fn fresh_call_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("call_flint_{stamp:x}_{n}")
}

/// A result's text where a format has no error flag (Chat Completions, Responses): a
/// failed call says so in words, so the model is told.
pub(crate) fn result_text(r: &ToolResult) -> String {
    if r.is_error {
        format!("Error: {}", r.output)
    } else {
        r.output.clone()
    }
}

/// A call's input as JSON arguments, for formats that send calls back as JSON: a custom
/// call's text becomes `{"input": text}` (as its tool was described there), and empty
/// arguments (a tool without parameters) are `{}`.
pub(crate) fn json_arguments(call: &ToolCall) -> serde_json::Value {
    match call.kind {
        ToolKind::Custom => serde_json::json!({ "input": call.input }),
        ToolKind::Function if call.input.trim().is_empty() => serde_json::json!({}),
        // Arguments that are not JSON are sent back as the model wrote them, wrapped,
        // so the conversation stays valid for the provider.
        ToolKind::Function => serde_json::from_str(&call.input)
            .unwrap_or_else(|_| serde_json::json!({ "input": call.input })),
    }
}

/// Collects the tool calls of a streamed answer from its start and delta events, in
/// the order they started. A stream's deltas may interleave calls (parallel calls).
#[derive(Debug, Default, Clone)]
pub struct ToolCalls {
    calls: Vec<ToolCall>,
}

impl ToolCalls {
    pub fn push(&mut self, event: &crate::ModelEvent) {
        match event {
            crate::ModelEvent::ToolCallStart { id, name, kind } => self.calls.push(ToolCall {
                id: id.clone(),
                name: name.clone(),
                kind: *kind,
                input: String::new(),
            }),
            crate::ModelEvent::ToolCallDelta { id, arguments } => {
                if let Some(call) = self.calls.iter_mut().rev().find(|c| c.id == *id) {
                    call.input.push_str(arguments);
                }
            }
            _ => {}
        }
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    pub fn calls(&self) -> &[ToolCall] {
        &self.calls
    }

    pub fn into_calls(self) -> Vec<ToolCall> {
        self.calls
    }
}
