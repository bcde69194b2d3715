//! What a judgment ended as, and the seam through which the server renders it (the templates
//! live in another crate, which this one does not depend on).

use reverb_model::SlackMessage;
use serde::{Deserialize, Serialize};

/// A manual-judgment decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Continue,
    Stop,
    /// The stage ended (or was never a judgment) without a decision.
    None,
}

impl From<reverb_model::judgment::Decision> for Decision {
    fn from(decision: reverb_model::judgment::Decision) -> Self {
        match decision {
            reverb_model::judgment::Decision::Continue => Self::Continue,
            reverb_model::judgment::Decision::Stop => Self::Stop,
        }
    }
}

impl Decision {
    /// Orca's `judgmentStatus` value.
    pub fn orca_status(self) -> Option<&'static str> {
        match self {
            Self::Continue => Some("continue"),
            Self::Stop => Some("stop"),
            Self::None => None,
        }
    }

    /// Read Orca's `judgmentStatus` (case-insensitive, as Orca reads it).
    pub fn from_orca_status(status: &str) -> Option<Self> {
        match status.trim().to_ascii_lowercase().as_str() {
            "continue" => Some(Self::Continue),
            "stop" => Some(Self::Stop),
            _ => None,
        }
    }

    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Continue => "continue",
            Self::Stop => "stop",
            Self::None => "none",
        }
    }
}

/// A judgment that is settled, one way or another; what the updated message shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedJudgment {
    pub application: String,
    pub execution_id: String,
    pub stage_ref_id: String,
    pub stage_name: Option<String>,
    pub pipeline_name: Option<String>,
    pub decision: Decision,
    /// The Spinnaker identity the judgment is recorded under.
    pub judged_by: Option<String>,
    /// The Slack user who clicked, when the judgment was made from Slack through Reverb.
    pub slack_user_id: Option<String>,
    pub judgment_input: Option<String>,
    pub decided_at_epoch_secs: i64,
    /// Why the message reads as it does beyond the decision, e.g. "already judged by X".
    pub note: Option<String>,
    /// Deck's page of the execution, focused on the stage.
    pub execution_url: String,
}

/// Renders a settled judgment into the message that replaces the one with the buttons.
pub trait ResolutionRenderer: Send + Sync {
    fn render(&self, resolved: &ResolvedJudgment) -> SlackMessage;
}

impl<F> ResolutionRenderer for F
where
    F: Fn(&ResolvedJudgment) -> SlackMessage + Send + Sync,
{
    fn render(&self, resolved: &ResolvedJudgment) -> SlackMessage {
        self(resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_read_orca_case_insensitively() {
        assert_eq!(
            Decision::from_orca_status("Continue"),
            Some(Decision::Continue)
        );
        assert_eq!(Decision::from_orca_status("STOP"), Some(Decision::Stop));
        assert_eq!(Decision::from_orca_status(""), None);
        assert_eq!(Decision::Continue.orca_status(), Some("continue"));
        assert_eq!(Decision::None.orca_status(), None);
    }

    #[test]
    fn resolved_judgments_round_trip_through_the_store_format() {
        let r = ResolvedJudgment {
            application: "myapp".into(),
            execution_id: "E".into(),
            stage_ref_id: "1".into(),
            stage_name: Some("Approve production".into()),
            pipeline_name: Some("deploy-prod".into()),
            decision: Decision::Stop,
            judged_by: Some("jane@example.com".into()),
            slack_user_id: Some("U1".into()),
            judgment_input: None,
            decided_at_epoch_secs: 1_712_570_500,
            note: None,
            execution_url: "http://deck/#/applications/myapp/executions/details/E?refId=1".into(),
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains(r#""decision":"stop""#), "{text}");
        assert_eq!(serde_json::from_str::<ResolvedJudgment>(&text).unwrap(), r);
    }
}
