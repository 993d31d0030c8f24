//! Fieldbook's own closed vocabularies for record fields (the official DfE lists are in
//! `crate::codes`). Codes are stable snake_case strings; labels are for display.

use crate::codes::code_list;

code_list! {
    /// What a record is; every document carries it.
    RecordKind ("record kind") {
        Visit = "visit" => "Visit",
        Assessment = "assessment" => "Assessment",
        CaseNote = "case_note" => "Case note",
        CaseSummary = "case_summary" => "Case summary",
    }
}

code_list! {
    /// The lifecycle of a record: `draft -> submitted -> authorised`.
    RecordStatus ("record status") {
        Draft = "draft" => "Draft",
        Submitted = "submitted" => "Submitted for management oversight",
        Authorised = "authorised" => "Authorised",
    }
}

code_list! {
    /// The kind of visit, which decides the statutory rules that apply to it.
    VisitKind ("visit kind") {
        ChildInNeed = "child_in_need" => "Child in need visit",
        ChildProtection = "child_protection" => "Child protection statutory visit",
        LookedAfter = "looked_after" => "Looked after child visit (reg 28)",
        PrivateFostering = "private_fostering" => "Private fostering visit",
        Assessment = "assessment" => "Assessment visit",
        Section47 = "s47" => "Section 47 enquiry visit",
        Other = "other" => "Other visit",
    }
}

impl VisitKind {
    /// Seeing the child alone is required on these visits (C2).
    pub fn requires_seen_alone(self) -> bool {
        matches!(self, Self::ChildProtection | Self::LookedAfter | Self::PrivateFostering)
    }

    /// Visits that count towards a statutory visit frequency.
    pub fn is_statutory(self) -> bool {
        matches!(
            self,
            Self::ChildInNeed | Self::ChildProtection | Self::LookedAfter | Self::PrivateFostering
        )
    }
}

code_list! {
    /// Why a looked after child was not seen alone: the reasons of CPPCR reg 29.
    NotSeenAloneReason ("not seen alone reason") {
        ChildRefused = "child_refused" => "The child, being of sufficient age and understanding, refused",
        Inappropriate = "inappropriate" => "Inappropriate given the child's age and understanding",
        Unable = "unable" => "The worker was unable to see the child alone",
        Other = "other" => "Other reason (not a reg 29 reason)",
    }
}

impl NotSeenAloneReason {
    /// The reasons reg 29 accepts on a looked after child visit.
    pub fn is_reg29(self) -> bool {
        !matches!(self, Self::Other)
    }
}

code_list! {
    /// How the child's views were obtained (C3).
    ViewsMethod ("views method") {
        OwnWords = "own_words" => "In the child's own words",
        Play = "play" => "Through play or drawing",
        Observation = "observation" => "Observation (pre-verbal child)",
        Advocate = "advocate" => "Through an advocate",
        Interpreter = "interpreter" => "Through an interpreter",
        LinkedStatement = "linked_statement" => "A linked statement (e.g. from Mind of My Own)",
    }
}

code_list! {
    /// The role of a person present at a visit.
    PersonRole ("person role") {
        Child = "child" => "The child",
        Parent = "parent" => "Parent",
        Carer = "carer" => "Carer",
        Sibling = "sibling" => "Sibling",
        OtherRelative = "other_relative" => "Other relative",
        OtherAdult = "other_adult" => "Other adult in the household",
        Professional = "professional" => "Professional",
        Interpreter = "interpreter" => "Interpreter",
        Advocate = "advocate" => "Advocate",
        Other = "other" => "Other",
    }
}

code_list! {
    /// The kind of agency contacted or consulted.
    AgencyKind ("agency kind") {
        School = "school" => "School or education",
        Health = "health" => "Health",
        Gp = "gp" => "GP",
        Police = "police" => "Police",
        Housing = "housing" => "Housing",
        Probation = "probation" => "Probation",
        EarlyHelp = "early_help" => "Early help",
        SocialCare = "social_care" => "Other social care",
        Voluntary = "voluntary" => "Voluntary sector",
        Other = "other" => "Other",
    }
}

code_list! {
    /// The kind of assessment.
    AssessmentKind ("assessment kind") {
        Single = "single" => "Single assessment",
        Section47 = "s47" => "Section 47 enquiry",
    }
}

code_list! {
    /// The decision at the end of an assessment.
    AssessmentOutcome ("assessment outcome") {
        NoFurtherAction = "no_further_action" => "No further action",
        EarlyHelp = "early_help" => "Step down to early help",
        ChildInNeedPlan = "child_in_need_plan" => "Child in need plan",
        Section47 = "s47" => "Section 47 enquiry",
        InitialConference = "initial_conference" => "Initial child protection conference",
        LegalPlanning = "legal_planning" => "Legal planning",
        Other = "other" => "Other",
    }
}

code_list! {
    /// A manager's oversight decision (C5).
    OversightDecision ("oversight decision") {
        Authorise = "authorise" => "Authorised",
        ReturnForWork = "return_for_work" => "Returned to the worker for more work",
        Close = "close" => "Authorised for closure",
    }
}

code_list! {
    /// What a case note is about.
    CaseNoteCategory ("case note category") {
        PhoneCall = "phone_call" => "Telephone call",
        Meeting = "meeting" => "Meeting",
        Correspondence = "correspondence" => "Correspondence",
        Supervision = "supervision" => "Supervision",
        ManagementOversight = "management_oversight" => "Management oversight",
        Other = "other" => "Other",
    }
}

code_list! {
    /// Sex as recorded by the case system.
    Sex ("sex") {
        Male = "m" => "Male",
        Female = "f" => "Female",
        Unknown = "u" => "Not known",
    }
}

code_list! {
    /// The visiting regime of a looked after child's placement, which selects the rule of
    /// CPPCR reg 28 that applies.
    LookedAfterVisitRegime ("looked after visit regime") {
        Standard = "standard" => "Standard placement (reg 28(2)-(3A))",
        ParentBeforeAssessment = "parent_before_assessment" => "Placed with a parent before assessment (reg 28(4))",
        TemporaryConnectedPerson = "temporary_connected_person" => "Temporary approval as a connected person (reg 28(5))",
        InterimCareOrderAtHome = "interim_care_order_at_home" => "Interim care order, placed at home (reg 28(5))",
        CareOrderAtHome = "care_order_at_home" => "Care order, placed at home (reg 28(4))",
    }
}
