//! `/healthz` of `--listen`: whether the `--every` loop is doing its job, with a one-line
//! reason either way.
//!
//! Unhealthy (503) when
//! - the last [`FAILURES_UNHEALTHY`] runs failed in a row (GitHub refuses the key, the
//!   checkpoint cannot be saved, ...);
//! - no run succeeded for [`STALE_INTERVALS`] times the current wait between runs (the
//!   interval, or its backoff after failures), not counting the run in progress: runs that
//!   keep finding the state file locked by another process do nothing, yet do not fail;
//! - the run in progress has gone on for longer than `max-duration` plus that much: it
//!   should have stopped starting redeliveries long ago, so the loop is stuck.
//!
//! Healthy (200) otherwise, including while the first run is in progress: a first run may
//! drain a large backlog for hours, and a liveness probe must not kill it for that.
//!
//! The decision is a pure function of the times given ([`Health::check`] takes `now`), so
//! tests need no clock.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::base::clock::format_duration;

/// Failed runs in a row that make the loop unhealthy.
pub const FAILURES_UNHEALTHY: u32 = 3;
/// Waits between runs without a success that make the loop unhealthy.
pub const STALE_INTERVALS: u32 = 3;

/// How a run of the loop ended, as health sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Success,
    Failure,
    /// Another run held the state file's lock: nothing was done, nothing failed.
    Busy,
}

/// The loop's health, updated at the start and end of each run.
#[derive(Debug)]
pub struct Health {
    every: Duration,
    max_duration: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Clone, Copy)]
struct State {
    /// When the loop started: the reference before any success.
    started: Instant,
    running_since: Option<Instant>,
    failures_in_a_row: u32,
    last_success: Option<Instant>,
    last_outcome: Option<RunOutcome>,
}

impl Health {
    pub fn new(every: Duration, max_duration: Duration, started: Instant) -> Self {
        Self {
            every,
            max_duration,
            state: Mutex::new(State {
                started,
                running_since: None,
                failures_in_a_row: 0,
                last_success: None,
                last_outcome: None,
            }),
        }
    }

    pub fn run_started(&self, now: Instant) {
        if let Ok(mut state) = self.state.lock() {
            state.running_since = Some(now);
        }
    }

    pub fn run_ended(&self, outcome: RunOutcome, now: Instant) {
        if let Ok(mut state) = self.state.lock() {
            state.running_since = None;
            state.last_outcome = Some(outcome);
            match outcome {
                RunOutcome::Success => {
                    state.failures_in_a_row = 0;
                    state.last_success = Some(now);
                }
                RunOutcome::Failure => state.failures_in_a_row += 1,
                RunOutcome::Busy => {}
            }
        }
    }

    /// `Ok(reason)` when healthy, `Err(reason)` when not; one line each.
    pub fn check(&self, now: Instant) -> Result<String, String> {
        let Ok(state) = self.state.lock().map(|state| *state) else {
            return Err("the health state is unreadable (a thread panicked)".to_owned());
        };
        let ago = |at: Instant| whole_seconds(now.saturating_duration_since(at));
        let wait = delay_after(self.every, state.failures_in_a_row);
        let stale_after = wait.saturating_mul(STALE_INTERVALS);
        if let Some(since) = state.running_since {
            let limit = self.max_duration.saturating_add(stale_after);
            if now.saturating_duration_since(since) > limit {
                return Err(format!(
                    "the current run started {} ago, past `max-duration` ({}) and {} more: the loop looks stuck",
                    ago(since),
                    whole_seconds(self.max_duration),
                    whole_seconds(stale_after)
                ));
            }
        }
        if state.failures_in_a_row >= FAILURES_UNHEALTHY {
            return Err(format!(
                "the last {} runs failed in a row (the log says why)",
                state.failures_in_a_row
            ));
        }
        // The run in progress does not count: a long drain is work, not staleness.
        let reference = state.running_since.unwrap_or(now);
        let last = state.last_success.unwrap_or(state.started);
        if reference.saturating_duration_since(last) > stale_after {
            let busy = if state.last_outcome == Some(RunOutcome::Busy) {
                " (the last run found the state file locked by another run)"
            } else {
                ""
            };
            return Err(match state.last_success {
                Some(at) => format!("no run succeeded for {}{busy}", ago(at)),
                None => format!(
                    "no run succeeded since the start, {} ago{busy}",
                    ago(state.started)
                ),
            });
        }
        Ok(match (state.last_success, state.running_since) {
            (Some(at), _) => format!("ok: the last successful run ended {} ago", ago(at)),
            (None, Some(_)) => "ok: the first run is in progress".to_owned(),
            (None, None) => "ok: no run has succeeded yet".to_owned(),
        })
    }
}

