//! End-to-end test support: one simulated fleet (a `livesim` server on a free loopback port) per test,
//! with the template's resources deployed into it, SDK configuration pointing at it, and its control API.

pub mod golden;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ssm::config::{Credentials, SharedCredentialsProvider};
use serde_json::Value;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// The Python that has the simulation's pinned dependencies (`.venv`, made by `scripts/bootstrap`).
fn python() -> PathBuf {
    std::env::var_os("LIVESIM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"))
}

/// Access keys of the functions under test: this prefix, then the binary's name.
const FUNCTION_KEY_PREFIX: &str = "fn-";

/// Whether IAM action `pattern` (such as `ssm:Describe*`; IAM compares case-insensitively, `*` is
/// any run of characters and `?` one) covers `action`.
fn action_matches(pattern: &str, action: &str) -> bool {
    fn glob(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
            Some((b'?', rest)) => !s.is_empty() && glob(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
        }
    }
    glob(
        pattern.to_ascii_lowercase().as_bytes(),
        action.to_ascii_lowercase().as_bytes(),
    )
}

/// A running simulated fleet; stopped when dropped.
pub struct LocalAws {
    child: Child,
    dir: PathBuf,
    pub endpoint: String,
    port: u16,
    /// `{"refs": {...}, "environments": {"<binary>": {"VAR": "value"}}}` from the local deployment.
    pub deployment: Value,
}

impl LocalAws {
    /// Starts a simulation of `fleet` (a file name under `tests/fleets/`, or a path) and deploys the template.
    pub fn start(fleet: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let fleet_path = if Path::new(fleet).is_absolute() {
            PathBuf::from(fleet)
        } else {
            root().join("tests/fleets").join(fleet)
        };
        let dir = std::env::temp_dir().join(format!(
            "livesim-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let port_file = dir.join("port");
        let log = std::fs::File::create(dir.join("livesim.log")).expect("log file");
        let child = Command::new(python())
            .args([
                "-m",
                "livesim",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--port-file",
            ])
            .arg(&port_file)
            .arg("--fleet")
            .arg(&fleet_path)
            .current_dir(root().join("tests/sim"))
            .env("PYTHONPATH", root().join("tests/sim"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start livesim with {:?} (run scripts/bootstrap): {e}",
                    python()
                )
            });
        let mut local = LocalAws {
            child,
            dir,
            endpoint: String::new(),
            port: 0,
            deployment: Value::Null,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        local.port = loop {
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|p| p.trim().parse().ok())
            {
                break port;
            }
            if let Ok(Some(status)) = local.child.try_wait() {
                panic!("livesim exited with {status}; log:\n{}", local.log());
            }
            assert!(
                Instant::now() < deadline,
                "livesim did not start; log:\n{}",
                local.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        local.endpoint = format!("http://127.0.0.1:{}", local.port);
        let deployed = Command::new(python())
            .args(["-m", "localrun", "deploy", "--endpoint", &local.endpoint])
            .current_dir(root())
            .env("PYTHONPATH", root().join("tests/localrun"))
            .output()
            .expect("run localrun deploy");
        assert!(
            deployed.status.success(),
            "deploy failed: {}",
            String::from_utf8_lossy(&deployed.stderr)
        );
        local.deployment = serde_json::from_slice(&deployed.stdout).expect("deployment JSON");
        local
    }

    /// Starts a simulation of a fleet given as JSON (tests that build their own fleets).
    pub fn start_with(fleet: &Value) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "livesim-fleet-{}-{}.json",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::write(&path, fleet.to_string()).expect("write fleet");
        let local = Self::start(path.to_str().expect("utf-8 path"));
        let _ = std::fs::remove_file(path);
        local
    }

    /// The livesim log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("livesim.log")).unwrap_or_default()
    }

    /// SDK configuration for the local AWS, with few retries so failures show fast: for the test's
    /// own set-up and reading. A function under test gets [`LocalAws::sdk_config_for`].
    pub fn sdk_config(&self) -> SdkConfig {
        self.signed_as("test")
    }

    /// SDK configuration for function `binary`: its calls are signed with an access key that names
    /// it, and when the test ends every call it made must be an action its policies in
    /// `template.yaml` allow (checked on drop), so a missing permission fails here, not in AWS.
    pub fn sdk_config_for(&self, binary: &str) -> SdkConfig {
        assert!(
            self.deployment["allowed_actions"].get(binary).is_some(),
            "template.yaml has no function {binary}"
        );
        self.signed_as(&format!("{FUNCTION_KEY_PREFIX}{binary}"))
    }

    /// An SSM client for the test itself, to read back what a function left (not held to any
    /// function's policy).
    pub fn ssm_reader(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&self.sdk_config())
    }

