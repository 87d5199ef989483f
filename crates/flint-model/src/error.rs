use std::time::Duration;

/// Why a model request failed, classified so callers can decide what to do and tell the
/// user something they can act on. Messages never contain API keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("no API key is set for {provider}")]
    MissingKey { provider: String },
    /// A key would go over plain http to another machine.
    #[error("refusing to send the API key over plain http to {url}")]
    InsecureKey { url: String },
    #[error("the provider rejected the API key (HTTP {status})")]
    BadKey { status: u16, detail: String },
    #[error("the provider does not know the model `{model}`")]
    UnknownModel { model: String, detail: String },
    /// HTTP 404 for the route itself (not for the model): the base URL is wrong.
    #[error("the server has no route {url} (HTTP 404)")]
    NoRoute { url: String, detail: String },
    #[error("rate limited by the provider")]
    RateLimited {
        retry_after: Option<Duration>,
        detail: String,
    },
    #[error("the conversation is longer than the model's context window")]
    ContextTooLong { detail: String },
    #[error("the provider had a server error (HTTP {status})")]
    Server { status: u16, detail: String },
    #[error("the provider refused the request (HTTP {status})")]
    BadRequest { status: u16, detail: String },
    #[error("could not reach the provider: {detail}")]
    Network { detail: String },
    #[error("the provider sent nothing for {}s", .after.as_secs())]
    IdleTimeout { after: Duration },
    #[error("the provider sent an event Flint could not read: {detail}")]
    Malformed { detail: String },
    #[error("the connection closed before the answer was complete")]
    Dropped,
    /// The provider sent more than Flint holds (one event, or a whole answer).
    #[error("the provider sent more than Flint accepts ({what})")]
    TooLarge { what: String },
    #[error("the provider reported an error: {detail}")]
    Provider { detail: String },
}

