//! Which lane a message waits in, and the bookkeeping of the lanes' queues: one task per lane,
//! every message queued once, and the posts that edits wait for.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use reverb_model::OutboundMessage;
use reverb_store::{QueuedMessage, Store};

use crate::response_url;

/// A pending message as its lane holds it (the message itself stays in the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) id: i64,
    pub(super) next_attempt_ms: i64,
    /// For a post that records a message reference: that key (edits of it wait for the post).
    pub(super) posts_ref: Option<String>,
}

/// A pending message and the lane it waits in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Scheduled {
    pub(super) lane: String,
    pub(super) entry: Entry,
}

impl Scheduled {
    pub(super) fn of(message: &OutboundMessage, id: i64, next_attempt_ms: i64) -> Self {
        let posts_ref = match message {
            OutboundMessage::Post(post) => post.ref_key.clone().filter(|k| !k.is_empty()),
            _ => None,
        };
        Self {
            lane: lane_of(message),
            entry: Entry {
                id,
                next_attempt_ms,
                posts_ref,
            },
        }
    }
}

/// The lane a message waits in (see the engine's documentation).
pub(super) fn lane_of(message: &OutboundMessage) -> String {
    match message {
        OutboundMessage::Post(_) | OutboundMessage::Ephemeral(_) => message.lane(),
        OutboundMessage::Update(_) => format!("edit:{}", message.lane()),
        OutboundMessage::ResponseUrl(reply) => response_url::lane(&reply.url),
    }
}

/// Read the pending messages' bodies to place them in their lanes. A message gone meanwhile is
/// left out; one the store cannot read now waits in the lane the store recorded (its channel's),
/// where it keeps its order with the channel's posts.
pub(super) fn schedule(store: &dyn Store, queued: Vec<QueuedMessage>) -> Vec<Scheduled> {
    queued
        .into_iter()
        .filter_map(|q| match store.pending_message(q.id) {
            Ok(Some(m)) => Some(Scheduled::of(&m.message, q.id, q.next_attempt_ms)),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(id = q.id, error = %e, "cannot read a pending message to place it; it waits in its channel's lane");
                Some(Scheduled {
                    lane: q.lane,
                    entry: Entry {
                        id: q.id,
                        next_attempt_ms: q.next_attempt_ms,
                        posts_ref: None,
                    },
                })
            }
        })
        .collect()
}

/// Per-lane queues, and every id queued anywhere (so a message is never queued twice).
#[derive(Default)]
pub(super) struct Lanes {
    queues: HashMap<String, VecDeque<Entry>>,
    queued_ids: HashSet<i64>,
    /// Lanes with a running task, with that task's number: exactly one task per lane keeps the
    /// order, and a task that ends only ever clears its own mark.
    pub(super) running: HashMap<String, u64>,
    next_task: u64,
    /// Reference keys of queued posts, with their ids.
    pub(super) queued_posts: HashMap<String, BTreeSet<i64>>,
    /// The highest id ever queued (the sweeper looks for messages above it).
    pub(super) highest_id: i64,
}

impl Lanes {
    /// Queue one message; returns the task number to start when its lane has no task.
    pub(super) fn push(&mut self, s: Scheduled) -> Option<(String, u64)> {
        self.highest_id = self.highest_id.max(s.entry.id);
        if !self.queued_ids.insert(s.entry.id) {
            return None;
        }
        if let Some(key) = &s.entry.posts_ref {
            self.queued_posts
                .entry(key.clone())
                .or_default()
                .insert(s.entry.id);
        }
        self.queues
            .entry(s.lane.clone())
            .or_default()
            .push_back(s.entry);
        self.claim(&s.lane)
    }

    /// Mark `lane` as served by a new task, unless one serves it already.
    fn claim(&mut self, lane: &str) -> Option<(String, u64)> {
        if self.running.contains_key(lane) {
            return None;
        }
        self.next_task += 1;
        self.running.insert(lane.to_string(), self.next_task);
        Some((lane.to_string(), self.next_task))
    }

    /// The message at the head of `lane`. `None` when the lane is empty: task `task` then stops
    /// serving it, under the same lock as [`Lanes::push`], so a message queued from now on
    /// starts a new task.
    pub(super) fn head(&mut self, lane: &str, task: u64) -> Option<Entry> {
        if let Some(entry) = self.queues.get(lane).and_then(|q| q.front().cloned()) {
            return Some(entry);
        }
        self.queues.remove(lane);
        self.release(lane, task);
        None
    }

    /// Task `task` no longer serves `lane` (a newer task's mark stays).
    pub(super) fn release(&mut self, lane: &str, task: u64) {
        if self.running.get(lane) == Some(&task) {
            self.running.remove(lane);
        }
    }

    /// Remove message `id` from `lane`; true when it was a post others may wait for.
    pub(super) fn remove(&mut self, lane: &str, id: i64) -> bool {
        let mut was_post = false;
        if let Some(queue) = self.queues.get_mut(lane)
            && let Some(at) = queue.iter().position(|e| e.id == id)
            && let Some(entry) = queue.remove(at)
            && let Some(key) = entry.posts_ref
        {
            was_post = true;
            if let Some(ids) = self.queued_posts.get_mut(&key) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.queued_posts.remove(&key);
                }
            }
        }
        self.queued_ids.remove(&id);
        was_post
    }

    /// Message `id` of `lane` is next tried at `next_attempt_ms`.
    pub(super) fn set_next_attempt(&mut self, lane: &str, id: i64, next_attempt_ms: i64) {
        if let Some(entry) = self
            .queues
            .get_mut(lane)
            .and_then(|q| q.iter_mut().find(|e| e.id == id))
        {
            entry.next_attempt_ms = next_attempt_ms;
        }
    }

    /// Whether a post recording `key` was accepted before message `id` and is still queued.
    pub(super) fn earlier_post_queued(&self, key: &str, id: i64) -> bool {
        self.queued_posts
            .get(key)
            .and_then(BTreeSet::first)
            .is_some_and(|&first| first < id)
    }

    /// Lanes with queued messages and no task (their task ended abnormally).
    pub(super) fn orphaned(&mut self) -> Vec<(String, u64)> {
        let lanes: Vec<String> = self
            .queues
            .iter()
            .filter(|(lane, queue)| !queue.is_empty() && !self.running.contains_key(*lane))
            .map(|(lane, _)| lane.clone())
            .collect();
        lanes.iter().filter_map(|lane| self.claim(lane)).collect()
    }
}
