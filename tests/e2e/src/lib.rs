//! Helpers for the end-to-end tests: start the real `reverb` binary on a free port with a
//! config folder of its own, talk to it over HTTP, and wait for things with a deadline.

use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `reverb` binary built by the workspace (`cargo build`/`nextest` build it first).
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

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Poll `check` until it returns `Some`, or panic after `timeout` naming `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A config folder: file name → YAML text.
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
}

/// A running `reverb`; killed when dropped.
pub struct Reverb {
    pub child: Child,
    pub port: u16,
    pub config: ConfigDir,
    pub http: reqwest::Client,
    log_path: PathBuf,
}

impl Reverb {
    /// Start with the given `echo-local.yml` text (plus a store in the temp folder and a free
    /// port), and wait until `/health` answers.
    pub async fn start(echo_local: &str) -> Self {
        Self::start_with(&[("echo-local.yml", echo_local)], &[]).await
    }

    pub async fn start_with(files: &[(&str, &str)], env: &[(&str, &str)]) -> Self {
        let config = ConfigDir::new(files);
        let port = free_port();
        Self::spawn(config, port, env).await
    }

    /// Start on an existing config folder (a restart keeps the store). If another test took
    /// the port in the meantime, retry on a fresh one.
    pub async fn spawn(config: ConfigDir, port: u16, env: &[(&str, &str)]) -> Self {
        let mut config = config;
        let mut port = port;
        for _ in 0..5 {
            match Self::try_spawn(config, port, env).await {
                Ok(me) => return me,
                Err(returned) => {
                    config = returned;
                    port = free_port();
                }
            }
        }
        panic!("reverb could not bind a port after 5 attempts");
    }

    async fn try_spawn(
        config: ConfigDir,
        port: u16,
        env: &[(&str, &str)],
    ) -> Result<Self, ConfigDir> {
        let log_path = config.path().join(format!("reverb-{port}.log"));
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut cmd = Command::new(reverb_bin());
        cmd.arg("--config-dir")
            .arg(config.path())
            .env("SERVER_PORT", port.to_string())
            .env("SERVER_ADDRESS", "127.0.0.1")
            .env("HOME", config.path())
            .env(
                "REVERB_STORE_PATH",
                config.path().join("data/reverb.db").display().to_string(),
            )
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
            port,
            config,
            http,
            log_path,
        };
        if me.wait_healthy(Duration::from_secs(20)).await {
            Ok(me)
        } else {
            let _ = me.child.wait();
            Err(std::mem::replace(&mut me.config, ConfigDir::new(&[])))
        }
    }

    /// True once this process (not some other server that took the port) answers `/health`;
    /// false when it could not bind its port.
    async fn wait_healthy(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        // Text or JSON log format.
        let listening = [
            format!("port={}", self.port),
            format!("\"port\":{}", self.port),
        ];
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let logs = self.logs();
                if logs.contains("cannot listen") || logs.contains("Address already in use") {
                    return false;
                }
                panic!("reverb exited with {status} during start:\n{logs}");
            }
            let logs = self.logs();
            let ours =
                logs.contains("Reverb listening") && listening.iter().any(|l| logs.contains(l));
            if ours
                && let Ok(r) = self.http.get(self.url("/health")).send().await
                && r.status().is_success()
            {
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "reverb not healthy in time:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
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

    /// SIGKILL: no shutdown hook runs.
    pub fn kill9(mut self) -> ConfigDir {
        self.kill_now();
        std::mem::replace(&mut self.config, ConfigDir::new(&[]))
    }

    /// SIGKILL and wait for the process to be gone; the config folder stays.
    pub fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit; returns the exit status code.
    pub fn terminate(&mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for Reverb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
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
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for reverb") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.join().unwrap_or_default();
            panic!(
                "reverb {args:?} did not exit within 30 s:\n{}",
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}
