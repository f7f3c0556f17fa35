//! Logging for both homes of the binary: workflow commands on stdout inside GitHub Actions
//! (`::group::`, `::warning::`, `::add-mask::`), plain lines on stderr elsewhere, so that
//! `--json` keeps stdout for itself. Outside Actions, `--log-format json` writes one JSON
//! object per line instead, for log collectors that would otherwise have to parse prose.
//!
//! Every line passes through the redactor: secrets registered with [`Log::mask`] are replaced
//! by `***`, whatever the mode, as a second line of defence behind the runner's own masking.
//! <https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands>

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::base::clock::Clock;
use crate::base::redact::Secrets;

/// How lines are written outside GitHub Actions (inside, workflow commands are what the
/// runner reads, whatever this says).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One human line each: `warning: ...`.
    #[default]
    Text,
    /// One JSON object each: `time`, `level`, `hook` (while a hook is processed),
    /// `message`, and the structured fields the call site gave.
    Json,
}

/// A line's severity: workflow command in Actions, prefix in text, `level` in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Notice => "notice",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// Structured fields of a line: shown only in JSON, where they save a collector from
/// parsing the message (`guid`, `delivery_id`, `wait_seconds`, counts, ...).
pub type Fields<'a> = &'a [(&'a str, Value)];

/// Names a JSON line sets itself; a field of the same name is dropped.
const RESERVED_FIELDS: [&str; 3] = ["time", "level", "message"];

/// Where log lines go.
#[derive(Clone, Debug)]
pub enum Sink {
    /// stdout in Actions mode, stderr otherwise.
    Console,
    /// A buffer, for tests.
    Memory(Arc<Mutex<String>>),
}

#[derive(Clone, Debug)]
pub struct Log {
    inner: Arc<Inner>,
    /// Set for a log whose lines wait to be written (see [`Log::deferred`]).
    deferred: Option<Deferred>,
}

/// Lines kept to be written later: a hook's, while hooks are scanned at once, written in
/// its group once its turn comes (see [`Log::replay`]).
#[derive(Clone, Debug, Default)]
pub struct Deferred(Arc<Mutex<Vec<DeferredLine>>>);

type DeferredLine = (Level, String, Vec<(String, Value)>);

#[derive(Debug)]
struct Inner {
    actions: bool,
    debug: bool,
    format: LogFormat,
    sink: Sink,
    secrets: Mutex<Secrets>,
    /// The hook being processed (see [`Log::hook_group`]), for JSON lines' `hook`.
    hook: Mutex<Option<String>>,
    /// What JSON lines' `time` reads (the run's clock: simulated in tests).
    clock: Mutex<Clock>,
}

/// Secrets shorter than this are not worth masking (and masking them would garble logs).
const MIN_SECRET_LEN: usize = 8;

impl Log {
    pub fn new(actions: bool, debug: bool, sink: Sink) -> Self {
        Self::with_format(actions, debug, LogFormat::Text, sink)
    }

    /// A log in `format` (which only matters outside Actions).
    pub fn with_format(actions: bool, debug: bool, format: LogFormat, sink: Sink) -> Self {
        Self {
            inner: Arc::new(Inner {
                actions,
                debug,
                format,
                sink,
                secrets: Mutex::new(Secrets::new(MIN_SECRET_LEN)),
                hook: Mutex::new(None),
                clock: Mutex::new(Clock::system()),
            }),
            deferred: None,
        }
    }

    /// A log whose lines are kept instead of written, until [`Log::replay`]; secrets it is
    /// told are masked at once, as this log's.
    pub fn deferred(&self) -> (Log, Deferred) {
        let deferred = Deferred::default();
        let log = Log {
            inner: self.inner.clone(),
            deferred: Some(deferred.clone()),
        };
        (log, deferred)
    }

    /// Writes the lines a deferred log kept, in order.
    pub fn replay(&self, deferred: &Deferred) {
        let lines = deferred
            .0
            .lock()
            .map(|mut lines| std::mem::take(&mut *lines))
            .unwrap_or_default();
        for (level, message, fields) in lines {
            let fields: Vec<(&str, Value)> = fields
                .iter()
                .map(|(name, value)| (name.as_str(), value.clone()))
                .collect();
            self.line(level, &message, &fields);
        }
    }

    /// Stamps JSON lines with `clock`'s time from now on.
    pub fn set_clock(&self, clock: Clock) {
        if let Ok(mut current) = self.inner.clock.lock() {
            *current = clock;
        }
    }

    fn json(&self) -> bool {
        !self.inner.actions && self.inner.format == LogFormat::Json
    }

    /// Whether workflow commands are written (inside GitHub Actions).
    pub fn actions(&self) -> bool {
        self.inner.actions
    }

    /// Registers a secret: the runner is told to mask it (before it could ever be printed)
    /// and our own lines never show it.
    pub fn mask(&self, secret: &str) {
        let Ok(mut secrets) = self.inner.secrets.lock() else {
            return;
        };
        for part in secrets.add(secret) {
            if self.inner.actions {
                self.write_raw(&format!("::add-mask::{part}"));
            }
        }
    }

    /// Replaces every registered secret in `text` by `***`.
    pub fn redact(&self, text: &str) -> String {
        match self.inner.secrets.lock() {
            Ok(secrets) => secrets.hide(text),
            Err(_) => text.to_owned(),
        }
    }

    /// A plain log line. Its message often carries data from GitHub (event names, GUIDs),
    /// so it is escaped here, for every caller: a line break in the data cannot start a
    /// line of its own, and the line cannot begin with `::`, so no data can ever become a
    /// workflow command (`::stop-commands::`, `::error::`, `::add-mask::`).
    pub fn info(&self, message: &str) {
        self.line(Level::Info, message, &[]);
    }

    pub fn debug(&self, message: &str) {
        self.line(Level::Debug, message, &[]);
    }

    pub fn notice(&self, message: &str) {
        self.line(Level::Notice, message, &[]);
    }

    pub fn warning(&self, message: &str) {
        self.line(Level::Warning, message, &[]);
    }

    pub fn error(&self, message: &str) {
        self.line(Level::Error, message, &[]);
    }

    /// A line with structured fields: the message is what every format shows; the fields
    /// appear only in JSON lines (redacted like the message).
    pub fn line(&self, level: Level, message: &str, fields: Fields<'_>) {
        if level == Level::Debug && !self.inner.actions && !self.inner.debug {
            return;
        }
        if let Some(deferred) = &self.deferred {
            if let Ok(mut lines) = deferred.0.lock() {
                let fields = fields
                    .iter()
                    .map(|(name, value)| ((*name).to_owned(), value.clone()))
                    .collect();
                lines.push((level, message.to_owned(), fields));
            }
            return;
        }
        let message = self.redact(message);
        if self.json() {
            self.write_json(level, &message, fields);
            return;
        }
        let line = match (level, self.inner.actions) {
            (Level::Info, true) => not_a_command(escape_data(&message)),
            (Level::Info, false) => escape_plain(&message),
            (Level::Debug, false) => format!("debug: {}", escape_plain(&message)),
            (level, true) => format!("::{}::{}", level.name(), escape_data(&message)),
            (level, false) => format!("{}: {}", level.name(), escape_plain(&message)),
        };
        self.write(&line);
    }

    /// One JSON object, keys in a fixed order (`time`, `level`, `hook`, `message`, then the
    /// fields) so that a person reading the raw line finds them. Control characters are
    /// escaped by the encoder, so data cannot break the line. String fields are redacted
    /// before encoding (a secret's JSON escape could differ from the secret) and the whole
    /// line after it.
    fn write_json(&self, level: Level, message: &str, fields: Fields<'_>) {
        let now = self
            .inner
            .clock
            .lock()
            .map(|clock| clock.now())
            .unwrap_or_else(|poisoned| poisoned.into_inner().now());
        let time = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let hook = self.inner.hook.lock().ok().and_then(|hook| hook.clone());
        let mut pairs: Vec<(&str, Value)> = vec![
            ("time", Value::String(time)),
            ("level", Value::String(level.name().to_owned())),
        ];
        if let Some(hook) = hook {
            pairs.push(("hook", Value::String(self.redact(&hook))));
        }
        pairs.push(("message", Value::String(message.to_owned())));
        for (name, value) in fields {
            if RESERVED_FIELDS.contains(name) || pairs.iter().any(|(known, _)| known == name) {
                continue;
            }
            let value = match value {
                Value::String(text) => Value::String(self.redact(text)),
                other => other.clone(),
            };
            pairs.push((name, value));
        }
        let mut line = String::from("{");
        for (index, (name, value)) in pairs.iter().enumerate() {
            if index > 0 {
                line.push(',');
            }
            line.push_str(&Value::from(*name).to_string());
            line.push(':');
            line.push_str(&value.to_string());
        }
        line.push('}');
        self.write(&self.redact(&line));
    }

    /// Opens a collapsible group in the Actions log; it closes when the guard is dropped.
    pub fn group(&self, title: &str) -> Group {
        let title = self.redact(title);
        if self.json() {
            self.write_json(Level::Info, &title, &[]);
        } else if self.inner.actions {
            self.write(&format!("::group::{}", escape_data(&title)));
        } else {
            self.write(&format!("== {}", escape_plain(&title)));
        }
        Group {
            log: self.clone(),
            hook: false,
        }
    }

    /// The group of one hook's part of a run: until the guard is dropped, JSON lines carry
    /// `"hook": hook` (runs process one hook at a time).
    pub fn hook_group(&self, hook: &str) -> Group {
        if let Ok(mut current) = self.inner.hook.lock() {
            *current = Some(hook.to_owned());
        }
        let mut group = self.group(&format!("Hook `{hook}`"));
        group.hook = true;
        group
    }

    fn write(&self, line: &str) {
        self.write_raw(line);
    }

    fn write_raw(&self, line: &str) {
        match &self.inner.sink {
            Sink::Console if self.inner.actions => {
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
            Sink::Console => {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
            Sink::Memory(buffer) => {
                if let Ok(mut buffer) = buffer.lock() {
                    buffer.push_str(line);
                    buffer.push('\n');
                }
            }
        }
    }
}

/// Closes its `::group::` when dropped (and ends a [`Log::hook_group`]'s hook).
pub struct Group {
    log: Log,
    hook: bool,
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.hook
            && let Ok(mut current) = self.log.inner.hook.lock()
        {
            *current = None;
        }
        if self.log.inner.actions {
            self.log.write_raw("::endgroup::");
        }
    }
}

/// Escapes a workflow command's message, as the runner's toolkit does.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A plain line in the Actions log that starts with `::` (after blanks) would be read as a
/// workflow command: its first colon is escaped like data.
fn not_a_command(line: String) -> String {
    let blanks = line.len() - line.trim_start().len();
    if line[blanks..].starts_with("::") {
        format!("{}%3A{}", &line[..blanks], &line[blanks + 1..])
    } else {
        line
    }
}

/// Outside Actions, a line of data stays one line on the terminal or in a cron log: line
/// breaks and other control characters (terminal escapes) are shown as escapes.
fn escape_plain(text: &str) -> String {
    if !text.chars().any(|c| c.is_control() && c != '\t') {
        return text.to_owned();
    }
    text.chars()
        .map(|c| match c {
            '\t' => c.to_string(),
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory_log(actions: bool) -> (Log, Arc<Mutex<String>>) {
        let buffer = Arc::new(Mutex::new(String::new()));
        (
            Log::new(actions, true, Sink::Memory(buffer.clone())),
            buffer,
        )
    }

    #[test]
    fn masks_before_use_and_redacts_everywhere() {
        let (log, buffer) = memory_log(true);
        log.mask("ghs_0123456789abcdef");
        log.warning("token ghs_0123456789abcdef was refused\n100% sure");
        let text = buffer.lock().expect("lock").clone();
        assert_eq!(
            text,
            "::add-mask::ghs_0123456789abcdef\n::warning::token *** was refused%0A100%25 sure\n"
        );
    }

    #[test]
    fn data_in_a_log_line_cannot_become_a_workflow_command() {
        let (log, buffer) = memory_log(true);
        log.info("Redelivered push\n::stop-commands::x\r\n::error::owned 100%");
        log.info("  ::add-mask::everything");
        let text = buffer.lock().expect("lock").clone();
        assert_eq!(
            text,
            "Redelivered push%0A::stop-commands::x%0D%0A::error::owned 100%25\n  %3A:add-mask::everything\n"
        );
        let (log, buffer) = memory_log(false);
        log.info("a\nerror: b\u{1b}[31m");
        let text = buffer.lock().expect("lock").clone();
        assert_eq!(text, "a\\nerror: b\\u{1b}[31m\n");
    }

    #[test]
    fn plain_mode_writes_no_workflow_commands() {
        let (log, buffer) = memory_log(false);
        log.mask("ghs_0123456789abcdef");
        {
            let _group = log.group("Listing");
            log.error("ghs_0123456789abcdef");
        }
        let text = buffer.lock().expect("lock").clone();
        assert_eq!(text, "== Listing\nerror: ***\n");
    }

    #[test]
    fn json_lines_carry_hook_fields_and_no_secret() {
        let buffer = Arc::new(Mutex::new(String::new()));
        let log = Log::with_format(false, false, LogFormat::Json, Sink::Memory(buffer.clone()));
        log.mask("ghs_0123456789abcdef");
        log.info("before any hook");
        {
            let _hook = log.hook_group("org/acme/7");
            log.line(
                Level::Warning,
                "token ghs_0123456789abcdef\nwas refused",
                &[
                    ("guid", Value::from("g-1")),
                    ("delivery_id", Value::from(42u64)),
                    ("reason", Value::from("says ghs_0123456789abcdef")),
                    ("level", Value::from("forged")),
                ],
            );
            log.debug("not shown without --verbose");
        }
        log.error("after");
        let text = buffer.lock().expect("lock").clone();
        assert!(!text.contains("ghs_0123456789abcdef"), "{text}");
        let lines: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("each line is JSON"))
            .collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(text.starts_with("{\"time\":"), "{text}");
        assert!(
            text.contains("\",\"level\":\"info\",\"message\":\"before any hook\"}"),
            "{text}"
        );
        assert_eq!(lines[0]["level"], "info");
        assert_eq!(lines[0]["message"], "before any hook");
        assert!(lines[0].get("hook").is_none());
        assert!(lines[0]["time"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert_eq!(lines[1]["message"], "Hook `org/acme/7`");
        assert_eq!(lines[1]["hook"], "org/acme/7");
        assert_eq!(lines[2]["level"], "warning");
        assert_eq!(lines[2]["hook"], "org/acme/7");
        assert_eq!(lines[2]["message"], "token ***\nwas refused");
        assert_eq!(lines[2]["guid"], "g-1");
        assert_eq!(lines[2]["delivery_id"], 42);
        assert_eq!(lines[2]["reason"], "says ***");
        assert_eq!(lines[3]["level"], "error");
        assert!(lines[3].get("hook").is_none());
    }

    #[test]
    fn inside_actions_json_changes_nothing() {
        let buffer = Arc::new(Mutex::new(String::new()));
        let log = Log::with_format(true, false, LogFormat::Json, Sink::Memory(buffer.clone()));
        log.line(Level::Warning, "w", &[("guid", Value::from("g"))]);
        let _hook = log.hook_group("app");
        let text = buffer.lock().expect("lock").clone();
        assert_eq!(text, "::warning::w\n::group::Hook `app`\n");
    }

    #[test]
    fn a_deferred_log_keeps_its_lines_for_their_group_and_masks_at_once() {
        let (log, buffer) = memory_log(true);
        let (deferred, lines) = log.deferred();
        deferred.info("scanned hook a");
        deferred.mask("ghs_secretsecretsecret");
        deferred.warning("token ghs_secretsecretsecret");
        log.info("meanwhile");
        {
            let _group = log.hook_group("repo/acme/a/1");
            log.replay(&lines);
        }
        let text = buffer.lock().expect("log").clone();
        assert_eq!(
            text,
            "::add-mask::ghs_secretsecretsecret\nmeanwhile\n::group::Hook `repo/acme/a/1`\nscanned hook a\n::warning::token ***\n::endgroup::\n"
        );
    }
}
