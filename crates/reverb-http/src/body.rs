//! Reading request bodies ourselves, so that size and content-type problems get clear JSON
//! errors instead of extractor defaults, and so that no request can hold memory or a
//! connection for long: a body must arrive whole within `reverb.server.bodyTimeout`, and the
//! bytes of all bodies in memory at once stay under `reverb.server.maxBufferedBodySize`
//! (docs/configuration.md, "Reverb's own keys").

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{self, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{HttpMessage, HttpRequest};
use futures_util::{Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::errors::ApiError;

/// Bodies up to this size (declared, or received so far when undeclared) may use the reserve.
pub const SMALL_BODY_BYTES: usize = 64 * 1024;

/// What every request body is read under; shared by all workers (`web::Data`).
///
/// The budget of `reverb.server.maxBufferedBodySize` bytes is one permit per byte of request
/// body in memory, taken as chunks arrive (never for bytes a header merely promises) and given
/// back when the body is dropped. An eighth of it (at most what leaves room for one body of
/// the largest size) is kept for small bodies, so that clients hogging the budget with large
/// bodies sent slowly cannot hold up Orca's ordinary events.
#[derive(Debug, Clone)]
pub struct BodyLimits {
    shared: Arc<Semaphore>,
    shared_bytes: usize,
    /// Only for small bodies, when the shared part is taken.
    reserve: Arc<Semaphore>,
    reserve_bytes: usize,
    budget_bytes: usize,
    timeout: Duration,
}

impl BodyLimits {
    /// `max_body_bytes`: the largest body any route accepts (`reverb.server.maxRequestBodySize`);
    /// the shared part of the budget always has room for one.
    pub fn new(max_buffered_bytes: usize, max_body_bytes: usize, timeout: Duration) -> Self {
        let budget_bytes = max_buffered_bytes
            .min(Semaphore::MAX_PERMITS)
            .min(u32::MAX as usize)
            .max(1);
        let reserve_bytes = (budget_bytes / 8).min(budget_bytes.saturating_sub(max_body_bytes));
        let shared_bytes = budget_bytes - reserve_bytes;
        Self {
            shared: Arc::new(Semaphore::new(shared_bytes)),
            shared_bytes,
            reserve: Arc::new(Semaphore::new(reserve_bytes)),
            reserve_bytes,
            budget_bytes,
            timeout,
        }
    }

    /// The server's limits; handlers run without the server (unit tests) get the defaults.
    pub fn of(req: &HttpRequest) -> Self {
        if let Some(limits) = req.app_data::<web::Data<BodyLimits>>() {
            return limits.as_ref().clone();
        }
        static DEFAULT: OnceLock<BodyLimits> = OnceLock::new();
        DEFAULT
            .get_or_init(|| {
                let server = reverb_config::ServerSettings::default();
                Self::new(
                    server.max_buffered_body_bytes,
                    server.max_request_body_bytes,
                    server.body_timeout,
                )
            })
            .clone()
    }

    /// Bytes of the budget not taken right now.
    #[cfg(test)]
    pub fn available(&self) -> usize {
        self.shared.available_permits() + self.reserve.available_permits()
    }

    /// A reader for one body of at most `limit` bytes (`declared`: its `Content-Length`), whose
    /// deadline starts now.
    pub fn reader<S>(&self, stream: S, limit: usize, declared: Option<usize>) -> BodyReader<S> {
        BodyReader {
            stream,
            limits: self.clone(),
            deadline: Instant::now() + self.timeout,
            limit,
            declared,
            received: 0,
        }
    }

    /// Room for `bytes` more of a body, waiting until `deadline`.
    async fn room(&self, bytes: usize, small: bool, deadline: Instant) -> Option<Budget> {
        let wanted = bytes.min(self.shared_bytes) as u32;
        if let Ok(permit) = self.shared.clone().try_acquire_many_owned(wanted) {
            return Some(Budget::from(permit));
        }
        let pool = if small && bytes <= self.reserve_bytes {
            &self.reserve
        } else {
            &self.shared
        };
        match tokio::time::timeout_at(deadline, pool.clone().acquire_many_owned(wanted)).await {
            Ok(Ok(permit)) => Some(Budget::from(permit)),
            // Closed never happens (the semaphores are never closed); treated as no room.
            Ok(Err(_)) | Err(_) => None,
        }
    }
}

/// A share of the body budget, given back when dropped.
#[derive(Debug, Default)]
pub struct Budget {
    permits: Vec<OwnedSemaphorePermit>,
}

impl From<OwnedSemaphorePermit> for Budget {
    fn from(permit: OwnedSemaphorePermit) -> Self {
        Self {
            permits: vec![permit],
        }
    }
}

impl Budget {
    /// Hold `other` too (permits of the same pool merge into one).
    pub fn merge(&mut self, other: Budget) {
        for permit in other.permits {
            match self
                .permits
                .iter_mut()
                .find(|held| Arc::ptr_eq(held.semaphore(), permit.semaphore()))
            {
                Some(held) => held.merge(permit),
                None => self.permits.push(permit),
            }
        }
    }
}

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    TooLarge {
        limit: usize,
    },
    /// The body did not arrive whole within the body timeout.
    TimedOut {
        timeout: Duration,
    },
    /// No room in the buffered-bytes budget within the body timeout.
    NoRoom {
        budget: usize,
    },
    Unreadable(String),
}

impl From<BodyError> for ApiError {
    /// The rest of a refused body is never read, so the connection is closed after the answer.
    fn from(e: BodyError) -> Self {
        let error = match e {
            BodyError::TooLarge { limit } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "Request body is larger than the limit of {limit} bytes (reverb.server.maxRequestBodySize)"
                ),
            ),
            BodyError::TimedOut { timeout } => ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "The request body did not arrive within {} ms (reverb.server.bodyTimeout)",
                    timeout.as_millis()
                ),
            ),
            BodyError::NoRoom { budget } => ApiError::unavailable(format!(
                "Reverb's room for request bodies ({budget} bytes, \
                 reverb.server.maxBufferedBodySize) stayed full for the body timeout; retry later"
            )),
            BodyError::Unreadable(e) => {
                ApiError::bad_request(format!("Could not read the request body: {e}"))
            }
        };
        error.closing()
    }
}

