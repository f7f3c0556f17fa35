//! One run: [`run_once`] obtains the credentials (`Credentials`), resolves the hooks, reads
//! the checkpoint document, then scans (`scan_all`: lists and plans the hooks' windows,
//! `scan-concurrency` hooks at once, [`crate::plan`]) and drains (one hook after the other:
//! redelivers, one request at a time, [`crate::drain`], and moves the hook's checkpoint,
//! `HookRun`); then it saves the document.
//!
//! The safety rules live in [`crate::plan`] (the checkpoint never passes an open event) and
//! here: a hook's checkpoint stays where it was when anything for it failed, and the
//! bookkeeping is saved even then.

use std::time::Instant;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::{StreamExt as _, stream};

use chrono::{DateTime, Utc};

use crate::checkpoint::{CheckpointDocument, HookState, MAX_DOCUMENT_BYTES};
use crate::client::{ApiError, Credential, GitHubClient, RetryPolicy};
use crate::clock::{Clock, Stop};
use crate::drain::{Drain, DrainOutcome, Halt};
use crate::github::deliveries::{self, DeliveryPages};
use crate::github::hooks as hook_list;
use crate::github::installations::{self, Need};
use crate::hooks::{Hook, HookScope, HookSelector};
use crate::log::{Deferred, Level, Log};
use crate::plan::{Delivery, Plan, Planner, next_checkpoint};
use crate::report::{HookReport, RedeliveredEvent, RunReport, rfc3339};
use crate::settings::Settings;
use crate::store::{CheckpointStore, MAX_STATE_FILE_BYTES, StoreSpec};
use crate::window::{Window, WindowOptions, in_window, scan_window};

/// How far before the checkpoint each scan starts again: deliveries can be recorded a while
/// after they started (receivers get 10 s, 30 s on GHES), and clocks drift.
pub const OVERLAP: chrono::Duration = chrono::Duration::minutes(5);
/// Installation tokens are valid for an hour; past this age one is renewed before use.
const INSTALLATION_TOKEN_RENEW_AFTER: std::time::Duration = std::time::Duration::from_secs(50 * 60);

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
            deadline: clock.instant() + settings.max_duration,
            clock,
            retry: RetryPolicy {
                max_wait: settings.max_wait,
                ..RetryPolicy::default()
            },
            stop: Stop::default(),
        }
    }

    /// A fresh time budget from now: `--every` starts one for each run.
    pub fn restarted(&self, settings: &Settings) -> Self {
        Self {
            deadline: self.clock.instant() + settings.max_duration,
            ..self.clone()
        }
    }
}

