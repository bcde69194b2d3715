//! A message waiting in the outbox: what to send, where, and how later updates find it.
//!
//! [`OutboundMessage`] says what can be sent, each way with only what it needs: a post, an edit,
//! an ephemeral message, a `response_url` reply. In the outbox it is kept as one flat JSON object
//! (the released version's format, field for field; see [`StoredForm`]), so rows written by any
//! version stay readable and are written the same way.

use serde::{Deserialize, Serialize};

use crate::SlackMessage;
use crate::event::EventKind;
use crate::judgment::{judgment_key, judgment_ref_key};

/// How a message reaches Slack (the `method` of the stored form, and a metrics and log label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMethod {
    /// `chat.postMessage` (or the incoming webhook in webhook mode).
    Post,
    /// `chat.update` of the message recorded under a reference key.
    Update,
    /// `chat.postEphemeral`.
    Ephemeral,
    /// A JSON POST to an interaction's `response_url`.
    ResponseUrl,
}

impl DeliveryMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Post => "post",
            Self::Update => "update",
            Self::Ephemeral => "ephemeral",
            Self::ResponseUrl => "response_url",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "post" => Some(Self::Post),
            "update" => Some(Self::Update),
            "ephemeral" => Some(Self::Ephemeral),
            "response_url" => Some(Self::ResponseUrl),
            _ => None,
        }
    }
}

/// Which Slack client sends the message: Echo keeps a legacy bot and an interactive app apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlackClientKind {
    #[default]
    Legacy,
    App,
}

/// What produced a message. Its only use is the `kind` label of the delivery metrics
/// (docs/operations.md): nothing decides anything by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageKind {
    /// An Orca event's message: `pipeline`, `orchestration`, `stage` (or `task`).
    Event(EventKind),
    /// `manualJudgment`: Orca's request for a judgment.
    ManualJudgment,
    /// `manualJudgmentContinue`: Orca's "judged: continue" notification.
    ManualJudgmentContinue,
    /// `manualJudgmentStop`: Orca's "judged: stop" notification.
    ManualJudgmentStop,
    /// `notification`: a plain `POST /notifications`.
    Notification,
    /// `interactive`: a `POST /notifications` with buttons (Keel).
    Interactive,
    /// `judgment_resolved`: the edit that shows how a judgment ended.
    JudgmentResolved,
    /// `click_reply`: what only the clicker sees.
    ClickReply,
    /// `callback_response`: Echo's `response_url` rewrite after a relayed callback.
    CallbackResponse,
    /// A kind this version does not produce, read from an outbox another version wrote: delivered
    /// like any other, counted and stored again under its own name.
    Other(OtherKind),
}

/// The name of a kind this version does not know. Only reading a stored message makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherKind(String);

impl MessageKind {
    /// The metrics label (and the stored `kind`).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Event(kind) => kind.as_str(),
            Self::ManualJudgment => "manualJudgment",
            Self::ManualJudgmentContinue => "manualJudgmentContinue",
            Self::ManualJudgmentStop => "manualJudgmentStop",
            Self::Notification => "notification",
            Self::Interactive => "interactive",
            Self::JudgmentResolved => "judgment_resolved",
            Self::ClickReply => "click_reply",
            Self::CallbackResponse => "callback_response",
            Self::Other(OtherKind(name)) => name,
        }
    }

    /// Read a stored `kind`; never fails (see [`MessageKind::Other`]).
    pub fn parse(s: &str) -> Self {
        if let Some(kind) = EventKind::parse(s) {
            return Self::Event(kind);
        }
        match s {
            "manualJudgment" => Self::ManualJudgment,
            "manualJudgmentContinue" => Self::ManualJudgmentContinue,
            "manualJudgmentStop" => Self::ManualJudgmentStop,
            "notification" => Self::Notification,
            "interactive" => Self::Interactive,
            "judgment_resolved" => Self::JudgmentResolved,
            "click_reply" => Self::ClickReply,
            "callback_response" => Self::CallbackResponse,
            other => Self::Other(OtherKind(other.to_string())),
        }
    }
}