/// Reads one body chunk by chunk, each chunk with its share of the budget.
pub struct BodyReader<S> {
    stream: S,
    limits: BodyLimits,
    deadline: Instant,
    limit: usize,
    declared: Option<usize>,
    received: usize,
}

impl<S> BodyReader<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    /// The next chunk and the budget it holds (dropping the budget gives it back: do so once the
    /// chunk is no longer in memory); `None` at the end of the body.
    pub async fn next_chunk(&mut self) -> Result<Option<(Bytes, Budget)>, BodyError> {
        if self.declared.is_some_and(|n| n > self.limit) {
            return Err(BodyError::TooLarge { limit: self.limit });
        }
        // A timeout polls what it bounds before its clock: without this check a body whose
        // bytes are all waiting would be read to the end past its deadline.
        if Instant::now() >= self.deadline {
            return Err(BodyError::TimedOut {
                timeout: self.limits.timeout,
            });
        }
        let chunk = match tokio::time::timeout_at(self.deadline, self.stream.next()).await {
            Err(_) => {
                return Err(BodyError::TimedOut {
                    timeout: self.limits.timeout,
                });
            }
            Ok(None) => return Ok(None),
            Ok(Some(Err(e))) => return Err(BodyError::Unreadable(e.to_string())),
            Ok(Some(Ok(chunk))) => chunk,
        };
        if self.received + chunk.len() > self.limit {
            return Err(BodyError::TooLarge { limit: self.limit });
        }
        self.received += chunk.len();
        let small = self.declared.unwrap_or(self.received) <= SMALL_BODY_BYTES;
        match self.limits.room(chunk.len(), small, self.deadline).await {
            Some(budget) => Ok(Some((chunk, budget))),
            None => Err(BodyError::NoRoom {
                budget: self.limits.budget_bytes,
            }),
        }
    }

    /// The whole body, and the budget it holds.
    pub async fn read_all(&mut self) -> Result<(Bytes, Budget), BodyError> {
        // Memory grows with what arrives, never with what a header promises.
        let capacity = self
            .declared
            .unwrap_or(0)
            .min(self.limit)
            .min(SMALL_BODY_BYTES);
        let mut body = BytesMut::with_capacity(capacity);
        let mut held = Budget::default();
        while let Some((chunk, budget)) = self.next_chunk().await? {
            body.extend_from_slice(&chunk);
            held.merge(budget);
        }
        Ok((body.freeze(), held))
    }

    /// Body bytes read so far.
    pub fn received(&self) -> usize {
        self.received
    }
}

/// The budget a body read by [`read_limited`] holds, kept with the request until it is done.
struct HeldBody {
    _budget: Budget,
}