impl ModelError {
    /// A stable machine-readable code for the UI and the CLI.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingKey { .. } => "missing_key",
            Self::InsecureKey { .. } => "insecure_key",
            Self::BadKey { .. } => "bad_key",
            Self::UnknownModel { .. } => "unknown_model",
            Self::NoRoute { .. } => "no_route",
            Self::RateLimited { .. } => "rate_limited",
            Self::ContextTooLong { .. } => "context_too_long",
            Self::Server { .. } => "server_error",
            Self::BadRequest { .. } => "bad_request",
            Self::Network { .. } => "network",
            Self::IdleTimeout { .. } => "idle_timeout",
            Self::Malformed { .. } => "malformed_stream",
            Self::Dropped => "dropped",
            Self::TooLarge { .. } => "too_large",
            Self::Provider { .. } => "provider_error",
        }
    }

    /// A sentence for the user that says what happened and what to do about it.
    pub fn user_message(&self) -> String {
        match self {
            Self::MissingKey { provider } => {
                let var = crate::preset::preset(provider)
                    .and_then(|p| p.key_env)
                    .unwrap_or("the provider's key variable");
                format!(
                    "No API key is set for {provider}. Add one in Settings (it is kept in your \
                     system keychain) or set {var}."
                )
            }
            Self::InsecureKey { url } => format!(
                "Flint will not send an API key over plain http to {url}: anyone on the way \
                 could read it. Use an https:// base URL (plain http is fine for a server on \
                 this machine)."
            ),
            Self::BadKey { status, .. } => format!(
                "The provider rejected the API key (HTTP {status}). Check the key in your settings."
            ),
            Self::UnknownModel { model, detail } if model.is_empty() => format!(
                "The provider does not serve the model asked for ({detail}). Pick another model in \
                 your settings."
            ),
            Self::UnknownModel { model, .. } => format!(
                "The provider does not serve the model `{model}`. Pick another model in your settings."
            ),
            Self::NoRoute { url, .. } => format!(
                "The server answered 404 Not Found for {url}: it does not serve that route, so the \
                 base URL is probably wrong (OpenAI-compatible servers usually end in /v1)."
            ),
            Self::RateLimited { retry_after, .. } => match retry_after {
                Some(d) => format!(
                    "The provider is rate limiting requests. Try again in {} s.",
                    d.as_secs().max(1)
                ),
                None => "The provider is rate limiting requests. Try again shortly.".into(),
            },
            Self::ContextTooLong { .. } => {
                "The conversation no longer fits the model's context window. Start a new session \
                 or remove attached files."
                    .into()
            }
            Self::Server { status, .. } => format!(
                "The provider had a server error (HTTP {status}). Try again in a moment."
            ),
            Self::BadRequest { status, detail } => {
                format!("The provider refused the request (HTTP {status}): {detail}")
            }
            Self::Network { detail } => format!(
                "Could not reach the provider ({detail}). Check the base URL and your connection."
            ),
            Self::IdleTimeout { after } => format!(
                "The provider stopped sending for {} s. What arrived is kept; try again.",
                after.as_secs()
            ),
            Self::Malformed { detail } => format!(
                "The provider sent a response Flint could not read ({detail}). What arrived is kept."
            ),
            Self::Dropped => {
                "The connection closed before the answer was complete. What arrived is kept; \
                 try again."
                    .into()
            }
            Self::Provider { detail } => format!("The provider reported an error: {detail}"),
            Self::TooLarge { what } => format!(
                "The provider sent more than Flint accepts ({what}); the stream was stopped. \
                 What arrived before is kept."
            ),
        }
    }

    /// This error with every appearance of `secret` (the key the request was sent with)
    /// masked, wherever a provider echoed it: the heuristics of `redact` catch keys by
    /// their look, this catches the one actually used whatever it looks like.
    pub fn without_secret(self, secret: &str) -> Self {
        if secret.len() < 8 {
            return self; // too short to mask without mangling ordinary words
        }
        let mask = |s: String| s.replace(secret, "[redacted]");
        match self {
            Self::BadKey { status, detail } => Self::BadKey {
                status,
                detail: mask(detail),
            },
            Self::UnknownModel { model, detail } => Self::UnknownModel {
                model,
                detail: mask(detail),
            },
            Self::NoRoute { url, detail } => Self::NoRoute {
                url: mask(url),
                detail: mask(detail),
            },
            Self::RateLimited {
                retry_after,
                detail,
            } => Self::RateLimited {
                retry_after,
                detail: mask(detail),
            },
            Self::ContextTooLong { detail } => Self::ContextTooLong {
                detail: mask(detail),
            },
            Self::Server { status, detail } => Self::Server {
                status,
                detail: mask(detail),
            },
            Self::BadRequest { status, detail } => Self::BadRequest {
                status,
                detail: mask(detail),
            },
            Self::Network { detail } => Self::Network {
                detail: mask(detail),
            },
            Self::Malformed { detail } => Self::Malformed {
                detail: mask(detail),
            },
            Self::Provider { detail } => Self::Provider {
                detail: mask(detail),
            },
            other => other,
        }
    }

    /// Whether sending the same request again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Server { .. }
                | Self::Network { .. }
                | Self::IdleTimeout { .. }
                | Self::Dropped
        )
    }

    /// How long the provider asked us to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Classifies a non-success HTTP status and its body, for a request to `url` about
    /// `model` (empty where the request names none).
    pub fn from_status(
        status: u16,
        retry_after: Option<Duration>,
        body: &str,
        model: &str,
        url: &str,
    ) -> Self {
        let detail = provider_detail(body);
        let lower = detail.to_ascii_lowercase();
        match status {
            401 | 403 => Self::BadKey { status, detail },
            // A 404 is about the model only when the server says so (OpenAI's
            // `model_not_found`, Anthropic's "model: x", Ollama's "model 'x' not
            // found"); a route the server lacks answers 404 with "Not Found", an HTML
            // page, or nothing.
            404 if !model.is_empty() && names_the_model(body, &lower, model, url) => {
                Self::UnknownModel {
                    model: model.to_string(),
                    detail,
                }
            }
            404 => Self::NoRoute {
                url: shown_url(url),
                detail,
            },
            429 => Self::RateLimited {
                retry_after,
                detail,
            },
            400 | 413 | 422
                if lower.contains("context")
                    || lower.contains("too long")
                    || lower.contains("maximum") =>
            {
                Self::ContextTooLong { detail }
            }
            500..=599 => Self::Server { status, detail },
            _ => Self::BadRequest { status, detail },
        }
    }
}

