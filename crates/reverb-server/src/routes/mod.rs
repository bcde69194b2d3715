//! The route table ([`configure`]) and one module per endpoint family.

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use reverb_echo::{EchoPassthrough, proxy_to_echo};
use reverb_http::body::BodyLimits;

use crate::http::errors::ApiError;
use crate::http::metrics::HttpMetrics;
use crate::state::AppState;

pub mod callbacks;
pub mod events;
pub mod health;
pub mod metadata;
pub mod metrics;
pub mod notifications;

/// What the routes of every worker share (each a `web::Data`: cloning shares it).
#[derive(Clone)]
pub struct Shared {
    pub state: web::Data<AppState>,
    pub http_metrics: web::Data<HttpMetrics>,
    pub body_limits: web::Data<BodyLimits>,
    /// The Echo behind Reverb, when there is one.
    pub echo: Option<web::Data<EchoPassthrough>>,
}

/// Reverb's routes, and everything else to the Echo behind Reverb when there is one (else a
/// Spinnaker-shaped 404).
pub fn configure(cfg: &mut web::ServiceConfig, shared: &Shared) {
    cfg.app_data(shared.state.clone())
        .app_data(shared.http_metrics.clone())
        .app_data(shared.body_limits.clone())
        .route("/health", web::get().to(health::health))
        .route("/health", web::head().to(health::health_head))
        .route("/metrics", web::get().to(metrics::metrics))
        .route("/", web::post().to(events::receive_event))
        .route(
            "/notifications",
            web::post().to(notifications::create_notification),
        )
        .route("/notifications/metadata", web::get().to(metadata::metadata))
        .route(
            "/notifications/callbacks/{source}",
            web::post().to(callbacks::slack_callback),
        );
    match &shared.echo {
        Some(echo) => cfg
            .app_data(echo.clone())
            .default_service(web::to(proxy_to_echo)),
        None => cfg.default_service(web::to(fallback)),
    };
}

/// Unknown routes: 404 in Spinnaker's shape; CORS preflights for any path get a 200.
async fn fallback(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if req.method() == Method::OPTIONS {
        return Ok(HttpResponse::Ok().finish());
    }
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        format!("No handler for {} {}", req.method(), req.path()),
    ))
}
