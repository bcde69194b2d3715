//! Everything the fake Slack knows: workspace (channels, users, messages), the request log,
//! injected faults and rate-limit buckets. Shared by the Web API, the hooks, the control API and
//! (later) the browser pages, which only need the read accessors.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime};

use serde_json::Value;

use super::model::{
    Failure, SlackAuth, SlackCall, SlackChannel, SlackStats, SlackStoredMessage, SlackUser,
};
use super::rate_limit::RateLimiter;
use crate::ids::TsClock;

/// Names that are never auto-created, so tests can provoke `channel_not_found`.
pub const REJECTED_CHANNEL_NAMES: &[&str] = &[
    "does-not-exist",
    "nonexistent",
    "no-such-channel",
    "unknown-channel",
    "missing-channel",
];

/// Settings a reset returns to.
#[derive(Debug, Clone)]
pub(crate) struct InitialSettings {
    pub(crate) rate_per_sec: f64,
    pub(crate) burst: u32,
    pub(crate) interactivity_url: Option<String>,
    pub(crate) scopes: Vec<String>,
}

pub struct SlackState {
    base_url: String,
    signing_secret: String,
    token_prefixes: Vec<String>,
    initial: InitialSettings,
    pub(crate) http: reqwest::Client,
    pub(crate) runtime: tokio::runtime::Handle,
    data: Mutex<SlackData>,
}

/// A `response_url` handed out with a click.
#[derive(Debug, Clone)]
pub(crate) struct ResponseUrl {
    pub(crate) channel: String,
    pub(crate) message_ts: String,
    pub(crate) user: String,
    /// Legacy `interactive_message` clicks replace the original by default.
    pub(crate) legacy: bool,
    pub(crate) issued: Instant,
    pub(crate) uses: u32,
}

#[derive(Debug)]
pub(crate) struct ChannelRecord {
    pub(crate) info: SlackChannel,
    pub(crate) messages: Vec<SlackStoredMessage>,
    pub(crate) ephemerals: Vec<SlackStoredMessage>,
}

#[derive(Debug)]
pub(crate) struct SlackData {
    pub(crate) channels: Vec<ChannelRecord>,
    pub(crate) users: Vec<SlackUser>,
    calls: Vec<SlackCall>,
    next_call_id: u64,
    faults: Vec<(String, Failure)>,
    pub(crate) limiter: RateLimiter,
    rate_limited: usize,
    pub(crate) response_urls: HashMap<String, ResponseUrl>,
    pub(crate) clock: TsClock,
    auto_channels: u32,
    pub(crate) interactivity_url: Option<String>,
    /// The scopes granted to the token (`x-oauth-scopes`).
    pub(crate) scopes: Vec<String>,
}

/// Why a channel argument could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChannelProblem {
    NotFound,
    Archived,
    NotInChannel,
}

impl ChannelProblem {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::NotFound => "channel_not_found",
            Self::Archived => "is_archived",
            Self::NotInChannel => "not_in_channel",
        }
    }
}

fn seed_channels() -> Vec<ChannelRecord> {
    let mut channels = vec![
        SlackChannel::public("C0GENERAL01", "general"),
        SlackChannel::public("C0DEPLOYS01", "deploys"),
        SlackChannel::public("C0DEPLOY01", "deploy-approvals"),
        SlackChannel::public("C0ALERTS01", "alerts"),
    ];
    let mut archived = SlackChannel::public("C0ARCHIVE01", "archived");
    archived.is_archived = true;
    let mut private = SlackChannel::public("G0NOINVITE1", "private-noinvite");
    private.is_private = true;
    private.is_member = false;
    channels.push(archived);
    channels.push(private);
    channels
        .into_iter()
        .map(|info| ChannelRecord {
            info,
            messages: Vec::new(),
            ephemerals: Vec::new(),
        })
        .collect()
}

