//! The passthrough against a recording fake Echo, through actix's test server.

use std::sync::Arc;
use std::time::Duration;

use actix_web::test::{self, TestRequest};
use actix_web::web::{self, Bytes};
use actix_web::{App, http::StatusCode};
use prometheus::Registry;
use reverb_config::ServerSettings;
use reverb_sandbox::{Recorder, eventually, start_recorder};
use reverb_store::{SqliteStore, Store};
use serde_json::{Value, json};

use reverb_support::Backoff;

use crate::health::EchoStatus;
use crate::metrics::EchoMetrics;
use crate::target::EchoTarget;
use crate::{
    EchoPassthrough, FORWARDED_HEADER, RelayedFromEcho, Timing, proxy_to_echo, relay_client,
};

const WAIT: Duration = Duration::from_secs(10);

fn fast_timing() -> Timing {
    Timing {
        backoff: Backoff::new(Duration::from_millis(10), Duration::from_millis(100)),
        idle_poll: Duration::from_millis(50),
        probe_interval_up: Duration::from_millis(50),
        probe_interval_down: Duration::from_millis(20),
        probe_timeout: Duration::from_secs(1),
        metadata_timeout: Duration::from_secs(1),
        forward_timeout: Duration::from_secs(2),
    }
}

fn passthrough(base_url: &str, store: Arc<dyn Store>) -> EchoPassthrough {
    // Port 0: the self-pointing check has nothing to compare, as in these tests.
    let server = ServerSettings {
        port: 0,
        ..ServerSettings::default()
    };
    let target = EchoTarget::parse(base_url, &server).unwrap();
    let metrics = EchoMetrics::register(&Registry::new()).unwrap();
    EchoPassthrough::with_parts(
        target,
        store,
        relay_client().unwrap(),
        relay_client().unwrap(),
        metrics,
        8 << 20,
        fast_timing(),
    )
}

async fn setup() -> (EchoPassthrough, Recorder, Arc<SqliteStore>) {
    let recorder = start_recorder(None).await.unwrap();
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let echo = passthrough(&recorder.base_url(), store.clone());
    (echo, recorder, store)
}

fn event_request(body: &str) -> (actix_web::HttpRequest, Bytes) {
    let req = TestRequest::post()
        .uri("/")
        .insert_header(("Content-Type", "application/json; charset=UTF-8"))
        .insert_header(("X-SPINNAKER-USER", "jane@example.com"))
        .insert_header(("X-SPINNAKER-ACCOUNTS", "prod,staging"))
        .insert_header(("Authorization", "Basic c2VjcmV0"))
        .to_http_request();
    (req, Bytes::copy_from_slice(body.as_bytes()))
}

async fn body_of(res: actix_web::HttpResponse) -> Bytes {
    actix_web::body::to_bytes(res.into_body()).await.unwrap()
}

/// Successful posts of events to Echo's `/`, each body once, in arrival order (a retried event
/// shows up several times in a row while Echo is down).
fn delivered_bodies(recorder: &Recorder) -> Vec<String> {
    let mut bodies: Vec<String> = Vec::new();
    for request in recorder.requests_to("/") {
        let body = request.body_text();
        if bodies.last() != Some(&body) {
            bodies.push(body);
        }
    }
    bodies
}

