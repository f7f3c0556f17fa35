//! One run with its report published: outputs, job summary, log lines or JSON; and the
//! exit code that tells how it went.

use std::io::Write as _;

use anyhow::Context as _;
use std::process::ExitCode;

use crate::base::log::{Level, Log};
use crate::config::settings::Settings;
use crate::report::{RunReport, append_to_file, format_outputs};
use crate::run::store::StoreBusy;
use crate::run::{RunContext, run_once};

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
    /// The run went well but ended in a state `fail-on` lists (events given up, say): a
    /// person should look. Every output, the summary and the checkpoint were written.
    FailOn = 4,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
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
            let fail_on = settings.output.fail_on.reasons(&report);
            if let Err(error) = publish(&report, &fail_on, settings, log) {
                log.error(&format!("{error:#}"));
                return (Exit::Failure, Some(report));
            }
            if !report.succeeded() {
                (Exit::Failure, Some(report))
            } else if !fail_on.is_empty() {
                log.error(&format!(
                    "the run ended in a state `fail-on` lists: {}; exit code 4",
                    fail_on.join("; ")
                ));
                (Exit::FailOn, Some(report))
            } else {
                (Exit::Success, Some(report))
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
                RunReport::stopped_before_scan(settings.dry_run, settings.plan.max_attempts, error);
            if let Err(error) = publish(&report, &[], settings, log) {
                log.error(&format!("{error:#}"));
            }
            (Exit::Failure, Some(report))
        }
    }
}

/// Writes the report where this run's caller looks for it; `fail_on` says why the step
/// fails by `fail-on` (empty: it does not), in the summary.
fn publish(
    report: &RunReport,
    fail_on: &[String],
    settings: &Settings,
    log: &Log,
) -> anyhow::Result<()> {
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
    if let Some(path) = &settings.output.output_file {
        append_to_file(path, &log.redact(&format_outputs(&report.outputs()?)))?;
    }
    if let Some(path) = &settings.output.summary_file {
        let mut summary = report.summary_markdown();
        summary.push_str(&crate::report::fail_on::summary_note(fail_on));
        append_to_file(path, &log.redact(&summary))?;
    }
    if settings.output.json {
        let json = serde_json::to_string(report)?;
        let mut stdout = std::io::stdout().lock();
        match writeln!(stdout, "{}", log.redact(&json)).and_then(|()| stdout.flush()) {
            // The reader went away (`redeliver --json | head -c1`): nothing to tell it.
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
            written => written.context("failed to write the JSON report to stdout")?,
        }
    }
    Ok(())
}
