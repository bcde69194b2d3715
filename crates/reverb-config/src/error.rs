//! The one error type of configuration loading, and where a value came from.

use std::fmt;
use std::path::PathBuf;

/// Where a configuration value came from; shown in errors and by `reverb config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A YAML file that was read.
    File(PathBuf),
    /// An environment variable, by name.
    Env(String),
    /// Reverb's built-in default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Env(name) => write!(f, "environment variable {name}"),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// Why the configuration could not be loaded. Every variant displays as one line naming the
/// key and/or file at fault, so the binary can print it and exit.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A directory given with `--config-dir` does not exist.
    #[error("--config-dir {}: directory does not exist", path.display())]
    MissingConfigDir { path: PathBuf },
    /// A config file exists but could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A config file is not valid YAML, or a document in it is not a mapping.
    #[error("{}: invalid YAML: {message}", path.display())]
    Yaml { path: PathBuf, message: String },
    /// A key Reverb reads holds a value it cannot use.
    #[error("{key}: {problem} (from {origin})")]
    InvalidValue {
        key: String,
        problem: String,
        origin: Origin,
    },
    /// `reverb.judgments.usersFile` cannot be used.
    #[error("reverb.judgments.usersFile: {0}")]
    UsersFile(#[from] crate::users_file::UsersFileError),
}

impl ConfigError {
    pub(crate) fn invalid(key: &str, problem: impl Into<String>, origin: &Origin) -> Self {
        ConfigError::InvalidValue {
            key: key.to_owned(),
            problem: problem.into(),
            origin: origin.clone(),
        }
    }
}
