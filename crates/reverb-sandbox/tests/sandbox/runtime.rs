//! The fakes run inside the caller's tokio runtime and stop on drop or `stop()`.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use reverb_sandbox::{
    FakeFiatConfig, FakeOrcaConfig, FakeSlackConfig, eventually, start_fake_fiat, start_fake_orca,
    start_fake_slack, start_recorder,
};

use crate::support::{client, post_text};

async fn reachable(url: &str) -> bool {
    client()
        .get(url)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn all_fakes_serve_inside_a_multi_thread_tokio_runtime_and_stop() {
    let slack = start_fake_slack(FakeSlackConfig::default())
        .await
        .expect("slack");
    let orca = start_fake_orca(FakeOrcaConfig::default())
        .await
        .expect("orca");
    let recorder = start_recorder(None).await.expect("recorder");
    let fiat = start_fake_fiat(FakeFiatConfig::default())
        .await
        .expect("fiat");
    for base in [
        slack.base_url(),
        orca.base_url(),
        recorder.base_url(),
        fiat.base_url(),
    ] {
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        assert!(reachable(&format!("{base}/health")).await, "{base}");
    }
    let slack_url = format!("{}/_sandbox/stats", slack.base_url());
    slack.stop().await;
    assert!(!reachable(&slack_url).await, "stopped by stop()");

    // Dropping stops too (asynchronously, so poll with a deadline).
    let orca_url = format!("{}/health", orca.base_url());
    drop(orca);
    let mut gone = false;
    for _ in 0..200 {
        if !reachable(&orca_url).await {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(gone, "stopped by drop");
    recorder.stop().await;
}

#[tokio::test]
async fn a_current_thread_runtime_works_too() {
    let slack = start_fake_slack(FakeSlackConfig::default())
        .await
        .expect("slack");
    let (status, answer) = post_text(&slack, "general", "single thread").await;
    assert_eq!((status, &answer["ok"]), (200, &serde_json::json!(true)));
    let found = eventually(Duration::from_secs(2), || {
        slack.posted("general").into_iter().next()
    })
    .await;
    assert_eq!(
        found.map(|message| message.text),
        Some("single thread".to_owned())
    );
}

#[test]
fn starting_outside_a_runtime_is_an_error_not_a_panic() {
    let mut starting = pin!(start_fake_slack(FakeSlackConfig::default()));
    let mut context = Context::from_waker(Waker::noop());
    match starting.as_mut().poll(&mut context) {
        Poll::Ready(Err(err)) => assert!(err.to_string().contains("tokio runtime"), "{err}"),
        Poll::Ready(Ok(_)) => panic!("started without a runtime"),
        Poll::Pending => panic!("should fail at once"),
    }
}