/// A request's body as the handler sees it, with a second handle for the middleware: once
/// the body has been read to its end the handles let it go; until then they keep it alive.
#[derive(Clone)]
struct TrackedPayload(Rc<RefCell<Option<dev::Payload>>>);

impl Stream for TrackedPayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut slot = self.0.borrow_mut();
        let Some(payload) = slot.as_mut() else {
            return Poll::Ready(None);
        };
        let next = Pin::new(payload).poll_next(cx);
        if matches!(next, Poll::Ready(None)) {
            *slot = None;
        }
        next
    }
}

fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > 0)
}

/// Middleware: a request body that was not read to its end (refused for its size, its pace or
/// want of room, or never read by a route that had no use for it) is kept, unread, until the
/// answer is written, and the connection is then closed. Let go early, a chunked body would
/// instead be drained for as long as its sender cares to trickle it.
pub async fn close_after_unread_body(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if !has_body(&req) {
        return Ok(next
            .call(req)
            .await?
            .map_body(|_, body| EitherBody::left(body)));
    }
    let tracked = TrackedPayload(Rc::new(RefCell::new(Some(req.parts_mut().1.take()))));
    let handler_side: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
        Box::pin(tracked.clone());
    req.set_payload(dev::Payload::from(handler_side));
    let res = next.call(req).await?;
    if tracked.0.borrow().is_none() {
        return Ok(res.map_body(|_, body| EitherBody::left(body)));
    }
    Ok(res.map_into_boxed_body().map_body(|_, body| {
        EitherBody::right(HoldingBody {
            body,
            _unread: tracked,
        })
    }))
}

/// A response body that keeps an unread request body alive while it is written.
struct HoldingBody {
    body: BoxBody,
    _unread: TrackedPayload,
}

impl MessageBody for HoldingBody {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

/// Read the whole body, refusing more than `limit` bytes with a 413, a body slower than the
/// body timeout with a 408, and one that finds no room in the budget in time with a 503.
pub async fn read_limited<S>(req: &HttpRequest, payload: S, limit: usize) -> Result<Bytes, ApiError>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    let mut reader = BodyLimits::of(req).reader(payload, limit, declared_length(req));
    let (body, held) = match reader.read_all().await {
        Ok(read) => read,
        Err(problem) => {
            tracing::info!(problem = ?problem, received = reader.received(), "request body refused");
            return Err(problem.into());
        }
    };
    // Dropped with the request, after the answer: the body stays counted while in use.
    req.extensions_mut().insert(HeldBody { _budget: held });
    Ok(body)
}

/// `Content-Length`, when the caller sent a readable one.
pub fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
}

fn content_type(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

/// JSON endpoints take `application/json` (or `+json`), or no content type at all (as some
/// scripts send); anything else is a 415, as Spring answers.
pub fn require_json(req: &HttpRequest) -> Result<(), ApiError> {
    match content_type(req) {
        None => Ok(()),
        Some(ct) if ct == "application/json" || ct.ends_with("+json") => Ok(()),
        Some(ct) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content type '{ct}' not supported; send application/json"),
        )),
    }
}

/// Slack's callbacks are form-encoded; Gate relays them with the same type.
pub fn require_form(req: &HttpRequest) -> Result<(), ApiError> {
    match content_type(req) {
        Some(ct) if ct == "application/x-www-form-urlencoded" => Ok(()),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content type '{}' not supported; Slack callbacks are application/x-www-form-urlencoded",
                other.unwrap_or_default()
            ),
        )),
    }
}

