//! The long-running mode: `--every` and `--listen`.

use std::net::SocketAddr;
use std::time::Duration;

use super::Problems;
use crate::config::inputs::Cli;

/// How the long-running mode is operated.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// `--every`: run again and again at this interval.
    pub every: Option<Duration>,
    /// Where `/metrics` and `/healthz` are served (`--listen`, with `--every` only).
    pub listen: Option<SocketAddr>,
}

pub(super) fn resolve(cli: &Cli, problems: &mut Problems) -> ServiceSettings {
    let every = problems.take_given(&cli.every);
    let listen = problems.take_given(&cli.listen);
    if listen.is_some() && every.is_none() && cli.every.is_none() {
        problems.fail(
            "listen",
            "needs `--every`: `/metrics` and `/healthz` describe the long-running loop; add e.g. `--every 5m`, or drop `--listen` for a single run".to_owned(),
        );
    }
    ServiceSettings { every, listen }
}
