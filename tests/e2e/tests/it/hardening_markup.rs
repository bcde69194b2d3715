//! Slack markup from executions stays inert, against the real binary: a hostile stage `refId`
//! and build number reach Slack percent-encoded or escaped, never as a ping or a foreign link
//! (docs/security.md, "Slack markup").

use serde_json::json;

use crate::slackops::{self, Harness, Setup};

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_ref_id_and_build_number_cannot_ping_or_link() {
    let h = Harness::start(Setup::interactive()).await;
    let hostile = "3>|x <!channel> <https://evil.example|Open Spinnaker";
    let mut notification = slackops::fixture("orca/notification-manual-judgment");
    notification["additionalContext"]["stageId"] = json!(hostile);
    notification["additionalContext"]["execution"]["trigger"]["buildInfo"] =
        json!({"number": "<!here>", "url": "https://ci.example/job/1"});
    let (status, body) = h.notify(&notification).await;
    assert_eq!(status, 200, "{body}");
    let message = h.wait_posted("#deploy-approvals", 1).await.remove(0);
    let everything = serde_json::to_string(&message.blocks).unwrap()
        + &serde_json::to_string(&message.attachments).unwrap()
        + &message.text;
    for live in ["<!channel>", "<!here>", "<https://evil.example"] {
        assert!(!everything.contains(live), "{live} in {everything}");
    }
    assert!(
        everything.contains("refId=3%3E%7Cx%20%3C!channel%3E"),
        "the refId stays inside the link: {everything}"
    );
}
