//! Bridges the click handler to the templates: a settled judgment rendered with the same
//! templates as every other message.

use std::sync::Arc;

use reverb_callbacks::{Decision as ClickDecision, ResolutionRenderer, ResolvedJudgment};
use reverb_model::SlackMessage;
use reverb_notify::{Decision, JudgmentResolution, render_judgment_resolution};
use reverb_templates::TemplateEngine;

pub fn judgment_renderer(templates: Arc<TemplateEngine>) -> Arc<dyn ResolutionRenderer> {
    Arc::new(move |r: &ResolvedJudgment| -> SlackMessage {
        let resolution = JudgmentResolution {
            application: r.application.clone(),
            execution_id: r.execution_id.clone(),
            stage_ref_id: r.stage_ref_id.clone(),
            stage_name: r
                .stage_name
                .clone()
                .unwrap_or_else(|| "Manual Judgment".into()),
            pipeline_name: r.pipeline_name.clone(),
            link: r.execution_url.clone(),
            decision: match r.decision {
                ClickDecision::Continue => Some(Decision::Continue),
                ClickDecision::Stop => Some(Decision::Stop),
                ClickDecision::None => None,
            },
            judged_by: r.judged_by.clone(),
            slack_user_id: r.slack_user_id.clone(),
            judgment_input: r.judgment_input.clone(),
            decided_at: r.decided_at_epoch_secs,
            note: r.note.clone(),
        };
        render_judgment_resolution(&resolution, &templates)
    })
}
