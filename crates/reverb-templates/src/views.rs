//! What each template sees: one view per message kind, plus the layout options.
//!
//! Field names are the template variable names (documented in `docs/templates.md`); every field
//! is always present in the context (`null` when unknown), so templates can test it without
//! failing.

use serde::Serialize;
use serde_json::Value;

/// Which template pair renders a message: `<name>.tera` (body) and `<name>-subject.tera` (title).
/// Not the outbox's `reverb_model::MessageKind` (a metric label): several of those share a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateKind {
    Pipeline,
    Stage,
    ManualJudgment,
    ManualJudgmentContinue,
    ManualJudgmentStop,
    Notification,
    Interactive,
    JudgmentResolved,
}

impl TemplateKind {
    pub const ALL: [TemplateKind; 8] = [
        Self::Pipeline,
        Self::Stage,
        Self::ManualJudgment,
        Self::ManualJudgmentContinue,
        Self::ManualJudgmentStop,
        Self::Notification,
        Self::Interactive,
        Self::JudgmentResolved,
    ];

    /// The file-name stem: `pipeline`, `manual-judgment-continue`, ...
    pub fn stem(self) -> &'static str {
        match self {
            Self::Pipeline => "pipeline",
            Self::Stage => "stage",
            Self::ManualJudgment => "manual-judgment",
            Self::ManualJudgmentContinue => "manual-judgment-continue",
            Self::ManualJudgmentStop => "manual-judgment-stop",
            Self::Notification => "notification",
            Self::Interactive => "interactive",
            Self::JudgmentResolved => "judgment-resolved",
        }
    }

    pub fn body_template(self) -> String {
        format!("{}.tera", self.stem())
    }

    pub fn subject_template(self) -> String {
        format!("{}-subject.tera", self.stem())
    }
}

/// A manual-judgment decision: the judgment contract's own type.
pub use reverb_model::judgment::Decision;

/// Which of Orca's three manual-judgment template groups a notification uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JudgmentGroup {
    /// `manualJudgment`: waiting for a decision.
    Awaiting,
    /// `manualJudgmentContinue`.
    Continue,
    /// `manualJudgmentStop`.
    Stop,
}

impl JudgmentGroup {
    /// Orca's `templateGroup` value.
    pub fn parse(template_group: &str) -> Option<Self> {
        match template_group {
            "manualJudgment" => Some(Self::Awaiting),
            "manualJudgmentContinue" => Some(Self::Continue),
            "manualJudgmentStop" => Some(Self::Stop),
            _ => None,
        }
    }

    pub fn template_group(self) -> &'static str {
        match self {
            Self::Awaiting => "manualJudgment",
            Self::Continue => "manualJudgmentContinue",
            Self::Stop => "manualJudgmentStop",
        }
    }

    pub fn kind(self) -> TemplateKind {
        match self {
            Self::Awaiting => TemplateKind::ManualJudgment,
            Self::Continue => TemplateKind::ManualJudgmentContinue,
            Self::Stop => TemplateKind::ManualJudgmentStop,
        }
    }
}

/// A pipeline, orchestration or stage event message (Echo's `SlackNotificationAgent`).
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    /// `pipeline`, `orchestration` or `stage` (Echo's config type).
    pub kind: String,
    /// The third part of `orca:<kind>:<status>`: `starting`, `complete`, `failed`, ...
    pub status: String,
    pub application: String,
    /// Stage events only: `content.name`, else `content.context.stageDetails.name`.
    pub stage_name: Option<String>,
    /// The whole execution JSON; `id`, `name` and `description` are always present.
    pub execution: Value,
    /// Deck link to the execution.
    pub link: String,
    /// Set for pipeline and stage events whose trigger has `buildInfo.url`.
    pub build: Option<BuildView>,
    /// The notification's `message["<kind>.<status>"].text`.
    pub message_text: Option<String>,
    /// The notification's (else the stage's) `customMessage`, placeholders already replaced.
    pub custom_message: Option<String>,
    /// The notification entry (`type`, `address`, `when`, ...).
    pub notification: Value,
    /// Stage events: the stage context (`content.context`); `null` otherwise.
    pub context: Value,
}

impl EventView {
    pub fn message_kind(&self) -> TemplateKind {
        if self.kind == "stage" {
            TemplateKind::Stage
        } else {
            TemplateKind::Pipeline
        }
    }
}

/// `trigger.buildInfo` of an event.
#[derive(Debug, Clone, Serialize)]
pub struct BuildView {
    pub url: String,
    /// The build number as Echo prints it (`as Integer`).
    pub number: String,
}

/// Deck links of a manual-judgment notification.
#[derive(Debug, Clone, Serialize)]
pub struct JudgmentLinks {
    /// `{base}/#/applications/{app}/executions/details/{executionId}`.
    pub execution: String,
    /// Echo's link: `execution` plus `?refId={stageId}` and `&step=1` by Echo's rules.
    pub stage: String,
}

