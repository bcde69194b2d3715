//! The fake Orca with Fiat on: the PATCH's EXECUTE check (403 as Orca answers it), the
//! judgment's role check from Fiat's roles, and what it records of `X-SPINNAKER-ACCOUNTS`.

use std::collections::BTreeSet;

use reverb_sandbox::{
    FakeFiat, FakeFiatConfig, FakeOrca, FakeOrcaConfig, FiatAuthorization, FiatUser, Judgment,
    SandboxError, eventually, start_fake_fiat, start_fake_orca,
};
use serde_json::{Value, json};

use crate::orca::{EXECUTION, STAGE, running_execution, stage_field};
use crate::support::{WAIT, client};

async fn orca_with_fiat() -> (FakeOrca, FakeFiat) {
    let fiat = start_fake_fiat(FakeFiatConfig::default())
        .await
        .expect("fiat");
    let orca = start_fake_orca(FakeOrcaConfig {
        fiat: Some(fiat.permissions()),
        ..FakeOrcaConfig::default()
    })
    .await
    .expect("orca");
    orca.put_execution(running_execution());
    (orca, fiat)
}

/// A PATCH as Reverb sends it: `X-SPINNAKER-USER` and `X-SPINNAKER-ACCOUNTS`.
async fn patch_as(
    orca: &FakeOrca,
    user: Option<&str>,
    accounts: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = client()
        .patch(format!(
            "{}/pipelines/{EXECUTION}/stages/{STAGE}",
            orca.base_url()
        ))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some(user) = user {
        request = request.header("X-SPINNAKER-USER", user);
    }
    if let Some(accounts) = accounts {
        request = request.header("X-SPINNAKER-ACCOUNTS", accounts);
    }
    request.send().await.expect("patch")
}