/// In whole seconds (a health line says "2m 5s", not milliseconds), by the one
/// [`crate::base::clock::format_duration`].
fn whole_seconds(duration: Duration) -> String {
    format_duration(Duration::from_secs(duration.as_secs()))
}

/// The `--every` loop's wait before the next run after `failures` failed runs in a row: the interval,
/// doubled per failure, at most an hour (or the interval, if longer). Health judges
/// staleness by it too.
pub fn delay_after(every: Duration, failures: u32) -> Duration {
    let backed_off = every.saturating_mul(2u32.saturating_pow(failures.min(6)));
    backed_off.min(every.max(Duration::from_secs(3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn health(start: Instant) -> Health {
        Health::new(5 * MINUTE, 60 * MINUTE, start)
    }

    #[test]
    fn healthy_while_the_first_run_drains_for_long() {
        let t0 = crate::base::clock::Clock::system().instant();
        let health = health(t0);
        health.run_started(t0);
        let reason = health.check(t0 + 50 * MINUTE).expect("healthy");
        assert_eq!(reason, "ok: the first run is in progress");
        health.run_ended(RunOutcome::Success, t0 + 55 * MINUTE);
        let reason = health.check(t0 + 56 * MINUTE).expect("healthy");
        assert_eq!(reason, "ok: the last successful run ended 1m ago");
    }

    #[test]
    fn three_failures_in_a_row_are_unhealthy_and_one_success_heals() {
        let t0 = crate::base::clock::Clock::system().instant();
        let health = health(t0);
        for n in 0..3u32 {
            let at = t0 + MINUTE * n;
            health.run_started(at);
            health.run_ended(RunOutcome::Failure, at);
            let healthy = health.check(at).is_ok();
            assert_eq!(healthy, n < 2, "after {} failures", n + 1);
        }
        assert_eq!(
            health.check(t0 + 3 * MINUTE),
            Err("the last 3 runs failed in a row (the log says why)".to_owned())
        );
        health.run_started(t0 + 4 * MINUTE);
        health.run_ended(RunOutcome::Success, t0 + 4 * MINUTE);
        assert!(health.check(t0 + 4 * MINUTE).is_ok());
    }

    #[test]
    fn runs_that_only_find_the_lock_held_go_stale() {
        let t0 = crate::base::clock::Clock::system().instant();
        let health = health(t0);
        health.run_ended(RunOutcome::Success, t0);
        for n in 1..=3u32 {
            health.run_started(t0 + 5 * MINUTE * n);
            health.run_ended(RunOutcome::Busy, t0 + 5 * MINUTE * n);
        }
        assert!(health.check(t0 + 15 * MINUTE).is_ok());
        assert_eq!(
            health.check(t0 + 16 * MINUTE),
            Err(
                "no run succeeded for 16m (the last run found the state file locked by another run)"
                    .to_owned()
            )
        );
    }

    #[test]
    fn a_run_far_past_its_budget_is_stuck() {
        let t0 = crate::base::clock::Clock::system().instant();
        let health = health(t0);
        health.run_ended(RunOutcome::Success, t0);
        health.run_started(t0 + 5 * MINUTE);
        assert!(health.check(t0 + 70 * MINUTE).is_ok());
        let error = health.check(t0 + 81 * MINUTE).expect_err("stuck");
        assert!(error.contains("looks stuck"), "{error}");
        assert!(!error.contains('\n'));
    }
}
