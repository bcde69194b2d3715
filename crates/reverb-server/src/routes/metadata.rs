//! `GET /notifications/metadata`: Echo lists plugin notification types here; Reverb has none,
//! so the answer is Echo's with no plugins, `[]`.

use actix_web::HttpResponse;

pub async fn metadata() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body("[]")
}