/// The team of the seeded user from another organisation (a Slack Connect channel member).
pub const OTHER_TEAM_ID: &str = "T0OTHER001";

fn seed_users() -> Vec<SlackUser> {
    let mut bot = SlackUser::new(super::BOT_USER_ID, "reverb", "Reverb", None);
    bot.is_bot = true;
    bot.bot_id = Some(super::BOT_ID.to_owned());
    let mut guest = SlackUser::new(
        "U0GUEST001",
        "guest",
        "Guest User",
        Some("guest@example.com"),
    );
    guest.is_restricted = true;
    // Slack flags single-channel guests as both restricted and ultra restricted.
    let mut single_guest = SlackUser::new(
        "U0SGUEST01",
        "sguest",
        "Single-Channel Guest",
        Some("sguest@example.com"),
    );
    single_guest.is_restricted = true;
    single_guest.is_ultra_restricted = true;
    let mut gone = SlackUser::new("U0GONE0001", "gone", "Gone User", Some("gone@example.com"));
    gone.deleted = true;
    let mut deploy_bot = SlackUser::new("U0BOT00001", "deploybot", "Deploy Bot", None);
    deploy_bot.is_bot = true;
    deploy_bot.bot_id = Some("B0BOT00001".to_owned());
    let mut extern_user = SlackUser::new(
        "U0EXTERN01",
        "extern",
        "External Person",
        Some("extern@other.example"),
    );
    extern_user.team_id = OTHER_TEAM_ID.to_owned();
    vec![
        SlackUser::new("U0JANE0001", "jane", "Jane Doe", Some("jane@example.com")),
        SlackUser::new("U0JOHN0001", "john.doe", "John Doe", Some("john@doe.com")),
        SlackUser::new(
            "U0MALLORY1",
            "mallory",
            "Mallory",
            Some("mallory@example.com"),
        ),
        SlackUser::new("U0NOEMAIL1", "noemail", "No Email", None),
        SlackUser::new(
            "U0VIEWER01",
            "viewer",
            "Vic Viewer",
            Some("viewer@example.com"),
        ),
        SlackUser::new(
            "U0ADMIN001",
            "admin",
            "Ada Admin",
            Some("admin@example.com"),
        ),
        guest,
        single_guest,
        gone,
        deploy_bot,
        extern_user,
        SlackUser::new(
            "U0WEIRD001",
            "jane.doe",
            "Jane Doe (odd e-mail)",
            Some("  Jane.Doe@Example.COM "),
        ),
        SlackUser::new(
            "U0UNICOD01",
            "john.u",
            "Jöhn Ümlaut",
            Some("jöhn@exämple.com"),
        ),
        bot,
    ]
}

