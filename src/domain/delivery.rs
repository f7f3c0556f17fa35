//! One webhook delivery as GitHub's list gives it, read with only the fields this tool
//! needs, and what its failure says.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Whether a failure says the receiver is down (no HTTP answer at all, or a 5xx), rather
/// than that it refused this one event (a 4xx, or a 3xx GitHub does not follow). One event
/// a receiver rejects every time must not pass for a receiver that is down.
pub fn failure_means_down(status_code: u16) -> bool {
    status_code == 0 || (500..600).contains(&status_code)
}

/// A delivery's id: 64 bits end to end (ids passed 2^53 in 2026 and must never go through
/// `f64`), and a type of its own, so that it cannot be passed where a hook's id belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeliveryId(pub u64);

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<DeliveryId> for serde_json::Value {
    fn from(id: DeliveryId) -> Self {
        id.0.into()
    }
}

/// One webhook delivery, with only the fields planning needs, borrowing its strings from
/// the page it was read from where it can.
///
/// The list endpoints return more; see
/// <https://docs.github.com/en/rest/apps/webhooks#list-deliveries-for-an-app-webhook>.
/// `id` is a `u64` end to end: ids passed 2^53 in 2026 and must never go through `f64`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Delivery<'a> {
    pub id: DeliveryId,
    #[serde(borrow)]
    pub guid: Cow<'a, str>,
    #[serde(deserialize_with = "rfc3339::deserialize")]
    pub delivered_at: DateTime<Utc>,
    #[serde(default)]
    pub redelivery: bool,
    #[serde(borrow)]
    pub status: Cow<'a, str>,
    /// The receiver's HTTP status; 0 when there was none (timed out, failed to connect).
    #[serde(default)]
    pub status_code: u16,
    #[serde(borrow)]
    pub event: Cow<'a, str>,
    #[serde(default, borrow)]
    pub action: Option<Cow<'a, str>>,
    /// How long the delivery took, in seconds: only for the summary's delivery health
    /// ([`crate::domain::health::DeliveryHealth`]); GitHub may leave it out.
    #[serde(default)]
    pub duration: Option<f64>,
}

impl Delivery<'_> {
    /// GitHub's `status` is `"OK"` for a delivered event and a description of the failure
    /// otherwise (`"Invalid HTTP Response: 503"`, `"timed out"`, ...).
    pub fn is_ok(&self) -> bool {
        self.status == "OK"
    }
}

/// `delivered_at` through chrono's strict RFC 3339 parser. chrono's own `Deserialize` takes
/// its relaxed `FromStr` path, which costs several times more; at 10,000 deliveries a run
/// that was a tenth of the binary's CPU time. GitHub writes `2019-06-03T00:57:16Z`.
mod rfc3339 {
    use std::fmt;

    use chrono::{DateTime, Utc};
    use serde::Deserializer;
    use serde::de::{Error, Visitor};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        deserializer.deserialize_str(Rfc3339)
    }

    struct Rfc3339;

    impl Visitor<'_> for Rfc3339 {
        type Value = DateTime<Utc>;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("an RFC 3339 timestamp")
        }

        fn visit_str<E: Error>(self, text: &str) -> Result<Self::Value, E> {
            DateTime::parse_from_rfc3339(text)
                .map(|time| time.with_timezone(&Utc))
                .map_err(|error| E::custom(format_args!("`{text}` is not RFC 3339: {error}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::Delivery;

    #[test]
    fn delivered_at_is_read_as_rfc_3339_in_any_offset() {
        let page = br#"[
            {"id": 1, "guid": "a", "delivered_at": "2026-11-28T03:04:49Z", "status": "OK", "event": "push"},
            {"id": 2, "guid": "b", "delivered_at": "2026-11-28T04:04:49+01:00", "status": "OK", "event": "push"},
            {"id": 3, "guid": "c", "delivered_at": "2026-11-28T03:04:49.250Z", "status": "OK", "event": "push"}
        ]"#;
        let deliveries: Vec<Delivery> = serde_json::from_slice(page).expect("a page");
        let expected = Utc.with_ymd_and_hms(2026, 11, 28, 3, 4, 49).unwrap();
        assert_eq!(deliveries[0].delivered_at, expected);
        assert_eq!(deliveries[1].delivered_at, expected);
        assert_eq!(
            deliveries[2].delivered_at,
            expected + chrono::Duration::milliseconds(250)
        );
    }

    #[test]
    fn a_delivered_at_that_is_not_rfc_3339_is_an_error_that_shows_it() {
        let page = br#"[{"id": 1, "guid": "a", "delivered_at": "yesterday", "status": "OK", "event": "push"}]"#;
        let error = serde_json::from_slice::<Vec<Delivery>>(page)
            .expect_err("not a timestamp")
            .to_string();
        assert!(error.contains("`yesterday` is not RFC 3339"), "{error}");
    }
}
