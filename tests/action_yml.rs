//! Holds `action.yml` and the code to each other: every declared input is read, every
//! output written is declared, and the metadata the Marketplace needs is there.

use std::collections::BTreeSet;

use redeliver_action::inputs::{CLI_ONLY, Cli, Environment, action_input_ids};

fn action_yml() -> serde_yaml_ng::Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/action.yml"))
        .expect("action.yml is readable");
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

#[test]
fn every_declared_input_is_read_and_every_read_input_is_declared() {
    let declared = keys(&action_yml()["inputs"]);
    let read: BTreeSet<String> = action_input_ids().into_iter().collect();
    assert_eq!(declared, read);
}

#[test]
fn every_command_line_only_flag_exists() {
    use clap::CommandFactory;
    let command = Cli::command();
    let longs: BTreeSet<&str> = command
        .get_arguments()
        .filter_map(|arg| arg.get_long())
        .collect();
    for flag in CLI_ONLY {
        assert!(longs.contains(flag), "`--{flag}` in CLI_ONLY is no flag");
    }
}

#[test]
fn each_input_reaches_the_command_line() {
    // The runner sets INPUT_<ID>: give every declared input a marker value and check each
    // one arrives (a renamed flag would leave its input silently ignored).
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
    let cli = match Cli::parse_from_env(&["redeliver".to_owned()], &env) {
        Ok(cli) => cli,
        Err(refused) => panic!("{}", refused.message()),
    };
    let debug = format!("{cli:?}");
    for id in action_input_ids() {
        assert!(
            debug.contains(&format!("value-of-{id}")),
            "input `{id}` is not read: {debug}"
        );
    }
}

#[test]
fn every_output_written_is_declared_with_a_description() {
    let yaml = action_yml();
    let declared = keys(&yaml["outputs"]);
    let report = redeliver_action::report::RunReport {
        dry_run: false,
        max_attempts: 3,
        hooks: Vec::new(),
        requests: Default::default(),
        checkpoint_saved: true,
        errors: Vec::new(),
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
    for (id, spec) in yaml["inputs"].as_mapping().expect("inputs") {
        assert!(
            spec["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{id:?}"
        );
        assert!(
            spec["required"].as_bool().is_some(),
            "{id:?} states `required`"
        );
        assert!(spec.get("default").is_some(), "{id:?} states a default");
    }
    let args = &yaml["runs"]["args"];
    assert!(
        args.is_null(),
        "secrets must not travel on the command line: {args:?}"
    );
}
