//! The `events` and `exclude-events` inputs: which events may be redelivered.

use std::fmt;

/// One entry of an event list: `push` matches every `push` delivery, `workflow_job.queued`
/// only those whose `action` is `queued`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPattern {
    event: String,
    action: Option<String>,
}

impl EventPattern {
    fn matches(&self, event: &str, action: Option<&str>) -> bool {
        self.event.eq_ignore_ascii_case(event)
            && self.action.as_deref().is_none_or(|wanted| {
                action.is_some_and(|action| wanted.eq_ignore_ascii_case(action))
            })
    }
}

impl fmt::Display for EventPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.action {
            Some(action) => write!(f, "{}.{}", self.event, action),
            None => f.write_str(&self.event),
        }
    }
}

/// Parses a list of events, separated by commas, spaces or newlines.
///
/// Returns the offending entry when one is not of the form `event` or `event.action`
/// (letters, digits and `_` only).
pub fn parse_event_list(text: &str) -> Result<Vec<EventPattern>, String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (event, action) = match entry.split_once('.') {
                Some((event, action)) => (event, Some(action)),
                None => (entry, None),
            };
            let valid = |part: &str| {
                !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            };
            if valid(event) && action.is_none_or(valid) {
                Ok(EventPattern {
                    event: event.to_owned(),
                    action: action.map(str::to_owned),
                })
            } else {
                Err(entry.to_owned())
            }
        })
        .collect()
}

/// The events to redeliver: those in `include` (all when it is empty), minus those in
/// `exclude`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub include: Vec<EventPattern>,
    pub exclude: Vec<EventPattern>,
}

impl EventFilter {
    pub fn allows(&self, event: &str, action: Option<&str>) -> bool {
        let included =
            self.include.is_empty() || self.include.iter().any(|p| p.matches(event, action));
        included && !self.exclude.iter().any(|p| p.matches(event, action))
    }

    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(include: &str, exclude: &str) -> EventFilter {
        EventFilter {
            include: parse_event_list(include).expect("valid include"),
            exclude: parse_event_list(exclude).expect("valid exclude"),
        }
    }

    #[test]
    fn empty_filter_allows_everything() {
        assert!(filter("", "").allows("push", None));
        assert!(filter("", "").allows("workflow_job", Some("queued")));
    }

    #[test]
    fn include_by_event_and_by_action() {
        let f = filter("push, workflow_job.queued", "");
        assert!(f.allows("push", None));
        assert!(f.allows("workflow_job", Some("queued")));
        assert!(!f.allows("workflow_job", Some("completed")));
        assert!(!f.allows("workflow_job", None));
        assert!(!f.allows("issues", Some("opened")));
    }

    #[test]
    fn exclude_wins_over_include() {
        let f = filter("workflow_job", "workflow_job.in_progress\nping");
        assert!(f.allows("workflow_job", Some("queued")));
        assert!(!f.allows("workflow_job", Some("in_progress")));
        assert!(!filter("", "ping").allows("ping", None));
    }

    #[test]
    fn bad_entries_are_reported() {
        assert_eq!(
            parse_event_list("push, work-flow"),
            Err("work-flow".to_owned())
        );
        assert_eq!(parse_event_list("push."), Err("push.".to_owned()));
        assert_eq!(parse_event_list(".queued"), Err(".queued".to_owned()));
    }
}
