//! GitHub's REST API as this tool uses it, one module per area. Each owns its routes, its
//! request bodies, the credential it needs and the advice its errors carry; the transport
//! underneath (authentication, retries, rate limits) is [`crate::github::client`].
//!
//! Every request and answer of the test suite is checked against GitHub's OpenAPI
//! description of these operations (`crates/fake-github/openapi`).

pub mod app_auth;
pub mod client;
pub mod deliveries;
pub mod hooks;
pub mod installations;
pub mod repositories;
pub mod variables;

mod pages;

pub use pages::Pages;

use std::fmt;

/// A repository, `owner/name`, split once where it is read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Repo {
    pub owner: String,
    pub name: String,
}

impl fmt::Display for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}
