//! Which headers travel to Echo and back, and the loop marker.

use actix_web::HttpRequest;
use actix_web::http::header::{self as actix_header, HeaderMap as ActixHeaderMap};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// Set on everything Reverb sends to Echo. A request that arrives carrying it came from a
/// Reverb already, so it is never forwarded again.
pub const FORWARDED_HEADER: &str = "x-reverb-forwarded";

/// Whether this request was forwarded by a Reverb (possibly this one, through a loop).
pub fn is_forwarded(req: &HttpRequest) -> bool {
    req.headers().contains_key(FORWARDED_HEADER)
}

/// Headers that belong to one connection, never to the request (RFC 9110 §7.6.1), plus the
/// ones the client recomputes for the new connection.
const HOP_BY_HOP: [&str; 11] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    // actix answered any `100-continue` already; Echo gets the body straight away.
    "expect",
];

/// Header names listed in `Connection:` are hop-by-hop too.
fn connection_tokens(values: impl Iterator<Item = String>) -> Vec<String> {
    values
        .flat_map(|v| {
            v.split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn is_hop_by_hop(name: &str, tokens: &[String]) -> bool {
    HOP_BY_HOP.contains(&name) || tokens.iter().any(|t| t == name)
}

/// The caller's headers for Echo: everything but hop-by-hop headers (and `Content-Length` unless
/// `keep_length`, when the body is re-sent from a buffer), plus the loop marker.
pub(crate) fn for_echo(headers: &ActixHeaderMap, keep_length: bool) -> HeaderMap {
    let tokens = connection_tokens(
        headers
            .get_all(actix_header::CONNECTION)
            .filter_map(|v| v.to_str().ok().map(str::to_owned)),
    );
    let mut out = HeaderMap::with_capacity(headers.len() + 1);
    for (name, value) in headers {
        let name = name.as_str();
        if is_hop_by_hop(name, &tokens)
            || name == FORWARDED_HEADER
            || (!keep_length && name == "content-length")
        {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            out.append(n, v);
        }
    }
    out.insert(
        HeaderName::from_static(FORWARDED_HEADER),
        HeaderValue::from_static("1"),
    );
    out
}

/// Echo's answer headers for the caller: everything but hop-by-hop headers and
/// `Content-Length` (actix sets it from the body it sends).
pub(crate) fn from_echo(
    headers: &HeaderMap,
) -> Vec<(actix_header::HeaderName, actix_header::HeaderValue)> {
    let tokens = connection_tokens(
        headers
            .get_all(reqwest::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned)),
    );
    headers
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            !is_hop_by_hop(name, &tokens) && name != "content-length"
        })
        .filter_map(|(name, value)| {
            Some((
                actix_header::HeaderName::from_bytes(name.as_str().as_bytes()).ok()?,
                actix_header::HeaderValue::from_bytes(value.as_bytes()).ok()?,
            ))
        })
        .collect()
}

/// What a stored event keeps: Spinnaker's `X-SPINNAKER-*` auth context (Echo propagates it to
/// its listeners) and the content type, names as received.
pub(crate) fn for_stored_event(headers: &ActixHeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            name.starts_with("x-spinnaker-") || name == "content-type"
        })
        .filter_map(|(name, value)| match value.to_str() {
            Ok(v) => Some((name.as_str().to_owned(), v.to_owned())),
            Err(_) => {
                tracing::debug!(header = %name, "not forwarding a header value that is not visible ASCII");
                None
            }
        })
        .collect()
}

/// A stored event's headers as a request header map, plus the loop marker.
pub(crate) fn from_stored(headers: &[(String, String)]) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len() + 1);
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            out.append(n, v);
        }
    }
    out.insert(
        HeaderName::from_static(FORWARDED_HEADER),
        HeaderValue::from_static("1"),
    );
    out
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn drops_hop_by_hop_and_connection_listed_headers() {
        let req = TestRequest::post()
            .insert_header(("Connection", "keep-alive, X-Private"))
            .insert_header(("X-Private", "1"))
            .insert_header(("Transfer-Encoding", "chunked"))
            .insert_header(("Host", "reverb:8089"))
            .insert_header(("Content-Length", "12"))
            .insert_header(("X-Hub-Signature", "sha1=abc"))
            .insert_header(("X-SPINNAKER-USER", "jane"))
            .to_http_request();
        let out = for_echo(req.headers(), true);
        assert_eq!(out.get("x-hub-signature").unwrap(), "sha1=abc");
        assert_eq!(out.get("x-spinnaker-user").unwrap(), "jane");
        assert_eq!(out.get("content-length").unwrap(), "12");
        assert_eq!(out.get(FORWARDED_HEADER).unwrap(), "1");
        for gone in ["connection", "x-private", "transfer-encoding", "host"] {
            assert!(out.get(gone).is_none(), "{gone} was forwarded");
        }
        assert!(
            for_echo(req.headers(), false)
                .get("content-length")
                .is_none()
        );
    }

    #[test]
    fn keeps_every_value_of_a_repeated_header() {
        let req = TestRequest::get()
            .append_header(("Accept", "application/json"))
            .append_header(("Accept", "text/plain"))
            .to_http_request();
        let out = for_echo(req.headers(), false);
        let values: Vec<_> = out.get_all("accept").iter().collect();
        assert_eq!(values.len(), 2);
    }

    #[test]
    fn stored_events_keep_spinnaker_headers_and_content_type_only() {
        let req = TestRequest::post()
            .insert_header(("Content-Type", "application/json; charset=UTF-8"))
            .insert_header(("X-SPINNAKER-USER", "jane@example.com"))
            .insert_header(("X-SPINNAKER-EXECUTION-ID", "01HXYZ"))
            .insert_header(("Authorization", "Bearer nope"))
            .to_http_request();
        let mut kept = for_stored_event(req.headers());
        kept.sort();
        assert_eq!(
            kept,
            vec![
                (
                    "content-type".to_owned(),
                    "application/json; charset=UTF-8".to_owned()
                ),
                ("x-spinnaker-execution-id".to_owned(), "01HXYZ".to_owned()),
                ("x-spinnaker-user".to_owned(), "jane@example.com".to_owned()),
            ]
        );
        let map = from_stored(&kept);
        assert_eq!(map.get("x-spinnaker-user").unwrap(), "jane@example.com");
        assert_eq!(map.get(FORWARDED_HEADER).unwrap(), "1");
    }

    #[test]
    fn answers_lose_hop_by_hop_headers_and_length() {
        let mut echo = HeaderMap::new();
        echo.insert("content-type", HeaderValue::from_static("application/json"));
        echo.insert("content-length", HeaderValue::from_static("2"));
        echo.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        echo.append("set-cookie", HeaderValue::from_static("a=1"));
        echo.append("set-cookie", HeaderValue::from_static("b=2"));
        let out = from_echo(&echo);
        let names: Vec<_> = out.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["content-type", "set-cookie", "set-cookie"]);
    }
}