impl From<EventKind> for MessageKind {
    fn from(kind: EventKind) -> Self {
        Self::Event(kind)
    }
}

/// The label, padded as asked (`reverb outbox list` aligns it).
impl std::fmt::Display for MessageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A new message in a channel (`chat.postMessage`, or the incoming webhook).
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    pub kind: MessageKind,
    /// The address as the user wrote it (`#chan`, `chan`, `C123`, `U123`, `a@b.c`).
    pub address: String,
    pub client: SlackClientKind,
    pub message: SlackMessage,
    /// Record where the message landed under this key, for later edits and thread replies.
    pub ref_key: Option<String>,
    /// Reply in the thread of the message recorded under this key, when there is one.
    pub thread_key: Option<String>,
}

impl Post {
    pub fn new(kind: MessageKind, address: impl Into<String>, message: SlackMessage) -> Self {
        Self {
            kind,
            address: address.into(),
            client: SlackClientKind::Legacy,
            message,
            ref_key: None,
            thread_key: None,
        }
    }

    pub fn with_ref_key(mut self, key: impl Into<String>) -> Self {
        self.ref_key = Some(key.into());
        self
    }

    pub fn with_thread_key(mut self, key: impl Into<String>) -> Self {
        self.thread_key = Some(key.into());
        self
    }

    pub fn with_client(mut self, client: SlackClientKind) -> Self {
        self.client = client;
        self
    }
}

/// An edit (`chat.update`) of the message recorded under `ref_key`.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub kind: MessageKind,
    /// The channel of the message, as the user wrote it (its lane, and where a missing message
    /// is posted when `post_if_missing`).
    pub address: String,
    pub client: SlackClientKind,
    pub message: SlackMessage,
    /// The message to edit.
    pub ref_key: String,
    /// Post a new message (recorded under `ref_key`) when nothing was recorded there (the thread
    /// parent case); otherwise an edit with nothing to edit is dropped (the judgment case).
    pub post_if_missing: bool,
    /// Not stored at all when this judgment was already decided through Reverb: the check and
    /// the insert are one transaction, so an edit from Orca's side can never land after (and
    /// overwrite) the richer view a click produced.
    pub unless_judgment_decided: Option<String>,
}

impl Update {
    pub fn new(
        kind: MessageKind,
        address: impl Into<String>,
        ref_key: impl Into<String>,
        message: SlackMessage,
    ) -> Self {
        Self {
            kind,
            address: address.into(),
            client: SlackClientKind::Legacy,
            message,
            ref_key: ref_key.into(),
            post_if_missing: false,
            unless_judgment_decided: None,
        }
    }

    /// Orca's word that a judgment ended (a stage event, a "judged" notification): the edit of
    /// the judgment message posted to `address`. A judgment decided by a click in Slack already
    /// shows who decided and how, so this edit yields to it: the store drops it when the judgment
    /// is decided.
    pub fn judgment_ended_in_orca(
        execution_id: &str,
        stage_ref_id: &str,
        address: &str,
        message: SlackMessage,
    ) -> Self {
        Self {
            unless_judgment_decided: Some(judgment_key(execution_id, stage_ref_id)),
            ..Self::new(
                MessageKind::JudgmentResolved,
                address,
                judgment_ref_key(
                    execution_id,
                    stage_ref_id,
                    &OutboundMessage::lane_of(address),
                ),
                message,
            )
        }
    }

    /// Post the message anew when nothing was recorded under `ref_key`.
    pub fn or_post_if_missing(mut self) -> Self {
        self.post_if_missing = true;
        self
    }

    pub fn with_client(mut self, client: SlackClientKind) -> Self {
        self.client = client;
        self
    }

    /// What is posted instead when there is nothing to edit (`post_if_missing`), recorded under
    /// the same key.
    pub fn as_post(&self) -> Post {
        Post {
            kind: self.kind.clone(),
            address: self.address.clone(),
            client: self.client,
            message: self.message.clone(),
            ref_key: Some(self.ref_key.clone()),
            thread_key: None,
        }
    }
}

