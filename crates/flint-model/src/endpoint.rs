//! A model endpoint: a base URL, the wire format it speaks, and the key (if any). One
//! client type for all formats, so callers pick a provider by data, not by type.

use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::anthropic::{self, AnthropicParser};
use crate::chat::{self, ChatParser};
use crate::responses::{self, ResponsesParser};
use crate::transport;
use crate::{EventStream, ModelClient, ModelError, ModelRequest};

/// The wire formats Flint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Wire {
    /// OpenAI's Responses API (`/responses`).
    Responses,
    /// OpenAI-compatible Chat Completions (`/chat/completions`).
    ChatCompletions,
    /// Anthropic Messages (`/messages`).
    AnthropicMessages,
}

#[derive(Clone)]
pub struct Endpoint {
    http: reqwest::Client,
    wire: Wire,
    base_url: String,
    api_key: Option<String>,
    idle_timeout: Duration,
}

impl std::fmt::Debug for Endpoint {
    // Hand-written so the key can never reach a log through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("wire", &self.wire)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// A model the provider lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedModel {
    pub id: String,
}

impl Endpoint {
    /// `base_url` is the API root, e.g. `https://api.openai.com/v1`. With no key no
    /// credentials are sent (local servers need none). Cloning shares the connection
    /// pool, so the connection stays warm across turns.
    pub fn new(wire: Wire, base_url: &str, api_key: Option<String>) -> Result<Self, ModelError> {
        let api_key = api_key.filter(|k| !k.is_empty());
        // A key goes over plain http only to this machine: anywhere else anyone on the
        // way could read it.
        // Read as the HTTP client will read it (WHATWG rules: `http:/\\host`,
        // `HTTP://`, stray control characters all mean http://host).
        let plain_http = reqwest::Url::parse(base_url).map_or(true, |u| u.scheme() != "https");
        if api_key.is_some() && plain_http && !crate::preset::is_loopback(base_url) {
            return Err(ModelError::InsecureKey {
                url: base_url.to_string(),
            });
        }
        Ok(Self {
            http: transport::http_client()?,
            wire,
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key,
            idle_timeout: crate::DEFAULT_IDLE_TIMEOUT,
        })
    }

    /// How long the stream may stay silent before it counts as stalled.
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle;
        self
    }

    pub fn wire(&self) -> Wire {
        self.wire
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        match (self.wire, &self.api_key) {
            (Wire::AnthropicMessages, key) => {
                req = req.header("anthropic-version", anthropic::VERSION);
                if let Some(key) = key {
                    req = req.header("x-api-key", key);
                }
            }
            (_, Some(key)) => req = req.bearer_auth(key),
            (_, None) => {}
        }
        req
    }

    /// The models the provider offers (`GET {base}/models`), sorted.
    pub async fn list_models(&self) -> Result<Vec<ListedModel>, ModelError> {
        let req = self
            .request(reqwest::Method::GET, "/models")
            .timeout(Duration::from_secs(10));
        let secret = |e: ModelError| match &self.api_key {
            Some(k) => e.without_secret(k),
            None => e,
        };
        let resp = req
            .send()
            .await
            .map_err(|e| secret(transport::network_error(&e)))?;
        let status = resp.status();
        let url = resp.url().to_string();
        // A model list is a few hundred KB at most (OpenRouter's is the largest).
        let text = transport::bounded_text(resp, Duration::from_secs(10), 8 << 20).await;
        if !status.is_success() {
            return Err(secret(ModelError::from_status(
                status.as_u16(),
                None,
                &text,
                "",
                &url,
            )));
        }
        #[derive(Deserialize)]
        struct List {
            data: Vec<ListedModel>,
        }
        let mut models = transport::json::<List>(&text)?.data;
        models.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(models)
    }
}

impl ModelClient for Endpoint {
    fn stream(&self, request: ModelRequest) -> EventStream {
        let post = |path: &str, body: serde_json::Value| {
            self.request(reqwest::Method::POST, path).json(&body)
        };
        let model = request.model.clone();
        let events = match self.wire {
            Wire::ChatCompletions => transport::stream(
                post("/chat/completions", chat::body(&request)),
                self.idle_timeout,
                model,
                ChatParser::default(),
            ),
            Wire::Responses => transport::stream(
                post("/responses", responses::body(&request)),
                self.idle_timeout,
                model,
                ResponsesParser::default(),
            ),
            Wire::AnthropicMessages => transport::stream(
                post("/messages", anthropic::body(&request)),
                self.idle_timeout,
                model,
                AnthropicParser::default(),
            ),
        };
        // Whatever a provider echoes back, the key this request was sent with never
        // reaches a message, a log or the history.
        match self.api_key.clone() {
            Some(key) => Box::pin(events.map(move |e| e.map_err(|e| e.without_secret(&key)))),
            None => events,
        }
    }
}
