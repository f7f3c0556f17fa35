//! Delivery health: what the deliveries a run lists anyway say about the receiver.
//!
//! The scan reads every delivery of the window, so it knows more about a receiver's health
//! than any page a person can look at: when it fell over and came back, why deliveries
//! failed, how long they took. [`DeliveryHealth`] keeps that as the planner observes each
//! delivery, with no request of its own and in bounded memory, whatever the window holds:
//!
//! **The figures count first deliveries**: GitHub's own send of each event when it happened
//! (`redelivery: false`). A redelivery is a second try at an event that already failed: one
//! that fails while the receiver is down is the same outage seen again, not a new failure,
//! and one that succeeds is the recovery, not new traffic. Counting them would make a run
//! after an outage look worse than the outage (its canaries and retries add failures) and
//! would let a tool's own retries move the failure share. Redeliveries are counted apart
//! (`redeliveries`, `redelivery_failures`) and drawn nowhere.
//!
//! Per first delivery it keeps
//! counts per hour (bounded by [`MAX_HOURS`]), counts per failure cause and event (bounded by
//! [`MAX_CAUSES`]) and a log-bucketed histogram of durations (at most [`DURATION_BUCKETS`]
//! buckets) for p50/p95 within half a percent. No delivery is kept.
//!
//! Pure like the planner: no clock, no I/O; the time a figure refers to is the caller's.

use std::collections::BTreeMap;

use serde::ser::{Serialize, SerializeMap, SerializeStruct, Serializer};

use crate::domain::delivery::Delivery;

/// Hour buckets kept: past GitHub's longest retention (7 days on GHES, at most 90 configured)
/// with room. A window never needs more; a hostile list with deliveries spread over years
/// stops filling buckets here (the totals still count them).
pub const MAX_HOURS: usize = 91 * 24;

/// Distinct (cause, event) pairs kept; past it, failures count under [`OTHER`]. GitHub's
/// causes are a handful and events a few dozen; the bound is against hostile answers.
pub const MAX_CAUSES: usize = 100;

/// Where failures go once [`MAX_CAUSES`] pairs are kept, as cause and as event.
pub const OTHER: &str = "other";

/// Ratio between two bucket bounds of the duration histogram: a value is known within half
/// a percent of itself, and an hour is 1,518 buckets above a millisecond.
const DURATION_RATIO: f64 = 1.01;

/// The most duration buckets: up to an hour (longer durations are counted as an hour).
pub const DURATION_BUCKETS: usize = 1_519;

/// Deliveries and failures in one hour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HourCounts {
    pub deliveries: u64,
    pub failures: u64,
}

/// The health of one hook's deliveries in a scanned window (or of several hooks, merged).
/// Every figure counts first deliveries only, but `redeliveries` and `redelivery_failures`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryHealth {
    /// First deliveries (`redelivery: false`).
    deliveries: u64,
    /// First deliveries that failed.
    failures: u64,
    /// Redeliveries listed in the window (by this tool, a person or a script).
    redeliveries: u64,
    /// Redeliveries that failed.
    redelivery_failures: u64,
    /// By hour since the Unix epoch.
    hours: BTreeMap<i64, HourCounts>,
    causes: BTreeMap<(String, String), u64>,
    durations: DurationHistogram,
}

/// The failure cause GitHub's delivery shows: `HTTP 503` for any answer that was not a 2xx
/// (GitHub follows no redirect, so a 3xx is one too), else GitHub's own words for a delivery
/// without an answer (`timed out`, `failed to connect`, ...), cut to 60 characters.
pub fn failure_cause(status: &str, status_code: u16) -> String {
    if status_code != 0 {
        return format!("HTTP {status_code}");
    }
    let status = status.trim();
    if status.is_empty() {
        return "no answer".to_owned();
    }
    status.chars().take(60).collect()
}