/// `url` as it may be shown and stored: no credentials, query or fragment.
fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "the request's URL".to_string(),
    }
}

/// `text` cut to a length fit for a message.
pub(crate) fn bounded(text: &str) -> String {
    clip(text, 300)
}

/// At most `chars` characters of `text`, with an ellipsis where it was cut.
pub(crate) fn clip(text: &str, chars: usize) -> String {
    let mut out: String = text.chars().take(chars).collect();
    if text.chars().nth(chars).is_some() {
        out.push('…');
    }
    out
}

/// Whether a 404's body is about the model rather than the route. The request's own path
/// is taken out first: "Cannot POST /v1/models" is about a route.
fn names_the_model(body: &str, detail_lower: &str, model: &str, url: &str) -> bool {
    let path = reqwest::Url::parse(url)
        .map(|u| u.path().to_ascii_lowercase())
        .unwrap_or_default();
    let detail_lower = if path.is_empty() {
        detail_lower.to_string()
    } else {
        detail_lower.replace(&path, "")
    };
    let code_says = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .is_some_and(|v| {
            let e = &v["error"];
            [&e["code"], &e["type"], &v["code"]]
                .iter()
                .any(|c| c.as_str().is_some_and(|c| c.contains("model")))
        });
    code_says
        || detail_lower.contains("model")
        || detail_lower.contains(&model.to_ascii_lowercase())
}

/// Pulls the human part out of a provider's error body (`{"error":{"message":..}}` in
/// every format Flint speaks), bounded so a huge HTML page does not end up in a message.
fn provider_detail(body: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let e = v.get("error")?;
            e.get("message")
                .and_then(|m| m.as_str())
                .or_else(|| e.as_str())
                .map(str::to_owned)
        });
    bounded(&redact(
        &from_json.unwrap_or_else(|| body.trim().to_string()),
    ))
}