    fn signed_as(&self, access_key: &str) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                access_key, "test", None, None, "livesim",
            )))
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .build()
    }

    /// The value of `var` in the deployed environment of function `binary`.
    pub fn function_env(&self, binary: &str, var: &str) -> Option<String> {
        self.deployment["environments"][binary][var]
            .as_str()
            .map(str::to_owned)
    }

    /// A lookup over the deployed environment of `binary`, with `overrides` on top.
    pub fn env_lookup(
        &self,
        binary: &str,
        overrides: &[(&str, &str)],
    ) -> impl Fn(&str) -> Option<String> {
        let mut vars: std::collections::BTreeMap<String, String> = self.deployment["environments"]
            [binary]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        for (k, v) in overrides {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        move |name: &str| vars.get(name).cloned()
    }

    pub fn get(&self, path: &str) -> Value {
        self.control("GET", path, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Value {
        self.control("POST", path, Some(body))
    }

    /// Calls the control API (`/_sim/<path>`) over plain HTTP/1.0.
    fn control(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to livesim");
        stream.set_read_timeout(Some(Duration::from_secs(60))).ok();
        write!(
            stream,
            "{method} /_sim/{} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            path.trim_start_matches('/'),
            body.len()
        )
        .expect("send request");
        let response =
            read_response(&mut stream).unwrap_or_else(|e| panic!("{method} /_sim/{path}: {e}"));
        let (head, payload) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head.split_whitespace().nth(1).unwrap_or("000");
        assert!(
            status.starts_with('2'),
            "{method} /_sim/{path} answered {head}\n{payload}"
        );
        serde_json::from_str(payload).unwrap_or(Value::Null)
    }

    /// Events the simulated services emitted, in order.
    pub fn events(&self) -> Vec<Value> {
        self.get("events")["events"]
            .as_array()
            .map(|events| events.iter().map(|e| e["event"].clone()).collect())
            .unwrap_or_default()
    }

    /// Every SNS publish the local AWS received, in order.
    pub fn notifications(&self) -> Vec<Value> {
        self.get("notifications")["notifications"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Every `SendCommand` the local AWS received, in order.
    pub fn commands(&self) -> Vec<Value> {
        self.get("commands")["commands"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Events of `detail_type` emitted so far.
    pub fn events_of(&self, detail_type: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["detail-type"] == detail_type)
            .collect()
    }

    /// Sets the simulated clock.
    pub fn set_clock(&self, now: &str) {
        self.post("clock", &serde_json::json!({ "now": now }));
    }

    /// Lets the simulated agents answer every pending command.
    pub fn run_agents(&self) -> Value {
        self.post("agents/run", &Value::Object(Default::default()))
    }
}

/// A fleet file from `tests/fleets/`, to adapt in a test.
pub fn fleet(name: &str) -> Value {
    let text = std::fs::read_to_string(root().join("tests/fleets").join(name)).expect("fleet file");
    serde_json::from_str(&text).expect("fleet JSON")
}

/// The event the Lambda SQS event source delivers for `events` sent to the install queue.
pub fn sqs_batch(events: &[Value]) -> Value {
    let records: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(n, event)| {
            serde_json::json!({
                "messageId": format!("msg-{n:04}-{}", event["id"].as_str().unwrap_or("")),
                "receiptHandle": format!("handle-{n}"),
                "body": event.to_string(),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:livepatch-autopilot-install",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

/// Reads one HTTP response, by its `Content-Length` when it has one: the connection may outlive it.
fn read_response(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            });
            if length.is_some_and(|length| body.len() >= length) {
                break;
            }
        }
    }
    Ok(String::from_utf8_lossy(&raw).into_owned())
}

impl LocalAws {
    /// Calls made by functions under test that their policies in `template.yaml` do not allow,
    /// one line each ("plan-reboots called ssm:Foo, which its policies do not allow").
    pub fn calls_not_allowed(&self) -> Vec<String> {
        let calls = self.get("calls");
        let calls = calls["calls"]
            .as_array()
            .unwrap_or_else(|| panic!("livesim's /_sim/calls is not a list of calls: {calls}"));
        let mut refused = Vec::new();
        for call in calls {
            let (Some(key), Some(action)) = (call["access_key"].as_str(), call["action"].as_str())
            else {
                panic!("livesim recorded a call without access key or action: {call}");
            };
            let Some(binary) = key.strip_prefix(FUNCTION_KEY_PREFIX) else {
                continue;
            };
            let allowed = self.deployment["allowed_actions"][binary]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .any(|pattern| action_matches(pattern, action));
            if !allowed {
                refused.push(format!(
                    "{binary} called {action}, which its policies in template.yaml do not allow"
                ));
            }
        }
        refused
    }
}

impl Drop for LocalAws {
    fn drop(&mut self) {
        // A test that passed must also have stayed within each function's IAM policy.
        let refused = if std::thread::panicking() {
            Vec::new()
        } else {
            self.calls_not_allowed()
        };
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        assert!(
            refused.is_empty(),
            "least privilege:\n{}",
            refused.join("\n")
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn iam_action_patterns() {
        use super::action_matches as m;
        assert!(m("ssm:SendCommand", "ssm:SendCommand"));
        assert!(m("ssm:sendcommand", "ssm:SendCommand"));
        assert!(m("ssm:Describe*", "ssm:DescribeInstanceInformation"));
        assert!(m("ssm:*", "ssm:ListCommands"));
        assert!(m("ssm:List?ommands", "ssm:ListCommands"));
        assert!(!m("ssm:Describe*", "ssm:SendCommand"));
        assert!(!m("ssm:SendCommand", "ssm:SendCommands"));
        assert!(!m("ssm:Get*", "sns:GetTopicAttributes"));
    }
}
