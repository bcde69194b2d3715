//! The fake Orca's executions as HTML, Deck-style: each execution with its stages and their
//! statuses, a judge form on a running manual judgment, and a log of what went to Reverb and
//! which PATCHes came back.

use std::collections::HashMap;

use serde_json::Value;

use super::html::{clock_utc, escape};
use crate::ids::epoch_ms;
use crate::orca::{DeliveryKind, OrcaDelivery, OrcaPatch};

/// Who may be named in the judge form by default: a release manager, so the judgment sticks.
const DEFAULT_JUDGE: &str = "jane@example.com";
/// The activity log shows this many recent entries.
const ACTIVITY_ROWS: usize = 40;

fn str_of<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn context_str<'a>(stage: &'a Value, key: &str) -> Option<&'a str> {
    stage
        .get("context")
        .and_then(|context| str_of(context, key))
        .filter(|text| !text.is_empty())
}

/// A CSS class for an Orca status (`RUNNING` → `status-running`); only letters and `_` survive.
fn status_class(status: &str) -> String {
    let cleaned: String = status
        .chars()
        .filter(|c| c.is_ascii_alphabetic() || *c == '_')
        .collect();
    format!("status-{}", cleaned.to_ascii_lowercase())
}

fn status_pill(status: &str) -> String {
    format!(
        r#"<span class="status-pill {}">{}</span>"#,
        status_class(status),
        escape(status)
    )
}

fn time_ms(value: Option<&Value>) -> Option<i64> {
    value.and_then(Value::as_i64).filter(|ms| *ms > 0)
}

fn time_html(ms: i64) -> String {
    let secs = ms / 1000;
    format!(
        r#"<time data-epoch="{secs}">{} UTC</time>"#,
        clock_utc(secs)
    )
}

/// Every execution, newest first.
pub(crate) fn executions(list: &[Value], role_members: &HashMap<String, Vec<String>>) -> String {
    if list.is_empty() {
        return r#"<div class="empty">No executions yet. Start the sample pipeline above.</div>"#
            .to_owned();
    }
    list.iter()
        .rev()
        .map(|execution| execution_html(execution, role_members))
        .collect()
}

