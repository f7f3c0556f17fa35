//! How fast a drain sends: `redelivery-interval` until GitHub says otherwise, slower after a
//! limit answer, and a little faster again after a stretch without one (additive increase,
//! multiplicative decrease: the way TCP finds what a link carries).
//!
//! GitHub's secondary limits are documented as about 80 content-creating requests a minute
//! and 500 an hour, without saying whether redeliveries count. A pace slowed once for the
//! rest of a run would pay for a short burst with hours (240 events at one every 8 s take
//! 32 minutes, not 4); a pace that tries faster now and then costs one more limit answer,
//! waited out, when the limit is still there.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::domain::checkpoint::LearnedPace;
use crate::report::{PaceReason, PaceReport};

/// The slowest pace a rate limit may set: one redelivery every 10 minutes.
const SLOWEST_PACE: Duration = Duration::from_secs(600);

/// After this many redeliveries without a limit answer the drain tries a little faster...
pub const QUIET_REDELIVERIES: u32 = 100;

/// ...or after this long, or as long as GitHub's last limit asked to wait when that is
/// longer, whichever comes first. A minute is GitHub's shortest limit window (80 a minute);
/// a limit that asked for a long wait is a long window (500 an hour), which a minute later
/// is still there.
pub const QUIET_TIME: Duration = Duration::from_secs(60);

/// Each step faster adds this share of the rate of `redelivery-interval` (of one a second
/// when it is shorter): from 8 s at a 1 s interval, 2.7 s, 1.6 s, 1.1 s, then 1 s.
const STEP_SHARE: f64 = 0.25;

/// A pace learned by an earlier run is started from while it is younger than this:
/// GitHub's longest limit window is an hour.
pub const LEARNED_PACE_KEPT: chrono::Duration = chrono::Duration::hours(1);

/// The pace of a drain: `redelivery-interval` at first (or what the previous run learned),
/// slower after each rate limit GitHub answers, faster again after a quiet stretch, never
/// faster than `redelivery-interval`.
///
/// After a limit, the pace becomes the one GitHub's answer shows to be sustainable: the time
/// since the last limit (the wait included) over the redeliveries sent in it, however the
/// pace went in between. A 500-an-hour
/// limit hit after 500 redeliveries a second apart, with a wait of 52 minutes, gives
/// 7.2 s: 500 an hour. At least the pace doubles, so a limit with no wait to learn from
/// still slows the drain.
#[derive(Debug, Clone)]
pub struct Pace {
    /// `redelivery-interval`: never faster.
    floor: Duration,
    interval: Duration,
    /// Since the last limit (or the drain's start): what GitHub's limit lets through.
    since_limit: Stretch,
    /// Since the last change of pace (or the drain's start): how quiet it has been.
    since_change: Stretch,
    /// How long without a limit answer before trying faster.
    quiet_time: Duration,
    reason: PaceReason,
    limit_answers: u32,
    sent_any: bool,
}

/// A stretch of a drain: when it began, how long it had lasted before the drain (a pace
/// learned earlier), and how many redeliveries were sent in it.
#[derive(Debug, Clone, Copy)]
struct Stretch {
    from: Instant,
    before: Duration,
    sent: u32,
}

impl Stretch {
    fn new(from: Instant) -> Self {
        Self {
            from,
            before: Duration::ZERO,
            sent: 0,
        }
    }

    /// How long it has lasted at `now`.
    fn length(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.from)
            .saturating_add(self.before)
    }
}

/// A change of pace, to be logged once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaceChange {
    Slower,
    Faster,
}

impl Pace {
    pub fn new(floor: Duration, now: Instant) -> Self {
        Self {
            floor,
            interval: floor,
            since_limit: Stretch::new(now),
            since_change: Stretch::new(now),
            quiet_time: QUIET_TIME,
            reason: PaceReason::Configured,
            limit_answers: 0,
            sent_any: false,
        }
    }

