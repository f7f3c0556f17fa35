//! One run: [`run_once`] obtains the credentials (`Credentials`), resolves the hooks, reads
//! the checkpoint document, then scans (`scan_all`: lists and plans the hooks' windows,
//! `scan-concurrency` hooks at once, [`crate::domain::plan`]) and drains (one hook after the other:
//! redelivers, one request at a time, [`crate::run::drain`], and moves the hook's checkpoint,
//! `HookRun`); then it saves the document.
//!
//! The safety rules live in [`crate::domain::plan`] (the checkpoint never passes an open event) and
//! here: a hook's checkpoint stays where it was when anything for it failed, and the
//! bookkeeping is saved even then.

pub(crate) mod credentials;
pub mod drain;
mod hook;
pub(crate) mod pace;
pub(crate) mod resolve;
pub(crate) mod store;

use hook::HookRun;

use std::time::Instant;

use std::sync::atomic::AtomicBool;

use futures_util::{StreamExt as _, stream};

use chrono::{DateTime, Utc};

use crate::base::clock::{Clock, Stop};
use crate::base::log::{Deferred, Log};
use crate::config::settings::Settings;
use crate::config::settings::StoreSpec;
use crate::domain::checkpoint::{CheckpointDocument, HookState, MAX_DOCUMENT_BYTES};
use crate::domain::delivery::Delivery;
use crate::domain::hook::Hook;
use crate::domain::plan::Plan;
use crate::github::client::{Credential, GitHubClient, RetryPolicy};
use crate::github::deliveries;
use crate::report::{HookError, HookReport, RunReport};
use crate::run::credentials::Credentials;
use crate::run::store::{CheckpointStore, MAX_STATE_FILE_BYTES};
use resolve::Resolved;

/// How far before the checkpoint each scan starts again: deliveries can be recorded a while
/// after they started (receivers get 10 s, 30 s on GHES), and clocks drift.
pub const OVERLAP: chrono::Duration = chrono::Duration::minutes(5);

/// What a run needs besides its settings: where it logs, its clock (what time it is, how
/// it sleeps), and whether it was asked to stop (SIGTERM or SIGINT, in every mode).
#[derive(Clone, Debug)]
pub struct RunContext {
    pub log: Log,
    pub clock: Clock,
    pub retry: RetryPolicy,
    pub stop: Stop,
    /// When the run's time budget (`max-duration`) ends: no redelivery starts after it, and
    /// no rate-limit wait is taken past it.
    pub deadline: Instant,
}

impl RunContext {
    /// A run on the system clock whose time budget starts now.
    pub fn new(log: Log, settings: &Settings) -> Self {
        Self::with_clock(log, settings, Clock::system())
    }

    /// A run on `clock` (a simulated one in tests) whose time budget starts now.
    pub fn with_clock(log: Log, settings: &Settings, clock: Clock) -> Self {
        log.set_clock(clock.clone());
        Self {
            log,
            deadline: clock.instant() + settings.timing.max_duration,
            clock,
            retry: RetryPolicy::with_max_wait(settings.timing.max_wait),
            stop: Stop::default(),
        }
    }

    /// A fresh time budget from now: `--every` starts one for each run.
    pub fn restarted(&self, settings: &Settings) -> Self {
        Self {
            deadline: self.clock.instant() + settings.timing.max_duration,
            ..self.clone()
        }
    }
}

/// Runs once over every hook. `Err` means nothing could be done at all (the checkpoint
/// could not be read); partial failures are in the report's `errors`.
pub async fn run_once(settings: &Settings, context: &RunContext) -> anyhow::Result<RunReport> {
    let log = &context.log;
    if let Some(token) = &settings.identity.token {
        log.mask(secrecy::ExposeSecret::expose_secret(token));
    }
    let client = GitHubClient::new(
        &settings.scan.api_url,
        settings.identity.clone(),
        context.retry.clone(),
        context.clock.clone(),
        log.clone(),
    )?
    .with_stop(context.stop.clone())
    .with_deadline(context.deadline);
    let mut store = CheckpointStore::open(&settings.store)?;

    // Installation tokens live an hour; a long run renews them before saving.
    let mut credentials = Credentials::obtain(&client, settings, log).await?;
    let hooks = resolve_hooks(&client, &credentials, settings, log).await?;
    refuse_what_cannot_be_saved(hooks.hooks.len(), settings)?;
    let mut document =
        load_checkpoint(&mut store, &client, credentials.store, settings, log).await?;
    for key in hooks.forget_removed(&mut document) {
        log.info(&format!(
            "Hook `{key}` no longer exists: its checkpoint entry is dropped."
        ));
    }

    let mut report = RunReport {
        dry_run: settings.dry_run,
        max_attempts: settings.plan.max_attempts,
        fleets: hooks.fleets.clone(),
        hooks: Vec::new(),
        receivers: Vec::new(),
        requests: Default::default(),
        checkpoint_saved: false,
        errors: Vec::new(),
    };
    scan_and_drain(
        &hooks.hooks,
        &credentials,
        &client,
        settings,
        context,
        &mut document,
        &mut report,
    )
    .await;

    if settings.dry_run || settings.store == StoreSpec::None {
        log.info("Dry run or stateless: no checkpoint written.");
    } else {
        match renew_and_save(
            &mut store,
            &client,
            &mut credentials,
            &mut document,
            settings,
            log,
        )
        .await
        {
            Ok(()) => report.checkpoint_saved = true,
            Err(error) => {
                let error = format!("{error:#}");
                log.error(&error);
                report.errors.push(error);
            }
        }
    }
    report.requests = client.counts();
    Ok(report)
}

