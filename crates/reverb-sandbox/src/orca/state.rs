//! Everything the fake Orca knows: executions, PATCHes, deliveries and its availability switches.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;

use super::judgment::Judges;
use super::model::{OrcaDelivery, OrcaPatch, OrcaRequest};
use crate::fiat::FiatPermissions;

pub struct OrcaState {
    base_url: String,
    role_members: HashMap<String, Vec<String>>,
    fiat: Option<FiatPermissions>,
    pub(crate) http: reqwest::Client,
    pub(crate) runtime: tokio::runtime::Handle,
    data: Mutex<OrcaData>,
}

#[derive(Debug, Default)]
pub(crate) struct OrcaData {
    pub(crate) executions: Vec<Value>,
    pub(crate) patches: Vec<OrcaPatch>,
    pub(crate) deliveries: Vec<OrcaDelivery>,
    pub(crate) down: bool,
    pub(crate) delay: Duration,
    pub(crate) reverb_url: Option<String>,
    /// Executions this fake drives to the end after a judgment (sample pipelines).
    pub(crate) driven: HashSet<String>,
    /// Every request to Orca's own endpoints, in arrival order.
    pub(crate) requests: Vec<OrcaRequest>,
    /// How many of the next requests to Orca's endpoints answer 503.
    pub(crate) failures_left: usize,
    /// PATCHes answer 200 with an empty body and change nothing.
    pub(crate) lose_patches: bool,
}

impl OrcaData {
    pub(crate) fn execution_mut(&mut self, id: &str) -> Option<&mut Value> {
        self.executions
            .iter_mut()
            .find(|execution| execution_id(execution) == Some(id))
    }

    pub(crate) fn execution(&self, id: &str) -> Option<&Value> {
        self.executions
            .iter()
            .find(|execution| execution_id(execution) == Some(id))
    }

    pub(crate) fn put_execution(&mut self, execution: Value) {
        let id = execution_id(&execution).map(str::to_owned);
        match id.as_deref().and_then(|id| {
            self.executions
                .iter()
                .position(|e| execution_id(e) == Some(id))
        }) {
            Some(index) => self.executions[index] = execution,
            None => self.executions.push(execution),
        }
    }
}

pub(crate) fn execution_id(execution: &Value) -> Option<&str> {
    execution.get("id").and_then(Value::as_str)
}

impl OrcaState {
    pub(crate) fn new(
        base_url: String,
        role_members: HashMap<String, Vec<String>>,
        fiat: Option<FiatPermissions>,
        reverb_url: Option<String>,
        delay: Duration,
        http: reqwest::Client,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        let data = OrcaData {
            reverb_url,
            delay,
            ..OrcaData::default()
        };
        Self {
            base_url,
            role_members,
            fiat,
            http,
            runtime,
            data: Mutex::new(data),
        }
    }

    /// Never held across an await.
    pub(crate) fn data(&self) -> MutexGuard<'_, OrcaData> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn role_members(&self) -> &HashMap<String, Vec<String>> {
        &self.role_members
    }

    /// The Fiat permissions this Orca consults, if Fiat is "enabled".
    pub fn fiat(&self) -> Option<&FiatPermissions> {
        self.fiat.as_ref()
    }

    /// Who decides the judgment's role check.
    pub(crate) fn judges(&self) -> Judges<'_> {
        match &self.fiat {
            Some(fiat) => Judges::Fiat(fiat),
            None => Judges::Members(&self.role_members),
        }
    }

    pub fn executions(&self) -> Vec<Value> {
        self.data().executions.clone()
    }

    pub fn execution(&self, id: &str) -> Option<Value> {
        self.data().execution(id).cloned()
    }

    pub fn patches(&self) -> Vec<OrcaPatch> {
        self.data().patches.clone()
    }

    pub fn deliveries(&self) -> Vec<OrcaDelivery> {
        self.data().deliveries.clone()
    }

    pub fn reverb_url(&self) -> Option<String> {
        self.data().reverb_url.clone()
    }

    pub fn is_down(&self) -> bool {
        self.data().down
    }

    pub fn delay(&self) -> Duration {
        self.data().delay
    }

    pub fn put_execution(&self, execution: Value) {
        self.data().put_execution(execution);
    }

    pub fn set_down(&self, down: bool) {
        self.data().down = down;
    }

    pub fn set_delay(&self, delay: Duration) {
        self.data().delay = delay;
    }

    pub fn set_reverb_url(&self, url: Option<String>) {
        self.data().reverb_url = url;
    }

    pub fn requests(&self) -> Vec<OrcaRequest> {
        self.data().requests.clone()
    }

    pub fn fail_next(&self, times: usize) {
        self.data().failures_left += times;
    }

    pub fn set_lose_patches(&self, lose: bool) {
        self.data().lose_patches = lose;
    }

    /// Records a request to one of Orca's endpoints; true when it must fail (down, or one of
    /// the failures queued by [`Self::fail_next`]).
    pub(crate) fn arrive(&self, method: &str, path: &str) -> bool {
        let mut data = self.data();
        data.requests.push(OrcaRequest {
            method: method.to_owned(),
            path: path.to_owned(),
        });
        if data.down {
            return true;
        }
        let queued = data.failures_left > 0;
        data.failures_left = data.failures_left.saturating_sub(1);
        queued
    }
}