#[actix_web::test]
async fn events_reach_echo_byte_for_byte_with_spinnaker_headers() {
    let (echo, recorder, store) = setup().await;
    echo.start();
    // Odd spacing and key order must survive: the body is never re-serialised.
    let body = r#"{ "details":{"type":"orca:pipeline:complete","source":"orca"},  "content":{"execution":{"id":"01H"}} }"#;
    let (req, bytes) = event_request(body);
    echo.forward_event(&req, &bytes).await.unwrap();

    let got = eventually(WAIT, || recorder.requests_to("/").into_iter().next())
        .await
        .unwrap();
    assert_eq!(got.method, "POST");
    assert_eq!(got.body, body.as_bytes());
    assert_eq!(
        got.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    assert_eq!(got.header("x-spinnaker-user"), Some("jane@example.com"));
    assert_eq!(got.header("x-spinnaker-accounts"), Some("prod,staging"));
    assert_eq!(got.header(FORWARDED_HEADER), Some("1"));
    assert_eq!(
        got.header("authorization"),
        None,
        "only X-SPINNAKER-* and Content-Type travel"
    );

    eventually(WAIT, || {
        (store.forward_backlog().unwrap() == 0).then_some(())
    })
    .await
    .unwrap();
    eventually(WAIT, || {
        (echo.inner.metrics.count("forwarded") == 1).then_some(())
    })
    .await
    .unwrap();
    assert_eq!(echo.inner.metrics.pending(), 0);
    echo.shutdown(Duration::from_secs(1)).await;
}

#[actix_web::test]
async fn order_is_kept_while_echo_is_down_and_nothing_is_lost() {
    let (echo, recorder, store) = setup().await;
    recorder.set_down(true);
    echo.start();
    let expected: Vec<String> = (0..20).map(|i| format!(r#"{{"n":{i}}}"#)).collect();
    for body in &expected {
        let (req, bytes) = event_request(body);
        echo.forward_event(&req, &bytes).await.unwrap();
    }
    eventually(WAIT, || {
        (echo.inner.metrics.count("retried") >= 3).then_some(())
    })
    .await
    .unwrap();
    assert_eq!(
        store.forward_backlog().unwrap(),
        20,
        "nothing leaves the store while Echo is down"
    );
    assert_eq!(echo.health_detail()["forwardPending"], 20);

    recorder.set_down(false);
    eventually(WAIT, || {
        (store.forward_backlog().unwrap() == 0).then_some(())
    })
    .await
    .unwrap();
    assert_eq!(delivered_bodies(&recorder), expected);
    assert_eq!(echo.inner.metrics.count("forwarded"), 20);
    echo.shutdown(Duration::from_secs(1)).await;
}

#[actix_web::test]
async fn a_4xx_from_echo_drops_the_event_and_counts_it() {
    let (echo, recorder, store) = setup().await;
    recorder.respond("/", 400, r#"{"message":"bad event"}"#, "application/json");
    echo.start();
    let (req, bytes) = event_request(r#"{"details":{}}"#);
    echo.forward_event(&req, &bytes).await.unwrap();
    eventually(WAIT, || {
        (echo.inner.metrics.count("rejected") == 1).then_some(())
    })
    .await
    .unwrap();
    eventually(WAIT, || {
        (store.forward_backlog().unwrap() == 0).then_some(())
    })
    .await
    .unwrap();
    assert_eq!(
        recorder.requests_to("/").len(),
        1,
        "a rejected event is not retried"
    );
    assert_eq!(echo.inner.metrics.count("forwarded"), 0);
    echo.shutdown(Duration::from_secs(1)).await;
}

#[actix_web::test]
async fn a_429_from_echo_is_retried() {
    let (echo, recorder, store) = setup().await;
    recorder.respond("/", 429, "", "text/plain");
    echo.start();
    let (req, bytes) = event_request("{}");
    echo.forward_event(&req, &bytes).await.unwrap();
    eventually(WAIT, || {
        (recorder.requests_to("/").len() >= 2).then_some(())
    })
    .await
    .unwrap();
    assert_eq!(store.forward_backlog().unwrap(), 1);
    recorder.respond("/", 200, "", "text/plain");
    eventually(WAIT, || {
        (store.forward_backlog().unwrap() == 0).then_some(())
    })
    .await
    .unwrap();
    assert_eq!(echo.inner.metrics.count("rejected"), 0);
    echo.shutdown(Duration::from_secs(1)).await;
}

#[actix_web::test]
async fn a_501_from_echo_is_final_as_in_every_other_peer() {
    let (echo, recorder, store) = setup().await;
    recorder.respond("/", 501, "", "text/plain");
    echo.start();
    let (req, bytes) = event_request("{}");
    echo.forward_event(&req, &bytes).await.unwrap();
    eventually(WAIT, || {
        (echo.inner.metrics.count("rejected") == 1).then_some(())
    })
    .await
    .unwrap();
    eventually(WAIT, || {
        (store.forward_backlog().unwrap() == 0).then_some(())
    })
    .await
    .unwrap();
    assert_eq!(recorder.requests_to("/").len(), 1, "a 501 is not retried");
    assert_eq!(echo.inner.metrics.count("retried"), 0);
    echo.shutdown(Duration::from_secs(1)).await;
}

#[actix_web::test]
async fn an_event_a_reverb_forwarded_already_is_not_stored_again() {
    let (echo, _recorder, store) = setup().await;
    let req = TestRequest::post()
        .uri("/")
        .insert_header((FORWARDED_HEADER, "1"))
        .to_http_request();
    echo.forward_event(&req, &Bytes::from_static(b"{}"))
        .await
        .unwrap();
    assert_eq!(store.forward_backlog().unwrap(), 0);
}

#[actix_web::test]
async fn shutdown_leaves_undelivered_events_for_the_next_start() {
    let (echo, recorder, store) = setup().await;
    recorder.set_down(true);
    echo.start();
    for i in 0..3 {
        let (req, bytes) = event_request(&format!("{{\"n\":{i}}}"));
        echo.forward_event(&req, &bytes).await.unwrap();
    }
    eventually(WAIT, || {
        (echo.inner.metrics.count("retried") >= 1).then_some(())
    })
    .await
    .unwrap();
    let started = std::time::Instant::now();
    echo.shutdown(Duration::from_secs(2)).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a backing-off forwarder stops at once"
    );
    assert_eq!(store.forward_backlog().unwrap(), 3);

    recorder.set_down(false);
    let again = passthrough(&recorder.base_url(), store.clone());
    again.start();
    eventually(WAIT, || {
        (store.forward_backlog().unwrap() == 0).then_some(())
    })
    .await
    .unwrap();
    assert_eq!(
        delivered_bodies(&recorder),
        ["{\"n\":0}", "{\"n\":1}", "{\"n\":2}"]
    );
    again.shutdown(Duration::from_secs(1)).await;
}

macro_rules! proxy_app {
    ($echo:expr) => {
        test::init_service(
            App::new()
                .app_data(web::Data::new($echo.clone()))
                .default_service(web::to(proxy_to_echo)),
        )
        .await
    };
}

#[actix_web::test]
async fn proxies_method_path_query_headers_and_answer() {
    let (echo, recorder, _store) = setup().await;
    recorder.respond(
        "/validateCronExpression",
        400,
        r#"{"message":"bad cron"}"#,
        "application/json",
    );
    let app = proxy_app!(echo);
    let req = TestRequest::get()
        .uri("/validateCronExpression?cronExpression=0%200%2012%20*%20*%20%3F")
        .insert_header(("Accept", "application/json"))
        .insert_header(("X-SPINNAKER-USER", "jane"))
        .insert_header(("Connection", "keep-alive"))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.response().extensions().contains::<RelayedFromEcho>());
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "application/json"
    );
    let body = test::read_body(res).await;
    assert_eq!(&body[..], br#"{"message":"bad cron"}"#);

    let got = recorder.requests_to("/validateCronExpression");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].method, "GET");
    assert_eq!(got[0].query, "cronExpression=0%200%2012%20*%20*%20%3F");
    assert_eq!(got[0].header("accept"), Some("application/json"));
    assert_eq!(got[0].header("x-spinnaker-user"), Some("jane"));
    assert_eq!(got[0].header(FORWARDED_HEADER), Some("1"));
    assert!(got[0].body.is_empty());
}

#[actix_web::test]
async fn proxies_a_webhook_body_and_a_large_body_intact() {
    let (echo, recorder, _store) = setup().await;
    recorder.respond(
        "/webhooks",
        200,
        r#"{"eventProcessed":true,"eventId":"e-1"}"#,
        "application/json",
    );
    let app = proxy_app!(echo);
    let hook = br#"{"ref":"refs/heads/main","repository":{"name":"app"}}"#;
    let req = TestRequest::post()
        .uri("/webhooks/git/github")
        .insert_header(("Content-Type", "application/json"))
        .insert_header(("X-Hub-Signature", "sha1=0123"))
        .insert_header(("X-Event-Key", "push"))
        .set_payload(&hook[..])
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = test::read_body_json(res).await;
    assert_eq!(body, json!({"eventProcessed": true, "eventId": "e-1"}));
    let got = recorder.requests_to("/webhooks/git/github");
    assert_eq!(got[0].body, hook);
    assert_eq!(got[0].header("x-hub-signature"), Some("sha1=0123"));
    assert_eq!(got[0].header("x-event-key"), Some("push"));

    let large: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let req = TestRequest::put()
        .uri("/some/unknown/route")
        .insert_header(("Content-Type", "application/octet-stream"))
        .set_payload(large.clone())
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let got = recorder.requests_to("/some/unknown/route");
    assert_eq!(got[0].method, "PUT");
    assert_eq!(got[0].body.len(), large.len());
    assert!(got[0].body == large, "the 5 MB body changed on the way");
}

#[actix_web::test]
async fn refuses_a_body_over_the_limit() {
    let (echo, recorder, store) = setup().await;
    let small = EchoPassthrough::with_parts(
        echo.inner.target.clone(),
        store,
        relay_client().unwrap(),
        relay_client().unwrap(),
        EchoMetrics::register(&Registry::new()).unwrap(),
        1024,
        fast_timing(),
    );
    let app = proxy_app!(small);
    let req = TestRequest::post()
        .uri("/webhooks/git/github")
        .set_payload(vec![b'x'; 2048])
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(recorder.requests().is_empty());
}

#[actix_web::test]
async fn refuses_loops_keeps_reverb_paths_and_answers_preflights() {
    let (echo, recorder, _store) = setup().await;
    let app = proxy_app!(echo);
    let req = TestRequest::post()
        .uri("/webhooks/git/github")
        .insert_header((FORWARDED_HEADER, "1"))
        .set_payload("{}")
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::LOOP_DETECTED);
    let body: Value = test::read_body_json(res).await;
    assert_eq!(body["status"], 508);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("X-Reverb-Forwarded")
    );

    let req = TestRequest::get()
        .uri("/notifications/callbacks/slack")
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);

    let req = TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri("/scheduledActions")
        .to_request();
    assert_eq!(test::call_service(&app, req).await.status(), StatusCode::OK);
    assert!(recorder.requests().is_empty(), "none of these reach Echo");
}

