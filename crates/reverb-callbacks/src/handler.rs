//! The click handler: everything slow that follows a click, run after Slack was acknowledged.
//! It takes a parsed [`Interaction`], so clicks arriving over HTTP and over Socket Mode share it.

use std::sync::Arc;

use reverb_model::OutboundMessage;
use reverb_slack::{DeliveryEngine, SlackClient};
use reverb_store::{JudgmentClaim, Store, StoreError};
use reverb_support::{WorkerGone, now_ms, off_thread};
use tracing::Instrument;

use crate::buttons::{Route, route};
use crate::fiat::FiatClient;
use crate::identity::WorkspaceCache;
use crate::interaction::Interaction;
use crate::metrics::JudgmentMetrics;
use crate::orca::OrcaClient;
use crate::replies;
use crate::resolution::ResolutionRenderer;
use crate::settings::CallbackSettings;
use crate::{judgment, relay};

/// How one click ended (also what `reverb_judgments_total`'s `outcome` label says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClickOutcome {
    /// Orca recorded the judgment; the messages show it.
    Recorded,
    /// Orca reverted the judgment: the clicker lacks a required role.
    Reverted,
    /// Someone judged first; the messages show that judgment.
    AlreadyJudged,
    /// The stage no longer waits for a judgment (or is not a manual judgment).
    NotRunning,
    /// Another click on the same judgment is being handled right now.
    InProgress,
    /// No Spinnaker identity could be found for the clicker.
    NoIdentity,
    /// The button is not on the message Reverb posted for that judgment, or names another
    /// execution than Orca's: nothing was judged.
    Forged,
    /// Fiat does not let the clicker judge this stage.
    NotAuthorized,
    /// Fiat could not be asked.
    FiatError,
    /// Orca was unreachable, refused, or did not store the judgment.
    OrcaError,
    /// Reverb's own store failed.
    InternalError,
    /// A Reverb judgment button whose value could not be read.
    BadButton,
    /// An Echo-style callback was delivered to its service.
    Relayed,
    /// An Echo-style callback could not be delivered.
    RelayFailed,
    /// Not a click Reverb acts on.
    Ignored,
}

impl ClickOutcome {
    /// The `outcome` label of `reverb_judgments_total`; `None` for clicks that are not judgments.
    pub fn judgment_label(self) -> Option<&'static str> {
        Some(match self {
            Self::Recorded => "recorded",
            Self::Reverted => "reverted",
            Self::AlreadyJudged => "already_judged",
            Self::NotRunning => "not_running",
            Self::InProgress => "in_progress",
            Self::NoIdentity => "no_identity",
            Self::Forged => "forged",
            Self::NotAuthorized => "not_authorized",
            Self::FiatError => "fiat_error",
            Self::OrcaError => "orca_error",
            Self::InternalError => "internal_error",
            Self::BadButton | Self::Relayed | Self::RelayFailed | Self::Ignored => return None,
        })
    }
}

/// A failure of Reverb's own store while handling a click.
#[derive(Debug, thiserror::Error)]
pub enum StoreCallError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the store worker stopped")]
    WorkerGone,
}

impl From<WorkerGone> for StoreCallError {
    fn from(_: WorkerGone) -> Self {
        Self::WorkerGone
    }
}

/// Handles clicks; cheap to clone.
#[derive(Clone)]
pub struct ClickHandler {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) delivery: DeliveryEngine,
    pub(crate) slack: SlackClient,
    pub(crate) http: reqwest::Client,
    pub(crate) orca: OrcaClient,
    /// Present when Fiat is on.
    pub(crate) fiat: Option<FiatClient>,
    /// The bot token's workspace (`auth.test`), for the clicker's team check.
    pub(crate) workspace: WorkspaceCache,
    pub(crate) settings: CallbackSettings,
    pub(crate) renderer: Arc<dyn ResolutionRenderer>,
    pub(crate) metrics: JudgmentMetrics,
    /// Serialises re-opening a decided judgment whose stage waits again (see `judgment`).
    pub(crate) reopen_lock: tokio::sync::Mutex<()>,
}

/// Where answers to the clicker go.
pub(crate) struct ReplyTo<'a> {
    pub(crate) channel_id: Option<&'a str>,
    pub(crate) user_id: Option<&'a str>,
}

impl<'a> ReplyTo<'a> {
    pub(crate) fn of(interaction: &'a Interaction) -> Self {
        Self {
            channel_id: interaction.channel_id.as_deref(),
            user_id: interaction.user.id.as_deref(),
        }
    }
}

