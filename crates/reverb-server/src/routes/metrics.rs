//! `GET /metrics`: Prometheus text exposition.

use actix_web::{HttpResponse, web};
use prometheus::{Encoder, TextEncoder};

use crate::state::AppState;

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    if let Some(engine) = &state.delivery {
        engine.refresh_gauges().await;
    }
    let encoder = TextEncoder::new();
    let mut out = Vec::new();
    if let Err(e) = encoder.encode(&state.registry.gather(), &mut out) {
        tracing::error!(error = %e, "metrics encoding failed");
        return HttpResponse::InternalServerError().finish();
    }
    HttpResponse::Ok()
        .content_type(encoder.format_type())
        .body(out)
}
