//! The sample pipeline the fake Orca can run: Build → Manual Judgment → Deploy, in the JSON shape
//! Orca sends to Echo (docs/echo-contract.md, "How Orca writes JSON").

use serde_json::{Value, json};

use crate::ids::new_ulid;

/// Options for [`super::FakeOrca::start_sample_pipeline_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamplePipeline {
    pub application: String,
    pub name: String,
    /// The judgment's options (`judgmentInputs`); empty by default.
    pub judgment_inputs: Vec<String>,
    /// `selectedStageRoles` of the judgment stage; the judging user must be in one of them.
    pub required_roles: Vec<String>,
    /// Where the judgment notifications go (stage notification `address`).
    pub approvals_channel: String,
    /// Where pipeline and Deploy stage notifications go.
    pub deploys_channel: String,
    /// Who triggered the pipeline (`trigger.user`, `authentication.user`).
    pub trigger_user: String,
    pub instructions: String,
}

impl Default for SamplePipeline {
    fn default() -> Self {
        Self {
            application: "myapp".to_owned(),
            name: "deploy-prod".to_owned(),
            judgment_inputs: Vec::new(),
            required_roles: vec!["release-managers".to_owned()],
            approvals_channel: "#deploy-approvals".to_owned(),
            deploys_channel: "#deploys".to_owned(),
            trigger_user: "jane@example.com".to_owned(),
            instructions: "Check the canary dashboard before approving.".to_owned(),
        }
    }
}

impl SamplePipeline {
    /// The default sample with judgment inputs (e.g. `["ship", "hold"]`).
    pub fn with_inputs(inputs: &[&str]) -> Self {
        Self {
            judgment_inputs: inputs.iter().map(|input| (*input).to_owned()).collect(),
            ..Self::default()
        }
    }
}

/// refIds of the three stages.
pub(crate) const BUILD_REF: &str = "1";
pub(crate) const JUDGMENT_REF: &str = "2";
pub(crate) const DEPLOY_REF: &str = "3";

fn task(implementing_class: &str, name: &str) -> Value {
    json!({
        "id": "1",
        "implementingClass": implementing_class,
        "name": name,
        "startTime": null,
        "endTime": null,
        "status": "NOT_STARTED",
        "stageStart": true,
        "stageEnd": true,
        "loopStart": false,
        "loopEnd": false,
        "taskExceptionDetails": {},
    })
}

fn stage(
    ref_id: &str,
    kind: &str,
    name: &str,
    requisites: &[&str],
    context: Value,
    task: Value,
) -> Value {
    json!({
        "id": new_ulid(),
        "refId": ref_id,
        "type": kind,
        "name": name,
        "startTime": null,
        "endTime": null,
        "startTimeExpiry": null,
        "status": "NOT_STARTED",
        "context": context,
        "outputs": {},
        "tasks": [task],
        "syntheticStageOwner": null,
        "parentStageId": null,
        "requisiteStageRefIds": requisites,
        "scheduledTime": null,
        "lastModified": null,
        "additionalMetricTags": null,
    })
}

/// A new RUNNING execution with every stage NOT_STARTED.
pub(crate) fn build_execution(id: &str, options: &SamplePipeline, now: i64) -> Value {
    let judgment_inputs: Vec<Value> = options
        .judgment_inputs
        .iter()
        .map(|input| json!({"value": input}))
        .collect();
    let build = stage(
        BUILD_REF,
        "jenkins",
        "Build",
        &[],
        json!({
            "master": "jenkins",
            "job": format!("{}-build", options.application),
            "sendNotifications": true,
            "notifications": [{
                "type": "slack",
                "address": options.deploys_channel,
                "level": "stage",
                "when": ["stage.failed"],
            }],
        }),
        task(
            "com.netflix.spinnaker.orca.igor.tasks.MonitorJenkinsJobTask",
            "monitorJenkinsJob",
        ),
    );
    let judgment = stage(
        JUDGMENT_REF,
        "manualJudgment",
        "Approve production",
        &[BUILD_REF],
        json!({
            "failPipeline": true,
            "instructions": options.instructions,
            "judgmentInputs": judgment_inputs,
            "propagateAuthenticationContext": true,
            "selectedStageRoles": options.required_roles,
            "sendNotifications": true,
            "notifications": [{
                "type": "slack",
                "address": options.approvals_channel,
                "level": "stage",
                "when": ["manualJudgment", "manualJudgmentContinue", "manualJudgmentStop"],
                "message": {"manualJudgment": {"text": format!("{} prod deploy needs approval", options.application)}},
                "notifyEveryMs": -1,
            }],
        }),
        task(
            "com.netflix.spinnaker.orca.echo.pipeline.ManualJudgmentStage$WaitForManualJudgmentTask",
            "waitForJudgment",
        ),
    );
    let deploy = stage(
        DEPLOY_REF,
        "deploy",
        "Deploy to prod",
        &[JUDGMENT_REF],
        json!({
            "clusters": [{
                "account": "prod-aws",
                "application": options.application,
                "stack": "prod",
                "provider": "aws",
                "region": "us-east-1",
            }],
            "sendNotifications": true,
            "stageDetails": {"name": "Deploy to prod", "isSynthetic": false},
            "notifications": [{
                "type": "slack",
                "address": options.deploys_channel,
                "level": "stage",
                "when": ["stage.complete", "stage.failed"],
                "message": {"stage.complete": {"text": "Deploy finished :rocket:"}},
            }],
        }),
        task(
            "com.netflix.spinnaker.orca.clouddriver.tasks.servergroup.CreateServerGroupTask",
            "createServerGroup",
        ),
    );
    json!({
        "type": "PIPELINE",
        "id": id,
        "application": options.application,
        "name": options.name,
        "buildTime": now,
        "canceled": false,
        "canceledBy": null,
        "cancellationReason": null,
        "limitConcurrent": true,
        "maxConcurrentExecutions": 0,
        "keepWaitingPipelines": false,
        "stages": [build, judgment, deploy],
        "startTime": now,
        "endTime": null,
        "startTimeExpiry": null,
        "status": "RUNNING",
        "authentication": {"user": options.trigger_user, "allowedAccounts": ["prod-aws"]},
        "paused": null,
        "origin": "deck",
        "trigger": {
            "type": "manual",
            "correlationId": null,
            "user": options.trigger_user,
            "parameters": {},
            "artifacts": [],
            "notifications": [],
            "rebake": false,
            "dryRun": false,
            "strategy": false,
            "resolvedExpectedArtifacts": [],
            "other": {},
        },
        "description": null,
        "pipelineConfigId": "3f6c2b1e-9a4d-4c1b-8e2f-5a7d9c0b1e23",
        "source": null,
        "notifications": [{
            "type": "slack",
            "address": options.deploys_channel,
            "level": "pipeline",
            "when": ["pipeline.starting", "pipeline.complete", "pipeline.failed"],
        }],
        "initialConfig": {},
        "systemNotifications": [],
        "spelEvaluator": null,
        "templateVariables": null,
        "partition": null,
    })
}