/// Runs once over every hook. `Err` means nothing could be done at all (the checkpoint
/// could not be read); partial failures are in the report's `errors`.
pub async fn run_once(settings: &Settings, context: &RunContext) -> anyhow::Result<RunReport> {
    let log = &context.log;
    if let Some(token) = &settings.token {
        log.mask(secrecy::ExposeSecret::expose_secret(token));
    }
    let client = GitHubClient::new(
        &settings.api_url,
        settings.app.clone(),
        settings.token.clone(),
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
        max_attempts: settings.max_attempts(),
        fleets: hooks.fleets.clone(),
        hooks: Vec::new(),
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
    if client.clock().instant() - credentials.minted_at > INSTALLATION_TOKEN_RENEW_AFTER
        && !credentials.installations.is_empty()
    {
        *credentials = Credentials::obtain(client, settings, log).await?;
    }
    save_checkpoint(store, client, credentials.store, document, settings, log).await
}

/// Which credential each request of a run carries. With `token`, the token does everything
/// but the App's own hook; without it, the App's installation tokens do, one per account,
/// narrowed to the repositories and permissions the run needs (no personal access token
/// anywhere).
struct Credentials {
    store: Credential,
    /// Installation ids by account (lower case), when no `token` is given.
    installations: HashMap<String, u64>,
    /// The accounts `app/*` covers (without `token`).
    app_fleet: Vec<installations::FleetAccount>,
    minted_at: std::time::Instant,
}

impl Credentials {
    async fn obtain(client: &GitHubClient, settings: &Settings, log: &Log) -> anyhow::Result<Self> {
        let mut credentials = Credentials {
            store: Credential::Token,
            installations: HashMap::new(),
            app_fleet: Vec::new(),
            minted_at: client.clock().instant(),
        };
        if client.has_token() || !client.has_app() {
            if settings.hooks.contains(&HookSelector::AppFleet) && client.has_token() {
                log.info("`app/*` with a `token`: the App's own hook only; the hooks of the App's installations are found when `token` is empty.");
            }
            return Ok(credentials);
        }
        // A fleet's repositories and `app/*`'s accounts come from the App's installations.
        let listed = if settings
            .hooks
            .iter()
            .any(|hook| matches!(hook, HookSelector::Fleet { .. } | HookSelector::AppFleet))
        {
            Some(installations::list(client).await?)
        } else {
            None
        };
        if settings.hooks.contains(&HookSelector::AppFleet)
            && let Some(listed) = &listed
        {
            let (accounts, read_only) = installations::fleet_accounts(listed);
            for line in read_only {
                log.warning(&line);
            }
            credentials.app_fleet = accounts;
        }
        let accounts = token_needs(settings, &credentials.app_fleet);
        for (account, needs) in &accounts {
            let installation = match (listed.as_ref(), needs.repositories.first()) {
                (_, Some(repository)) if !needs.every_repository => {
                    installations::for_repository(client, &format!("{account}/{repository}"))
                        .await?
                }
                (Some(listed), _) => listed
                    .iter()
                    .find(|listed| listed.login().is_some_and(|login| login.eq_ignore_ascii_case(account)))
                    .map(installations::ListedInstallation::installation)
                    .ok_or_else(|| anyhow::anyhow!(
                        "the App is not installed on {account}: install it there (for a fleet, on all its repositories or those to watch), or pass a `token`"
                    ))?,
                (None, _) => anyhow::bail!(
                    "the organization hooks of {account} need `token`: without it, the App's installation on {account} is found through a repository of {account}, and this run names none (keep the checkpoint there, or pass a `token`)"
                ),
            };
            // A fleet's token reaches every repository of the installation.
            let narrowed = if needs.every_repository {
                BTreeSet::new()
            } else {
                needs.repositories.clone()
            };
            let token =
                installations::mint_token(client, &installation, account, &narrowed, &needs.needs)
                    .await?;
            client.set_installation_token(installation.id, token);
            credentials
                .installations
                .insert(account.clone(), installation.id);
        }
        if let StoreSpec::Variable { repository, .. } = &settings.store {
            credentials.store = credentials.for_account(repository.split('/').next());
        }
        Ok(credentials)
    }

    fn for_account(&self, account: Option<&str>) -> Credential {
        account
            .and_then(|account| self.installations.get(&account.to_ascii_lowercase()))
            .map_or(Credential::Token, |id| Credential::Installation(*id))
    }

    fn for_hook(&self, hook: &Hook) -> Credential {
        match hook {
            Hook::App => Credential::AppJwt,
            Hook::Org { org, .. } => self.for_account(Some(org)),
            Hook::Repo { owner, .. } => self.for_account(Some(owner)),
        }
    }
}

/// What one account's installation token must allow.
#[derive(Default)]
struct TokenNeeds {
    /// Repositories to narrow the token to (names without the owner)...
    repositories: BTreeSet<String>,
    /// ...unless a fleet needs every repository of the installation.
    every_repository: bool,
    needs: BTreeSet<Need>,
}

/// The installation token each account needs, by account (lower case): for the checkpoint
/// variable, and for listing and redelivering hooks (read and write: the same permission).
fn token_needs(
    settings: &Settings,
    app_fleet: &[installations::FleetAccount],
) -> BTreeMap<String, TokenNeeds> {
    let mut accounts: BTreeMap<String, TokenNeeds> = BTreeMap::new();
    let mut target = |owner: &str, repo: Option<&str>, every: bool, need: Need| {
        let entry = accounts.entry(owner.to_ascii_lowercase()).or_default();
        entry.repositories.extend(repo.map(str::to_owned));
        entry.every_repository |= every;
        entry.needs.insert(need);
    };
    if let StoreSpec::Variable { repository, .. } = &settings.store
        && let Some((owner, repo)) = repository.split_once('/')
    {
        target(owner, Some(repo), false, Need::Variables);
    }
    for hook in &settings.hooks {
        match hook {
            HookSelector::App => {}
            HookSelector::AppFleet => {
                for account in app_fleet {
                    if account.organization_hooks {
                        target(&account.login, None, false, Need::OrganizationHooks);
                    }
                    if account.repository_hooks {
                        target(&account.login, None, true, Need::RepositoryHooks);
                    }
                }
            }
            HookSelector::Fleet { owner, .. } => target(owner, None, true, Need::RepositoryHooks),
            HookSelector::Scoped { scope, .. } => match scope {
                HookScope::Org { org } => target(org, None, false, Need::OrganizationHooks),
                HookScope::Repo { owner, repo } => {
                    target(owner, Some(repo), false, Need::RepositoryHooks)
                }
            },
        }
    }
    accounts
}

/// Turns the `hooks` input into concrete hooks (ids), listing an org's or a repository's
/// webhooks for a URL or `*` with the credential that redelivers there: before any
/// redelivery, so that a wrong URL or a missing permission stops the run at once.
async fn resolve_hooks(
    client: &GitHubClient,
    credentials: &Credentials,
    settings: &Settings,
    log: &Log,
) -> anyhow::Result<hook_list::Resolved> {
    let input = if settings.in_actions {
        "input `hooks`"
    } else {
        "`--hooks`"
    };
    hook_list::resolve(
        client,
        &settings.hooks,
        input,
        |account| credentials.for_account(Some(account)),
        &credentials.app_fleet,
        settings.scan_concurrency,
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
    let (json, dropped) = document.encode(client.clock().now(), settings.retention, limit)?;
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
    /// GitHub's rate limit outlasted `max-wait` during the listing.
    rate_limited: bool,
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
    let mut rate_limited = scans.iter().any(|scan| scan.rate_limited);
    for (hook, scanned) in hooks.iter().zip(scans) {
        let hook_run = HookRun {
            hook,
            credential: credentials.for_hook(hook),
            client,
            settings,
            context,
        };
        hook_run
            .finish(scanned, document, report, &mut rate_limited)
            .await;
    }
    if !settings.dry_run && settings.store != StoreSpec::None {
        sweep_pending(hooks, credentials, client, settings, document, started).await;
    }
}

/// After a fleet's drain, one more look at the newest page of each hook whose redeliveries
/// of this run are still pending (each hook's drain looked right after its last one, too
/// soon for GitHub to list a result), several hooks at once: by the end of a fleet's drain
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
    let since = started - crate::plan::CLOCK_TOLERANCE;
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
            let mut pages = DeliveryPages::new(client, hook, credentials.for_hook(hook));
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
        .buffer_unordered(settings.scan_concurrency.max(1))
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
        .buffer_unordered(settings.scan_concurrency.max(1))
        .collect()
        .await;
    scans.sort_by_key(|(index, _)| *index);
    scans.into_iter().map(|(_, scanned)| scanned).collect()
}

/// One hook's part of a run: list, plan, redeliver, and move its checkpoint.
struct HookRun<'a> {
    hook: &'a Hook,
    credential: Credential,
    client: &'a GitHubClient,
    settings: &'a Settings,
    context: &'a RunContext,
}

