//! The fake Slack's browser page: `GET /` (the approvals channel), `GET /channels/{id or name}`,
//! and `GET /_sandbox/ui/view?channel=…&as=…`, the JSON the page polls every second
//! (`{"channel":{…},"viewer":"U…","sidebar":"<html>","messages":"<html>","count":N}`).
//! Clicks go through the control API's `POST /_sandbox/click`, which signs them as Slack does.

use actix_web::http::header::{CACHE_CONTROL, ContentType};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::directory::Directory;
use super::html::escape;
use super::page::{COMMON_CSS, COMMON_JS, fill};
use super::slack_view::{ChannelView, channel_label, sidebar, timeline};
use crate::slack::{SlackChannel, SlackState, SlackStoredMessage};

const SHELL: &str = include_str!("assets/slack.html");
const CSS: &str = include_str!("assets/slack.css");
const JS: &str = include_str!("assets/slack.js");
/// Where manual judgments land in the sample pipeline: the page opens there.
const DEFAULT_CHANNEL: &str = "C0DEPLOY01";

/// Registered before the control API's `/_sandbox` scope, which would otherwise answer 404.
pub(crate) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/", web::get().to(index))
        .route("/channels/{channel}", web::get().to(channel_page))
        .route("/_sandbox/ui/view", web::get().to(view));
}

#[derive(Debug, Default, Deserialize)]
struct ViewQuery {
    channel: Option<String>,
    #[serde(rename = "as")]
    viewer: Option<String>,
}

/// One consistent read of what a channel page shows.
struct Snapshot {
    directory: Directory,
    channel: SlackChannel,
    messages: Vec<SlackStoredMessage>,
    ephemerals: Vec<SlackStoredMessage>,
    counts: Vec<(SlackChannel, usize)>,
}

impl Snapshot {
    fn take(state: &SlackState, reference: &str) -> Option<Self> {
        let channel = state.channel(reference)?;
        let directory = Directory::of(state);
        let counts = directory
            .channels()
            .iter()
            .map(|channel| (channel.clone(), state.messages(&channel.id).len()))
            .collect();
        Some(Self {
            messages: state.messages(&channel.id),
            ephemerals: state.ephemerals(&channel.id),
            channel,
            directory,
            counts,
        })
    }
}

/// The HTML parts of a channel page as seen by one user.
pub(crate) struct Parts {
    pub(crate) label: String,
    pub(crate) viewer_id: String,
    pub(crate) sidebar: String,
    pub(crate) messages: String,
    pub(crate) count: usize,
}

fn parts(snapshot: &Snapshot, viewer: Option<&str>) -> Parts {
    let label = channel_label(&snapshot.channel, &snapshot.directory);
    let sidebar_html = sidebar(&snapshot.directory, &snapshot.counts, &snapshot.channel.id);
    match snapshot.directory.viewer(viewer) {
        Some(viewer) => Parts {
            label,
            viewer_id: viewer.id.clone(),
            sidebar: sidebar_html,
            messages: timeline(&ChannelView {
                channel: &snapshot.channel,
                messages: &snapshot.messages,
                ephemerals: &snapshot.ephemerals,
                viewer,
                directory: &snapshot.directory,
            }),
            count: snapshot.messages.len(),
        },
        None => Parts {
            label,
            viewer_id: String::new(),
            sidebar: sidebar_html,
            messages: r#"<div class="empty">The workspace has no users to view it as.</div>"#
                .to_owned(),
            count: snapshot.messages.len(),
        },
    }
}

/// A channel page for `reference` (id or name) as seen by `viewer`; `None` for an unknown channel.
pub(crate) fn render_page(
    state: &SlackState,
    reference: &str,
    viewer: Option<&str>,
) -> Option<String> {
    let snapshot = Snapshot::take(state, reference)?;
    let parts = parts(&snapshot, viewer);
    let user_options: String = snapshot
        .directory
        .people()
        .map(|user| {
            let selected = if user.id == parts.viewer_id {
                " selected"
            } else {
                ""
            };
            format!(
                r#"<option value="{}"{selected}>{} ({})</option>"#,
                escape(&user.id),
                escape(&user.name),
                escape(&user.real_name)
            )
        })
        .collect();
    let interactivity = state.interactivity_url().map_or_else(
        || "not set: clicks go nowhere".to_owned(),
        |url| escape(&url),
    );
    let title = escape(&parts.label);
    let channel_id = escape(&snapshot.channel.id);
    let count = parts.count.to_string();
    Some(fill(
        SHELL,
        &[
            ("TITLE", &title),
            ("CHANNEL_ID", &channel_id),
            ("VIEWER_ID", &escape(&parts.viewer_id)),
            ("USER_OPTIONS", &user_options),
            ("SIDEBAR", &parts.sidebar),
            ("MESSAGES", &parts.messages),
            ("COUNT", &count),
            ("INTERACTIVITY", &interactivity),
            ("COMMON_CSS", COMMON_CSS),
            ("CSS", CSS),
            ("COMMON_JS", COMMON_JS),
            ("JS", JS),
        ],
    ))
}

fn html_response(status: actix_web::http::StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(ContentType::html())
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(body)
}

async fn index(state: web::Data<SlackState>, query: web::Query<ViewQuery>) -> HttpResponse {
    let reference = query.channel.as_deref().unwrap_or(DEFAULT_CHANNEL);
    let fallback = state.channels().first().map(|channel| channel.id.clone());
    let page = render_page(&state, reference, query.viewer.as_deref())
        .or_else(|| fallback.and_then(|id| render_page(&state, &id, query.viewer.as_deref())));
    match page {
        Some(page) => html_response(actix_web::http::StatusCode::OK, page),
        None => not_found(reference),
    }
}

async fn channel_page(
    state: web::Data<SlackState>,
    path: web::Path<String>,
    query: web::Query<ViewQuery>,
) -> HttpResponse {
    let reference = path.into_inner();
    match render_page(&state, &reference, query.viewer.as_deref()) {
        Some(page) => html_response(actix_web::http::StatusCode::OK, page),
        None => not_found(&reference),
    }
}

fn not_found(reference: &str) -> HttpResponse {
    html_response(
        actix_web::http::StatusCode::NOT_FOUND,
        format!(
            r#"<!doctype html><meta charset="utf-8"><title>Not found</title><link rel="icon" href="data:,"><p>No channel {} in the sandbox workspace. <a href="/">Back to the channels</a></p>"#,
            escape(reference)
        ),
    )
}

async fn view(state: web::Data<SlackState>, query: web::Query<ViewQuery>) -> HttpResponse {
    let reference = query.channel.as_deref().unwrap_or(DEFAULT_CHANNEL);
    let Some(snapshot) = Snapshot::take(&state, reference) else {
        return HttpResponse::NotFound().json(json!({"ok": false, "error": "channel_not_found"}));
    };
    let parts = parts(&snapshot, query.viewer.as_deref());
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(json!({
            "ok": true,
            "channel": {"id": snapshot.channel.id, "label": parts.label},
            "viewer": parts.viewer_id,
            "sidebar": parts.sidebar,
            "messages": parts.messages,
            "count": parts.count,
        }))
}