/// Saves the document, first renewing installation tokens that are near their hour.
async fn renew_and_save(
    store: &mut CheckpointStore,
    client: &GitHubClient,
    credentials: &mut Credentials,
    document: &mut CheckpointDocument,
    settings: &Settings,
    log: &Log,
) -> anyhow::Result<()> {
    credentials.renew_if_old(client, settings, log).await?;
    save_checkpoint(store, client, credentials.store, document, settings, log).await
}

/// Turns the `hooks` input into concrete hooks (ids), listing an org's or a repository's
/// webhooks for a URL or `*` with the credential that redelivers there: before any
/// redelivery, so that a wrong URL or a missing permission stops the run at once.
async fn resolve_hooks(
    client: &GitHubClient,
    credentials: &Credentials,
    settings: &Settings,
    log: &Log,
) -> anyhow::Result<Resolved> {
    let input = if settings.in_actions {
        "input `hooks`"
    } else {
        "`--hooks`"
    };
    resolve::resolve(
        client,
        &settings.scan.hooks,
        input,
        |account| credentials.for_account(Some(account)),
        &credentials.app_fleet,
        settings.scan.concurrency,
        log,
    )
    .await
}

async fn load_checkpoint(
    store: &mut CheckpointStore,
    client: &GitHubClient,
    credential: Credential,
    settings: &Settings,
    log: &Log,
) -> anyhow::Result<CheckpointDocument> {
    let _group = log.group(&format!("Checkpoint: {}", settings.store));
    let document = store.load(client, credential).await?;
    // A checkpoint in the future would skip every event until then.
    document.refuse_future_checkpoints(client.clock().now() + OVERLAP)?;
    if document.legacy_checkpoint.is_some() {
        log.info("Read the docs script's checkpoint (epoch milliseconds); it will be rewritten in this tool's format.");
    }
    Ok(document)
}

/// The most a store holds: a variable 48 KB, a state file 1 MiB.
fn document_limit(store: &StoreSpec) -> usize {
    match store {
        StoreSpec::File(_) => usize::try_from(MAX_STATE_FILE_BYTES).unwrap_or(usize::MAX),
        StoreSpec::Variable { .. } | StoreSpec::None => MAX_DOCUMENT_BYTES,
    }
}

/// A fleet too large for its store's document is refused before any redelivery: the run
/// could not save what it did, and every run would redo it. Even sharing one checkpoint,
/// each hook takes a few bytes.
fn refuse_what_cannot_be_saved(hooks: usize, settings: &Settings) -> anyhow::Result<()> {
    let limit = document_limit(&settings.store);
    let smallest = CheckpointDocument::smallest_size(hooks);
    if settings.store != StoreSpec::None && !settings.dry_run && smallest > limit {
        anyhow::bail!(
            "{hooks} hooks need a checkpoint document of at least {smallest} bytes, over the {limit} bytes the {} holds: keep it in a file (`--state file:PATH`, up to 1 MiB), or split the hooks over several steps, each with its own `variable-name`",
            settings.store
        );
    }
    Ok(())
}

async fn save_checkpoint(
    store: &mut CheckpointStore,
    client: &GitHubClient,
    credential: Credential,
    document: &mut CheckpointDocument,
    settings: &Settings,
    log: &Log,
) -> anyhow::Result<()> {
    let limit = document_limit(&settings.store);
    let (json, dropped) = document.encode(client.clock().now(), settings.scan.retention, limit)?;
    if dropped > 0 {
        log.warning(&format!(
            "the checkpoint would exceed {limit} bytes: forgot the bookkeeping of the {dropped} oldest failing events (pending and refused first), which may be retried again"
        ));
    }
    store.save(client, credential, &json).await?;
    log.info(&format!("Saved the checkpoint to the {}.", settings.store));
    Ok(())
}

/// A hook listed and planned, waiting for its drain.
struct Scanned {
    state: HookState,
    report: HookReport,
    /// The plan, and the time the checkpoint may move to; none when the listing failed.
    planned: Option<(Plan, DateTime<Utc>)>,
    /// What the scan logged, written in the hook's group when its turn comes.
    lines: Deferred,
}

