//! The real `reverb` binary: started on port 0 in a config folder of its own (it logs the port
//! it bound, which is read back), or run to completion for its commands.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::metrics::metric;
use crate::wait::eventually;

/// How long a start may take: the port in the log, then `/health` answering.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long [`run_reverb`] lets a command run.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// The `reverb` binary built by the workspace (`cargo build --workspace --bins` builds it).
pub fn reverb_bin() -> PathBuf {
    if let Ok(p) = std::env::var("REVERB_BIN") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let bin = target.join("debug/reverb");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace --bins` (make test does)",
        bin.display()
    );
    bin
}

/// A config folder: file name → YAML text. Reverb's store lives in it too.
pub struct ConfigDir {
    pub dir: tempfile::TempDir,
}

impl ConfigDir {
    pub fn new(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write config file");
        }
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join(name), text).expect("write config file");
    }

    /// Where a Reverb started in this folder keeps its store (`REVERB_STORE_PATH`).
    pub fn store_path(&self) -> PathBuf {
        self.dir.path().join("data/reverb.db")
    }
}

/// A running `reverb`; killed when dropped.
pub struct Reverb {
    pub child: Child,
    /// The port this process bound (it starts on port 0 and logs the port it got).
    pub port: u16,
    pub config: ConfigDir,
    pub http: reqwest::Client,
    /// This process's stderr (its log); each start in a folder writes a file of its own.
    log_path: PathBuf,
}

impl Reverb {
    /// Start with the given `echo-local.yml` text and wait until `/health` answers.
    pub async fn start(echo_local: &str) -> Self {
        Self::start_with(&[("echo-local.yml", echo_local)], &[]).await
    }

    /// Start in a new config folder holding `files`, with extra environment variables.
    pub async fn start_with(files: &[(&str, &str)], env: &[(&str, &str)]) -> Self {
        Self::start_in(ConfigDir::new(files), env).await
    }

    /// Start in an existing config folder: a restart keeps the store (and gets a new port).
    pub async fn start_in(config: ConfigDir, env: &[(&str, &str)]) -> Self {
        let log_path = next_log_path(config.path());
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut cmd = Command::new(reverb_bin());
        cmd.arg("--config-dir")
            .arg(config.path())
            .env("SERVER_PORT", "0")
            .env("SERVER_ADDRESS", "127.0.0.1")
            .env("HOME", config.path())
            .env("REVERB_STORE_PATH", config.store_path())
            .env("RUST_LOG", "info,reverb=debug")
            .env_remove("SPRING_PROFILES_ACTIVE")
            .env_remove("REVERB_CONFIG_DIR")
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn reverb");
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let mut me = Self {
            child,
            port: 0,
            config,
            http,
            log_path,
        };
        me.port = me.wait_listening().await;
        me.wait_healthy().await;
        me
    }

    /// The port from this process's own "Reverb listening" log line.
    async fn wait_listening(&mut self) -> u16 {
        let log_path = &self.log_path;
        let child = &mut self.child;
        let what = WithLog {
            what: "Reverb to log the port it listens on",
            log_path,
        };
        eventually(START_TIMEOUT, what, || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "reverb exited with {status} during start:\n{}",
                    read_log(log_path)
                );
            }
            std::future::ready(listening_port(&read_log(log_path)))
        })
        .await
    }

    async fn wait_healthy(&self) {
        let what = WithLog {
            what: "Reverb's /health to answer",
            log_path: &self.log_path,
        };
        let (http, url) = (&self.http, self.url("/health"));
        eventually(START_TIMEOUT, what, || async {
            let answer = http.get(&url).send().await.ok()?;
            answer.status().is_success().then_some(())
        })
        .await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// This process's log so far.
    pub fn logs(&self) -> String {
        read_log(&self.log_path)
    }

    pub async fn post_json(&self, path: &str, body: &str) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("request")
    }

    /// `GET /metrics` (expecting 200): Prometheus text.
    pub async fn metrics(&self) -> String {
        let answer = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("GET /metrics");
        assert_eq!(answer.status(), 200, "GET /metrics");
        answer.text().await.expect("metrics text")
    }

    /// One metric now, as [`crate::metric`] reads it (0 when absent).
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        metric(&self.metrics().await, name, labels)
    }

    /// SIGTERM and wait for the process to exit; its exit status code.
    pub fn terminate(&mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().ok().and_then(|s| s.code())
    }

    /// SIGTERM, expect a clean exit, and hand back the config folder (and its store).
    pub fn stop(mut self) -> ConfigDir {
        self.stop_cleanly();
        self.into_config()
    }

    /// SIGKILL (no shutdown hook runs); the config folder and its store stay.
    pub fn kill9(mut self) -> ConfigDir {
        self.kill_now();
        self.into_config()
    }

    /// The config folder, once this process is gone (it is killed if it still runs).
    pub fn into_config(mut self) -> ConfigDir {
        self.kill_now();
        std::mem::replace(&mut self.config, ConfigDir::new(&[]))
    }

    /// Stop cleanly (SIGTERM), then start again in the same folder on the same store.
    pub async fn restart(&mut self, env: &[(&str, &str)]) {
        self.stop_cleanly();
        self.start_again(env).await;
    }

    /// `kill -9`, then start again in the same folder on the same store.
    pub async fn crash_and_restart(&mut self, env: &[(&str, &str)]) {
        self.kill_now();
        self.start_again(env).await;
    }

    async fn start_again(&mut self, env: &[(&str, &str)]) {
        let config = std::mem::replace(&mut self.config, ConfigDir::new(&[]));
        *self = Self::start_in(config, env).await;
    }

    fn stop_cleanly(&mut self) {
        let code = self.terminate();
        assert_eq!(
            code,
            Some(0),
            "reverb did not stop cleanly:\n{}",
            self.logs()
        );
    }

    fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Reverb {
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// `reverb-N.log` for the Nth start in `dir`.
fn next_log_path(dir: &Path) -> PathBuf {
    let earlier = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.starts_with("reverb-") && name.ends_with(".log")
                })
                .count()
        })
        .unwrap_or(0);
    dir.join(format!("reverb-{}.log", earlier + 1))
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The port of the "Reverb listening" line, in the text format (`... port=34567`) or the JSON
/// one (`..."port":34567...`).
fn listening_port(logs: &str) -> Option<u16> {
    let line = logs.lines().find(|l| l.contains("Reverb listening"))?;
    ["port=", "\"port\":"].iter().find_map(|key| {
        line.match_indices(key).find_map(|(at, _)| {
            // A field of its own, not the end of a longer name.
            let starts_field = line[..at]
                .chars()
                .next_back()
                .is_none_or(|c| matches!(c, ' ' | ',' | '{'));
            let digits: String = line[at + key.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            starts_field.then(|| digits.parse().ok()).flatten()
        })
    })
}

/// A wait's description that shows Reverb's log when the wait times out.
struct WithLog<'a> {
    what: &'a str,
    log_path: &'a Path,
}

impl fmt::Display for WithLog<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; Reverb's log:\n{}",
            self.what,
            read_log(self.log_path)
        )
    }
}

/// Run `reverb <args>` to completion (for `reverb config`, start-up errors, `reverb outbox`).
/// A run that does not end within 30 s (say, it started serving) is killed and fails the test.
pub fn run_reverb(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(reverb_bin());
    cmd.args(args)
        .env_remove("SPRING_PROFILES_ACTIVE")
        .env_remove("REVERB_CONFIG_DIR")
        .env("HOME", std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run reverb");
    // Drain both pipes on threads so a chatty child never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let pid = child.id().to_string();
    let (exited, exit) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = exited.send(child.wait());
    });
    let status = match exit.recv_timeout(RUN_TIMEOUT) {
        Ok(status) => status.expect("wait for reverb"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            let err = stderr.join().unwrap_or_default();
            panic!(
                "reverb {args:?} did not exit within {RUN_TIMEOUT:?}:\n{}",
                String::from_utf8_lossy(&err)
            );
        }
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}
