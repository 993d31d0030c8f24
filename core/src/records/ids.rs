//! Record ids, defined once for devices and server alike (`docs/PROTOCOL.md`, "Record ids").
//!
//! Ids are namespaced by who may create the record:
//! - **devices** create visits, assessments and case notes, with a random id: a canonical v4 UUID
//!   (lowercase, hyphenated, 36 characters), which is what every device has always written;
//! - **the case system** creates case summaries, whose id is derived from the case
//!   (`summary-{case_id}`), so that there is exactly one per case on every server.
//!
//! The server refuses a device's push whose id is not in the namespace of its kind and case
//! (`id_fits`): a device can never create a document under a summary's id, nor a summary at all.

use super::RecordKind;

/// The prefix of a case summary's id.
const SUMMARY_PREFIX: &str = "summary-";

/// A new id for a record a device creates (and for list items): a random v4 UUID.
pub fn new_record_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The id of a case's summary document: one per case, the same on every server. Only the case
/// system creates it.
pub fn case_summary_id(case_id: &str) -> String {
    format!("{SUMMARY_PREFIX}{case_id}")
}

/// Whether `id` is an id a device may give a new record: exactly the form `new_record_id`
/// writes (a v4 UUID, lowercase and hyphenated). Braced, URN, upper-case or unhyphenated
/// spellings of a UUID are refused, so that one record has one spelling.
pub fn is_device_record_id(id: &str) -> bool {
    let Ok(uuid) = uuid::Uuid::try_parse(id) else {
        return false;
    };
    uuid.get_version_num() == 4
        && uuid.get_variant() == uuid::Variant::RFC4122
        && uuid.hyphenated().to_string() == id
}

/// Why an id does not fit the kind and case it is pushed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdMisfit {
    /// A case summary whose id is not `case_summary_id(case)`.
    NotTheCaseSummary,
    /// A visit, assessment or note whose id is not a device record id.
    NotADeviceId,
}

/// Checks that `id` is in the namespace of a record of `kind` on `case_id`.
pub fn id_fits(kind: RecordKind, case_id: &str, id: &str) -> Result<(), IdMisfit> {
    match kind {
        RecordKind::CaseSummary if id == case_summary_id(case_id) => Ok(()),
        RecordKind::CaseSummary => Err(IdMisfit::NotTheCaseSummary),
        RecordKind::Visit | RecordKind::Assessment | RecordKind::CaseNote
            if is_device_record_id(id) =>
        {
            Ok(())
        }
        RecordKind::Visit | RecordKind::Assessment | RecordKind::CaseNote => {
            Err(IdMisfit::NotADeviceId)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_device_ids() {
        for _ in 0..100 {
            let id = new_record_id();
            assert!(is_device_record_id(&id), "{id}");
            assert!(id_fits(RecordKind::Visit, "case-1", &id).is_ok());
        }
        // The list item ids written until now are the same ids.
        assert!(is_device_record_id(&super::super::new_id()));
    }

    #[test]
    fn other_spellings_and_versions_are_refused() {
        let id = "0b6f2c3e-5d1a-4c8e-9f2b-7a1d3e5c9b10";
        assert!(is_device_record_id(id));
        for bad in [
            "0B6F2C3E-5D1A-4C8E-9F2B-7A1D3E5C9B10",
            "0b6f2c3e5d1a4c8e9f2b7a1d3e5c9b10",
            "{0b6f2c3e-5d1a-4c8e-9f2b-7a1d3e5c9b10}",
            "urn:uuid:0b6f2c3e-5d1a-4c8e-9f2b-7a1d3e5c9b10",
            " 0b6f2c3e-5d1a-4c8e-9f2b-7a1d3e5c9b10",
            "0b6f2c3e-5d1a-1c8e-9f2b-7a1d3e5c9b10", // version 1
            "0b6f2c3e-5d1a-4c8e-cf2b-7a1d3e5c9b10", // another variant
            "summary-case-1",
            "r1",
            "",
        ] {
            assert!(!is_device_record_id(bad), "{bad}");
        }
    }

    #[test]
    fn summaries_have_the_case_systems_id_and_nothing_else_does() {
        assert_eq!(case_summary_id("case-1"), "summary-case-1");
        assert!(id_fits(RecordKind::CaseSummary, "case-1", "summary-case-1").is_ok());
        assert_eq!(
            id_fits(RecordKind::CaseSummary, "case-1", "summary-case-2"),
            Err(IdMisfit::NotTheCaseSummary)
        );
        assert_eq!(
            id_fits(RecordKind::CaseSummary, "case-1", &new_record_id()),
            Err(IdMisfit::NotTheCaseSummary)
        );
        // The attack of issue #10: a visit under a future case's summary id.
        for kind in [RecordKind::Visit, RecordKind::Assessment, RecordKind::CaseNote] {
            assert_eq!(id_fits(kind, "case-1", "summary-case-2"), Err(IdMisfit::NotADeviceId));
            assert_eq!(id_fits(kind, "case-1", "summary-case-1"), Err(IdMisfit::NotADeviceId));
        }
    }
}
