//! One run: [`run_once`] obtains the credentials (`Credentials`), reads the checkpoint
//! document, and for each hook lists its deliveries, plans ([`crate::plan`]), redelivers
//! ([`crate::drain`]) and moves the hook's checkpoint (`HookRun`); then it saves the
//! document.
//!
//! The safety rules live in [`crate::plan`] (the checkpoint never passes an open event) and
//! here: a hook's checkpoint stays where it was when anything for it failed, and the
//! bookkeeping is saved even then.

use std::time::Instant;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use crate::checkpoint::{CheckpointDocument, HookState, MAX_DOCUMENT_BYTES};
use crate::client::{ApiError, Credential, GitHubClient, RetryPolicy};
use crate::clock::{Clock, Stop};
use crate::drain::{Drain, DrainOutcome, Halt};
use crate::github::deliveries::{self, DeliveryPages};
use crate::github::hooks as hook_list;
use crate::github::installations::{self, Need};
use crate::hooks::{Hook, HookScope};
use crate::log::{Level, Log};
use crate::plan::{Delivery, Plan, Planner, next_checkpoint};
use crate::report::{HookReport, RedeliveredEvent, RunReport, rfc3339};
use crate::settings::Settings;
use crate::store::{CheckpointStore, StoreSpec};
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
    let mut credentials = Credentials::obtain(&client, settings).await?;
    let hooks = resolve_hooks(&client, &credentials, settings, log).await?;
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
        hooks: Vec::new(),
        requests: Default::default(),
        checkpoint_saved: false,
        errors: Vec::new(),
    };
    let mut rate_limited = false;
    for hook in &hooks.hooks {
        let hook_run = HookRun {
            hook,
            credential: credentials.for_hook(hook),
            client: &client,
            settings,
            context,
        };
        hook_run
            .run_and_record(&mut document, &mut report, &mut rate_limited)
            .await;
    }

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
        *credentials = Credentials::obtain(client, settings).await?;
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
    minted_at: std::time::Instant,
}

impl Credentials {
    async fn obtain(client: &GitHubClient, settings: &Settings) -> anyhow::Result<Self> {
        let mut credentials = Credentials {
            store: Credential::Token,
            installations: HashMap::new(),
            minted_at: client.clock().instant(),
        };
        if client.has_token() || !client.has_app() {
            return Ok(credentials);
        }
        // What each account's installation must allow: (repositories, needs).
        let mut accounts: BTreeMap<String, (BTreeSet<String>, BTreeSet<Need>)> = BTreeMap::new();
        let mut target = |owner: &str, repo: Option<&str>, need: Need| {
            let entry = accounts.entry(owner.to_ascii_lowercase()).or_default();
            entry.0.extend(repo.map(str::to_owned));
            entry.1.insert(need);
        };
        if let StoreSpec::Variable { repository, .. } = &settings.store
            && let Some((owner, repo)) = repository.split_once('/')
        {
            target(owner, Some(repo), Need::Variables);
        }
        // Listing hooks (URLs, `*`) needs read, redelivery write: the same permission.
        for hook in &settings.hooks {
            match hook.scope() {
                None => {}
                Some(HookScope::Org { org }) => target(org, None, Need::OrganizationHooks),
                Some(HookScope::Repo { owner, repo }) => {
                    target(owner, Some(repo), Need::RepositoryHooks)
                }
            }
        }
        for (account, (repositories, needs)) in &accounts {
            // The installation is found through one of the account's repositories.
            let Some(repository) = repositories.first() else {
                anyhow::bail!(
                    "the organization hooks of {account} need `token`: without it, the App's installation on {account} is found through a repository of {account}, and this run names none (keep the checkpoint there, or pass a `token`)"
                );
            };
            let installation =
                installations::for_repository(client, &format!("{account}/{repository}")).await?;
            let token =
                installations::mint_token(client, &installation, account, repositories, needs)
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
        |scope| credentials.for_account(Some(scope.account())),
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

async fn save_checkpoint(
    store: &mut CheckpointStore,
    client: &GitHubClient,
    credential: Credential,
    document: &mut CheckpointDocument,
    settings: &Settings,
    log: &Log,
) -> anyhow::Result<()> {
    let (json, dropped) =
        document.encode(client.clock().now(), settings.retention, MAX_DOCUMENT_BYTES)?;
    if dropped > 0 {
        log.warning(&format!(
            "the checkpoint would exceed {MAX_DOCUMENT_BYTES} bytes: forgot the bookkeeping of the {dropped} oldest failing events (pending and refused first), which may be retried again"
        ));
    }
    store.save(client, credential, &json).await?;
    log.info(&format!("Saved the checkpoint to the {}.", settings.store));
    Ok(())
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
    /// Lists, plans and redelivers, and updates `state`. `rate_limited` is set when GitHub's
    /// rate limit outlasted `max-wait`: the hooks after this one are not tried.
    async fn process(&self, state: &mut HookState, rate_limited: &mut bool) -> HookReport {
        let listed_at = self.now();
        let window = self.window(state, listed_at);
        let mut report = self.empty_report(state, window.since, window.checkpoint_expired);
        let (plan, checkpoint_at) = match self.list_and_plan(state, window.since, listed_at).await {
            Ok(planned) => planned,
            Err(error) => {
                *rate_limited |= matches!(error, ApiError::RateLimited { .. });
                report.error = Some(format!("{:#}", deliveries::explain(error, self.hook)));
                return report;
            }
        };
        report.scan_complete = true;
        self.report_plan(&plan, &mut report);
        if self.settings.dry_run {
            return report;
        }
        // From here on, the bookkeeping records what is done, as it is done.
        apply_plan(&plan, state, self.now());
        let outcome = self
            .drain()
            .run(&plan.redeliver, plan.receiver_up.as_ref(), &plan.pending)
            .await;
        self.record_outcome(outcome, state, &mut report, rate_limited);
        self.move_checkpoint(&plan, checkpoint_at, state, &mut report);
        report
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

    /// Runs the hook with its state from `document` (none when stateless), then puts the
    /// state back and its report (and error) into `report`. After a rate limit that
    /// outlasted `max-wait`, the hook is not tried.
    async fn run_and_record(
        &self,
        document: &mut CheckpointDocument,
        report: &mut RunReport,
        rate_limited: &mut bool,
    ) {
        let log = &self.context.log;
        let key = self.hook.to_string();
        let _group = log.hook_group(&key);
        let mut state = if self.settings.store == StoreSpec::None {
            HookState::default()
        } else {
            document.hook(&key)
        };
        let hook_report = if *rate_limited {
            let mut skipped = self.empty_report(
                &state,
                state.checkpoint.unwrap_or_else(|| self.now()),
                false,
            );
            skipped.error = Some("not tried: GitHub's rate limit is spent".to_owned());
            skipped
        } else {
            self.process(&mut state, rate_limited).await
        };
        if let Some(error) = &hook_report.error {
            log.error(&format!("hook `{key}`: {error}"));
            report.errors.push(format!("hook `{key}`: {error}"));
        }
        report.hooks.push(hook_report);
        document.set_hook(&key, state);
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
