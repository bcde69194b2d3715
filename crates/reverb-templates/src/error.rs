//! Errors raised while loading templates. Rendering at send time never fails (it falls back).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read the template directory {dir}: {source}")]
    ReadDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot read template {file}: {source}")]
    ReadFile {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{file}: unknown template name; expected one of {known} (or a helper whose name starts with '_')"
    )]
    UnknownTemplate { file: PathBuf, known: String },

    #[error("{}: {message}", location(file, *line))]
    Parse {
        file: PathBuf,
        line: Option<usize>,
        message: String,
    },

    /// An override parsed but renders something Slack would reject (checked against built-in
    /// sample messages).
    #[error("{}: {problem} (checked with the sample {sample})", location(file, *line))]
    Invalid {
        file: PathBuf,
        line: Option<usize>,
        sample: String,
        problem: String,
    },

    /// A direct render ([`crate::TemplateEngine::render_texts`]) failed.
    #[error("{}: {message}", location(file, *line))]
    Render {
        file: PathBuf,
        line: Option<usize>,
        message: String,
    },

    /// The templates built into the binary failed to load: a bug in Reverb, not in the config.
    #[error("built-in template {name} failed to load: {message}")]
    Embedded { name: String, message: String },
}

fn location(file: &std::path::Path, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{}:{line}", file.display()),
        None => file.display().to_string(),
    }
}
