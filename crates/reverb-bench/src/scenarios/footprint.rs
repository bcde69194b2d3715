//! `footprint` (ship issue): resident memory idle and after 10,000 notifications, and the time
//! from process start to a healthy `/health`, beside Echo's published sizing.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use serde_json::json;

use super::common::{
    analyse, channel_name, distribution, fake_slack, interleave, notification_request,
    require_all_accepted, wait_for_posts,
};
use crate::load::send_lanes;
use crate::process::{ReverbConfig, ReverbProcess};
use crate::report::{self, Table, Target, fmt_mib, fmt_ms};
use crate::stats::{median, ms, round3};

/// Echo's published figures (docs/echo-contract.md): spinnaker.io's sizing example requests 128Mi,
/// kustomization-base requests 1200Mi; Armory's startupProbe allows 180 s.
const ECHO_REQUEST_MIN_MIB: f64 = 128.0;
const ECHO_REQUEST_MAX_MIB: f64 = 1200.0;
const ECHO_STARTUP_ALLOWANCE_SECS: f64 = 180.0;

#[derive(Debug, Clone, Args)]
pub struct FootprintArgs {
    /// Cold starts to time.
    #[arg(long, default_value_t = 10)]
    pub starts: usize,
    /// Seconds idle before the idle reading.
    #[arg(long, default_value_t = 3)]
    pub idle_secs: u64,
    /// Notifications delivered before the loaded reading.
    #[arg(long, default_value_t = 10_000)]
    pub notifications: usize,
    #[arg(long, default_value_t = 20)]
    pub channels: usize,
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
}

pub async fn run(args: FootprintArgs, out_dir: &Path) -> anyhow::Result<()> {
    let load_before = report::load_average();
    println!(
        "footprint: {} cold starts; idle RSS after {} s; RSS after {} notifications delivered",
        args.starts, args.idle_secs, args.notifications
    );
    let slack = fake_slack(0.0, 1, "unused").await?;
    let mut config = ReverbConfig::new(&slack.base_url());
    config.channel_rate = 1_000_000.0;
    config.channel_burst = 1000;

    // Each start gets a fresh folder and store, as a new pod with an empty volume would.
    let mut starts_ms = Vec::with_capacity(args.starts);
    for _ in 0..args.starts {
        let mut reverb = ReverbProcess::start(&config)?;
        starts_ms.push(ms(reverb.time_to_healthy));
        reverb.stop(Duration::from_secs(5));
    }
    let start_median = median(&starts_ms);
    let start_max = starts_ms.iter().copied().fold(0.0, f64::max);

    let mut reverb = ReverbProcess::start(&config)?;
    let at_start = reverb.memory()?;
    tokio::time::sleep(Duration::from_secs(args.idle_secs)).await;
    let idle = reverb.memory()?;

    let counts = distribution(args.notifications, args.channels, None);
    let channel_of = interleave(&counts);
    let mut lanes = vec![Vec::new(); args.connections.max(1)];
    for (seq, channel) in channel_of.iter().enumerate() {
        let lane = seq % lanes.len();
        lanes[lane].push((seq, notification_request(seq, &channel_name(*channel))));
    }
    let began = Instant::now();
    let intake = send_lanes(reverb.addr(), lanes).await;
    require_all_accepted(&intake, || reverb.logs())?;
    let during_intake = reverb.memory()?;
    if !wait_for_posts(&slack, args.notifications, Duration::from_secs(180)).await {
        bail!("not every notification reached the fake Slack within 180 s");
    }
    let delivered_in = began.elapsed();
    let after = reverb.memory()?;
    let deliveries = analyse(&slack.calls(), &channel_of, counts.len());
    reverb.stop(Duration::from_secs(5));
    slack.stop().await;

    let mut table = Table::new(
        "Footprint (release build)",
        &["measure", "Reverb", "Echo (published)", "target"],
    );
    table.row(vec![
        "start → healthy /health (median of starts)".into(),
        fmt_ms(start_median),
        format!("startupProbe allows {ECHO_STARTUP_ALLOWANCE_SECS:.0} s"),
        "< 100 ms".into(),
    ]);
    table.row(vec![
        "start → healthy /health (max)".into(),
        fmt_ms(start_max),
        String::new(),
        "< 100 ms".into(),
    ]);
    table.row(vec![
        "RSS right after healthy".into(),
        fmt_mib(at_start.rss_mib()),
        String::new(),
        String::new(),
    ]);
    table.row(vec![
        format!("RSS idle ({} s)", args.idle_secs),
        fmt_mib(idle.rss_mib()),
        format!("requests {ECHO_REQUEST_MIN_MIB:.0}–{ECHO_REQUEST_MAX_MIB:.0} MiB"),
        "< 20 MiB".into(),
    ]);
    table.row(vec![
        format!("RSS after {} delivered", args.notifications),
        fmt_mib(after.rss_mib()),
        String::new(),
        "< 50 MiB".into(),
    ]);
    table.row(vec![
        "peak RSS (VmHWM) over the load".into(),
        fmt_mib(after.hwm_mib()),
        String::new(),
        "< 50 MiB".into(),
    ]);
    table.print();
    println!(
        "  {} notifications accepted in {:.2} s, all delivered {:.2} s after the first POST (lost {}, duplicates {})",
        args.notifications,
        intake.elapsed.as_secs_f64(),
        delivered_in.as_secs_f64(),
        deliveries.lost,
        deliveries.duplicates
    );

    let targets = vec![
        Target::new(
            "idle RSS",
            "< 20 MiB",
            fmt_mib(idle.rss_mib()),
            idle.rss_mib() < 20.0,
        ),
        Target::new(
            &format!("RSS after {} notifications", args.notifications),
            "< 50 MiB",
            format!(
                "{} now, {} peak",
                fmt_mib(after.rss_mib()),
                fmt_mib(after.hwm_mib())
            ),
            after.hwm_mib() < 50.0,
        ),
        Target::new(
            "start to healthy",
            "< 100 ms",
            format!("median {}, max {}", fmt_ms(start_median), fmt_ms(start_max)),
            start_max < 100.0,
        ),
    ];
    report::print_targets(&targets);

    let parameters = json!({
        "starts": args.starts,
        "idleSecs": args.idle_secs,
        "notifications": args.notifications,
        "channels": args.channels,
        "connections": args.connections,
        "healthProbe": "GET /health on a fresh connection every 0.25 ms from spawn(); first 200 counts",
    });
    let results = json!({
        "startToHealthyMs": starts_ms.iter().map(|v| round3(*v)).collect::<Vec<_>>(),
        "startToHealthyMedianMs": round3(start_median),
        "startToHealthyMaxMs": round3(start_max),
        "rssAtHealthyMiB": round3(at_start.rss_mib()),
        "rssIdleMiB": round3(idle.rss_mib()),
        "rssAfterIntakeMiB": round3(during_intake.rss_mib()),
        "rssAfterLoadMiB": round3(after.rss_mib()),
        "peakRssMiB": round3(after.hwm_mib()),
        "intake": intake.to_json(),
        "deliveredAllSecs": round3(delivered_in.as_secs_f64()),
        "lost": deliveries.lost,
        "duplicates": deliveries.duplicates,
        "echo": {
            "memoryRequestMiB": [ECHO_REQUEST_MIN_MIB, ECHO_REQUEST_MAX_MIB],
            "startupAllowanceSecs": ECHO_STARTUP_ALLOWANCE_SECS,
        },
    });
    let path = report::write(
        out_dir,
        "footprint",
        parameters,
        results,
        &targets,
        load_before,
    )?;
    println!("  wrote {}", path.display());
    Ok(())
}
