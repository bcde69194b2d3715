//! A cheap first look at an event body: only what decides whether Echo's rules can produce a
//! Slack message. Most of Orca's events carry a large execution and no Slack notification;
//! skipping over the execution (instead of building a JSON tree of it) is what keeps event
//! intake fast.

use serde::Deserialize;

use reverb_model::{EventKind, OrcaEventType};

/// The few fields of an event that matter before planning. Unknown keys (the execution's
/// stages, trigger, context...) are skipped by serde without being stored.
#[derive(Debug, Deserialize)]
pub struct EventProbe {
    #[serde(default)]
    details: Option<ProbeDetails>,
    #[serde(default)]
    content: Option<ProbeContent>,
}

#[derive(Debug, Default, Deserialize)]
struct ProbeDetails {
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ProbeContent {
    #[serde(default)]
    execution: Option<ProbeNotifications>,
    #[serde(default)]
    context: Option<ProbeNotifications>,
}

#[derive(Debug, Default, Deserialize)]
struct ProbeNotifications {
    #[serde(default)]
    notifications: Option<Vec<ProbeNotification>>,
}

#[derive(Debug, Default, Deserialize)]
struct ProbeNotification {
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

impl EventProbe {
    /// `Err` when the body is not JSON of an event's shape; the caller then parses it fully
    /// (which gives the precise 400, or accepts shapes this probe is too strict for).
    pub fn parse(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// `details.type`, e.g. `orca:pipeline:complete`.
    pub fn details_type(&self) -> Option<&str> {
        self.details.as_ref()?.kind.as_deref()
    }

    /// False only when Echo's rules certainly produce nothing: not an `orca:` event, a task
    /// event, or no `slack` entry among the notifications that event kind reads.
    pub fn may_notify(&self) -> bool {
        let Some(event_type) = self.details_type().and_then(OrcaEventType::parse) else {
            return false;
        };
        let content = self.content.as_ref();
        let candidates = match event_type.kind {
            EventKind::Task => return false,
            EventKind::Pipeline | EventKind::Orchestration => {
                content.and_then(|c| c.execution.as_ref())
            }
            EventKind::Stage => content.and_then(|c| c.context.as_ref()),
        };
        candidates
            .and_then(|n| n.notifications.as_ref())
            .is_some_and(|list| list.iter().any(|n| n.kind.as_deref() == Some("slack")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn may_notify(body: &str) -> bool {
        EventProbe::parse(body.as_bytes()).unwrap().may_notify()
    }

    #[test]
    fn only_events_with_slack_candidates_need_planning() {
        assert!(may_notify(
            r#"{"details":{"type":"orca:pipeline:complete","application":"a"},
                "content":{"execution":{"id":"1","stages":[{"big":[1,2,3]}],"notifications":[{"type":"email"},{"type":"slack","when":["pipeline.complete"]}]}}}"#
        ));
        assert!(!may_notify(
            r#"{"details":{"type":"orca:pipeline:complete"},"content":{"execution":{"notifications":[{"type":"email"}]}}}"#
        ));
        assert!(!may_notify(
            r#"{"details":{"type":"orca:pipeline:complete"},"content":{"execution":{}}}"#
        ));
        assert!(may_notify(
            r#"{"details":{"type":"orca:stage:complete"},"content":{"context":{"notifications":[{"type":"slack"}]},"execution":{"notifications":[]}}}"#
        ));
        // A stage reads the stage's notifications, not the pipeline's.
        assert!(!may_notify(
            r#"{"details":{"type":"orca:stage:complete"},"content":{"execution":{"notifications":[{"type":"slack"}]}}}"#
        ));
        assert!(!may_notify(
            r#"{"details":{"type":"orca:task:complete"},"content":{"context":{"notifications":[{"type":"slack"}]}}}"#
        ));
        assert!(!may_notify(
            r#"{"details":{"type":"igor:build"},"content":{}}"#
        ));
        assert!(!may_notify(r#"{"details":null,"content":null}"#));
    }

    #[test]
    fn malformed_or_oddly_shaped_bodies_are_left_to_the_full_parser() {
        assert!(EventProbe::parse(b"{").is_err());
        assert!(EventProbe::parse(br#"{"content":{"execution":"not an object"}}"#).is_err());
    }
}
