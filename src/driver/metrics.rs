//! `/metrics` of `--listen`: what the `--every` loop did, as Prometheus counters, gauges and
//! a histogram, built with the Prometheus project's own client (`prometheus-client`).
//!
//! Everything is fed from each run's [`RunReport`] by [`Metrics::record`], once per run,
//! rather than by counters sprinkled through the pipeline: the report is already the one
//! account of a run (outputs, summary and `--json` are made from it), so the metrics cannot
//! tell a different story. Labels are the hook (as configured: bounded), the request kind
//! and the status class; never a GUID or a delivery id, which would grow without bound.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::report::{HookReport, RunReport};

/// The content type of [`Metrics::encode`]'s text, which Prometheus asks for first.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookLabels {
    hook: String,
}

/// A gauge's labels: the hook, and the receiver it delivers to in its shown form (scheme,
/// host and a fingerprint; never the URL, which may hold a secret), so that a dashboard
/// or an alert can group a fleet's hooks by receiver. One receiver a hook: the series are
/// as many as before.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GaugeLabels {
    hook: String,
    receiver: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    hook: String,
    receiver: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    kind: String,
    class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    result: String,
}

type FloatCounter = Counter<f64, AtomicU64>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// The metrics of one `--every` process.
pub struct Metrics {
    registry: Registry,
    runs: Family<RunLabels, Counter>,
    run_duration: Histogram,
    redelivered: Family<HookLabels, Counter>,
    given_up: Family<HookLabels, Counter>,
    failing: Family<HookLabels, Counter>,
    scanned: Family<HookLabels, Counter>,
    held_back: Family<HookLabels, Counter>,
    receiver_down: Family<GaugeLabels, Gauge>,
    last_success: Family<GaugeLabels, FloatGauge>,
    health: HealthGauges,
    requests: Family<RequestLabels, Counter>,
    rate_limit_waits: Counter,
    rate_limit_wait_seconds: FloatCounter,
    /// Encoding walks the registry; one scrape at a time keeps the text whole.
    encoding: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("redeliver");
        let runs = Family::<RunLabels, Counter>::default();
        registry.register(
            "runs",
            "Runs of the --every loop, by result: success, failure, or busy (another run held the state file's lock)",
            runs.clone(),
        );
        // 1 s to about 18 h: a run that lists one page, up to one that drains for hours.
        let run_duration = Histogram::new(exponential_buckets(1.0, 4.0, 9));
        registry.register(
            "run_duration_seconds",
            "How long each run took",
            run_duration.clone(),
        );
        let hook_counter = |registry: &mut Registry, name: &str, help: &str| {
            let family = Family::<HookLabels, Counter>::default();
            registry.register(name, help, family.clone());
            family
        };
        let redelivered = hook_counter(
            &mut registry,
            "redelivered_events",
            "Events redelivered (a dry run counts none)",
        );
        let given_up = hook_counter(
            &mut registry,
            "given_up_events",
            "Events given up after max-attempts failed redeliveries (a dry run counts none)",
        );
        let failing = hook_counter(
            &mut registry,
            "failing_events_seen",
            "Failing events each run found (an event still failing is seen again by the next run)",
        );
        let scanned = hook_counter(
            &mut registry,
            "deliveries_scanned",
            "Deliveries listed and read",
        );
        let held_back = hook_counter(
            &mut registry,
            "held_back_events",
            "Events held back without an attempt because the receiver was found down",
        );
        let receiver_down = Family::<GaugeLabels, Gauge>::default();
        registry.register(
            "receiver_down",
            "1 when the hook's last run found its receiver still down, else 0",
            receiver_down.clone(),
        );
        let last_success = Family::<GaugeLabels, FloatGauge>::default();
        registry.register(
            "last_success_timestamp_seconds",
            "When a run last handled the hook without an error (Unix time)",
            last_success.clone(),
        );
        let health = HealthGauges::register(&mut registry);
        let (requests, rate_limit_waits, rate_limit_wait_seconds) =
            register_github_metrics(&mut registry);
        Self {
            registry,
            runs,
            run_duration,
            redelivered,
            given_up,
            failing,
            scanned,
            held_back,
            receiver_down,
            last_success,
            health,
            requests,
            rate_limit_waits,
            rate_limit_wait_seconds,
            encoding: Mutex::new(()),
        }
    }

    /// Adds one run: its report, how long it took, and when it ended.
    pub fn record(&self, report: &RunReport, duration: Duration, ended: DateTime<Utc>) {
        let result = if report.succeeded() {
            "success"
        } else {
            "failure"
        };
        self.count_run(result, duration);
        let now = ended.timestamp_millis() as f64 / 1000.0;
        for hook in &report.hooks {
            let labels = HookLabels {
                hook: hook.hook.clone(),
            };
            let gauge = GaugeLabels {
                hook: hook.hook.clone(),
                receiver: hook.receiver.clone().unwrap_or_default(),
            };
            if !report.dry_run {
                self.redelivered
                    .get_or_create(&labels)
                    .inc_by(hook.redelivered.len() as u64);
                self.given_up
                    .get_or_create(&labels)
                    .inc_by(hook.found.given_up.len() as u64);
            }
            self.failing
                .get_or_create(&labels)
                .inc_by(hook.found.failing as u64);
            self.scanned
                .get_or_create(&labels)
                .inc_by(hook.found.scanned as u64);
            self.held_back
                .get_or_create(&labels)
                .inc_by(hook.held_back.len() as u64);
            self.receiver_down
                .get_or_create(&gauge)
                .set(i64::from(hook.receiver_down));
            if hook.error.is_none() {
                self.last_success.get_or_create(&gauge).set(now);
            }
            self.health.record(hook, &gauge);
        }
        for (kind, class, count) in report.requests.answers.iter() {
            self.requests
                .get_or_create(&RequestLabels {
                    kind: kind.name().to_owned(),
                    class: class.to_owned(),
                })
                .inc_by(u64::from(count));
        }
        self.rate_limit_waits
            .inc_by(u64::from(report.requests.rate_limit_waits));
        self.rate_limit_wait_seconds
            .inc_by(report.requests.rate_limit_waited.as_secs_f64());
    }

    /// A run that found the state file's lock held by another run: it did nothing.
    pub fn record_busy(&self, duration: Duration) {
        self.count_run("busy", duration);
    }

    fn count_run(&self, result: &str, duration: Duration) {
        self.runs
            .get_or_create(&RunLabels {
                result: result.to_owned(),
            })
            .inc();
        self.run_duration.observe(duration.as_secs_f64());
    }

    /// The metrics in the OpenMetrics text format (see [`CONTENT_TYPE`]).
    pub fn encode(&self) -> anyhow::Result<String> {
        let _one_at_a_time = self.encoding.lock();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .map_err(|error| anyhow::anyhow!("failed to encode the metrics: {error}"))?;
        Ok(text)
    }
}