impl HookRun<'_> {
    /// Lists the hook's window and plans, without redelivering or touching the bookkeeping.
    /// A scan that starts after GitHub's rate limit was found spent is not tried.
    async fn scan(&self, state: HookState, rate_limited: &AtomicBool, lines: Deferred) -> Scanned {
        let listed_at = self.now();
        let mut scanned = Scanned {
            report: self.empty_report(&state, state.checkpoint.unwrap_or(listed_at), false),
            state,
            planned: None,
            rate_limited: false,
            lines,
        };
        if rate_limited.load(Ordering::Relaxed) {
            scanned.report.error = Some("not tried: GitHub's rate limit is spent".to_owned());
            return scanned;
        }
        let window = self.window(&scanned.state, listed_at);
        scanned.report = self.empty_report(&scanned.state, window.since, window.checkpoint_expired);
        match self
            .list_and_plan(&scanned.state, window.since, listed_at)
            .await
        {
            Ok((plan, checkpoint_at)) => {
                scanned.report.scan_complete = true;
                self.report_plan(&plan, &mut scanned.report);
                scanned.planned = Some((plan, checkpoint_at));
            }
            Err(error) => {
                scanned.rate_limited = matches!(error, ApiError::RateLimited { .. });
                rate_limited.fetch_or(scanned.rate_limited, Ordering::Relaxed);
                scanned.report.error = Some(format!("{:#}", deliveries::explain(error, self.hook)));
            }
        }
        scanned
    }

    /// Redelivers what the scan planned and moves the checkpoint; `rate_limited` is set when
    /// GitHub's rate limit outlasted `max-wait`, and then the hooks after this one with
    /// something to redeliver are not tried.
    async fn drain_planned(&self, scanned: &mut Scanned, rate_limited: &mut bool) {
        let Some((plan, checkpoint_at)) = &scanned.planned else {
            return;
        };
        if self.settings.dry_run {
            return;
        }
        let (state, report) = (&mut scanned.state, &mut scanned.report);
        if *rate_limited && !plan.redeliver.is_empty() {
            report.error = Some("not tried: GitHub's rate limit is spent".to_owned());
            return;
        }
        // From here on, the bookkeeping records what is done, as it is done.
        apply_plan(plan, state, self.now());
        let outcome = self
            .drain()
            .run(&plan.redeliver, plan.receiver_up.as_ref(), &plan.pending)
            .await;
        self.record_outcome(outcome, state, report, rate_limited);
        self.move_checkpoint(plan, *checkpoint_at, state, report);
    }

    /// The run's wall time.
    fn now(&self) -> DateTime<Utc> {
        self.context.clock.now()
    }

    /// The window this run scans, said in the log (loudly when the checkpoint is older
    /// than GitHub keeps deliveries).
    fn window(&self, state: &HookState, listed_at: chrono::DateTime<Utc>) -> Window {
        let log = &self.context.log;
        let window = scan_window(
            state.checkpoint,
            listed_at,
            &WindowOptions {
                first_run_lookback: self.settings.first_run_lookback,
                overlap: OVERLAP,
                retention: self.settings.retention,
            },
        );
        if window.checkpoint_expired {
            log.warning(&format!(
                "the checkpoint of `{}` ({}) is older than GitHub's {}-day retention: failed events from before {} are lost for good; schedule this job more often",
                self.hook,
                state.checkpoint.map(rfc3339).unwrap_or_default(),
                self.settings.retention.num_days(),
                rfc3339(window.since)
            ));
        }
        log.info(&format!(
            "Scanning deliveries since {}.",
            rfc3339(window.since)
        ));
        window
    }

    /// Lists the window and plans; also returns the time the checkpoint may move to.
    async fn list_and_plan(
        &self,
        state: &HookState,
        since: chrono::DateTime<Utc>,
        listed_at: chrono::DateTime<Utc>,
    ) -> Result<(Plan, chrono::DateTime<Utc>), ApiError> {
        let log = &self.context.log;
        let (planner, github_time) =
            list_deliveries(self.hook, self.credential, since, self.client, log).await?;
        // The checkpoint is compared with GitHub's `delivered_at`, so it is GitHub's time: a
        // runner whose clock is ahead would otherwise move it past deliveries GitHub records
        // next. A GitHub clock ahead of ours changes nothing (the earlier of the two is kept).
        let checkpoint_at = github_time.map_or(listed_at, |github| github.min(listed_at));
        let plan = planner.plan(state, checkpoint_at, self.settings.plan_options());
        Ok((plan, checkpoint_at))
    }

    /// Every open event keeps the checkpoint at its first failure (see `next_checkpoint`),
    /// whatever the drain did. After an error it stays where it was all the same, so that
    /// a failing run is simple to reason about.
    fn move_checkpoint(
        &self,
        plan: &Plan,
        checkpoint_at: chrono::DateTime<Utc>,
        state: &mut HookState,
        report: &mut HookReport,
    ) {
        if report.error.is_none() {
            let checkpoint = next_checkpoint(plan, checkpoint_at);
            state.checkpoint = Some(checkpoint);
            report.checkpoint = Some(checkpoint);
            report.checkpoint_advanced = true;
        } else {
            self.context.log.warning(&format!(
                "the checkpoint of `{}` stays at {}: the next run scans this window again",
                self.hook,
                state
                    .checkpoint
                    .map(rfc3339)
                    .unwrap_or_else(|| "its first-run look-back".to_owned())
            ));
        }
    }

    /// The hook's turn after the scan, in its group: what its scan said, its drain, then its
    /// state back into `document` and its report (and error) into `report`.
    async fn finish(
        &self,
        mut scanned: Scanned,
        document: &mut CheckpointDocument,
        report: &mut RunReport,
        rate_limited: &mut bool,
    ) {
        let log = &self.context.log;
        let key = self.hook.to_string();
        let _group = log.hook_group(&key);
        log.replay(&scanned.lines);
        self.drain_planned(&mut scanned, rate_limited).await;
        if let Some(error) = &scanned.report.error {
            log.error(&format!("hook `{key}`: {error}"));
            report.errors.push(format!("hook `{key}`: {error}"));
        }
        report.hooks.push(scanned.report);
        document.set_hook(&key, scanned.state);
    }

    fn drain(&self) -> Drain<'_> {
        Drain {
            hook: self.hook,
            credential: self.credential,
            client: self.client,
            log: &self.context.log,
            interval: self.settings.redelivery_interval,
            max_attempts: self.settings.max_attempts(),
            deadline: self.context.deadline,
            stop: &self.context.stop,
        }
    }

    fn empty_report(
        &self,
        state: &HookState,
        since: chrono::DateTime<Utc>,
        checkpoint_expired: bool,
    ) -> HookReport {
        HookReport {
            checkpoint_expired,
            ..HookReport::new(self.hook.to_string(), since, state.checkpoint)
        }
    }

    /// Logs the plan and puts what it decided (all but the redeliveries) into the report.
    fn report_plan(&self, plan: &Plan, report: &mut HookReport) {
        let log = &self.context.log;
        log_plan(plan, log);
        report.scanned = plan.scanned;
        report.failing = plan.failing;
        report.already_given_up = plan.already_given_up;
        report.filtered = plan.filtered.clone();
        report.deferred = plan.deferred.clone();
        report.given_up = plan.given_up.clone();
        report.too_old = plan.too_old.clone();
        report.pending = plan.pending.clone();
        if !plan.pending.is_empty() {
            log.info(&format!(
                "{} event(s) redelivered earlier wait for GitHub to list the result: not sent again.",
                plan.pending.len()
            ));
        }
        if !plan.too_old.is_empty() {
            log.info(&format!(
                "{} event(s) first failed longer ago than `max-age`: too old to redeliver, left alone.",
                plan.too_old.len()
            ));
        }
        for event in &plan.given_up {
            log.line(
                Level::Warning,
                &format!(
                    "giving up on {} event {} of `{}` after {} failed redeliveries (first failure: {})",
                    event.event,
                    event.guid,
                    self.hook,
                    event.previous_attempts,
                    event.first_failure_status
                ),
                &[
                    ("event", event.event.as_str().into()),
                    ("guid", event.guid.as_str().into()),
                    ("attempts", event.previous_attempts.into()),
                    ("reason", event.first_failure_status.as_str().into()),
                ],
            );
        }
        if self.settings.dry_run {
            report.redelivered = plan
                .redeliver
                .iter()
                .map(|planned| RedeliveredEvent {
                    delivery_id: planned.delivery_id,
                    attempt: planned.summary.previous_attempts + 1,
                    event: planned.summary.clone(),
                })
                .collect();
            for planned in &plan.redeliver {
                log.line(
                    Level::Info,
                    &format!(
                        "Would redeliver {} {} (delivery {}).",
                        planned.summary.event, planned.summary.guid, planned.delivery_id
                    ),
                    &[
                        ("event", planned.summary.event.as_str().into()),
                        ("guid", planned.summary.guid.as_str().into()),
                        ("delivery_id", planned.delivery_id.into()),
                    ],
                );
            }
        }
    }

    /// Puts what the drain did into the bookkeeping and the report.
    fn record_outcome(
        &self,
        outcome: DrainOutcome,
        state: &mut HookState,
        report: &mut HookReport,
        rate_limited: &mut bool,
    ) {
        for refused in &outcome.refused {
            state.record_refusal(&refused.event.guid, self.now());
        }
        for (guid, accepted_at) in &outcome.unlisted {
            state.record_pending(guid, *accepted_at);
        }
        report.awaiting_results = outcome.unlisted.len();
        if !outcome.refused.is_empty() {
            report.error = Some(
                "GitHub refused some redeliveries; they are retried next run, and count as attempts"
                    .to_owned(),
            );
        }
        report.redelivered = outcome.redelivered;
        report.refused = outcome.refused;
        match outcome.halt {
            Some(Halt::ReceiverDown(_)) => {
                report.receiver_down = true;
                report.held_back = outcome.not_reached;
            }
            Some(Halt::ResultsNotListed) => {
                report.results_delayed = true;
                report.held_back = outcome.not_reached;
            }
            Some(halt @ Halt::Failed { .. }) => {
                report.error = Some(halt_error(&halt, rate_limited));
                report.deferred.extend(outcome.not_reached);
            }
            Some(Halt::Budget | Halt::Shutdown) | None => {
                report.deferred.extend(outcome.not_reached);
            }
        }
    }
}

