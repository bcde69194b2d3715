//! The fake Orca: GET/PATCH semantics, the silent revert, and the sample pipeline's traffic.

use std::collections::BTreeSet;
use std::time::Duration;

use reverb_sandbox::{
    FakeOrca, FakeOrcaConfig, Judgment, Recorder, SamplePipeline, eventually, start_fake_orca,
    start_recorder,
};
use serde_json::{Value, json};

use crate::support::{WAIT, client};

/// A running execution as Orca writes it (docs/echo-contract.md), trimmed to what is needed.
pub fn running_execution() -> Value {
    json!({
        "type": "PIPELINE", "id": "01HTZ8Q5M3K7V2N9P4R6S8T0WX", "application": "myapp", "name": "deploy-prod",
        "status": "RUNNING",
        "stages": [{
            "id": "01HTZ8Q5N1B4C6D8E0F2G4H6J8", "refId": "1", "type": "manualJudgment", "name": "Approve production",
            "status": "RUNNING", "startTime": 1_712_570_400_350_i64, "endTime": null,
            "context": {
                "failPipeline": true,
                "instructions": "Check the canary dashboard before approving.",
                "judgmentInputs": [{"value": "ship"}, {"value": "hold"}],
                "selectedStageRoles": ["release-managers"],
                "sendNotifications": true,
                "notifications": []
            },
            "tasks": [{"id": "1", "name": "waitForJudgment", "status": "RUNNING"}],
            "lastModified": null
        }],
        "authentication": {"user": "jane@example.com", "allowedAccounts": ["prod-aws"]}
    })
}

pub const EXECUTION: &str = "01HTZ8Q5M3K7V2N9P4R6S8T0WX";
pub const STAGE: &str = "01HTZ8Q5N1B4C6D8E0F2G4H6J8";

async fn patch(
    orca: &FakeOrca,
    execution: &str,
    stage: &str,
    user: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = client()
        .patch(format!(
            "{}/pipelines/{execution}/stages/{stage}",
            orca.base_url()
        ))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some(user) = user {
        request = request.header("X-SPINNAKER-USER", user);
    }
    request.send().await.expect("patch")
}

pub fn stage_field(
    orca: &FakeOrca,
    execution: &str,
    stage: &str,
    pick: impl Fn(&Value) -> Value,
) -> Value {
    orca.stage(execution, stage)
        .map(|stage| pick(&stage))
        .unwrap_or(Value::Null)
}

async fn wait_for_stage_status(
    orca: &FakeOrca,
    execution: &str,
    stage: &str,
    status: &str,
) -> bool {
    eventually(WAIT, || {
        (stage_field(orca, execution, stage, |s| s["status"].clone()) == status).then_some(())
    })
    .await
    .is_some()
}

#[tokio::test(flavor = "multi_thread")]
async fn get_returns_the_stored_execution_or_404() {
    let orca = start_fake_orca(FakeOrcaConfig::default())
        .await
        .expect("orca");
    let http = client();
    let missing = http
        .get(format!("{}/pipelines/nope", orca.base_url()))
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(
        missing.json::<Value>().await.expect("json")["error"],
        "Not Found"
    );

    orca.put_execution(running_execution());
    let found: Value = http
        .get(format!("{}/pipelines/{EXECUTION}", orca.base_url()))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(found, running_execution());
}

