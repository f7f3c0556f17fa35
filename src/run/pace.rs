//! How fast a drain sends: `redelivery-interval` until GitHub says otherwise.

use std::time::{Duration, Instant};

/// The slowest pace a rate limit may set: one redelivery every 10 minutes.
const SLOWEST_PACE: Duration = Duration::from_secs(600);

/// The pace of a drain: `redelivery-interval` at first, slower after each rate limit GitHub
/// answers, and never faster again within the run.
///
/// After a limit, the pace becomes the one GitHub's answer shows to be sustainable: the time
/// since the last limit (the wait included) over the redeliveries sent in it. A 500-an-hour
/// limit hit after 500 redeliveries a second apart, with a wait of 52 minutes, gives
/// 7.2 s: 500 an hour. At least the pace doubles, so a limit with no wait to learn from
/// still slows the drain.
#[derive(Debug, Clone)]
pub struct Pace {
    interval: Duration,
    /// Since the last limit (or the drain's start): when, and how many were sent.
    since: Instant,
    sent_since: u32,
}

impl Pace {
    pub fn new(interval: Duration, now: Instant) -> Self {
        Self {
            interval,
            since: now,
            sent_since: 0,
        }
    }

    /// The pause before the next redelivery.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// One redelivery was sent (and accepted or refused).
    pub fn sent(&mut self) {
        self.sent_since = self.sent_since.saturating_add(1);
    }

    /// GitHub rate-limited a redelivery and the wait is over at `now`: slow down.
    pub fn limited(&mut self, now: Instant) {
        let window = now.saturating_duration_since(self.since);
        let sustainable = window / self.sent_since.max(1);
        let doubled = self.interval.saturating_mul(2).max(Duration::from_secs(1));
        self.interval = sustainable.max(doubled).min(SLOWEST_PACE);
        self.since = now;
        self.sent_since = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 500 an hour, hit after 500 redeliveries a second apart and a wait of 52 minutes: the
    /// pace becomes 7.2 s, 500 an hour; a limit right after a slow start at least doubles it.
    #[test]
    fn a_limit_sets_the_pace_it_shows_to_be_sustainable() {
        let start = crate::base::clock::Clock::system().instant();
        let mut pace = Pace::new(Duration::from_secs(1), start);
        for _ in 0..500 {
            pace.sent();
        }
        pace.limited(start + Duration::from_secs(500 + 3100));
        assert_eq!(pace.interval(), Duration::from_millis(7200));
        pace.sent();
        pace.limited(start + Duration::from_secs(500 + 3100 + 1));
        assert_eq!(pace.interval(), Duration::from_millis(14_400));
        for _ in 0..20 {
            pace.limited(start + Duration::from_secs(7200));
        }
        assert_eq!(pace.interval(), SLOWEST_PACE);
    }
}
