//! Webhook deliveries of the three hook scopes: the listing (cursor pages, newest first,
//! retention) and redeliveries (queued, their results listed later).

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::clock::{rfc3339, whole_seconds};
use crate::faults::content_limit_reply;
use crate::http::reply::Reply;
use crate::http::{Ctx, api_base};
use crate::state::{Inner, Shared};
use crate::{
    BIG_ID_BASE, DEFAULT_PER_PAGE, FakeGitHub, Hook, MAX_PER_PAGE, NewDelivery, Outcome,
    RETENTION_DAYS, Redelivery, parse_query,
};

/// A delivery's position: (delivered_at in whole seconds, id). The listing is these keys in
/// descending order; a cursor is the key of the last item of a page, so the next page starts
/// strictly after it, whatever was inserted in the meantime.
type DeliveryKey = (i64, u64);

pub(crate) struct HookData {
    /// The hook as first given (for [`Redelivery::hook`]).
    hook: Hook,
    by_key: BTreeMap<DeliveryKey, Delivery>,
    by_id: HashMap<u64, DeliveryKey>,
}

#[derive(Clone, Debug)]
struct Delivery {
    id: u64,
    guid: String,
    delivered_at: DateTime<Utc>,
    redelivery: bool,
    outcome: Outcome,
    event: String,
    action: Option<String>,
    installation_id: Option<u64>,
    repository_id: Option<u64>,
    /// `None`: what the outcome usually takes.
    duration: Option<f64>,
    /// A redelivery is queued: GitHub lists its result only once the receiver answered
    /// (or its 10 s ran out).
    listed_from: DateTime<Utc>,
}

impl Delivery {
    fn to_json(&self) -> Value {
        let (status, status_code) = self.outcome.status();
        let duration = self.duration.unwrap_or(match self.outcome {
            Outcome::TimedOut => 10.0,
            Outcome::FailedToConnect => 0.01,
            _ => 0.5,
        });
        json!({
            "id": self.id,
            "guid": self.guid,
            "delivered_at": rfc3339(self.delivered_at),
            "redelivery": self.redelivery,
            "duration": duration,
            "status": status,
            "status_code": status_code,
            "event": self.event,
            "action": self.action,
            "installation_id": self.installation_id,
            "repository_id": self.repository_id,
        })
    }
}

/// Called after each accepted redelivery (see [`FakeGitHub::on_redelivery`]).
pub(crate) type RedeliveryHook = Arc<dyn Fn(usize) + Send + Sync>;

impl Inner {
    fn alloc_id(&mut self) -> u64 {
        if self.next_id < BIG_ID_BASE {
            self.next_id = BIG_ID_BASE;
        }
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn add_delivery(&mut self, hook: &Hook, new: NewDelivery) -> u64 {
        self.ensure_hook_repository(hook);
        let id = match new.id {
            Some(id) => {
                if id >= self.next_id && id >= BIG_ID_BASE {
                    self.next_id = id + 1;
                }
                id
            }
            None => self.alloc_id(),
        };
        let delivered_at = whole_seconds(new.delivered_at);
        let delivery = Delivery {
            id,
            guid: new.guid,
            delivered_at,
            redelivery: new.redelivery,
            outcome: new.outcome,
            event: new.event,
            action: new.action,
            installation_id: matches!(hook, Hook::App).then_some(1),
            repository_id: matches!(hook, Hook::Repo { .. }).then_some(1),
            duration: new.duration,
            listed_from: delivered_at,
        };
        self.insert(hook, delivery);
        id
    }

    fn insert(&mut self, hook: &Hook, delivery: Delivery) {
        let data = self.hooks.entry(hook.key()).or_insert_with(|| HookData {
            hook: hook.clone(),
            by_key: BTreeMap::new(),
            by_id: HashMap::new(),
        });
        let key = (delivery.delivered_at.timestamp(), delivery.id);
        assert!(
            !data.by_id.contains_key(&delivery.id),
            "delivery id {} is already on {:?}",
            delivery.id,
            data.hook
        );
        data.by_id.insert(delivery.id, key);
        data.by_key.insert(key, delivery);
    }
}

fn encode_cursor(key: DeliveryKey) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1:{}:{}", key.0, key.1))
}

