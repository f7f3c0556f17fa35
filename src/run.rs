//! One run, as a pipeline of verbs: `load_checkpoint`, then for each hook
//! `list_deliveries` → `plan_redeliveries` → `redeliver` → `advance_checkpoint`, then
//! `save_checkpoint`.
//!
//! The safety rules live here and in [`crate::plan`]:
//! - the checkpoint of a hook only moves when every step for it succeeded, and never past
//!   an event left for later;
//! - the retry bookkeeping is saved even when a run fails, so the next run neither repeats
//!   what was done nor forgets how often an event was tried.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Utc;

use crate::checkpoint::{CheckpointDocument, HookState, MAX_DOCUMENT_BYTES};
use crate::client::{ApiError, Credential, GitHubClient, RetryPolicy, Sleeper};
use crate::github::deliveries::{self, DeliveryPages};
use crate::github::hooks as hook_list;
use crate::github::installations::{self, Need};
use crate::hooks::{Hook, HookScope};
use crate::log::Log;
use crate::plan::{
    Delivery, Plan, PlanOptions, Planner, WindowOptions, next_checkpoint, scan_window,
};
use crate::report::{HookReport, RedeliveredEvent, RefusedRedelivery, RunReport, rfc3339};
use crate::settings::Settings;
use crate::store::{CheckpointStore, StoreSpec};

/// How far before the checkpoint each scan starts again: deliveries can be recorded a while
/// after they started (receivers get 10 s, 30 s on GHES), and clocks drift.
pub const OVERLAP: chrono::Duration = chrono::Duration::minutes(5);
/// How long a redelivery may take to appear in the list before it is counted as lost.
pub const PENDING_GRACE: chrono::Duration = chrono::Duration::minutes(10);
/// Installation tokens are valid for an hour; past this age one is renewed before use.
const INSTALLATION_TOKEN_RENEW_AFTER: std::time::Duration = std::time::Duration::from_secs(50 * 60);

/// What a run needs besides its settings: where it logs, how it sleeps, and whether it
/// was asked to stop (SIGTERM in `--every` mode).
#[derive(Clone, Debug)]
pub struct RunContext {
    pub log: Log,
    pub sleeper: Sleeper,
    pub retry: RetryPolicy,
    pub stop: Arc<AtomicBool>,
}

impl RunContext {
    pub fn new(log: Log, settings: &Settings) -> Self {
        Self {
            log,
            sleeper: Sleeper::Real,
            retry: RetryPolicy {
                max_wait: settings.max_wait,
                ..RetryPolicy::default()
            },
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
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
        context.sleeper.clone(),
        log.clone(),
    )?;
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
        max_attempts: settings.max_attempts,
        hooks: Vec::new(),
        requests: Default::default(),
        checkpoint_saved: false,
        errors: Vec::new(),
    };
    let mut rate_limited = false;
    for hook in &hooks.hooks {
        let key = hook.to_string();
        let _group = log.group(&format!("Hook `{key}`"));
        let mut state = if settings.store == StoreSpec::None {
            HookState::default()
        } else {
            document.hook(&key)
        };
        let hook_report = process_hook(
            hook,
            credentials.for_hook(hook),
            &mut state,
            &client,
            settings,
            context,
            &mut rate_limited,
        )
        .await;
        if let Some(error) = &hook_report.error {
            log.error(&format!("hook `{key}`: {error}"));
            report.errors.push(format!("hook `{key}`: {error}"));
        }
        report.hooks.push(hook_report);
        document.set_hook(&key, state);
    }

