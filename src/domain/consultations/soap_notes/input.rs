//! What a front door sends to write, change, sign or amend a note, and the rules it follows.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::text::required_text;
use crate::domain::{Error, FieldError, Result};

/// Each section's limit, in bytes of UTF-8.
pub const MAX_SECTION_BYTES: usize = 64 * 1024;
/// An amendment's reason, in characters (like other free text).
pub const MAX_REASON_CHARS: usize = 1000;

/// Who signs: the consultation's provider or the note's author.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Signature {
    /// The consultation's provider or the note's author.
    #[schema(example = 3)]
    pub provider_id: i64,
}

/// A new note: at least one section non-blank; each at most 64 KiB. Blank sections are stored
/// as `null`; others verbatim.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewSoapNote {
    #[schema(example = "Cough for 3 days, no fever.")]
    pub subjective: Option<String>,
    #[schema(example = "Lungs clear. Temp 36.8 °C.")]
    pub objective: Option<String>,
    #[schema(example = "Viral upper respiratory infection.")]
    pub assessment: Option<String>,
    #[schema(example = "Rest, fluids; return if fever develops.")]
    pub plan: Option<String>,
    /// A provider of the organization; defaults to the consultation's provider.
    pub author_provider_id: Option<i64>,
    /// Sign the note as it is written (status `signed`); without it the note is a `draft`.
    pub sign: Option<Signature>,
}

/// Changes to a draft: the sections sent replace the draft's (a blank one clears it), those
/// not sent (or `null`) are kept. At least one section must be sent, and the note keeps at least
/// one non-blank section.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SoapNoteChanges {
    #[schema(example = "Cough for 4 days, no fever.")]
    pub subjective: Option<String>,
    pub objective: Option<String>,
    pub assessment: Option<String>,
    pub plan: Option<String>,
}

/// An amendment of a signed note: the next version, signed by `providerId`. The sections sent
/// replace the current version's (a blank one clears it); those not sent (or `null`) are kept.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Amendment {
    /// Why the note is amended: required, 1–1000 characters (trimmed).
    #[schema(example = "Corrected the temperature reading.", min_length = 1, max_length = 1000)]
    pub reason: String,
    /// The consultation's provider or the note's author, who signs the new version.
    #[schema(example = 3)]
    pub provider_id: i64,
    pub subjective: Option<String>,
    #[schema(example = "Lungs clear. Temp 37.9 °C.")]
    pub objective: Option<String>,
    pub assessment: Option<String>,
    pub plan: Option<String>,
}

/// The four sections of a version; `None` is an empty section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sections {
    pub subjective: Option<String>,
    pub objective: Option<String>,
    pub assessment: Option<String>,
    pub plan: Option<String>,
}

/// Sections as sent: `None` not sent, `Some(None)` sent blank (cleared).
#[derive(Debug, Default)]
pub struct SentSections([Option<Option<String>>; 4]);

const NAMES: [&str; 4] = ["subjective", "objective", "assessment", "plan"];

/// Checks the sections sent: each at most 64 KiB, no NUL. Blank ones become `Some(None)`.
fn sent(details: &mut Vec<FieldError>, values: [Option<&String>; 4]) -> SentSections {
    let mut out = SentSections::default();
    for (i, value) in values.into_iter().enumerate() {
        let Some(value) = value else { continue };
        let field = NAMES[i];
        if value.len() > MAX_SECTION_BYTES {
            details.push(FieldError::new(field, "must be at most 64 KiB"));
        } else if value.contains('\0') {
            details.push(FieldError::new(field, "must not contain NUL characters"));
        }
        out.0[i] = Some(Some(value.clone()).filter(|v| !v.trim().is_empty()));
    }
    out
}

