//! OpenAI-compatible Chat Completions (`POST {base}/chat/completions`, `stream: true`):
//! the wire format of Cerebras, Groq, OpenRouter, vLLM, SGLang, llama.cpp, Ollama and
//! LM Studio.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::sse::SseEvent;
use crate::transport::{self, WireParser};
use crate::{ModelError, ModelEvent, ModelRequest, Usage};

/// The request body for a streamed Chat Completions answer.
pub(crate) fn body(request: &ModelRequest) -> serde_json::Value {
    json!({
        "model": request.model,
        "messages": request.messages,
        "stream": true,
        "stream_options": { "include_usage": true },
    })
}

#[derive(Default)]
pub(crate) struct ChatParser {
    finish_reason: Option<String>,
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
