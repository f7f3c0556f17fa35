//! `--every`: the same run, again and again, for a container entrypoint or a server.
//!
//! One run at a time; SIGTERM/SIGINT (handled by the driver) finish the
//! current redelivery, save the checkpoint, stop the `--listen` server and exit 0; a failed
//! run is logged and retried at the next tick, with backoff. Each run's report feeds the
//! metrics and the health of `--listen` ([`crate::driver::listen`]).

use std::sync::Arc;
use std::time::Duration;

use crate::base::clock::format_duration;
use crate::base::log::Level;
use crate::config::settings::Settings;
use crate::driver::healthz::{Health, RunOutcome, delay_after};
use crate::driver::listen::{self, Observed};
use crate::driver::metrics::Metrics;
use crate::driver::once::{Exit, run_and_report};
use crate::run::RunContext;

pub async fn run_every(settings: &Settings, context: &RunContext, every: Duration) -> Exit {
    let log = &context.log;
    let observed = Arc::new(Observed {
        metrics: Metrics::new(),
        health: Health::new(every, settings.timing.max_duration, context.clock.instant()),
        clock: context.clock.clone(),
    });
    // Dropped on every return: the server stops with the loop.
    let _listener = match settings.service.listen {
        None => None,
        Some(address) => match listen::start(address, observed.clone()).await {
            Ok(listener) => {
                let url = format!("http://{}", listener.address);
                log.line(
                    Level::Info,
                    &format!("Serving {url}/metrics and {url}/healthz."),
                    &[("address", listener.address.to_string().into())],
                );
                Some(listener)
            }
            Err(error) => {
                log.error(&format!("{error:#}"));
                return Exit::Failure;
            }
        },
    };
    let mut failures = 0u32;
    loop {
        let clock = &context.clock;
        let started = clock.instant();
        observed.health.run_started(started);
        // Each run has its own time budget, from its own start.
        let (exit, report) = run_and_report(settings, &context.restarted(settings)).await;
        let took = clock.instant() - started;
        match &report {
            Some(report) => observed.metrics.record(report, took, clock.now()),
            None => observed.metrics.record_busy(took),
        }
        // `fail-on` decides a one-shot step's exit code; the loop's run went well.
        let outcome = match exit {
            Exit::Success | Exit::FailOn => RunOutcome::Success,
            Exit::Busy => RunOutcome::Busy,
            Exit::Failure | Exit::BadInput => RunOutcome::Failure,
        };
        observed.health.run_ended(outcome, clock.instant());
        if context.stop.is_requested() {
            log.info("Stopped.");
            return Exit::Success;
        }
        match exit {
            Exit::Success | Exit::FailOn | Exit::Busy => failures = 0,
            Exit::Failure | Exit::BadInput => failures += 1,
        }
        let delay = delay_after(every, failures);
        let wait = [("wait_seconds", delay.as_secs_f64().into())];
        if failures > 0 {
            log.line(
                Level::Warning,
                &format!(
                    "run failed ({failures} in a row); next run in {}",
                    format_duration(delay)
                ),
                &[wait[0].clone(), ("failures", failures.into())],
            );
        } else {
            log.line(
                Level::Info,
                &format!("Next run in {}.", format_duration(delay)),
                &wait,
            );
        }
        if !clock.sleep(delay, &context.stop).await {
            log.info("Stopped.");
            return Exit::Success;
        }
    }
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
