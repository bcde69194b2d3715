//! The one way async code calls the store (or anything else that blocks): on Tokio's blocking
//! pool, so a slow disk or a database round trip never stalls an async worker.

use std::sync::Arc;

/// The blocking pool could not run the call (the runtime is shutting down or the call panicked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the blocking worker pool could not run the call")]
pub struct WorkerGone;

/// Run `call` with `shared` on the blocking pool and wait for its answer.
pub async fn off_thread<S, T>(
    shared: Arc<S>,
    call: impl FnOnce(&S) -> T + Send + 'static,
) -> Result<T, WorkerGone>
where
    S: ?Sized + Send + Sync + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(move || call(shared.as_ref()))
        .await
        .map_err(|_| WorkerGone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_the_call_and_reports_a_panic() {
        let shared: Arc<str> = Arc::from("store");
        assert_eq!(off_thread(shared.clone(), |s| s.len()).await, Ok(5));
        let panicked: Result<(), WorkerGone> =
            off_thread(shared, |_| panic!("the call failed")).await;
        assert_eq!(panicked, Err(WorkerGone));
    }
}