/// Ids are upper-case letters and digits (`C0GENERAL01`, `U0JANE0001`); names are lower case.
fn looks_like_id(text: &str) -> bool {
    text.len() >= 2
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn valid_channel_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 80
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl SlackData {
    fn new(initial: &InitialSettings) -> Self {
        Self {
            channels: seed_channels(),
            users: seed_users(),
            calls: Vec::new(),
            next_call_id: 1,
            faults: Vec::new(),
            limiter: RateLimiter::new(initial.rate_per_sec, initial.burst),
            rate_limited: 0,
            response_urls: HashMap::new(),
            clock: TsClock::default(),
            auto_channels: 0,
            interactivity_url: initial.interactivity_url.clone(),
            scopes: initial.scopes.clone(),
        }
    }

    /// Back to the seed workspace; call ids keep counting so old ids stay unambiguous.
    fn reset(&mut self, initial: &InitialSettings) {
        let next_call_id = self.next_call_id;
        *self = Self::new(initial);
        self.next_call_id = next_call_id;
    }

    pub(crate) fn channel_by_id(&self, id: &str) -> Option<usize> {
        self.channels.iter().position(|record| record.info.id == id)
    }

    pub(crate) fn user(&self, id: &str) -> Option<&SlackUser> {
        self.users.iter().find(|user| user.id == id)
    }

    pub(crate) fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|granted| granted == scope)
    }

    /// Finds an existing conversation by id, `#name`, `name` or user id (their DM).
    pub(crate) fn find_channel(&self, reference: &str) -> Option<usize> {
        let reference = reference.trim().trim_start_matches('#');
        if looks_like_id(reference) {
            if reference.starts_with(['U', 'W']) {
                return self
                    .channels
                    .iter()
                    .position(|record| record.info.user.as_deref() == Some(reference));
            }
            return self.channel_by_id(reference);
        }
        let name = reference.to_ascii_lowercase();
        self.channels
            .iter()
            .position(|record| !record.info.is_im && record.info.name == name)
    }

    /// Resolves a `channel` argument for posting, as chat.postMessage does: ids, names with or
    /// without `#`, user ids (opening the bot's DM). Unknown names are created on the fly unless
    /// rejected, so tests can use any channel name.
    pub(crate) fn resolve_for_post(&mut self, reference: &str) -> Result<usize, ChannelProblem> {
        let index = self.find_or_create(reference)?;
        let info = &self.channels[index].info;
        if info.is_archived {
            return Err(ChannelProblem::Archived);
        }
        if !info.is_member {
            return Err(ChannelProblem::NotInChannel);
        }
        Ok(index)
    }

    fn find_or_create(&mut self, reference: &str) -> Result<usize, ChannelProblem> {
        if let Some(index) = self.find_channel(reference) {
            return Ok(index);
        }
        let reference = reference.trim().trim_start_matches('#');
        if looks_like_id(reference) {
            if reference.starts_with(['U', 'W']) && self.user(reference).is_some() {
                return Ok(self.open_dm(reference));
            }
            return Err(ChannelProblem::NotFound);
        }
        let name = reference.to_ascii_lowercase();
        if !valid_channel_name(&name) || REJECTED_CHANNEL_NAMES.contains(&name.as_str()) {
            return Err(ChannelProblem::NotFound);
        }
        self.auto_channels += 1;
        let id = format!("C9AUTO{:05}", self.auto_channels);
        Ok(self.push_channel(SlackChannel::public(&id, &name)))
    }

    fn open_dm(&mut self, user: &str) -> usize {
        let mut dm = SlackChannel::public(
            &format!("D{}", user.get(1..).unwrap_or_default()),
            "directmessage",
        );
        dm.is_im = true;
        dm.is_private = true;
        dm.user = Some(user.to_owned());
        self.push_channel(dm)
    }

    fn push_channel(&mut self, info: SlackChannel) -> usize {
        self.channels.push(ChannelRecord {
            info,
            messages: Vec::new(),
            ephemerals: Vec::new(),
        });
        self.channels.len() - 1
    }

    pub(crate) fn message_mut(
        &mut self,
        channel: usize,
        ts: &str,
    ) -> Option<&mut SlackStoredMessage> {
        self.channels
            .get_mut(channel)?
            .messages
            .iter_mut()
            .find(|message| message.ts == ts)
    }

    pub(crate) fn next_ts(&mut self) -> String {
        self.clock.next()
    }
}

impl SlackState {
    pub(crate) fn new(
        base_url: String,
        signing_secret: String,
        token_prefixes: Vec<String>,
        initial: InitialSettings,
        http: reqwest::Client,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        let data = Mutex::new(SlackData::new(&initial));
        Self {
            base_url,
            signing_secret,
            token_prefixes,
            initial,
            http,
            runtime,
            data,
        }
    }

