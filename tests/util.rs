//! Helpers: run the built binary as the Actions runner does, and read what it wrote.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use chrono::{DateTime, Duration, Utc};

use fake_github::{FakeGitHub, FakeOptions, FakeToken, Hook, NewDelivery, Outcome};

pub const APP_KEY: &str = include_str!("resources/app-key.pem");
pub const APP_KEY_PKCS8: &str = include_str!("resources/app-key-pkcs8.pem");
pub const APP_ID: &str = "4242";
pub const TOKEN: &str = "ghp_testtoken0123456789abcdefghijklmnop";
pub const REPO: &str = "octo/demo";
pub const VARIABLE: &str = "WEBHOOK_REDELIVERY_CHECKPOINT";

pub fn minutes_ago(minutes: i64) -> DateTime<Utc> {
    Utc::now() - Duration::minutes(minutes)
}

/// A fake GitHub with the test PAT (admin on `octo/demo`, variables write) and the App.
pub async fn fake() -> FakeGitHub {
    fake_with(FakeOptions::default()).await
}

pub async fn fake_with(options: FakeOptions) -> FakeGitHub {
    let fake = FakeGitHub::start(options).await;
    fake.add_token(
        FakeToken::new(TOKEN)
            .admin_repo(REPO)
            .admin_org("acme")
            .variables_write(true),
    );
    fake
}

/// The inputs `action.yml` declares, with their defaults, as the runner sets them.
pub fn declared_inputs() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("action.yml"))
        .expect("action.yml is readable");
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("action.yml is YAML");
    yaml["inputs"]
        .as_mapping()
        .expect("action.yml has inputs")
        .iter()
        .map(|(id, spec)| {
            let id = id.as_str().expect("input ids are strings").to_owned();
            let default = match &spec["default"] {
                serde_yaml_ng::Value::String(text) => text.clone(),
                serde_yaml_ng::Value::Number(number) => number.to_string(),
                serde_yaml_ng::Value::Bool(flag) => flag.to_string(),
                _ => String::new(),
            };
            (id, default)
        })
        .collect()
}

/// What a run of the binary left behind.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub outputs: HashMap<String, String>,
    pub raw_outputs: String,
    pub summary: String,
}

impl Run {
    pub fn output(&self, name: &str) -> &str {
        self.outputs.get(name).unwrap_or_else(|| {
            panic!(
                "no output `{name}` in {:?}\nstdout:\n{}",
                self.outputs, self.stdout
            )
        })
    }

    pub fn count(&self, name: &str) -> usize {
        self.output(name).parse().expect("a count")
    }

    pub fn json_output(&self, name: &str) -> serde_json::Value {
        serde_json::from_str(self.output(name)).expect("JSON output")
    }

    pub fn everything(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}",
            self.stdout, self.stderr, self.raw_outputs, self.summary
        )
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
    }
}

/// Parses `$GITHUB_OUTPUT`: `name=value` lines and `name<<DELIM` heredocs.
pub fn parse_outputs(text: &str) -> HashMap<String, String> {
    let mut outputs = HashMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for line in lines.by_ref() {
                if line == delimiter {
                    break;
                }
                value.push(line);
            }
            outputs.insert(name.to_owned(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            outputs.insert(name.to_owned(), value.to_owned());
        }
    }
    outputs
}

/// Runs the binary as a Docker action step: every declared input set (defaults from
/// `action.yml`, `""` otherwise), overridden by `inputs`, as `INPUT_<ID>` with hyphens
/// kept; the runner's environment; file commands in a temporary folder.
pub async fn run_action(fake: &FakeGitHub, inputs: &[(&str, &str)]) -> Run {
    run_action_with_env(fake, inputs, &[]).await
}