/// Gauges of each hook's state after its last scan, for alerts: how its receiver fares and
/// whether redelivery keeps up. Set only by a run that listed the hook's window to its end,
/// so a failed listing leaves the last known values (and `last_scan_timestamp_seconds`
/// ages, which an alert can see).
struct HealthGauges {
    failure_ratio: Family<GaugeLabels, FloatGauge>,
    deliveries: Family<GaugeLabels, Gauge>,
    oldest_open_age: Family<GaugeLabels, FloatGauge>,
    events: Family<StateLabels, Gauge>,
    last_scan: Family<GaugeLabels, FloatGauge>,
}

impl HealthGauges {
    fn register(registry: &mut Registry) -> Self {
        let gauges = HealthGauges {
            failure_ratio: Family::default(),
            deliveries: Family::default(),
            oldest_open_age: Family::default(),
            events: Family::default(),
            last_scan: Family::default(),
        };
        registry.register(
            "delivery_failure_ratio",
            "Share of the first deliveries in the hook's last scan that failed, 0 to 1 (redeliveries are not counted: a retry failing while the receiver is down is not a new failure)",
            gauges.failure_ratio.clone(),
        );
        registry.register(
            "last_scan_deliveries",
            "First deliveries in the hook's last scan (the window since its checkpoint; redeliveries not counted)",
            gauges.deliveries.clone(),
        );
        registry.register(
            "oldest_open_event_age_seconds",
            "How long the oldest event still open after the hook's last scan had been failing (0: none open)",
            gauges.oldest_open_age.clone(),
        );
        registry.register(
            "last_run_events",
            "Events by state after the hook's last run: pending (redelivery accepted, result not listed yet), held_back (receiver down), given_up (given up and still failing in the window)",
            gauges.events.clone(),
        );
        registry.register(
            "last_scan_timestamp_seconds",
            "GitHub's time when the hook's window was last listed to its end (Unix time)",
            gauges.last_scan.clone(),
        );
        gauges
    }