fn decode_cursor(cursor: &str) -> Option<DeliveryKey> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut parts = text.split(':');
    if parts.next()? != "v1" {
        return None;
    }
    let secs = parts.next()?.parse::<i64>().ok()?;
    let id = parts.next()?.parse::<u64>().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((secs, id))
}

pub(crate) fn list_deliveries(shared: &Shared, inner: &Inner, hook: &Hook, ctx: &Ctx<'_>) -> Reply {
    let doc = hook.doc();
    let mut per_page = DEFAULT_PER_PAGE;
    let mut cursor: Option<String> = None;
    for (name, value) in parse_query(ctx.query) {
        match name.as_str() {
            "per_page" => match value.parse::<u64>() {
                Ok(n) if n >= 1 => per_page = n.min(MAX_PER_PAGE as u64) as usize,
                _ => return Reply::validation_failed(doc, "Hook", "per_page", "invalid"),
            },
            "cursor" => cursor = Some(value),
            _ => {}
        }
    }
    let data = inner.hooks.get(&hook.key());
    if data.is_none() && !inner.hook_exists(hook) {
        return Reply::not_found(doc);
    }
    let upper = match cursor.as_deref() {
        None => Bound::Unbounded,
        Some(cursor) => {
            let known = decode_cursor(cursor)
                .filter(|key| data.is_some_and(|d| d.by_key.contains_key(key)));
            match known {
                Some(key) => Bound::Excluded(key),
                None => return Reply::validation_failed(doc, "Hook", "cursor", "invalid"),
            }
        }
    };
    let Some(data) = data else {
        return Reply {
            body: Some("[]".to_owned()),
            ..Reply::empty(200)
        };
    };
    let mut items = data
        .by_key
        .range((Bound::Unbounded, upper))
        .rev()
        .filter(|(_, delivery)| delivery.listed_from <= ctx.now)
        // GitHub keeps deliveries for its retention, then they are gone from the list too.
        .filter(|(_, delivery)| ctx.now - delivery.delivered_at <= TimeDelta::days(RETENTION_DAYS));
    let page: Vec<(&DeliveryKey, &Delivery)> = items.by_ref().take(per_page).collect();
    let more = items.next().is_some();
    let body = Value::Array(page.iter().map(|(_, d)| d.to_json()).collect());
    let mut reply = Reply::json(200, &body);
    if let (true, Some((last, _))) = (more, page.last()) {
        reply.headers.push((
            "link",
            format!(
                "<{}{}?per_page={}&cursor={}>; rel=\"next\"",
                api_base(shared, ctx),
                ctx.path,
                per_page,
                encode_cursor(**last)
            ),
        ));
    }
    reply
}

pub(crate) fn redeliver(
    shared: &Shared,
    inner: &mut Inner,
    hook: &Hook,
    id: &str,
    ctx: &Ctx<'_>,
) -> Reply {
    if let Some(reply) = content_limit_reply(inner, ctx.now) {
        return reply;
    }
    let doc = hook.doc();
    let Ok(id) = id.parse::<u64>() else {
        return Reply::not_found(doc);
    };
    let key = hook.key();
    let Some(data) = inner.hooks.get(&key) else {
        return Reply::not_found(doc);
    };
    let Some(original) = data.by_id.get(&id).and_then(|k| data.by_key.get(k)) else {
        return Reply::not_found(doc);
    };
    if ctx.now - original.delivered_at > TimeDelta::days(RETENTION_DAYS) {
        return Reply::validation_failed(doc, "Hook", "delivery", "invalid");
    }
    let original = original.clone();
    let registered_hook = data.hook.clone();
    let falls_over = inner
        .receiver_down_after
        .is_some_and(|after| inner.redeliveries.len() >= after);
    let outcome = if inner.receiver_down || falls_over {
        Outcome::FailedToConnect
    } else if inner.refused_guids.contains(&original.guid) {
        Outcome::HttpStatus(400)
    } else if inner.failing_guids.contains(&original.guid) {
        Outcome::HttpStatus(500)
    } else {
        Outcome::Delivered(200)
    };
    let new_id = inner.alloc_id();
    let delay = TimeDelta::from_std(inner.redelivery_result_delay).unwrap_or(TimeDelta::zero());
    inner.insert(
        hook,
        Delivery {
            id: new_id,
            delivered_at: whole_seconds(ctx.now),
            redelivery: true,
            outcome,
            duration: None,
            listed_from: ctx.now + delay,
            ..original.clone()
        },
    );
    inner.redeliveries.push(Redelivery {
        hook: registered_hook,
        delivery_id: id,
        guid: original.guid,
    });
    let hook = shared
        .on_redelivery
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    if let Some(hook) = hook {
        hook(inner.redeliveries.len());
    }
    Reply::json(202, &json!({}))
}

