//! The job summary (`$GITHUB_STEP_SUMMARY`), in Markdown, in the order a person needs it:
//!
//! 1. the verdict: one or two lines saying what happened and what to do ([`verdict`]);
//! 2. a table per receiver, the unit of health ([`receivers`]);
//! 3. the hooks: at fleet size only those that need a person beyond their receiver's row,
//!    the rest folded ([`hooks`]);
//! 4. events given up or refused, then every other list folded ([`events`]);
//! 5. delivery health (figures, a chart, failure causes: [`health`]);
//! 6. errors and the requests made.
//!
//! A fleet of 1,500 hooks in an outage fits one screen or two outside its `<details>`
//! blocks, which GitHub renders folded. Text from GitHub goes through [`super::cell`] or
//! [`super::code`]: it cannot dress up the summary.
//! <https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands#adding-a-job-summary>

mod events;
mod health;
mod hooks;
pub(crate) mod receivers;
pub(crate) mod table;
pub(crate) mod verdict;

use std::fmt::Write as _;

use super::outputs::MAX_ERRORS_SHOWN;
use super::{RunReport, cell};

impl RunReport {
    /// The job summary, in Markdown: the verdict, the receivers, the hooks, the events that
    /// need a person (the other lists folded), delivery health, errors, the requests made.
    pub fn summary_markdown(&self) -> String {
        let mut md = String::new();
        let title = if self.dry_run {
            "Webhook redelivery (dry run: nothing was redelivered)"
        } else {
            "Webhook redelivery"
        };
        let _ = writeln!(md, "## {title}\n");
        let views = receivers::receiver_views(self);
        verdict::write_verdict(self, &views, &mut md);
        crate::report::replay::write_section(self, &mut md);
        receivers::receivers_table(self, &views, &mut md);
        hooks::write_hooks(self, &views, &mut md);
        events::write_events(self, &mut md);
        health::write_section(self, &views, &mut md);
        self.summary_footer(&mut md);
        if md.len() > MAX_SUMMARY_BYTES {
            let cut = md[..MAX_SUMMARY_BYTES].rfind('\n').unwrap_or(0);
            md.truncate(cut);
            md.push_str("\n\n</details>\n\n… the summary is cut here, at GitHub's limit; the `report` output has the rest.\n");
        }
        md
    }

    fn summary_footer(&self, md: &mut String) {
        if !self.errors.is_empty() {
            let _ = writeln!(md, "### Errors\n");
            for error in self.errors.iter().take(MAX_ERRORS_SHOWN) {
                let _ = writeln!(md, "- {}", cell(error));
            }
            if self.errors.len() > MAX_ERRORS_SHOWN {
                let _ = writeln!(md, "- … and {} more", self.errors.len() - MAX_ERRORS_SHOWN);
            }
            md.push('\n');
        }
        let _ = writeln!(
            md,
            "<sub>{} list, {} redelivery and {} other requests to GitHub.{}</sub>",
            self.requests.list,
            self.requests.redeliver,
            self.requests.other,
            if self.checkpoint_saved {
                ""
            } else {
                " The checkpoint was not saved."
            }
        );
    }
}

/// GitHub takes at most 1 MiB of job summary per step; past this the summary is cut at a
/// line, and says so.
const MAX_SUMMARY_BYTES: usize = 1024 * 1024 - 16 * 1024;

#[cfg(test)]
mod tests {
    use crate::report::{cell, code};

    #[test]
    fn table_cells_cannot_break_the_table() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }

    #[test]
    fn table_cells_render_no_markdown_and_no_html() {
        assert_eq!(
            cell("<img src=x> **b** [l](u) `c` _i_ workflow_job"),
            "&lt;img src=x&gt; \\*\\*b\\*\\* \\[l\\](u) \\`c\\` \\_i\\_ workflow_job"
        );
        assert_eq!(code("0b98-ab"), "`0b98-ab`");
        assert_eq!(code("a`b|c\n"), "``a`b\\|c ``");
        assert_eq!(code("`x"), "`` `x ``");
    }
}
