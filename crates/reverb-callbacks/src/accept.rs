//! The accept step of a Slack callback, everything that happens before Slack gets its answer
//! (Slack allows 3 seconds): verify the signature on the raw bytes (then on Echo's `*`→`%2A`
//! variant, for bodies Gate rebuilt), parse the interaction, route it to its service (one of
//! Reverb's judgment buttons, an Echo-style callback for Keel or another `<serviceId>`, or nothing
//! Reverb acts on), and store it durably with the record of the signed request, in one
//! transaction. What the HTTP layer answers follows from the [`Acceptance`] alone.

use reverb_store::ClickAcceptance;
use reverb_support::now_ms;

use crate::buttons::{Route, route};
use crate::handler::{AcceptedClick, ClickHandler, StoreCallError};
use crate::interaction::{CallbackError, Interaction, parse_interaction};
use crate::signature::{DEFAULT_TOLERANCE_SECS, SignatureError, verify_signature};

/// How long a signed request is remembered: Slack's signatures are valid 5 minutes either way,
/// so a copy cannot be replayed after this.
const REPLAY_WINDOW_MS: i64 = 2 * DEFAULT_TOLERANCE_SECS * 1000 + 60_000;

/// A callback request as it arrived: Slack's two signing headers (`None` when absent) and the
/// body exactly as received.
#[derive(Debug, Clone, Copy)]
pub struct SignedCallback<'a> {
    /// `X-Slack-Request-Timestamp`.
    pub timestamp: Option<&'a str>,
    /// `X-Slack-Signature`.
    pub signature: Option<&'a str>,
    pub body: &'a [u8],
}

/// How the accept step of one callback ended.
#[derive(Debug)]
pub enum Acceptance {
    /// Verified, parsed, routed and stored: answer at once, then [`ClickHandler::run`] it.
    Accepted(Box<AcceptedClick>),
    /// The same signed request was accepted before: answer, and do nothing again.
    Replay,
    /// Not signed with the signing secret, or signed too long ago (or no secret is configured).
    Unverified(SignatureError),
    /// Signed, but not a click Reverb takes, or for a service whose base URL is not configured.
    Malformed(CallbackError),
    /// Reverb's store failed: nothing was done, and Slack's user may click again.
    StoreFailed(StoreCallError),
}

impl Acceptance {
    /// The `outcome` label of `reverb_callbacks_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Accepted(_) => "accepted",
            Self::Replay => "replay",
            Self::Unverified(SignatureError::Stale { .. }) => "stale_timestamp",
            Self::Unverified(_) => "bad_signature",
            Self::Malformed(_) => "malformed",
            Self::StoreFailed(_) => "store_error",
        }
    }
}

impl ClickHandler {
    /// The whole accept step of a callback that arrived over HTTP (see the module docs). Only
    /// an [`Acceptance::Accepted`] click is ever acted on, and only once.
    pub async fn accept_callback(&self, request: SignedCallback<'_>) -> Acceptance {
        let settings = &self.inner.settings;
        let Some(secret) = settings.signing_secret.as_ref() else {
            return Acceptance::Unverified(SignatureError::NoSecret);
        };
        if let Err(e) = verify_signature(
            secret.expose().as_bytes(),
            request.timestamp,
            request.signature,
            request.body,
            now_ms().div_euclid(1000),
            DEFAULT_TOLERANCE_SECS,
        ) {
            tracing::warn!(error = %e, "rejected a Slack callback");
            return Acceptance::Unverified(e);
        }
        let interaction = match parse_interaction(request.body) {
            Ok(interaction) => interaction,
            Err(e) => return Acceptance::Malformed(e),
        };
        let route = route(&interaction, &settings.button_key);
        if let Route::EchoCallback { service_id, .. } = &route
            && (settings.service_base_url)(service_id).is_none()
        {
            return Acceptance::Malformed(CallbackError::UnknownService(service_id.clone()));
        }
        // Stored before Slack gets its answer, so a crash loses nothing; the same signed request
        // seen again is answered and does nothing.
        let request_key = format!(
            "{}:{}",
            request.timestamp.unwrap_or_default(),
            request.signature.unwrap_or_default()
        );
        match self.store_click(request_key, interaction, route).await {
            Ok(Some(click)) => Acceptance::Accepted(Box::new(click)),
            Ok(None) => {
                tracing::info!("a signed Slack request seen before: answered, nothing done");
                Acceptance::Replay
            }
            Err(e) => {
                tracing::error!(error = %e, "could not store a Slack click");
                Acceptance::StoreFailed(e)
            }
        }
    }

    /// Remember the signed request (`request_key`: its timestamp and signature) and store the
    /// click, in one transaction. `Ok(None)`: the same signed request was already accepted.
    async fn store_click(
        &self,
        request_key: String,
        interaction: Interaction,
        route: Route,
    ) -> Result<Option<AcceptedClick>, StoreCallError> {
        let payload = interaction.payload.to_string();
        let accepted = self
            .inner
            .with_store(move |s| s.accept_click(&request_key, &payload, now_ms(), REPLAY_WINDOW_MS))
            .await?;
        Ok(match accepted {
            ClickAcceptance::Accepted(id) => Some(AcceptedClick {
                id,
                interaction,
                route,
            }),
            ClickAcceptance::Replay => None,
        })
    }
}
