//! Where and how the run tells what happened: `--json`, `--log-format`, `--verbose`, the
//! runner's files and `fail-on`.

use std::path::PathBuf;

use super::Problems;
use crate::base::log::LogFormat;
use crate::config::inputs::Cli;
use crate::report::fail_on::FailOn;

/// Where and how the run tells what happened.
#[derive(Debug, Clone)]
pub struct OutputSettings {
    /// `--json`: the report on stdout.
    pub json: bool,
    pub log_format: LogFormat,
    /// `--verbose` or the runner's `RUNNER_DEBUG=1`.
    pub debug: bool,
    /// `GITHUB_OUTPUT`, inside Actions only.
    pub output_file: Option<PathBuf>,
    /// `GITHUB_STEP_SUMMARY`, inside Actions only.
    pub summary_file: Option<PathBuf>,
    /// `fail-on`: the end states that make the run exit with code 4.
    pub fail_on: FailOn,
}

pub(super) fn resolve(cli: &Cli, problems: &mut Problems) -> Option<OutputSettings> {
    let log_format = problems.take(&cli.log_format);
    let fail_on = problems.take(&cli.fail_on);
    Some(OutputSettings {
        json: cli.json,
        log_format: log_format?,
        debug: cli.verbose || cli.runner.debug,
        output_file: cli.runner.output_file.as_ref().map(PathBuf::from),
        summary_file: cli.runner.summary_file.as_ref().map(PathBuf::from),
        fail_on: fail_on?,
    })
}
