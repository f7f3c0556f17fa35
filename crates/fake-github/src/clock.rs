//! Time: this GitHub's clock (the machine's, a test's simulated one, and an offset), and
//! how GitHub writes times.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};

use crate::FakeGitHub;
use crate::state::Shared;

/// A test's simulated wall clock (see [`FakeGitHub::use_clock`]).
pub(crate) type WallClock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

impl Shared {
    /// This GitHub's clock: the machine's, shifted by the clock offset.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let clock = self
            .clock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let now = clock.map_or_else(Utc::now, |clock| clock());
        now + TimeDelta::milliseconds(self.clock_offset_millis.load(Ordering::Relaxed))
    }
}

impl FakeGitHub {
    /// Sets this GitHub's clock `offset` from the machine's (negative: behind). Everything
    /// it stamps and checks runs on that clock: the `Date` header, redeliveries'
    /// `delivered_at`, variables' times, JWT and token expiry.
    pub fn set_clock_offset(&self, offset: TimeDelta) {
        self.shared
            .clock_offset_millis
            .store(offset.num_milliseconds(), Ordering::Relaxed);
    }

    /// Runs this GitHub on `clock` (a test's simulated time) instead of the machine's: the
    /// run under test and its GitHub then agree on the time, and a result "listed 2 s
    /// after the 202" is listed once the simulated clock has moved 2 s on.
    pub fn use_clock(&self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) {
        *self
            .shared
            .clock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::new(clock));
    }

    /// Whether this GitHub runs on a clock given by [`FakeGitHub::use_clock`].
    pub fn has_own_clock(&self) -> bool {
        self.shared
            .clock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_some()
    }

    /// The time on this GitHub's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.now()
    }
}

pub(crate) fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}
