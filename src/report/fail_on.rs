//! `fail-on`: the states of a finished run that make the step fail, so that GitHub's own
//! notifications for failed workflows tell the owner when a person should look.
//!
//! A run that gave events up, found a receiver down, was refused by GitHub or left events
//! too old to redeliver did its job: nothing went wrong with the run, so without this the
//! workflow would stay green however many events were lost. The run still writes every
//! output, the summary and the checkpoint first; only the exit code changes
//! ([`crate::driver::once::Exit::FailOn`]).

use crate::report::RunReport;

/// Which end states fail the run. The default (the settings table's `given-up`) names the
/// one state a careful owner always wants to hear of: an event given up is lost for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailOn {
    pub given_up: bool,
    pub receiver_down: bool,
    pub refused: bool,
    pub too_old: bool,
}

impl FailOn {
    /// `never`: the behaviour before `fail-on` existed.
    pub const NEVER: FailOn = FailOn {
        given_up: false,
        receiver_down: false,
        refused: false,
        too_old: false,
    };

    /// A list of [`NAMES`], separated by commas, spaces or lines; `never` stands alone.
    /// The error says what is wrong, for the caller to prefix with the input's name.
    pub fn parse(text: &str) -> Result<FailOn, String> {
        let mut fail_on = FailOn::NEVER;
        let mut never = false;
        let mut others = Vec::new();
        for name in text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|name| !name.is_empty())
        {
            let flag = match name {
                "given-up" => &mut fail_on.given_up,
                "receiver-down" => &mut fail_on.receiver_down,
                "refused" => &mut fail_on.refused,
                "too-old" => &mut fail_on.too_old,
                "never" => &mut never,
                _ => {
                    return Err(format!(
                        "has `{name}`: use `given-up`, `receiver-down`, `refused`, `too-old` (comma separated), or `never`"
                    ));
                }
            };
            *flag = true;
            if name != "never" {
                others.push(name);
            }
        }
        if never && !others.is_empty() {
            return Err(format!(
                "has `never` with `{}`: `never` stands alone",
                others.join(", ")
            ));
        }
        Ok(fail_on)
    }

    /// Why `report` fails the run, one phrase per state that is both listed and reached;
    /// empty when it does not.
    pub fn reasons(&self, report: &RunReport) -> Vec<String> {
        let refused: usize = report.hooks.iter().map(|hook| hook.refused.len()).sum();
        let mut reasons = Vec::new();
        if self.given_up && report.given_up_count() > 0 {
            reasons.push(format!(
                "{} event(s) given up after {} redeliveries (`given-up`)",
                report.given_up_count(),
                report.max_attempts
            ));
        }
        if self.receiver_down && report.receiver_down() {
            reasons.push("a receiver is still down (`receiver-down`)".to_owned());
        }
        if self.refused && refused > 0 {
            reasons.push(format!(
                "GitHub refused {refused} redelivery(ies) (`refused`)"
            ));
        }
        if self.too_old && report.too_old_count() > 0 {
            reasons.push(format!(
                "{} event(s) too old to redeliver (`too-old`)",
                report.too_old_count()
            ));
        }
        reasons
    }
}

/// The job summary's last words when `fail-on` fails the step: which states, and that the
/// run's work was saved all the same. Nothing when `reasons` is empty.
pub fn summary_note(reasons: &[String]) -> String {
    if reasons.is_empty() {
        return String::new();
    }
    format!(
        "\n> [!CAUTION]\n> This step fails with exit code 4 (`fail-on`): {}. Outputs and the checkpoint were saved as usual.\n",
        reasons.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_parsed_and_never_stands_alone() {
        assert_eq!(
            FailOn::parse("given-up"),
            Ok(FailOn {
                given_up: true,
                ..FailOn::NEVER
            })
        );
        assert_eq!(FailOn::parse("never"), Ok(FailOn::NEVER));
        assert_eq!(
            FailOn::parse(" given-up,\nreceiver-down  too-old, "),
            Ok(FailOn {
                given_up: true,
                receiver_down: true,
                refused: false,
                too_old: true,
            })
        );
        assert!(
            FailOn::parse("never, refused")
                .is_err_and(|error| error.contains("`never` stands alone"))
        );
        assert!(FailOn::parse("given_up").is_err_and(|error| error.starts_with("has `given_up`")));
    }
}
