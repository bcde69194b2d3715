//! The fake Fiat: `UserPermission.View` as Fiat writes it, 404s, request log, faults, controls.

use std::collections::BTreeSet;
use std::time::Duration;

use reverb_sandbox::fiat::UNRESTRICTED_USER;
use reverb_sandbox::{
    FakeFiat, FakeFiatConfig, FiatAuthorization, FiatFailure, FiatUser, start_fake_fiat,
};
use serde_json::{Value, json};

use crate::support::client;

async fn fiat() -> FakeFiat {
    start_fake_fiat(FakeFiatConfig::default())
        .await
        .expect("fiat")
}

/// `(status, content type, raw body)` of a GET.
async fn get(url: &str) -> (u16, String, String) {
    let response = client().get(url).send().await.expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, response.text().await.expect("body"))
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .map(|map| map.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    i64::try_from(since.as_millis()).expect("ms")
}

#[tokio::test(flavor = "multi_thread")]
async fn authorize_answers_the_user_permission_view_as_fiat_prints_it() {
    let fiat = fiat().await;
    let (status, content_type, text) =
        get(&format!("{}/authorize/Jane@Example.COM", fiat.base_url())).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/json");
    // Fiat's ObjectMapper indents (INDENT_OUTPUT) in Jackson's style, fields in View's order.
    assert!(
        text.starts_with("{\n  \"name\" : \"jane@example.com\",\n  \"accounts\" : [ {\n    \"name\" : \"audit-aws\",\n    \"authorizations\" : [ \"READ\" ]\n  }, {"),
        "{text}"
    );
    assert!(text.contains("\"extensionResources\" : { },"), "{text}");
    assert!(text.contains("\"serviceAccounts\" : [ ],"), "{text}");
    let view = json_of(&text);
    assert_eq!(
        view,
        json!({
            "name": "jane@example.com",
            "accounts": [
                {"name": "audit-aws", "authorizations": ["READ"]},
                {"name": "prod-aws", "authorizations": ["READ", "WRITE"]},
                {"name": "staging-aws", "authorizations": ["READ", "WRITE"]}
            ],
            "applications": [{"name": "myapp", "authorizations": ["READ", "WRITE", "EXECUTE"]}],
            "serviceAccounts": [],
            "roles": [
                {"name": "release-managers", "source": "FILE"},
                {"name": "developers", "source": "FILE"}
            ],
            "buildServices": [],
            "extensionResources": {},
            "admin": false,
            "accountManager": false,
            "legacyFallback": false,
            "allowAccessToUnknownApplications": false
        })
    );
    assert_eq!(fiat.view("JANE@example.com"), Some(view));

    let requests = fiat.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/authorize/Jane@Example.COM");
    assert_eq!(requests[0].user_id.as_deref(), Some("Jane@Example.COM"));
    assert_eq!(requests[0].status, 200);
    assert_eq!(fiat.request_count("jane@example.com"), 1);
    assert_eq!(fiat.request_count("john@doe.com"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_seed_user_has_what_the_sandbox_promises() {
    let fiat = fiat().await;
    let view = |user: &str| fiat.view(user).unwrap_or_else(|| panic!("{user} seeded"));
    let roles = |view: &Value| -> Vec<String> {
        view["roles"]
            .as_array()
            .expect("roles")
            .iter()
            .map(|role| role["name"].as_str().expect("name").to_owned())
            .collect()
    };
    let john = view("john@doe.com");
    assert_eq!(roles(&john), ["release-managers"]);
    assert_eq!(
        john["applications"],
        json!([{"name": "myapp", "authorizations": ["READ", "EXECUTE"]}])
    );
    assert_eq!(
        john["accounts"],
        json!([{"name": "staging-aws", "authorizations": ["READ", "WRITE"]}])
    );
    let mallory = view("mallory@example.com");
    assert_eq!(roles(&mallory), ["developers"]);
    assert_eq!(
        mallory["applications"][0]["authorizations"],
        json!(["READ", "EXECUTE"])
    );
    let viewer = view("viewer@example.com");
    assert!(roles(&viewer).is_empty());
    assert_eq!(
        viewer["applications"],
        json!([{"name": "myapp", "authorizations": ["READ"]}])
    );
    let admin = view("admin@example.com");
    assert_eq!(admin["admin"], true);
    assert!(roles(&admin).is_empty());
    assert_eq!(admin["applications"], json!([]));
    // `anonymous` is Fiat's unrestricted user.
    let (status, _, text) = get(&format!("{}/authorize/anonymous", fiat.base_url())).await;
    assert_eq!(status, 200);
    assert_eq!(json_of(&text)["name"], UNRESTRICTED_USER);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_user_gets_fiats_not_found() {
    let fiat = fiat().await;
    let before = now_ms();
    let (status, content_type, text) =
        get(&format!("{}/authorize/Nobody@Example.com", fiat.base_url())).await;
    assert_eq!(status, 404);
    assert_eq!(content_type, "application/json");
    let body = json_of(&text);
    assert_eq!(
        keys(&body),
        BTreeSet::from(["timestamp", "status", "error", "exception", "message"]),
        "kork drops `path`"
    );
    assert_eq!(body["status"], 404);
    assert_eq!(body["error"], "Not Found");
    assert_eq!(
        body["exception"],
        "com.netflix.spinnaker.kork.web.exceptions.NotFoundException"
    );
    assert_eq!(body["message"], "user not found: Nobody@Example.com");
    let timestamp = body["timestamp"].as_i64().expect("epoch ms");
    assert!(timestamp >= before && timestamp <= now_ms(), "{timestamp}");
    assert_eq!(fiat.requests()[0].status, 404);
    assert_eq!(fiat.request_count("nobody@example.com"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn sub_resources_and_the_authorization_check() {
    let fiat = fiat().await;
    let base = fiat.base_url();
    let (_, _, roles) = get(&format!("{base}/authorize/jane@example.com/roles")).await;
    assert_eq!(json_of(&roles).as_array().map(Vec::len), Some(2));
    let (_, _, apps) = get(&format!("{base}/authorize/viewer@example.com/applications")).await;
    assert_eq!(
        json_of(&apps),
        json!([{"name": "myapp", "authorizations": ["READ"]}])
    );
    let (status, _, account) = get(&format!(
        "{base}/authorize/jane@example.com/accounts/PROD-AWS"
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        json_of(&account),
        json!({"name": "prod-aws", "authorizations": ["READ", "WRITE"]})
    );
    let (status, _, missing) = get(&format!(
        "{base}/authorize/jane@example.com/accounts/nope-aws"
    ))
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        json_of(&missing)["message"],
        "user not found: jane@example.com"
    );
    for (path, expected) in [
        ("viewer@example.com/applications/myapp/READ", 200),
        ("viewer@example.com/applications/myapp/EXECUTE", 404),
        ("mallory@example.com/application/MyApp/execute", 200),
        ("jane@example.com/accounts/audit-aws/WRITE", 404),
        ("admin@example.com/applications/myapp/EXECUTE", 404),
        ("nobody@example.com/applications/myapp/READ", 404),
        ("jane@example.com/clusters/x/READ", 400),
    ] {
        let (status, _, _) = get(&format!("{base}/authorize/{path}")).await;
        assert_eq!(status, expected, "{path}");
    }
    // An admin is granted everything on what is listed for them, nothing else.
    fiat.put_user(
        FiatUser::new("admin@example.com")
            .with_application("myapp", &[FiatAuthorization::Read])
            .as_admin(),
    );
    let (status, _, _) = get(&format!(
        "{base}/authorize/admin@example.com/applications/myapp/EXECUTE"
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        fiat.view("admin@example.com").expect("admin")["applications"][0]["authorizations"],
        json!(["READ", "WRITE", "EXECUTE", "CREATE"])
    );
    let health = get(&format!("{base}/health")).await;
    assert_eq!(health.0, 200);
    assert!(
        fiat.requests()
            .iter()
            .all(|request| request.path != "/health"),
        "health is not Fiat traffic"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn injected_failures_and_the_down_switch() {
    let fiat = fiat().await;
    let url = format!("{}/authorize/jane@example.com", fiat.base_url());
    fiat.fail_next(2, FiatFailure::Status(503));
    let statuses: Vec<u16> = {
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(get(&url).await.0);
        }
        statuses
    };
    assert_eq!(statuses, [503, 503, 200]);
    let recorded: Vec<u16> = fiat.requests().iter().map(|r| r.status).collect();
    assert_eq!(recorded, [503, 503, 200]);
    assert_eq!(fiat.request_count("jane@example.com"), 3);

    fiat.set_down(true);
    let (status, _, text) = get(&url).await;
    assert_eq!(status, 503);
    assert_eq!(json_of(&text)["error"], "Service Unavailable");
    fiat.set_down(false);
    assert_eq!(get(&url).await.0, 200);

    // A hanging Fiat: the caller times out; the request is logged on arrival, unanswered.
    fiat.clear_requests();
    fiat.fail_next(1, FiatFailure::Hang(Duration::from_secs(30)));
    let timed_out = client()
        .get(&url)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(timed_out.is_err_and(|err| err.is_timeout()));
    let pending = fiat.requests();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].status, 0, "still unanswered");
    assert_eq!(get(&url).await.0, 200, "only one request hangs");
}

#[tokio::test(flavor = "multi_thread")]
async fn control_routes_change_users_settings_and_faults_at_runtime() {
    let fiat = fiat().await;
    let base = fiat.base_url();
    let http = client();
    let put: Value = http
        .put(format!("{base}/_sandbox/users/Carol@Example.com"))
        .json(&json!({
            "roles": [{"name": "Release-Managers", "source": "LDAP"}],
            "applications": [{"name": "otherapp", "authorizations": ["EXECUTE", "READ", "READ"]}]
        }))
        .send()
        .await
        .expect("put")
        .json()
        .await
        .expect("json");
    assert_eq!(put["ok"], true);
    assert_eq!(put["user"]["name"], "carol@example.com");
    let (status, _, text) = get(&format!("{base}/authorize/CAROL@example.com")).await;
    assert_eq!(status, 200);
    let carol = json_of(&text);
    assert_eq!(
        carol["roles"],
        json!([{"name": "release-managers", "source": "LDAP"}])
    );
    assert_eq!(
        carol["applications"][0]["authorizations"],
        json!(["READ", "EXECUTE"])
    );

    let settings: Value = http
        .post(format!("{base}/_sandbox/settings"))
        .json(&json!({"allowAccessToUnknownApplications": true}))
        .send()
        .await
        .expect("settings")
        .json()
        .await
        .expect("json");
    assert_eq!(settings["allowAccessToUnknownApplications"], true);
    assert_eq!(
        fiat.view("carol@example.com").expect("carol")["allowAccessToUnknownApplications"],
        true
    );

    let counts: Value = http
        .get(format!("{base}/_sandbox/requests/counts"))
        .send()
        .await
        .expect("counts")
        .json()
        .await
        .expect("json");
    assert_eq!(counts, json!({"carol@example.com": 1}));

    let queued = http
        .post(format!("{base}/_sandbox/faults"))
        .json(&json!({"times": 1, "status": 500}))
        .send()
        .await
        .expect("faults");
    assert_eq!(queued.status().as_u16(), 200);
    assert_eq!(
        get(&format!("{base}/authorize/carol@example.com")).await.0,
        500
    );
    let bad = http
        .post(format!("{base}/_sandbox/faults"))
        .json(&json!({"times": 1}))
        .send()
        .await
        .expect("faults");
    assert_eq!(bad.status().as_u16(), 400);

    let deleted: Value = http
        .delete(format!("{base}/_sandbox/users/carol@example.com"))
        .send()
        .await
        .expect("delete")
        .json()
        .await
        .expect("json");
    assert_eq!(deleted["removed"], true);
    assert_eq!(
        get(&format!("{base}/authorize/carol@example.com")).await.0,
        404
    );

    let listed: Value = http
        .get(format!("{base}/_sandbox/requests"))
        .send()
        .await
        .expect("requests")
        .json()
        .await
        .expect("json");
    let statuses: Vec<u64> = listed
        .as_array()
        .expect("list")
        .iter()
        .map(|request| request["status"].as_u64().expect("status"))
        .collect();
    assert_eq!(statuses, [200, 500, 404]);
    assert_eq!(listed[0]["userId"], "CAROL@example.com");

    http.post(format!("{base}/_sandbox/reset"))
        .send()
        .await
        .expect("reset");
    assert!(fiat.requests().is_empty());
    assert!(fiat.user("carol@example.com").is_none());
    assert_eq!(
        fiat.view("jane@example.com").expect("jane")["allowAccessToUnknownApplications"],
        false
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn configured_users_replace_the_seed() {
    let fiat = start_fake_fiat(FakeFiatConfig {
        users: vec![FiatUser::new("Solo@Example.com").with_roles(&["ops"])],
        allow_access_to_unknown_applications: true,
        ..FakeFiatConfig::default()
    })
    .await
    .expect("fiat");
    assert_eq!(fiat.users().len(), 1);
    assert!(fiat.view("jane@example.com").is_none());
    let (status, _, text) = get(&format!("{}/authorize/solo@example.com", fiat.base_url())).await;
    assert_eq!(status, 200);
    let view = json_of(&text);
    assert_eq!(view["allowAccessToUnknownApplications"], true);
    assert_eq!(view["roles"], json!([{"name": "ops", "source": "FILE"}]));
    let url = format!("{}/authorize/solo@example.com", fiat.base_url());
    fiat.stop().await;
    assert!(client().get(url).send().await.is_err(), "stopped");
}

#[tokio::test(flavor = "multi_thread")]
async fn non_ascii_user_ids_are_decoded_and_lower_cased() {
    let fiat = fiat().await;
    fiat.put_user(FiatUser::new("JÖHN@EXÄMPLE.COM").with_roles(&["release-managers"]));
    assert_eq!(
        fiat.user("jöhn@exämple.com").map(|user| user.name),
        Some("jöhn@exämple.com".to_owned())
    );
    let (status, _, text) = get(&format!(
        "{}/authorize/J%C3%96HN@ex%C3%A4mple.com",
        fiat.base_url()
    ))
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(json_of(&text)["name"], "jöhn@exämple.com");
    assert_eq!(
        fiat.requests()[0].user_id.as_deref(),
        Some("JÖHN@exämple.com")
    );
    assert_eq!(fiat.request_count("jöhn@EXÄMPLE.com"), 1);
    assert_eq!(fiat.request_counts().get("jöhn@exämple.com"), Some(&1));
}
