//! What a turn's model may call. The engine offers the tools of its runner with every
//! request and runs the calls the model makes between requests; with no runner (today's
//! default) the model is offered nothing and a turn makes one request.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use flint_model::{ToolCall, ToolSpec};

/// What running one call gave back, for the model to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    pub output: String,
    /// The call failed (a bad argument, a refused path): the model is told so.
    pub is_error: bool,
}

impl ToolOutput {
    /// A result the model reads as done.
    pub fn ok(output: impl Into<String>) -> Self {
        Self {
            output: output.into(),
            is_error: false,
        }
    }

    /// A failed call (a bad argument, a refused path, a denial): the model is told so.
    pub fn error(output: impl Into<String>) -> Self {
        Self {
            output: output.into(),
            is_error: true,
        }
    }
}

/// Runs the tools a model calls. Implementations bound their own time and output.
pub trait ToolRunner: Send + Sync {
    /// The tools offered to the model, the same for every request of a turn (so the
    /// request prefix stays byte-stable and providers' prompt caches hit).
    fn specs(&self) -> Vec<ToolSpec>;
    /// Runs one call in the project at `root`.
    fn run<'a>(
        &'a self,
        root: &'a std::path::Path,
        call: &'a ToolCall,
    ) -> BoxFuture<'a, ToolOutput>;
}

pub(crate) type Runner = Arc<dyn ToolRunner>;