fn judgment_status(orca: &FakeOrca) -> Value {
    stage_field(orca, EXECUTION, STAGE, |stage| {
        stage["context"]["judgmentStatus"].clone()
    })
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    i64::try_from(since.as_millis()).expect("ms")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_without_execute_gets_orcas_403_and_nothing_changes() {
    let (orca, fiat) = orca_with_fiat().await;
    let before = now_ms();
    let response = patch_as(
        &orca,
        Some("viewer@example.com"),
        Some("prod-aws"),
        &json!({"judgmentStatus": "continue"}),
    )
    .await;
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok()),
        Some("application/json")
    );
    let body: Value = response.json().await.expect("json");
    let keys: BTreeSet<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["timestamp", "status", "error", "exception", "message"])
    );
    assert_eq!(body["status"], 403);
    assert_eq!(body["error"], "Forbidden");
    assert_eq!(
        body["exception"],
        "org.springframework.security.access.AccessDeniedException"
    );
    assert_eq!(
        body["message"],
        "Access denied to application myapp - required authorization: EXECUTE"
    );
    let timestamp = body["timestamp"].as_i64().expect("epoch ms");
    assert!(timestamp >= before && timestamp <= now_ms());

    let stage = orca.stage(EXECUTION, STAGE).expect("stage");
    assert_eq!(stage, running_execution()["stages"][0], "stage untouched");
    let patches = orca.patches();
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].status, 403);
    assert_eq!(patches[0].user.as_deref(), Some("viewer@example.com"));
    assert_eq!(patches[0].accounts.as_deref(), Some("prod-aws"));

    // Without X-SPINNAKER-USER Orca asks about `anonymous`, Fiat's unrestricted user: refused.
    let anonymous = patch_as(&orca, None, None, &json!({"judgmentStatus": "stop"})).await;
    assert_eq!(anonymous.status().as_u16(), 403);
    // A user Fiat does not know is refused too.
    let stranger = patch_as(
        &orca,
        Some("nobody@example.com"),
        None,
        &json!({"judgmentStatus": "stop"}),
    )
    .await;
    assert_eq!(stranger.status().as_u16(), 403);
    assert_eq!(judgment_status(&orca), Value::Null);
    // Orca reads Fiat in-process: none of this is Fiat traffic Reverb tests count.
    assert!(fiat.requests().is_empty());

    // The body is bound before the check, the execution looked up before it (Spring's order).
    let bad_body = patch_as(&orca, Some("viewer@example.com"), None, &json!([1])).await;
    assert_eq!(bad_body.status().as_u16(), 400);
    let missing = client()
        .patch(format!("{}/pipelines/NOPE/stages/{STAGE}", orca.base_url()))
        .header("Content-Type", "application/json")
        .header("X-SPINNAKER-USER", "viewer@example.com")
        .body("{}")
        .send()
        .await
        .expect("patch");
    assert_eq!(missing.status().as_u16(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn fiat_roles_decide_the_judgment_and_admins_pass() {
    let (orca, _fiat) = orca_with_fiat().await;
    // Mallory may execute myapp, so the PATCH works; she lacks release-managers: reverted.
    let response = patch_as(
        &orca,
        Some("mallory@example.com"),
        None,
        &json!({"judgmentStatus": "continue"}),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let reverted = eventually(WAIT, || (judgment_status(&orca) == "").then_some(())).await;
    assert!(reverted.is_some(), "judgmentStatus cleared");
    assert_eq!(
        stage_field(&orca, EXECUTION, STAGE, |s| s["status"].clone()),
        "RUNNING"
    );

    // The admin has no role and no application entry, and still decides.
    let response = patch_as(
        &orca,
        Some("Admin@Example.com"),
        None,
        &json!({"judgmentStatus": "stop"}),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let finished = eventually(WAIT, || {
        (stage_field(&orca, EXECUTION, STAGE, |s| s["status"].clone()) == "TERMINAL").then_some(())
    })
    .await;
    assert!(finished.is_some(), "the admin's stop took effect");
}

#[tokio::test(flavor = "multi_thread")]
async fn john_approves_and_the_accounts_header_is_kept_as_orca_keeps_it() {
    let (orca, _fiat) = orca_with_fiat().await;
    let response = patch_as(
        &orca,
        Some("john@doe.com"),
        Some("staging-aws,prod-aws"),
        &json!({"judgmentStatus": "continue", "judgmentInput": "ship"}),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let execution: Value = response.json().await.expect("json");
    assert_eq!(
        execution["stages"][0]["lastModified"]["allowedAccounts"],
        json!(["staging-aws", "prod-aws"])
    );
    let patch = &orca.patches()[0];
    assert_eq!(patch.accounts.as_deref(), Some("staging-aws,prod-aws"));
    assert_eq!(
        patch.header("x-spinnaker-accounts"),
        Some("staging-aws,prod-aws")
    );
    let done = eventually(WAIT, || {
        (stage_field(&orca, EXECUTION, STAGE, |s| s["status"].clone()) == "SUCCEEDED").then_some(())
    })
    .await;
    assert!(done.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn permission_changes_apply_at_once_and_deck_judgments_are_checked_too() {
    let (orca, fiat) = orca_with_fiat().await;
    assert!(matches!(
        orca.judge(EXECUTION, Judgment::Continue, "viewer@example.com", None),
        Err(SandboxError::AccessDenied(message)) if message.contains("application myapp")
    ));
    assert_eq!(orca.patches()[0].status, 403);
    assert!(orca.patches()[0].via_deck);

    // Grant the viewer EXECUTE and release-managers: the same PATCH now decides the stage.
    fiat.put_user(
        FiatUser::new("viewer@example.com")
            .with_roles(&["release-managers"])
            .with_application(
                "myapp",
                &[FiatAuthorization::Read, FiatAuthorization::Execute],
            ),
    );
    let response = patch_as(
        &orca,
        Some("viewer@example.com"),
        None,
        &json!({"judgmentStatus": "continue"}),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let done = eventually(WAIT, || {
        (stage_field(&orca, EXECUTION, STAGE, |s| s["status"].clone()) == "SUCCEEDED").then_some(())
    })
    .await;
    assert!(done.is_some());

    // Another application: jane has no entry for it, refused unless Fiat allows unknown ones.
    let mut other = running_execution();
    other["id"] = json!("01HTZ8Q5M3K7V2N9P4R6S8T0XX");
    other["application"] = json!("otherapp");
    orca.put_execution(other);
    let url = format!(
        "{}/pipelines/01HTZ8Q5M3K7V2N9P4R6S8T0XX/stages/{STAGE}",
        orca.base_url()
    );
    let send = || {
        client()
            .patch(&url)
            .header("Content-Type", "application/json")
            .header("X-SPINNAKER-USER", "jane@example.com")
            .body(r#"{"judgmentStatus":"continue"}"#)
            .send()
    };
    let refused = send().await.expect("patch");
    assert_eq!(refused.status().as_u16(), 403);
    let message = refused.json::<Value>().await.expect("json")["message"].clone();
    assert_eq!(
        message,
        "Access denied to application otherapp - required authorization: EXECUTE"
    );
    fiat.set_allow_access_to_unknown_applications(true);
    assert_eq!(send().await.expect("patch").status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_fiat_every_patch_is_allowed_and_accounts_are_still_recorded() {
    let orca = start_fake_orca(FakeOrcaConfig::default())
        .await
        .expect("orca");
    orca.put_execution(running_execution());
    let response = patch_as(
        &orca,
        Some("viewer@example.com"),
        Some("a, b,,"),
        &json!({"judgmentStatus": "continue"}),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(orca.patches()[0].accounts.as_deref(), Some("a, b,,"));
    // Java's split: spaces kept, trailing empty items dropped.
    assert_eq!(
        stage_field(&orca, EXECUTION, STAGE, |s| {
            s["lastModified"]["allowedAccounts"].clone()
        }),
        json!(["a", " b"])
    );
}
