//! Observers the app registers: sync status, and record changes (contents and delivery). Each
//! registration returns a handle; dropping it (or calling `close`) stops the callbacks, so a
//! screen that goes away stops being told.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::types::{RecordKind, SyncStatus};

/// Told of every change of the sync status (idle, syncing, offline, error; records pending).
#[uniffi::export(with_foreign)]
pub trait SyncStatusObserver: Send + Sync {
    fn on_status(&self, status: SyncStatus);
}

/// One record that changed, with its kind and case, so a screen can tell whether it shows it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecordChange {
    pub id: String,
    pub kind: RecordKind,
    pub case_id: String,
    /// Gone from this device (its case was purged or allocated elsewhere).
    pub removed: bool,
}

/// Told which records changed, of every kind: written on this device, received from the server
/// (each record named), or with a new delivery state. Never called with an empty list.
#[uniffi::export(with_foreign)]
pub trait RecordObserver: Send + Sync {
    fn on_records_changed(&self, changes: Vec<RecordChange>);
    fn on_delivery_changed(&self, changes: Vec<RecordChange>);
}

/// Removes a stopped registration from its registry.
type Remover = Box<dyn FnOnce() + Send>;

/// Keeps a registration alive; callbacks stop once it is stopped or dropped, and the
/// registration is then removed from its registry.
#[derive(uniffi::Object)]
pub struct ObserverHandle {
    active: Arc<AtomicBool>,
    remove: Mutex<Option<Remover>>,
}

impl std::fmt::Debug for ObserverHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObserverHandle").field("active", &self.active).finish_non_exhaustive()
    }
}

impl ObserverHandle {
    /// Sets what removes the registration once stopped.
    pub(crate) fn on_stop(&self, remove: Remover) {
        if let Ok(mut slot) = self.remove.lock() {
            *slot = Some(remove);
        }
    }
}

#[uniffi::export]
impl ObserverHandle {
    /// Stops the callbacks now (also done when the handle is dropped or, in Kotlin and Swift,
    /// closed). Not named `close`: Kotlin's `AutoCloseable.close` already is.
    pub fn stop(&self) {
        self.active.store(false, Ordering::SeqCst);
        let remove = self.remove.lock().ok().and_then(|mut slot| slot.take());
        if let Some(remove) = remove {
            remove();
        }
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

impl StatusAdapter {
    /// False once the app stopped it: `is_active` on the core's observer list.
    pub(crate) fn is_active(observer: &Arc<dyn fieldbook_core::sync::SyncObserver>) -> bool {
        observer.still_wanted()
    }
}

impl fieldbook_core::sync::SyncObserver for StatusAdapter {
    fn still_wanted(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }

    fn on_status(&self, status: &fieldbook_core::sync::SyncStatus) {
        if self.active.load(Ordering::SeqCst) {
            self.target.on_status(status.into());
        }
    }
}

pub(crate) fn handle() -> (Arc<ObserverHandle>, Arc<AtomicBool>) {
    let active = Arc::new(AtomicBool::new(true));
    (Arc::new(ObserverHandle { active: active.clone(), remove: Mutex::new(None) }), active)
}

/// An observer and the flag its handle clears.
type Registration = (Arc<dyn RecordObserver>, Arc<AtomicBool>);

/// The record observers of one store; closed ones are dropped as they are found.
#[derive(Default)]
pub(crate) struct RecordObservers {
    list: Arc<Mutex<Vec<Registration>>>,
}

impl RecordObservers {
    pub(crate) fn add(&self, target: Arc<dyn RecordObserver>) -> Arc<ObserverHandle> {
        let (handle, active) = handle();
        if let Ok(mut list) = self.list.lock() {
            list.push((target, active));
        }
        // Stopping removes the registration at once (the registry may be gone by then).
        let list = Arc::downgrade(&self.list);
        handle.on_stop(Box::new(move || {
            if let Some(list) = list.upgrade() {
                if let Ok(mut list) = list.lock() {
                    list.retain(|(_, active)| active.load(Ordering::SeqCst));
                }
            }
        }));
        handle
    }

    pub(crate) fn count(&self) -> usize {
        self.list.lock().map(|l| l.len()).unwrap_or(0)
    }

    fn live(&self) -> Vec<Arc<dyn RecordObserver>> {
        let Ok(mut list) = self.list.lock() else { return Vec::new() };
        list.retain(|(_, active)| active.load(Ordering::SeqCst));
        list.iter().map(|(o, _)| o.clone()).collect()
    }

    pub(crate) fn changed(&self, changes: Vec<RecordChange>) {
        if changes.is_empty() {
            return;
        }
        for o in self.live() {
            o.on_records_changed(changes.clone());
        }
    }

    pub(crate) fn delivered(&self, changes: Vec<RecordChange>) {
        if changes.is_empty() {
            return;
        }
        for o in self.live() {
            o.on_delivery_changed(changes.clone());
        }
    }
}
