//! The child's consistent identifier (Children Act 2004 s16LA-16LC, inserted by the Children's
//! Wellbeing and Schools Act 2026 s4) and who may hold a case (Working Together 2023; Families
//! First Partnership programme guide 2025).
//!
//! The regulations naming the identifier's scheme had not been made when this was written, so the
//! scheme travels with the value: the NHS number (the scheme Parliament discussed) and the unique
//! pupil number are validated by their check characters; any other scheme is a free code.

use autosurgeon::{Hydrate, HydrateError, Reconcile, Reconciler};
use serde::{Deserialize, Serialize};

use crate::codes::code_list;

/// The scheme a consistent identifier belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IdentifierScheme {
    /// NHS number: 10 digits, the last a modulus-11 check digit.
    NhsNumber,
    /// Unique pupil number: 13 characters, the first a check letter (DfE UPN guidance).
    Upn,
    /// Any other scheme, by its code (letters, digits, `_` and `-`), not validated further.
    Other(String),
}

impl IdentifierScheme {
    pub const NHS_NUMBER: &'static str = "nhs_number";
    pub const UPN: &'static str = "upn";

    pub fn code(&self) -> &str {
        match self {
            Self::NhsNumber => Self::NHS_NUMBER,
            Self::Upn => Self::UPN,
            Self::Other(code) => code,
        }
    }

    pub fn from_code(code: &str) -> Self {
        match code {
            Self::NHS_NUMBER => Self::NhsNumber,
            Self::UPN => Self::Upn,
            other => Self::Other(other.to_string()),
        }
    }
}

impl Serialize for IdentifierScheme {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for IdentifierScheme {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str> as Deserialize>::deserialize(d)?;
        Ok(Self::from_code(&code))
    }
}

// By hand, as serde writes it: one string, `nhs_number`, `upn`, or another scheme's own code.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for IdentifierScheme {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .examples([Self::NHS_NUMBER, Self::UPN])
            .description(Some(
                "`nhs_number` (validated by its modulus-11 check digit), `upn` (validated by its \
                 check letter), or another scheme's code (letters, digits, `_` and `-`)",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for IdentifierScheme {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("IdentifierScheme")
    }
}

impl Reconcile for IdentifierScheme {
    type Key<'a> = autosurgeon::reconcile::NoKey;
    fn reconcile<R: Reconciler>(&self, reconciler: R) -> Result<(), R::Error> {
        self.code().reconcile(reconciler)
    }
}

impl Hydrate for IdentifierScheme {
    fn hydrate_string(s: &str) -> Result<Self, HydrateError> {
        Ok(Self::from_code(s))
    }
}

/// The child's consistent identifier with its scheme.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsistentIdentifier {
    pub scheme: IdentifierScheme,
    pub value: String,
}

/// Why an identifier is not acceptable, for the case system (never contains the value itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("an NHS number is 10 digits")]
    NhsFormat,
    #[error("the NHS number's check digit is wrong")]
    NhsCheckDigit,
    #[error("a UPN is a check letter, 11 digits and a digit or letter (not I, O or S)")]
    UpnFormat,
    #[error("the UPN's check letter is wrong")]
    UpnCheckLetter,
    #[error("an identifier scheme code is letters, digits, _ and - only")]
    SchemeCode,
    #[error("an identifier needs a value")]
    Empty,
}

impl ConsistentIdentifier {
    pub fn nhs_number(value: impl Into<String>) -> Self {
        Self { scheme: IdentifierScheme::NhsNumber, value: value.into() }
    }

    pub fn upn(value: impl Into<String>) -> Self {
        Self { scheme: IdentifierScheme::Upn, value: value.into() }
    }

    /// The identifier as it is kept: an NHS number without the spaces it is often written with
    /// (`943 476 5919`), a UPN in capitals; other schemes as given, trimmed.
    pub fn normalised(&self) -> Self {
        let value = match self.scheme {
            IdentifierScheme::NhsNumber => self.value.chars().filter(|c| *c != ' ').collect(),
            IdentifierScheme::Upn => self.value.trim().to_ascii_uppercase(),
            IdentifierScheme::Other(_) => self.value.trim().to_string(),
        };
        Self { scheme: self.scheme.clone(), value }
    }

