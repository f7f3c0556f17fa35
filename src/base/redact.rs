//! The one redactor: what counts as a secret, and how it is hidden in text that is shown.
//!
//! A secret is hidden line by line (a PEM is many lines, and any one of them may show up
//! alone), trimmed, leaving out lines too short to be worth it. The PEM's armor is hidden
//! too: `-----BEGIN RSA PRIVATE KEY-----` says what the value was. The log ([`crate::base::log::Log::mask`]), the command-line errors
//! ([`crate::config::inputs::Refused::message`]) and the settings' problems all hide through
//! [`Secrets`]; a value that [`looks_like_a_secret`] is never echoed either.

/// Secrets, as the parts of them that are hidden wherever they appear.
#[derive(Debug, Default, Clone)]
pub(crate) struct Secrets {
    /// Parts shorter than this are not hidden (masking them would garble text).
    min_len: usize,
    parts: Vec<String>,
}

/// What an error shows in place of a value that looks like a key or token.
pub(crate) const NOT_SHOWN: &str = "(a value that looks like a key or token, not shown)";

impl Secrets {
    /// No secrets yet; parts shorter than `min_len` are never hidden.
    pub(crate) fn new(min_len: usize) -> Self {
        Self {
            min_len,
            parts: Vec::new(),
        }
    }

    /// Adds `secret`; returns the parts that were not known yet (for the runner's
    /// `::add-mask::`).
    pub(crate) fn add(&mut self, secret: &str) -> Vec<String> {
        let mut added = Vec::new();
        for part in secret
            .lines()
            .map(str::trim)
            .filter(|line| line.len() >= self.min_len)
        {
            if !self.parts.iter().any(|known| known == part) {
                self.parts.push(part.to_owned());
                added.push(part.to_owned());
            }
        }
        added
    }

    /// `text` with every part of every secret replaced by `***`.
    pub(crate) fn hide(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for part in &self.parts {
            if text.contains(part.as_str()) {
                text = text.replace(part.as_str(), "***");
            }
        }
        text
    }

    /// [`Secrets::hide`], and every `` `quoted` `` value that [`looks_like_a_secret`]
    /// replaced by [`NOT_SHOWN`] (without its quotes).
    pub(crate) fn hide_in_message(&self, text: &str) -> String {
        let mut shown = String::with_capacity(text.len());
        for (index, part) in text.split('`').enumerate() {
            if index > 0 {
                shown.push('`');
            }
            let quoted = index % 2 == 1;
            if quoted && looks_like_a_secret(part) {
                shown.push_str(NOT_SHOWN);
            } else {
                shown.push_str(part);
            }
        }
        self.hide(&shown.replace(&format!("`{NOT_SHOWN}`"), NOT_SHOWN))
    }
}

/// Whether `text` looks like a key or a token: a PEM, a GitHub token (`ghp_`, `ghs_`,
/// `github_pat_`, ...), a JWT, or a long run of base64. Such a value is never echoed in an
/// error, whichever input it was given in (swapped inputs are a common mistake).
pub fn looks_like_a_secret(text: &str) -> bool {
    const PREFIXES: [&str; 6] = ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"];
    if text.contains("-----BEGIN") || text.contains("PRIVATE KEY") {
        return true;
    }
    if PREFIXES.iter().any(|prefix| text.contains(prefix)) {
        return true;
    }
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.starts_with("eyJ") && compact.len() >= 20 {
        return true;
    }
    compact.len() >= 40
        && compact
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-' | '.'))
        && compact.chars().any(|c| c.is_ascii_digit())
        && compact.chars().any(|c| c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_each_line_of_a_secret() {
        let mut secrets = Secrets::new(4);
        let added = secrets.add("-----BEGIN KEY-----\n  abcdefgh \nxy\n");
        assert_eq!(added, ["-----BEGIN KEY-----", "abcdefgh"]);
        assert!(secrets.add("abcdefgh").is_empty(), "known already");
        assert_eq!(secrets.hide("got abcdefgh and xy"), "got *** and xy");
    }

    #[test]
    fn a_quoted_value_that_looks_like_a_secret_is_not_shown() {
        let secrets = Secrets::new(4);
        assert_eq!(
            secrets.hide_in_message("is `ghp_0123456789abcdef` not `app`"),
            format!("is {NOT_SHOWN} not `app`")
        );
        assert_eq!(secrets.hide_in_message("`a` `b`"), "`a` `b`");
    }
}