#[tokio::test(flavor = "multi_thread")]
async fn patch_merges_the_judgment_like_orca_and_the_task_completes_the_stage() {
    let orca = start_fake_orca(FakeOrcaConfig::default())
        .await
        .expect("orca");
    orca.put_execution(running_execution());
    let response = patch(
        &orca,
        EXECUTION,
        STAGE,
        Some("jane@example.com"),
        &json!({"judgmentStatus": "continue", "judgmentInput": "ship"}),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let execution: Value = response.json().await.expect("execution JSON");
    let stage = &execution["stages"][0];
    assert_eq!(stage["context"]["judgmentStatus"], "continue");
    assert_eq!(stage["context"]["judgmentInput"], "ship");
    assert_eq!(stage["context"]["lastModifiedBy"], "jane@example.com");
    assert_eq!(
        stage["context"]["instructions"],
        "Check the canary dashboard before approving."
    );
    assert_eq!(stage["lastModified"]["user"], "jane@example.com");
    assert_eq!(stage["lastModified"]["allowedAccounts"], json!([]));
    assert!(stage["lastModified"]["lastModifiedTime"].as_i64().is_some());

    assert!(wait_for_stage_status(&orca, EXECUTION, STAGE, "SUCCEEDED").await);
    let patches = orca.patches();
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].execution_id, EXECUTION);
    assert_eq!(patches[0].stage_id, STAGE);
    assert_eq!(patches[0].user.as_deref(), Some("jane@example.com"));
    assert_eq!(patches[0].header("content-type"), Some("application/json"));
    assert_eq!(patches[0].body["judgmentInput"], "ship");
    assert!(!patches[0].via_deck);

    // No "already judged" check: a late PATCH still overwrites the finished stage.
    let late = patch(
        &orca,
        EXECUTION,
        STAGE,
        Some("john@doe.com"),
        &json!({"judgmentStatus": "stop"}),
    )
    .await;
    assert_eq!(late.status().as_u16(), 200);
    assert_eq!(
        stage_field(&orca, EXECUTION, STAGE, |s| s["context"]["judgmentStatus"]
            .clone()),
        "stop"
    );
    assert_eq!(
        stage_field(&orca, EXECUTION, STAGE, |s| s["status"].clone()),
        "SUCCEEDED"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_stage_gets_an_empty_200_and_unknown_execution_a_404() {
    let orca = start_fake_orca(FakeOrcaConfig::default())
        .await
        .expect("orca");
    orca.put_execution(running_execution());
    let response = patch(
        &orca,
        EXECUTION,
        "NOSUCHSTAGE",
        Some("jane@example.com"),
        &json!({"judgmentStatus": "continue"}),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.bytes().await.expect("body").len(), 0);
    let response = patch(
        &orca,
        "NOSUCHEXECUTION",
        STAGE,
        None,
        &json!({"judgmentStatus": "continue"}),
    )
    .await;
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(
        orca.patches().iter().map(|p| p.status).collect::<Vec<_>>(),
        vec![200, 404]
    );
    assert_eq!(
        stage_field(&orca, EXECUTION, STAGE, |s| s["status"].clone()),
        "RUNNING"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unauthorised_judgment_is_silently_reverted() {
    let orca = start_fake_orca(FakeOrcaConfig::default())
        .await
        .expect("orca");
    orca.put_execution(running_execution());
    let response = patch(
        &orca,
        EXECUTION,
        STAGE,
        Some("mallory@example.com"),
        &json!({"judgmentStatus": "continue"}),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200, "the PATCH itself succeeds");
    let reverted = eventually(WAIT, || {
        (stage_field(&orca, EXECUTION, STAGE, |s| {
            s["context"]["judgmentStatus"].clone()
        }) == "")
            .then_some(())
    })
    .await;
    assert!(reverted.is_some(), "judgmentStatus cleared");
    let stage = orca.stage(EXECUTION, STAGE).expect("stage");
    assert_eq!(stage["status"], "RUNNING");
    assert_eq!(stage["context"]["lastModifiedBy"], "mallory@example.com");

    // Without X-SPINNAKER-USER the judge is "anonymous", who holds no role either.
    patch(
        &orca,
        EXECUTION,
        STAGE,
        None,
        &json!({"judgmentStatus": "stop"}),
    )
    .await;
    assert_eq!(
        stage_field(&orca, EXECUTION, STAGE, |s| s["lastModified"]["user"]
            .clone()),
        "anonymous"
    );
    let reverted = eventually(WAIT, || {
        (stage_field(&orca, EXECUTION, STAGE, |s| {
            s["context"]["judgmentStatus"].clone()
        }) == "")
            .then_some(())
    })
    .await;
    assert!(reverted.is_some());
    assert_eq!(
        stage_field(&orca, EXECUTION, STAGE, |s| s["status"].clone()),
        "RUNNING"
    );
}

async fn orca_with_reverb() -> (FakeOrca, Recorder) {
    let reverb = start_recorder(None).await.expect("recorder");
    let orca = start_fake_orca(FakeOrcaConfig {
        reverb_url: Some(reverb.base_url()),
        ..FakeOrcaConfig::default()
    })
    .await
    .expect("orca");
    (orca, reverb)
}

/// `details.type` of events and `templateGroup` of notifications, in arrival order.
fn traffic(reverb: &Recorder) -> Vec<String> {
    reverb
        .requests()
        .iter()
        .map(|request| {
            let body = request.body_json().unwrap_or(Value::Null);
            match request.path.as_str() {
                "/" => body["details"]["type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                "/notifications" => format!(
                    "notification:{}",
                    body["templateGroup"].as_str().unwrap_or_default()
                ),
                other => format!("unexpected:{other}"),
            }
        })
        .collect()
}

fn object_keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .map(|map| map.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sample_pipeline_tells_reverb_what_orca_would() {
    let (orca, reverb) = orca_with_reverb().await;
    let id = orca.start_sample_pipeline().await;
    assert_eq!(id.len(), 26);
    assert_eq!(
        traffic(&reverb),
        vec![
            "orca:pipeline:starting",
            "orca:stage:starting",
            "orca:stage:complete",
            "orca:stage:starting",
            "notification:manualJudgment",
        ]
    );
    let requests = reverb.requests();
    let starting = &requests[0];
    assert_eq!(
        starting.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    assert_eq!(
        starting.header("x-spinnaker-execution-id"),
        Some(id.as_str())
    );
    let body = starting.body_json().expect("json");
    assert_eq!(
        body["details"],
        json!({"source": "orca", "type": "orca:pipeline:starting", "application": "myapp"})
    );
    assert_eq!(
        object_keys(&body["content"]),
        BTreeSet::from(["execution", "executionId"])
    );
    assert_eq!(body["content"]["execution"]["type"], "PIPELINE");
    assert_eq!(
        body["content"]["execution"]["notifications"][0]["address"],
        "#deploys"
    );
    // Every execution key Orca writes (docs/echo-contract.md, "How Orca writes JSON").
    for key in [
        "type",
        "id",
        "application",
        "name",
        "buildTime",
        "canceled",
        "canceledBy",
        "cancellationReason",
        "limitConcurrent",
        "maxConcurrentExecutions",
        "keepWaitingPipelines",
        "stages",
        "startTime",
        "endTime",
        "startTimeExpiry",
        "status",
        "authentication",
        "paused",
        "origin",
        "trigger",
        "description",
        "pipelineConfigId",
        "source",
        "notifications",
        "initialConfig",
        "systemNotifications",
        "spelEvaluator",
        "templateVariables",
        "partition",
    ] {
        assert!(
            body["content"]["execution"].get(key).is_some(),
            "execution key {key}"
        );
    }

    let judgment_starting = requests[3].body_json().expect("json");
    let content = &judgment_starting["content"];
    assert_eq!(
        object_keys(content),
        BTreeSet::from([
            "standalone",
            "canceled",
            "context",
            "startTime",
            "endTime",
            "executionId",
            "stageId",
            "isSynthetic",
            "name",
            "execution"
        ])
    );
    assert_eq!(content["name"], "Approve production");
    assert_eq!(content["context"]["sendNotifications"], true);
    assert_eq!(
        requests[3].header("x-spinnaker-user"),
        Some("jane@example.com")
    );

    let notification = &requests[4];
    assert_eq!(
        notification.header("content-type"),
        Some("application/json")
    );
    let body = notification.body_json().expect("json");
    assert_eq!(body["notificationType"], "SLACK");
    assert_eq!(body["to"], json!(["#deploy-approvals"]));
    assert_eq!(body["templateGroup"], "manualJudgment");
    assert_eq!(body["severity"], "HIGH");
    assert_eq!(
        body["source"],
        json!({"executionType": "pipeline", "executionId": id, "application": "myapp", "user": null})
    );
    let context = &body["additionalContext"];
    assert_eq!(context["stageName"], "Approve production");
    assert_eq!(context["stageId"], "2", "the refId, not the ULID");
    assert_eq!(
        context["instructions"],
        "Check the canary dashboard before approving."
    );
    assert_eq!(context["message"], "myapp prod deploy needs approval");
    assert_eq!(context["judgmentInputs"], json!([]));
    assert_eq!(context["judgmentInput"], Value::Null);
    assert_eq!(context["judgedBy"], Value::Null);
    assert_eq!(context["restrictExecutionDuringTimeWindow"], Value::Null);
    assert_eq!(context["execution"]["id"], id.as_str());

    let judgment = orca.stage(&id, "2").expect("stage");
    assert_eq!(judgment["status"], "RUNNING");
    assert!(judgment["context"]["notifications"][0]["lastNotifiedByNotificationState"]["manualJudgment"].is_i64());
    assert_eq!(orca.deliveries().len(), 5);
    assert!(
        orca.deliveries()
            .iter()
            .all(|delivery| delivery.status == Some(200))
    );

    // Reverb's PATCH (as jane) moves it on: continue notification, stage and pipeline events.
    let stage_id = judgment["id"].as_str().expect("id").to_owned();
    let response = patch(
        &orca,
        &id,
        &stage_id,
        Some("jane@example.com"),
        &json!({"judgmentStatus": "continue", "judgmentInput": null}),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let finished = eventually(WAIT, || {
        (traffic(&reverb).len() >= 10).then(|| traffic(&reverb))
    })
    .await;
    assert_eq!(
        finished.expect("pipeline finished")[5..],
        [
            "notification:manualJudgmentContinue",
            "orca:stage:complete",
            "orca:stage:starting",
            "orca:stage:complete",
            "orca:pipeline:complete",
        ]
    );
    let continued = reverb.requests()[5].body_json().expect("json");
    assert_eq!(
        continued["additionalContext"]["judgedBy"],
        "jane@example.com"
    );
    assert_eq!(continued["additionalContext"]["message"], Value::Null);
    let deploy_complete = reverb.requests()[8].body_json().expect("json");
    assert_eq!(deploy_complete["content"]["name"], "Deploy to prod");
    assert_eq!(
        deploy_complete["content"]["context"]["notifications"][0]["address"],
        "#deploys"
    );
    let execution = orca.execution(&id).expect("execution");
    assert_eq!(execution["status"], "SUCCEEDED");
    assert_eq!(execution["stages"][2]["status"], "SUCCEEDED");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deck_stop_with_inputs_fails_the_pipeline() {
    let (orca, reverb) = orca_with_reverb().await;
    let id = orca
        .start_sample_pipeline_with(SamplePipeline::with_inputs(&["ship", "hold"]))
        .await;
    let awaiting = reverb.requests()[4].body_json().expect("json");
    assert_eq!(
        awaiting["additionalContext"]["judgmentInputs"],
        json!([{"value": "ship"}, {"value": "hold"}])
    );

    let judged: Value = client()
        .post(format!("{}/_sandbox/pipelines/{id}/judge", orca.base_url()))
        .json(&json!({"decision": "stop", "user": "john@doe.com", "input": "hold"}))
        .send()
        .await
        .expect("judge")
        .json()
        .await
        .expect("json");
    assert_eq!(judged["stages"][1]["context"]["judgmentStatus"], "stop");
    let finished = eventually(WAIT, || {
        (traffic(&reverb).len() >= 8).then(|| traffic(&reverb))
    })
    .await;
    assert_eq!(
        finished.expect("pipeline finished")[5..],
        [
            "notification:manualJudgmentStop",
            "orca:stage:failed",
            "orca:pipeline:failed"
        ]
    );
    let stopped = reverb.requests()[5].body_json().expect("json");
    assert_eq!(stopped["additionalContext"]["judgmentInput"], "hold");
    assert_eq!(stopped["additionalContext"]["judgedBy"], "john@doe.com");
    let execution = orca.execution(&id).expect("execution");
    assert_eq!(execution["status"], "TERMINAL");
    assert_eq!(execution["stages"][1]["status"], "TERMINAL");
    assert_eq!(execution["stages"][2]["status"], "NOT_STARTED");
    let patches = orca.patches();
    assert!(patches[0].via_deck);
    assert_eq!(patches[0].user.as_deref(), Some("john@doe.com"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_library_judgment_by_mallory_changes_nothing_downstream() {
    let (orca, reverb) = orca_with_reverb().await;
    let id = orca.start_sample_pipeline().await;
    orca.judge(&id, Judgment::Continue, "mallory@example.com", None)
        .expect("judged");
    let reverted = eventually(WAIT, || {
        (orca.stage(&id, "2")?["context"]["judgmentStatus"] == "").then_some(())
    })
    .await;
    assert!(reverted.is_some());
    assert_eq!(orca.stage(&id, "2").expect("stage")["status"], "RUNNING");
    assert_eq!(traffic(&reverb).len(), 5, "nothing new was sent");
    assert!(
        orca.judge("nope", Judgment::Stop, "jane@example.com", None)
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn down_and_delay_apply_to_orca_endpoints_but_not_to_controls() {
    let orca = start_fake_orca(FakeOrcaConfig::default())
        .await
        .expect("orca");
    orca.put_execution(running_execution());
    let http = client();
    orca.set_down(true);
    let down = http
        .get(format!("{}/pipelines/{EXECUTION}", orca.base_url()))
        .send()
        .await
        .expect("get");
    assert_eq!(down.status().as_u16(), 503);
    let patched = patch(
        &orca,
        EXECUTION,
        STAGE,
        Some("jane@example.com"),
        &json!({"judgmentStatus": "continue"}),
    )
    .await;
    assert_eq!(patched.status().as_u16(), 503);
    assert!(orca.patches().is_empty());
    let controls = http
        .get(format!("{}/_sandbox/pipelines", orca.base_url()))
        .send()
        .await
        .expect("controls");
    assert_eq!(controls.status().as_u16(), 200);
    http.post(format!("{}/_sandbox/down", orca.base_url()))
        .json(&json!({"down": false}))
        .send()
        .await
        .expect("up");
    let up = http
        .get(format!("{}/pipelines/{EXECUTION}", orca.base_url()))
        .send()
        .await
        .expect("get");
    assert_eq!(up.status().as_u16(), 200);

    orca.set_delay(Duration::from_millis(300));
    let started = std::time::Instant::now();
    http.get(format!("{}/pipelines/{EXECUTION}", orca.base_url()))
        .send()
        .await
        .expect("get");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_pipelines_route_starts_a_sample() {
    let (orca, reverb) = orca_with_reverb().await;
    let started: Value = client()
        .post(format!("{}/_sandbox/pipelines", orca.base_url()))
        .send()
        .await
        .expect("start")
        .json()
        .await
        .expect("json");
    let id = started["id"].as_str().expect("id");
    assert!(orca.execution(id).is_some());
    assert_eq!(
        traffic(&reverb).last().map(String::as_str),
        Some("notification:manualJudgment")
    );
}
