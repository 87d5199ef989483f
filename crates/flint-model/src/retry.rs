//! Retries with backoff, only before the first token: once any of the answer has
//! arrived, a failure ends the stream (the caller keeps the partial answer and offers
//! Retry), because sending again would restart the answer under the user's eyes.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;

use crate::{EventStream, ModelClient, ModelEvent, ModelRequest};

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The first wait; each later one doubles.
    pub base_delay: Duration,
    /// No wait is longer than this; a Retry-After beyond it ends the retries.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    pub fn none() -> Self {
        Self {
            attempts: 1,
            ..Self::default()
        }
    }
}

/// Streams `request` from `client`, retrying retryable failures that happen before any
/// content arrived. Each retry is announced with a `Retrying` event.
pub fn with_retries(
    client: Arc<dyn ModelClient>,
    request: ModelRequest,
    policy: RetryPolicy,
) -> EventStream {
    Box::pin(async_stream::stream! {
        let mut attempt = 1;
        loop {
            let mut stream = client.stream(request.clone());
            let mut started = false;
            let mut failure = None;
            while let Some(event) = stream.next().await {
                match event {
                    Ok(e) => {
                        started |= !matches!(e, ModelEvent::Usage(_) | ModelEvent::Retrying { .. });
                        yield Ok(e);
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            let Some(error) = failure else { return };
            let wait = error
                .retry_after()
                .unwrap_or(policy.base_delay * 2u32.saturating_pow(attempt - 1));
            if started || !error.is_retryable() || attempt >= policy.attempts || wait > policy.max_delay {
                yield Err(error);
                return;
            }
            yield Ok(ModelEvent::Retrying { attempt: attempt + 1, after: wait, reason: error.user_message() });
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    })
}
