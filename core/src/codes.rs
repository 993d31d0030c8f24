//! The official code lists (DOMAIN.md §4) and Fieldbook's own closed vocabularies.
//!
//! Every list is a Rust enum. The code is what travels (on the wire, in Automerge documents, in
//! exports to the case system); the label is what a person reads. A code that Fieldbook does not
//! know is an error, never silently mapped to something else, because these codes feed the DfE
//! returns.

/// A code that is not in its list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {list} code {code:?}")]
pub struct UnknownCode {
    /// The name of the code list.
    pub list: &'static str,
    /// The code that was not recognised.
    pub code: String,
}

/// Declares a closed code list: the enum, its codes and labels, serde as the code string and
/// autosurgeon (Automerge) as the code string.
macro_rules! code_list {
    (
        $(#[$meta:meta])*
        $name:ident ($list:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal => $label:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* #[doc = $label] $variant, )+
        }

        impl $name {
            /// Every member of the list, in its official order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The name of the list, for errors.
            pub const LIST: &'static str = $list;

            /// The official code, as it travels and is returned to the DfE.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code,)+ }
            }

            /// The label to show to a person.
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label,)+ }
            }

            /// Parses an official code; unknown codes are an error.
            pub fn from_code(code: &str) -> Result<Self, $crate::codes::UnknownCode> {
                match code {
                    $($code => Ok($name::$variant),)+
                    other => Err($crate::codes::UnknownCode { list: $list, code: other.to_string() }),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.code())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::codes::UnknownCode;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_code(s)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.code())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let code = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                Self::from_code(&code).map_err(serde::de::Error::custom)
            }
        }

        // By hand: serde writes the code, so the schema is the list of codes (labels described).
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let labels = [$(concat!("`", $code, "`: ", $label)),+].join("; ");
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($code),+]))
                    .description(Some(format!("A {} code. {labels}", $list)))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }

        impl autosurgeon::Reconcile for $name {
            type Key<'a> = autosurgeon::reconcile::NoKey;
            fn reconcile<R: autosurgeon::Reconciler>(&self, reconciler: R) -> Result<(), R::Error> {
                self.code().reconcile(reconciler)
            }
        }

        impl autosurgeon::Hydrate for $name {
            fn hydrate_string(s: &str) -> Result<Self, autosurgeon::HydrateError> {
                Self::from_code(s).map_err(|e| autosurgeon::HydrateError::unexpected(
                    concat!("a ", $list, " code"), e.code))
            }
        }
    };
}
pub(crate) use code_list;

code_list! {
    /// CIN census referral source.
    ReferralSource ("referral source") {
        Family = "1A" => "Individual: family member/relative/carer",
        Acquaintance = "1B" => "Individual: acquaintance (including neighbours and child minders)",
        SelfReferral = "1C" => "Individual: self",
        OtherIndividual = "1D" => "Individual: other (including strangers, MPs)",
        Schools = "2A" => "Schools",
        EducationServices = "2B" => "Education services",
        Gp = "3A" => "Health services: GP",
        HealthVisitor = "3B" => "Health services: health visitor",
        SchoolNurse = "3C" => "Health services: school nurse",
        OtherPrimaryHealth = "3D" => "Health services: other primary health services",
        AccidentAndEmergency = "3E" => "Health services: A&E",
        OtherHealth = "3F" => "Health services: other (e.g. hospice)",
        Housing = "4" => "Housing",
        LaSocialCare = "5A" => "LA services: social care",
        OtherInternalLa = "5B" => "LA services: other internal",
        OtherLa = "5C" => "LA services: external (e.g. from another LA)",
        EarlyHelp = "5D" => "LA services: early help",
        Police = "6" => "Police",
        OtherLegalAgency = "7" => "Other legal agency",
        Other = "8" => "Other",
        Anonymous = "9" => "Anonymous",
        Unknown = "10" => "Unknown",
    }
}

