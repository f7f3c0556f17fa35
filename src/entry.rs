//! From validated settings to an exit code: one run, or `--every` runs until a signal
//! (SIGTERM/SIGINT end either cleanly: the request in flight finishes, the state is saved);
//! publishing each run's report as outputs, job summary, log lines or JSON.

use std::process::ExitCode;

use crate::log::{Level, Log};
use crate::report::{RunReport, append_to_file, format_outputs};
use crate::run::{RunContext, run_once};
use crate::settings::Settings;
use crate::store::StoreBusy;

/// The exit codes, documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything found was handled (or nothing needed handling).
    Success = 0,
    /// Something failed; the checkpoint covers what was not done, the next run goes on.
    Failure = 1,
    /// Bad input: nothing was sent to GitHub.
    BadInput = 2,
    /// Another run holds the state file's lock: this run did nothing.
    Busy = 3,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// Runs as the settings ask and tells how it went.
pub async fn execute(settings: Settings, log: Log) -> Exit {
    for warning in &settings.warnings {
        log.warning(warning);
    }
    let context = RunContext::new(log, &settings);
    // In every mode: the Actions runner cancels a step, cron and Kubernetes stop a job,
    // with SIGTERM (or SIGINT), then kill it a few seconds later.
    stop_on_signals(&context);
    match settings.every {
        None => run_and_publish(&settings, &context).await,
        Some(every) => crate::service::run_every(&settings, &context, every).await,
    }
}

/// One run, with its report published.
pub async fn run_and_publish(settings: &Settings, context: &RunContext) -> Exit {
    run_and_report(settings, context).await.0
}

/// One run, with its report published and also returned (`None` when another run held the
/// lock and this one did nothing): `--every` feeds its metrics from it.
pub async fn run_and_report(
    settings: &Settings,
    context: &RunContext,
) -> (Exit, Option<RunReport>) {
    let log = &context.log;
    match run_once(settings, context).await {
        Ok(mut report) => {
            if context.stop.is_requested() {
                let error = "stopped by a signal before the run finished: what it did is saved, what it did not is left for the next run".to_owned();
                log.error(&error);
                report.errors.push(error);
            }
            if let Err(error) = publish(&report, settings, log) {
                log.error(&format!("{error:#}"));
                return (Exit::Failure, Some(report));
            }
            if report.succeeded() {
                (Exit::Success, Some(report))
            } else {
                (Exit::Failure, Some(report))
            }
        }
        Err(error) if error.downcast_ref::<StoreBusy>().is_some() => {
            log.notice(&format!("{error:#}"));
            (Exit::Busy, None)
        }
        Err(error) => {
            let error = format!("{error:#}");
            log.error(&error);
            // Outputs and summary are still written, so a workflow's `if:` on them works and
            // `scan-complete: false` tells this run from one that found nothing failing.
            let report =
                RunReport::stopped_before_scan(settings.dry_run, settings.max_attempts, error);
            if let Err(error) = publish(&report, settings, log) {
                log.error(&format!("{error:#}"));
            }
            (Exit::Failure, Some(report))
        }
    }
}

/// Writes the report where this run's caller looks for it.
fn publish(report: &RunReport, settings: &Settings, log: &Log) -> anyhow::Result<()> {
    let verb = if report.dry_run {
        "would redeliver"
    } else {
        "redelivered"
    };
    if report.hooks.is_empty() {
        log.info("Stopped before scanning: nothing was redelivered.");
    } else {
        let counts = [
            ("scanned", report.scanned_count()),
            ("failing", report.failed_count()),
            ("redelivered", report.redelivered_count()),
            ("given_up", report.given_up_count()),
            ("deferred", report.deferred_count()),
        ];
        log.line(
            Level::Info,
            &format!(
                "Done: scanned {} deliveries, {} event(s) failing, {verb} {}, gave up {}, {} left for later.",
                counts[0].1, counts[1].1, counts[2].1, counts[3].1, counts[4].1
            ),
            &counts.map(|(name, count)| (name, count.into())),
        );
    }
    if let Some(path) = &settings.output_file {
        append_to_file(path, &log.redact(&format_outputs(&report.outputs()?)))?;
    }
    if let Some(path) = &settings.summary_file {
        append_to_file(path, &log.redact(&report.summary_markdown()))?;
    }
    if settings.json {
        let json = serde_json::to_string(report)?;
        println!("{}", log.redact(&json));
    }
    Ok(())
}

/// Requests a stop when SIGTERM or SIGINT arrives. The handlers are installed before this
/// returns, so a signal from then on never kills the run midway.
pub fn stop_on_signals(context: &RunContext) {
    let stop = context.stop.clone();
    let log = context.log.clone();
    let signals = signals();
    tokio::spawn(async move {
        let signal = signals.await;
        log.notice(&format!(
            "{signal} received: finishing the request in flight, then saving the checkpoint and exiting"
        ));
        stop.request();
    });
}

#[cfg(unix)]
fn signals() -> impl std::future::Future<Output = &'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        match handlers {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            _ => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
}

#[cfg(not(unix))]
fn signals() -> impl std::future::Future<Output = &'static str> {
    async {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
