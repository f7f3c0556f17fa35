//! A receiver: the URL a hook delivers to (its `config.url`). Many hooks of a fleet share
//! one, so an outage is a receiver's, and the tool judges health per receiver.
//!
//! A hook URL can hold a secret (`user:pass@`, `?token=…`, a token as a path segment, as
//! chat webhooks do), so a receiver read from GitHub is never shown or stored whole: it is
//! shown as its scheme and host plus the first 4 hex digits of a SHA-256 of the whole URL
//! (`https://ci.example.test …3f9a`), which keeps two receivers on one host apart, and
//! keyed in the checkpoint by the first 12.

use std::fmt;

use aws_lc_rs::digest::{SHA256, digest};

/// Hex digits of the fingerprint the document keys a receiver by.
const KEY_DIGITS: usize = 12;
/// Hex digits of the fingerprint shown.
const SHOWN_DIGITS: usize = 4;

/// Where a hook delivers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Receiver {
    /// The checkpoint's key: 12 hex digits of the URL's SHA-256; for a hook whose URL could
    /// not be read, `hook:<key>` (it is a receiver of its own).
    key: String,
    /// How logs, the summary, outputs and metrics name it.
    shown: String,
}

impl Receiver {
    /// The receiver at `url`, as GitHub lists it.
    pub fn from_url(url: &str) -> Self {
        let hash = digest(&SHA256, url.as_bytes());
        let hex: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        Self {
            shown: format!("{} …{}", origin(url), &hex[..SHOWN_DIGITS]),
            key: hex[..KEY_DIGITS].to_owned(),
        }
    }

    /// A hook whose URL could not be read is a receiver of its own, named by the hook.
    pub fn of_hook(hook_key: &str) -> Self {
        Self {
            key: format!("hook:{hook_key}"),
            shown: format!("the receiver of `{hook_key}`"),
        }
    }

    /// The key of its entry in the checkpoint document.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Its shown form: scheme and host, and a short fingerprint of the whole URL.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

impl fmt::Display for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// `scheme://host[:port]` of `url`, without user information, path, query or fragment;
/// `receiver` when the URL has no scheme.
fn origin(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "receiver".to_owned();
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_a_url_are_never_shown_and_two_receivers_on_one_host_stay_apart() {
        let chat =
            Receiver::from_url("https://user:pa55@Chat.Example.test/hooks/T0KEN123?token=abc#x");
        assert!(
            chat.shown().starts_with("https://chat.example.test …"),
            "{chat}"
        );
        for secret in ["user", "pa55", "T0KEN123", "abc", "hooks"] {
            assert!(!chat.shown().contains(secret), "{chat}");
            assert!(!chat.key().contains(secret));
        }
        let other = Receiver::from_url("https://chat.example.test/hooks/OTHER");
        assert_ne!(chat.key(), other.key());
        assert_ne!(chat.shown(), other.shown());
        assert_eq!(chat.key().len(), KEY_DIGITS);
        assert_eq!(
            Receiver::from_url("https://ci.example.test/hook"),
            Receiver::from_url("https://ci.example.test/hook")
        );
        assert_eq!(
            Receiver::from_url("not a url").shown().split(' ').next(),
            Some("receiver")
        );
        assert_eq!(Receiver::of_hook("app").key(), "hook:app");
    }
}