    /// The lock is never held across an await; a panic elsewhere must not wedge the fake.
    pub(crate) fn data(&self) -> MutexGuard<'_, SlackData> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn signing_secret(&self) -> &str {
        &self.signing_secret
    }

    pub(crate) fn token_is_valid(&self, token: &str) -> bool {
        self.token_prefixes
            .iter()
            .any(|prefix| token.starts_with(prefix.as_str()))
    }

    pub fn interactivity_url(&self) -> Option<String> {
        self.data().interactivity_url.clone()
    }

    pub fn set_interactivity_url(&self, url: Option<String>) {
        self.data().interactivity_url = url;
    }

    /// The scopes the token has (what `x-oauth-scopes` lists).
    pub fn scopes(&self) -> Vec<String> {
        self.data().scopes.clone()
    }

    /// Grants exactly these scopes from now on (a reset returns to the configured ones).
    pub fn set_scopes(&self, scopes: Vec<String>) {
        self.data().scopes = scopes;
    }

    pub fn calls(&self) -> Vec<SlackCall> {
        self.data().calls.clone()
    }

    pub fn channels(&self) -> Vec<SlackChannel> {
        self.data()
            .channels
            .iter()
            .map(|record| record.info.clone())
            .collect()
    }

    pub fn channel(&self, reference: &str) -> Option<SlackChannel> {
        let data = self.data();
        data.find_channel(reference)
            .map(|index| data.channels[index].info.clone())
    }

    /// Current messages of a conversation (id, `#name`, `name` or a user id for the DM).
    pub fn messages(&self, channel: &str) -> Vec<SlackStoredMessage> {
        let data = self.data();
        data.find_channel(channel)
            .map(|index| data.channels[index].messages.clone())
            .unwrap_or_default()
    }

    /// Ephemeral messages shown in a conversation (each visible to one user only).
    pub fn ephemerals(&self, channel: &str) -> Vec<SlackStoredMessage> {
        let data = self.data();
        data.find_channel(channel)
            .map(|index| data.channels[index].ephemerals.clone())
            .unwrap_or_default()
    }

    pub fn users(&self) -> Vec<SlackUser> {
        self.data().users.clone()
    }

    pub fn stats(&self) -> SlackStats {
        let data = self.data();
        SlackStats {
            calls: data.calls.len(),
            rate_limited: data.rate_limited,
        }
    }

    pub fn add_user(&self, user: SlackUser) {
        let mut data = self.data();
        data.users.retain(|existing| existing.id != user.id);
        data.users.push(user);
    }

    /// Adds (or replaces, by id) a conversation, e.g. another archived or private channel.
    pub fn add_channel(&self, channel: SlackChannel) {
        let mut data = self.data();
        if let Some(index) = data.channel_by_id(&channel.id) {
            data.channels[index].info = channel;
        } else {
            data.push_channel(channel);
        }
    }

    /// Stores a message as if it had been posted earlier (its `channel` is the channel's id or
    /// name); false when there is no such channel.
    pub fn put_message(&self, mut message: SlackStoredMessage) -> bool {
        let mut data = self.data();
        let Some(index) = data.find_channel(&message.channel) else {
            return false;
        };
        message.channel = data.channels[index].info.id.clone();
        let messages = &mut data.channels[index].messages;
        messages.retain(|existing| existing.ts != message.ts);
        messages.push(message);
        true
    }

    /// Accepts posts to `key` (a `response_url`'s path after `/actions/`) as the response_url of
    /// message `message_ts` in `channel`, clicked by `user`; false when there is no such channel.
    pub fn issue_response_url(
        &self,
        key: &str,
        channel: &str,
        message_ts: &str,
        user: &str,
        legacy: bool,
    ) -> bool {
        let mut data = self.data();
        let Some(index) = data.find_channel(channel) else {
            return false;
        };
        let channel = data.channels[index].info.id.clone();
        data.response_urls.insert(
            key.to_owned(),
            ResponseUrl {
                channel,
                message_ts: message_ts.to_owned(),
                user: user.to_owned(),
                legacy,
                issued: Instant::now(),
                uses: 0,
            },
        );
        true
    }

    pub fn fail_next(&self, method: &str, times: usize, failure: Failure) {
        let mut data = self.data();
        data.faults
            .extend(std::iter::repeat_n((method.to_owned(), failure), times));
    }

    pub fn set_rate_limit(&self, per_sec: f64, burst: u32) {
        self.data().limiter.configure(per_sec, burst);
    }

    /// Forgets messages, calls, faults and counters; back to the configuration it started with.
    pub fn reset(&self) {
        self.data().reset(&self.initial);
    }

    /// Logs a request as it arrives (so the log keeps arrival order even when an answer is
    /// delayed) and takes the next fault queued for its method, if any.
    pub(crate) fn begin_call(&self, call: PendingCall) -> (u64, Option<Failure>) {
        let mut data = self.data();
        let id = data.next_call_id;
        data.next_call_id += 1;
        let fault = data
            .faults
            .iter()
            .position(|(method, _)| method == &call.method || method == "*")
            .map(|index| data.faults.remove(index).1);
        data.calls.push(SlackCall {
            id,
            method: call.method,
            http_method: call.http_method,
            path: call.path,
            auth: call.auth,
            content_type: call.content_type,
            args: call.args,
            status: 0,
            response: Value::Null,
            received_at: call.received_at,
            received_at_system: call.received_at_system,
        });
        (id, fault)
    }

    pub(crate) fn finish_call(&self, id: u64, status: u16, response: Value) {
        let mut data = self.data();
        if status == 429 {
            data.rate_limited += 1;
        }
        if let Some(call) = data.calls.iter_mut().rev().find(|call| call.id == id) {
            call.status = status;
            call.response = response;
        }
    }
}