#[actix_web::test]
async fn dot_segments_never_reach_echo_and_reserved_paths_stay_reserved() {
    let (echo, recorder, _store) = setup().await;
    let app = proxy_app!(echo);
    for (path, status) in [
        (
            "/x/../notifications/callbacks/slack",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/x/%2e%2e/notifications/callbacks/slack",
            StatusCode::BAD_REQUEST,
        ),
        ("/webhooks/../health", StatusCode::BAD_REQUEST),
        ("/%2e%2e/%2e%2e/etc/passwd", StatusCode::BAD_REQUEST),
        (
            "/notifications%2fcallbacks/slack",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        ("//metrics", StatusCode::METHOD_NOT_ALLOWED),
    ] {
        let req = TestRequest::post().uri(path).set_payload("{}").to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status(), status, "{path}");
        let body: Value = test::read_body_json(res).await;
        assert_eq!(body["status"], status.as_u16(), "{path}: {body}");
    }
    assert!(recorder.requests().is_empty(), "none of these reach Echo");

    let req = TestRequest::post()
        .uri("/webhooks/git/github")
        .set_payload("{}")
        .to_request();
    assert_eq!(test::call_service(&app, req).await.status(), StatusCode::OK);
    assert_eq!(recorder.requests_to("/webhooks/git/github").len(), 1);
}

