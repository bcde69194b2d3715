//! What to load: directories, profiles and the environment, injectable for tests.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Inputs of [`crate::load`].
///
/// Besides `config_dirs`, `load` reads three variables from `env`: `HOME` (for
/// `~/.spinnaker/`, only with `include_default_dirs`), `REVERB_CONFIG_DIR` (one more directory,
/// read last, skipped if missing) and, when `profiles` is `None`, `SPRING_PROFILES_ACTIVE`.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--config-dir` directories in command-line order; each must exist.
    pub config_dirs: Vec<PathBuf>,
    /// Read `/opt/spinnaker/config/` and `~/.spinnaker/` first (skipped when missing).
    pub include_default_dirs: bool,
    /// Active profiles in order; `None` takes `SPRING_PROFILES_ACTIVE` from `env`, default `local`.
    pub profiles: Option<Vec<String>>,
    /// The environment: overrides keys, resolves placeholders, names the directories above.
    pub env: BTreeMap<String, String>,
}

impl LoadOptions {
    /// Options for the running process: default directories on, the process environment
    /// (variables that are not valid UTF-8 are left out), profiles from
    /// `SPRING_PROFILES_ACTIVE`; `REVERB_CONFIG_DIR` is applied by `load` after `cli_dirs`.
    pub fn from_process(cli_dirs: Vec<PathBuf>) -> Self {
        let env = std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .collect();
        LoadOptions {
            config_dirs: cli_dirs,
            include_default_dirs: true,
            profiles: None,
            env,
        }
    }

    /// Options that read only `config_dirs`, with an empty environment and the default
    /// profile: what tests of other crates want.
    pub fn isolated(config_dirs: Vec<PathBuf>) -> Self {
        LoadOptions {
            config_dirs,
            include_default_dirs: false,
            profiles: None,
            env: BTreeMap::new(),
        }
    }
}
