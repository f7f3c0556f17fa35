//! From validated settings to an exit code: the settings' warnings, signal handling
//! (SIGTERM/SIGINT end any run cleanly: the request in flight finishes, the state is saved),
//! then one run ([`crate::driver::once`]) or the `--every` loop (`every.rs`).

pub(crate) mod every;
pub(crate) mod healthz;
pub(crate) mod listen;
pub(crate) mod metrics;
pub mod once;

use crate::base::log::Log;
use crate::config::settings::Settings;
use crate::driver::every::run_every;
use crate::driver::once::{Exit, run_and_publish};
use crate::run::RunContext;

/// Runs as the settings ask and tells how it went.
pub async fn execute(settings: Settings, log: Log) -> Exit {
    for warning in &settings.warnings {
        log.warning(warning);
    }
    let context = RunContext::new(log, &settings);
    // In every mode: the Actions runner cancels a step, cron and Kubernetes stop a job,
    // with SIGTERM (or SIGINT), then kill it a few seconds later.
    stop_on_signals(&context);
    match settings.service.every {
        None => run_and_publish(&settings, &context).await,
        Some(every) => run_every(&settings, &context, every).await,
    }
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