pub async fn run_action_with_env(
    fake: &FakeGitHub,
    inputs: &[(&str, &str)],
    env: &[(&str, &str)],
) -> Run {
    let folder = tempfile::tempdir().expect("temp dir");
    let output_file = folder.path().join("set_output");
    let summary_file = folder.path().join("step_summary");
    std::fs::write(&output_file, "").expect("output file");
    std::fs::write(&summary_file, "").expect("summary file");
    let mut values: HashMap<String, String> = declared_inputs().into_iter().collect();
    values.insert("app-id".into(), APP_ID.into());
    values.insert("private-key".into(), APP_KEY.into());
    values.insert("token".into(), TOKEN.into());
    values.insert("redelivery-interval".into(), "0s".into());
    for (id, value) in inputs {
        values.insert((*id).to_owned(), (*value).to_owned());
    }
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_redeliver"));
    command
        .env_clear()
        .current_dir(folder.path())
        .env("GITHUB_ACTIONS", "true")
        .env("CI", "true")
        .env("GITHUB_REPOSITORY", REPO)
        .env("GITHUB_REPOSITORY_OWNER", "octo")
        .env("GITHUB_API_URL", fake.url())
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_RUN_ID", "1")
        .env("GITHUB_OUTPUT", &output_file)
        .env("GITHUB_STEP_SUMMARY", &summary_file)
        .env("HOME", folder.path());
    for (id, value) in &values {
        command.env(
            format!("INPUT_{}", id.to_uppercase().replace(' ', "_")),
            value,
        );
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().await.expect("the binary runs");
    let raw_outputs = std::fs::read_to_string(&output_file).expect("outputs readable");
    let summary = std::fs::read_to_string(&summary_file).expect("summary readable");
    finish(output, raw_outputs, summary)
}

fn finish(output: Output, raw_outputs: String, summary: String) -> Run {
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        outputs: parse_outputs(&raw_outputs),
        raw_outputs,
        summary,
    }
}

/// Runs the binary as a command-line tool, outside Actions, in `folder`: `args` is its
/// argv, such as [`Args::argv`] gives.
pub async fn run_cli(
    folder: &Path,
    args: &[impl AsRef<std::ffi::OsStr>],
    env: &[(&str, &str)],
) -> Run {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_redeliver"));
    command
        .env_clear()
        .current_dir(folder)
        .env("HOME", folder)
        .args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().await.expect("the binary runs");
    finish(output, String::new(), String::new())
}

pub fn key_file(folder: &Path) -> PathBuf {
    let path = folder.join("app-key.pem");
    std::fs::write(&path, APP_KEY).expect("key written");
    path
}

/// The checkpoint document stored in the fake's variable.
pub fn stored_document(fake: &FakeGitHub) -> serde_json::Value {
    let text = fake.variable(REPO, VARIABLE).expect("the variable exists");
    serde_json::from_str(&text).expect("the variable holds JSON")
}

pub fn stored_checkpoint(fake: &FakeGitHub, hook: &str) -> DateTime<Utc> {
    stored_document(fake)["hooks"][hook]["checkpoint"]
        .as_str()
        .expect("a checkpoint")
        .parse()
        .expect("RFC 3339")
}

/// Counts the fake's requests by method and path fragment.
pub fn count_requests(fake: &FakeGitHub, method: &str, path_contains: &str) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.method == method && r.path.contains(path_contains))
        .count()
}

#[track_caller]
pub fn assert_no_unexpected(fake: &FakeGitHub) {
    let unexpected = fake.unexpected_requests();
    assert!(
        unexpected.is_empty(),
        "unexpected requests: {unexpected:#?}"
    );
}

/// Settings as a command line: `--flag=value` for each flag set (the last value of a flag
/// wins), parsed as the binary parses its own, with an empty environment.
#[derive(Debug, Clone, Default)]
pub struct Args(Vec<(String, String)>);

impl Args {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `--{flag}` to `value`.
    pub fn set(&mut self, flag: &str, value: impl Into<String>) -> &mut Self {
        self.0.retain(|(known, _)| known != flag);
        self.0.push((flag.to_owned(), value.into()));
        self
    }