fn execution_html(execution: &Value, role_members: &HashMap<String, Vec<String>>) -> String {
    let id = str_of(execution, "id").unwrap_or_default();
    let status = str_of(execution, "status").unwrap_or("UNKNOWN");
    let started = time_ms(execution.get("startTime"));
    let ended = time_ms(execution.get("endTime"));
    let trigger_user = execution
        .get("trigger")
        .and_then(|trigger| str_of(trigger, "user"))
        .unwrap_or("anonymous");
    let mut meta = vec![
        format!("<code>{}</code>", escape(id)),
        format!("triggered by {}", escape(trigger_user)),
    ];
    if let Some(started) = started {
        meta.push(format!("started {}", time_html(started)));
    }
    if let (Some(started), Some(ended)) = (started, ended) {
        let took = (ended - started).max(0);
        meta.push(format!("took {}.{}s", took / 1000, (took % 1000) / 100));
    }
    let stages: Vec<&Value> = execution
        .get("stages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let stage_boxes: String = stages.iter().map(|stage| stage_html(stage)).collect();
    let judge_forms: String = stages
        .iter()
        .filter(|stage| {
            str_of(stage, "type") == Some("manualJudgment")
                && str_of(stage, "status") == Some("RUNNING")
        })
        .map(|stage| judge_form(id, stage, role_members))
        .collect();
    format!(
        r#"<section class="execution {}" data-execution="{}" data-status="{}"><header class="exec-head"><span class="app">{}</span><span class="pipeline-name">{}</span>{}</header><div class="exec-meta">{}</div><ol class="stages">{stage_boxes}</ol>{judge_forms}</section>"#,
        status_class(status),
        escape(id),
        escape(status),
        escape(str_of(execution, "application").unwrap_or_default()),
        escape(str_of(execution, "name").unwrap_or_default()),
        status_pill(status),
        meta.join(" · "),
    )
}

fn stage_html(stage: &Value) -> String {
    let status = str_of(stage, "status").unwrap_or("UNKNOWN");
    let kind = str_of(stage, "type").unwrap_or_default();
    let mut notes = Vec::new();
    if kind == "manualJudgment" {
        let judged = context_str(stage, "judgmentStatus");
        let by = context_str(stage, "lastModifiedBy");
        match (judged, by, status) {
            (Some(judged), by, _) => {
                let mut note = format!("judged <b>{}</b>", escape(judged));
                if let Some(by) = by {
                    note.push_str(&format!(" by {}", escape(by)));
                }
                if let Some(input) = context_str(stage, "judgmentInput") {
                    note.push_str(&format!(" (input <b>{}</b>)", escape(input)));
                }
                notes.push(note);
            }
            // Orca cleared the decision of a judge without the required role and kept waiting.
            (None, Some(by), "RUNNING") => notes.push(format!(
                r#"<span class="reverted">judgment by {} reverted: not in a required role</span>"#,
                escape(by)
            )),
            _ => {}
        }
    }
    let notes: String = notes
        .iter()
        .map(|note| format!(r#"<div class="stage-note">{note}</div>"#))
        .collect();
    format!(
        r#"<li class="stage {}" data-ref="{}" data-type="{}" data-status="{}"><div class="stage-name">{}</div><div class="stage-type">{}</div>{}{notes}</li>"#,
        status_class(status),
        escape(str_of(stage, "refId").unwrap_or_default()),
        escape(kind),
        escape(status),
        escape(str_of(stage, "name").unwrap_or_default()),
        escape(kind),
        status_pill(status),
    )
}

fn roles_of(stage: &Value) -> Vec<String> {
    let list = |key: &str| -> Vec<String> {
        stage
            .get("context")
            .and_then(|context| context.get(key))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    let required = list("requiredJudgmentRoles");
    if required.is_empty() {
        list("selectedStageRoles")
    } else {
        required
    }
}

/// Deck's judgment panel: options, who judges, Continue / Stop.
fn judge_form(
    execution_id: &str,
    stage: &Value,
    role_members: &HashMap<String, Vec<String>>,
) -> String {
    let id = escape(execution_id);
    let mut out = format!(
        r#"<div class="judge" data-execution="{id}"><div class="judge-title">Manual judgment: {}</div>"#,
        escape(str_of(stage, "name").unwrap_or("Manual Judgment"))
    );
    if let Some(instructions) = context_str(stage, "instructions") {
        out.push_str(&format!(
            r#"<div class="instructions">{}</div>"#,
            escape(instructions)
        ));
    }
    let roles = roles_of(stage);
    if !roles.is_empty() {
        let described: Vec<String> = roles
            .iter()
            .map(|role| {
                let members = role_members
                    .get(role)
                    .map(|members| members.join(", "))
                    .unwrap_or_else(|| "nobody".to_owned());
                format!("{} ({})", escape(role), escape(&members))
            })
            .collect();
        out.push_str(&format!(
            r#"<div class="judge-roles">Only members of {} can judge; Orca silently reverts anyone else.</div>"#,
            described.join(", ")
        ));
    }
    let inputs: Vec<&str> = stage
        .get("context")
        .and_then(|context| context.get("judgmentInputs"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|input| str_of(input, "value"))
        .collect();
    out.push_str(r#"<div class="judge-row">"#);
    if !inputs.is_empty() {
        let options: String = inputs
            .iter()
            .map(|input| {
                format!(
                    r#"<option value="{}">{}</option>"#,
                    escape(input),
                    escape(input)
                )
            })
            .collect();
        out.push_str(&format!(
            r#"<label>Option <select name="input" data-keep="input:{id}"><option value="">(none)</option>{options}</select></label>"#
        ));
    }
    out.push_str(&format!(
        r#"<label>Judge as <input name="user" type="text" value="{DEFAULT_JUDGE}" data-keep="user:{id}" spellcheck="false"></label><button type="button" class="sk-btn primary" data-decision="continue">Continue</button><button type="button" class="sk-btn danger" data-decision="stop">Stop</button></div></div>"#
    ));
    out
}

/// What went to Reverb and which PATCHes came in, newest first.
pub(crate) fn activity(deliveries: &[OrcaDelivery], patches: &[OrcaPatch]) -> String {
    let mut rows: Vec<(i64, String)> = Vec::new();
    for delivery in deliveries {
        let answer = match (delivery.status, &delivery.error) {
            (Some(status), _) => format!(
                r#"<span class="{}">HTTP {status}</span>"#,
                if status < 300 { "ok" } else { "bad" }
            ),
            (None, Some(error)) => format!(r#"<span class="bad">{}</span>"#, escape(error)),
            (None, None) => String::new(),
        };
        let (path, label) = match delivery.kind {
            DeliveryKind::Event => ("POST /", delivery.label.as_str()),
            DeliveryKind::Notification => ("POST /notifications", delivery.label.as_str()),
        };
        rows.push((
            epoch_ms(delivery.sent_at),
            format!(
                r#"<span class="dir out">&#8594; Reverb</span> <code>{path}</code> {} {answer}"#,
                escape(label)
            ),
        ));
    }
    for patch in patches {
        let decision = patch
            .body
            .get("judgmentStatus")
            .and_then(Value::as_str)
            .unwrap_or("?");
        let input = patch
            .body
            .get("judgmentInput")
            .and_then(Value::as_str)
            .map(|input| format!(" input={}", escape(input)))
            .unwrap_or_default();
        let source = if patch.via_deck { "Deck" } else { "Reverb" };
        rows.push((
            epoch_ms(patch.received_at),
            format!(
                r#"<span class="dir in">&#8592; {source}</span> <code>PATCH …/stages/{}</code> judgmentStatus={}{input} as {} <span class="{}">HTTP {}</span>"#,
                escape(&patch.stage_id),
                escape(decision),
                escape(patch.user.as_deref().unwrap_or("anonymous")),
                if patch.status < 300 { "ok" } else { "bad" },
                patch.status
            ),
        ));
    }
    if rows.is_empty() {
        return r#"<li class="empty">Nothing sent or received yet.</li>"#.to_owned();
    }
    rows.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    rows.into_iter()
        .take(ACTIVITY_ROWS)
        .map(|(at, row)| format!("<li>{} {row}</li>", time_html(at)))
        .collect()
}