#[actix_web::test]
async fn echo_down_gives_502_in_spinnaker_shape() {
    let (echo, recorder, _store) = setup().await;
    recorder.stop().await;
    let app = proxy_app!(echo);
    let req = TestRequest::get().uri("/pubsub/subscriptions").to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    let body: Value = test::read_body_json(res).await;
    assert_eq!(body["status"], 502);
    assert_eq!(body["error"], "Bad Gateway");
    assert_eq!(body["message"], "Echo is unreachable");
    assert!(
        !body.to_string().contains("127.0.0.1"),
        "Echo's address stays in the log: {body}"
    );
}

#[actix_web::test]
async fn a_jira_notification_gets_echos_answer() {
    let (echo, recorder, _store) = setup().await;
    let answer = r#"{"value":{"id":"10001","key":"OPS-7","self":"https://jira.example.com/rest/api/2/issue/10001"}}"#;
    recorder.respond("/notifications", 200, answer, "application/json");
    let body = r#"{"notificationType":"JIRA","to":["jane"],"source":{"user":"jane"},"additionalContext":{"issueContext":{"fields":{"summary":"x"}}}}"#;
    let req = TestRequest::post()
        .uri("/notifications")
        .insert_header(("Content-Type", "application/json"))
        .insert_header(("X-SPINNAKER-USER", "jane"))
        .to_http_request();
    let res = echo
        .forward_notification(&req, Bytes::from_static(body.as_bytes()))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let got: Value = serde_json::from_slice(&body_of(res).await).unwrap();
    assert_eq!(got["value"]["key"], "OPS-7");
    let sent = recorder.requests_to("/notifications");
    assert_eq!(sent[0].body, body.as_bytes());
    assert_eq!(sent[0].header("x-spinnaker-user"), Some("jane"));

    recorder.respond(
        "/notifications",
        400,
        r#"{"message":"Jira says no"}"#,
        "application/json",
    );
    let res = echo
        .forward_notification(&req, Bytes::from_static(body.as_bytes()))
        .await;
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "Echo's status is relayed"
    );

    let looped = TestRequest::post()
        .uri("/notifications")
        .insert_header((FORWARDED_HEADER, "1"))
        .to_http_request();
    let res = echo
        .forward_notification(&looped, Bytes::from_static(b"{}"))
        .await;
    assert_eq!(res.status(), StatusCode::LOOP_DETECTED);
}

