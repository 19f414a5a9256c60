//! Opaque handles: a handle given to C is a registry number cast to a pointer, never an address the library
//! reads. Each call looks the number up; a NULL, closed, freed or wrong-kind handle is not found and the call
//! fails with `SPLAREDB_MISUSE`. Numbers are never reused, so a stale handle cannot reach a newer object.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;

use crate::codes::{CResult, Failure};

static NEXT: AtomicU64 = AtomicU64::new(1);

/// Live objects of one handle kind.
pub struct Registry<T> {
    kind: &'static str,
    live: LazyLock<Mutex<HashMap<u64, Arc<T>>>>,
}

impl<T> Registry<T> {
    /// An empty registry for handles of `kind` (used in messages).
    pub const fn new(kind: &'static str) -> Self {
        Registry { kind, live: LazyLock::new(|| Mutex::new(HashMap::new())) }
    }

    /// Registers `value`; returns its handle number.
    pub fn insert(&self, value: T) -> u64 {
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        self.live.lock().insert(id, Arc::new(value));
        id
    }

    fn id<P>(&self, handle: *const P) -> CResult<u64> {
        if handle.is_null() {
            return Err(Failure::misuse(format!("the {} handle is NULL", self.kind)));
        }
        Ok(handle as usize as u64)
    }

    fn unknown(&self) -> Failure {
        Failure::misuse(format!(
            "not an open {} handle (closed or freed already, or another kind of handle)",
            self.kind
        ))
    }

    /// The object behind a handle.
    pub fn get<P>(&self, handle: *const P) -> CResult<Arc<T>> {
        let id = self.id(handle)?;
        self.live.lock().get(&id).cloned().ok_or_else(|| self.unknown())
    }

    /// Whether any live object satisfies `pred`.
    pub fn any(&self, pred: impl Fn(&T) -> bool) -> bool {
        self.live.lock().values().any(|v| pred(v))
    }

    /// Unregisters a handle and returns its object (the handle is dead afterwards).
    pub fn remove<P>(&self, handle: *const P) -> CResult<Arc<T>> {
        let id = self.id(handle)?;
        self.live.lock().remove(&id).ok_or_else(|| self.unknown())
    }
}

/// The pointer C sees for handle number `id`.
pub fn handle_ptr<P>(id: u64) -> *mut P {
    id as usize as *mut P
}
