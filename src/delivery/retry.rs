//! The retry schedule: after a failed first attempt, retries 1, 2, 4, 8 and 16 units later;
//! when the fifth retry fails, the delivery is dead-lettered.

use std::time::Duration;

/// Retries after the first attempt of a cycle.
pub const MAX_RETRIES: i32 = 5;
/// Attempts in one cycle: the first and its retries.
pub const MAX_ATTEMPTS: i32 = 1 + MAX_RETRIES;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again this long after the failed attempt.
    RetryIn(Duration),
    DeadLetter,
}

/// What follows the failure of attempt number `cycle_attempt` (1-based, within the current
/// cycle; a redelivery starts a new cycle).
pub fn after_failure(cycle_attempt: i32, unit: Duration) -> AfterFailure {
    if cycle_attempt >= MAX_ATTEMPTS {
        return AfterFailure::DeadLetter;
    }
    let exponent = cycle_attempt.clamp(1, MAX_RETRIES) - 1;
    AfterFailure::RetryIn(unit * (1u32 << exponent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_from_one_unit_then_dead_letter() {
        let unit = Duration::from_secs(60);
        let schedule: Vec<AfterFailure> = (1..=6).map(|n| after_failure(n, unit)).collect();
        assert_eq!(
            schedule,
            vec![
                AfterFailure::RetryIn(Duration::from_secs(60)),
                AfterFailure::RetryIn(Duration::from_secs(120)),
                AfterFailure::RetryIn(Duration::from_secs(240)),
                AfterFailure::RetryIn(Duration::from_secs(480)),
                AfterFailure::RetryIn(Duration::from_secs(960)),
                AfterFailure::DeadLetter,
            ]
        );
        assert_eq!(after_failure(7, unit), AfterFailure::DeadLetter);
        assert_eq!(after_failure(0, unit), AfterFailure::RetryIn(unit));
    }
}
