//! The fake Fiat's HTTP-side state: the request log, injected failures and the down switch.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::model::{FiatFailure, FiatRequest};
use super::permissions::FiatPermissions;

pub struct FiatState {
    base_url: String,
    permissions: FiatPermissions,
    data: Mutex<FiatData>,
}

#[derive(Debug, Default)]
struct FiatData {
    /// Sequence number per request, so an answer finishing late finds its entry.
    requests: Vec<(u64, FiatRequest)>,
    next_id: u64,
    faults: VecDeque<FiatFailure>,
    down: bool,
}

impl FiatState {
    pub(crate) fn new(base_url: String, permissions: FiatPermissions) -> Self {
        Self {
            base_url,
            permissions,
            data: Mutex::new(FiatData::default()),
        }
    }

    /// Never held across an await.
    fn data(&self) -> MutexGuard<'_, FiatData> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn permissions(&self) -> &FiatPermissions {
        &self.permissions
    }

    pub fn requests(&self) -> Vec<FiatRequest> {
        self.data()
            .requests
            .iter()
            .map(|(_, request)| request.clone())
            .collect()
    }

    pub fn clear_requests(&self) {
        self.data().requests.clear();
    }

    pub fn fail_next(&self, times: usize, failure: FiatFailure) {
        self.data()
            .faults
            .extend(std::iter::repeat_n(failure, times));
    }

    pub fn set_down(&self, down: bool) {
        self.data().down = down;
    }

    pub fn is_down(&self) -> bool {
        self.data().down
    }

    /// Forgets requests, faults and the down switch, and resets the permissions.
    pub fn reset(&self) {
        {
            let mut data = self.data();
            let next_id = data.next_id;
            *data = FiatData {
                next_id,
                ..FiatData::default()
            };
        }
        self.permissions.reset();
    }

    /// Logs a request as it arrives; returns its id, whether Fiat is down, and the next fault.
    pub(crate) fn begin(&self, request: FiatRequest) -> (u64, bool, Option<FiatFailure>) {
        let mut data = self.data();
        let id = data.next_id;
        data.next_id += 1;
        data.requests.push((id, request));
        // While down nothing is answered, so no queued fault is used up.
        let fault = if data.down {
            None
        } else {
            data.faults.pop_front()
        };
        (id, data.down, fault)
    }

    pub(crate) fn finish(&self, id: u64, status: u16) {
        if let Some((_, request)) = self
            .data()
            .requests
            .iter_mut()
            .rev()
            .find(|(seq, _)| *seq == id)
        {
            request.status = status;
        }
    }
}