/// The scan lists every hook's window, several hooks at once; the drain then redelivers one
/// hook after the other, one request at a time, and puts each hook's state into `document`
/// and its report into `report`.
async fn scan_and_drain(
    hooks: &[Hook],
    credentials: &Credentials,
    client: &GitHubClient,
    settings: &Settings,
    context: &RunContext,
    document: &mut CheckpointDocument,
    report: &mut RunReport,
) {
    let started = context.clock.now();
    let scans = scan_all(hooks, credentials, client, settings, context, document).await;
    let is_rate_limit =
        |report: &HookReport| report.error.as_ref().is_some_and(HookError::is_rate_limit);
    let mut rate_limited = scans.iter().any(|scan| is_rate_limit(&scan.report));
    for (hook, scanned) in hooks.iter().zip(scans) {
        let hook_run = HookRun {
            hook,
            credential: credentials.for_hook(hook),
            client,
            settings,
            context,
        };
        hook_run
            .finish(scanned, document, report, rate_limited)
            .await;
        rate_limited |= report.hooks.last().is_some_and(is_rate_limit);
    }
    if !settings.dry_run && settings.store != StoreSpec::None {
        sweep_pending(hooks, credentials, client, settings, document, started).await;
    }
}

/// After a fleet's drain, one more look at the newest page of each hook whose redeliveries
/// of this run are still pending (a hook's drain sweeps for its own results only after
/// many redeliveries, and then right after its last one, too soon for GitHub to list it),
/// several hooks at once: by the end of a fleet's drain
/// most results are listed, and each settled record leaves the checkpoint document, which
/// would otherwise carry a pending event for nearly every hook. A failed look costs
/// nothing: the redeliveries stay pending.
async fn sweep_pending(
    hooks: &[Hook],
    credentials: &Credentials,
    client: &GitHubClient,
    settings: &Settings,
    document: &mut CheckpointDocument,
    started: DateTime<Utc>,
) {
    let since = started - crate::domain::plan::CLOCK_TOLERANCE;
    let pending: Vec<(&Hook, String)> = hooks
        .iter()
        .map(|hook| (hook, hook.to_string()))
        .filter(|(_, key)| {
            document.hooks.get(key).is_some_and(|state| {
                state
                    .events
                    .values()
                    .any(|record| record.pending && record.last_attempt >= since)
            })
        })
        .collect();
    // One hook: its drain's own look is the last word.
    if pending.len() < 2 {
        return;
    }
    let listed: Vec<(String, Vec<String>)> = stream::iter(pending)
        .map(|(hook, key)| async move {
            let mut pages = deliveries::pages(client, hook, credentials.for_hook(hook));
            let guids = match pages.next_page().await {
                Ok(Some(page)) => page
                    .items::<Delivery>()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|delivery| delivery.redelivery && delivery.delivered_at >= since)
                    .map(|delivery| delivery.guid.into_owned())
                    .collect(),
                _ => Vec::new(),
            };
            (key, guids)
        })
        .buffer_unordered(settings.scan.concurrency.max(1))
        .collect()
        .await;
    for (key, guids) in listed {
        if let Some(state) = document.hooks.get_mut(&key) {
            for guid in &guids {
                state.settle_pending(guid);
            }
            state.drop_what_the_list_tells();
        }
    }
}

/// Lists and plans every hook, `scan-concurrency` of them at once on the one thread: a
/// fleet's scan takes about `hooks / scan-concurrency` round trips, not `hooks`, and only
/// the hooks in flight hold their listing (a finished scan keeps its plan). The scans come
/// back in the order of `hooks`. Each scan's log lines wait for its turn, so that each
/// hook's lines stay together in its group.
async fn scan_all(
    hooks: &[Hook],
    credentials: &Credentials,
    client: &GitHubClient,
    settings: &Settings,
    context: &RunContext,
    document: &CheckpointDocument,
) -> Vec<Scanned> {
    let rate_limited = AtomicBool::new(false);
    let rate_limited = &rate_limited;
    let mut scans: Vec<(usize, Scanned)> = stream::iter(hooks.iter().enumerate())
        .map(|(index, hook)| {
            let state = if settings.store == StoreSpec::None {
                HookState::default()
            } else {
                document.hook(&hook.to_string())
            };
            async move {
                let (log, lines) = context.log.deferred();
                let scan_context = RunContext {
                    log,
                    ..context.clone()
                };
                let hook_run = HookRun {
                    hook,
                    credential: credentials.for_hook(hook),
                    client,
                    settings,
                    context: &scan_context,
                };
                (index, hook_run.scan(state, rate_limited, lines).await)
            }
        })
        .buffer_unordered(settings.scan.concurrency.max(1))
        .collect()
        .await;
    scans.sort_by_key(|(index, _)| *index);
    scans.into_iter().map(|(_, scanned)| scanned).collect()
}