/// A message only `user` sees, in `channel` (`chat.postEphemeral`).
#[derive(Debug, Clone, PartialEq)]
pub struct Ephemeral {
    pub kind: MessageKind,
    pub channel: String,
    pub user: String,
    pub client: SlackClientKind,
    pub message: SlackMessage,
}

impl Ephemeral {
    pub fn new(
        kind: MessageKind,
        channel: impl Into<String>,
        user: impl Into<String>,
        message: SlackMessage,
    ) -> Self {
        Self {
            kind,
            channel: channel.into(),
            user: user.into(),
            client: SlackClientKind::Legacy,
            message,
        }
    }

    pub fn with_client(mut self, client: SlackClientKind) -> Self {
        self.client = client;
        self
    }
}

/// A replacement of an interaction's message through its `response_url`. The Slack app's HTTP
/// client sends it (the legacy one when there is no app): a `response_url` needs no token.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseUrlReply {
    pub kind: MessageKind,
    /// The URL from the click payload: untrusted text, and a credential for that message.
    pub url: String,
    pub message: SlackMessage,
}

impl ResponseUrlReply {
    pub fn new(kind: MessageKind, url: impl Into<String>, message: SlackMessage) -> Self {
        Self {
            kind,
            url: url.into(),
            message,
        }
    }
}

/// One message to deliver.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(from = "StoredForm", into = "StoredForm")]
pub enum OutboundMessage {
    Post(Post),
    Update(Update),
    Ephemeral(Ephemeral),
    ResponseUrl(ResponseUrlReply),
}

impl From<Post> for OutboundMessage {
    fn from(m: Post) -> Self {
        Self::Post(m)
    }
}

impl From<Update> for OutboundMessage {
    fn from(m: Update) -> Self {
        Self::Update(m)
    }
}

impl From<Ephemeral> for OutboundMessage {
    fn from(m: Ephemeral) -> Self {
        Self::Ephemeral(m)
    }
}

impl From<ResponseUrlReply> for OutboundMessage {
    fn from(m: ResponseUrlReply) -> Self {
        Self::ResponseUrl(m)
    }
}

impl OutboundMessage {
    /// A [`Post`] (chain its builders, then `.into()`).
    pub fn post(kind: MessageKind, address: impl Into<String>, message: SlackMessage) -> Post {
        Post::new(kind, address, message)
    }

    /// An [`Update`] of the message recorded under `ref_key`.
    pub fn update(
        kind: MessageKind,
        address: impl Into<String>,
        ref_key: impl Into<String>,
        message: SlackMessage,
    ) -> Update {
        Update::new(kind, address, ref_key, message)
    }

    /// An [`Ephemeral`] message for `user` in `channel`.
    pub fn ephemeral(
        kind: MessageKind,
        channel: impl Into<String>,
        user: impl Into<String>,
        message: SlackMessage,
    ) -> Ephemeral {
        Ephemeral::new(kind, channel, user, message)
    }

    /// A [`ResponseUrlReply`] to `url`.
    pub fn response_url(
        kind: MessageKind,
        url: impl Into<String>,
        message: SlackMessage,
    ) -> ResponseUrlReply {
        ResponseUrlReply::new(kind, url, message)
    }

    pub fn kind(&self) -> &MessageKind {
        match self {
            Self::Post(m) => &m.kind,
            Self::Update(m) => &m.kind,
            Self::Ephemeral(m) => &m.kind,
            Self::ResponseUrl(m) => &m.kind,
        }
    }

    pub fn method(&self) -> DeliveryMethod {
        match self {
            Self::Post(_) => DeliveryMethod::Post,
            Self::Update(_) => DeliveryMethod::Update,
            Self::Ephemeral(_) => DeliveryMethod::Ephemeral,
            Self::ResponseUrl(_) => DeliveryMethod::ResponseUrl,
        }
    }