/// Masks anything that looks like an API key. Providers echo part of a rejected key
/// ("Incorrect API key provided: sk-abc***xyz"); none of it may reach a message or log.
pub(crate) fn redact(text: &str) -> String {
    const PREFIXES: [&str; 6] = ["sk-", "sk_", "gsk_", "csk-", "key-", "AIza"];
    // Keys appear in prose, quotes, parentheses, backticks and `name=value` pairs.
    let delimiter = |c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '"' | '\''
                    | ','
                    | '('
                    | ')'
                    | '`'
                    | '='
                    | ':'
                    | ';'
                    | '['
                    | ']'
                    | '<'
                    | '>'
                    | '{'
                    | '}'
            )
    };
    text.split_inclusive(delimiter)
        .map(|word| {
            let token = word.trim_end_matches(delimiter);
            let tail = &word[token.len()..];
            let keyish = PREFIXES
                .iter()
                .any(|p| token.starts_with(p) && token.len() > p.len() + 3)
                || (token.len() >= 32
                    && token
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
            if keyish {
                format!("[redacted]{tail}")
            } else {
                word.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_echoed_by_providers_are_redacted() {
        let e = ModelError::from_status(
            400,
            None,
            r#"{"error":{"message":"Incorrect API key provided: sk-proj-abc***wxyz. You can find your key at https://x."}}"#,
            "m",
            "u",
        );
        let ModelError::BadRequest { detail, .. } = e else {
            panic!()
        };
        assert!(!detail.contains("sk-proj"), "{detail}");
        assert!(
            detail.contains("Incorrect API key provided: [redacted]"),
            "{detail}"
        );
        assert_eq!(redact("model gpt-5 not found"), "model gpt-5 not found");
        for leaky in [
            "bad key (sk-proj-abcdef123456)",
            "api_key=sk-proj-abcdef123456&x=1",
            "the key `sk-proj-abcdef123456` is wrong",
            "Authorization: Bearer sk-proj-abcdef123456",
        ] {
            let shown = redact(leaky);
            assert!(!shown.contains("abcdef123456"), "{shown}");
        }
        // The key actually used is masked whatever it looks like.
        let e = ModelError::Provider {
            detail: "echo: my-weird-key-42!".into(),
        }
        .without_secret("my-weird-key-42!");
        assert!(!e.user_message().contains("weird"), "{}", e.user_message());
    }

    #[test]
    fn statuses_are_classified() {
        let e = ModelError::from_status(401, None, r#"{"error":{"message":"bad key"}}"#, "m", "u");
        assert_eq!(e.code(), "bad_key");
        let e = ModelError::from_status(429, Some(Duration::from_secs(7)), "", "m", "u");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert!(e.user_message().contains("7 s"));
        let e = ModelError::from_status(
            400,
            None,
            r#"{"error":{"message":"This model's maximum context length is 128000 tokens"}}"#,
            "m",
            "u",
        );
        assert_eq!(e.code(), "context_too_long");
        assert!(ModelError::from_status(503, None, "", "m", "u").is_retryable());
        assert!(!ModelError::from_status(400, None, "nope", "m", "u").is_retryable());
    }

    #[test]
    fn a_missing_route_is_not_an_unknown_model() {
        let url = "http://127.0.0.1:8080/chat/completions";
        // Bodies servers send for a route they lack.
        for body in [
            "",
            "404 page not found",
            r#"{"detail":"Not Found"}"#,
            "<html><body>Cannot POST /chat/completions</body></html>",
            r#"{"error":{"code":404,"message":"File Not Found","type":"not_found_error"}}"#,
        ] {
            let e = ModelError::from_status(404, None, body, "gpt-x", url);
            assert_eq!(e.code(), "no_route", "{body}");
            assert!(e.user_message().contains(url), "{}", e.user_message());
        }
        // A path that itself holds "model" (a base URL ending in /models) is a route.
        let e = ModelError::from_status(
            404,
            None,
            "Cannot POST /v1/models/chat/completions",
            "gpt-x",
            "http://127.0.0.1:8080/v1/models/chat/completions",
        );
        assert_eq!(e.code(), "no_route");
        // The model list's 404 is about the route: it names no model.
        let e = ModelError::from_status(404, None, "Cannot GET /v1/models", "", url);
        assert_eq!(e.code(), "no_route");
        // Credentials and queries in a URL never reach a message.
        let e = ModelError::from_status(
            404,
            None,
            "",
            "m",
            "https://me:tok3n@proxy.example/v1/responses?key=k",
        );
        let shown = e.user_message();
        assert!(
            !shown.contains("tok3n") && !shown.contains("key=k") && !shown.contains("me@"),
            "{shown}"
        );
        assert!(
            shown.contains("https://proxy.example/v1/responses"),
            "{shown}"
        );
        // Bodies servers send for a model they lack.
        for body in [
            r#"{"error":{"message":"The model `gpt-x` does not exist or you do not have access to it.","type":"invalid_request_error","code":"model_not_found"}}"#,
            r#"{"type":"error","error":{"type":"not_found_error","message":"model: gpt-x"}}"#,
            r#"{"error":"model 'gpt-x' not found, try pulling it first"}"#,
        ] {
            let e = ModelError::from_status(404, None, body, "gpt-x", url);
            assert_eq!(e.code(), "unknown_model", "{body}");
            assert!(e.user_message().contains("gpt-x"));
        }
    }

    #[test]
    fn long_bodies_are_bounded() {
        let body = "x".repeat(10_000);
        let ModelError::Server { detail, .. } = ModelError::from_status(500, None, &body, "m", "u")
        else {
            panic!("expected a server error");
        };
        assert!(detail.chars().count() <= 301);
    }
}