    pub fn with(mut self, flag: &str, value: impl Into<String>) -> Self {
        self.set(flag, value);
        self
    }

    /// The command line, `--flag=value` for each flag set, for a spawned binary
    /// ([`run_cli`], [`Spawned`]).
    pub fn argv(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|(flag, value)| format!("--{flag}={value}"))
            .collect()
    }

    /// The parsed command line; panics when clap refuses it.
    pub fn cli(&self) -> redeliver_action::config::inputs::Cli {
        let args: Vec<String> = std::iter::once("redeliver".to_owned())
            .chain(self.argv())
            .collect();
        let env = redeliver_action::config::inputs::Environment::new();
        match redeliver_action::config::inputs::Cli::parse_from_env(&args, &env) {
            Ok(cli) => cli,
            Err(refused) => panic!("{}", refused.message()),
        }
    }

    pub fn try_settings(
        &self,
    ) -> Result<
        redeliver_action::config::settings::Settings,
        redeliver_action::config::settings::InputErrors,
    > {
        redeliver_action::config::settings::Settings::resolve(&self.cli())
    }

    /// The settings; panics when they are refused.
    pub fn settings(&self) -> redeliver_action::config::settings::Settings {
        self.try_settings().expect("valid settings")
    }

    /// The settings resolved at `now` (a replay's ages are before it); panics when they are
    /// refused.
    pub fn settings_at(&self, now: DateTime<Utc>) -> redeliver_action::config::settings::Settings {
        redeliver_action::config::settings::Settings::resolve_at(&self.cli(), now)
            .expect("valid settings")
    }
}

/// The planner's options as the settings table makes them from `flags` (the defaults for
/// the rest): a test states only the rules it is about.
pub fn plan_options(flags: &[(&str, &str)]) -> redeliver_action::domain::plan::PlanOptions {
    let mut args = Args::new()
        .with("token", TOKEN)
        .with("state", "none")
        .with("hooks", "repo/octo/demo/1");
    for (flag, value) in flags {
        args.set(flag, *value);
    }
    args.settings().plan_options().clone()
}

/// Settings as the command line would give them, pointed at `fake`, with the checkpoint
/// in the repository variable.
pub fn raw_settings(fake: &FakeGitHub) -> Args {
    Args::new()
        .with("app-id", APP_ID)
        .with("private-key", APP_KEY)
        .with("token", TOKEN)
        .with("state", format!("variable:{VARIABLE}"))
        .with("repository", REPO)
        .with("api-url", fake.url())
        .with("redelivery-interval", "0s")
}

/// Settings for the binary run outside Actions against `api_url` as the App, its key in a
/// file in `folder` (the checkpoint in the default state file unless `state` is set).
pub fn app_on_command_line(api_url: &str, folder: &Path) -> Args {
    Args::new()
        .with("api-url", api_url)
        .with("app-id", APP_ID)
        .with("private-key-file", key_file(folder).display().to_string())
}

/// Settings for the binary run outside Actions against `api_url` with the test PAT, for
/// `repo/octo/demo/9`, no checkpoint.
pub fn token_on_command_line(api_url: &str) -> Args {
    Args::new()
        .with("hooks", "repo/octo/demo/9")
        .with("token", TOKEN)
        .with("state", "none")
        .with("api-url", api_url)
}

/// A run made inside the test process, on simulated time: waits are taken at once, and
/// listed in `waits`.
pub struct InProcess {
    pub report: redeliver_action::report::RunReport,
    pub log: String,
    pub waits: Vec<std::time::Duration>,
}

