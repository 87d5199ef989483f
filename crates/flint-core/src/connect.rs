//! Connecting to providers: finding what is already there on first run (keys in the
//! usual environment variables, local servers answering on their default ports),
//! listing a provider's models, and testing a connection with a real request.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use flint_model::preset::PRESETS;
use flint_model::{Endpoint, Message, ModelEvent, ModelRequest, Role, Wire};

use crate::config::Env;
use crate::{CoreError, ResolvedSlot};

/// A provider found ready to use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Detected {
    pub provider: String,
    pub name: String,
    /// Why Flint thinks it works, for the user: "OPENAI_API_KEY is set".
    pub reason: String,
    /// The model Flint suggests (the preset's default, or the server's first).
    pub model: Option<String>,
    pub models: Vec<String>,
}

/// Finds providers with a key in the environment and local servers that answer.
pub async fn detect(env: Env<'_>) -> Vec<Detected> {
    let locals: Vec<(String, String)> = PRESETS
        .iter()
        .filter(|p| p.local)
        .map(|p| (p.id.to_string(), p.base_url.to_string()))
        .collect();
    detect_with(env, &locals).await
}

/// [`detect`] with the local servers to probe given (provider id, base URL).
pub async fn detect_with(env: Env<'_>, locals: &[(String, String)]) -> Vec<Detected> {
    let mut found = Vec::new();
    for p in PRESETS.iter().filter(|p| p.id != "openai-chat") {
        if let Some(var) = p.key_env {
            if env(var).is_some_and(|v| !v.trim().is_empty()) {
                found.push(Detected {
                    provider: p.id.to_string(),
                    name: p.name.to_string(),
                    reason: format!("{var} is set"),
                    model: p.default_model.map(str::to_owned),
                    models: p.models.iter().map(|m| m.id.to_string()).collect(),
                });
            }
        }
    }
    let probes = locals.iter().map(|(id, url)| async move {
        let endpoint = Endpoint::new(Wire::ChatCompletions, url, None).ok()?;
        let models = tokio::time::timeout(Duration::from_millis(800), endpoint.list_models())
            .await
            .ok()?
            .ok()?;
        let name = flint_model::preset::preset(id).map_or(id.as_str(), |p| p.name);
        let ids: Vec<String> = models.into_iter().map(|m| m.id).collect();
        Some(Detected {
            provider: id.clone(),
            name: name.to_string(),
            reason: format!("answering at {url}"),
            model: ids.first().cloned(),
            models: ids,
        })
    });
    found.extend(
        futures_util::future::join_all(probes)
            .await
            .into_iter()
            .flatten(),
    );
    found
}

/// The outcome of a real request, in words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ConnectionTest {
    pub ok: bool,
    pub message: String,
    /// Time to the first token (or to the failure).
    pub ms: f64,
}

/// Sends a tiny prompt and waits for the first token: proof that the URL, the key and
/// the model all work. The stream is dropped as soon as that is known.
pub async fn test_connection(slot: &ResolvedSlot) -> ConnectionTest {
    let started = Instant::now();
    let client = match slot.connect() {
        Ok(c) => c,
        Err(e) => return fail(started, e.to_string()),
    };
    let request = ModelRequest {
        model: slot.model.clone(),
        messages: vec![Message::new(
            Role::User,
            "Reply with the single word: ready",
        )],
        tools: Vec::new(),
    };
    let mut stream = client.client.stream(request);
    let deadline = Duration::from_secs(30);
    loop {
        let next =
            match tokio::time::timeout(deadline.saturating_sub(started.elapsed()), stream.next())
                .await
            {
                Err(_) => {
                    return fail(
                        started,
                        format!("no answer within {} s", deadline.as_secs()),
                    )
                }
                Ok(n) => n,
            };
        match next {
            Some(Ok(ModelEvent::TextDelta(_))) | Some(Ok(ModelEvent::ReasoningDelta(_))) => {
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                return ConnectionTest {
                    ok: true,
                    message: format!("{} answered in {:.0} ms.", slot.model, ms),
                    ms,
                };
            }
            Some(Ok(ModelEvent::Finished { .. })) | None => {
                return fail(started, "the model answered with nothing".into())
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return fail(started, e.user_message()),
        }
    }
}

fn fail(started: Instant, message: String) -> ConnectionTest {
    ConnectionTest {
        ok: false,
        message,
        ms: started.elapsed().as_secs_f64() * 1000.0,
    }
}

/// The models the slot's provider lists, or the preset's known ones where it has no list.
pub async fn list_models(slot: &ResolvedSlot) -> Result<Vec<String>, CoreError> {
    let endpoint = Endpoint::new(slot.wire, &slot.base_url, slot.api_key.clone())?;
    match endpoint.list_models().await {
        Ok(models) => Ok(models.into_iter().map(|m| m.id).collect()),
        Err(e) => {
            let known: Vec<String> = flint_model::preset::preset(&slot.provider)
                .map(|p| p.models.iter().map(|m| m.id.to_string()).collect())
                .unwrap_or_default();
            if known.is_empty() {
                Err(e.into())
            } else {
                Ok(known)
            }
        }
    }
}
