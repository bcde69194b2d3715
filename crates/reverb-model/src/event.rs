//! Echo's `Event` and `Metadata` (what `POST /` receives).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An event as Orca, Gate or Igor posts it to `POST /`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(default, deserialize_with = "null_as_default")]
    pub details: Metadata,
    #[serde(default, deserialize_with = "null_as_default")]
    pub content: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

/// `Event.details`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub created: Option<Value>,
    #[serde(default)]
    pub application: Option<String>,
    #[serde(default)]
    pub organization: Option<String>,
    #[serde(default)]
    pub project: Option<String>,
}

/// The execution kinds Echo's notification agents understand in `orca:<kind>:<status>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Pipeline,
    Orchestration,
    Stage,
    Task,
}

impl EventKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pipeline" => Some(Self::Pipeline),
            "orchestration" => Some(Self::Orchestration),
            "stage" => Some(Self::Stage),
            "task" => Some(Self::Task),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pipeline => "pipeline",
            Self::Orchestration => "orchestration",
            Self::Stage => "stage",
            Self::Task => "task",
        }
    }
}

/// `details.type` split as Echo splits it: `orca:<kind>:<status>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrcaEventType {
    pub kind: EventKind,
    pub status: String,
}

impl OrcaEventType {
    /// `None` for anything that is not an `orca:` event of a known kind.
    pub fn parse(details_type: &str) -> Option<Self> {
        let mut parts = details_type.split(':');
        if parts.next()? != "orca" {
            return None;
        }
        let kind = EventKind::parse(parts.next()?)?;
        let status = parts.next()?.to_string();
        Some(Self { kind, status })
    }
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_orca_types() {
        let t = OrcaEventType::parse("orca:stage:failed").unwrap();
        assert_eq!(t.kind, EventKind::Stage);
        assert_eq!(t.status, "failed");
        assert!(OrcaEventType::parse("igor:build:complete").is_none());
        assert!(OrcaEventType::parse("orca:unknown:complete").is_none());
        assert!(OrcaEventType::parse("orca:pipeline").is_none());
    }

    #[test]
    fn tolerates_nulls_and_unknown_fields() {
        let e: Event = serde_json::from_str(
            r#"{"details":{"type":"orca:pipeline:complete","extra":1},"content":null,"whatever":[1]}"#,
        )
        .unwrap();
        assert_eq!(e.details.kind.as_deref(), Some("orca:pipeline:complete"));
        assert!(e.content.is_empty());
        let null_details: Event = serde_json::from_str(r#"{"details":null,"content":{}}"#).unwrap();
        assert!(null_details.details.kind.is_none());
    }
}