impl ClickHandler {
    /// `slack` is the app client, used for `users.info`; every message goes through `delivery`.
    /// Registers `reverb_judgments_total` in `registry`.
    pub fn new(
        store: Arc<dyn Store>,
        delivery: DeliveryEngine,
        slack: SlackClient,
        http: reqwest::Client,
        settings: CallbackSettings,
        renderer: Arc<dyn ResolutionRenderer>,
        registry: &prometheus::Registry,
    ) -> Result<Self, prometheus::Error> {
        let metrics = JudgmentMetrics::register(registry)?;
        let orca = OrcaClient::new(
            http.clone(),
            &settings.orca_base_url,
            settings.request_timeout,
        );
        let fiat = settings
            .fiat_base_url
            .as_deref()
            .map(|url| FiatClient::new(http.clone(), url, settings.request_timeout));
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                delivery,
                slack,
                http,
                orca,
                fiat,
                workspace: WorkspaceCache::default(),
                settings,
                renderer,
                metrics,
                reopen_lock: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// Act on a verified click: judge in Orca, or relay to the service named in the callback id,
    /// then update the message and tell the clicker. Never fails; problems are reported to the
    /// clicker and logged.
    pub async fn handle(&self, interaction: Interaction) -> ClickOutcome {
        let route = route(&interaction, &self.inner.settings.button_key);
        self.dispatch(interaction, route).await
    }

    /// [`ClickHandler::handle`] for a click already routed (at its accept step).
    async fn dispatch(&self, interaction: Interaction, route: Route) -> ClickOutcome {
        let span = tracing::info_span!(
            "slack_click",
            slack_user = interaction.user.id.as_deref().unwrap_or_default(),
            channel = interaction.channel_id.as_deref().unwrap_or_default(),
        );
        let inner = &self.inner;
        async move {
            match route {
                Route::Judgment(click) => {
                    let outcome = judgment::judge(inner, &interaction, &click).await;
                    inner.metrics.count(click.decision, outcome);
                    tracing::info!(
                        execution = %click.reference.execution_id,
                        stage_ref = %click.reference.stage_ref_id,
                        decision = click.decision.as_str(),
                        outcome = ?outcome,
                        "judgment click handled"
                    );
                    outcome
                }
                Route::BadJudgmentButton(why) => {
                    tracing::warn!(reason = %why, "refused a judgment button Reverb did not mint");
                    inner
                        .tell(&ReplyTo::of(&interaction), replies::bad_button(&why))
                        .await;
                    ClickOutcome::BadButton
                }
                Route::EchoCallback {
                    service_id,
                    message_id,
                } => relay::relay(inner, &interaction, &service_id, &message_id).await,
                Route::Ignored => {
                    tracing::debug!("click on a button Reverb does not handle");
                    ClickOutcome::Ignored
                }
            }
        }
        .instrument(span)
        .await
    }
}

/// A click stored before Slack got its answer, and where it goes; [`ClickHandler::run`]
/// finishes it.
#[derive(Debug)]
pub struct AcceptedClick {
    pub(crate) id: i64,
    pub(crate) interaction: Interaction,
    pub(crate) route: Route,
}

/// What the token's `auth.test` said, for the start-up log line and `/health`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlackAppCheck {
    /// Every scope Reverb uses is granted (or Slack listed none to compare with).
    Complete {
        team_id: String,
        scopes: Option<Vec<String>>,
    },
    /// Some scopes are missing: (scope, what it disables).
    MissingScopes {
        team_id: String,
        missing: Vec<(&'static str, &'static str)>,
    },
    /// Slack could not be asked; the check is repeated at the first click.
    Unknown(String),
}

impl ClickHandler {
    /// Handle an accepted click to the end, then forget it.
    pub async fn run(&self, click: AcceptedClick) -> ClickOutcome {
        let outcome = self.dispatch(click.interaction, click.route).await;
        let id = click.id;
        if let Err(e) = self.inner.with_store(move |s| s.finish_click(id)).await {
            // It is handled again at the next start; the judgment claim keeps that harmless.
            tracing::error!(error = %e, "could not mark a click as handled");
        }
        outcome
    }

