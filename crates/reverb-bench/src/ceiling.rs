//! The ceiling for the events benchmark: actix-web with the same runtime set-up as Reverb, and a
//! `POST /` that only reads the body and answers 200. No middleware, no parsing, no store.

use std::net::TcpListener;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;

/// Same body limit as Reverb's default, so a large event is read in full in both.
const BODY_LIMIT: usize = 32 * 1024 * 1024;

async fn read_body_only(body: web::Bytes) -> HttpResponse {
    // The body is read (the extractor buffers all of it); its content is not looked at.
    drop(body);
    HttpResponse::Ok().finish()
}

/// Serves until killed. Like `reverb serve`: a multi-threaded tokio runtime drives actix, which
/// starts its default number of workers (one per core).
pub fn serve(port: u16) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the runtime")?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .with_context(|| format!("binding 127.0.0.1:{port}"))?;
        HttpServer::new(|| {
            App::new()
                .app_data(web::PayloadConfig::new(BODY_LIMIT))
                .route("/", web::post().to(read_body_only))
        })
        .listen(listener)?
        .run()
        .await
        .context("serving")
    })
}