    if settings.dry_run || settings.store == StoreSpec::None {
        log.info("Dry run or stateless: no checkpoint written.");
    } else {
        let renewed = if credentials.minted_at.elapsed() > INSTALLATION_TOKEN_RENEW_AFTER
            && !credentials.installations.is_empty()
        {
            Credentials::obtain(&client, settings)
                .await
                .map(|renewed| credentials = renewed)
        } else {
            Ok(())
        };
        let saved = match renewed {
            Ok(()) => {
                save_checkpoint(
                    &mut store,
                    &client,
                    credentials.store,
                    &mut document,
                    settings,
                    log,
                )
                .await
            }
            Err(error) => Err(error),
        };
        match saved {
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
            minted_at: std::time::Instant::now(),
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
    let input = if settings.actions {
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
    let (json, dropped) = document.encode(Utc::now(), settings.retention, MAX_DOCUMENT_BYTES)?;
    if dropped > 0 {
        log.warning(&format!(
            "the checkpoint would exceed {MAX_DOCUMENT_BYTES} bytes: forgot the retry counts of the {dropped} oldest failing events, which may be retried again"
        ));
    }
    store.save(client, credential, &json).await?;
    log.info(&format!("Saved the checkpoint to the {}.", settings.store));
    Ok(())
}

/// Lists, plans and redelivers for one hook, and updates its state.
async fn process_hook(
    hook: &Hook,
    credential: Credential,
    state: &mut HookState,
    client: &GitHubClient,
    settings: &Settings,
    context: &RunContext,
    rate_limited: &mut bool,
) -> HookReport {
    let log = &context.log;
    let listed_at = Utc::now();
    let window = scan_window(
        state.checkpoint,
        listed_at,
        &WindowOptions {
            first_run_lookback: settings.since,
            overlap: OVERLAP,
            retention: settings.retention,
        },
    );
    let mut report = HookReport {
        hook: hook.to_string(),
        since: window.since,
        checkpoint: state.checkpoint,
        checkpoint_advanced: false,
        checkpoint_expired: window.checkpoint_expired,
        scan_complete: false,
        scanned: 0,
        failing: 0,
        redelivered: Vec::new(),
        given_up: Vec::new(),
        filtered: Vec::new(),
        deferred: Vec::new(),
        too_old: Vec::new(),
        already_given_up: 0,
        refused: Vec::new(),
        error: None,
    };
    if window.checkpoint_expired {
        log.warning(&format!(
            "the checkpoint of `{hook}` ({}) is older than GitHub's {}-day retention: failed events from before {} are lost for good; schedule this job more often",
            state.checkpoint.map(rfc3339).unwrap_or_default(),
            settings.retention.num_days(),
            rfc3339(window.since)
        ));
    }
    log.info(&format!(
        "Scanning deliveries since {}.",
        rfc3339(window.since)
    ));

    let planner = match list_deliveries(hook, credential, window.since, client, log).await {
        Ok(planner) => planner,
        Err(error) => {
            *rate_limited |= matches!(error, ApiError::RateLimited { .. });
            report.error = Some(format!("{:#}", deliveries::explain(error, hook)));
            return report;
        }
    };
    report.scan_complete = true;
    let plan = planner.plan(
        state,
        listed_at,
        &PlanOptions {
            max_attempts: settings.max_attempts,
            max_redeliveries: settings.max_redeliveries,
            pending_grace: PENDING_GRACE,
            filter: settings.filter.clone(),
            max_age: settings.max_age,
        },
    );
    log_plan(&plan, log);
    report.too_old = plan.too_old.clone();
    if !plan.too_old.is_empty() {
        log.info(&format!(
            "{} event(s) first failed longer ago than `max-age`: too old to redeliver, left alone.",
            plan.too_old.len()
        ));
    }
    report.scanned = plan.scanned;
    report.failing = plan.failing;
    report.already_given_up = plan.already_given_up;
    report.filtered = plan.filtered.clone();
    report.deferred = plan.deferred.iter().chain(&plan.pending).cloned().collect();
    report.given_up = plan.given_up.clone();
    for event in &plan.given_up {
        log.warning(&format!(
            "giving up on {} event {} of `{hook}` after {} failed redeliveries (first failure: {})",
            event.event, event.guid, event.previous_attempts, event.first_failure_status
        ));
    }

    if settings.dry_run {
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
            log.info(&format!(
                "Would redeliver {} {} (delivery {}).",
                planned.summary.event, planned.summary.guid, planned.delivery_id
            ));
        }
        return report;
    }

    // From here on, the bookkeeping records what is done, as it is done.
    let now = Utc::now();
    for event in &plan.given_up {
        state.record_given_up(&event.guid, now);
    }
    for guid in &plan.resolved {
        state.forget(guid);
    }
    let completed = redeliver(
        hook,
        credential,
        &plan,
        state,
        client,
        settings,
        context,
        rate_limited,
        &mut report,
    )
    .await;
    if completed && report.error.is_none() {
        let checkpoint = match report
            .deferred
            .iter()
            .map(|event| event.first_failed_at)
            .min()
        {
            // Events not reached because of a stop: the checkpoint stays before them.
            Some(oldest) => next_checkpoint(&plan, listed_at).min(oldest),
            None => next_checkpoint(&plan, listed_at),
        };
        state.checkpoint = Some(checkpoint);
        report.checkpoint = Some(checkpoint);
        report.checkpoint_advanced = true;
    } else {
        log.warning(&format!(
            "the checkpoint of `{hook}` stays at {}: the next run scans this window again",
            state
                .checkpoint
                .map(rfc3339)
                .unwrap_or_else(|| "its first-run look-back".to_owned())
        ));
    }
    report
}

/// Lists the hook's deliveries, newest first, page by page, and stops at the first page
/// that reaches back past `since`: no page is fetched that the window does not need.
async fn list_deliveries(
    hook: &Hook,
    credential: Credential,
    since: chrono::DateTime<Utc>,
    client: &GitHubClient,
    log: &Log,
) -> Result<Planner, ApiError> {
    let mut planner = Planner::new();
    let mut pages = DeliveryPages::new(client, hook, credential);
    while let Some(page) = pages.next_page().await? {
        for delivery in page.items::<Delivery>()? {
            if delivery.delivered_at >= since {
                planner.observe(delivery);
            } else {
                pages.stop();
            }
        }
    }
    log.info(&format!(
        "Scanned {} deliveries in {} page(s).",
        planner.scanned(),
        pages.pages()
    ));
    Ok(planner)
}

fn log_plan(plan: &Plan, log: &Log) {
    log.info(&format!(
        "{} event(s) failing: {} to redeliver, {} given up now, {} filtered out, {} left for later, {} awaiting an earlier redelivery's result, {} given up before.",
        plan.failing,
        plan.redeliver.len(),
        plan.given_up.len(),
        plan.filtered.len(),
        plan.deferred.len(),
        plan.pending.len(),
        plan.already_given_up
    ));
}

/// Redelivers the plan's events one at a time, paced. Returns `false` when it stopped
/// early (rate limit, GitHub failing, shutdown); the events not reached are reported as
/// left for later.
#[allow(clippy::too_many_arguments)]
async fn redeliver(
    hook: &Hook,
    credential: Credential,
    plan: &Plan,
    state: &mut HookState,
    client: &GitHubClient,
    settings: &Settings,
    context: &RunContext,
    rate_limited: &mut bool,
    report: &mut HookReport,
) -> bool {
    let log = &context.log;
    if !plan.redeliver.is_empty() && !settings.redelivery_interval.is_zero() {
        log.info(&format!(
            "Redelivering {} event(s), {} apart.",
            plan.redeliver.len(),
            crate::client::format_duration(settings.redelivery_interval)
        ));
    }
    for (index, planned) in plan.redeliver.iter().enumerate() {
        if *rate_limited || context.stop_requested() {
            let reason = if *rate_limited {
                "rate limit"
            } else {
                "shutdown requested"
            };
            log.notice(&format!(
                "stopping redeliveries of `{hook}` ({reason}); {} event(s) left for the next run",
                plan.redeliver.len() - index
            ));
            report
                .deferred
                .extend(plan.redeliver[index..].iter().map(|p| p.summary.clone()));
            return !*rate_limited;
        }
        if index > 0 && !settings.redelivery_interval.is_zero() {
            client.sleeper().sleep(settings.redelivery_interval).await;
        }
        let attempt = planned.summary.previous_attempts + 1;
        // Taken before the request: the redelivery GitHub records is never older.
        let attempted_at = Utc::now();
        match deliveries::redeliver(client, hook, credential, planned.delivery_id).await {
            Ok(_) => {
                state.record_attempt(&planned.summary.guid, attempted_at);
                log.info(&format!(
                    "Redelivered {} {} (delivery {}, attempt {attempt} of {}).",
                    planned.summary.event,
                    planned.summary.guid,
                    planned.delivery_id,
                    settings.max_attempts
                ));
                report.redelivered.push(RedeliveredEvent {
                    delivery_id: planned.delivery_id,
                    attempt,
                    event: planned.summary.clone(),
                });
            }
            Err(ApiError::Status {
                status, message, ..
            }) if (400..500).contains(&status) && status != 401 && status != 403 => {
                // This one delivery is refused (too old, gone, validation): count the attempt
                // so it is bounded like any failure, and go on with the others.
                state.record_attempt(&planned.summary.guid, attempted_at);
                let reason = format!("{status}: {message}");
                log.warning(&format!(
                    "GitHub refused to redeliver {} (delivery {}): {reason}",
                    planned.summary.guid, planned.delivery_id
                ));
                report.refused.push(RefusedRedelivery {
                    delivery_id: planned.delivery_id,
                    reason,
                    event: planned.summary.clone(),
                });
                report.error.get_or_insert_with(|| {
                    "GitHub refused some redeliveries; they are retried next run".to_owned()
                });
            }
            Err(error) => {
                *rate_limited |= matches!(error, ApiError::RateLimited { .. });
                report.error = Some(format!("{:#}", deliveries::explain(error, hook)));
                report
                    .deferred
                    .extend(plan.redeliver[index..].iter().map(|p| p.summary.clone()));
                return false;
            }
        }
    }
    true
}
