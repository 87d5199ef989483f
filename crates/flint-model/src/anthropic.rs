//! Anthropic Messages (`POST {base}/messages`, `stream: true`): text, thinking and
//! tool-use deltas by content block, usage split between `message_start` (input) and
//! `message_delta` (output), pings, and `error` events.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::message::{self, Message, Part, Role, ToolKind};
use crate::sse::SseEvent;
use crate::transport::{self, WireParser};
use crate::{ModelError, ModelEvent, ModelRequest, Usage};

/// The API version Flint speaks (sent as `anthropic-version`).
pub(crate) const VERSION: &str = "2023-06-01";
const MAX_TOKENS: u32 = 16_384;

pub(crate) fn body(request: &ModelRequest) -> Value {
    let (system, rest) = request.split_system();
    let messages: Vec<Value> = rest.into_iter().map(message).collect();
    let mut body = json!({
        "model": request.model,
        "max_tokens": MAX_TOKENS,
        "messages": messages,
        "stream": true,
    });
    if let Some(system) = system {
        body["system"] = Value::String(system);
    }
    if !request.tools.is_empty() {
        // Custom tools are JSON tools here, taking their text as `input`.
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| json!({ "name": t.name, "description": t.description, "input_schema": t.json_schema() }))
            .collect();
        body["tools"] = Value::Array(tools);
    }
    body
}

/// One message: text as a plain string; otherwise content blocks (`text`, `tool_use`
/// with its input as JSON, and tool results as a user's `tool_result` blocks).
fn message(m: &Message) -> Value {
    if m.is_text_only() {
        return json!({ "role": m.role, "content": m.text() });
    }
    let mut blocks = Vec::new();
    for p in &m.parts {
        match p {
            // Anthropic refuses text blocks of only whitespace (models often write a
            // blank line before a call).
            Part::Text { text } if !text.trim().is_empty() => {
                blocks.push(json!({ "type": "text", "text": text }))
            }
            Part::ToolCall(c) => blocks.push(json!({
                "type": "tool_use", "id": c.id, "name": c.name, "input": message::json_arguments(c),
            })),
            Part::ToolResult(r) => blocks.push(json!({
                "type": "tool_result", "tool_use_id": r.call_id, "content": r.output, "is_error": r.is_error,
            })),
            Part::Text { .. } | Part::Reasoning { .. } => {}
        }
    }
    let role = match m.role {
        Role::Assistant => "assistant",
        _ => "user",
    };
    json!({ "role": role, "content": blocks })
}

#[derive(Default)]
pub(crate) struct AnthropicParser {
    usage: Usage,
    input: u64,
    cache_read: u64,
    cache_created: u64,
    stop_reason: Option<String>,
    /// Content block index to tool-use id.
    tools: Vec<(u64, String)>,
}

/// The fields Flint reads, each a `Value` so events and fields Flint does not use may
/// carry any shape (see responses.rs).
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type", default)]
    kind: Value,
    #[serde(default)]
    index: Value,
    #[serde(default)]
    message: Value,
    #[serde(default)]
    content_block: Value,
    #[serde(default)]
    delta: Value,
    #[serde(default)]
    usage: Value,
    #[serde(default)]
    error: Value,
}

impl AnthropicParser {
    /// Takes every count a usage object states. `message_start` has them first; the
    /// final `message_delta` has the cumulative figures, and some servers (LiteLLM's
    /// Messages bridge) state the input only there: a later figure replaces an earlier
    /// one, as the official SDKs do.
    fn take_usage(&mut self, u: &Value) {
        let n = |k: &str| u[k].as_u64();
        if let Some(input) = n("input_tokens") {
            self.input = input;
        }
        if let Some(read) = n("cache_read_input_tokens") {
            self.cache_read = read;
        }
        if let Some(created) = n("cache_creation_input_tokens") {
            self.cache_created = created;
        }
        if let Some(output) = n("output_tokens") {
            self.usage.output_tokens = output;
        }
        self.usage.input_tokens = self.input + self.cache_read + self.cache_created;
    }
}

impl WireParser for AnthropicParser {
    fn read(&mut self, event: &SseEvent) -> Result<Vec<ModelEvent>, ModelError> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let e: Envelope = transport::json(data)?;
        let kind = e.kind.as_str().or(event.event.as_deref()).unwrap_or("");
        let mut out = Vec::new();
        match kind {
            "message_start" => self.take_usage(&e.message["usage"]),
            "content_block_start" => {
                let block = &e.content_block;
                if block["type"] == "tool_use" {
                    let id = block["id"].as_str().unwrap_or_default().to_string();
                    self.tools.push((e.index.as_u64().unwrap_or(0), id.clone()));
                    out.push(ModelEvent::ToolCallStart {
                        id,
                        name: block["name"].as_str().unwrap_or_default().to_string(),
                        kind: ToolKind::Function,
                    });
                }
            }
            "content_block_delta" => {
                let d = &e.delta;
                // Text Flint reads must be text (edits are parsed from it); other
                // delta types may carry anything.
                let text = |k: &str| match &d[k] {
                    Value::String(s) if !s.is_empty() => Ok(Some(s.clone())),
                    Value::String(_) | Value::Null => Ok(None),
                    _ => Err(ModelError::Malformed {
                        detail: format!(
                            "a {k} delta that is not text in `{}`",
                            transport::preview(data)
                        ),
                    }),
                };
                match d["type"].as_str().unwrap_or("") {
                    "text_delta" => out.extend(text("text")?.map(ModelEvent::TextDelta)),
                    "thinking_delta" => {
                        out.extend(text("thinking")?.map(ModelEvent::ReasoningDelta))
                    }
                    "input_json_delta" => {
                        let index = e.index.as_u64().unwrap_or(0);
                        if let (Some(arguments), Some((_, id))) = (
                            text("partial_json")?,
                            self.tools.iter().find(|(i, _)| *i == index),
                        ) {
                            out.push(ModelEvent::ToolCallDelta {
                                id: id.clone(),
                                arguments,
                            });
                        }
                    }
                    _ => {} // signature_delta, citations: nothing to show
                }
            }
            "message_delta" => {
                if let Some(r) = e.delta["stop_reason"].as_str() {
                    self.stop_reason = Some(r.to_string());
                }
                self.take_usage(&e.usage);
            }
            "message_stop" => {
                out.push(ModelEvent::Usage(self.usage));
                out.push(ModelEvent::Finished {
                    reason: self.stop_reason.take(),
                });
            }
            "error" => {
                let err = &e.error;
                return Err(classify(
                    err["type"].as_str().unwrap_or(""),
                    err["message"]
                        .as_str()
                        .unwrap_or("the provider reported an error but sent no message"),
                ));
            }
            _ => {} // ping, content_block_stop
        }
        Ok(out)
    }
}

/// Maps Anthropic's error types (in `error` events mid-stream).
fn classify(kind: &str, message: &str) -> ModelError {
    let detail = crate::error::redact(message);
    match kind {
        "overloaded_error" => ModelError::Server {
            status: 529,
            detail,
        },
        "api_error" => ModelError::Server {
            status: 500,
            detail,
        },
        "rate_limit_error" => ModelError::RateLimited {
            retry_after: None,
            detail,
        },
        "authentication_error" | "permission_error" => ModelError::BadKey {
            status: 401,
            detail,
        },
        "not_found_error" => ModelError::UnknownModel {
            model: String::new(),
            detail,
        },
        "invalid_request_error" if detail.contains("too long") => {
            ModelError::ContextTooLong { detail }
        }
        _ => ModelError::Provider { detail },
    }
}