    /// Starts from the pace an earlier drain (of this run or the last) `learned`, when it is
    /// younger than [`LEARNED_PACE_KEPT`] at `wall` and slower than `floor`; else from
    /// `floor`. The time since it was learned counts as quiet: a drain of a few events per
    /// hook in a fleet, or a run soon after, still comes back to `redelivery-interval`.
    pub fn resume(
        floor: Duration,
        learned: Option<&LearnedPace>,
        wall: DateTime<Utc>,
        now: Instant,
    ) -> Self {
        let mut pace = Self::new(floor, now);
        let recent = learned.filter(|learned| {
            wall.signed_duration_since(learned.at) < LEARNED_PACE_KEPT && learned.at <= wall
        });
        if let Some(learned) = recent {
            let interval = Duration::from_millis(learned.interval_ms).min(SLOWEST_PACE);
            if interval > floor {
                pace.interval = interval;
                pace.reason = PaceReason::Learned;
                let quiet = wall
                    .signed_duration_since(learned.at)
                    .to_std()
                    .unwrap_or_default();
                pace.since_change.before = quiet;
            }
        }
        pace
    }

    /// The pause before the next redelivery.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// One redelivery was sent (accepted, refused or not taken) and its answer is in at
    /// `now`; `limit_wait` is the rate-limit wait GitHub asked for on the way, if any.
    /// Returns the change of pace this makes, if any.
    pub fn after_send(&mut self, now: Instant, limit_wait: Option<Duration>) -> Option<PaceChange> {
        self.sent_any = true;
        for stretch in [&mut self.since_limit, &mut self.since_change] {
            stretch.sent = stretch.sent.saturating_add(1);
        }
        if let Some(wait) = limit_wait {
            self.limited(now, wait);
            return Some(PaceChange::Slower);
        }
        let quiet = self.since_change.sent >= QUIET_REDELIVERIES
            || self.since_change.length(now) >= self.quiet_time;
        if self.interval > self.floor && quiet {
            self.faster(now);
            return Some(PaceChange::Faster);
        }
        None
    }

    /// GitHub rate-limited a redelivery, asked to wait `wait`, and the wait is over at `now`:
    /// slow down (multiplicative decrease), and wait as long before trying faster again.
    fn limited(&mut self, now: Instant, wait: Duration) {
        let window = now.saturating_duration_since(self.since_limit.from);
        let sustainable = window / self.since_limit.sent.max(1);
        let doubled = self.interval.saturating_mul(2).max(Duration::from_secs(1));
        self.interval = sustainable.max(doubled).min(SLOWEST_PACE).max(self.floor);
        self.quiet_time = wait.max(QUIET_TIME);
        self.reason = PaceReason::Limited;
        self.limit_answers = self.limit_answers.saturating_add(1);
        self.since_limit = Stretch::new(now);
        self.since_change = Stretch::new(now);
    }

    /// A stretch without a limit answer: one step faster (additive increase of the rate),
    /// never faster than `redelivery-interval`.
    fn faster(&mut self, now: Instant) {
        let step = STEP_SHARE / self.floor.max(Duration::from_secs(1)).as_secs_f64();
        let rate = 1.0 / self.interval.as_secs_f64().max(f64::EPSILON) + step;
        self.interval = Duration::from_secs_f64(1.0 / rate).max(self.floor);
        self.reason = if self.interval > self.floor {
            PaceReason::Recovering
        } else {
            PaceReason::Configured
        };
        self.since_change = Stretch::new(now);
    }

    /// The pace as the report tells it.
    pub fn report(&self) -> PaceReport {
        PaceReport {
            interval_seconds: (self.interval.as_secs_f64() * 1000.0).round() / 1000.0,
            reason: self.reason,
            limit_answers: self.limit_answers,
        }
    }

    /// Something was sent at this pace.
    pub fn sent_any(&self) -> bool {
        self.sent_any
    }