code_list! {
    /// CIN census primary need.
    PrimaryNeed ("primary need") {
        NotStated = "N0" => "Not stated",
        AbuseOrNeglect = "N1" => "Abuse or neglect",
        ChildsDisability = "N2" => "Child's disability",
        ParentalDisabilityOrIllness = "N3" => "Parental disability or illness",
        FamilyInAcuteStress = "N4" => "Family in acute stress",
        FamilyDysfunction = "N5" => "Family dysfunction",
        SociallyUnacceptableBehaviour = "N6" => "Socially unacceptable behaviour",
        LowIncome = "N7" => "Low income",
        AbsentParenting = "N8" => "Absent parenting",
        NotChildInNeed = "N9" => "Cases other than children in need",
    }
}

code_list! {
    /// CIN census reason for closure.
    ClosureReason ("closure reason") {
        Adopted = "RC1" => "Adopted",
        Died = "RC2" => "Died",
        ChildArrangementsOrder = "RC3" => "Child arrangements order",
        SpecialGuardianshipOrder = "RC4" => "Special guardianship order",
        MovedToAnotherLa = "RC5" => "Transferred to services of another local authority",
        TransferredToAdultServices = "RC6" => "Transferred to adult social care services",
        ServicesCeasedOther = "RC7" => "Services ceased for any other reason",
        ClosedAfterAssessmentNfa = "RC8" => "Case closed after assessment, no further action",
        ClosedAfterAssessmentEarlyHelp = "RC9" => "Case closed after assessment, referred to early help",
    }
}

impl ClosureReason {
    /// RC8 and RC9 describe the outcome of an assessment, so the case must have one (CIN 8825Q).
    pub fn requires_assessment(self) -> bool {
        matches!(self, Self::ClosedAfterAssessmentNfa | Self::ClosedAfterAssessmentEarlyHelp)
    }
}

code_list! {
    /// Category of abuse on a child protection plan.
    AbuseCategory ("category of abuse") {
        Neglect = "NEG" => "Neglect",
        Physical = "PHY" => "Physical abuse",
        Sexual = "SAB" => "Sexual abuse",
        Emotional = "EMO" => "Emotional abuse",
        Multiple = "MUL" => "Multiple/not recommended by government",
    }
}

code_list! {
    /// CIN census factors identified at the end of assessment.
    AssessmentFactor ("assessment factor") {
        AlcoholChild = "1A" => "Alcohol misuse: concerns about the child",
        AlcoholParent = "1B" => "Alcohol misuse: concerns about the parent or carer",
        AlcoholOther = "1C" => "Alcohol misuse: concerns about another person in the household",
        DrugChild = "2A" => "Drug misuse: concerns about the child",
        DrugParent = "2B" => "Drug misuse: concerns about the parent or carer",
        DrugOther = "2C" => "Drug misuse: concerns about another person in the household",
        DomesticAbuseChild = "3A" => "Domestic abuse: concerns about the child",
        DomesticAbuseParent = "3B" => "Domestic abuse: concerns about the parent or carer",
        DomesticAbuseOther = "3C" => "Domestic abuse: concerns about another person in the household",
        MentalHealthChild = "4A" => "Mental health: concerns about the child",
        MentalHealthParent = "4B" => "Mental health: concerns about the parent or carer",
        MentalHealthOther = "4C" => "Mental health: concerns about another person in the household",
        LearningDisabilityChild = "5A" => "Learning disability: concerns about the child",
        LearningDisabilityParent = "5B" => "Learning disability: concerns about the parent or carer",
        LearningDisabilityOther = "5C" => "Learning disability: concerns about another person in the household",
        PhysicalDisabilityChild = "6A" => "Physical disability or illness: concerns about the child",
        PhysicalDisabilityParent = "6B" => "Physical disability or illness: concerns about the parent or carer",
        PhysicalDisabilityOther = "6C" => "Physical disability or illness: concerns about another person in the household",
        YoungCarer = "7A" => "Young carer",
        PrivateFosteringOverseasReturn = "8B" => "Privately fostered: overseas children who intend to return",
        PrivateFosteringOverseasStay = "8C" => "Privately fostered: overseas children who intend to stay",
        PrivateFosteringEducational = "8D" => "Privately fostered: UK children in educational placements",
        PrivateFosteringFamilyArrangement = "8E" => "Privately fostered: UK children making alternative family arrangements",
        PrivateFosteringOther = "8F" => "Privately fostered: other",
        UnaccompaniedAsylumSeeking = "9A" => "Unaccompanied asylum-seeking child",
        GoingMissing = "10A" => "Going missing",
        SexualExploitation = "11A" => "Child sexual exploitation",
        Trafficking = "12A" => "Trafficking",
        Gangs = "13A" => "Gangs",
        SociallyUnacceptableBehaviour = "14A" => "Socially unacceptable behaviour",
        SelfHarm = "15A" => "Self-harm",
        Neglect = "16A" => "Neglect",
        EmotionalAbuse = "17A" => "Emotional abuse",
        /// Retired: kept so that old records still load; refused on new submissions (CIN 8869).
        PhysicalAbuseRetired = "18A" => "Physical abuse (retired code)",
        PhysicalAbuseByChild = "18B" => "Physical abuse: by a child",
        PhysicalAbuseByAdult = "18C" => "Physical abuse: by an adult",
        /// Retired: kept so that old records still load; refused on new submissions (CIN 8869).
        SexualAbuseRetired = "19A" => "Sexual abuse (retired code)",
        SexualAbuseByChild = "19B" => "Sexual abuse: by a child",
        SexualAbuseByAdult = "19C" => "Sexual abuse: by an adult",
        Other = "20" => "Other",
        NoFactorsIdentified = "21" => "No factors identified",
        FemaleGenitalMutilation = "22A" => "Female genital mutilation",
        FaithOrBeliefAbuse = "23A" => "Abuse linked to faith or belief",
        CriminalExploitation = "24A" => "Child criminal exploitation",
    }
}

