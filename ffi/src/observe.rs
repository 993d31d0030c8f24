//! Observers the app registers: sync status, and record changes (contents and delivery). Each
//! registration returns a handle; dropping it (or calling `close`) stops the callbacks, so a
//! screen that goes away stops being told.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::types::SyncStatus;

/// Told of every change of the sync status (idle, syncing, offline, error; records pending).
#[uniffi::export(with_foreign)]
pub trait SyncStatusObserver: Send + Sync {
    fn on_status(&self, status: SyncStatus);
}

/// Told which records changed: written on this device, received from the server, or with a new
/// delivery state. An empty list means "several records changed: reload what you show".
#[uniffi::export(with_foreign)]
pub trait RecordObserver: Send + Sync {
    fn on_records_changed(&self, ids: Vec<String>);
    fn on_delivery_changed(&self, ids: Vec<String>);
}

/// Keeps a registration alive; callbacks stop once it is stopped or dropped.
#[derive(Debug, uniffi::Object)]
pub struct ObserverHandle {
    active: Arc<AtomicBool>,
}

#[uniffi::export]
impl ObserverHandle {
    /// Stops the callbacks now (also done when the handle is dropped or, in Kotlin and Swift,
    /// closed). Not named `close`: Kotlin's `AutoCloseable.close` already is.
    pub fn stop(&self) {
        self.active.store(false, Ordering::SeqCst);
    }
}

impl Drop for ObserverHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Adapts an app's status observer to the core's.
pub(crate) struct StatusAdapter {
    pub(crate) target: Arc<dyn SyncStatusObserver>,
    pub(crate) active: Arc<AtomicBool>,
}

impl fieldbook_core::sync::SyncObserver for StatusAdapter {
    fn on_status(&self, status: &fieldbook_core::sync::SyncStatus) {
        if self.active.load(Ordering::SeqCst) {
            self.target.on_status(status.into());
        }
    }
}

pub(crate) fn handle() -> (Arc<ObserverHandle>, Arc<AtomicBool>) {
    let active = Arc::new(AtomicBool::new(true));
    (Arc::new(ObserverHandle { active: active.clone() }), active)
}

/// An observer and the flag its handle clears.
type Registration = (Arc<dyn RecordObserver>, Arc<AtomicBool>);

/// The record observers of one store; closed ones are dropped as they are found.
#[derive(Default)]
pub(crate) struct RecordObservers {
    list: Mutex<Vec<Registration>>,
}

impl RecordObservers {
    pub(crate) fn add(&self, target: Arc<dyn RecordObserver>) -> Arc<ObserverHandle> {
        let (handle, active) = handle();
        if let Ok(mut list) = self.list.lock() {
            list.push((target, active));
        }
        handle
    }

    fn live(&self) -> Vec<Arc<dyn RecordObserver>> {
        let Ok(mut list) = self.list.lock() else { return Vec::new() };
        list.retain(|(_, active)| active.load(Ordering::SeqCst));
        list.iter().map(|(o, _)| o.clone()).collect()
    }

    pub(crate) fn changed(&self, ids: Vec<String>) {
        for o in self.live() {
            o.on_records_changed(ids.clone());
        }
    }

    pub(crate) fn delivered(&self, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        for o in self.live() {
            o.on_delivery_changed(ids.clone());
        }
    }
}
