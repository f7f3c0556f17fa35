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
mod receivers;
mod replay;
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
use crate::domain::hook::Hook;
use crate::domain::plan::Plan;
use crate::github::client::{Credential, GitHubClient, RetryPolicy};
use crate::report::{HookError, HookReport, RunReport};
use crate::run::credentials::Credentials;
use crate::run::store::{CheckpointStore, MAX_STATE_FILE_BYTES};
use drain::{Drain, DrainHook};
use receivers::Receivers;
use resolve::{Resolved, Resolver};

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
    let mut saving = Saving {
        store: CheckpointStore::open(&settings.store)?,
        client: &client,
        settings,
        log,
    };

    // Installation tokens live an hour; a long run renews them before saving.
    let mut credentials = Credentials::obtain(&client, settings, log).await?;
    let mut hooks = resolve_hooks(&client, &credentials, settings, log).await?;
    refuse_what_cannot_be_saved(hooks.hooks.len(), settings)?;
    let mut document = saving.load(credentials.store).await?;
    for key in hooks.forget_removed(&mut document) {
        log.info(&format!(
            "Hook `{key}` no longer exists: its checkpoint entry is dropped."
        ));
    }
    let settings = &replay::with_earlier_replays(settings, &document);
    let receivers = receivers_of(&mut hooks, &client, &credentials, settings, log).await;

    let mut report = RunReport {
        dry_run: settings.dry_run,
        max_attempts: settings.plan.max_attempts,
        fleets: hooks.fleets.clone(),
        hooks: Vec::new(),
        receivers: Vec::new(),
        requests: Default::default(),
        checkpoint_saved: false,
        errors: Vec::new(),
        replay: None,
    };
    let run = Run {
        hooks: &hooks.hooks,
        receivers: &receivers,
        credentials: &credentials,
        client: &client,
        settings,
        context,
    };
    run.scan_and_drain(&mut document, &mut report).await;

    if settings.dry_run || settings.store == StoreSpec::None {
        log.info("Dry run or stateless: no checkpoint written.");
    } else {
        match saving.renew_and_save(&mut credentials, &mut document).await {
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

/// Each hook's receiver. Hooks share a verdict only with others: one hook is a receiver of
/// its own, and its run makes no request more than it did before receivers were known.
async fn receivers_of(
    hooks: &mut Resolved,
    client: &GitHubClient,
    credentials: &Credentials,
    settings: &Settings,
    log: &Log,
) -> Receivers {
    if hooks.hooks.len() > 1 {
        hooks
            .read_receivers(
                client,
                |hook| credentials.for_hook(hook),
                settings.scan.concurrency,
                log,
            )
            .await;
    }
    Receivers::group(
        hooks
            .hooks
            .iter()
            .map(|hook| hooks.receiver_of(hook))
            .collect(),
    )
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
    let resolver = Resolver {
        client,
        input,
        credential: |account: &str| credentials.for_account(Some(account)),
        app_fleet: &credentials.app_fleet,
        concurrency: settings.scan.concurrency,
        log,
    };
    resolver.resolve(&settings.scan.hooks).await
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

/// Where a run reads its checkpoint document and saves it again: the store, and what every
/// read and write of it needs (the client, the settings that say where and how much, the
/// log). The credential is handed to each call: a long run renews it before saving.
struct Saving<'a> {
    store: CheckpointStore,
    client: &'a GitHubClient,
    settings: &'a Settings,
    log: &'a Log,
}

impl Saving<'_> {
    /// Reads the document, refusing a checkpoint in the future.
    async fn load(&mut self, credential: Credential) -> anyhow::Result<CheckpointDocument> {
        let (client, log) = (self.client, self.log);
        let _group = log.group(&format!("Checkpoint: {}", self.settings.store));
        let document = self.store.load(client, credential).await?;
        // A checkpoint in the future would skip every event until then.
        document.refuse_future_checkpoints(client.clock().now() + OVERLAP)?;
        if document.legacy_checkpoint.is_some() {
            log.info("Read the docs script's checkpoint (epoch milliseconds); it will be rewritten in this tool's format.");
        }
        Ok(document)
    }

    /// Saves the document, first renewing installation tokens that are near their hour.
    async fn renew_and_save(
        &mut self,
        credentials: &mut Credentials,
        document: &mut CheckpointDocument,
    ) -> anyhow::Result<()> {
        credentials
            .renew_if_old(self.client, self.settings, self.log)
            .await?;
        self.save(credentials.store, document).await
    }

    async fn save(
        &mut self,
        credential: Credential,
        document: &mut CheckpointDocument,
    ) -> anyhow::Result<()> {
        let (client, settings) = (self.client, self.settings);
        let limit = document_limit(&settings.store);
        let (json, dropped) =
            document.encode(client.clock().now(), settings.scan.retention, limit)?;
        if dropped > 0 {
            self.log.warning(&format!(
                "the checkpoint would exceed {limit} bytes: forgot the bookkeeping of the {dropped} oldest failing events (pending and refused first), which may be retried again"
            ));
        }
        self.store.save(client, credential, &json).await?;
        self.log
            .info(&format!("Saved the checkpoint to the {}.", settings.store));
        Ok(())
    }
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

/// What the scan and the drain of a run share.
struct Run<'a> {
    hooks: &'a [Hook],
    receivers: &'a Receivers,
    credentials: &'a Credentials,
    client: &'a GitHubClient,
    settings: &'a Settings,
    context: &'a RunContext,
}

impl Run<'_> {
    fn hook_run<'h>(&'h self, index: usize, context: &'h RunContext) -> HookRun<'h> {
        let hook = &self.hooks[index];
        HookRun {
            hook,
            credential: self.credentials.for_hook(hook),
            client: self.client,
            settings: self.settings,
            context,
        }
    }

    /// The scan lists every hook's window, several hooks at once; then one drain
    /// redelivers over all of them by receiver, one request at a time; then each hook's
    /// state goes into `document` and its report into `report`, and each receiver's too.
    async fn scan_and_drain(&self, document: &mut CheckpointDocument, report: &mut RunReport) {
        let mut scans = self.scan_all(document).await;
        let mut rate_limited = false;
        let mut drained = Vec::with_capacity(scans.len());
        for (index, scanned) in scans.iter_mut().enumerate() {
            let hook_run = self.hook_run(index, self.context);
            hook_run.tell_scan(scanned);
            rate_limited |= scanned
                .report
                .error
                .as_ref()
                .is_some_and(HookError::is_rate_limit);
            drained.push(hook_run.prepare(scanned, rate_limited));
        }
        let queues = replay::queues(self.receivers.queues(&scans, &drained), self.settings);
        let outcome = if drained.iter().any(|drained| *drained) {
            let _group = self.context.log.group("Redeliveries");
            let drain_hooks: Vec<DrainHook> = self
                .hooks
                .iter()
                .map(|hook| DrainHook {
                    hook,
                    credential: self.credentials.for_hook(hook),
                })
                .collect();
            let drain = Drain {
                hooks: &drain_hooks,
                learned_pace: document.pace.as_ref(),
                client: self.client,
                log: &self.context.log,
                interval: self.settings.timing.redelivery_interval,
                max_attempts: self.settings.plan.max_attempts,
                refusal_fails_canary: self.settings.replay.is_some(),
                deadline: self.context.deadline,
                stop: &self.context.stop,
            };
            let outcome = drain.run(&queues).await;
            let clock = &self.context.clock;
            document.pace =
                outcome
                    .pace
                    .learned(document.pace.take(), clock.now(), clock.instant());
            Some(outcome)
        } else {
            None
        };
        let (mut hook_outcomes, receiver_outcomes) = match outcome {
            Some(outcome) => (
                outcome.hooks.into_iter().map(Some).collect::<Vec<_>>(),
                outcome.receivers,
            ),
            None => (
                scans.iter().map(|_| None).collect(),
                receivers::not_judged(self.receivers.list.len()),
            ),
        };
        for (index, scanned) in scans.into_iter().enumerate() {
            let mut scanned = scanned;
            scanned.report.receiver = Some(
                self.receivers.list[self.receivers.of_hook[index]]
                    .shown()
                    .to_owned(),
            );
            let drained_outcome = hook_outcomes[index]
                .take()
                .filter(|_| drained[index])
                .map(|outcome| replay::hold_results(self.settings, outcome));
            self.hook_run(index, self.context)
                .conclude(scanned, drained_outcome, document, report);
        }
        report.receivers =
            self.receivers
                .remember(&receiver_outcomes, document, self.context.clock.now());
        self.conclude_replay(document, report).await;
    }

    /// A replay looks for its results and leaves its record (nothing for a scheduled run).
    async fn conclude_replay(&self, document: &mut CheckpointDocument, report: &mut RunReport) {
        let replay = replay::ReplayRun {
            hooks: self.hooks,
            credentials: self.credentials,
            client: self.client,
            settings: self.settings,
            log: &self.context.log,
        };
        replay.conclude(document, report).await;
    }

    /// Lists and plans every hook, `scan-concurrency` of them at once on the one thread: a
    /// fleet's scan takes about `hooks / scan-concurrency` round trips, not `hooks`, and
    /// only the hooks in flight hold their listing (a finished scan keeps its plan). The
    /// scans come back in the order of the hooks. Each scan's log lines wait for its turn,
    /// so that each hook's lines stay together in its group.
    async fn scan_all(&self, document: &CheckpointDocument) -> Vec<Scanned> {
        let rate_limited = AtomicBool::new(false);
        let rate_limited = &rate_limited;
        let stateless = self.settings.store == StoreSpec::None;
        let mut scans: Vec<(usize, Scanned)> = stream::iter(0..self.hooks.len())
            .map(|index| {
                let mut state = if stateless {
                    HookState::default()
                } else {
                    document.hook(&self.hooks[index].to_string())
                };
                if !stateless {
                    state.receiver_sent = self.receivers.sent_prefix(index, document);
                }
                async move {
                    let (log, lines) = self.context.log.deferred();
                    let scan_context = RunContext {
                        log,
                        ..self.context.clone()
                    };
                    let hook_run = self.hook_run(index, &scan_context);
                    (index, hook_run.scan(state, rate_limited, lines).await)
                }
            })
            .buffer_unordered(self.settings.scan.concurrency.max(1))
            .collect()
            .await;
        scans.sort_by_key(|(index, _)| *index);
        scans.into_iter().map(|(_, scanned)| scanned).collect()
    }
}