impl AssessmentFactor {
    /// Codes the DfE has withdrawn; a submission containing one is refused.
    pub fn is_retired(self) -> bool {
        matches!(self, Self::PhysicalAbuseRetired | Self::SexualAbuseRetired)
    }
}

code_list! {
    /// SSDA903 legal status.
    LegalStatus ("legal status") {
        InterimCareOrder = "C1" => "Interim care order",
        FullCareOrder = "C2" => "Full care order",
        FreeingOrder = "D1" => "Freeing order granted",
        PlacementOrder = "E1" => "Placement order granted",
        AccommodatedSection20 = "V2" => "Single period of accommodation under section 20",
        ShortBreakSingle = "V3" => "Accommodated under an agreed series of short-term breaks, when individual episodes of care are recorded",
        ShortBreakSeries = "V4" => "Accommodated under an agreed series of short-term breaks, when agreements are recorded",
        PoliceProtection = "L1" => "Under police protection and in local authority accommodation",
        EmergencyProtectionOrder = "L2" => "Under an emergency protection order",
        ChildAssessmentOrder = "L3" => "Under a child assessment order and in local authority accommodation",
        Remanded = "J1" => "Remanded to local authority accommodation or to youth detention accommodation",
        Pace = "J2" => "Placed in local authority accommodation under the Police and Criminal Evidence Act 1984",
        YouthRehabilitationOrder = "J3" => "Sentenced to a youth rehabilitation order with residence or intensive fostering requirement",
    }
}

code_list! {
    /// SSDA903 placement type (the ones the visit rules need).
    PlacementType ("placement type") {
        FosterRelativeLongTerm = "U1" => "Foster placement with relative or friend: long-term fostering",
        FosterRelativeFfa = "U2" => "Foster placement with relative or friend who is also an approved adopter: FFA or concurrent planning",
        FosterRelativeOther = "U3" => "Foster placement with relative or friend: not long-term or FFA",
        FosterOtherLongTerm = "U4" => "Foster placement with other foster carer: long-term fostering",
        FosterOtherFfa = "U5" => "Foster placement with other foster carer who is also an approved adopter: FFA or concurrent planning",
        FosterOther = "U6" => "Foster placement with other foster carer: not long-term or FFA",
        AdoptionConsentCurrentCarer = "A3" => "Placed for adoption with parental consent with current foster carer",
        AdoptionConsentOther = "A4" => "Placed for adoption with parental consent not with current foster carer",
        AdoptionOrderCurrentCarer = "A5" => "Placed for adoption with placement order with current foster carer",
        AdoptionOrderOther = "A6" => "Placed for adoption with placement order not with current foster carer",
        WithParents = "P1" => "Placed with own parent(s) or other person with parental responsibility",
        IndependentLiving = "P2" => "Independent living",
        SecureChildrensHome = "K1" => "Secure children's home",
        ChildrensHome = "K2" => "Children's home",
    }
}