impl SentSections {
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    /// `base` with the sections sent replacing its own; at least one must be non-blank.
    pub fn apply_to(&self, base: &Sections) -> Result<Sections> {
        let pick = |i: usize, old: &Option<String>| self.0[i].clone().unwrap_or_else(|| old.clone());
        let merged = Sections {
            subjective: pick(0, &base.subjective),
            objective: pick(1, &base.objective),
            assessment: pick(2, &base.assessment),
            plan: pick(3, &base.plan),
        };
        merged.require_one()?;
        Ok(merged)
    }
}

impl Sections {
    fn require_one(&self) -> Result<()> {
        let all_blank =
            self.subjective.is_none() && self.objective.is_none() && self.assessment.is_none() && self.plan.is_none();
        if all_blank {
            return Err(Error::invalid(
                "body",
                "at least one of subjective, objective, assessment, plan must be non-empty",
            ));
        }
        Ok(())
    }
}

fn done<T>(details: Vec<FieldError>, value: T) -> Result<T> {
    if details.is_empty() {
        Ok(value)
    } else {
        Err(Error::Invalid(details))
    }
}

impl NewSoapNote {
    /// The sections to write: at least one non-blank.
    pub fn validate(&self) -> Result<Sections> {
        let mut details = Vec::new();
        let values = [&self.subjective, &self.objective, &self.assessment, &self.plan].map(Option::as_ref);
        let sections = sent(&mut details, values);
        done(details, ())?;
        sections.apply_to(&Sections::default())
    }
}

impl SoapNoteChanges {
    pub fn validate(&self) -> Result<SentSections> {
        let mut details = Vec::new();
        let values = [&self.subjective, &self.objective, &self.assessment, &self.plan].map(Option::as_ref);
        let sections = sent(&mut details, values);
        if details.is_empty() && sections.is_empty() {
            details.push(FieldError::new("body", "send at least one of subjective, objective, assessment, plan"));
        }
        done(details, sections)
    }
}

impl Amendment {
    /// The reason (trimmed) and the sections sent.
    pub fn validate(&self) -> Result<(String, SentSections)> {
        let mut details = Vec::new();
        let reason = required_text(&mut details, "reason", &self.reason, MAX_REASON_CHARS);
        let values = [&self.subjective, &self.objective, &self.assessment, &self.plan].map(Option::as_ref);
        let sections = sent(&mut details, values);
        if sections.is_empty() {
            details.push(FieldError::new("body", "send at least one of subjective, objective, assessment, plan"));
        }
        done(details, (reason, sections))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn sections_sent_replace_blank_clears_unsent_keeps() {
        let base = Sections { subjective: s("a"), objective: s("b"), assessment: None, plan: s("d") };
        let changes = SoapNoteChanges { subjective: s("A"), objective: s("  "), assessment: None, plan: None };
        let merged = changes.validate().unwrap().apply_to(&base).unwrap();
        assert_eq!(merged, Sections { subjective: s("A"), objective: None, assessment: None, plan: s("d") });
    }

    #[test]
    fn a_note_keeps_one_section_and_a_change_sends_one() {
        let base = Sections { subjective: s("a"), ..Sections::default() };
        let clear = SoapNoteChanges { subjective: s(""), objective: None, assessment: None, plan: None };
        assert!(clear.validate().unwrap().apply_to(&base).is_err());
        let nothing = SoapNoteChanges { subjective: None, objective: None, assessment: None, plan: None };
        assert!(nothing.validate().is_err());
    }

    #[test]
    fn an_amendment_needs_a_reason_of_at_most_1000_characters() {
        let amend = |reason: &str| Amendment {
            reason: reason.into(),
            provider_id: 1,
            subjective: s("x"),
            objective: None,
            assessment: None,
            plan: None,
        };
        assert!(amend("  ").validate().is_err());
        assert!(amend(&"é".repeat(1001)).validate().is_err());
        assert_eq!(amend(" typo ").validate().unwrap().0, "typo");
        assert!(amend(&"é".repeat(1000)).validate().is_ok());
    }
}