/// The simulated clock that `fake` and every in-process run against it share: made (at the
/// machine's time) and handed to the fake on first use. Tests move it with `advance`.
pub fn sim_clock(fake: &FakeGitHub) -> redeliver_action::base::clock::Clock {
    use std::sync::{LazyLock, Mutex};
    static CLOCKS: LazyLock<Mutex<HashMap<String, redeliver_action::base::clock::Clock>>> =
        LazyLock::new(Default::default);
    let mut clocks = CLOCKS.lock().expect("clocks");
    // Keyed by URL, and a fake that has no clock yet is a new one on a port an earlier,
    // dropped fake had: it gets a clock of its own.
    if !fake.has_own_clock() {
        let clock = redeliver_action::base::clock::Clock::simulated(Utc::now());
        fake.use_clock(clock.wall_reader());
        clocks.insert(fake.url(), clock);
    }
    clocks[&fake.url()].clone()
}

/// One run of `raw` in this process, against `fake`, on their shared simulated clock.
pub async fn run_in_process(fake: &FakeGitHub, raw: Args) -> InProcess {
    run_in_process_with(fake, raw, |_| {}).await
}

/// Like [`run_in_process`], after `adjust` had its say on the run's context (its stop
/// handle, its deadline).
pub async fn run_in_process_with(
    fake: &FakeGitHub,
    raw: Args,
    adjust: impl FnOnce(&mut redeliver_action::run::RunContext),
) -> InProcess {
    use redeliver_action::base::log::{Log, Sink};
    use redeliver_action::run::{RunContext, run_once};
    use std::sync::{Arc, Mutex};

    let clock = sim_clock(fake);
    let settings = raw.settings_at(clock.now());
    let buffer = Arc::new(Mutex::new(String::new()));
    let mut context = RunContext::with_clock(
        Log::new(false, true, Sink::Memory(buffer.clone())),
        &settings,
        clock.clone(),
    );
    adjust(&mut context);
    let slept_before = clock.sleeps().len();
    let report = run_once(&settings, &context).await.expect("the run starts");
    let log = buffer.lock().expect("log").clone();
    let waits = clock.sleeps()[slept_before..].to_vec();
    InProcess { report, log, waits }
}

/// The requests a run sent, less its looks at the newest page for redeliveries' results
/// (the canary's, the receiver checks): the list requests after its first redelivery.
pub fn requests_without_result_polls(fake: &FakeGitHub) -> Vec<fake_github::RecordedRequest> {
    let mut redelivered = false;
    fake.requests()
        .into_iter()
        .filter(|request| {
            redelivered |= request.path.ends_with("/attempts");
            !(redelivered && request.method == "GET" && request.path.ends_with("/deliveries"))
        })
        .collect()
}

/// How often each event was redelivered, by GUID.
pub fn redelivered_guids(fake: &FakeGitHub) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for redelivery in fake.redeliveries() {
        *counts.entry(redelivery.guid).or_insert(0) += 1;
    }
    counts
}

/// Sends SIGTERM to a spawned binary, as a runner cancelling a step or Kubernetes stopping a
/// pod does.
pub fn send_sigterm(child: &tokio::process::Child) {
    let pid = child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
}

/// A scenario test in a dozen lines: a fake GitHub (the test PAT and the App) with the
/// hooks and deliveries a test adds, settings as a command line ([`raw_settings`] plus the
/// flags of each run), and runs in this process on the fake's simulated clock, each giving
/// back its report and the events it redelivered.
///
/// ```ignore
/// let scenario = Scenario::new().await;
/// scenario.failed(&Hook::App, "g1", 30);
/// let first = scenario.run(&[("max-attempts", "1")]).await;
/// assert_eq!(first.redelivered, ["g1"]);
/// scenario.advance(6 * HOUR); // the next scheduled run
/// ```
pub struct Scenario {
    pub fake: FakeGitHub,
    pub clock: redeliver_action::base::clock::Clock,
}

/// What one run of a [`Scenario`] did.
pub struct ScenarioRun {
    pub report: redeliver_action::report::RunReport,
    pub log: String,
    /// Its rate-limit waits and pauses, taken at once on simulated time.
    pub waits: Vec<std::time::Duration>,
    /// The GUIDs it redelivered, in the order the fake accepted them.
    pub redelivered: Vec<String>,
}

