//! `slow-clients` (hardening issue): many connections each announce a maximum-size body, send
//! all but its last KiB as fast as Reverb reads, then trickle one byte a second. Measured:
//! Reverb's resident memory throughout (against the chart's 128 MiB limit), `/health` latency
//! and Orca events at an ordinary rate meanwhile, and when each slow client is cut off
//! (against `reverb.server.bodyTimeout`).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::common::fake_slack;
use super::events::event_body;
use crate::http1::{get, post_json};
use crate::load::open_loop;
use crate::process::{Memory, ReverbConfig, ReverbProcess};
use crate::report::{self, Table, Target, fmt_mib, fmt_ms};
use crate::stats::{median, ms, round3};

/// The Helm chart's default memory limit for Reverb (docs/helm.md, "Values").
const CHART_MEMORY_LIMIT_MIB: f64 = 128.0;
/// Slack for timers and the connection's linger after the answer.
const CUT_OFF_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Args)]
pub struct SlowClientsArgs {
    /// Slow connections at once.
    #[arg(long, default_value_t = 50)]
    pub connections: usize,
    /// Body size each announces: Reverb's default `reverb.server.maxRequestBodySize`.
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    pub body_bytes: usize,
    /// `reverb.server.bodyTimeout` for the run, in seconds.
    #[arg(long, default_value_t = 10)]
    pub body_timeout_secs: u64,
    /// `GET /health` per second while the slow clients hold their connections.
    #[arg(long, default_value_t = 100.0)]
    pub health_rate: f64,
    /// Orca events (`POST /`, nothing to send to Slack) per second meanwhile.
    #[arg(long, default_value_t = 50.0)]
    pub event_rate: f64,
}

/// How Reverb ended one slow client.
#[derive(Debug, Clone, Copy)]
struct Ending {
    /// Reverb's answer, when it answered before closing (408, 503).
    status: Option<u16>,
    /// From the end of the request head to the answer or, without one, to the close.
    after: Duration,
    /// Whether the connection was closed by the deadline this run allows.
    closed: bool,
    /// Body bytes the client got into its socket before the end (Reverb's kernel receive
    /// buffer included, so more than Reverb itself read).
    sent: u64,
}

/// Announces `body_bytes`, sends all but the last KiB as fast as the socket takes it, then
/// one byte a second; reads until Reverb answers and closes, or `give_up` passes.
async fn slow_client(addr: SocketAddr, body_bytes: usize, give_up: Duration) -> Ending {
    let Ok(stream) = TcpStream::connect(addr).await else {
        return Ending {
            status: None,
            after: Duration::ZERO,
            closed: true,
            sent: 0,
        };
    };
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {body_bytes}\r\n\r\n"
    );
    let started = Instant::now();
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let writer = tokio::spawn(async move {
        if write.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let block = vec![b' '; 64 * 1024];
        let fast = body_bytes.saturating_sub(1024);
        let mut done = 0;
        while done < fast {
            let n = block.len().min(fast - done);
            if write.write_all(&block[..n]).await.is_err() {
                return;
            }
            done += n;
            counter.store(done as u64, Ordering::Relaxed);
        }
        while done < body_bytes {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if write.write_all(b" ").await.is_err() {
                return;
            }
            done += 1;
            counter.store(done as u64, Ordering::Relaxed);
        }
    });
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let mut answered = None;
    let closed = loop {
        let left = give_up.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, read.read(&mut buf)).await {
            Err(_) => break false,
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => {
                seen.extend_from_slice(&buf[..n]);
                if answered.is_none() && seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    answered = Some(started.elapsed());
                }
            }
        }
    };
    let closed_at = started.elapsed();
    writer.abort();
    let status = String::from_utf8_lossy(&seen)
        .lines()
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok());
    Ending {
        status,
        after: answered.unwrap_or(closed_at),
        closed,
        sent: sent.load(Ordering::Relaxed),
    }
}

/// Reads Reverb's resident memory every 50 ms until stopped; returns the highest reading.
fn sample_memory(
    pid: u32,
) -> (
    tokio::task::JoinHandle<f64>,
    tokio::sync::watch::Sender<bool>,
) {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let mut peak: f64 = 0.0;
        loop {
            if let Ok(memory) = Memory::of(pid) {
                peak = peak.max(memory.rss_mib());
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = stopped.changed() => return peak,
            }
        }
    });
    (task, stop)
}

