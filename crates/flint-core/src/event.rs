use serde::{Deserialize, Serialize};
use ts_rs::TS;

use flint_store::{Item, ItemStatus};

use crate::ErrorInfo;

/// What a running turn tells its front end, in order: `Started`, any number of `Delta`s
/// (each a frame's worth of text, never one per token), then `Finished`. `Error` ends a
/// turn that could not be run or recorded at all (the store failed); a model's failure
/// is a `Finished` with an error, the partial answer kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "camelCase")]
#[ts(export)]
pub enum TurnEvent {
    Started {
        user_item: Item,
        assistant_item: Item,
    },
    Delta {
        text: String,
    },
    Finished {
        #[ts(type = "number")]
        item_id: i64,
        status: ItemStatus,
        error: Option<ErrorInfo>,
        metrics: TurnMetrics,
    },
    Error {
        error: ErrorInfo,
    },
}

/// Measured on Flint's side of the wire.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TurnMetrics {
    /// From sending the request to the first text arriving.
    pub ttft_ms: Option<f64>,
    /// Output tokens per second after the first token (provider-reported count when
    /// known, else an estimate of 4 bytes a token).
    pub tokens_per_sec: Option<f64>,
    #[ts(type = "number | null")]
    pub input_tokens: Option<u64>,
    #[ts(type = "number | null")]
    pub output_tokens: Option<u64>,
}
