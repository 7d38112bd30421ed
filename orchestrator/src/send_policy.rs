//! The send policy in force in this process, and where it came from: read at start (the
//! `--policy` file; else the policy stored by `PUT /api/policy`; else the defaults) and
//! replaced whole by `PUT /api/policy` when it does not come from a file.
//!
//! Invariants: a reader takes one snapshot ([`SendPolicy::get`]) per decision, and an engine
//! pass one for the whole pass (from the send history it loads to its last step), so nothing
//! mixes two policies. A replacement holds [`SendPolicy::change`] from its checks to its swap,
//! and storing a flow holds [`SendPolicy::steady`] from its compile to its commit, so a flow is
//! never stored against a policy that is being replaced.

use std::sync::{Arc, RwLock};

use flows::Policy;

/// Where the policy in force came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The `--policy` file (its path); it cannot be replaced through the API.
    File(String),
    /// Stored by `PUT /api/policy`.
    Stored,
    /// The defaults (with `--default-timezone`).
    Default,
}

impl Source {
    /// As `GET /api/policy` says it: the file's path, `database` or `default`.
    pub fn describe(&self) -> String {
        match self {
            Source::File(path) => path.clone(),
            Source::Stored => "database".into(),
            Source::Default => "default".into(),
        }
    }
}

/// Cheap to clone; every clone sees the same policy.
#[derive(Debug, Clone)]
pub struct SendPolicy {
    current: Arc<RwLock<(Arc<Policy>, Source)>>,
    changing: Arc<tokio::sync::RwLock<()>>,
}

impl SendPolicy {
    pub fn new(policy: Policy, source: Source) -> SendPolicy {
        SendPolicy {
            current: Arc::new(RwLock::new((Arc::new(policy), source))),
            changing: Arc::default(),
        }
    }

    /// The defaults, as tools and benchmarks without a policy use.
    pub fn default_policy() -> SendPolicy {
        SendPolicy::new(Policy::default(), Source::Default)
    }

    /// The policy in force now.
    pub fn get(&self) -> Arc<Policy> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).0.clone()
    }

    /// Where the policy in force came from.
    pub fn source(&self) -> Source {
        self.current.read().unwrap_or_else(|e| e.into_inner()).1.clone()
    }

    /// Held while a flow is compiled against the policy and stored: no replacement meanwhile.
    pub async fn steady(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.changing.read().await
    }

    /// Held by a replacement from its checks to [`SendPolicy::replace`].
    pub async fn change(&self) -> tokio::sync::RwLockWriteGuard<'_, ()> {
        self.changing.write().await
    }

    /// Puts `policy` in force, as stored; call while holding [`SendPolicy::change`].
    pub fn replace(&self, policy: Policy) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = (Arc::new(policy), Source::Stored);
    }
}