    /// Checks the value against its scheme (after normalising it).
    pub fn validate(&self) -> Result<(), IdentifierError> {
        let normal = self.normalised();
        match &normal.scheme {
            IdentifierScheme::NhsNumber => validate_nhs_number(&normal.value),
            IdentifierScheme::Upn => validate_upn(&normal.value),
            IdentifierScheme::Other(code) => {
                let code_ok = !code.is_empty()
                    && code.len() <= 40
                    && code.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
                if !code_ok {
                    Err(IdentifierError::SchemeCode)
                } else if normal.value.is_empty() {
                    Err(IdentifierError::Empty)
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// NHS number: 10 digits; the first nine weighted 10 down to 2 and summed; the check digit is
/// 11 - (sum mod 11), where 11 means 0 and 10 means the number is not valid.
pub fn validate_nhs_number(value: &str) -> Result<(), IdentifierError> {
    let digits: Vec<u32> = value.chars().filter_map(|c| c.to_digit(10)).collect();
    if value.len() != 10 || digits.len() != 10 {
        return Err(IdentifierError::NhsFormat);
    }
    let sum: u32 = digits.iter().take(9).zip((2..=10).rev()).map(|(d, w)| d * w).sum();
    let check = match 11 - sum % 11 {
        11 => 0,
        10 => return Err(IdentifierError::NhsCheckDigit),
        c => c,
    };
    if digits.get(9) == Some(&check) {
        Ok(())
    } else {
        Err(IdentifierError::NhsCheckDigit)
    }
}

/// The letters of the UPN check-letter table, by value 0-22 (I, O and S are not used).
const UPN_LETTERS: &[u8; 23] = b"ABCDEFGHJKLMNPQRTUVWXYZ";

/// UPN (DfE UPN guidance; CIN census rule 1510): characters 2-13 weighted 2 to 13 (a letter in
/// position 13, a temporary UPN, counts as its value in the check-letter table), summed, mod 23:
/// the check letter is the table's letter for the remainder.
pub fn validate_upn(value: &str) -> Result<(), IdentifierError> {
    let bytes = value.as_bytes();
    let [check, rest @ ..] = bytes else {
        return Err(IdentifierError::UpnFormat);
    };
    if bytes.len() != 13 || !UPN_LETTERS.contains(check) {
        return Err(IdentifierError::UpnFormat);
    }
    let mut sum = 0usize;
    for (i, c) in rest.iter().enumerate() {
        let value = match c {
            b'0'..=b'9' => usize::from(c - b'0'),
            // Only the last character of a temporary UPN may be a letter.
            _ if i == rest.len() - 1 => {
                UPN_LETTERS.iter().position(|l| l == c).ok_or(IdentifierError::UpnFormat)?
            }
            _ => return Err(IdentifierError::UpnFormat),
        };
        sum += value * (i + 2);
    }
    if UPN_LETTERS.get(sum % 23) == Some(check) {
        Ok(())
    } else {
        Err(IdentifierError::UpnCheckLetter)
    }
}

code_list! {
    /// The role of the practitioner a case is allocated to.
    PractitionerRole ("practitioner role") {
        SocialWorker = "social_worker" => "Social worker",
        FamilyHelpLeadPractitioner = "family_help_lead_practitioner" => "Family Help lead practitioner",
        LeadChildProtectionPractitioner = "lead_child_protection_practitioner" => "Lead child protection practitioner (a social worker)",
    }
}

impl PractitionerRole {
    /// Social workers and lead child protection practitioners (who are social workers by the
    /// Families First guide's definition) may hold child protection work.
    pub fn is_social_worker(self) -> bool {
        matches!(self, Self::SocialWorker | Self::LeadChildProtectionPractitioner)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn nhs_numbers() {
        // The published test number 943 476 5919: 9x10 + 4x9 + 3x8 + 4x7 + 7x6 + 6x5 + 5x4
        // + 9x3 + 1x2 = 299; 299 mod 11 = 2; 11 - 2 = 9, the last digit.
        assert_eq!(validate_nhs_number("9434765919"), Ok(()));
        assert_eq!(ConsistentIdentifier::nhs_number("943 476 5919").validate(), Ok(()));
        // The same with the wrong check digit.
        assert_eq!(validate_nhs_number("9434765918"), Err(IdentifierError::NhsCheckDigit));
        // The 7 and the 6 swapped: 6x6 + 7x5 instead of 7x6 + 6x5 makes the sum 298;
        // 298 mod 11 = 1; 11 - 1 = 10: no check digit is valid (the swap is caught).
        assert_eq!(validate_nhs_number("9434675919"), Err(IdentifierError::NhsCheckDigit));
        // 000000006x: the sum is 6x2 = 12, 12 mod 11 = 1, 11 - 1 = 10: no valid check digit.
        for last in 0..=9 {
            assert_eq!(
                validate_nhs_number(&format!("000000006{last}")),
                Err(IdentifierError::NhsCheckDigit)
            );
        }
        // 000000011x: the sum is 1x3 + 1x2 = 5, 11 - 5 = 6; 0000000116 is valid.
        assert_eq!(validate_nhs_number("0000000116"), Ok(()));
        // 400000007x: 4x10 + 7x2 = 54; 54 mod 11 = 10; 11 - 10 = 1.
        assert_eq!(validate_nhs_number("4000000071"), Ok(()));
        // 110000000x: 10 + 9 = 19; 19 mod 11 = 8; 11 - 8 = 3. 200000001x: 20 + 2 = 22; 22 mod
        // 11 = 0; 11 - 0 = 11, which is 0.
        assert_eq!(validate_nhs_number("1100000003"), Ok(()));
        assert_eq!(validate_nhs_number("2000000010"), Ok(()));
        assert_eq!(validate_nhs_number("943476591"), Err(IdentifierError::NhsFormat));
        assert_eq!(validate_nhs_number("94347659190"), Err(IdentifierError::NhsFormat));
        assert_eq!(validate_nhs_number("94347659I9"), Err(IdentifierError::NhsFormat));
        assert_eq!(validate_nhs_number("943-476-59"), Err(IdentifierError::NhsFormat));
        assert_eq!(validate_nhs_number(""), Err(IdentifierError::NhsFormat));
    }

    #[test]
    fn upns() {
        // DfE guidance's example H801200001001: 8x2 + 0x3 + 1x4 + 2x5 + 0 ... + 1x10 + 0x11
        // + 0x12 + 1x13 = 16 + 4 + 10 + 10 + 13 = 53; 53 mod 23 = 7 -> H.
        assert_eq!(validate_upn("H801200001001"), Ok(()));
        assert_eq!(ConsistentIdentifier::upn(" h801200001001 ").validate(), Ok(()));
        // The temporary UPN G80120000101A: 16 + 4 + 10 + 10 + 1x12 + A(0)x13 = 52; 52 mod 23 = 6
        // -> G.
        assert_eq!(validate_upn("G80120000101A"), Ok(()));
        assert_eq!(validate_upn("Z801200001001"), Err(IdentifierError::UpnCheckLetter));
        assert_eq!(validate_upn("H80120000101A"), Err(IdentifierError::UpnCheckLetter));
        // I, O and S are not in the table, as check letter or as the 13th character.
        assert_eq!(validate_upn("I801200001001"), Err(IdentifierError::UpnFormat));
        assert_eq!(validate_upn("G80120000101S"), Err(IdentifierError::UpnFormat));
        // A letter anywhere but the 13th character.
        assert_eq!(validate_upn("H8012000A1001"), Err(IdentifierError::UpnFormat));
        assert_eq!(validate_upn("H80120000100"), Err(IdentifierError::UpnFormat));
        assert_eq!(validate_upn(""), Err(IdentifierError::UpnFormat));
        assert_eq!(validate_upn("H80120000100é"), Err(IdentifierError::UpnFormat));
    }

    #[test]
    fn other_schemes_are_free_codes() {
        let other = |scheme: &str, value: &str| ConsistentIdentifier {
            scheme: IdentifierScheme::from_code(scheme),
            value: value.into(),
        };
        assert_eq!(other("local_hub_id", "anything 12").validate(), Ok(()));
        assert_eq!(other("bad code!", "x").validate(), Err(IdentifierError::SchemeCode));
        assert_eq!(other("", "x").validate(), Err(IdentifierError::SchemeCode));
        assert_eq!(other("chi", "  ").validate(), Err(IdentifierError::Empty));
        let json = serde_json::to_string(&other("chi", "x")).unwrap();
        assert_eq!(json, r#"{"scheme":"chi","value":"x"}"#);
        let nhs: ConsistentIdentifier =
            serde_json::from_str(r#"{"scheme":"nhs_number","value":"9434765919"}"#).unwrap();
        assert_eq!(nhs.scheme, IdentifierScheme::NhsNumber);
    }
}