impl FakeGitHub {
    /// Calls `hook` with the number of redeliveries accepted so far, after each one is
    /// accepted (a test stops the run under test there, as a SIGTERM would). It runs with
    /// the fake's state locked: it must not call the fake.
    pub fn on_redelivery(&self, hook: impl Fn(usize) + Send + Sync + 'static) {
        *self
            .shared
            .on_redelivery
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::new(hook));
    }

    /// Adds one delivery and returns its id.
    ///
    /// Panics if `delivery.id` is already on that hook.
    pub fn add_delivery(&self, hook: &Hook, delivery: NewDelivery) -> u64 {
        self.shared.lock().add_delivery(hook, delivery)
    }

    /// Adds many deliveries at once (any order; each insertion is O(log n)).
    pub fn add_deliveries(
        &self,
        hook: &Hook,
        deliveries: impl IntoIterator<Item = NewDelivery>,
    ) -> Vec<u64> {
        let mut inner = self.shared.lock();
        deliveries
            .into_iter()
            .map(|d| inner.add_delivery(hook, d))
            .collect()
    }

    /// The hook's deliveries as GitHub lists them now, newest first (queued redeliveries
    /// appear once their result is recorded).
    pub fn deliveries(&self, hook: &Hook) -> Vec<Value> {
        let now = self.shared.now();
        let inner = self.shared.lock();
        match inner.hooks.get(&hook.key()) {
            Some(data) => data
                .by_key
                .values()
                .rev()
                .filter(|delivery| delivery.listed_from <= now)
                .map(Delivery::to_json)
                .collect(),
            None => Vec::new(),
        }
    }

    pub fn delivery_count(&self, hook: &Hook) -> usize {
        let inner = self.shared.lock();
        inner.hooks.get(&hook.key()).map_or(0, |d| d.by_key.len())
    }

    /// Every accepted redelivery request, in order.
    pub fn redeliveries(&self) -> Vec<Redelivery> {
        self.shared.lock().redeliveries.clone()
    }

    /// Redeliveries of this guid produce a failed delivery while `failing`.
    pub fn set_receiver_failing(&self, guid: &str, failing: bool) {
        let mut inner = self.shared.lock();
        if failing {
            inner.failing_guids.insert(guid.to_owned());
        } else {
            inner.failing_guids.remove(guid);
        }
    }

    /// How long after accepting a redelivery (202) its result appears in the list. GitHub
    /// queues it and records it once the receiver answered: within its 10 s timeout (30 s
    /// on GHES). Default: 2 s.
    pub fn set_redelivery_result_delay(&self, delay: Duration) {
        self.shared.lock().redelivery_result_delay = delay;
    }

    /// Lists the results of every redelivery accepted so far, as if their receiver had
    /// answered: what a later run would see (runs are minutes or hours apart).
    pub fn record_queued_results(&self) {
        let now = self.shared.now();
        let mut inner = self.shared.lock();
        for data in inner.hooks.values_mut() {
            for delivery in data.by_key.values_mut() {
                delivery.listed_from = delivery.listed_from.min(now);
            }
        }
    }

    /// The receiver answers 400 to every redelivery of `guid`: an event it cannot take.
    pub fn set_receiver_refusing(&self, guid: &str) {
        self.shared.lock().refused_guids.insert(guid.to_owned());
    }

    /// The receiver falls over once `count` redeliveries were accepted (in all): those
    /// after fail with "failed to connect".
    pub fn set_receiver_down_after(&self, count: usize) {
        self.shared.lock().receiver_down_after = Some(count);
    }

    /// While down, redeliveries are accepted (202) and fail with "failed to connect".
    pub fn set_receiver_down(&self, down: bool) {
        self.shared.lock().receiver_down = down;
    }
}
