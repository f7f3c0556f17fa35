//! `redeliver`: the action's entrypoint and a command-line tool. See the crate docs.

use std::process::ExitCode;

use clap::Parser;
use redeliver_action::entry::{Exit, execute};
use redeliver_action::inputs::{Cli, Environment, RawSettings, hide_secret_arguments};
use redeliver_action::log::{Log, LogFormat, Sink};
use redeliver_action::settings::Settings;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        // `--help` and `--version`, printed as clap prints them.
        Err(error) if !error.use_stderr() => error.exit(),
        // A usage error quotes the argument it refuses, which may be a key.
        Err(error) => {
            eprint!(
                "{}",
                hide_secret_arguments(&error.render().to_string(), &args)
            );
            return ExitCode::from(Exit::BadInput);
        }
    };
    let env: Environment = std::env::vars_os()
        .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
        .collect();
    let actions = env.get("GITHUB_ACTIONS").map(String::as_str) == Some("true");
    let fail = |message: &str, format: LogFormat| {
        let log = Log::with_format(actions, false, format, Sink::Console);
        for line in message.lines() {
            log.error(line);
        }
        ExitCode::from(Exit::BadInput)
    };
    let raw = match RawSettings::gather(cli, &env) {
        Ok(raw) => raw,
        Err(error) => return fail(&format!("{error:#}"), LogFormat::Text),
    };
    // Bad input is told in the format asked for, when that much was understood.
    let format = match raw.log_format.as_deref().map(str::trim) {
        Some("json") => LogFormat::Json,
        _ => LogFormat::Text,
    };
    let settings = match Settings::from_raw(raw) {
        Ok(settings) => settings,
        Err(errors) => return fail(&errors.to_string(), format),
    };
    let log = Log::with_format(
        settings.actions,
        settings.debug,
        settings.log_format,
        Sink::Console,
    );
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            log.error(&format!("failed to start the async runtime: {error}"));
            return ExitCode::from(Exit::Failure);
        }
    };
    runtime.block_on(execute(settings, log)).into()
}
