//! A key's fixed one-minute rate-limit window, aligned to the minute, as the headers tell it.

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: u32,
    pub remaining: u32,
    /// Unix seconds when the window resets.
    pub reset: i64,
}

impl Window {
    /// The window after the `count`-th request of the window starting at `start`.
    pub fn after(limit: u32, count: i32, start: DateTime<Utc>) -> Window {
        let used = count.max(0) as u32;
        Window { limit, remaining: limit.saturating_sub(used), reset: start.timestamp() + 60 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn window_counts_down_and_resets_at_the_next_minute() {
        let start = Utc.with_ymd_and_hms(2026, 11, 28, 9, 30, 0).unwrap();
        let w = Window::after(20, 1, start);
        assert_eq!((w.remaining, w.reset), (19, start.timestamp() + 60));
        assert_eq!(Window::after(20, 25, start).remaining, 0);
    }
}
