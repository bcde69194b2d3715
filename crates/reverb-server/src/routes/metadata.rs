//! `GET /notifications/metadata`: Echo lists plugin notification types here; Reverb has none,
//! so the answer is Echo's with no plugins, `[]`, or the answer of the Echo behind Reverb.

use actix_web::{HttpResponse, web};

use crate::state::AppState;

pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    match &state.echo {
        Some(echo) => echo.metadata().await,
        None => HttpResponse::Ok()
            .content_type("application/json")
            .body("[]"),
    }
}
