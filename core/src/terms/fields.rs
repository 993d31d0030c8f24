//! How record fields are laid out in an Automerge document, for the field types autosurgeon does
//! not map the way Fieldbook needs.
//!
//! - Free text is an Automerge `Text` object. The API hands the core whole strings; the document
//!   layer diffs the old and the new string under a deadline and applies only the splices
//!   (`crate::document::text_edit`), so two people editing the same paragraph offline both keep
//!   their words. The reconcile here then finds the texts equal and writes nothing.
//! - Dates and times are ISO 8601 strings (`2026-03-26`, `2026-03-26T14:02:00Z`): readable in any
//!   Automerge tool and sortable as text, and a last-writer-wins register like any scalar.

use automerge::{ObjId, ObjType, Value};
use autosurgeon::{HydrateError, Prop, ReadDoc, Reconcile, Reconciler};
use chrono::{DateTime, NaiveDate, Utc};

/// `#[autosurgeon(with = "text")]` on a `String` field: stored as Automerge `Text`.
pub mod text {
    use super::*;
    use autosurgeon::reconcile::TextReconciler as _;

    pub type Key<'a> = autosurgeon::reconcile::NoKey;

    #[cfg(test)]
    thread_local! {
        /// Text fields reconciled on this thread: each one is read back and diffed in full.
        pub(crate) static RECONCILED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    pub fn reconcile<R: Reconciler>(value: &str, mut reconciler: R) -> Result<(), R::Error> {
        #[cfg(test)]
        RECONCILED.with(|n| n.set(n.get() + 1));
        let mut text = reconciler.text()?;
        text.update(value)
    }

    pub fn hydrate_key<D: ReadDoc>(
        _doc: &D,
        _obj: &ObjId,
        _prop: Prop<'_>,
    ) -> Result<autosurgeon::reconcile::LoadKey<Key<'static>>, autosurgeon::ReconcileError> {
        Ok(autosurgeon::reconcile::LoadKey::NoKey)
    }

    /// A missing field (an older schema) reads as empty text; a scalar string (written by another
    /// implementation) is accepted as its value.
    pub fn hydrate<D: ReadDoc>(
        doc: &D,
        obj: &ObjId,
        prop: Prop<'_>,
    ) -> Result<String, HydrateError> {
        let found = match prop {
            Prop::Key(k) => doc.get(obj, k.as_ref())?,
            Prop::Index(i) => doc.get(obj, i as usize)?,
        };
        match found {
            None => Ok(String::new()),
            Some((Value::Object(ObjType::Text), id)) => Ok(doc.text(&id)?),
            Some((Value::Scalar(s), _)) => match s.as_str() {
                Some(s) => Ok(s.to_string()),
                None => Err(HydrateError::unexpected("text", format!("{s:?}"))),
            },
            Some((other, _)) => Err(HydrateError::unexpected("text", format!("{other:?}"))),
        }
    }
}

/// A value kept in the document as its ISO 8601 string.
pub trait IsoString: Sized {
    fn to_iso(&self) -> String;
    fn from_iso(s: &str) -> Option<Self>;
}

impl IsoString for NaiveDate {
    fn to_iso(&self) -> String {
        self.format("%Y-%m-%d").to_string()
    }
    fn from_iso(s: &str) -> Option<Self> {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
    }
}

impl IsoString for DateTime<Utc> {
    fn to_iso(&self) -> String {
        // Full precision, so a value read back compares equal to the one written.
        self.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    }
    fn from_iso(s: &str) -> Option<Self> {
        DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
    }
}

/// `#[autosurgeon(with = "iso")]` on a `NaiveDate` or `DateTime<Utc>` field.
pub mod iso {
    use super::*;

    pub type Key<'a> = autosurgeon::reconcile::NoKey;

    pub fn reconcile<T: IsoString, R: Reconciler>(
        value: &T,
        reconciler: R,
    ) -> Result<(), R::Error> {
        value.to_iso().reconcile(reconciler)
    }

    pub fn hydrate_key<D: ReadDoc>(
        _doc: &D,
        _obj: &ObjId,
        _prop: Prop<'_>,
    ) -> Result<autosurgeon::reconcile::LoadKey<Key<'static>>, autosurgeon::ReconcileError> {
        Ok(autosurgeon::reconcile::LoadKey::NoKey)
    }

    pub fn hydrate<D: ReadDoc, T: IsoString>(
        doc: &D,
        obj: &ObjId,
        prop: Prop<'_>,
    ) -> Result<T, HydrateError> {
        let s: String = autosurgeon::hydrate_prop(doc, obj, prop)?;
        T::from_iso(&s).ok_or_else(|| HydrateError::unexpected("an ISO 8601 date or time", s))
    }
}

/// `#[autosurgeon(with = "opt_iso")]` on an `Option<NaiveDate>` or `Option<DateTime<Utc>>`.
pub mod opt_iso {
    use super::*;

    pub type Key<'a> = autosurgeon::reconcile::NoKey;

    pub fn reconcile<T: IsoString, R: Reconciler>(
        value: &Option<T>,
        reconciler: R,
    ) -> Result<(), R::Error> {
        value.as_ref().map(IsoString::to_iso).reconcile(reconciler)
    }

    pub fn hydrate_key<D: ReadDoc>(
        _doc: &D,
        _obj: &ObjId,
        _prop: Prop<'_>,
    ) -> Result<autosurgeon::reconcile::LoadKey<Key<'static>>, autosurgeon::ReconcileError> {
        Ok(autosurgeon::reconcile::LoadKey::NoKey)
    }

    pub fn hydrate<D: ReadDoc, T: IsoString>(
        doc: &D,
        obj: &ObjId,
        prop: Prop<'_>,
    ) -> Result<Option<T>, HydrateError> {
        let s: Option<String> = autosurgeon::hydrate_prop(doc, obj, prop)?;
        match s {
            None => Ok(None),
            Some(s) => T::from_iso(&s)
                .map(Some)
                .ok_or_else(|| HydrateError::unexpected("an ISO 8601 date or time", s)),
        }
    }
}

/// `#[autosurgeon(with = "iso_list")]` on a `Vec<NaiveDate>` (e.g. the dates of past reviews).
pub mod iso_list {
    use super::*;

    pub type Key<'a> = autosurgeon::reconcile::NoKey;

    pub fn reconcile<T: IsoString, R: Reconciler>(
        value: &[T],
        reconciler: R,
    ) -> Result<(), R::Error> {
        value.iter().map(IsoString::to_iso).collect::<Vec<_>>().reconcile(reconciler)
    }

    pub fn hydrate_key<D: ReadDoc>(
        _doc: &D,
        _obj: &ObjId,
        _prop: Prop<'_>,
    ) -> Result<autosurgeon::reconcile::LoadKey<Key<'static>>, autosurgeon::ReconcileError> {
        Ok(autosurgeon::reconcile::LoadKey::NoKey)
    }

    /// A missing list (an older schema) reads as empty.
    pub fn hydrate<D: ReadDoc, T: IsoString>(
        doc: &D,
        obj: &ObjId,
        prop: Prop<'_>,
    ) -> Result<Vec<T>, HydrateError> {
        let items: Option<Vec<String>> = autosurgeon::hydrate_prop(doc, obj, prop)?;
        items
            .unwrap_or_default()
            .into_iter()
            .map(|s| T::from_iso(&s).ok_or_else(|| HydrateError::unexpected("an ISO 8601 date", s)))
            .collect()
    }
}
