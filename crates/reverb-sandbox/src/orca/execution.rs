//! Reading and changing an execution held as Orca's JSON (stages by id or refId, statuses).

use serde_json::{Map, Value, json};

pub(crate) fn str_of<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

pub(crate) fn stages(execution: &Value) -> impl Iterator<Item = &Value> {
    execution
        .get("stages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn stages_mut(execution: &mut Value) -> impl Iterator<Item = &mut Value> {
    execution
        .get_mut("stages")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

/// A stage by its ULID `id`.
pub(crate) fn stage_by_id<'a>(execution: &'a Value, id: &str) -> Option<&'a Value> {
    stages(execution).find(|stage| str_of(stage, "id") == Some(id))
}

pub(crate) fn stage_by_id_mut<'a>(execution: &'a mut Value, id: &str) -> Option<&'a mut Value> {
    stages_mut(execution).find(|stage| str_of(stage, "id") == Some(id))
}

/// A stage by `id` or, failing that, by `refId`.
pub(crate) fn stage_by_id_or_ref<'a>(execution: &'a Value, key: &str) -> Option<&'a Value> {
    stage_by_id(execution, key)
        .or_else(|| stages(execution).find(|stage| str_of(stage, "refId") == Some(key)))
}

pub(crate) fn stage_by_ref_mut<'a>(
    execution: &'a mut Value,
    ref_id: &str,
) -> Option<&'a mut Value> {
    stages_mut(execution).find(|stage| str_of(stage, "refId") == Some(ref_id))
}

/// The stage's context object, created if missing.
pub(crate) fn context_mut(stage: &mut Value) -> Option<&mut Map<String, Value>> {
    let stage = stage.as_object_mut()?;
    let context = stage.entry("context").or_insert_with(|| json!({}));
    if !context.is_object() {
        *context = json!({});
    }
    context.as_object_mut()
}

pub(crate) fn set(value: &mut Value, key: &str, new: Value) {
    if let Some(map) = value.as_object_mut() {
        map.insert(key.to_owned(), new);
    }
}

/// Starts a stage: RUNNING with a start time, tasks still NOT_STARTED (as in Orca's event).
pub(crate) fn start_stage(stage: &mut Value, now: i64) {
    set(stage, "status", json!("RUNNING"));
    set(stage, "startTime", json!(now));
}

/// Marks the stage's tasks as running.
pub(crate) fn run_tasks(stage: &mut Value, now: i64) {
    for task in stage
        .get_mut("tasks")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        set(task, "status", json!("RUNNING"));
        set(task, "startTime", json!(now));
    }
}

/// Ends a stage and its tasks with `status` (SUCCEEDED, TERMINAL, …).
pub(crate) fn finish_stage(stage: &mut Value, status: &str, now: i64) {
    set(stage, "status", json!(status));
    set(stage, "endTime", json!(now));
    for task in stage
        .get_mut("tasks")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if task.get("startTime").is_none_or(Value::is_null) {
            set(task, "startTime", json!(now));
        }
        set(task, "status", json!(status));
        set(task, "endTime", json!(now));
    }
}

pub(crate) fn finish_execution(execution: &mut Value, status: &str, now: i64) {
    set(execution, "status", json!(status));
    set(execution, "endTime", json!(now));
}

/// The user Orca attributes a stage event to (`X-SPINNAKER-USER`).
pub(crate) fn execution_user(execution: &Value) -> String {
    execution
        .get("authentication")
        .and_then(|auth| str_of(auth, "user"))
        .unwrap_or("anonymous")
        .to_owned()
}
