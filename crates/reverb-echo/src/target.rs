//! Where the Echo behind Reverb lives (`reverb.echo.baseUrl`), and the start-up check that it is
//! not Reverb itself.

use std::net::IpAddr;

use reverb_config::ServerSettings;

/// The config key every message about the passthrough names.
pub const ECHO_BASE_URL_KEY: &str = "reverb.echo.baseUrl";

#[derive(Debug, thiserror::Error)]
pub enum EchoConfigError {
    #[error("{ECHO_BASE_URL_KEY} {url:?} is not usable: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error(
        "{ECHO_BASE_URL_KEY} ({url}) points at this Reverb itself (server.address {address}, \
         server.port {port}); set it to the Echo that runs behind Reverb, \
         e.g. http://spin-echo-legacy:8089"
    )]
    PointsAtItself {
        url: String,
        address: String,
        port: u16,
    },
    #[error("Echo passthrough metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("Echo passthrough HTTP client: {0}")]
    HttpClient(String),
}

impl EchoConfigError {
    /// True for errors an operator fixes in configuration (the binary exits with 2 for these).
    pub fn is_configuration(&self) -> bool {
        matches!(self, Self::InvalidUrl { .. } | Self::PointsAtItself { .. })
    }
}

/// The Echo base URL, checked once at start.
#[derive(Debug, Clone)]
pub(crate) struct EchoTarget {
    /// No trailing slash; request paths (which start with `/`) are appended as they are.
    base: String,
    /// The same URL with any password masked, for logs and `/health`.
    shown: String,
}

impl EchoTarget {
    pub(crate) fn parse(raw: &str, server: &ServerSettings) -> Result<Self, EchoConfigError> {
        let invalid = |reason: &str| EchoConfigError::InvalidUrl {
            url: raw.to_owned(),
            reason: reason.to_owned(),
        };
        let base = raw.trim().trim_end_matches('/').to_owned();
        let mut url = reqwest::Url::parse(&base).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("only http and https are supported"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("a base URL takes no query string or fragment"));
        }
        let host = url.host_str().ok_or_else(|| invalid("no host"))?.to_owned();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| invalid("no port"))?;
        if points_at_us(&host, port, server) {
            return Err(EchoConfigError::PointsAtItself {
                url: raw.to_owned(),
                address: server.address.clone(),
                port: server.port,
            });
        }
        if url.password().is_some() {
            // Setting a password on a URL that already has one cannot fail.
            let _ = url.set_password(Some("******"));
        }
        let shown = url.as_str().trim_end_matches('/').to_owned();
        Ok(Self { base, shown })
    }

    /// The absolute URL of `path_and_query` (which starts with `/`) on Echo.
    pub(crate) fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }

    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }
}

/// Same port as ours, and a host that is ours: the configured `server.address`, or any name
/// for this machine's loopback or wildcard address. Port 0 (pick a free port) cannot be
/// checked here; the `X-Reverb-Forwarded` header stops such loops at run time.
fn points_at_us(host: &str, port: u16, server: &ServerSettings) -> bool {
    if server.port == 0 || port != server.port {
        return false;
    }
    let host = unbracket(host).to_ascii_lowercase();
    let ours = unbracket(&server.address).to_ascii_lowercase();
    host == ours || is_local(&host)
}

fn unbracket(host: &str) -> &str {
    host.trim_start_matches('[').trim_end_matches(']')
}

fn is_local(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    host.parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(address: &str, port: u16) -> ServerSettings {
        ServerSettings {
            address: address.to_owned(),
            port,
            ..ServerSettings::default()
        }
    }

    #[test]
    fn accepts_the_legacy_service() {
        let t =
            EchoTarget::parse("http://spin-echo-legacy:8089/", &server("0.0.0.0", 8089)).unwrap();
        assert_eq!(
            t.url("/notifications?x=1"),
            "http://spin-echo-legacy:8089/notifications?x=1"
        );
        assert_eq!(t.shown(), "http://spin-echo-legacy:8089");
    }

    #[test]
    fn keeps_a_path_prefix() {
        let t = EchoTarget::parse("https://gw.example.com/echo", &server("0.0.0.0", 8089)).unwrap();
        assert_eq!(t.url("/"), "https://gw.example.com/echo/");
    }

    #[test]
    fn refuses_every_spelling_of_ourselves() {
        for url in [
            "http://localhost:8089",
            "http://127.0.0.1:8089",
            "http://127.1.2.3:8089/",
            "http://0.0.0.0:8089",
            "http://[::1]:8089",
            "http://LOCALHOST:8089",
            "http://echo.localhost:8089",
        ] {
            let err = EchoTarget::parse(url, &server("0.0.0.0", 8089)).unwrap_err();
            assert!(err.is_configuration(), "{url}");
            assert!(
                err.to_string().contains("reverb.echo.baseUrl"),
                "{url}: {err}"
            );
        }
        let err = EchoTarget::parse("http://10.1.2.3:8089", &server("10.1.2.3", 8089)).unwrap_err();
        assert!(matches!(
            err,
            EchoConfigError::PointsAtItself { port: 8089, .. }
        ));
        // Port 80 is implied by http://.
        assert!(EchoTarget::parse("http://localhost", &server("0.0.0.0", 80)).is_err());
    }

    #[test]
    fn another_port_or_host_is_fine() {
        assert!(EchoTarget::parse("http://localhost:8090", &server("0.0.0.0", 8089)).is_ok());
        assert!(
            EchoTarget::parse("http://spin-echo-legacy:8089", &server("127.0.0.1", 8089)).is_ok()
        );
        // Port 0 binds a random port: nothing to compare with.
        assert!(EchoTarget::parse("http://127.0.0.1:8089", &server("127.0.0.1", 0)).is_ok());
    }

    #[test]
    fn refuses_unusable_urls_and_masks_passwords() {
        for url in ["ftp://echo:21", "http://echo:8089/?a=b", "not a url"] {
            let err = EchoTarget::parse(url, &server("0.0.0.0", 8089)).unwrap_err();
            assert!(matches!(err, EchoConfigError::InvalidUrl { .. }), "{url}");
        }
        let t = EchoTarget::parse("http://u:secret@echo:8089", &server("0.0.0.0", 8089)).unwrap();
        assert_eq!(t.shown(), "http://u:******@echo:8089");
        assert_eq!(t.url("/"), "http://u:secret@echo:8089/");
    }
}
