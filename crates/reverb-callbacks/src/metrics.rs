//! `reverb_judgments_total{decision,outcome}`: one count per click on a judgment button.

use prometheus::{IntCounterVec, Opts, Registry};

use crate::handler::ClickOutcome;
use crate::resolution::Decision;

#[derive(Clone)]
pub(crate) struct JudgmentMetrics {
    judgments: IntCounterVec,
}

impl JudgmentMetrics {
    pub(crate) fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let judgments = IntCounterVec::new(
            Opts::new(
                "reverb_judgments_total",
                "Clicks on manual-judgment buttons, by decision and by how they ended.",
            ),
            &["decision", "outcome"],
        )?;
        registry.register(Box::new(judgments.clone()))?;
        Ok(Self { judgments })
    }

    pub(crate) fn count(&self, decision: Decision, outcome: ClickOutcome) {
        if let Some(label) = outcome.judgment_label() {
            self.judgments
                .with_label_values(&[decision.as_str(), label])
                .inc();
        }
    }
}
