//! Logging: human-readable by default, JSON by `reverb.logging.format: json`; level from
//! `RUST_LOG`, else `reverb.logging.level`, else `info`.

use std::io::IsTerminal;

use reverb_config::LogFormat;
use tracing_subscriber::EnvFilter;

pub fn init(format: LogFormat, level: Option<&str>) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level.unwrap_or("info")))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second init (tests that build several apps) is harmless; keep the first.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