    pub fn message(&self) -> &SlackMessage {
        match self {
            Self::Post(m) => &m.message,
            Self::Update(m) => &m.message,
            Self::Ephemeral(m) => &m.message,
            Self::ResponseUrl(m) => &m.message,
        }
    }

    /// The client that sends it.
    pub fn client(&self) -> SlackClientKind {
        match self {
            Self::Post(m) => m.client,
            Self::Update(m) => m.client,
            Self::Ephemeral(m) => m.client,
            Self::ResponseUrl(_) => SlackClientKind::App,
        }
    }

    /// Where it goes as the producer wrote it: the channel address, or the `response_url` (a
    /// credential: never log it).
    pub fn destination(&self) -> &str {
        match self {
            Self::Post(m) => &m.address,
            Self::Update(m) => &m.address,
            Self::Ephemeral(m) => &m.channel,
            Self::ResponseUrl(m) => &m.url,
        }
    }

    /// The judgment whose decision through Reverb makes the store leave this message out.
    pub fn unless_judgment_decided(&self) -> Option<&str> {
        match self {
            Self::Update(m) => m.unless_judgment_decided.as_deref(),
            _ => None,
        }
    }

    /// The channel's ordering lane, as the store records it: messages to the same channel go
    /// out in acceptance order. `#chan` and `chan` are one channel, as Slack treats them.
    pub fn lane(&self) -> String {
        match self {
            Self::ResponseUrl(_) => "response_url".to_string(),
            other => Self::lane_of(other.destination()),
        }
    }

    /// The lane of a channel address, for building keys before a message exists.
    pub fn lane_of(address: &str) -> String {
        address.trim_start_matches('#').to_lowercase()
    }
}

/// The outbox's JSON for a message: flat, one object for every method, with exactly the field
/// names, defaults and omissions of the released version. Only serde sees it.
#[derive(Deserialize, Serialize)]
struct StoredForm {
    kind: String,
    address: String,
    method: DeliveryMethod,
    #[serde(default)]
    client: SlackClientKind,
    message: SlackMessage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ref_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    thread_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ephemeral_user: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    post_if_missing: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unless_judgment_decided: Option<String>,
}

impl From<StoredForm> for OutboundMessage {
    /// Fields a method does not use are ignored; a missing one it needs reads as empty, as the
    /// released version read it (an edit of key `""` finds nothing to edit).
    fn from(s: StoredForm) -> Self {
        let kind = MessageKind::parse(&s.kind);
        match s.method {
            DeliveryMethod::Post => Self::Post(Post {
                kind,
                address: s.address,
                client: s.client,
                message: s.message,
                ref_key: s.ref_key,
                thread_key: s.thread_key,
            }),
            DeliveryMethod::Update => Self::Update(Update {
                kind,
                address: s.address,
                client: s.client,
                message: s.message,
                ref_key: s.ref_key.unwrap_or_default(),
                post_if_missing: s.post_if_missing,
                unless_judgment_decided: s.unless_judgment_decided,
            }),
            DeliveryMethod::Ephemeral => Self::Ephemeral(Ephemeral {
                kind,
                channel: s.address,
                user: s.ephemeral_user.unwrap_or_default(),
                client: s.client,
                message: s.message,
            }),
            DeliveryMethod::ResponseUrl => Self::ResponseUrl(ResponseUrlReply {
                kind,
                url: s.address,
                message: s.message,
            }),
        }
    }
}

