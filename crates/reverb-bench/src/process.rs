//! Starting the measured processes (the release `reverb`, the ceiling server), watching their
//! memory in `/proc`, and stopping them.

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::http1::probe_status;

/// A port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a probe port")?;
    Ok(listener.local_addr()?.port())
}

pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The sibling binaries of this one (`target/release/reverb` next to `target/release/reverb-bench`).
pub fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("locating reverb-bench itself")?;
    let path = me.with_file_name(name);
    if !path.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release --workspace --bins` (make bench does)",
            path.display()
        );
    }
    Ok(path)
}

/// A scratch directory under the system temp dir, removed on drop.
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    pub fn new(label: &str) -> anyhow::Result<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("reverb-bench-{}-{label}-{n}", std::process::id()));
        if path.exists() {
            fs::remove_dir_all(&path).ok();
        }
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        fs::remove_dir_all(&self.path).ok();
    }
}

/// How a Reverb under test is wired to the fakes.
#[derive(Debug, Clone)]
pub struct ReverbConfig {
    pub slack_enabled: bool,
    pub slack_base_url: String,
    pub signing_secret: Option<String>,
    pub orca_base_url: String,
    pub channel_rate: f64,
    pub channel_burst: u32,
    /// `reverb.delivery.*` overrides as env vars, e.g. `REVERB_DELIVERY_INITIALBACKOFF=10m`.
    pub extra_env: Vec<(String, String)>,
}

impl ReverbConfig {
    pub fn new(slack_base_url: &str) -> Self {
        Self {
            slack_enabled: true,
            slack_base_url: slack_base_url.to_owned(),
            signing_secret: None,
            orca_base_url: "http://127.0.0.1:9".to_owned(),
            channel_rate: 1.0,
            channel_burst: 3,
            extra_env: Vec::new(),
        }
    }

    fn echo_local_yml(&self, store: &Path) -> String {
        let secret = self
            .signing_secret
            .as_ref()
            .map(|s| format!("  signing_secret: {s}\n"))
            .unwrap_or_default();
        format!(
            "slack:\n  enabled: {enabled}\n  token: xoxb-bench\n  baseUrl: {slack}\n{secret}\
             orca:\n  baseUrl: {orca}\n\
             spinnaker:\n  baseUrl: http://spinnaker\n\
             reverb:\n  store:\n    path: {store}\n  slack:\n    responseUrlBase: {slack}\n    threads: false\n\
             \x20 delivery:\n    channelRate: {rate}\n    channelBurst: {burst}\n",
            enabled = self.slack_enabled,
            slack = self.slack_base_url,
            orca = self.orca_base_url,
            store = store.display(),
            rate = self.channel_rate,
            burst = self.channel_burst,
        )
    }
}

/// Writes `echo-local.yml` into `dir` and starts `reverb --config-dir dir` on a free port.
fn spawn_reverb(dir: &Path, config: &ReverbConfig) -> anyhow::Result<(Child, u16, Instant)> {
    let store = dir.join("data/reverb.db");
    fs::write(dir.join("echo-local.yml"), config.echo_local_yml(&store))?;
    let port = free_port()?;
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("reverb.log"))?;
    let mut command = Command::new(sibling_binary("reverb")?);
    command
        .arg("--config-dir")
        .arg(dir)
        .env("SERVER_PORT", port.to_string())
        .env("SERVER_ADDRESS", "127.0.0.1")
        .env("HOME", dir)
        .env_remove("SPRING_PROFILES_ACTIVE")
        .env_remove("REVERB_CONFIG_DIR")
        // Reverb's own default log level (info) is what production runs with.
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    for (key, value) in &config.extra_env {
        command.env(key, value);
    }
    let started = Instant::now();
    let child = command.spawn().context("starting target/release/reverb")?;
    Ok((child, port, started))
}

/// A running release `reverb`; killed when dropped.
pub struct ReverbProcess {
    child: Child,
    pub port: u16,
    pub dir: ScratchDir,
    /// When the current process was spawned.
    pub spawned_at: Instant,
    /// From `spawn()` to the first 200 on `GET /health`.
    pub time_to_healthy: Duration,
}

impl ReverbProcess {
    /// Writes a config folder, starts `reverb --config-dir` on a free port and waits (polling
    /// every 0.25 ms) until `GET /health` answers 200.
    pub fn start(config: &ReverbConfig) -> anyhow::Result<Self> {
        let dir = ScratchDir::new("reverb")?;
        let (child, port, started) = spawn_reverb(dir.path(), config)?;
        let mut process = Self {
            child,
            port,
            dir,
            spawned_at: started,
            time_to_healthy: Duration::ZERO,
        };
        process.time_to_healthy = process.wait_healthy(started, Duration::from_secs(20))?;
        Ok(process)
    }

    /// SIGKILL, as a crash: no shutdown hook runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops this Reverb cleanly (unless it already exited) and starts a new one on the same folder and store, with
    /// `config` (e.g. pointing at another Slack).
    pub fn restart(&mut self, config: &ReverbConfig) -> anyhow::Result<()> {
        self.stop(Duration::from_secs(10));
        let (child, port, started) = spawn_reverb(self.dir.path(), config)?;
        self.child = child;
        self.port = port;
        self.spawned_at = started;
        self.time_to_healthy = self.wait_healthy(started, Duration::from_secs(20))?;
        Ok(())
    }

    fn wait_healthy(&mut self, started: Instant, timeout: Duration) -> anyhow::Result<Duration> {
        let addr = loopback(self.port);
        loop {
            if probe_status(addr, "/health", Duration::from_secs(2)) == Some(200) {
                return Ok(started.elapsed());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("reverb exited with {status} during start:\n{}", self.logs());
            }
            if started.elapsed() > timeout {
                bail!("reverb not healthy after {timeout:?}:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_micros(250));
        }
    }

    pub fn addr(&self) -> SocketAddr {
        loopback(self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn memory(&self) -> anyhow::Result<Memory> {
        Memory::of(self.pid())
    }

    pub fn logs(&self) -> String {
        fs::read_to_string(self.dir.path().join("reverb.log")).unwrap_or_default()
    }

    /// Bytes of the SQLite store: main file, WAL and shared-memory index.
    pub fn store_bytes(&self) -> StoreSize {
        let base = self.dir.path().join("data/reverb.db");
        let size = |suffix: &str| {
            let mut name = base.clone().into_os_string();
            name.push(suffix);
            fs::metadata(PathBuf::from(name)).map_or(0, |m| m.len())
        };
        StoreSize {
            db: size(""),
            wal: size("-wal"),
            shm: size("-shm"),
        }
    }

    /// SIGTERM (Reverb then checkpoints its store), then SIGKILL if it has not exited within
    /// `grace`. The folder stays until the process handle is dropped.
    pub fn stop(&mut self, grace: Duration) {
        terminate(&mut self.child, grace);
    }
}

impl Drop for ReverbProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreSize {
    pub db: u64,
    pub wal: u64,
    pub shm: u64,
}

impl StoreSize {
    /// What the store occupies on disk that grows with messages (the shm index is fixed-size).
    pub fn data_bytes(self) -> u64 {
        self.db + self.wal
    }
}

fn terminate(child: &mut Child, grace: Duration) {
    // Never signal a pid we already reaped: it may belong to someone else by now.
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let pid = child.id().to_string();
    let _ = Command::new("kill")
        .args(["-TERM", &pid])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Resident memory of a process, from `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the peak resident size so far.
    pub hwm_kib: u64,
}

