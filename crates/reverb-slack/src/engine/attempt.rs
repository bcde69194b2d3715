//! One delivery attempt, by each of the four send paths: a post (with its thread and its
//! recorded reference), an edit (after any earlier post of the message it edits), an ephemeral
//! message, a `response_url` reply. Every Slack call runs under the engine's concurrency limit,
//! with metrics.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use reverb_model::outbound::{Ephemeral, Post, ResponseUrlReply, Update};
use reverb_model::{OutboundMessage, SlackClientKind, SlackMessage};
use reverb_store::{MessageRef, StoredMessage};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{DeliveryEngine, SlackClients};
use crate::client::{PostedMessage, SlackClient, SlackUser};
use crate::error::{ErrorClass, SlackError};
use crate::response_url;

/// An answer from Slack, to come.
pub(super) type Answer<'a, T> = Pin<Box<dyn Future<Output = Result<T, SlackError>> + Send + 'a>>;

/// What an attempt asks of Slack. [`SlackClient`] is the real one; the engine's tests stand in
/// for Slack in process, without sockets, so a paused clock drives them deterministically.
pub(super) trait SlackApi: Send + Sync {
    /// Echo's incoming-webhook mode: posts only, no `ts` back, addresses taken as they are.
    fn is_webhook(&self) -> bool;
    fn post_message<'a>(
        &'a self,
        channel: &'a str,
        message: &'a SlackMessage,
        thread_ts: Option<&'a str>,
    ) -> Answer<'a, Option<PostedMessage>>;
    fn update_message<'a>(
        &'a self,
        channel_id: &'a str,
        ts: &'a str,
        message: &'a SlackMessage,
    ) -> Answer<'a, PostedMessage>;
    fn post_ephemeral<'a>(
        &'a self,
        channel: &'a str,
        user: &'a str,
        message: &'a SlackMessage,
    ) -> Answer<'a, ()>;
    fn post_response_url<'a>(&'a self, url: &'a str, body: &'a Value) -> Answer<'a, ()>;
    fn lookup_by_email<'a>(&'a self, email: &'a str) -> Answer<'a, SlackUser>;
}

impl SlackApi for SlackClient {
    fn is_webhook(&self) -> bool {
        SlackClient::is_webhook(self)
    }

    fn post_message<'a>(
        &'a self,
        channel: &'a str,
        message: &'a SlackMessage,
        thread_ts: Option<&'a str>,
    ) -> Answer<'a, Option<PostedMessage>> {
        Box::pin(SlackClient::post_message(self, channel, message, thread_ts))
    }

    fn update_message<'a>(
        &'a self,
        channel_id: &'a str,
        ts: &'a str,
        message: &'a SlackMessage,
    ) -> Answer<'a, PostedMessage> {
        Box::pin(SlackClient::update_message(self, channel_id, ts, message))
    }

    fn post_ephemeral<'a>(
        &'a self,
        channel: &'a str,
        user: &'a str,
        message: &'a SlackMessage,
    ) -> Answer<'a, ()> {
        Box::pin(SlackClient::post_ephemeral(self, channel, user, message))
    }

    fn post_response_url<'a>(&'a self, url: &'a str, body: &'a Value) -> Answer<'a, ()> {
        Box::pin(SlackClient::post_response_url(self, url, body))
    }

    fn lookup_by_email<'a>(&'a self, email: &'a str) -> Answer<'a, SlackUser> {
        Box::pin(SlackClient::lookup_by_email(self, email))
    }
}

/// The engine's two clients.
#[derive(Clone, Default)]
pub(super) struct Clients {
    pub(super) legacy: Option<Arc<dyn SlackApi>>,
    pub(super) app: Option<Arc<dyn SlackApi>>,
}

impl From<SlackClients> for Clients {
    fn from(clients: SlackClients) -> Self {
        let wrap = |c: SlackClient| Arc::new(c) as Arc<dyn SlackApi>;
        Self {
            legacy: clients.legacy.map(wrap),
            app: clients.app.map(wrap),
        }
    }
}

