//! Loading the templates (built-in + operator overrides) and rendering a message with them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reverb_model::SlackMessage;
use serde::Serialize;
use serde_json::Value;
use tera::{Context, Tera};

use reverb_support::error_chain;

use crate::error::TemplateError;
use crate::views::{JudgmentButton, JudgmentButtons, LayoutOptions, MessageContent};
use crate::{filters, limits, mrkdwn, samples};

/// The templates built into the binary, by file name.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "layout.tera",
        include_str!("../../../templates/layout.tera"),
    ),
    (
        "_stage-description.tera",
        include_str!("../../../templates/_stage-description.tera"),
    ),
    (
        "pipeline.tera",
        include_str!("../../../templates/pipeline.tera"),
    ),
    (
        "pipeline-subject.tera",
        include_str!("../../../templates/pipeline-subject.tera"),
    ),
    ("stage.tera", include_str!("../../../templates/stage.tera")),
    (
        "stage-subject.tera",
        include_str!("../../../templates/stage-subject.tera"),
    ),
    (
        "manual-judgment.tera",
        include_str!("../../../templates/manual-judgment.tera"),
    ),
    (
        "manual-judgment-subject.tera",
        include_str!("../../../templates/manual-judgment-subject.tera"),
    ),
    (
        "manual-judgment-continue.tera",
        include_str!("../../../templates/manual-judgment-continue.tera"),
    ),
    (
        "manual-judgment-continue-subject.tera",
        include_str!("../../../templates/manual-judgment-continue-subject.tera"),
    ),
    (
        "manual-judgment-stop.tera",
        include_str!("../../../templates/manual-judgment-stop.tera"),
    ),
    (
        "manual-judgment-stop-subject.tera",
        include_str!("../../../templates/manual-judgment-stop-subject.tera"),
    ),
    (
        "notification.tera",
        include_str!("../../../templates/notification.tera"),
    ),
    (
        "notification-subject.tera",
        include_str!("../../../templates/notification-subject.tera"),
    ),
    (
        "interactive.tera",
        include_str!("../../../templates/interactive.tera"),
    ),
    (
        "interactive-subject.tera",
        include_str!("../../../templates/interactive-subject.tera"),
    ),
    (
        "judgment-resolved.tera",
        include_str!("../../../templates/judgment-resolved.tera"),
    ),
    (
        "judgment-resolved-subject.tera",
        include_str!("../../../templates/judgment-resolved-subject.tera"),
    ),
];

const LAYOUT: &str = "layout.tera";

/// Echo's attachment footer.
pub const FOOTER: &str = "Spinnaker";
pub const FOOTER_ICON: &str = "https://avatars0.githubusercontent.com/u/7634182?s=200&v=4";

pub use reverb_config::{MessageStyle, UnknownMessageStyle};

#[derive(Debug, Clone, Default)]
pub struct TemplateOptions {
    /// Files here named like a built-in template replace it (`reverb.templates.dir`).
    pub override_dir: Option<PathBuf>,
    pub style: MessageStyle,
}

/// The title and body of a message before layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedTexts {
    pub title: String,
    pub body: String,
}

struct Override {
    path: PathBuf,
    source: String,
}

/// The template set in use. Cheap to share (`Arc`); rendering never fails.
pub struct TemplateEngine {
    active: Tera,
    /// The built-in set, kept to fall back on when an override fails at send time.
    builtin: Option<Tera>,
    overrides: BTreeMap<String, Override>,
    style: MessageStyle,
}

/// Why one render attempt failed, and where.
#[derive(Debug)]
struct RenderFailure {
    template: String,
    message: String,
}

impl TemplateEngine {
    /// Built-in templates plus the overrides in `opts.override_dir`. An override that does not
    /// parse, or that renders one of the built-in sample messages into something Slack would
    /// reject (invalid JSON, no text, over a Block Kit limit), fails here naming the file.
    pub fn load(opts: TemplateOptions) -> Result<Self, TemplateError> {
        let builtin = builtin_tera()?;
        let overrides = match opts.override_dir.as_deref() {
            Some(dir) => read_overrides(dir)?,
            None => BTreeMap::new(),
        };
        if overrides.is_empty() {
            return Ok(Self {
                active: builtin,
                builtin: None,
                overrides,
                style: opts.style,
            });
        }
        let mut active = builtin.clone();
        active
            .add_raw_templates(
                overrides
                    .iter()
                    .map(|(name, o)| (name.as_str(), o.source.as_str())),
            )
            .map_err(|e| parse_error(&e, &overrides))?;
        let engine = Self {
            active,
            builtin: Some(builtin),
            overrides,
            style: opts.style,
        };
        engine.check_samples()?;
        Ok(engine)
    }

