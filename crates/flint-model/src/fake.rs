//! A scripted model for engine tests: each call to `stream` plays the next script, step
//! by step, so a test can drive a turn token by token, pause it, or fail it anywhere.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{EventStream, ModelClient, ModelError, ModelEvent, ModelRequest, Usage};

#[derive(Debug, Clone)]
pub enum Step {
    Text(String),
    Reason(String),
    ToolCall {
        id: String,
        name: String,
        arguments: String,
    },
    Usage(Usage),
    Sleep(Duration),
    Fail(ModelError),
    Finish,
    /// Finishes with the provider's stated reason (`length`: cut off).
    FinishWith(String),
}

#[derive(Clone, Default)]
pub struct FakeModel {
    scripts: Arc<Mutex<VecDeque<Vec<Step>>>>,
    requests: Arc<Mutex<Vec<ModelRequest>>>,
}

impl FakeModel {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues the script for the next request.
    pub fn push(&self, steps: Vec<Step>) {
        if let Ok(mut s) = self.scripts.lock() {
            s.push_back(steps);
        }
    }

    /// Queues an answer streamed as the given pieces, then finished.
    pub fn push_text(&self, pieces: &[&str]) {
        let mut steps: Vec<Step> = pieces.iter().map(|p| Step::Text((*p).into())).collect();
        steps.push(Step::Finish);
        self.push(steps);
    }

    /// Every request seen so far.
    pub fn requests(&self) -> Vec<ModelRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl ModelClient for FakeModel {
    fn stream(&self, request: ModelRequest) -> EventStream {
        if let Ok(mut r) = self.requests.lock() {
            r.push(request);
        }
        let script = self
            .scripts
            .lock()
            .ok()
            .and_then(|mut s| s.pop_front())
            .unwrap_or_else(|| {
                vec![Step::Fail(ModelError::Provider {
                    detail: "the fake model has no script for this request".into(),
                })]
            });
        Box::pin(async_stream::stream! {
            for step in script {
                match step {
                    Step::Text(t) => yield Ok(ModelEvent::TextDelta(t)),
                    Step::Reason(t) => yield Ok(ModelEvent::ReasoningDelta(t)),
                    Step::ToolCall { id, name, arguments } => {
                        yield Ok(ModelEvent::ToolCallStart { id: id.clone(), name, kind: crate::ToolKind::Function });
                        yield Ok(ModelEvent::ToolCallDelta { id, arguments });
                    }
                    Step::Usage(u) => yield Ok(ModelEvent::Usage(u)),
                    Step::Sleep(d) => tokio::time::sleep(d).await,
                    Step::Fail(e) => { yield Err(e); return; }
                    Step::Finish => { yield Ok(ModelEvent::Finished { reason: Some("stop".into()) }); return; }
                    Step::FinishWith(r) => { yield Ok(ModelEvent::Finished { reason: Some(r) }); return; }
                }
            }
        })
    }
}
