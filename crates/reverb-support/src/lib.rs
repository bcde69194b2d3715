//! The ideas every Reverb crate needs exactly once: what time it is, how long to wait before
//! trying again, which HTTP failures are worth another try, how an error is told with its causes,
//! and how a blocking store call is made from async code.

pub mod backoff;
pub mod blocking;
pub mod clock;
pub mod errors;
pub mod http;
pub mod retry;

pub use backoff::Backoff;
pub use blocking::{WorkerGone, off_thread};
pub use clock::now_ms;
pub use errors::error_chain;
pub use retry::{Budget, RetryDecision, run_with_retries};
