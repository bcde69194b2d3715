//! The passthrough's Prometheus series.

use prometheus::{IntCounterVec, IntGauge, Opts, Registry};

#[derive(Clone)]
pub(crate) struct EchoMetrics {
    forwards: IntCounterVec,
    pending: IntGauge,
    up: IntGauge,
}

impl EchoMetrics {
    /// Registered even when no Echo is configured, so dashboards and alerts see 0, not nothing.
    pub(crate) fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let forwards = IntCounterVec::new(
            Opts::new(
                "reverb_echo_forward_total",
                "Events forwarded to the Echo behind Reverb (reverb.echo.baseUrl), by outcome: \
                 forwarded (Echo answered 2xx), retried (Echo down, 408, 429 or a 5xx other than 501: \
                 tried again later), rejected (any other answer: dropped, retrying cannot help).",
            ),
            &["outcome"],
        )?;
        let pending = IntGauge::new(
            "reverb_echo_forward_pending",
            "Events stored and waiting to be forwarded to the Echo behind Reverb.",
        )?;
        let up = IntGauge::new(
            "reverb_echo_up",
            "1 when the last health check of the Echo behind Reverb answered UP, else 0.",
        )?;
        for outcome in ["forwarded", "retried", "rejected"] {
            forwards.with_label_values(&[outcome]);
        }
        registry.register(Box::new(forwards.clone()))?;
        registry.register(Box::new(pending.clone()))?;
        registry.register(Box::new(up.clone()))?;
        Ok(Self {
            forwards,
            pending,
            up,
        })
    }

    pub(crate) fn forwarded(&self) {
        self.forwards.with_label_values(&["forwarded"]).inc();
        self.pending_done();
    }

    pub(crate) fn rejected(&self) {
        self.forwards.with_label_values(&["rejected"]).inc();
        self.pending_done();
    }

    pub(crate) fn retried(&self) {
        self.forwards.with_label_values(&["retried"]).inc();
    }

    pub(crate) fn pending_added(&self) {
        self.pending.inc();
    }

    fn pending_done(&self) {
        if self.pending.get() > 0 {
            self.pending.dec();
        }
    }

    /// The store's count is the truth; the forwarder resynchronises with it on every batch.
    pub(crate) fn set_pending(&self, n: u64) {
        self.pending.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub(crate) fn pending(&self) -> i64 {
        self.pending.get()
    }

    pub(crate) fn set_up(&self, up: bool) {
        self.up.set(i64::from(up));
    }

    #[cfg(test)]
    pub(crate) fn count(&self, outcome: &str) -> u64 {
        self.forwards.with_label_values(&[outcome]).get()
    }
}
