//! Reconciling some fields of a struct and leaving the others untouched.
//!
//! autosurgeon reconciles a whole struct: every field is compared with the document, and every
//! text field is read back and diffed (automerge's grapheme diff) even when nothing in it changed,
//! which made each autosave cost a pass over all of a record's text. A write already knows which
//! top-level fields differ (`edit::changed_fields`), so it reconciles the struct through a map
//! reconciler that passes on only those keys. The struct's own derived `Reconcile` still decides
//! how each kept field is laid out (text, ISO dates, keyed lists), so nothing about the layout is
//! repeated here.

use autosurgeon::reconcile::{LoadKey, MapReconciler, NoKey};
use autosurgeon::{Reconcile, Reconciler};

/// `value` reconciled as a map, writing only the keys in `keys` (the others keep whatever the
/// document holds, conflicts included).
pub(super) struct Only<'a, T> {
    pub value: &'a T,
    pub keys: &'a [&'a str],
}

impl<T: Reconcile> Reconcile for Only<'_, T> {
    type Key<'k> = NoKey;

    fn reconcile<R: Reconciler>(&self, reconciler: R) -> Result<(), R::Error> {
        self.value.reconcile(OnlyReconciler { inner: reconciler, keys: self.keys })
    }
}

/// Delegates everything; only the map it hands out filters.
struct OnlyReconciler<'k, R> {
    inner: R,
    keys: &'k [&'k str],
}

impl<'k, R: Reconciler> Reconciler for OnlyReconciler<'k, R> {
    type Error = R::Error;
    type Map<'a>
        = OnlyMap<'k, R::Map<'a>>
    where
        Self: 'a;
    type Seq<'a>
        = R::Seq<'a>
    where
        Self: 'a;
    type Text<'a>
        = R::Text<'a>
    where
        Self: 'a;
    type Counter<'a>
        = R::Counter<'a>
    where
        Self: 'a;

    fn none(&mut self) -> Result<(), Self::Error> {
        self.inner.none()
    }
    fn bytes<B: AsRef<[u8]>>(&mut self, value: B) -> Result<(), Self::Error> {
        self.inner.bytes(value)
    }
    fn timestamp(&mut self, value: i64) -> Result<(), Self::Error> {
        self.inner.timestamp(value)
    }
    fn boolean(&mut self, value: bool) -> Result<(), Self::Error> {
        self.inner.boolean(value)
    }
    fn str<S: AsRef<str>>(&mut self, value: S) -> Result<(), Self::Error> {
        self.inner.str(value)
    }
    fn u64(&mut self, value: u64) -> Result<(), Self::Error> {
        self.inner.u64(value)
    }
    fn i64(&mut self, value: i64) -> Result<(), Self::Error> {
        self.inner.i64(value)
    }
    fn f64(&mut self, value: f64) -> Result<(), Self::Error> {
        self.inner.f64(value)
    }
    fn map(&mut self) -> Result<Self::Map<'_>, Self::Error> {
        Ok(OnlyMap { inner: self.inner.map()?, keys: self.keys })
    }
    fn seq(&mut self) -> Result<Self::Seq<'_>, Self::Error> {
        self.inner.seq()
    }
    fn text(&mut self) -> Result<Self::Text<'_>, Self::Error> {
        self.inner.text()
    }
    fn counter(&mut self) -> Result<Self::Counter<'_>, Self::Error> {
        self.inner.counter()
    }
    fn heads(&self) -> &[automerge::ChangeHash] {
        self.inner.heads()
    }
}

struct OnlyMap<'k, M> {
    inner: M,
    keys: &'k [&'k str],
}

impl<M> OnlyMap<'_, M> {
    fn kept(&self, prop: &str) -> bool {
        self.keys.contains(&prop)
    }
}

impl<M: MapReconciler> MapReconciler for OnlyMap<'_, M> {
    type Error = M::Error;
    type EntriesIter<'a>
        = M::EntriesIter<'a>
    where
        Self: 'a;

    fn entries(&self) -> Self::EntriesIter<'_> {
        self.inner.entries()
    }

    fn entry<P: AsRef<str>>(&self, prop: P) -> Option<automerge::Value<'_>> {
        self.inner.entry(prop)
    }

    fn put<R: Reconcile, P: AsRef<str>>(&mut self, prop: P, value: R) -> Result<(), Self::Error> {
        if self.kept(prop.as_ref()) {
            self.inner.put(prop, value)
        } else {
            Ok(())
        }
    }

    fn delete<P: AsRef<str>>(&mut self, prop: P) -> Result<(), Self::Error> {
        if self.kept(prop.as_ref()) {
            self.inner.delete(prop)
        } else {
            Ok(())
        }
    }

    fn hydrate_entry_key<'a, R: Reconcile, P: AsRef<str>>(
        &self,
        prop: P,
    ) -> Result<LoadKey<R::Key<'a>>, Self::Error> {
        self.inner.hydrate_entry_key::<R, P>(prop)
    }
}