    fn record(&self, hook: &HookReport, labels: &GaugeLabels) {
        let Some(scanned_at) = hook.scanned_at else {
            return;
        };
        self.failure_ratio
            .get_or_create(labels)
            .set(hook.health.failure_rate());
        self.deliveries
            .get_or_create(labels)
            .set(i64::try_from(hook.health.deliveries()).unwrap_or(i64::MAX));
        let age = hook.oldest_open_age().unwrap_or_default();
        self.oldest_open_age
            .get_or_create(labels)
            .set(age.num_milliseconds() as f64 / 1000.0);
        let given_up = hook.found.given_up.len() + hook.found.already_given_up;
        for (state, count) in [
            // Earlier runs' redeliveries not listed yet, and this run's (as `pending-count`).
            ("pending", hook.found.pending.len() + hook.awaiting_results),
            ("held_back", hook.held_back.len()),
            ("given_up", given_up),
        ] {
            self.events
                .get_or_create(&StateLabels {
                    hook: labels.hook.clone(),
                    receiver: labels.receiver.clone(),
                    state: state.to_owned(),
                })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        self.last_scan
            .get_or_create(labels)
            .set(scanned_at.timestamp_millis() as f64 / 1000.0);
    }
}

/// The metrics of the requests to GitHub: by kind and answer class, and rate-limit waits.
fn register_github_metrics(
    registry: &mut Registry,
) -> (Family<RequestLabels, Counter>, Counter, FloatCounter) {
    let requests = Family::<RequestLabels, Counter>::default();
    registry.register(
        "github_requests",
        "Requests sent to GitHub, by kind (list, redeliver, other) and the class of the answer (2xx ... 5xx, other, none: no answer)",
        requests.clone(),
    );
    let rate_limit_waits = Counter::default();
    registry.register(
        "rate_limit_waits",
        "Waits for GitHub's rate limits",
        rate_limit_waits.clone(),
    );
    let rate_limit_wait_seconds = FloatCounter::default();
    registry.register(
        "rate_limit_wait_seconds",
        "Time spent waiting for GitHub's rate limits",
        rate_limit_wait_seconds.clone(),
    );
    (requests, rate_limit_waits, rate_limit_wait_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_run_adds_to_the_counters() {
        let metrics = Metrics::new();
        let mut report = RunReport::stopped_before_scan(false, 3, "boom".to_owned());
        report.requests.rate_limit_waits = 2;
        report.requests.rate_limit_waited = Duration::from_millis(1500);
        metrics.record(&report, Duration::from_secs(2), DateTime::UNIX_EPOCH);
        metrics.record(&report, Duration::from_secs(2), DateTime::UNIX_EPOCH);
        metrics.record_busy(Duration::from_millis(5));
        let text = metrics.encode().expect("encodes");
        for line in [
            "redeliver_runs_total{result=\"failure\"} 2",
            "redeliver_runs_total{result=\"busy\"} 1",
            "redeliver_run_duration_seconds_count 3",
            "redeliver_rate_limit_waits_total 4",
            "redeliver_rate_limit_wait_seconds_total 3.0",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
    }

    #[test]
    fn a_scanned_hook_sets_its_health_gauges_and_a_failed_listing_keeps_them() {
        let at = |text: &str| {
            text.parse::<chrono::DateTime<chrono::Utc>>()
                .expect("a time")
        };
        let mut hook = HookReport::new("app".to_owned(), at("2026-11-28T10:00:00Z"), None);
        hook.scanned_at = Some(at("2026-11-28T12:00:00Z"));
        hook.oldest_open_at = Some(at("2026-11-28T11:00:00Z"));
        hook.found.already_given_up = 2;
        hook.awaiting_results = 1;
        let mut report = RunReport::stopped_before_scan(false, 3, String::new());
        report.errors.clear();
        report.hooks.push(hook.clone());
        let metrics = Metrics::new();
        metrics.record(&report, Duration::from_secs(1), DateTime::UNIX_EPOCH);
        // A later run whose listing failed: the gauges keep what the last scan said.
        report.hooks[0].scanned_at = None;
        metrics.record(&report, Duration::from_secs(1), DateTime::UNIX_EPOCH);
        let text = metrics.encode().expect("encodes");
        for line in [
            "redeliver_delivery_failure_ratio{hook=\"app\",receiver=\"\"} 0.0",
            "redeliver_last_scan_deliveries{hook=\"app\",receiver=\"\"} 0",
            "redeliver_oldest_open_event_age_seconds{hook=\"app\",receiver=\"\"} 3600.0",
            "redeliver_last_run_events{hook=\"app\",receiver=\"\",state=\"pending\"} 1",
            "redeliver_last_run_events{hook=\"app\",receiver=\"\",state=\"given_up\"} 2",
            "redeliver_last_scan_timestamp_seconds{hook=\"app\",receiver=\"\"} 1795867200.0",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
    }
}
