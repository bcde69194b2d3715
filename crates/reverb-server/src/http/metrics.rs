//! Request metrics, recorded by a middleware with the matched route pattern (never the raw
//! path, so label cardinality stays bounded).

use std::time::Instant;

use tracing::Instrument;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};

#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    pub events: IntCounterVec,
    pub callbacks: IntCounterVec,
}

impl HttpMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new("reverb_http_requests_total", "HTTP requests served."),
            &["method", "route", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "reverb_http_request_duration_seconds",
                "HTTP request latency.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["route"],
        )?;
        let events = IntCounterVec::new(
            Opts::new(
                "reverb_events_received_total",
                "Events received on POST /, by Orca kind.",
            ),
            &["type"],
        )?;
        let callbacks = IntCounterVec::new(
            Opts::new(
                "reverb_callbacks_total",
                "Slack interactivity callbacks, by outcome.",
            ),
            &["outcome"],
        )?;
        let build_info = IntGauge::with_opts(
            Opts::new("reverb_build_info", "Reverb's version; always 1.")
                .const_label("version", env!("CARGO_PKG_VERSION")),
        )?;
        build_info.set(1);
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(events.clone()))?;
        registry.register(Box::new(callbacks.clone()))?;
        registry.register(Box::new(build_info))?;
        Ok(Self {
            requests,
            duration,
            events,
            callbacks,
        })
    }
}

/// One span per request (method, path; status recorded at the end) and the request metrics.
/// Kept deliberately light: it runs on every event Orca posts.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<HttpMetrics>>().cloned();
    let method = req.method().to_string();
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.path(),
        status = tracing::field::Empty
    );
    let res = next.call(req).instrument(span.clone()).await?;
    span.record("status", res.status().as_u16());
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    if res.status().is_server_error() {
        tracing::warn!(parent: &span, elapsed_ms, "request failed");
    } else {
        // An access log at debug level: free when disabled, on the hot path of every event.
        tracing::debug!(parent: &span, elapsed_ms, "request served");
    }
    if let Some(m) = metrics {
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_string());
        let status = res.status().as_u16().to_string();
        m.requests
            .with_label_values(&[&method, &route, &status])
            .inc();
        m.duration
            .with_label_values(&[&route])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(res)
}
