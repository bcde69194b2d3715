//! Configuration for Reverb, loaded the way Spinnaker loads Echo's.
//!
//! Files `spinnaker.yml`, `echo.yml`, `spinnaker-<profile>.yml` and `echo-<profile>.yml` are
//! read from `/opt/spinnaker/config/`, `~/.spinnaker/`, each `--config-dir` and
//! `REVERB_CONFIG_DIR`, later winning; multi-document files are gated on profiles; values are
//! merged per flattened property, looked up with relaxed names, overridden by environment
//! variables, and `${key:default}` placeholders are resolved on read. Only the keys Reverb
//! reads are typed and checked, so anything else Halyard writes is left alone.
//! `docs/configuration.md` is the operator's guide.

mod bind;
mod convert;
mod describe;
mod discovery;
mod error;
mod keys;
mod options;
mod profiles;
mod properties;
mod resolve;
mod secret;
mod settings;
mod users_file;
mod yaml;

use std::path::Path;

pub use error::{ConfigError, Origin};
pub use options::LoadOptions;
pub use resolve::{RawConfig, ResolvedValue};
pub use secret::Secret;
pub use settings::{
    ConfigEntry, DeliverySettings, IdentityFallback, JudgmentSettings, LogFormat, MessageStyle,
    ReverbSettings, ServerSettings, Settings, SlackClientSettings, SlackSettings,
    SpinnakerUserRule, UnknownMessageStyle,
};
pub use users_file::{UsersFile, UsersFileError};

/// Loads and checks the configuration described by `opts`.
pub fn load(opts: &LoadOptions) -> Result<Settings, ConfigError> {
    load_from(opts, Path::new(discovery::SYSTEM_CONFIG_DIR))
}

/// [`load`] with the system directory replaced, so tests never depend on the machine's
/// `/opt/spinnaker/config`.
fn load_from(opts: &LoadOptions, system_dir: &Path) -> Result<Settings, ConfigError> {
    let loaded = discovery::load_properties(opts, system_dir)?;
    let raw = RawConfig::new(loaded.store, opts.env.clone());
    bind::bind(raw, loaded.profiles, loaded.sources)
}

#[cfg(test)]
mod tests;
