//! Bridges the click handler to the templates: a settled judgment rendered with the same
//! templates as every other message.

use std::sync::Arc;

use reverb_callbacks::{ResolutionRenderer, ResolvedJudgment};
use reverb_notify::render_judgment_resolution;
use reverb_templates::TemplateEngine;

pub fn judgment_renderer(templates: Arc<TemplateEngine>) -> Arc<dyn ResolutionRenderer> {
    Arc::new(move |r: &ResolvedJudgment| render_judgment_resolution(r, &templates))
}
