//! `--every`: the same run, again and again, for a container entrypoint or a server.
//!
//! One run at a time; SIGTERM/SIGINT (handled in [`crate::entry::execute`]) finish the
//! current redelivery, save the checkpoint and exit 0; a failed run is logged and retried at the next tick, with backoff.

use std::time::Duration;

use crate::client::format_duration;
use crate::entry::{Exit, run_and_publish};
use crate::run::RunContext;
use crate::settings::Settings;

pub async fn run_every(settings: &Settings, context: &RunContext, every: Duration) -> Exit {
    let log = &context.log;
    let mut failures = 0u32;
    loop {
        let exit = run_and_publish(settings, context).await;
        if context.stop.is_requested() {
            log.info("Stopped.");
            return Exit::Success;
        }
        match exit {
            Exit::Success | Exit::Busy => failures = 0,
            Exit::Failure | Exit::BadInput => failures += 1,
        }
        let delay = delay_after(every, failures);
        if failures > 0 {
            log.warning(&format!(
                "run failed ({failures} in a row); next run in {}",
                format_duration(delay)
            ));
        } else {
            log.info(&format!("Next run in {}.", format_duration(delay)));
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = context.stop.requested() => {
                log.info("Stopped.");
                return Exit::Success;
            }
        }
    }
}

/// The wait before the next run after `failures` failed runs in a row: the interval,
/// doubled per failure, at most an hour (or the interval, if longer).
pub fn delay_after(every: Duration, failures: u32) -> Duration {
    let backed_off = every.saturating_mul(2u32.saturating_pow(failures.min(6)));
    backed_off.min(every.max(Duration::from_secs(3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_runs_back_off_up_to_an_hour() {
        let minute = Duration::from_secs(60);
        assert_eq!(delay_after(minute, 0), minute);
        assert_eq!(delay_after(minute, 1), 2 * minute);
        assert_eq!(delay_after(minute, 3), 8 * minute);
        assert_eq!(delay_after(minute, 30), Duration::from_secs(3600));
        let day = Duration::from_secs(86_400);
        assert_eq!(delay_after(day, 2), day);
    }
}