impl DeliveryHealth {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one delivery of the window: a first delivery to every figure, a redelivery only
    /// to the redelivery counts.
    pub fn observe(&mut self, delivery: &Delivery) {
        let failed = !delivery.is_ok();
        if delivery.redelivery {
            self.redeliveries += 1;
            self.redelivery_failures += u64::from(failed);
            return;
        }
        self.deliveries += 1;
        self.failures += u64::from(failed);
        let hour = delivery.delivered_at.timestamp().div_euclid(3600);
        if self.hours.len() < MAX_HOURS || self.hours.contains_key(&hour) {
            let counts = self.hours.entry(hour).or_default();
            counts.deliveries += 1;
            counts.failures += u64::from(failed);
        }
        if failed {
            let key = (
                failure_cause(&delivery.status, delivery.status_code),
                delivery.event.chars().take(60).collect::<String>(),
            );
            self.count_cause(key, 1);
        }
        if let Some(seconds) = delivery.duration {
            self.durations.observe(seconds);
        }
    }

    fn count_cause(&mut self, key: (String, String), count: u64) {
        let key = if self.causes.len() < MAX_CAUSES || self.causes.contains_key(&key) {
            key
        } else {
            (OTHER.to_owned(), OTHER.to_owned())
        };
        *self.causes.entry(key).or_default() += count;
    }

    /// Adds another window's health to this one (several hooks in one chart or output).
    pub fn merge(&mut self, other: &DeliveryHealth) {
        self.deliveries += other.deliveries;
        self.failures += other.failures;
        self.redeliveries += other.redeliveries;
        self.redelivery_failures += other.redelivery_failures;
        for (hour, counts) in &other.hours {
            if self.hours.len() < MAX_HOURS || self.hours.contains_key(hour) {
                let mine = self.hours.entry(*hour).or_default();
                mine.deliveries += counts.deliveries;
                mine.failures += counts.failures;
            }
        }
        for (key, count) in &other.causes {
            self.count_cause(key.clone(), *count);
        }
        self.durations.merge(&other.durations);
    }

    /// First deliveries.
    pub fn deliveries(&self) -> u64 {
        self.deliveries
    }

    /// First deliveries that failed.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// Redeliveries listed in the window, counted apart from the figures.
    pub fn redeliveries(&self) -> u64 {
        self.redeliveries
    }

    /// Redeliveries that failed.
    pub fn redelivery_failures(&self) -> u64 {
        self.redelivery_failures
    }

    /// The share of first deliveries that failed, 0 to 1 (0 when there were none).
    pub fn failure_rate(&self) -> f64 {
        if self.deliveries == 0 {
            0.0
        } else {
            self.failures as f64 / self.deliveries as f64
        }
    }

    /// The first deliveries of an hour, numbered from the Unix epoch
    /// (`timestamp().div_euclid(3600)`): zero when nothing was delivered then.
    pub fn hour(&self, hour: i64) -> HourCounts {
        self.hours.get(&hour).copied().unwrap_or_default()
    }

    /// Failures by (cause, event), most first (then by cause and event).
    pub fn causes(&self) -> Vec<(&str, &str, u64)> {
        let mut causes: Vec<(&str, &str, u64)> = self
            .causes
            .iter()
            .map(|((cause, event), count)| (cause.as_str(), event.as_str(), *count))
            .collect();
        causes.sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
        causes
    }

    /// Failures by cause alone, over all events.
    pub fn causes_total(&self) -> BTreeMap<&str, u64> {
        let mut totals = BTreeMap::new();
        for ((cause, _), count) in &self.causes {
            *totals.entry(cause.as_str()).or_default() += count;
        }
        totals
    }

    /// The `q` quantile (0.5 for the median) of the deliveries' `duration`, in seconds; `None`
    /// when no delivery had one.
    pub fn duration_quantile(&self, q: f64) -> Option<f64> {
        self.durations.quantile(q)
    }
}

