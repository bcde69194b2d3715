//! Logging: human-readable by default, JSON by `reverb.logging.format: json`; level from
//! `RUST_LOG`, else `reverb.logging.level`, else `info`.
//!
//! Field values often come from callers (a channel address, a path, an error quoting a body).
//! In the text format every control character in a value or message is written escaped
//! (`\r`, `\n`, `\u{1b}`), so a value can never start a line of its own that passes for a
//! log record. The JSON format escapes them already.

use std::fmt::{self, Write as _};
use std::io::IsTerminal;

use reverb_config::LogFormat;
use tracing::field::Field;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{FormatFields, Writer, debug_fn};

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
        LogFormat::Text => builder.fmt_fields(escaped_fields()).try_init(),
    };
}

/// The text format's fields, `message name=value name=value`, with control characters escaped.
fn escaped_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    debug_fn(write_field).delimited(" ")
}

fn write_field(writer: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug) -> fmt::Result {
    let name = field.name();
    // Metadata of records bridged from the `log` crate, already shown as target and level.
    if name.starts_with("log.") {
        return Ok(());
    }
    if name != "message" {
        let name = name.strip_prefix("r#").unwrap_or(name);
        if writer.has_ansi_escapes() {
            write!(writer, "\x1b[3m{name}\x1b[0m\x1b[2m=\x1b[0m")?;
        } else {
            write!(writer, "{name}=")?;
        }
    }
    write!(Escaping(writer), "{value:?}")
}

/// Writes through, with every control character escaped.
struct Escaping<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(at) = rest.find(char::is_control) {
            self.0.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c => write!(self.0, "\\u{{{:x}}}", c as u32)?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn values_and_messages_cannot_split_a_line() {
        let out = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(out.clone())
            .fmt_fields(escaped_fields())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let channel = "ops\r\nINFO fake line";
            let span = tracing::info_span!("request", path = %"/a\nb");
            let _entered = span.enter();
            tracing::info!(channel = %channel, debugged = ?channel, "sent to {channel}\u{1b}[31m");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.contains('\r') && !text.contains('\u{1b}'), "{text}");
        assert!(
            text.contains(r#"channel=ops\r\nINFO fake line"#),
            "Display values escaped: {text}"
        );
        assert!(
            text.contains(r#"debugged="ops\r\nINFO fake line""#),
            "Debug values as before: {text}"
        );
        assert!(
            text.contains(r"sent to ops\r\nINFO fake line\u{1b}[31m"),
            "{text}"
        );
        assert!(text.contains(r"request{path=/a\nb}"), "span fields: {text}");
    }
}
