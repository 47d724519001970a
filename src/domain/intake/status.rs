//! The intake form's states, the one definition of its legal transitions, and the `status`
//! filter that names them.

use crate::domain::{Error, Result};

/// The intake lifecycle, strictly `pending → started → completed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntakeStatus {
    Pending,
    Started,
    Completed,
}

impl IntakeStatus {
    pub const ALL: [IntakeStatus; 3] = [IntakeStatus::Pending, IntakeStatus::Started, IntakeStatus::Completed];

    pub fn as_str(self) -> &'static str {
        match self {
            IntakeStatus::Pending => "pending",
            IntakeStatus::Started => "started",
            IntakeStatus::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<IntakeStatus> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The one definition of the legal transitions.
    pub fn can_transition(from: IntakeStatus, to: IntakeStatus) -> bool {
        use IntakeStatus::*;
        matches!((from, to), (Pending, Started) | (Started, Completed))
    }

    /// The statuses a form may be in for a transition to `to`, for `status = ANY(…)`.
    pub fn allowed_from(to: IntakeStatus) -> Vec<String> {
        Self::ALL.into_iter().filter(|&from| Self::can_transition(from, to)).map(|s| s.as_str().to_string()).collect()
    }
}

/// Parses the `status` filter: a comma-separated list of statuses.
pub fn parse_status_filter(raw: Option<&str>) -> Result<Option<Vec<IntakeStatus>>> {
    let Some(raw) = raw else { return Ok(None) };
    let mut out = Vec::new();
    for part in raw.split(',').map(str::trim) {
        match IntakeStatus::parse(part) {
            Some(s) => out.push(s),
            None => {
                return Err(Error::invalid("status", "must be a comma-separated list of pending, started, completed"))
            }
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifecycle_is_strict() {
        use IntakeStatus::*;
        for from in IntakeStatus::ALL {
            for to in IntakeStatus::ALL {
                let legal = matches!((from, to), (Pending, Started) | (Started, Completed));
                assert_eq!(IntakeStatus::can_transition(from, to), legal, "{from:?} → {to:?}");
            }
        }
        assert_eq!(IntakeStatus::allowed_from(Completed), vec!["started".to_string()]);
        assert_eq!(IntakeStatus::allowed_from(Started), vec!["pending".to_string()]);
    }

    #[test]
    fn status_filter() {
        assert_eq!(
            parse_status_filter(Some("pending,completed")).unwrap().unwrap(),
            vec![IntakeStatus::Pending, IntakeStatus::Completed]
        );
        assert!(parse_status_filter(Some("done")).is_err());
    }
}