    pub fn style(&self) -> MessageStyle {
        self.style
    }

    /// Every template name in use (built-in and operator helpers), sorted.
    pub fn template_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .active
            .get_template_names()
            .map(str::to_string)
            .collect();
        names.sort();
        names
    }

    /// The override files in use.
    pub fn overridden_files(&self) -> Vec<PathBuf> {
        self.overrides.values().map(|o| o.path.clone()).collect()
    }

    /// Renders a message. Never fails: a failing override falls back to the built-in template
    /// (logged as a warning), and the result is cut to Slack's limits.
    pub fn render(&self, content: &MessageContent, layout: &LayoutOptions) -> SlackMessage {
        let now = now_epoch_secs();
        let mut message = match self.render_with(&self.active, content, layout, now) {
            Ok(message) => message,
            Err(failure) => self.render_after_failure(failure, content, layout, now),
        };
        message.link_names = layout.link_names;
        let cut = limits::enforce(&mut message);
        if !cut.is_empty() {
            let details: Vec<String> = cut.iter().map(ToString::to_string).collect();
            tracing::warn!(
                kind = content.kind_name(),
                cut = %details.join("; "),
                "message cut to Slack's limits"
            );
        }
        message
    }

    /// The title and body alone, with the templates in use and without fallback.
    pub fn render_texts(&self, content: &MessageContent) -> Result<RenderedTexts, TemplateError> {
        let render_error = |failure: RenderFailure| {
            let (file, line) = self.locate(&failure);
            TemplateError::Render {
                file,
                line,
                message: failure.message,
            }
        };
        let context = view_context(content, &LayoutOptions::default(), self.style, 0)
            .map_err(render_error)?;
        let kind = content.kind();
        let title =
            render_text(&self.active, &kind.subject_template(), &context).map_err(render_error)?;
        let body =
            render_text(&self.active, &kind.body_template(), &context).map_err(render_error)?;
        Ok(RenderedTexts { title, body })
    }

    fn render_after_failure(
        &self,
        failure: RenderFailure,
        content: &MessageContent,
        layout: &LayoutOptions,
        now: i64,
    ) -> SlackMessage {
        if let Some(builtin) = &self.builtin {
            tracing::warn!(
                template = %failure.template,
                error = %failure.message,
                kind = content.kind_name(),
                "template override failed; using the built-in template"
            );
            match self.render_with(builtin, content, layout, now) {
                Ok(message) => return message,
                Err(again) => tracing::error!(
                    template = %again.template,
                    error = %again.message,
                    kind = content.kind_name(),
                    "built-in template failed"
                ),
            }
        } else {
            tracing::error!(
                template = %failure.template,
                error = %failure.message,
                kind = content.kind_name(),
                "built-in template failed"
            );
        }
        SlackMessage {
            text: format!(
                "A Spinnaker {} notification could not be rendered; see the Reverb log.",
                content.kind_name()
            ),
            ..SlackMessage::default()
        }
    }

    fn render_with(
        &self,
        tera: &Tera,
        content: &MessageContent,
        layout: &LayoutOptions,
        now: i64,
    ) -> Result<SlackMessage, RenderFailure> {
        let mut context = view_context(content, layout, self.style, now)?;
        let kind = content.kind();
        let title = render_text(tera, &kind.subject_template(), &context)?;
        let body = render_text(tera, &kind.body_template(), &context)?;
        context.insert("headline", &headline(&title, &body));
        context.insert("title", &title);
        context.insert("text", &body);
        let json = tera
            .render(LAYOUT, &context)
            .map_err(|e| tera_failure(LAYOUT, &e))?;
        let message = parse_message(&json)?;
        let problems = limits::structure_problems(&message);
        if !problems.is_empty() {
            return Err(RenderFailure {
                template: LAYOUT.to_string(),
                message: problems.join("; "),
            });
        }
        Ok(message)
    }

    /// Renders every built-in sample with the templates in use: an override must turn each into
    /// a message Slack accepts, within limits.
    fn check_samples(&self) -> Result<(), TemplateError> {
        for sample in samples::all() {
            let kind = sample.content.kind();
            let mut message = self
                .render_with(&self.active, &sample.content, &sample.layout, 1_712_570_715)
                .map_err(|f| self.invalid(f, sample.name))?;
            let over = limits::enforce(&mut message);
            if !over.is_empty() {
                let involved = [
                    kind.body_template(),
                    kind.subject_template(),
                    LAYOUT.to_string(),
                ];
                let files: Vec<String> = involved
                    .iter()
                    .filter_map(|name| self.overrides.get(name))
                    .chain(
                        self.overrides
                            .iter()
                            .filter(|(n, _)| n.starts_with('_'))
                            .map(|(_, o)| o),
                    )
                    .map(|o| o.path.display().to_string())
                    .collect();
                let details: Vec<String> = over.iter().map(ToString::to_string).collect();
                return Err(TemplateError::Invalid {
                    file: PathBuf::from(files.join(", ")),
                    line: None,
                    sample: sample.name.to_string(),
                    problem: format!("the message breaks Slack's limits: {}", details.join("; ")),
                });
            }
        }
        Ok(())
    }

    fn invalid(&self, failure: RenderFailure, sample: &str) -> TemplateError {
        let (file, line) = self.locate(&failure);
        TemplateError::Invalid {
            file,
            line,
            sample: sample.to_string(),
            problem: failure.message,
        }
    }

    /// The file a failure comes from (the override, else the built-in name) and, when the error
    /// names a variable or filter, the line where it appears.
    fn locate(&self, failure: &RenderFailure) -> (PathBuf, Option<usize>) {
        let (file, source) = match self.overrides.get(&failure.template) {
            Some(o) => (o.path.clone(), Some(o.source.as_str())),
            None => (
                PathBuf::from(format!("{} (built-in)", failure.template)),
                builtin_source(&failure.template),
            ),
        };
        (
            file,
            source.and_then(|s| line_of_quoted_token(&failure.message, s)),
        )
    }
}