impl Memory {
    pub fn of(pid: u32) -> anyhow::Result<Self> {
        let status = fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status"))?;
        Self::parse(&status).with_context(|| format!("no VmRSS/VmHWM in /proc/{pid}/status"))
    }

    fn parse(status: &str) -> Option<Self> {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        };
        Some(Self {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
        })
    }

    pub fn rss_mib(self) -> f64 {
        self.rss_kib as f64 / 1024.0
    }

    pub fn hwm_mib(self) -> f64 {
        self.hwm_kib as f64 / 1024.0
    }
}

/// The ceiling server (`reverb-bench ceiling-server`) in a process of its own.
pub struct CeilingProcess {
    child: Child,
    pub port: u16,
}

impl CeilingProcess {
    pub fn start() -> anyhow::Result<Self> {
        let port = free_port()?;
        let started = Instant::now();
        let child = Command::new(std::env::current_exe()?)
            .args(["ceiling-server", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the ceiling server")?;
        let mut process = Self { child, port };
        loop {
            // The ceiling only routes `POST /`; any answer to a GET means it is serving.
            if probe_status(loopback(port), "/", Duration::from_secs(2)).is_some() {
                return Ok(process);
            }
            if let Some(status) = process.child.try_wait()? {
                bail!("the ceiling server exited with {status}");
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!("the ceiling server did not start listening");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    pub fn addr(&self) -> SocketAddr {
        loopback(self.port)
    }

    pub fn memory(&self) -> anyhow::Result<Memory> {
        Memory::of(self.child.id())
    }

    pub fn stop(mut self) {
        terminate(&mut self.child, Duration::from_secs(5));
    }
}

impl Drop for CeilingProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_status_memory() {
        let status =
            "Name:\treverb\nVmPeak:\t  400000 kB\nVmHWM:\t   12345 kB\nVmRSS:\t   10240 kB\n";
        let memory = Memory::parse(status).expect("both fields");
        assert_eq!(memory.rss_kib, 10240);
        assert_eq!(memory.hwm_kib, 12345);
        assert_eq!(memory.rss_mib(), 10.0);
        assert!(Memory::parse("Name:\treverb\n").is_none());
    }

    #[test]
    fn config_points_reverb_at_the_fakes() {
        let mut config = ReverbConfig::new("http://127.0.0.1:5000");
        config.signing_secret = Some("s3cret".into());
        config.channel_rate = 1000000.0;
        let yaml = config.echo_local_yml(Path::new("/tmp/x/reverb.db"));
        assert!(
            yaml.contains("  baseUrl: http://127.0.0.1:5000\n"),
            "{yaml}"
        );
        assert!(yaml.contains("  signing_secret: s3cret\n"), "{yaml}");
        assert!(yaml.contains("    path: /tmp/x/reverb.db\n"), "{yaml}");
        assert!(
            yaml.contains("  delivery:\n    channelRate: 1000000\n"),
            "{yaml}"
        );
    }
}
