//! The models a turn can use: a client with the names it is recorded under, for the
//! fast and the deep slot.

use std::sync::Arc;

use flint_model::{ModelClient, ModelError, ModelRequest};

/// A model ready to answer: the client, and the names it is recorded under.
#[derive(Clone)]
pub struct SlotClient {
    pub client: Arc<dyn ModelClient>,
    pub provider: String,
    pub model: String,
    /// The model's context window, where known (for the budget and the meter).
    pub window: Option<u32>,
}

impl SlotClient {
    pub fn new(client: Arc<dyn ModelClient>, provider: &str, model: &str) -> Self {
        Self {
            client,
            provider: provider.to_string(),
            model: model.to_string(),
            window: flint_model::preset::context_window(model),
        }
    }

    pub fn with_window(mut self, window: Option<u32>) -> Self {
        self.window = window;
        self
    }

    /// A slot with no model behind it, for showing what a turn would send before any
    /// model is set up (`flint context`), counted against `window`. Requests fail.
    pub fn unconnected(window: u32) -> Self {
        Self {
            client: Arc::new(Unconnected),
            provider: String::new(),
            model: String::new(),
            window: Some(window),
        }
    }
}

/// The client of [`SlotClient::unconnected`].
struct Unconnected;

impl ModelClient for Unconnected {
    fn stream(&self, _: ModelRequest) -> flint_model::EventStream {
        Box::pin(futures_util::stream::once(async {
            Err(ModelError::Provider {
                detail: "no model is set up".into(),
            })
        }))
    }
}

#[derive(Clone, Default)]
pub(crate) struct Models {
    pub fast: Option<SlotClient>,
    pub deep: Option<SlotClient>,
}