/// Decode a JSON body into `T`, with serde's line and column in the 400 message.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(format!(
            "Required request body is missing: expected {what} JSON"
        )));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Malformed {what} JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use futures_util::stream;

    use super::*;

    type Chunk = Result<Bytes, PayloadError>;

    fn whole(parts: &[&'static [u8]]) -> impl Stream<Item = Chunk> + Unpin {
        stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    /// A client that sends one byte every 20 ms and never finishes.
    fn trickle() -> impl Stream<Item = Chunk> + Unpin {
        Box::pin(stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Some((Ok(Bytes::from_static(b"x")), ()))
        }))
    }

    #[actix_web::test]
    async fn a_body_slower_than_the_timeout_is_cut_off_with_408() {
        let limits = BodyLimits::new(1024, 1024, Duration::from_millis(150));
        let started = Instant::now();
        let err = limits
            .reader(trickle(), 1024, None)
            .read_all()
            .await
            .unwrap_err();
        assert_eq!(
            err,
            BodyError::TimedOut {
                timeout: Duration::from_millis(150)
            }
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(limits.available(), 1024, "the budget is given back");
        let api = ApiError::from(err);
        assert_eq!(api.status, StatusCode::REQUEST_TIMEOUT);
        assert!(api.message.contains("reverb.server.bodyTimeout"), "{api}");
    }

    #[actix_web::test]
    async fn the_deadline_holds_even_when_every_byte_is_waiting() {
        // A deadline that has passed already: bytes ready to read change nothing.
        let limits = BodyLimits::new(1024, 1024, Duration::ZERO);
        let mut reader = limits.reader(whole(&[b"a", b"b", b"c"]), 1024, Some(3));
        assert!(matches!(
            reader.read_all().await,
            Err(BodyError::TimedOut { .. })
        ));
        assert_eq!(reader.received(), 0);
        assert_eq!(limits.available(), 1024);
    }

    #[actix_web::test]
    async fn bodies_share_one_budget_and_wait_for_room_up_to_their_timeout() {
        let limits = BodyLimits::new(10, 10, Duration::from_millis(150));
        let (first, held) = limits
            .reader(whole(&[b"1234", b"5678"]), 10, Some(8))
            .read_all()
            .await
            .unwrap();
        assert_eq!(&first[..], b"12345678");
        assert_eq!(limits.available(), 2);
        let err = limits
            .reader(whole(&[b"abcde"]), 10, None)
            .read_all()
            .await
            .unwrap_err();
        assert_eq!(err, BodyError::NoRoom { budget: 10 });
        assert_eq!(ApiError::from(err).status, StatusCode::SERVICE_UNAVAILABLE);
        drop(held);
        assert_eq!(limits.available(), 10);
        let (second, _held) = limits
            .reader(whole(&[b"abcde"]), 10, None)
            .read_all()
            .await
            .unwrap();
        assert_eq!(&second[..], b"abcde");
        assert_eq!(limits.available(), 5);
    }

    fn chunks(count: usize, size: usize) -> impl Stream<Item = Chunk> + Unpin {
        stream::iter((0..count).map(move |_| Ok(Bytes::from(vec![b' '; size]))))
    }

    #[actix_web::test]
    async fn large_bodies_hogging_the_budget_leave_room_for_small_ones() {
        const KIB: usize = 1024;
        // 1 MiB in all; the largest body is 896 KiB, so 128 KiB is kept for small bodies.
        let limits = BodyLimits::new(1024 * KIB, 896 * KIB, Duration::from_millis(150));
        let (_hog, held) = limits
            .reader(chunks(14, 64 * KIB), 896 * KIB, Some(896 * KIB))
            .read_all()
            .await
            .unwrap();
        assert_eq!(limits.available(), 128 * KIB);
        let large = limits
            .reader(chunks(4, 50 * KIB), 896 * KIB, Some(200 * KIB))
            .read_all()
            .await;
        assert_eq!(
            large.unwrap_err(),
            BodyError::NoRoom { budget: 1024 * KIB },
            "a large body waits for the shared part"
        );
        let (small, _small_held) = limits
            .reader(chunks(2, KIB), 896 * KIB, Some(2 * KIB))
            .read_all()
            .await
            .expect("a small body finds room in the reserve");
        assert_eq!(small.len(), 2 * KIB);
        assert_eq!(limits.available(), 126 * KIB);
        drop(held);
        assert_eq!(limits.available(), 1022 * KIB);
    }

    #[actix_web::test]
    async fn too_large_declared_or_sent() {
        let limits = BodyLimits::new(100, 100, Duration::from_secs(5));
        let declared = limits.reader(whole(&[]), 4, Some(5)).read_all().await;
        assert_eq!(declared.unwrap_err(), BodyError::TooLarge { limit: 4 });
        let sent = limits
            .reader(whole(&[b"abc", b"de"]), 4, None)
            .read_all()
            .await;
        assert_eq!(sent.unwrap_err(), BodyError::TooLarge { limit: 4 });
        assert_eq!(limits.available(), 100);
    }

    #[actix_web::test]
    async fn a_body_stays_counted_until_its_request_is_done() {
        let limits = BodyLimits::new(64, 64, Duration::from_secs(5));
        let req = TestRequest::default()
            .app_data(web::Data::new(limits.clone()))
            .to_http_request();
        let body = read_limited(&req, whole(&[b"hello ", b"world"]), 64)
            .await
            .unwrap();
        assert_eq!(&body[..], b"hello world");
        assert_eq!(limits.available(), 64 - 11);
        drop(req);
        assert_eq!(limits.available(), 64);
    }
}
