//! The recording server for Keel/Echo stand-ins.

use std::time::{Duration, Instant};

use reverb_sandbox::start_recorder;

use crate::support::client;

#[tokio::test(flavor = "multi_thread")]
async fn records_everything_and_answers_200_empty_by_default() {
    let recorder = start_recorder(None).await.expect("recorder");
    let response = client()
        .post(format!(
            "{}/notifications/callback?x=1&y=2",
            recorder.base_url()
        ))
        .header("X-SPINNAKER-USER", "jane@example.com")
        .header("X-Multi", "a")
        .header("X-Multi", "b")
        .header("Content-Type", "application/json")
        .body(r#"{"serviceId":"keel"}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.expect("body"), "");

    let requests = recorder.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/notifications/callback");
    assert_eq!(request.query, "x=1&y=2");
    assert_eq!(request.header("x-spinnaker-user"), Some("jane@example.com"));
    assert_eq!(request.header_values("X-Multi"), vec!["a", "b"]);
    assert_eq!(request.body_json().expect("json")["serviceId"], "keel");
    assert_eq!(recorder.requests_to("/notifications/callback").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn canned_answers_by_longest_prefix_down_and_delay() {
    let recorder = start_recorder(None).await.expect("recorder");
    recorder.respond("/", 202, "root", "text/plain");
    recorder.respond(
        "/notifications",
        500,
        r#"{"error":"boom"}"#,
        "application/json",
    );
    let http = client();
    let answer = http
        .post(format!("{}/notifications/callback", recorder.base_url()))
        .send()
        .await
        .expect("request");
    assert_eq!(answer.status().as_u16(), 500);
    assert_eq!(answer.headers()["content-type"], "application/json");
    assert_eq!(answer.text().await.expect("body"), r#"{"error":"boom"}"#);
    let other = http
        .get(format!("{}/health", recorder.base_url()))
        .send()
        .await
        .expect("request");
    assert_eq!(other.status().as_u16(), 202);
    assert_eq!(other.text().await.expect("body"), "root");

    recorder.set_down(true);
    let down = http
        .get(format!("{}/health", recorder.base_url()))
        .send()
        .await
        .expect("request");
    assert_eq!(down.status().as_u16(), 503);
    recorder.set_down(false);

    recorder.set_delay(Duration::from_millis(300));
    let started = Instant::now();
    http.get(format!("{}/slow", recorder.base_url()))
        .send()
        .await
        .expect("request");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        recorder.requests().len(),
        4,
        "requests while down are recorded too"
    );
    recorder.clear();
    assert!(recorder.requests().is_empty());
}