/// Puts the plan's verdicts on earlier runs' bookkeeping into `state`, before the drain.
fn apply_plan(plan: &Plan, state: &mut HookState, now: DateTime<Utc>) {
    state.drop_what_the_list_tells();
    for guid in &plan.settled {
        state.settle_pending(guid);
    }
    for guid in &plan.lost {
        state.record_unlisted(guid);
    }
    for event in &plan.given_up {
        state.record_given_up(&event.guid, now);
    }
    for guid in &plan.resolved {
        state.forget(guid);
    }
}

/// The error line of a drain that failed.
fn halt_error(halt: &Halt, rate_limited: &mut bool) -> String {
    match halt {
        Halt::Failed {
            error,
            rate_limited: limited,
        } => {
            *rate_limited |= *limited;
            error.clone()
        }
        Halt::ReceiverDown(status) => format!("the receiver is down ({status})"),
        Halt::ResultsNotListed => "GitHub has not listed the canary's result yet".to_owned(),
        Halt::Budget => "the time budget ended".to_owned(),
        Halt::Shutdown => "shutdown requested".to_owned(),
    }
}

/// Lists the hook's deliveries, newest first, page by page, and stops at the first page
/// that reaches back past `since`: no page is fetched that the window does not need.
async fn list_deliveries(
    hook: &Hook,
    credential: Credential,
    since: chrono::DateTime<Utc>,
    client: &GitHubClient,
    log: &Log,
) -> Result<(Planner, Option<chrono::DateTime<Utc>>), ApiError> {
    let mut planner = Planner::new();
    let mut pages = DeliveryPages::new(client, hook, credential);
    // GitHub's clock at the first answer (its `Date` header).
    let mut github_time = None;
    while let Some(page) = pages.next_page().await? {
        github_time = github_time.or(page.date);
        for delivery in page.items::<Delivery>()? {
            if in_window(delivery.delivered_at, since) {
                planner.observe(delivery);
            } else {
                pages.stop();
            }
        }
    }
    log.line(
        Level::Info,
        &format!(
            "Scanned {} deliveries in {} page(s).",
            planner.scanned(),
            pages.pages()
        ),
        &[
            ("scanned", planner.scanned().into()),
            ("pages", pages.pages().into()),
        ],
    );
    Ok((planner, github_time))
}

fn log_plan(plan: &Plan, log: &Log) {
    log.line(
        Level::Info,
        &format!(
            "{} event(s) failing: {} to redeliver, {} given up now, {} filtered out, {} over `max-redeliveries`, {} given up before.",
            plan.failing,
            plan.redeliver.len(),
            plan.given_up.len(),
            plan.filtered.len(),
            plan.deferred.len(),
            plan.already_given_up
        ),
        &[
            ("failing", plan.failing.into()),
            ("to_redeliver", plan.redeliver.len().into()),
            ("given_up", plan.given_up.len().into()),
            ("filtered", plan.filtered.len().into()),
            ("deferred", plan.deferred.len().into()),
            ("given_up_before", plan.already_given_up.into()),
        ],
    );
}
