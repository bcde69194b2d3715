//! Delivery metrics, registered in the server's Prometheus registry.

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

#[derive(Clone)]
pub struct DeliveryMetrics {
    pub accepted: IntCounterVec,
    pub delivered: IntCounterVec,
    pub retried: IntCounterVec,
    pub dead_lettered: IntCounterVec,
    pub api_calls: IntCounterVec,
    pub api_latency: HistogramVec,
    pub rate_limited: IntCounterVec,
    pub pending: IntGauge,
    pub oldest_age: IntGauge,
    pub dead_letters: IntGauge,
    /// `response_url` replies dropped because Slack no longer accepts the URL (30 minutes).
    pub response_url_expired: IntCounter,
    /// Store calls of the delivery path that failed (each is retried, none loses a message).
    pub store_errors: IntCounterVec,
    /// Lane tasks that ended in a panic (the lane is freed and restarted).
    pub lane_panics: IntCounter,
    /// Store transactions of the intake (group commit): several requests may share one, so
    /// `reverb_notifications_accepted_total` over this is the messages per commit.
    pub intake_commits: IntCounter,
}

impl DeliveryMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let plain_counter = |name: &str, help: &str| -> Result<IntCounter, prometheus::Error> {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let gauge = |name: &str, help: &str| -> Result<IntGauge, prometheus::Error> {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let api_latency = HistogramVec::new(
            HistogramOpts::new(
                "reverb_slack_api_call_duration_seconds",
                "Latency of Slack Web API calls.",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["method"],
        )?;
        registry.register(Box::new(api_latency.clone()))?;
        Ok(Self {
            accepted: counter(
                "reverb_notifications_accepted_total",
                "Slack messages accepted into the outbox.",
                &["kind"],
            )?,
            delivered: counter(
                "reverb_notifications_delivered_total",
                "Slack messages Slack confirmed.",
                &["kind"],
            )?,
            retried: counter(
                "reverb_notifications_retried_total",
                "Delivery attempts that failed and were scheduled again.",
                &["kind"],
            )?,
            dead_lettered: counter(
                "reverb_notifications_dead_lettered_total",
                "Messages given up on (permanent Slack error or too old).",
                &["kind"],
            )?,
            api_calls: counter(
                "reverb_slack_api_calls_total",
                "Slack Web API calls by method and outcome.",
                &["method", "outcome"],
            )?,
            api_latency,
            rate_limited: counter(
                "reverb_slack_rate_limited_total",
                "HTTP 429 answers received from Slack.",
                &["method"],
            )?,
            pending: gauge(
                "reverb_outbox_pending_messages",
                "Messages waiting in the outbox.",
            )?,
            oldest_age: gauge(
                "reverb_outbox_oldest_pending_age_seconds",
                "Age of the oldest message waiting in the outbox.",
            )?,
            dead_letters: gauge(
                "reverb_outbox_dead_letters",
                "Dead letters kept in the outbox.",
            )?,
            response_url_expired: plain_counter(
                "reverb_response_url_expired_total",
                "response_url replies dropped because the URL had expired (Slack accepts one for 30 minutes).",
            )?,
            store_errors: counter(
                "reverb_delivery_store_errors_total",
                "Store calls of the delivery engine that failed and were retried, by operation.",
                &["op"],
            )?,
            lane_panics: plain_counter(
                "reverb_delivery_lane_panics_total",
                "Delivery lane tasks that panicked; the lane is freed and restarted.",
            )?,
            intake_commits: plain_counter(
                "reverb_outbox_intake_commits_total",
                "Store transactions that accepted messages into the outbox; concurrent requests share one (group commit).",
            )?,
        })
    }
}
