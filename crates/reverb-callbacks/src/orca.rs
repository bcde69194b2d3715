//! The two Orca calls a judgment needs, exactly as Deck makes them through Gate:
//! `GET /pipelines/{id}` and `PATCH /pipelines/{id}/stages/{stageId}`.

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reverb_model::Execution;
use serde_json::json;

use crate::peer::{Peer, PeerFailure, path_segment, send};
use crate::resolution::Decision;

/// The header Orca (behind Gate) reads the caller's identity from.
pub(crate) const SPINNAKER_USER_HEADER: &str = "X-SPINNAKER-USER";
/// The accounts the caller may write to; Orca hands them to the stages after a judgment.
pub(crate) const SPINNAKER_ACCOUNTS_HEADER: &str = "X-SPINNAKER-ACCOUNTS";

#[derive(Clone)]
pub(crate) struct OrcaClient {
    peer: Peer,
}

impl OrcaClient {
    pub(crate) fn new(http: reqwest::Client, base_url: &str, timeout: Duration) -> Self {
        Self {
            peer: Peer::new(http, base_url, timeout),
        }
    }

    pub(crate) async fn execution(&self, execution_id: &str) -> Result<Execution, PeerFailure> {
        let path = format!("/pipelines/{}", path_segment(execution_id));
        self.peer.get_json(&path, "the execution").await
    }

    /// Record a judgment. Orca answers an empty 200 when the update failed inside, so success
    /// here only means "sent"; the caller reads the stage back.
    pub(crate) async fn judge(
        &self,
        execution_id: &str,
        stage_id: &str,
        decision: Decision,
        judgment_input: Option<&str>,
        user: &str,
        accounts: Option<&str>,
    ) -> Result<(), PeerFailure> {
        let url = format!(
            "{}/pipelines/{}/stages/{}",
            self.peer.base_url,
            path_segment(execution_id),
            path_segment(stage_id)
        );
        let body = json!({
            "judgmentStatus": decision.as_str(),
            "judgmentInput": judgment_input,
        });
        let mut request = self
            .peer
            .http
            .patch(url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .header(SPINNAKER_USER_HEADER, user)
            .timeout(self.peer.timeout)
            .body(body.to_string());
        if let Some(accounts) = accounts {
            request = request.header(SPINNAKER_ACCOUNTS_HEADER, accounts);
        }
        send(request).await.map(|_| ())
    }
}