impl PlacementType {
    /// A long-term foster placement (U1, U4): the only kind where reg 28(3A) allows visits up to
    /// six months apart.
    pub fn is_long_term_foster(self) -> bool {
        matches!(self, Self::FosterRelativeLongTerm | Self::FosterOtherLongTerm)
    }
}

code_list! {
    /// SSDA903 child's participation in a review.
    ReviewParticipation ("review participation") {
        UnderFour = "PN0" => "Child aged under 4 at the time of the review",
        AttendsSpeaks = "PN1" => "Child physically attends and speaks for themselves",
        AttendsAdvocateSpeaks = "PN2" => "Child physically attends and an advocate speaks on their behalf",
        AttendsNonVerbal = "PN3" => "Child physically attends and conveys views symbolically (non-verbally)",
        AttendsNoViews = "PN4" => "Child physically attends but does not speak or convey views",
        AbsentBriefsAdvocate = "PN5" => "Child does not attend but briefs an advocate to speak for them",
        AbsentOtherMeans = "PN6" => "Child does not attend but conveys views by another method",
        AbsentNoViews = "PN7" => "Child does not attend nor convey views",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        fn check<T: Copy + PartialEq + std::fmt::Debug + serde::Serialize>(
            all: &[T],
            code: fn(T) -> &'static str,
            parse: fn(&str) -> Result<T, UnknownCode>,
        ) {
            let mut seen = std::collections::HashSet::new();
            for &v in all {
                assert!(seen.insert(code(v)), "duplicate code {}", code(v));
                assert_eq!(parse(code(v)).unwrap(), v);
                assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(code(v)));
            }
        }
        check(ReferralSource::ALL, ReferralSource::code, ReferralSource::from_code);
        check(PrimaryNeed::ALL, PrimaryNeed::code, PrimaryNeed::from_code);
        check(ClosureReason::ALL, ClosureReason::code, ClosureReason::from_code);
        check(AbuseCategory::ALL, AbuseCategory::code, AbuseCategory::from_code);
        check(AssessmentFactor::ALL, AssessmentFactor::code, AssessmentFactor::from_code);
        check(LegalStatus::ALL, LegalStatus::code, LegalStatus::from_code);
        check(PlacementType::ALL, PlacementType::code, PlacementType::from_code);
        check(ReviewParticipation::ALL, ReviewParticipation::code, ReviewParticipation::from_code);
        assert_eq!(ReferralSource::ALL.len(), 22);
        assert_eq!(PrimaryNeed::ALL.len(), 10);
        assert_eq!(AssessmentFactor::ALL.len(), 44);
    }

    #[test]
    fn unknown_code_is_a_typed_error() {
        let err = PrimaryNeed::from_code("N10").unwrap_err();
        assert_eq!(err.list, "primary need");
        assert!(serde_json::from_str::<AbuseCategory>("\"XYZ\"").is_err());
    }

    #[test]
    fn retired_factors_and_assessment_closures() {
        assert!(AssessmentFactor::from_code("18A").unwrap().is_retired());
        assert!(AssessmentFactor::from_code("19A").unwrap().is_retired());
        assert!(!AssessmentFactor::from_code("18B").unwrap().is_retired());
        assert!(ClosureReason::ClosedAfterAssessmentNfa.requires_assessment());
        assert!(!ClosureReason::Died.requires_assessment());
        assert_eq!(
            ClosureReason::from_code("RC9").unwrap().label(),
            "Case closed after assessment, referred to early help"
        );
    }
}
