//! OpenAI-compatible Chat Completions (`POST {base}/chat/completions`, `stream: true`):
//! the wire format of Cerebras, Groq, OpenRouter, vLLM, SGLang, llama.cpp, Ollama and
//! LM Studio.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::message::{self, Message, Role, ToolKind};
use crate::sse::SseEvent;
use crate::transport::{self, WireParser};
use crate::{ModelError, ModelEvent, ModelRequest, Usage};

/// The request body for a streamed Chat Completions answer.
pub(crate) fn body(request: &ModelRequest) -> serde_json::Value {
    let messages: Vec<Value> = request.messages.iter().flat_map(message).collect();
    let mut body = json!({
        "model": request.model,
        "messages": messages,
        "stream": true,
        "stream_options": { "include_usage": true },
    });
    if !request.tools.is_empty() {
        // Custom tools are functions here, taking their text as `input`.
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                json!({
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.json_schema(),
                    },
                })
            })
            .collect();
        body["tools"] = Value::Array(tools);
    }
    body
}

/// One message as Chat Completions messages: text as a plain string; an assistant's
/// calls as `tool_calls`; each tool result as a `tool` message of its own.
fn message(m: &Message) -> Vec<Value> {
    match m.role {
        Role::Tool => m
            .tool_results()
            .map(|r| json!({ "role": "tool", "tool_call_id": r.call_id, "content": message::result_text(r) }))
            .collect(),
        Role::Assistant if !m.is_text_only() => {
            let text = m.text();
            let calls: Vec<Value> = m
                .tool_calls()
                .map(|c| {
                    json!({
                        "id": c.id,
                        "type": "function",
                        "function": {
                            "name": c.name,
                            "arguments": message::json_arguments(c).to_string(),
                        },
                    })
                })
                .collect();
            let mut out = json!({
                "role": "assistant",
                "content": if text.is_empty() { Value::Null } else { Value::String(text) },
            });
            if !calls.is_empty() {
                out["tool_calls"] = Value::Array(calls);
            }
            vec![out]
        }
        role => vec![json!({ "role": role, "content": m.text() })],
    }
}

#[derive(Default)]
pub(crate) struct ChatParser {
    finish_reason: Option<String>,
    /// Tool calls by their `index` in the deltas, to the id they started with: later
    /// deltas of a call carry only the index.
    calls: Vec<(u64, String)>,
}

/// The fields Flint reads, each a `Value` so fields Flint does not use, or a server's
/// variation on one (content as parts, reasoning as an object), never break a stream.
#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Value,
    #[serde(default)]
    usage: Value,
    /// Groq also reports usage under its own key.
    #[serde(default)]
    x_groq: Value,
    #[serde(default)]
    error: Value,
}

/// Text from a delta field: a string, or content parts (`[{"type":"text","text":..}]`)
/// as some servers send. Anything else there is a failure, not a silent gap: edits are
/// parsed from this text.
fn text_of(v: &Value, data: &str) -> Result<Option<String>, ModelError> {
    match v {
        Value::String(s) if !s.is_empty() => Ok(Some(s.clone())),
        Value::String(_) | Value::Null => Ok(None),
        Value::Array(parts) => {
            let t: String = parts
                .iter()
                .filter(|p| p["type"] == "text" || p["type"].is_null())
                .filter_map(|p| p["text"].as_str())
                .collect();
            Ok((!t.is_empty()).then_some(t))
        }
        _ => Err(ModelError::Malformed {
            detail: format!("a delta that is not text in `{}`", transport::preview(data)),
        }),
    }
}

impl ChatParser {
    /// One entry of a delta's `tool_calls`: the first for an index names the call (id,
    /// name), the rest add to its arguments. Servers that send each call whole in one
    /// chunk (Groq) are the same case. A call without an id gets one from its index.
    fn tool_call(&mut self, call: &Value, out: &mut Vec<ModelEvent>) {
        let index = call["index"].as_u64().unwrap_or(0);
        let function = &call["function"];
        let known = self
            .calls
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, id)| id.clone());
        let id = match (known, call["id"].as_str().filter(|s| !s.is_empty())) {
            (Some(id), None) => id,
            (Some(id), Some(again)) if id == again => id,
            (_, given) => {
                let id = given.map_or_else(message::fresh_call_id, str::to_owned);
                self.calls.retain(|(i, _)| *i != index);
                self.calls.push((index, id.clone()));
                out.push(ModelEvent::ToolCallStart {
                    id: id.clone(),
                    name: function["name"].as_str().unwrap_or_default().to_string(),
                    kind: ToolKind::Function,
                });
                id
            }
        };
        if let Some(arguments) = function["arguments"].as_str().filter(|a| !a.is_empty()) {
            out.push(ModelEvent::ToolCallDelta {
                id,
                arguments: arguments.to_string(),
            });
        }
    }
}

impl WireParser for ChatParser {
    fn read(&mut self, event: &SseEvent) -> Result<Vec<ModelEvent>, ModelError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            return Ok(vec![ModelEvent::Finished {
                reason: self.finish_reason.take(),
            }]);
        }
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let chunk: Chunk = transport::json(data)?;
        if !chunk.error.is_null() {
            let err = &chunk.error;
            let detail = err["message"]
                .as_str()
                .or(err.as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| err.to_string());
            return Err(ModelError::Provider {
                detail: crate::error::bounded(&crate::error::redact(&detail)),
            });
        }
        let mut out = Vec::new();
        for choice in chunk.choices.as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let delta = &choice["delta"];
            // vLLM, SGLang, llama.cpp and OpenRouter stream a reasoning model's
            // thinking in `reasoning_content` or `reasoning`.
            // Reasoning shapes vary by server; only its text is shown, so an
            // unreadable one is skipped.
            let reasoning = text_of(&delta["reasoning_content"], data)
                .ok()
                .flatten()
                .or_else(|| text_of(&delta["reasoning"], data).ok().flatten());
            if let Some(r) = reasoning {
                out.push(ModelEvent::ReasoningDelta(r));
            }
            if let Some(text) = text_of(&delta["content"], data)? {
                out.push(ModelEvent::TextDelta(text));
            }
            for call in delta["tool_calls"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                self.tool_call(call, &mut out);
            }
            if let Some(r) = choice["finish_reason"].as_str() {
                self.finish_reason = Some(r.to_string());
            }
        }
        let usage = if chunk.usage.is_object() {
            &chunk.usage
        } else {
            &chunk.x_groq["usage"]
        };
        if usage.is_object() {
            out.push(ModelEvent::Usage(Usage {
                input_tokens: usage["prompt_tokens"].as_u64().unwrap_or(0),
                output_tokens: usage["completion_tokens"].as_u64().unwrap_or(0),
            }));
        }
        Ok(out)
    }

    fn end_of_body(&mut self) -> Result<ModelEvent, ModelError> {
        // Some servers close after the finish_reason chunk without `[DONE]`; that
        // answer is complete. Anything else was cut off.
        match self.finish_reason.take() {
            Some(reason) => Ok(ModelEvent::Finished {
                reason: Some(reason),
            }),
            None => Err(ModelError::Dropped),
        }
    }
}