    /// What the next drain starts from, at the end of this one (`wall`, `now`): the pace
    /// and when it last changed, when it is slower than `redelivery-interval`; else nothing
    /// (the next starts from `redelivery-interval`). A drain that sent nothing learned
    /// nothing: `earlier` stays.
    pub fn learned(
        &self,
        earlier: Option<LearnedPace>,
        wall: DateTime<Utc>,
        now: Instant,
    ) -> Option<LearnedPace> {
        if !self.sent_any {
            return earlier;
        }
        let quiet = chrono::Duration::from_std(self.since_change.length(now)).unwrap_or_default();
        (self.interval > self.floor).then(|| LearnedPace {
            interval_ms: u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX),
            at: wall.checked_sub_signed(quiet).unwrap_or(wall),
            extra: earlier.map(|earlier| earlier.extra).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::checkpoint::Extra;

    const SECOND: Duration = Duration::from_secs(1);

    fn start() -> Instant {
        crate::base::clock::Clock::system().instant()
    }

    /// 500 an hour, hit after 500 redeliveries a second apart and a wait of 52 minutes: the
    /// pace becomes 7.2 s, 500 an hour; a limit right after a slow start at least doubles it.
    #[test]
    fn a_limit_sets_the_pace_it_shows_to_be_sustainable() {
        let start = start();
        let mut pace = Pace::new(SECOND, start);
        for i in 0..499 {
            pace.after_send(start + SECOND * i, None);
        }
        let waited = Duration::from_secs(3100);
        let change = pace.after_send(start + Duration::from_secs(500) + waited, Some(waited));
        assert_eq!(change, Some(PaceChange::Slower));
        assert_eq!(pace.interval(), Duration::from_millis(7200));
        let change = pace.after_send(start + Duration::from_secs(3601), Some(SECOND));
        assert_eq!(change, Some(PaceChange::Slower));
        assert_eq!(pace.interval(), Duration::from_millis(14_400));
        for _ in 0..20 {
            pace.after_send(start + Duration::from_secs(7200), Some(SECOND));
        }
        assert_eq!(pace.interval(), SLOWEST_PACE);
        assert_eq!(pace.report().reason, PaceReason::Limited);
        assert_eq!(pace.report().limit_answers, 22);
    }

    /// Three short limits, ten redeliveries apart, slow the pace to 8 s; each quiet minute
    /// then adds a quarter of one a second to the rate: 2.7 s, 1.6 s, 1.1 s, and back to
    /// 1 s, never faster.
    #[test]
    fn a_quiet_stretch_speeds_the_pace_up_again_never_past_the_interval() {
        let start = start();
        let mut pace = Pace::new(SECOND, start);
        let mut now = start;
        for _ in 0..3 {
            for _ in 0..10 {
                now += pace.interval();
                assert_eq!(pace.after_send(now, None), None);
            }
            now += pace.interval() + 2 * SECOND;
            pace.after_send(now, Some(2 * SECOND));
        }
        assert_eq!(pace.interval(), 8 * SECOND);
        let mut seen = Vec::new();
        while now < start + Duration::from_secs(600) {
            now += pace.interval();
            if pace.after_send(now, None) == Some(PaceChange::Faster) {
                seen.push(pace.interval().as_millis());
            }
        }
        assert_eq!(seen, [2666, 1600, 1142, 1000]);
        assert_eq!(pace.interval(), SECOND);
        assert_eq!(pace.report().reason, PaceReason::Configured);
    }

    /// After a long wait (the hourly window), a quiet minute is not enough: the pace stays
    /// until as long again has passed, or 100 redeliveries.
    #[test]
    fn a_long_wait_is_a_long_window() {
        let start = start();
        let mut pace = Pace::new(SECOND, start);
        for i in 0..500 {
            pace.after_send(start + SECOND * i, None);
        }
        let waited = Duration::from_secs(3000);
        let mut now = start + Duration::from_secs(500) + waited;
        pace.after_send(now, Some(waited));
        let slow = pace.interval();
        for _ in 0..99 {
            now += slow;
            assert_eq!(pace.after_send(now, None), None);
        }
        now += slow;
        assert_eq!(pace.after_send(now, None), Some(PaceChange::Faster));
        assert_eq!(pace.report().reason, PaceReason::Recovering);
    }

    /// The pace a limit sets is measured from the last limit, however often the pace sped
    /// up in between: a long wait after a quick stretch is spread over every redelivery
    /// since that limit, not only over the last few.
    #[test]
    fn a_limit_after_speed_ups_measures_from_the_last_limit() {
        let start = start();
        let mut pace = Pace::new(SECOND, start);
        for i in 0..499 {
            pace.after_send(start + SECOND * i, None);
        }
        let mut now = start + Duration::from_secs(3600);
        pace.after_send(now, Some(Duration::from_secs(3100)));
        assert_eq!(pace.interval(), Duration::from_millis(7200));
        let mut sent = 0;
        let mut faster = 0;
        while faster < 2 {
            now += pace.interval();
            sent += 1;
            if pace.after_send(now, None) == Some(PaceChange::Faster) {
                faster += 1;
            }
        }
        let limit_at = start + Duration::from_secs(3600);
        now += pace.interval() + Duration::from_secs(1800);
        pace.after_send(now, Some(Duration::from_secs(1800)));
        let expected = (now - limit_at) / (sent + 1);
        assert_eq!(pace.interval(), expected.max(2 * SECOND));
        assert!(pace.interval() < 30 * SECOND, "{:?}", pace.interval());
    }

    /// The next run starts from a learned pace younger than an hour, never from an older
    /// or a future one, nor from one faster than its interval; a drain that sent nothing
    /// keeps the earlier one, one back at its interval clears it.
    #[test]
    fn a_learned_pace_is_carried_for_an_hour() {
        let now = start();
        let wall: DateTime<Utc> = "2026-12-07T06:00:00Z".parse().expect("a time");
        let learned = |minutes_ago: i64, interval_ms| LearnedPace {
            interval_ms,
            at: wall - chrono::Duration::minutes(minutes_ago),
            extra: Extra::new(),
        };
        let mut pace = Pace::resume(SECOND, Some(&learned(59, 4000)), wall, now);
        assert_eq!(pace.interval(), 4 * SECOND);
        assert_eq!(pace.report().reason, PaceReason::Learned);
        // The hour since counts as quiet: one step faster at the first redelivery.
        assert_eq!(pace.after_send(now, None), Some(PaceChange::Faster));
        assert_eq!(pace.interval(), 2 * SECOND);
        // Learned a moment ago: not yet.
        let mut pace = Pace::resume(SECOND, Some(&learned(0, 4000)), wall, now);
        assert_eq!(pace.after_send(now + 4 * SECOND, None), None);
        for (stale, interval) in [(61, 4000), (-5, 4000), (10, 500)] {
            let pace = Pace::resume(SECOND, Some(&learned(stale, interval)), wall, now);
            assert_eq!(pace.interval(), SECOND, "{stale} {interval}");
        }
        let idle = Pace::resume(SECOND, Some(&learned(10, 4000)), wall, now);
        assert_eq!(
            idle.learned(Some(learned(10, 4000)), wall, now),
            Some(learned(10, 4000))
        );
        let mut busy = Pace::new(SECOND, now);
        busy.after_send(now + 3 * SECOND, Some(2 * SECOND));
        let later = now + 20 * SECOND;
        let carried = busy
            .learned(Some(learned(10, 4000)), wall, later)
            .expect("slower");
        let changed = wall - chrono::Duration::seconds(17);
        assert_eq!((carried.interval_ms, carried.at), (3000, changed));
        let mut fast = Pace::new(SECOND, now);
        fast.after_send(now, None);
        assert_eq!(fast.learned(Some(learned(10, 4000)), wall, now), None);
    }
}
