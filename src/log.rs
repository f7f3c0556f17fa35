//! Logging for both homes of the binary: workflow commands on stdout inside GitHub Actions
//! (`::group::`, `::warning::`, `::add-mask::`), plain lines on stderr elsewhere, so that
//! `--json` keeps stdout for itself.
//!
//! Every line passes through the redactor: secrets registered with [`Log::mask`] are replaced
//! by `***`, whatever the mode, as a second line of defence behind the runner's own masking.
//! <https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands>

use std::io::Write;
use std::sync::{Arc, Mutex};

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
}

#[derive(Debug)]
struct Inner {
    actions: bool,
    debug: bool,
    sink: Sink,
    secrets: Mutex<Vec<String>>,
}

/// Secrets shorter than this are not worth masking (and masking them would garble logs).
const MIN_SECRET_LEN: usize = 8;

impl Log {
    pub fn new(actions: bool, debug: bool, sink: Sink) -> Self {
        Self {
            inner: Arc::new(Inner {
                actions,
                debug,
                sink,
                secrets: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Whether workflow commands are written (inside GitHub Actions).
    pub fn actions(&self) -> bool {
        self.inner.actions
    }

    /// Registers a secret: the runner is told to mask it (before it could ever be printed)
    /// and our own lines never show it.
    pub fn mask(&self, secret: &str) {
        let parts: Vec<&str> = secret
            .lines()
            .map(str::trim)
            .filter(|line| line.len() >= MIN_SECRET_LEN && !line.starts_with("-----"))
            .collect();
        let Ok(mut secrets) = self.inner.secrets.lock() else {
            return;
        };
        for part in parts {
            if secrets.iter().any(|known| known == part) {
                continue;
            }
            secrets.push(part.to_owned());
            if self.inner.actions {
                self.write_raw(&format!("::add-mask::{part}"));
            }
        }
    }

    /// Replaces every registered secret in `text` by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        if let Ok(secrets) = self.inner.secrets.lock() {
            for secret in secrets.iter() {
                if text.contains(secret.as_str()) {
                    text = text.replace(secret.as_str(), "***");
                }
            }
        }
        text
    }

    /// A plain log line. Its message often carries data from GitHub (event names, GUIDs),
    /// so it is escaped here, for every caller: a line break in the data cannot start a
    /// line of its own, and the line cannot begin with `::`, so no data can ever become a
    /// workflow command (`::stop-commands::`, `::error::`, `::add-mask::`).
    pub fn info(&self, message: &str) {
        let message = self.redact(message);
        if self.inner.actions {
            self.write(&not_a_command(escape_data(&message)));
        } else {
            self.write(&escape_plain(&message));
        }
    }

    pub fn debug(&self, message: &str) {
        let message = self.redact(message);
        if self.inner.actions {
            self.write(&format!("::debug::{}", escape_data(&message)));
        } else if self.inner.debug {
            self.write(&format!("debug: {}", escape_plain(&message)));
        }
    }

    pub fn notice(&self, message: &str) {
        self.command("notice", "notice", message);
    }

    pub fn warning(&self, message: &str) {
        self.command("warning", "warning", message);
    }

    pub fn error(&self, message: &str) {
        self.command("error", "error", message);
    }

    fn command(&self, command: &str, plain_prefix: &str, message: &str) {
        let message = self.redact(message);
        if self.inner.actions {
            self.write(&format!("::{command}::{}", escape_data(&message)));
        } else {
            self.write(&format!("{plain_prefix}: {}", escape_plain(&message)));
        }
    }

    /// Opens a collapsible group in the Actions log; it closes when the guard is dropped.
    pub fn group(&self, title: &str) -> Group {
        let title = self.redact(title);
        if self.inner.actions {
            self.write(&format!("::group::{}", escape_data(&title)));
        } else {
            self.write(&format!("== {}", escape_plain(&title)));
        }
        Group { log: self.clone() }
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

/// Closes its `::group::` when dropped.
pub struct Group {
    log: Log,
}

impl Drop for Group {
    fn drop(&mut self) {
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
}
