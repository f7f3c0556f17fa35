//! `redeliver`: the action's entrypoint and a command-line tool. See the crate docs.

use std::process::ExitCode;

use redeliver_action::base::log::{Log, LogFormat, Sink};
use redeliver_action::config::inputs::{Cli, Environment};
use redeliver_action::config::settings::Settings;
use redeliver_action::driver::execute;
use redeliver_action::driver::once::Exit;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let env: Environment = std::env::vars_os()
        .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
        .collect();
    let cli = match Cli::parse_from_env(&args, &env) {
        Ok(raw) => raw,
        // `--help` and `--version`, printed as clap prints them.
        Err(refused) if !refused.error.use_stderr() => refused.error.exit(),
        // A usage error quotes the argument it refuses, which may be a key.
        Err(refused) => {
            eprint!("{}", refused.message());
            return ExitCode::from(Exit::BadInput);
        }
    };
    // Bad input is told in the format asked for, when that much was understood.
    let format = cli.log_format().unwrap_or(LogFormat::Text);
    let actions = cli.runner().actions;
    let settings = match Settings::resolve(&cli) {
        Ok(settings) => settings,
        Err(errors) => {
            let log = Log::with_format(actions, false, format, Sink::Console);
            for line in errors.to_string().lines() {
                log.error(line);
            }
            return ExitCode::from(Exit::BadInput);
        }
    };
    let log = Log::with_format(
        settings.in_actions(),
        settings.output().debug,
        settings.output().log_format,
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