/// A manual-judgment notification from Orca (`templateGroup` `manualJudgment*`).
#[derive(Debug, Clone, Serialize)]
pub struct ManualJudgmentView {
    pub application: String,
    pub execution_id: String,
    /// `additionalContext.stageId`: Orca sends the stage `refId`.
    pub stage_ref_id: Option<String>,
    pub stage_name: String,
    /// `execution.name` (null when absent).
    pub pipeline_name: Option<String>,
    /// `execution.trigger.buildInfo.number` as digits (null when absent).
    pub build_number: Option<String>,
    pub instructions: Option<String>,
    pub message: Option<String>,
    pub judgment_input: Option<String>,
    pub judged_by: Option<String>,
    /// The options the judge can choose from (`judgmentInputs[].value`).
    pub judgment_inputs: Vec<String>,
    pub links: JudgmentLinks,
    /// The whole execution JSON (`additionalContext.execution`).
    pub execution: Value,
    /// The notification's `additionalContext`.
    pub additional_context: Value,
    /// The notification's `source`.
    pub source: Value,
}

/// A `POST /notifications` without template group (plain or interactive).
#[derive(Debug, Clone, Serialize)]
pub struct NotificationView {
    /// `customSubject` else `subject`, after the formatter.
    pub subject: String,
    /// `customBody` else `body`, after the formatter.
    pub body: String,
    pub application: Option<String>,
    pub additional_context: Value,
    pub source: Value,
}

/// A manual judgment that is over: the judgment contract's own type.
pub use reverb_model::judgment::ResolvedJudgment;

/// What to render.
#[derive(Debug, Clone)]
pub enum MessageContent {
    Event(EventView),
    ManualJudgment(JudgmentGroup, ManualJudgmentView),
    Notification(NotificationView),
    Interactive(NotificationView),
    JudgmentResolved(ResolvedJudgment),
}

impl MessageContent {
    pub fn kind(&self) -> TemplateKind {
        match self {
            Self::Event(view) => view.message_kind(),
            Self::ManualJudgment(group, _) => group.kind(),
            Self::Notification(_) => TemplateKind::Notification,
            Self::Interactive(_) => TemplateKind::Interactive,
            Self::JudgmentResolved(_) => TemplateKind::JudgmentResolved,
        }
    }

    /// The message kind's name as the layout sees it in `kind`.
    pub fn kind_name(&self) -> &str {
        match self {
            Self::Event(view) => &view.kind,
            Self::ManualJudgment(group, _) => group.template_group(),
            Self::Notification(_) => "notification",
            Self::Interactive(_) => "interactive",
            Self::JudgmentResolved(_) => "judgment_resolved",
        }
    }

    pub(crate) fn view_json(&self) -> serde_json::Result<Value> {
        match self {
            Self::Event(view) => serde_json::to_value(view),
            Self::ManualJudgment(_, view) => serde_json::to_value(view),
            Self::Notification(view) | Self::Interactive(view) => serde_json::to_value(view),
            Self::JudgmentResolved(view) => serde_json::to_value(view),
        }
    }
}

/// How the rendered title and body are laid out.
#[derive(Debug, Clone, Default)]
pub struct LayoutOptions {
    /// Attachment colour (`#RRGGBB`).
    pub color: String,
    /// Echo's `sendCompactMessages`: text and colour only. Ignored when judgment buttons are set.
    pub compact: bool,
    /// Echo's `expandUserNames` (`link_names=1`).
    pub link_names: bool,
    /// Echo's interactive actions (Keel): legacy attachment buttons.
    pub legacy_actions: Option<LegacyActions>,
    /// Reverb's Approve/Reject buttons on an Orca manual judgment.
    pub judgment: Option<JudgmentButtons>,
}

/// Echo's legacy attachment buttons: `callback_id` `"<service>:<messageId>"`.
#[derive(Debug, Clone, Serialize)]
pub struct LegacyActions {
    pub callback_id: String,
    pub actions: Vec<LegacyButton>,
}

/// `{"type":"button","name","text","value"}`.
#[derive(Debug, Clone, Serialize)]
pub struct LegacyButton {
    pub name: String,
    pub text: String,
    pub value: String,
}

/// The judgment buttons and the ids the click handler routes on.
#[derive(Debug, Clone, Serialize)]
pub struct JudgmentButtons {
    /// Block Kit `block_id` of the actions block.
    pub block_id: String,
    /// Legacy attachments: `callback_id`.
    pub callback_id: String,
    /// Legacy attachments: the buttons' `name`.
    pub name: String,
    pub stage_name: String,
    pub pipeline_name: Option<String>,
    pub buttons: Vec<JudgmentButton>,
}

/// One Approve (optionally carrying an input) or Reject button.
#[derive(Debug, Clone, Serialize)]
pub struct JudgmentButton {
    pub decision: Decision,
    /// The judgment input this Approve button selects.
    pub input: Option<String>,
    pub action_id: String,
    pub value: String,
}
