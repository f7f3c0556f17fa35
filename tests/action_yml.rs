//! Holds `action.yml`, the README and the code to each other.
//!
//! The inputs of `action.yml` and the README's inputs table are generated from the settings
//! table (`redeliver_action::config::inputs::Cli`): its long names, defaults and docs. The tests
//! here render them again and fail when a file differs, so none of the three can change
//! alone; `INSTA_UPDATE=always cargo test action_yml` writes the rendering into the files
//! (never with `CI=true`). The outputs written are the ones declared, and the metadata the
//! Marketplace needs is there.

use std::collections::BTreeSet;

use clap::CommandFactory;
use redeliver_action::config::inputs::{Cli, Environment, action_input_ids, is_action_input};

const ACTION_YML: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/action.yml");
const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");

fn action_yml() -> serde_yaml_ng::Value {
    let text = std::fs::read_to_string(ACTION_YML).expect("action.yml is readable");
    serde_yaml_ng::from_str(&text).expect("action.yml is YAML")
}

fn keys(section: &serde_yaml_ng::Value) -> BTreeSet<String> {
    section
        .as_mapping()
        .expect("a mapping")
        .keys()
        .map(|key| key.as_str().expect("string keys").to_owned())
        .collect()
}

/// One action input, as the settings table defines it.
struct Input {
    id: String,
    /// The doc, without a computed default's `[default: …]`.
    doc: String,
    /// clap's `default_value`: what the parser gets when nothing is given.
    literal_default: Option<String>,
    /// A default the code computes, as the doc states it (`[default: …]` at its end).
    computed_default: Option<String>,
}

impl Input {
    /// The description in `action.yml`: the doc, with a computed default said at its end
    /// (the input's `default` is then empty: the code decides).
    fn description(&self) -> String {
        match &self.computed_default {
            Some(default) => format!("{} [default: {default}]", self.doc),
            None => self.doc.clone(),
        }
    }
}

fn table() -> Vec<Input> {
    Cli::command()
        .get_arguments()
        .filter(|arg| is_action_input(arg))
        .map(|arg| {
            let help = arg.get_help().expect("every setting has a doc").to_string();
            let (doc, computed_default) = match help.rsplit_once(" [default: ") {
                Some((doc, default)) => (
                    doc.to_owned(),
                    Some(default.trim_end_matches(']').to_owned()),
                ),
                None => (help.clone(), None),
            };
            let literal_default = arg
                .get_default_values()
                .first()
                .map(|value| value.to_string_lossy().into_owned());
            assert!(
                literal_default.is_none() || computed_default.is_none(),
                "`{}` has a default_value and a computed default",
                arg.get_id()
            );
            Input {
                id: arg.get_long().expect("a long flag").to_owned(),
                doc,
                literal_default,
                computed_default,
            }
        })
        .collect()
}