impl Scenario {
    pub async fn new() -> Self {
        let fake = fake().await;
        let clock = sim_clock(&fake);
        Self { fake, clock }
    }

    /// `minutes` before now on the scenario's clock.
    pub fn ago(&self, minutes: i64) -> DateTime<Utc> {
        self.clock.now() - Duration::minutes(minutes)
    }

    /// `hook` has a failed delivery of `guid`, `minutes` ago; the delivery's id.
    pub fn failed(&self, hook: &fake_github::Hook, guid: &str, minutes: i64) -> u64 {
        self.fake.add_delivery(
            hook,
            fake_github::NewDelivery::failed(guid, self.ago(minutes)),
        )
    }

    /// One run, with `flags` set over [`raw_settings`].
    pub async fn run(&self, flags: &[(&str, &str)]) -> ScenarioRun {
        let mut args = raw_settings(&self.fake);
        for (flag, value) in flags {
            args.set(flag, *value);
        }
        let before = self.fake.redeliveries().len();
        let run = run_in_process(&self.fake, args).await;
        let redelivered = self.fake.redeliveries()[before..]
            .iter()
            .map(|redelivery| redelivery.guid.clone())
            .collect();
        ScenarioRun {
            report: run.report,
            log: run.log,
            waits: run.waits,
            redelivered,
        }
    }

    /// Time passes on the clock the fake and the runs share (the next scheduled run).
    pub fn advance(&self, by: std::time::Duration) {
        self.clock.advance(by);
    }
}

/// A spawned binary whose stderr is read as it comes, so that a test waits for what it
/// can observe (a line) instead of sleeping.
pub struct Spawned {
    child: tokio::process::Child,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Spawned {
    /// The binary outside Actions, in `folder`, with `args` as its argv.
    pub fn start(folder: &Path, args: &[impl AsRef<std::ffi::OsStr>]) -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_redeliver"))
            .env_clear()
            .current_dir(folder)
            .env("HOME", folder)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("starts");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("stderr piped");
        let reader = tokio::spawn({
            let stderr = stderr.clone();
            async move {
                let mut lines = tokio::io::BufReader::new(pipe).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut text = stderr.lock().expect("stderr");
                    text.push_str(&line);
                    text.push('\n');
                }
            }
        });
        Self {
            child,
            stderr,
            reader,
        }
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr").clone()
    }

    /// Waits until stderr holds `text`, polling, at most 30 s (a bound against a hang, not
    /// a timing assertion).
    pub async fn wait_for_stderr(&self, text: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !self.stderr().contains(text) {
            assert!(
                std::time::Instant::now() < deadline,
                "no `{text}` on stderr within 30 s:\n{}",
                self.stderr()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGTERM, and gives back the exit code and the whole stderr.
    pub async fn terminate(mut self) -> (Option<i32>, String) {
        send_sigterm(&self.child);
        let status = tokio::time::timeout(std::time::Duration::from_secs(20), self.child.wait())
            .await
            .expect("exits within 20 s of SIGTERM")
            .expect("waits");
        let Spawned { stderr, reader, .. } = self;
        reader.await.expect("stderr read to its end");
        let stderr = stderr.lock().expect("stderr").clone();
        (status.code(), stderr)
    }
}

/// `count` events of the App's hook that failed because the receiver was down, `spacing`
/// apart, the first at `first` (on the fake's clock); their GUIDs.
pub fn failed_events(
    fake: &FakeGitHub,
    prefix: &str,
    count: usize,
    first: DateTime<Utc>,
    spacing: Duration,
) -> Vec<String> {
    let guids: Vec<String> = (0..count)
        .map(|i| format!("{prefix}{i:06}-0000-4000-8000-000000000000"))
        .collect();
    fake.add_deliveries(
        &Hook::App,
        guids.iter().enumerate().map(|(i, guid)| {
            NewDelivery::failed(guid.clone(), first + spacing * i as i32)
                .outcome(Outcome::FailedToConnect)
        }),
    );
    guids
}
