//! Group commit: requests that enqueue at the same time share one store transaction.
//!
//! Every caller still gets its answer only once its messages are durable. While one
//! transaction is being committed, the enqueues that arrive meanwhile wait in a queue; the next
//! transaction takes all of them (bounded by [`MAX_GROUPS`] and [`MAX_MESSAGES`]). Under a light
//! load a request is committed alone and at once (no batching window to wait out); under a heavy
//! one the commits stop being the bottleneck. Messages are placed in their lanes here, in id
//! order, before any caller is answered, so per-channel order is commit order
//! (docs/architecture.md, "Durability").

use std::sync::{Arc, Weak};

use reverb_model::OutboundMessage;
use reverb_store::{QueuedMessage, Store, StoreError};
use reverb_support::{now_ms, off_thread};
use tokio::sync::{mpsc, oneshot};

use super::lanes::Scheduled;
use super::{DeliveryEngine, EnqueueError, Inner};

/// The most enqueue requests committed in one transaction.
pub(super) const MAX_GROUPS: usize = 256;
/// Past this many messages in a transaction, no further request joins it.
pub(super) const MAX_MESSAGES: usize = 4096;

/// One caller's messages and where its answer goes.
pub(super) struct Request {
    messages: Vec<OutboundMessage>,
    answer: oneshot::Sender<Result<Vec<i64>, EnqueueError>>,
}

/// The queue into the committer.
pub(super) type Sender = mpsc::UnboundedSender<Request>;

pub(super) fn channel() -> (Sender, mpsc::UnboundedReceiver<Request>) {
    mpsc::unbounded_channel()
}

impl DeliveryEngine {
    /// Persist the messages, then schedule them. Returns once they are durable.
    pub async fn enqueue(&self, messages: Vec<OutboundMessage>) -> Result<Vec<i64>, EnqueueError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let (answer, answered) = oneshot::channel();
        self.inner
            .intake
            .send(Request { messages, answer })
            .map_err(|_| EnqueueError::WorkerGone)?;
        answered.await.map_err(|_| EnqueueError::WorkerGone)?
    }
}

/// The committer task: runs until the engine is gone (it holds the engine weakly, so the queue's
/// sender, owned by the engine, is what keeps it alive).
pub(super) async fn commit_requests(
    engine: Weak<Inner>,
    store: Arc<dyn Store>,
    mut queue: mpsc::UnboundedReceiver<Request>,
) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        let mut messages = batch[0].messages.len();
        while batch.len() < MAX_GROUPS && messages < MAX_MESSAGES {
            match queue.try_recv() {
                Ok(next) => {
                    messages += next.messages.len();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        let groups: Vec<Vec<OutboundMessage>> = batch
            .iter_mut()
            .map(|r| std::mem::take(&mut r.messages))
            .collect();
        let committed = commit(store.clone(), groups).await;
        let Some(inner) = engine.upgrade() else {
            return;
        };
        let engine = DeliveryEngine { inner };
        match committed {
            Ok(per_request) => {
                engine.inner.metrics.intake_commits.inc();
                let mut scheduled = Vec::new();
                let mut answers = Vec::with_capacity(batch.len());
                for (request, (stored, placed)) in batch.into_iter().zip(per_request) {
                    for m in &stored {
                        engine
                            .inner
                            .metrics
                            .accepted
                            .with_label_values(&[m.kind.as_str()])
                            .inc();
                    }
                    scheduled.extend(placed);
                    answers.push((request.answer, stored.iter().map(|m| m.id).collect()));
                }
                // Placed before anyone is answered: a lane sees its messages in commit order.
                engine.dispatch(scheduled);
                for (answer, ids) in answers {
                    let _ = answer.send(Ok(ids));
                }
            }
            Err(failure) => {
                tracing::error!(error = %failure, requests = batch.len(), "could not store messages");
                for request in batch {
                    let _ = request.answer.send(Err(failure.to_enqueue_error()));
                }
            }
        }
    }
}

/// Why a shared transaction failed; every request in it gets the same answer.
#[derive(Debug, Clone, thiserror::Error)]
enum CommitFailure {
    #[error("{0}")]
    Store(String),
    #[error("the store worker stopped")]
    WorkerGone,
}

impl CommitFailure {
    fn to_enqueue_error(&self) -> EnqueueError {
        match self {
            Self::Store(why) => EnqueueError::Shared(why.clone()),
            Self::WorkerGone => EnqueueError::WorkerGone,
        }
    }
}

type Committed = Vec<(Vec<QueuedMessage>, Vec<Scheduled>)>;

/// One transaction for every request's messages. Each stored message is placed by the message
/// in hand (no read back); one the store left out (a decided judgment) is not placed.
async fn commit(
    store: Arc<dyn Store>,
    groups: Vec<Vec<OutboundMessage>>,
) -> Result<Committed, CommitFailure> {
    let now = now_ms();
    let committed = off_thread(store, move |s| {
        let slices: Vec<&[OutboundMessage]> = groups.iter().map(Vec::as_slice).collect();
        s.enqueue_groups(&slices, now).map(|stored| {
            groups
                .iter()
                .zip(stored)
                .map(|(messages, entries)| {
                    let (queued, placed) = messages
                        .iter()
                        .zip(entries)
                        .filter_map(|(message, entry)| {
                            let entry = entry?;
                            let placed = Scheduled::of(message, entry.id, entry.next_attempt_ms);
                            Some((entry, placed))
                        })
                        .unzip();
                    (queued, placed)
                })
                .collect::<Committed>()
        })
    })
    .await
    .map_err(|_| CommitFailure::WorkerGone)?;
    committed.map_err(|e: StoreError| CommitFailure::Store(e.to_string()))
}