impl From<OutboundMessage> for StoredForm {
    fn from(m: OutboundMessage) -> Self {
        let method = m.method();
        let client = m.client();
        let blank = |kind: MessageKind, address: String, message: SlackMessage| StoredForm {
            kind: kind.as_str().to_string(),
            address,
            method,
            client,
            message,
            ref_key: None,
            thread_key: None,
            ephemeral_user: None,
            post_if_missing: false,
            unless_judgment_decided: None,
        };
        match m {
            OutboundMessage::Post(p) => StoredForm {
                ref_key: p.ref_key,
                thread_key: p.thread_key,
                ..blank(p.kind, p.address, p.message)
            },
            OutboundMessage::Update(u) => StoredForm {
                ref_key: Some(u.ref_key),
                post_if_missing: u.post_if_missing,
                unless_judgment_decided: u.unless_judgment_decided,
                ..blank(u.kind, u.address, u.message)
            },
            OutboundMessage::Ephemeral(e) => StoredForm {
                ephemeral_user: Some(e.user),
                ..blank(e.kind, e.channel, e.message)
            },
            OutboundMessage::ResponseUrl(r) => blank(r.kind, r.url, r.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows as the released version wrote them (serialized by that code, before the enum): one
    /// for each way the producers build a message.
    const RELEASED_ROWS: [&str; 7] = [
        r##"{"kind":"pipeline","address":"#deploys","method":"post","client":"legacy","message":{"text":"p","blocks":[{"type":"section"}],"link_names":true},"ref_key":"execution:E@deploys"}"##,
        r#"{"kind":"stage","address":"deploys","method":"post","client":"legacy","message":{"text":"s","blocks":[{"type":"section"}],"link_names":true},"thread_key":"execution:E@deploys"}"#,
        r#"{"kind":"pipeline","address":"deploys","method":"update","client":"legacy","message":{"text":"u","blocks":[{"type":"section"}],"link_names":true},"ref_key":"execution:E@deploys","post_if_missing":true}"#,
        r##"{"kind":"judgment_resolved","address":"#approvals","method":"update","client":"app","message":{"text":"j","blocks":[{"type":"section"}],"link_names":true},"ref_key":"judgment:E:1@approvals","unless_judgment_decided":"judgment:E:1"}"##,
        r#"{"kind":"click_reply","address":"C1","method":"ephemeral","client":"app","message":{"text":"e","blocks":[{"type":"section"}],"link_names":true},"ephemeral_user":"U1"}"#,
        r#"{"kind":"callback_response","address":"https://hooks.slack.com/actions/T/1/x","method":"response_url","client":"app","message":{"text":"r","blocks":[{"type":"section"}],"link_names":true}}"#,
        r#"{"kind":"notification","address":"a@b.c","method":"post","client":"legacy","message":{"text":"n"}}"#,
    ];

    fn m(text: &str) -> SlackMessage {
        SlackMessage {
            text: text.into(),
            blocks: Some(vec![serde_json::json!({"type": "section"})]),
            attachments: None,
            link_names: true,
        }
    }

    #[test]
    fn rows_of_the_released_version_read_and_are_written_back_unchanged() {
        let expected: [OutboundMessage; 7] = [
            Post::new(EventKind::Pipeline.into(), "#deploys", m("p"))
                .with_ref_key("execution:E@deploys")
                .into(),
            Post::new(EventKind::Stage.into(), "deploys", m("s"))
                .with_thread_key("execution:E@deploys")
                .into(),
            Update::new(
                EventKind::Pipeline.into(),
                "deploys",
                "execution:E@deploys",
                m("u"),
            )
            .or_post_if_missing()
            .into(),
            Update::judgment_ended_in_orca("E", "1", "#approvals", m("j"))
                .with_client(SlackClientKind::App)
                .into(),
            Ephemeral::new(MessageKind::ClickReply, "C1", "U1", m("e"))
                .with_client(SlackClientKind::App)
                .into(),
            ResponseUrlReply::new(
                MessageKind::CallbackResponse,
                "https://hooks.slack.com/actions/T/1/x",
                m("r"),
            )
            .into(),
            Post::new(
                MessageKind::Notification,
                "a@b.c",
                SlackMessage {
                    text: "n".into(),
                    ..SlackMessage::default()
                },
            )
            .into(),
        ];
        for (row, message) in RELEASED_ROWS.iter().zip(expected) {
            let read: OutboundMessage = serde_json::from_str(row).expect(row);
            assert_eq!(read, message, "{row}");
            assert_eq!(serde_json::to_string(&read).unwrap(), *row);
            assert_eq!(serde_json::to_string(&message).unwrap(), *row);
        }
    }

    #[test]
    fn older_and_odder_rows_still_read() {
        // `client` was added later (defaults to legacy); an unknown kind keeps its name.
        let row = r#"{"kind":"future_kind","address":"c","method":"post","message":{"text":"x"}}"#;
        let read: OutboundMessage = serde_json::from_str(row).unwrap();
        assert_eq!(read.kind().as_str(), "future_kind");
        assert_eq!(read.client(), SlackClientKind::Legacy);
        assert_eq!(
            serde_json::to_string(&read).unwrap(),
            r#"{"kind":"future_kind","address":"c","method":"post","client":"legacy","message":{"text":"x"}}"#
        );
        // An edit without a key finds nothing to edit, as before.
        let row = r#"{"kind":"pipeline","address":"c","method":"update","message":{"text":"x"}}"#;
        let OutboundMessage::Update(update) = serde_json::from_str(row).unwrap() else {
            panic!("an update");
        };
        assert_eq!(update.ref_key, "");
        // A method nobody knows is not a message.
        let row = r#"{"kind":"pipeline","address":"c","method":"fax","message":{"text":"x"}}"#;
        assert!(serde_json::from_str::<OutboundMessage>(row).is_err());
    }

    #[test]
    fn kinds_keep_their_metric_labels() {
        for label in [
            "pipeline",
            "orchestration",
            "stage",
            "task",
            "manualJudgment",
            "manualJudgmentContinue",
            "manualJudgmentStop",
            "notification",
            "interactive",
            "judgment_resolved",
            "click_reply",
            "callback_response",
        ] {
            let kind = MessageKind::parse(label);
            assert!(!matches!(kind, MessageKind::Other(_)), "{label}");
            assert_eq!(kind.as_str(), label);
        }
        assert_eq!(
            format!("{:<8}|", MessageKind::Notification),
            "notification|"
        );
        assert_eq!(format!("{:<8}|", MessageKind::ClickReply), "click_reply|");
        assert_eq!(
            format!("{:<14}|", MessageKind::Interactive),
            "interactive   |"
        );
    }

    #[test]
    fn orca_judgment_edits_yield_to_decisions_made_in_slack() {
        let OutboundMessage::Update(edit) =
            Update::judgment_ended_in_orca("E1", "7", "#Deploy-Approvals", m("x")).into()
        else {
            unreachable!()
        };
        assert_eq!(edit.kind, MessageKind::JudgmentResolved);
        assert_eq!(edit.ref_key, "judgment:E1:7@deploy-approvals");
        assert_eq!(
            edit.unless_judgment_decided.as_deref(),
            Some("judgment:E1:7")
        );
        assert!(!edit.post_if_missing);
        let message = OutboundMessage::from(edit);
        assert_eq!(message.unless_judgment_decided(), Some("judgment:E1:7"));
        let click_edit: OutboundMessage = Update::new(
            MessageKind::JudgmentResolved,
            "deploy-approvals",
            "judgment:E1:7@deploy-approvals",
            m("x"),
        )
        .into();
        assert_eq!(click_edit.unless_judgment_decided(), None);
    }

    #[test]
    fn lanes_are_channels_and_replies_share_one_stored_lane() {
        let post: OutboundMessage = Post::new(MessageKind::Notification, "#Deploys", m("x")).into();
        assert_eq!(post.lane(), "deploys");
        let eph: OutboundMessage =
            Ephemeral::new(MessageKind::ClickReply, "Deploys", "U1", m("x")).into();
        assert_eq!(eph.lane(), "deploys");
        let reply: OutboundMessage =
            ResponseUrlReply::new(MessageKind::CallbackResponse, "https://x/y", m("x")).into();
        assert_eq!(reply.lane(), "response_url");
        assert_eq!(reply.client(), SlackClientKind::App);
        assert_eq!(reply.destination(), "https://x/y");
    }
}