    /// At start: release the claims of clicks that were running when the last process ended,
    /// then take up every click accepted but never finished. Returns the clicks taken up.
    pub async fn resume_unfinished(&self) -> Result<Vec<AcceptedClick>, StoreCallError> {
        let released = self
            .inner
            .with_store(|s| s.release_unfinished_claims())
            .await?;
        if released > 0 {
            tracing::info!(
                released,
                "released judgment claims left by a stopped process"
            );
        }
        let unfinished = self.inner.with_store(|s| s.unfinished_clicks()).await?;
        let mut resumed = Vec::with_capacity(unfinished.len());
        for click in unfinished {
            let parsed = serde_json::from_str(&click.payload)
                .map_err(|e| e.to_string())
                .and_then(|json| Interaction::from_payload(json).map_err(|e| e.to_string()));
            match parsed {
                Ok(interaction) => resumed.push(AcceptedClick {
                    id: click.id,
                    route: route(&interaction, &self.inner.settings.button_key),
                    interaction,
                }),
                Err(why) => {
                    tracing::error!(id = click.id, reason = %why, "dropping a stored click that cannot be read");
                    let id = click.id;
                    self.inner.with_store(move |s| s.finish_click(id)).await?;
                }
            }
        }
        if !resumed.is_empty() {
            tracing::info!(
                clicks = resumed.len(),
                "resuming clicks accepted before the last stop"
            );
        }
        Ok(resumed)
    }

    /// Read the token's workspace and scopes (`auth.test`), keeping the workspace for the
    /// clicker checks.
    pub async fn check_slack_app(&self) -> SlackAppCheck {
        SlackAppCheck::of(self.inner.workspace.get(&self.inner.slack).await)
    }
}

impl SlackAppCheck {
    /// Judge an `auth.test` answer.
    pub fn of(answer: Result<reverb_slack::TokenIdentity, reverb_slack::SlackError>) -> Self {
        match answer {
            Err(e) => Self::Unknown(e.code),
            Ok(token) => {
                let missing = token
                    .scopes
                    .as_deref()
                    .map(crate::identity::missing_scope_effects)
                    .unwrap_or_default();
                if missing.is_empty() {
                    Self::Complete {
                        team_id: token.team_id,
                        scopes: token.scopes,
                    }
                } else {
                    Self::MissingScopes {
                        team_id: token.team_id,
                        missing,
                    }
                }
            }
        }
    }

    /// One line for people: the workspace and what missing scopes disable.
    pub fn describe(&self) -> String {
        match self {
            Self::Complete { team_id, .. } => {
                format!("workspace {team_id}; every scope Reverb uses is granted")
            }
            Self::MissingScopes { team_id, missing } => format!(
                "workspace {team_id}; missing {}",
                missing
                    .iter()
                    .map(|(scope, disables)| format!("{scope} (disables {disables})"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Self::Unknown(code) => format!("not checked: auth.test failed ({code})"),
        }
    }
}

impl Inner {
    /// Run a store call on a blocking thread.
    pub(crate) async fn with_store<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreCallError> {
        Ok(off_thread(self.store.clone(), call).await??)
    }

    pub(crate) async fn claim(
        &self,
        key: &str,
        claimant: &str,
    ) -> Result<JudgmentClaim, StoreCallError> {
        // A claim outlives the slowest possible judgment before another click may take it over.
        let stale_ms = (self.settings.orca_retry_for
            + self.settings.readback_timeout
            + self.settings.request_timeout * 4)
            .as_millis() as i64;
        let (key, claimant) = (key.to_string(), claimant.to_string());
        self.with_store(move |s| s.claim_judgment(&key, &claimant, now_ms(), stale_ms))
            .await
    }

    /// Give the claim up so that a later click can try again.
    pub(crate) async fn release(&self, key: &str) {
        let key = key.to_string();
        if let Err(e) = self
            .with_store(move |s| s.finish_judgment(&key, "", false, now_ms()))
            .await
        {
            tracing::error!(error = %e, "could not release a judgment claim; it expires on its own");
        }
    }

    /// Persist messages in the outbox; the delivery engine sends them.
    pub(crate) async fn send(&self, messages: Vec<OutboundMessage>) {
        if let Err(e) = self.delivery.enqueue(messages).await {
            tracing::error!(error = %e, "could not queue Slack messages for a click");
        }
    }

    /// An ephemeral answer to the clicker.
    pub(crate) async fn tell(&self, to: &ReplyTo<'_>, text: String) {
        match (to.channel_id, to.user_id) {
            (Some(channel), Some(user)) => {
                self.send(vec![replies::ephemeral(channel, user, text)])
                    .await
            }
            _ => {
                tracing::warn!(message = %text, "cannot answer the clicker: the payload names no channel or user")
            }
        }
    }

    /// Deck's page of the execution, focused on the stage.
    pub(crate) fn execution_url(
        &self,
        application: &str,
        execution_id: &str,
        stage_ref_id: &str,
    ) -> String {
        format!(
            "{}/#/applications/{application}/executions/details/{execution_id}?refId={stage_ref_id}",
            self.settings.spinnaker_base_url.trim_end_matches('/')
        )
    }
}
