//! The outbound HTTP client the fakes use to call Reverb (clicks, Orca's events).

use std::io;
use std::time::Duration;

/// Generous: a slow Reverb should show up as a slow answer in a test, not as a client error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) fn build() -> io::Result<reqwest::Client> {
    // reqwest is built without a default crypto provider; installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|err| io::Error::other(format!("cannot build the sandbox HTTP client: {err}")))
}