/// `text` as lines of at most `width` characters, each after `indent`.
fn wrap(text: &str, indent: &str, width: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.len() + line.len() + 1 + word.len() > width {
            lines.push(format!("{indent}{line}"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(format!("{indent}{line}"));
    lines.join("\n")
}

const YAML_MARK: &str = "# Generated from the settings table (`Cli` in src/config/inputs/table.rs) by tests/action_yml.rs:\n# edit the table, then run `INSTA_UPDATE=always cargo test action_yml`.\n";

fn render_action_inputs() -> String {
    let mut yaml = format!("{YAML_MARK}inputs:\n");
    for input in table() {
        let default = input.literal_default.clone().unwrap_or_default();
        yaml.push_str(&format!(
            "  {}:\n    description: >-\n{}\n    required: false\n    default: \"{}\"\n",
            input.id,
            wrap(&input.description(), "      ", 92),
            default.replace('\\', "\\\\").replace('"', "\\\"")
        ));
    }
    yaml
}

const README_START: &str = "<!-- Generated from the settings table (`Cli` in src/config/inputs/table.rs) by tests/action_yml.rs: edit the table, then run `INSTA_UPDATE=always cargo test action_yml`. -->\n";
const README_END: &str = "<!-- End of the generated inputs. -->\n";

fn render_readme_inputs() -> String {
    let mut table_text =
        format!("{README_START}| input | default | description |\n|---|---|---|\n");
    for input in table() {
        let default = match (&input.literal_default, &input.computed_default) {
            (Some(literal), _) => format!("`{literal}`"),
            (None, Some(computed)) => computed.clone(),
            (None, None) => String::new(),
        };
        table_text.push_str(&format!(
            "| `{}` | {} | {} |\n",
            input.id,
            default.replace('|', "\\|"),
            input.doc.replace('|', "\\|")
        ));
    }
    table_text
}

/// Compares `rendered` with the part of `path` from `start` to `end` (`end` excluded); with
/// `INSTA_UPDATE=always` (and not in CI) writes it there instead.
#[track_caller]
fn assert_generated(path: &str, start: &str, end: &str, rendered: &str) {
    let text = std::fs::read_to_string(path).expect("readable");
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{path} has no `{start}`"));
    let to = from
        + text[from..]
            .find(end)
            .unwrap_or_else(|| panic!("{path} has no `{end}` after `{start}`"));
    let current = &text[from..to];
    if current == rendered {
        return;
    }
    let update = std::env::var("INSTA_UPDATE").as_deref() == Ok("always")
        && std::env::var("CI").as_deref() != Ok("true");
    if update {
        let updated = format!("{}{rendered}{}", &text[..from], &text[to..]);
        // Atomically: the other tests read the file meanwhile.
        let temporary = format!("{path}.generated");
        std::fs::write(&temporary, updated).expect("writable");
        std::fs::rename(&temporary, path).expect("renamed into place");
        return;
    }
    let first_difference = current
        .lines()
        .zip(rendered.lines())
        .find(|(have, want)| have != want);
    panic!(
        "{path} is not what the settings table gives; run `INSTA_UPDATE=always cargo test action_yml`\nfirst difference: {first_difference:#?}\nwanted:\n{rendered}"
    );
}

#[test]
fn action_yml_inputs_are_the_settings_table() {
    assert_generated(
        ACTION_YML,
        "# Generated from the settings table",
        "\noutputs:",
        &render_action_inputs(),
    );
    // And YAML reads them back as the table says (quoting, folding).
    let yaml = action_yml();
    for input in table() {
        let spec = &yaml["inputs"][input.id.as_str()];
        assert_eq!(
            spec["default"].as_str(),
            Some(input.literal_default.as_deref().unwrap_or_default()),
            "{}",
            input.id
        );
        assert_eq!(
            spec["description"].as_str(),
            Some(input.description().as_str())
        );
    }
}

#[test]
fn readme_inputs_table_is_the_settings_table() {
    assert_generated(
        README,
        "<!-- Generated from the settings table",
        README_END,
        &render_readme_inputs(),
    );
}

#[test]
fn every_declared_input_is_read_and_every_read_input_is_declared() {
    let declared = keys(&action_yml()["inputs"]);
    let read: BTreeSet<String> = action_input_ids().into_iter().collect();
    assert_eq!(declared, read);
}

#[test]
fn an_input_with_a_fallback_name_has_an_empty_default() {
    // The runner sets INPUT_<ID> to the declared default: a non-empty default would shadow
    // the docs script's names and GITHUB_API_URL.
    let yaml = action_yml();
    for id in ["app-id", "private-key", "token", "variable-name", "api-url"] {
        assert_eq!(yaml["inputs"][id]["default"].as_str(), Some(""), "{id}");
    }
}

#[test]
fn each_input_reaches_the_command_line() {
    // The runner sets INPUT_<ID>: give every declared input a marker value and check each
    // one arrives as its own flag (a renamed flag would leave its input silently ignored).
    let mut env: Environment = keys(&action_yml()["inputs"])
        .iter()
        .map(|id| {
            (
                format!("INPUT_{}", id.to_uppercase()),
                format!("value-of-{id}"),
            )
        })
        .collect();
    env.insert("GITHUB_ACTIONS".into(), "true".into());
    let (args, runner) = match Cli::command_line(&["redeliver".to_owned()], &env) {
        Ok(mapped) => mapped,
        Err(refused) => panic!("{}", refused.message()),
    };
    assert!(runner.actions);
    let matches = Cli::command()
        .try_get_matches_from(&args)
        .expect("clap takes the mapped command line");
    for id in action_input_ids() {
        let arg = Cli::command()
            .get_arguments()
            .find(|arg| arg.get_long() == Some(id.as_str()))
            .expect("a flag")
            .get_id()
            .clone();
        let given: Vec<String> = matches
            .get_raw(arg.as_str())
            .into_iter()
            .flatten()
            .map(|value| value.to_string_lossy().into_owned())
            .collect();
        assert_eq!(given, [format!("value-of-{id}")], "input `{id}`");
    }
}

#[test]
fn every_output_written_is_declared_with_a_description() {
    let yaml = action_yml();
    let declared = keys(&yaml["outputs"]);
    let report = redeliver_action::report::RunReport {
        fleets: Vec::new(),
        dry_run: false,
        max_attempts: 3,
        hooks: Vec::new(),
        receivers: Vec::new(),
        requests: Default::default(),
        checkpoint_saved: true,
        errors: Vec::new(),
        replay: None,
    };
    let written: BTreeSet<String> = report
        .outputs()
        .expect("outputs")
        .into_iter()
        .map(|(name, _)| name.to_owned())
        .collect();
    assert_eq!(declared, written);
    for name in &declared {
        let output = &yaml["outputs"][name.as_str()];
        assert!(
            output["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{name}"
        );
        assert!(
            output.get("value").is_none(),
            "Docker action outputs have no `value`: {name}"
        );
    }
}

#[test]
fn marketplace_metadata_is_complete() {
    let yaml = action_yml();
    assert!(yaml["name"].as_str().is_some_and(|name| !name.is_empty()));
    let description = yaml["description"].as_str().expect("description");
    assert!(description.len() < 125, "{} characters", description.len());
    assert!(yaml["branding"]["icon"].as_str().is_some());
    assert!(yaml["branding"]["color"].as_str().is_some());
    assert_eq!(yaml["runs"]["using"].as_str(), Some("docker"));
    let image = yaml["runs"]["image"].as_str().expect("runs.image");
    let pinned = image.strip_prefix("docker://").and_then(|rest| {
        let (name, digest) = rest.split_once("@sha256:")?;
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "./:_-".contains(c));
        let digest_ok = digest.len() == 64
            && digest
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
        Some(name_ok && digest_ok)
    });
    assert!(
        (image == "Dockerfile"
            && std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).is_file())
            || pinned == Some(true),
        "runs.image is `{image}`: want Dockerfile or docker://<image>@sha256:<digest>"
    );
    let args = &yaml["runs"]["args"];
    assert!(
        args.is_null(),
        "secrets must not travel on the command line: {args:?}"
    );
}
