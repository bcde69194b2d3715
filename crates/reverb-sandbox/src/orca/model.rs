//! What the fake Orca records: PATCHes received and what it sent to Reverb.

use std::time::SystemTime;

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::ids::epoch_ms;

/// A manual judgment decision, as Deck PATCHes it (`judgmentStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Judgment {
    Continue,
    Stop,
}

impl Judgment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Continue => "continue",
            Self::Stop => "stop",
        }
    }

    /// Orca reads `judgmentStatus` case-insensitively.
    pub fn parse(text: &str) -> Option<Self> {
        if text.eq_ignore_ascii_case("continue") {
            Some(Self::Continue)
        } else if text.eq_ignore_ascii_case("stop") {
            Some(Self::Stop)
        } else {
            None
        }
    }
}

/// One `PATCH /pipelines/{id}/stages/{stageId}` (or a judgment made "in Deck" via the sandbox).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrcaPatch {
    pub execution_id: String,
    pub stage_id: String,
    pub body: Value,
    /// `X-SPINNAKER-USER`, if sent.
    pub user: Option<String>,
    /// `X-SPINNAKER-ACCOUNTS`, if sent, as received (Orca splits it on `,` into
    /// `stage.lastModified.allowedAccounts`).
    pub accounts: Option<String>,
    /// Every header: lower-case names, values of one name in the order received.
    pub headers: Vec<(String, String)>,
    /// The status answered (200 also for an unknown stage, with an empty body; 403 when Fiat
    /// refused the user).
    pub status: u16,
    /// True when made through the sandbox's "Deck" endpoint or [`super::FakeOrca::judge`].
    pub via_deck: bool,
    #[serde(rename = "receivedAtMs", serialize_with = "serialize_epoch_ms")]
    pub received_at: SystemTime,
}

impl OrcaPatch {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// One request to Orca's own endpoints (the `/_sandbox/` controls are not recorded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrcaRequest {
    pub method: String,
    pub path: String,
}

/// What Orca posted to Reverb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryKind {
    /// `POST /` with `{details, content}`.
    Event,
    /// `POST /notifications` (manual judgment).
    Notification,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrcaDelivery {
    pub kind: DeliveryKind,
    pub url: String,
    /// `details.type` of an event (`orca:stage:starting`) or a notification's `templateGroup`.
    pub label: String,
    pub body: Value,
    /// Reverb's status, or `None` when the request failed (`error` says why).
    pub status: Option<u16>,
    pub error: Option<String>,
    #[serde(rename = "sentAtMs", serialize_with = "serialize_epoch_ms")]
    pub sent_at: SystemTime,
}

fn serialize_epoch_ms<S: Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_i64(epoch_ms(*time))
}