#[actix_web::test]
async fn metadata_is_echos_and_empty_when_echo_fails() {
    let (echo, recorder, _store) = setup().await;
    let list = r#"[{"notificationType":"teams-plugin","parameters":[{"name":"webhook","label":"Webhook","defaultValue":"","description":"","type":"string"}],"uiType":"BASIC"}]"#;
    recorder.respond("/notifications/metadata", 200, list, "application/json");
    let res = echo.metadata().await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = serde_json::from_slice(&body_of(res).await).unwrap();
    assert_eq!(body, serde_json::from_str::<Value>(list).unwrap());
    assert_eq!(
        recorder.requests_to("/notifications/metadata")[0].header(FORWARDED_HEADER),
        Some("1")
    );

    recorder.respond("/notifications/metadata", 500, "boom", "text/plain");
    let res = echo.metadata().await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = body_of(res).await;
    assert_eq!(&body[..], b"[]");
}

#[actix_web::test]
async fn health_detail_follows_echo_without_waiting_for_it() {
    let (echo, recorder, _store) = setup().await;
    assert_eq!(echo.health_detail()["status"], "UNKNOWN");
    recorder.respond("/health", 200, r#"{"status":"UP"}"#, "application/json");
    echo.start();
    eventually(WAIT, || {
        (echo.inner.health.status() == EchoStatus::Up).then_some(())
    })
    .await
    .unwrap();
    let detail = echo.health_detail();
    assert_eq!(detail["status"], "UP");
    assert!(
        !detail.to_string().contains("127.0.0.1"),
        "no address of Echo in /health: {detail}"
    );

    recorder.set_down(true);
    eventually(WAIT, || {
        (echo.inner.health.status() == EchoStatus::Down).then_some(())
    })
    .await
    .unwrap();
    assert_eq!(echo.health_detail()["status"], "DOWN");

    recorder.stop().await;
    eventually(WAIT, || {
        (echo.inner.health.status() == EchoStatus::Unreachable).then_some(())
    })
    .await
    .unwrap();
    let detail = echo.health_detail();
    assert_eq!(detail["status"], "UNREACHABLE");
    assert!(
        detail.get("error").is_none(),
        "no connection error text: {detail}"
    );
    echo.shutdown(Duration::from_secs(1)).await;
}

#[test]
fn from_settings_is_off_without_a_base_url_and_refuses_itself() {
    let registry = Registry::new();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let http = relay_client().unwrap();
    let mut settings = reverb_config::Settings::default();
    let off =
        EchoPassthrough::from_settings(&settings, store.clone(), http.clone(), &registry).unwrap();
    assert!(off.is_none());
    let names: Vec<String> = registry
        .gather()
        .iter()
        .map(|f| f.name().to_owned())
        .collect();
    assert!(
        names.contains(&"reverb_echo_forward_pending".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"reverb_echo_forward_total".to_owned()),
        "{names:?}"
    );

    settings.reverb.echo_base_url = Some("http://localhost:8089".into());
    let err =
        EchoPassthrough::from_settings(&settings, store.clone(), http.clone(), &Registry::new())
            .err()
            .unwrap();
    assert!(err.is_configuration());
    assert!(err.to_string().contains("reverb.echo.baseUrl"), "{err}");

    settings.reverb.echo_base_url = Some("http://spin-echo-legacy:8089".into());
    let on = EchoPassthrough::from_settings(&settings, store, http, &Registry::new())
        .unwrap()
        .unwrap();
    assert_eq!(on.base_url(), "http://spin-echo-legacy:8089");
}