/// `health` in the JSON report and the `health` output: counts of first deliveries, their
/// failure share, failures by cause (and by cause and event), p50/p95 of `duration`, and the
/// redeliveries apart. Hour buckets are left out: the summary's chart shows them, and a
/// fleet's report must stay small.
impl Serialize for DeliveryHealth {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Totals<'a>(&'a DeliveryHealth);
        impl Serialize for Totals<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let totals = self.0.causes_total();
                let mut map = serializer.serialize_map(Some(totals.len()))?;
                for (cause, count) in totals {
                    map.serialize_entry(cause, &count)?;
                }
                map.end()
            }
        }
        #[derive(serde::Serialize)]
        struct ByEvent<'a> {
            cause: &'a str,
            event: &'a str,
            count: u64,
        }
        let by_event: Vec<ByEvent> = self
            .causes()
            .into_iter()
            .map(|(cause, event, count)| ByEvent {
                cause,
                event,
                count,
            })
            .collect();
        let mut health = serializer.serialize_struct("DeliveryHealth", 9)?;
        health.serialize_field("deliveries", &self.deliveries)?;
        health.serialize_field("failures", &self.failures)?;
        health.serialize_field("failure_rate", &round(self.failure_rate(), 4))?;
        health.serialize_field("redeliveries", &self.redeliveries)?;
        health.serialize_field("redelivery_failures", &self.redelivery_failures)?;
        health.serialize_field("causes", &Totals(self))?;
        health.serialize_field("causes_by_event", &by_event)?;
        let quantile = |q| self.duration_quantile(q).map(|s| round(s, 3));
        health.serialize_field("duration_p50_seconds", &quantile(0.5))?;
        health.serialize_field("duration_p95_seconds", &quantile(0.95))?;
        health.end()
    }
}

/// `value` rounded to `digits` decimals.
pub fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// Durations in logarithmic buckets from a millisecond to an hour, each holding its count
/// and sum: a quantile is its bucket's mean, exact when the bucket's values are equal and
/// within half a percent otherwise.
#[derive(Debug, Clone, Default, PartialEq)]
struct DurationHistogram {
    buckets: BTreeMap<u16, (u64, f64)>,
    count: u64,
}

impl DurationHistogram {
    fn observe(&mut self, seconds: f64) {
        if !seconds.is_finite() || seconds < 0.0 {
            return;
        }
        let seconds = seconds.min(3600.0);
        let bucket = Self::bucket(seconds);
        let entry = self.buckets.entry(bucket).or_default();
        entry.0 += 1;
        entry.1 += seconds;
        self.count += 1;
    }

    /// 0 for under a millisecond; then one bucket per factor [`DURATION_RATIO`].
    fn bucket(seconds: f64) -> u16 {
        let millis = seconds * 1000.0;
        if millis < 1.0 {
            return 0;
        }
        let index = (millis.ln() / DURATION_RATIO.ln()).floor() as usize + 1;
        // At most DURATION_BUCKETS - 1 (an hour is bucket 1,518), so it fits.
        index.min(DURATION_BUCKETS - 1) as u16
    }

    fn merge(&mut self, other: &DurationHistogram) {
        for (bucket, (count, sum)) in &other.buckets {
            let entry = self.buckets.entry(*bucket).or_default();
            entry.0 += count;
            entry.1 += sum;
        }
        self.count += other.count;
    }

