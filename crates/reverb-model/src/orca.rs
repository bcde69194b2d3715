//! The parts of an Orca execution Reverb reads. Everything else is kept as JSON.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An Orca execution (pipeline or orchestration), as Orca's plain Jackson mapper writes it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub application: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub canceled: Option<bool>,
    #[serde(default)]
    pub stages: Option<Vec<Stage>>,
    #[serde(default)]
    pub trigger: Option<Value>,
}

impl Execution {
    /// The stage with the given `refId` (what manual-judgment notifications carry as `stageId`).
    pub fn stage_by_ref_id(&self, ref_id: &str) -> Option<&Stage> {
        self.stages
            .as_deref()?
            .iter()
            .find(|s| s.ref_id.as_deref() == Some(ref_id))
    }

    /// The stage with the given unique id.
    pub fn stage_by_id(&self, id: &str) -> Option<&Stage> {
        self.stages
            .as_deref()?
            .iter()
            .find(|s| s.id.as_deref() == Some(id))
    }
}

/// An Orca stage.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub ref_id: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub context: Option<Map<String, Value>>,
    #[serde(default)]
    pub last_modified: Option<Value>,
}

impl Stage {
    pub fn context_value(&self, key: &str) -> Option<&Value> {
        self.context.as_ref()?.get(key)
    }

    /// `judgmentStatus` lower-cased; `None` when unset or empty (not judged, or reverted).
    pub fn judgment_status(&self) -> Option<String> {
        let s = self.context_value("judgmentStatus")?.as_str()?.trim();
        (!s.is_empty()).then(|| s.to_lowercase())
    }

    /// The values of `judgmentInputs` (`[{"value": ...}]`).
    pub fn judgment_inputs(&self) -> Vec<String> {
        self.context_value("judgmentInputs")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i.get("value").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn is_manual_judgment(&self) -> bool {
        self.kind.as_deref() == Some("manualJudgment")
    }

    pub fn is_running(&self) -> bool {
        self.status.as_deref() == Some("RUNNING")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_stage_and_reads_judgment() {
        let e: Execution = serde_json::from_str(
            r#"{"id":"e","stages":[{"id":"01X","refId":"1","type":"manualJudgment","status":"RUNNING",
                "context":{"judgmentStatus":"Continue","judgmentInputs":[{"value":"ship"},{"value":"hold"}]}}]}"#,
        )
        .unwrap();
        let s = e.stage_by_ref_id("1").unwrap();
        assert_eq!(s.id.as_deref(), Some("01X"));
        assert_eq!(s.judgment_status().as_deref(), Some("continue"));
        assert_eq!(s.judgment_inputs(), vec!["ship", "hold"]);
        assert!(s.is_manual_judgment() && s.is_running());
        assert!(e.stage_by_id("01X").is_some());
        assert!(e.stage_by_ref_id("2").is_none());
    }
}
