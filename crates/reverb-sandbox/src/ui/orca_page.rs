//! The fake Orca's browser page (a Deck stand-in): `GET /` lists executions, starts the sample
//! pipeline (`POST /_sandbox/pipelines`) and judges from "Deck"
//! (`POST /_sandbox/pipelines/{id}/judge`). It polls `GET /_sandbox/ui/view`
//! (`{"executions":"<html>","activity":"<html>","reverbUrl":…}`) every second.

use actix_web::http::header::{CACHE_CONTROL, ContentType};
use actix_web::{HttpResponse, web};
use serde_json::json;

use super::html::escape;
use super::orca_view::{activity, executions};
use super::page::{COMMON_CSS, COMMON_JS, fill};
use crate::orca::OrcaState;

const SHELL: &str = include_str!("assets/orca.html");
const CSS: &str = include_str!("assets/orca.css");
const JS: &str = include_str!("assets/orca.js");

/// Registered before Orca's `/_sandbox` scope and its 404 fallback; never "down" or delayed.
pub(crate) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/", web::get().to(index))
        .route("/_sandbox/ui/view", web::get().to(view));
}

fn executions_html(state: &OrcaState) -> String {
    executions(&state.executions(), state.role_members())
}

fn activity_html(state: &OrcaState) -> String {
    activity(&state.deliveries(), &state.patches())
}

fn reverb_url_html(state: &OrcaState) -> String {
    state.reverb_url().map_or_else(
        || "nowhere (no Reverb URL set)".to_owned(),
        |url| escape(&url),
    )
}

/// The whole page as it stands now.
pub(crate) fn render_page(state: &OrcaState) -> String {
    fill(
        SHELL,
        &[
            ("REVERB_URL", &reverb_url_html(state)),
            ("EXECUTIONS", &executions_html(state)),
            ("ACTIVITY", &activity_html(state)),
            ("COMMON_CSS", COMMON_CSS),
            ("CSS", CSS),
            ("COMMON_JS", COMMON_JS),
            ("JS", JS),
        ],
    )
}

async fn index(state: web::Data<OrcaState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(render_page(&state))
}

async fn view(state: web::Data<OrcaState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(json!({
            "executions": executions_html(&state),
            "activity": activity_html(&state),
            "reverbUrl": state.reverb_url(),
        }))
}
