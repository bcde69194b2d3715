//! Addresses as Spinnaker users write them: a channel (`#chan`, `chan`, `C123`), a user
//! (`U123`), or an e-mail address, which becomes that user's DM.

use std::collections::HashMap;
use std::sync::Mutex;

use super::DeliveryEngine;
use super::attempt::SlackApi;
use crate::error::SlackError;

/// User ids found by e-mail (`users.lookupByEmail`), lower-cased address to id, kept for the
/// process's life: a user's id never changes.
#[derive(Default)]
pub(super) struct UsersByEmail(Mutex<HashMap<String, String>>);

impl UsersByEmail {
    fn get(&self, key: &str) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    fn insert(&self, key: String, id: String) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, id);
    }
}

impl DeliveryEngine {
    /// Where `chat.postMessage` sends a post to `address`: the address itself, or for an e-mail
    /// address the user's id (webhooks take addresses as they are).
    pub(super) async fn resolve_address(
        &self,
        client: &dyn SlackApi,
        address: &str,
    ) -> Result<String, SlackError> {
        let address = address.trim();
        if !address.contains('@') || client.is_webhook() {
            return Ok(address.to_string());
        }
        let key = address.to_lowercase();
        if let Some(id) = self.inner.users_by_email.get(&key) {
            return Ok(id);
        }
        let user = self
            .call("users.lookupByEmail", client.lookup_by_email(address))
            .await?;
        self.inner.users_by_email.insert(key, user.id.clone());
        Ok(user.id)
    }
}
