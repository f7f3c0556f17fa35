//! The fake's state: what never changes after the start and the counters read without a
//! lock (`Shared`), and everything else behind its one lock (`Inner`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value};

use crate::apps::{Grant, Installation};
use crate::clock::WallClock;
use crate::deliveries::{HookData, RedeliveryHook};
use crate::faults::FaultSlot;
use crate::variables::Variable;
use crate::{
    ContentLimit, FakeToken, Hook, MintedToken, RecordedRequest, Redelivery, contract, fleet,
};

pub(crate) struct Shared {
    pub(crate) origin: String,
    pub(crate) prefix: String,
    pub(crate) app_id: u64,
    pub(crate) client_id: String,
    pub(crate) decoding_key: DecodingKey,
    pub(crate) latency_nanos: AtomicU64,
    /// Requests being answered now, and the most there were at once.
    pub(crate) in_flight: AtomicUsize,
    pub(crate) max_in_flight: AtomicUsize,
    /// How far this GitHub's clock is from the machine's, in milliseconds (see
    /// [`FakeGitHub::set_clock_offset`]).
    pub(crate) clock_offset_millis: AtomicI64,
    /// Where this GitHub's time comes from: the machine's clock, or a test's simulated one
    /// (see [`FakeGitHub::use_clock`]).
    pub(crate) clock: Mutex<Option<WallClock>>,
    /// Called with the number of redeliveries accepted so far, after each one.
    pub(crate) on_redelivery: Mutex<Option<RedeliveryHook>>,
    pub(crate) rate_reset: i64,
    pub(crate) inner: Mutex<Inner>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("fake GitHub state lock poisoned")
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_nanos.load(Ordering::Relaxed))
    }

    /// GitHub's description for this fake: GHES's under `/api/v3`, github.com's otherwise.
    pub(crate) fn contract(&self) -> &'static contract::Contract {
        if self.prefix.is_empty() {
            &contract::GITHUB_COM
        } else {
            &contract::GHES
        }
    }

    /// The path without the prefix; the full path when it is not under the prefix.
    pub(crate) fn strip_prefix<'a>(&self, full_path: &'a str) -> (&'a str, bool) {
        if self.prefix.is_empty() {
            return (full_path, true);
        }
        match full_path.strip_prefix(self.prefix.as_str()) {
            Some(rest) if rest.starts_with('/') => (rest, true),
            _ => (full_path, false),
        }
    }
}

#[derive(Default)]
pub(crate) struct Inner {
    pub(crate) hooks: HashMap<Hook, HookData>,
    pub(crate) next_id: u64,
    pub(crate) redeliveries: Vec<Redelivery>,
    pub(crate) failing_guids: HashSet<String>,
    /// Events the receiver refuses with 400 every time (poison events).
    pub(crate) refused_guids: HashSet<String>,
    pub(crate) receiver_down: bool,
    /// The receiver falls over after this many accepted redeliveries.
    pub(crate) receiver_down_after: Option<usize>,
    /// How long after a 202 the redelivery's result is listed.
    pub(crate) redelivery_result_delay: Duration,
    /// Hooks that exist besides those with deliveries (the App's always does).
    pub(crate) registered_hooks: HashSet<Hook>,
    /// Receiver URLs (`config.url`) of hooks, by key; others get a made-up one.
    pub(crate) hook_urls: HashMap<Hook, String>,
    /// repo (lower case) -> NAME (upper case) -> variable
    pub(crate) variables: HashMap<String, BTreeMap<String, Variable>>,
    pub(crate) tokens: HashMap<String, FakeToken>,
    /// repo (lower case) -> installation
    pub(crate) installations: HashMap<String, Installation>,
    pub(crate) installation_permissions: HashMap<u64, Map<String, Value>>,
    /// repo (lower case) -> repository: every repository something names.
    pub(crate) repositories: BTreeMap<String, fleet::RepoData>,
    /// Accounts (lower case) that are users, not organizations.
    pub(crate) users: HashSet<String>,
    /// Installations on a whole account: account (lower case) -> (login, installation id).
    pub(crate) account_installations: HashMap<String, (String, u64)>,
    pub(crate) minted: Vec<MintedToken>,
    pub(crate) grants: HashMap<String, Grant>,
    pub(crate) requests: Vec<RecordedRequest>,
    pub(crate) unexpected: Vec<RecordedRequest>,
    /// What broke GitHub's description, in requests and in the fake's own answers.
    pub(crate) contract_violations: Vec<String>,
    pub(crate) faults: Vec<FaultSlot>,
    pub(crate) rate_used: u64,
    pub(crate) content_limit: Option<ContentLimit>,
    /// When the redeliveries of the content limit's window were accepted, oldest first.
    pub(crate) content_sent: std::collections::VecDeque<DateTime<Utc>>,
    pub(crate) content_refusals: usize,
}