fn now_epoch_secs() -> i64 {
    reverb_support::now_ms().div_euclid(1000)
}

fn builtin_source(name: &str) -> Option<&'static str> {
    EMBEDDED.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

fn new_tera() -> Tera {
    let mut tera = Tera::default();
    // Output is Slack text and JSON, never HTML: escaping is explicit (`mrkdwn`, `json_encode`).
    tera.autoescape_on(vec![]);
    filters::register(&mut tera);
    tera
}

fn builtin_tera() -> Result<Tera, TemplateError> {
    let mut tera = new_tera();
    tera.add_raw_templates(EMBEDDED.iter().copied())
        .map_err(|e| TemplateError::Embedded {
            name: failing_template(&e).unwrap_or_else(|| "?".into()),
            message: error_chain(&e),
        })?;
    Ok(tera)
}

fn is_known_name(name: &str) -> bool {
    EMBEDDED
        .iter()
        .any(|(n, _)| *n == name && !n.starts_with('_'))
}

fn read_overrides(dir: &Path) -> Result<BTreeMap<String, Override>, TemplateError> {
    let read_dir_error = |source| TemplateError::ReadDir {
        dir: dir.to_path_buf(),
        source,
    };
    let mut overrides = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(read_dir_error)? {
        let path = entry.map_err(read_dir_error)?.path();
        if path.is_dir() || path.extension().and_then(|e| e.to_str()) != Some("tera") {
            continue;
        }
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        if !is_known_name(&name) && !name.starts_with('_') {
            let known: Vec<&str> = EMBEDDED
                .iter()
                .map(|(n, _)| *n)
                .filter(|n| !n.starts_with('_'))
                .collect();
            return Err(TemplateError::UnknownTemplate {
                file: path,
                known: known.join(", "),
            });
        }
        let source = std::fs::read_to_string(&path).map_err(|source| TemplateError::ReadFile {
            file: path.clone(),
            source,
        })?;
        overrides.insert(name, Override { path, source });
    }
    Ok(overrides)
}

/// The context every template of a message sees: the view's fields plus the common variables.
fn view_context(
    content: &MessageContent,
    layout: &LayoutOptions,
    style: MessageStyle,
    now: i64,
) -> Result<Context, RenderFailure> {
    let invalid = |message: String| RenderFailure {
        template: content.kind().body_template(),
        message,
    };
    let view = content.view_json().map_err(|e| invalid(e.to_string()))?;
    let mut context = Context::from_value(view).map_err(|e| invalid(error_chain(&e)))?;
    context.insert("kind", content.kind_name());
    context.insert("style", style.as_str());
    context.insert("compact", &layout.compact);
    context.insert("color", &layout.color);
    context.insert("footer", FOOTER);
    context.insert("footer_icon", FOOTER_ICON);
    context.insert("now", &now);
    context.insert("legacy", &layout.legacy_actions);
    context.insert(
        "judgment",
        &layout.judgment.as_ref().map(JudgmentLayout::new),
    );
    Ok(context)
}

