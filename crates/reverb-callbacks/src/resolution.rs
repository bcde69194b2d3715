//! What a judgment ended as, and the seam through which the server renders it (the templates
//! live in another crate, which this one does not depend on).

use reverb_model::SlackMessage;

/// The decision and the settled judgment are the judgment contract's own types.
pub use reverb_model::judgment::{Decision, ResolvedJudgment};

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
    fn resolved_judgments_round_trip_through_the_store_format() {
        let r = ResolvedJudgment {
            application: "myapp".into(),
            execution_id: "E".into(),
            stage_ref_id: "1".into(),
            stage_name: "Approve production".into(),
            pipeline_name: Some("deploy-prod".into()),
            link: "http://deck/#/applications/myapp/executions/details/E?refId=1".into(),
            decision: Some(Decision::Stop),
            judged_by: Some("jane@example.com".into()),
            slack_user_id: Some("U1".into()),
            judgment_input: None,
            decided_at: 1_712_570_500,
            note: None,
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains(r#""decision":"stop""#), "{text}");
        assert_eq!(serde_json::from_str::<ResolvedJudgment>(&text).unwrap(), r);
    }
}
