//! OpenAI-compatible Chat Completions (`POST {base}/chat/completions`, `stream: true`):
//! the wire format of Cerebras, Groq, OpenRouter, vLLM, SGLang, llama.cpp, Ollama and
//! LM Studio.

use serde::Deserialize;
use serde_json::json;

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

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<ChatUsage>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    content: Option<String>,
    /// vLLM, SGLang, llama.cpp and OpenRouter stream a reasoning model's thinking here.
    #[serde(alias = "reasoning")]
    reasoning_content: Option<String>,
}

#[derive(Deserialize)]
struct ChatUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
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
        if let Some(err) = chunk.error {
            let detail = err
                .get("message")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| err.to_string());
            return Err(ModelError::Provider {
                detail: crate::error::redact(&detail),
            });
        }
        let mut out = Vec::new();
        for choice in chunk.choices {
            if let Some(delta) = choice.delta {
                if let Some(r) = delta.reasoning_content.filter(|r| !r.is_empty()) {
                    out.push(ModelEvent::ReasoningDelta(r));
                }
                if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                    out.push(ModelEvent::TextDelta(text));
                }
            }
            if choice.finish_reason.is_some() {
                self.finish_reason = choice.finish_reason;
            }
        }
        if let Some(u) = chunk.usage {
            out.push(ModelEvent::Usage(Usage {
                input_tokens: u.prompt_tokens,
                output_tokens: u.completion_tokens,
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
