//! Time, as one input of a run: the wall clock, a monotonic clock, and a sleep that a stop
//! request interrupts. Nothing else in the crate reads the clock or sleeps.
//!
//! Every promise of this tool is about time: a redelivery's result is listed some seconds
//! after GitHub accepted it (hours during an incident), outages last days, rate limits
//! reset, deliveries expire after 3 days (7 on GHES). With the clock an input, tests hand a
//! run a [`Clock::simulated`] one: a sleep moves simulated time forward at once, so a
//! three-day outage on a 6-hour schedule runs in milliseconds, and no test waits for real.
//!
//! One thing stays on real time in every mode: [`Clock::io_deadline`], the bound on one
//! exchange with a server, because the sockets under it are real.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// The source of time of a run: the system's, or a simulated one that tests advance.
#[derive(Debug, Clone, Default)]
pub struct Clock(Source);

#[derive(Debug, Clone, Default)]
enum Source {
    #[default]
    System,
    Simulated(Arc<Mutex<Simulated>>),
}

/// Simulated time: a wall time and a monotonic offset, moved only by sleeps and
/// [`Clock::advance`].
#[derive(Debug)]
struct Simulated {
    wall: DateTime<Utc>,
    /// A real instant taken when the clock was made: simulated instants are it plus
    /// `elapsed`, so they compare and subtract like real ones.
    origin: Instant,
    elapsed: Duration,
    /// Every sleep asked for, in order (tests check waits with it).
    sleeps: Vec<Duration>,
}

impl Clock {
    /// The system's clocks and real sleeps.
    pub fn system() -> Self {
        Self(Source::System)
    }

    /// A clock that starts at `start` and moves only when something sleeps on it or a test
    /// advances it.
    pub fn simulated(start: DateTime<Utc>) -> Self {
        Self(Source::Simulated(Arc::new(Mutex::new(Simulated {
            wall: start,
            origin: Instant::now(),
            elapsed: Duration::ZERO,
            sleeps: Vec::new(),
        }))))
    }

    /// The wall time: what GitHub's `delivered_at`, JWT claims and checkpoints are compared
    /// with.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.0 {
            Source::System => Utc::now(),
            Source::Simulated(state) => with(state, |state| state.wall),
        }
    }

    /// The monotonic time: what budgets and intervals (`max-duration`, pacing) are measured
    /// with.
    pub fn instant(&self) -> Instant {
        match &self.0 {
            Source::System => Instant::now(),
            Source::Simulated(state) => with(state, |state| state.origin + state.elapsed),
        }
    }

    /// Sleeps for `duration`, or less if `stop` is requested meanwhile; `false` then. On a
    /// simulated clock the time moves on at once.
    pub async fn sleep(&self, duration: Duration, stop: &Stop) -> bool {
        match &self.0 {
            Source::System => tokio::select! {
                _ = tokio::time::sleep(duration) => !stop.is_requested(),
                _ = stop.requested() => false,
            },
            Source::Simulated(state) => {
                if stop.is_requested() {
                    return false;
                }
                with(state, |state| {
                    state.sleeps.push(duration);
                    state.advance(duration);
                });
                // Other tasks (a fake GitHub in the same runtime) get their turn.
                tokio::task::yield_now().await;
                !stop.is_requested()
            }
        }
    }

    /// Runs `exchange` for at most `limit` of real time: `None` when it took longer. Real in
    /// every mode, because it bounds real sockets (a server that says nothing cannot hold a
    /// run).
    pub async fn io_deadline<F: Future>(&self, limit: Duration, exchange: F) -> Option<F::Output> {
        tokio::time::timeout(limit, exchange).await.ok()
    }

    /// Moves a simulated clock forward (no effect on the system clock): a test's "six hours
    /// later".
    pub fn advance(&self, duration: Duration) {
        if let Source::Simulated(state) = &self.0 {
            with(state, |state| state.advance(duration));
        }
    }

    /// The sleeps taken on a simulated clock so far (empty on the system clock).
    pub fn sleeps(&self) -> Vec<Duration> {
        match &self.0 {
            Source::System => Vec::new(),
            Source::Simulated(state) => with(state, |state| state.sleeps.clone()),
        }
    }

    /// A function that reads this clock's wall time, for a fake GitHub that must live on
    /// the same time as the run it serves.
    pub fn wall_reader(&self) -> impl Fn() -> DateTime<Utc> + Send + Sync + 'static {
        let clock = self.clone();
        move || clock.now()
    }
}

impl Simulated {
    fn advance(&mut self, duration: Duration) {
        self.elapsed = self.elapsed.saturating_add(duration);
        let step = chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX);
        self.wall = self
            .wall
            .checked_add_signed(step)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
    }
}

/// The simulated state under its lock; a poisoned lock still holds a usable time.
fn with<T>(state: &Mutex<Simulated>, read: impl FnOnce(&mut Simulated) -> T) -> T {
    let mut guard = state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    read(&mut guard)
}

/// A request to stop (SIGTERM, SIGINT): the run finishes the request in flight, saves and
/// exits. It is a flag for the loops to check and a wake-up for every [`Clock::sleep`], so
/// that a rate-limit wait of minutes does not outlast the runner's grace period and get the
/// process killed with nothing saved.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<StopInner>);

#[derive(Debug, Default)]
struct StopInner {
    requested: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Stop {
    pub fn request(&self) {
        self.0.requested.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    pub fn is_requested(&self) -> bool {
        self.0.requested.load(Ordering::SeqCst)
    }

    /// Returns once a stop is requested.
    pub async fn requested(&self) {
        loop {
            let notified = self.0.notify.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the flag is read: a request in between is not missed.
            notified.as_mut().enable();
            if self.is_requested() {
                return;
            }
            notified.await;
        }
    }
}

/// `1s 500ms`, `2m`, `250ms`: how waits are shown, by humantime, to the millisecond (a
/// jittered backoff would show nanoseconds otherwise).
pub fn format_duration(duration: Duration) -> String {
    let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    humantime::format_duration(Duration::from_millis(millis)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_simulated_clock_moves_only_when_slept_on_or_advanced() {
        let start: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().expect("a time");
        let clock = Clock::simulated(start);
        let began = clock.instant();
        assert_eq!(clock.now(), start);
        assert!(
            clock
                .sleep(Duration::from_secs(3600), &Stop::default())
                .await
        );
        clock.advance(Duration::from_secs(60));
        assert_eq!(clock.now(), start + chrono::Duration::seconds(3660));
        assert_eq!(clock.instant() - began, Duration::from_secs(3660));
        assert_eq!(clock.sleeps(), [Duration::from_secs(3600)]);
    }

    #[tokio::test]
    async fn a_stop_ends_a_sleep_on_either_clock() {
        let stop = Stop::default();
        stop.request();
        assert!(
            !Clock::system()
                .sleep(Duration::from_secs(3600), &stop)
                .await
        );
        let clock = Clock::simulated(DateTime::UNIX_EPOCH);
        let before = clock.now();
        assert!(!clock.sleep(Duration::from_secs(3600), &stop).await);
        assert_eq!(clock.now(), before, "a stopped sleep takes no time");
    }
}