    /// The nearest-rank quantile: the bucket holding the `ceil(q × n)`-th duration.
    fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (count, sum) in self.buckets.values() {
            seen += count;
            if seen >= rank {
                return Some(sum / *count as f64);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use chrono::{DateTime, TimeZone, Utc};

    use super::*;

    fn delivery(at: DateTime<Utc>, status: &str, code: u16, duration: f64) -> Delivery<'static> {
        Delivery {
            id: crate::domain::delivery::DeliveryId(1),
            guid: Cow::Borrowed("g"),
            delivered_at: at,
            redelivery: false,
            status: Cow::Owned(status.to_owned()),
            status_code: code,
            event: Cow::Borrowed("push"),
            action: None,
            duration: Some(duration),
        }
    }

    #[test]
    fn counts_per_hour_causes_and_durations() {
        let t = Utc.with_ymd_and_hms(2026, 11, 28, 10, 30, 0).unwrap();
        let mut health = DeliveryHealth::new();
        health.observe(&delivery(t, "OK", 200, 0.5));
        health.observe(&delivery(t, "timed out", 0, 10.0));
        health.observe(&delivery(
            t + chrono::Duration::hours(1),
            "Invalid HTTP Response: 503",
            503,
            0.2,
        ));
        assert_eq!(health.deliveries(), 3);
        assert_eq!(health.failures(), 2);
        let hour = Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap();
        assert_eq!(
            health.hour(hour.timestamp() / 3600),
            HourCounts {
                deliveries: 2,
                failures: 1
            }
        );
        assert_eq!(health.causes()[0].2, 1);
        assert_eq!(
            health.causes_total().into_iter().collect::<Vec<_>>(),
            [("HTTP 503", 1), ("timed out", 1)]
        );
        assert_eq!(health.duration_quantile(0.5), Some(0.5));
        assert_eq!(health.duration_quantile(0.95), Some(10.0));
    }

    #[test]
    fn redeliveries_are_counted_apart_from_the_first_deliveries() {
        let t = Utc.with_ymd_and_hms(2026, 12, 7, 6, 0, 0).unwrap();
        let mut health = DeliveryHealth::new();
        health.observe(&delivery(t, "failed to connect", 0, 0.01));
        // The receiver still down: a canary fails; then it is back: the retry is delivered.
        for (status, code) in [("failed to connect", 0), ("OK", 200)] {
            let mut retry = delivery(t + chrono::Duration::hours(2), status, code, 0.3);
            retry.redelivery = true;
            health.observe(&retry);
        }
        assert_eq!((health.deliveries(), health.failures()), (1, 1));
        assert_eq!(
            (health.redeliveries(), health.redelivery_failures()),
            (2, 1)
        );
        assert_eq!(health.failure_rate(), 1.0);
        let later = (t + chrono::Duration::hours(2)).timestamp() / 3600;
        assert_eq!(health.hour(later), HourCounts::default());
        assert_eq!(health.causes_total()["failed to connect"], 1);
        assert_eq!(health.duration_quantile(0.95), Some(0.01));
        let mut merged = DeliveryHealth::new();
        merged.merge(&health);
        merged.merge(&health);
        assert_eq!(
            (merged.redeliveries(), merged.redelivery_failures()),
            (4, 2)
        );
    }

    #[test]
    fn quantiles_are_within_half_a_percent() {
        let mut histogram = DurationHistogram::default();
        for millis in 1..=10_000 {
            histogram.observe(f64::from(millis) / 1000.0);
        }
        for (q, exact) in [(0.5, 5.0), (0.95, 9.5), (0.01, 0.1)] {
            let estimate = histogram.quantile(q).expect("durations");
            assert!((estimate - exact).abs() / exact < 0.005, "{q}: {estimate}");
        }
        assert!(histogram.buckets.len() < DURATION_BUCKETS);
        histogram.observe(1e9);
        histogram.observe(f64::NAN);
        histogram.observe(-1.0);
        assert_eq!(histogram.count, 10_001);
        assert_eq!(
            DurationHistogram::bucket(3600.0) as usize,
            DURATION_BUCKETS - 1
        );
    }

    #[test]
    fn memory_is_bounded_whatever_the_answers() {
        let mut health = DeliveryHealth::new();
        let start = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
        for index in 0..(MAX_HOURS as i64 + 500) {
            let mut failed = delivery(
                start + chrono::Duration::hours(index),
                &format!("weird {index}"),
                0,
                f64::from(index as u32),
            );
            failed.event = Cow::Owned(format!("event-{index}"));
            health.observe(&failed);
        }
        assert_eq!(health.hours.len(), MAX_HOURS);
        assert_eq!(health.causes.len(), MAX_CAUSES + 1);
        assert_eq!(health.failures(), MAX_HOURS as u64 + 500);
        let other: u64 = health.causes_total()[OTHER];
        assert_eq!(other, MAX_HOURS as u64 + 500 - MAX_CAUSES as u64);
    }

    #[test]
    fn causes_name_the_status_or_github_s_words() {
        assert_eq!(failure_cause("Invalid HTTP Response: 503", 503), "HTTP 503");
        assert_eq!(failure_cause("Invalid HTTP Response: 301", 301), "HTTP 301");
        assert_eq!(failure_cause("timed out", 0), "timed out");
        assert_eq!(failure_cause("failed to connect", 0), "failed to connect");
        assert_eq!(failure_cause("  ", 0), "no answer");
        assert_eq!(failure_cause(&"x".repeat(100), 0).len(), 60);
    }
}