/// How one attempt ended.
pub(super) enum Attempt {
    Delivered(Option<(String, MessageRef)>),
    /// Nothing to do (an update of a message that was never posted).
    Skipped(&'static str),
    Failed(SlackError),
    /// The store could not answer a question the send depends on; nothing was sent.
    StoreFailed(String),
}

fn permanent(method: &'static str, code: &str, detail: String) -> SlackError {
    SlackError {
        method,
        code: code.into(),
        class: ErrorClass::Permanent,
        http_status: None,
        detail: Some(detail),
    }
}

impl DeliveryEngine {
    /// The client for `kind`, or the other one when only that is configured.
    fn client(&self, kind: SlackClientKind) -> Result<Arc<dyn SlackApi>, SlackError> {
        let clients = &self.inner.clients;
        let chosen = match kind {
            SlackClientKind::Legacy => clients.legacy.as_ref().or(clients.app.as_ref()),
            SlackClientKind::App => clients.app.as_ref().or(clients.legacy.as_ref()),
        };
        chosen.cloned().ok_or_else(|| {
            permanent(
                "none",
                "slack_not_configured",
                "no Slack token is configured".into(),
            )
        })
    }

    /// One delivery attempt; `None` when shutdown interrupted the wait before sending.
    pub(super) async fn attempt(
        &self,
        head: &StoredMessage,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Attempt> {
        let client = match self.client(head.message.client()) {
            Ok(c) => c,
            Err(e) => return Some(Attempt::Failed(e)),
        };
        let client = client.as_ref();
        match &head.message {
            OutboundMessage::Post(post) => self.post(client, post, shutdown).await,
            OutboundMessage::Update(update) => self.edit(client, update, head.id, shutdown).await,
            OutboundMessage::Ephemeral(ephemeral) => {
                self.ephemeral(client, ephemeral, shutdown).await
            }
            OutboundMessage::ResponseUrl(reply) => Some(self.reply(client, reply).await),
        }
    }

    /// `chat.update` of the message recorded under the edit's key; when there is none, a post
    /// (`post_if_missing`) or nothing.
    async fn edit(
        &self,
        client: &dyn SlackApi,
        update: &Update,
        id: i64,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Attempt> {
        // The message this edits may still be queued in the channel's lane.
        if !self
            .wait_for_earlier_posts(&update.ref_key, id, shutdown)
            .await
        {
            return None;
        }
        let lookup = update.ref_key.clone();
        let found = self
            .store_call("message_ref", move |s| s.message_ref(&lookup))
            .await;
        Some(match found {
            Err(e) => Attempt::StoreFailed(format!("looking up the message to edit: {e}")),
            Ok(Some(r)) => {
                if !self.pace_method("chat.update", shutdown).await {
                    return None;
                }
                let result = self
                    .call(
                        "chat.update",
                        client.update_message(&r.channel_id, &r.ts, &update.message),
                    )
                    .await;
                match result {
                    Ok(_) => Attempt::Delivered(None),
                    Err(e) => Attempt::Failed(e),
                }
            }
            Ok(None) if update.post_if_missing => {
                return self.post(client, &update.as_post(), shutdown).await;
            }
            Ok(None) => Attempt::Skipped("no message recorded to update"),
        })
    }

    async fn ephemeral(
        &self,
        client: &dyn SlackApi,
        ephemeral: &Ephemeral,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Attempt> {
        if !self.pace_method("chat.postEphemeral", shutdown).await {
            return None;
        }
        let sent = self
            .call(
                "chat.postEphemeral",
                client.post_ephemeral(&ephemeral.channel, &ephemeral.user, &ephemeral.message),
            )
            .await;
        Some(match sent {
            Ok(()) => Attempt::Delivered(None),
            Err(e) => Attempt::Failed(e),
        })
    }

    /// A reply through a `response_url`, rebased onto the configured base.
    async fn reply(&self, client: &dyn SlackApi, reply: &ResponseUrlReply) -> Attempt {
        let url = match response_url::rebase(&self.inner.response_url_base, &reply.url) {
            Ok(url) => url,
            Err(why) => {
                return Attempt::Failed(permanent(
                    "response_url",
                    "invalid_response_url",
                    format!("not sent: {why}"),
                ));
            }
        };
        let mut body = serde_json::to_value(&reply.message).unwrap_or_else(|_| json!({}));
        body["replace_original"] = json!(true);
        match self
            .call("response_url", client.post_response_url(&url, &body))
            .await
        {
            Ok(()) => Attempt::Delivered(None),
            Err(e) => Attempt::Failed(e),
        }
    }

    /// Wait while a post recording `key`, accepted before edit `id`, is still queued: the edit
    /// would otherwise find no message (and be dropped) or edit an older one. False on shutdown.
    async fn wait_for_earlier_posts(
        &self,
        key: &str,
        id: i64,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let mut told = false;
        loop {
            // Register before checking, so a post leaving in between is not missed.
            let settled = self.inner.posts_settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            if !self.lanes().earlier_post_queued(key, id) {
                return true;
            }
            if !told {
                tracing::debug!("the message to edit is not posted yet; the edit waits for it");
                told = true;
            }
            if *shutdown.borrow() {
                return false;
            }
            tokio::select! {
                _ = settled => {}
                _ = shutdown.changed() => return false,
            }
        }
    }

    /// A post: to the address (an e-mail address is the user's DM), in the thread of the message
    /// recorded under `thread_key` when there is one, recorded under `ref_key`.
    async fn post(
        &self,
        client: &dyn SlackApi,
        post: &Post,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Attempt> {
        // Posts are paced per channel, whichever lane they come from.
        let channel_lane = OutboundMessage::lane_of(&post.address);
        let mut channel = match self.resolve_address(client, &post.address).await {
            Ok(c) => c,
            Err(e) => return Some(Attempt::Failed(e)),
        };
        let mut thread_ts = None;
        if let Some(key) = post.thread_key.clone() {
            match self
                .store_call("message_ref", move |s| s.message_ref(&key))
                .await
            {
                Ok(Some(parent)) => {
                    channel = parent.channel_id;
                    thread_ts = Some(parent.ts);
                }
                Ok(None) => {}
                // Never a reply posted outside its thread because the store had a bad moment.
                Err(e) => {
                    return Some(Attempt::StoreFailed(format!(
                        "looking up the thread to reply in: {e}"
                    )));
                }
            }
        }
        if !self.pace_channel(&channel_lane, shutdown).await {
            return None;
        }
        let method = if client.is_webhook() {
            "webhook"
        } else {
            "chat.postMessage"
        };
        let result = self
            .call(
                method,
                client.post_message(&channel, &post.message, thread_ts.as_deref()),
            )
            .await;
        let rate_limited = result.as_ref().err().and_then(SlackError::retry_after);
        self.inner.pacer.book_post(&channel_lane, rate_limited);
        Some(match result {
            Ok(posted) => Attempt::Delivered(match (posted, &post.ref_key) {
                (Some(p), Some(key)) => Some((
                    key.clone(),
                    MessageRef {
                        channel_id: p.channel_id,
                        ts: p.ts,
                    },
                )),
                _ => None,
            }),
            Err(e) => Attempt::Failed(e),
        })
    }

    /// Run one Slack call under the concurrency limit, with metrics.
    pub(super) async fn call<T>(
        &self,
        method: &'static str,
        fut: impl Future<Output = Result<T, SlackError>>,
    ) -> Result<T, SlackError> {
        let _permit = self.inner.permits.acquire().await;
        let started = Instant::now();
        let result = fut.await;
        let m = &self.inner.metrics;
        m.api_latency
            .with_label_values(&[method])
            .observe(started.elapsed().as_secs_f64());
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => match e.class {
                ErrorClass::RateLimited { .. } => {
                    m.rate_limited.with_label_values(&[method]).inc();
                    "rate_limited"
                }
                ErrorClass::Retryable => "retryable_error",
                ErrorClass::Permanent => "permanent_error",
            },
        };
        m.api_calls.with_label_values(&[method, outcome]).inc();
        result
    }
}
