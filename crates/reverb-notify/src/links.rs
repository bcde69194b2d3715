//! Deck links and the keys under which delivered messages are recorded.

use reverb_model::OutboundMessage;

/// `{base}/#/applications/{app}/executions/details/{id}`, plus `?refId={stage}` when given.
/// As in Echo, nothing is URL-encoded; a trailing `/` on the base URL is dropped.
pub fn execution_link(
    base_url: &str,
    application: &str,
    execution_id: &str,
    stage_ref_id: Option<&str>,
) -> String {
    let mut link = format!(
        "{}/#/applications/{application}/executions/details/{execution_id}",
        base_url.trim_end_matches('/')
    );
    if let Some(ref_id) = stage_ref_id {
        link.push_str("?refId=");
        link.push_str(ref_id);
    }
    link
}

/// Echo's event link: orchestrations live under `tasks`, everything else under
/// `executions/details`.
pub(crate) fn event_link(
    base_url: &str,
    application: &str,
    kind: &str,
    execution_id: &str,
) -> String {
    let segment = if kind == "orchestration" {
        "tasks"
    } else {
        "executions/details"
    };
    format!(
        "{}/#/applications/{application}/{segment}/{execution_id}",
        base_url.trim_end_matches('/')
    )
}

/// The manual-judgment message of one stage in one channel: `judgment:{exec}:{refId}@{lane}`.
pub fn judgment_ref_key(execution_id: &str, stage_ref_id: &str, address: &str) -> String {
    reverb_model::judgment::judgment_ref_key(
        execution_id,
        stage_ref_id,
        &OutboundMessage::lane_of(address),
    )
}

/// The pipeline message of one execution in one channel (the thread parent):
/// `execution:{exec}@{lane}`.
pub fn execution_ref_key(execution_id: &str, address: &str) -> String {
    format!(
        "execution:{execution_id}@{}",
        OutboundMessage::lane_of(address)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_keys() {
        assert_eq!(
            execution_link("http://spinnaker/", "whatever", "1", Some("3")),
            "http://spinnaker/#/applications/whatever/executions/details/1?refId=3"
        );
        assert_eq!(
            event_link("http://spinnaker", "app", "orchestration", "9"),
            "http://spinnaker/#/applications/app/tasks/9"
        );
        assert_eq!(
            judgment_ref_key("E", "1", "#Deploy-Approvals"),
            "judgment:E:1@deploy-approvals"
        );
        assert_eq!(execution_ref_key("E", "deploys"), "execution:E@deploys");
    }
}