/// A request about to be logged.
#[derive(Debug)]
pub(crate) struct PendingCall {
    pub(crate) method: String,
    pub(crate) http_method: String,
    pub(crate) path: String,
    pub(crate) auth: Option<SlackAuth>,
    pub(crate) content_type: Option<String>,
    pub(crate) args: Value,
    pub(crate) received_at: Instant,
    pub(crate) received_at_system: SystemTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> SlackData {
        SlackData::new(&InitialSettings {
            rate_per_sec: 1.0,
            burst: 3,
            interactivity_url: None,
            scopes: Vec::new(),
        })
    }

    #[test]
    fn resolves_names_ids_and_users() {
        let mut data = data();
        let by_name = data.resolve_for_post("#deploy-approvals").expect("seeded");
        assert_eq!(data.channels[by_name].info.id, "C0DEPLOY01");
        assert_eq!(data.resolve_for_post("deploy-approvals"), Ok(by_name));
        assert_eq!(data.resolve_for_post("C0DEPLOY01"), Ok(by_name));
        let dm = data.resolve_for_post("U0JANE0001").expect("a DM");
        assert_eq!(data.channels[dm].info.id, "D0JANE0001");
        assert_eq!(data.find_channel("U0JANE0001"), Some(dm));
    }

    #[test]
    fn unknown_channels_are_created_unless_rejected() {
        let mut data = data();
        let created = data.resolve_for_post("#team-x").expect("auto-created");
        assert!(data.channels[created].info.id.starts_with('C'));
        assert_eq!(data.resolve_for_post("team-x"), Ok(created));
        assert_eq!(
            data.resolve_for_post("#does-not-exist"),
            Err(ChannelProblem::NotFound)
        );
        assert_eq!(
            data.resolve_for_post("C0NOPE0001"),
            Err(ChannelProblem::NotFound)
        );
        assert_eq!(
            data.resolve_for_post("U0NOBODY01"),
            Err(ChannelProblem::NotFound)
        );
        assert_eq!(
            data.resolve_for_post("#archived"),
            Err(ChannelProblem::Archived)
        );
        assert_eq!(
            data.resolve_for_post("private-noinvite"),
            Err(ChannelProblem::NotInChannel)
        );
    }
}