/// The judgment buttons as the layout sees them, plus `rows`: legacy attachments hold at most
/// five buttons each.
#[derive(Serialize)]
struct JudgmentLayout<'a> {
    #[serde(flatten)]
    buttons: &'a JudgmentButtons,
    rows: Vec<&'a [JudgmentButton]>,
}

impl<'a> JudgmentLayout<'a> {
    fn new(buttons: &'a JudgmentButtons) -> Self {
        Self {
            rows: buttons
                .buttons
                .chunks(limits::LEGACY_ACTIONS_PER_ATTACHMENT)
                .collect(),
            buttons,
        }
    }
}

/// Renders a text template; one trailing newline of the file is not part of the text.
fn render_text(tera: &Tera, name: &str, context: &Context) -> Result<String, RenderFailure> {
    let mut text = tera
        .render(name, context)
        .map_err(|e| tera_failure(name, &e))?;
    if text.ends_with('\n') {
        text.pop();
    }
    Ok(text)
}

/// The top-level `text` (mrkdwn): the title, else the first line of the body.
fn headline(title: &str, body: &str) -> String {
    let title = title.trim();
    if !title.is_empty() {
        return mrkdwn::escape(title);
    }
    body.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("Spinnaker notification")
        .to_string()
}

fn parse_message(json: &str) -> Result<SlackMessage, RenderFailure> {
    let failure = |message: String| RenderFailure {
        template: LAYOUT.to_string(),
        message,
    };
    let value: Value = serde_json::from_str(json).map_err(|e| {
        let line = json
            .lines()
            .nth(e.line().saturating_sub(1))
            .unwrap_or_default()
            .trim();
        failure(format!(
            "renders invalid JSON ({e}); output line {}: `{line}`",
            e.line()
        ))
    })?;
    if !value.is_object() {
        return Err(failure("renders JSON that is not an object".into()));
    }
    serde_json::from_value(value)
        .map_err(|e| failure(format!("renders JSON that is not a Slack message: {e}")))
}

fn tera_failure(name: &str, error: &tera::Error) -> RenderFailure {
    RenderFailure {
        template: failing_template(error).unwrap_or_else(|| name.to_string()),
        message: error_chain(error),
    }
}

/// The innermost template a Tera error names (`... while rendering 'x.tera'`, `Failed to parse 'x'`).
fn failing_template(error: &dyn std::error::Error) -> Option<String> {
    let chain = error_chain(error);
    let mut found = None;
    let mut rest = chain.as_str();
    while let Some(start) = rest.find('\'') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('\'') else { break };
        let candidate = &after[..end];
        if candidate.ends_with(".tera") {
            found = Some(candidate.to_string());
        }
        rest = &after[end + 1..];
    }
    found
}

fn parse_error(error: &tera::Error, overrides: &BTreeMap<String, Override>) -> TemplateError {
    let chain = error_chain(error);
    let name = failing_template(error).unwrap_or_default();
    let (file, source) = match overrides.get(&name) {
        Some(o) => (o.path.clone(), Some(o.source.as_str())),
        None => (PathBuf::from(name), None),
    };
    // Pest reports " --> line:column" and a "= expected ..." line.
    let line = chain
        .split("--> ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.trim().parse().ok())
        .or_else(|| source.and_then(|s| line_of_quoted_token(&chain, s)));
    let message = chain
        .lines()
        .find_map(|l| l.trim().strip_prefix("= "))
        .map(str::to_string)
        .unwrap_or_else(|| chain.lines().next().unwrap_or_default().to_string());
    TemplateError::Parse {
        file,
        line,
        message,
    }
}

/// The 1-based line of `source` holding the first `backticked` token of `message` (Tera names the
/// unknown variable or filter that way).
fn line_of_quoted_token(message: &str, source: &str) -> Option<usize> {
    let mut rest = message;
    while let Some(start) = rest.find('`') {
        let after = &rest[start + 1..];
        let end = after.find('`')?;
        let token = &after[..end];
        if !token.is_empty()
            && let Some(index) = source.lines().position(|line| line.contains(token))
        {
            return Some(index + 1);
        }
        rest = &after[end + 1..];
    }
    None
}