pub async fn run(args: SlowClientsArgs, out_dir: &Path) -> anyhow::Result<()> {
    let load_before = report::load_average();
    let timeout = Duration::from_secs(args.body_timeout_secs.max(3));
    println!(
        "slow-clients: {} connections announce {} bytes each, send all but 1 KiB flat out, then 1 byte/s; \
         bodyTimeout {} s; meanwhile GET /health at {}/s and POST / at {}/s",
        args.connections,
        args.body_bytes,
        timeout.as_secs(),
        args.health_rate,
        args.event_rate
    );
    let slack = fake_slack(0.0, 1, "unused").await?;
    let mut config = ReverbConfig::new(&slack.base_url());
    config.extra_env.push((
        "REVERB_SERVER_BODYTIMEOUT".into(),
        format!("{}s", timeout.as_secs()),
    ));
    let reverb = ReverbProcess::start(&config)?;
    let addr = reverb.addr();
    let idle = reverb.memory()?;
    let (sampler, stop_sampling) = sample_memory(reverb.pid());

    let give_up = timeout + CUT_OFF_GRACE;
    let began = Instant::now();
    let slow: Vec<_> = (0..args.connections)
        .map(|_| tokio::spawn(slow_client(addr, args.body_bytes, give_up)))
        .collect();
    // Normal traffic while the slow clients hold their connections (and, as fast as they
    // can send, the body budget), ending before the body timeout cuts them off.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let warmup = Duration::from_millis(500);
    let window = timeout.saturating_sub(Duration::from_secs(2));
    let health_request = Arc::new(get("/health"));
    let event_request = Arc::new(post_json("/", &event_body(false)?));
    let (health, events) = tokio::join!(
        open_loop(addr, health_request, args.health_rate, 2, warmup, window),
        open_loop(addr, event_request, args.event_rate, 2, warmup, window),
    );
    let during = reverb.memory()?;
    let mut endings = Vec::with_capacity(slow.len());
    for client in slow {
        endings.push(client.await?);
    }
    let all_ended_in = began.elapsed();
    stop_sampling.send_replace(true);
    let sampled_peak = sampler.await?;
    let after = reverb.memory()?;
    let health_after = crate::http1::probe_status(addr, "/health", Duration::from_secs(2));
    let mut reverb = reverb;
    reverb.stop(Duration::from_secs(5));
    slack.stop().await;
    if endings.is_empty() {
        bail!("no slow clients ran");
    }

    let peak_mib = sampled_peak.max(after.hwm_mib());
    let count = |status: Option<u16>| endings.iter().filter(|e| e.status == status).count();
    let (answered_408, answered_503, closed_silently) =
        (count(Some(408)), count(Some(503)), count(None));
    let other = endings.len() - answered_408 - answered_503 - closed_silently;
    let after_secs: Vec<f64> = endings.iter().map(|e| e.after.as_secs_f64()).collect();
    let earliest = after_secs.iter().copied().fold(f64::INFINITY, f64::min);
    let latest = after_secs.iter().copied().fold(0.0, f64::max);
    let still_open = endings.iter().filter(|e| !e.closed).count();
    let sent_mib = endings.iter().map(|e| e.sent).sum::<u64>() as f64 / (1024.0 * 1024.0);
    let cut_off_in_time = still_open == 0
        && earliest >= timeout.as_secs_f64() - 0.1
        && latest <= (timeout + CUT_OFF_GRACE).as_secs_f64();

    let mut table = Table::new(
        "Slow clients (release build)",
        &["measure", "Reverb", "target"],
    );
    table.row(vec![
        "RSS idle, before".into(),
        fmt_mib(idle.rss_mib()),
        String::new(),
    ]);
    table.row(vec![
        "peak RSS while slow clients hold connections".into(),
        fmt_mib(peak_mib),
        format!("< {CHART_MEMORY_LIMIT_MIB:.0} MiB (chart limit)"),
    ]);
    table.row(vec![
        "RSS after they were cut off".into(),
        fmt_mib(after.rss_mib()),
        String::new(),
    ]);
    table.row(vec![
        format!("GET /health p99 ({} answered)", health.ok),
        fmt_ms(health.latency.p99_ms),
        "≤ 10 ms".into(),
    ]);
    table.row(vec![
        "GET /health p50 / max".into(),
        format!(
            "{} / {}",
            fmt_ms(health.latency.p50_ms),
            fmt_ms(health.latency.max_ms)
        ),
        String::new(),
    ]);
    table.row(vec![
        format!("POST / p99 ({} accepted)", events.ok),
        fmt_ms(events.latency.p99_ms),
        String::new(),
    ]);
    table.row(vec![
        "slow clients cut off after (min / median / max)".into(),
        format!("{earliest:.2} / {:.2} / {latest:.2} s", median(&after_secs)),
        format!(
            "{} s ≤ t ≤ {} s",
            timeout.as_secs(),
            (timeout + CUT_OFF_GRACE).as_secs()
        ),
    ]);
    table.row(vec![
        "how they ended: 408 / 503 / closed / other / still open".into(),
        format!("{answered_408} / {answered_503} / {closed_silently} / {other} / {still_open}"),
        String::new(),
    ]);
    table.row(vec![
        "body bytes they got into their sockets (kernel buffers included)".into(),
        format!("{sent_mib:.1} MiB"),
        String::new(),
    ]);
    table.print();
    println!(
        "  all {} slow clients ended {:.2} s after the first connected; /health afterwards: {:?}",
        endings.len(),
        all_ended_in.as_secs_f64(),
        health_after
    );

    let normal_failed = health.failed + health.io_errors + events.failed + events.io_errors;
    let targets = vec![
        Target::new(
            "RSS during slow clients",
            &format!("< {CHART_MEMORY_LIMIT_MIB:.0} MiB"),
            format!("peak {}", fmt_mib(peak_mib)),
            peak_mib < CHART_MEMORY_LIMIT_MIB,
        ),
        Target::new(
            "/health p99 during slow clients",
            "≤ 10 ms",
            fmt_ms(health.latency.p99_ms),
            health.ok > 0 && health.latency.p99_ms <= 10.0,
        ),
        Target::new(
            "normal traffic answered during slow clients",
            "all",
            format!("{normal_failed} failed"),
            normal_failed == 0 && events.ok > 0,
        ),
        Target::new(
            "slow clients cut off at the body timeout",
            &format!(
                "all, {}–{} s",
                timeout.as_secs(),
                (timeout + CUT_OFF_GRACE).as_secs()
            ),
            format!("{earliest:.2}–{latest:.2} s, {still_open} still open"),
            cut_off_in_time,
        ),
    ];
    report::print_targets(&targets);

    let parameters = json!({
        "connections": args.connections,
        "bodyBytes": args.body_bytes,
        "bodyTimeoutSecs": timeout.as_secs(),
        "healthRatePerSec": args.health_rate,
        "eventRatePerSec": args.event_rate,
        "slowClient": "Content-Length: bodyBytes; all but 1 KiB as fast as the socket takes it, then 1 byte/s",
        "memorySampling": "VmRSS every 50 ms, and VmHWM at the end",
    });
    let results = json!({
        "rssIdleMiB": round3(idle.rss_mib()),
        "rssDuringMiB": round3(during.rss_mib()),
        "peakRssMiB": round3(peak_mib),
        "rssAfterMiB": round3(after.rss_mib()),
        "health": health.to_json(),
        "events": events.to_json(),
        "slowClients": {
            "answered408": answered_408,
            "answered503": answered_503,
            "closedWithoutAnswer": closed_silently,
            "other": other,
            "stillOpen": still_open,
            "endedAfterSecs": {
                "min": round3(earliest),
                "median": round3(median(&after_secs)),
                "max": round3(latest),
            },
            "bodyMiBSentIntoSockets": round3(sent_mib),
            "allEndedSecs": round3(all_ended_in.as_secs_f64()),
        },
        "healthAfter": health_after,
        "windowMs": round3(ms(window)),
    });
    let path = report::write(
        out_dir,
        "slow-clients",
        parameters,
        results,
        &targets,
        load_before,
    )?;
    println!("  wrote {}", path.display());
    Ok(())
}
