//! `outbox-makespan` (delivery issue): how close Reverb's outbox comes to the fastest delivery
//! Slack's per-channel limit allows; its throughput with Slack unlimited; and what the store
//! costs per message.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::{Value, json};

use super::common::{
    BlackHole, Deliveries, analyse, channel_name, distribution, fake_slack, interleave,
    notification_request, optimum_makespan_secs, require_all_accepted, wait_for_posts,
};
use crate::load::{BatchResult, Lane, send_lanes};
use crate::process::{ReverbConfig, ReverbProcess};
use crate::report::{self, Table, Target, fmt_ms};
use crate::stats::round3;

#[derive(Debug, Clone, Args)]
pub struct MakespanArgs {
    /// Messages in each paced run.
    #[arg(long, default_value_t = 600)]
    pub messages: usize,
    #[arg(long, default_value_t = 20)]
    pub channels: usize,
    /// Fake Slack's limit per channel (messages per second), and its burst.
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 3)]
    pub burst: u32,
    /// Messages on the busiest channel in the uneven run (0 skips that run).
    #[arg(long, default_value_t = 60)]
    pub hot: usize,
    /// Messages for the unlimited-Slack throughput run (0 skips it).
    #[arg(long, default_value_t = 5000)]
    pub unlimited_messages: usize,
    /// Messages for the store-cost runs (0 skips them).
    #[arg(long, default_value_t = 10000)]
    pub store_messages: usize,
    /// Connections posting to `POST /notifications` in parallel.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
}

/// Builds the numbered messages of a run and the lanes that post them (channel `c` always on
/// connection `c % connections`, so each channel's acceptance order is its sequence order).
fn plan(counts: &[usize], connections: usize) -> (Vec<usize>, Vec<Lane>) {
    let channel_of = interleave(counts);
    let connections = connections.max(1);
    let mut lanes = vec![Vec::new(); connections];
    let names: Vec<String> = (0..counts.len()).map(channel_name).collect();
    for (seq, channel) in channel_of.iter().enumerate() {
        lanes[channel % connections].push((seq, notification_request(seq, &names[*channel])));
    }
    (channel_of, lanes)
}

struct PacedRun {
    label: &'static str,
    /// When the first request was sent: makespans count from here.
    t0: Instant,
    counts: Vec<usize>,
    optimum_secs: f64,
    makespan_secs: f64,
    intake: BatchResult,
    deliveries: Deliveries,
}

impl PacedRun {
    fn ratio(&self) -> f64 {
        if self.optimum_secs > 0.0 {
            self.makespan_secs / self.optimum_secs
        } else {
            f64::INFINITY
        }
    }

    fn to_json(&self) -> Value {
        let d = &self.deliveries;
        json!({
            "distribution": self.label,
            "perChannel": self.counts,
            "busiestChannel": self.counts.iter().max(),
            "optimumMakespanSecs": round3(self.optimum_secs),
            "makespanSecs": round3(self.makespan_secs),
            "makespanOverOptimum": round3(self.ratio()),
            "delivered": d.delivered,
            "lost": d.lost,
            "duplicates": d.duplicates,
            "rateLimited429": d.rate_limited,
            "otherFailedPosts": d.other_failures,
            "outOfOrderWithinChannel": d.out_of_order,
            "firstDeliverySecs": d.first_at.map(|t| round3(t.duration_since(self.t0).as_secs_f64())),
            "channelFinishSecs": d.channel_last_at.iter().map(|t| t.map(|t| round3(t.duration_since(self.t0).as_secs_f64()))).collect::<Vec<_>>(),
            "intake": self.intake.to_json(),
        })
    }
}

async fn paced_run(
    args: &MakespanArgs,
    label: &'static str,
    counts: Vec<usize>,
) -> anyhow::Result<PacedRun> {
    let slack = fake_slack(args.rate, args.burst, "unused").await?;
    let mut config = ReverbConfig::new(&slack.base_url());
    config.channel_rate = args.rate;
    config.channel_burst = args.burst;
    let mut reverb = ReverbProcess::start(&config)?;
    let total: usize = counts.iter().sum();
    let optimum_secs = optimum_makespan_secs(&counts, args.rate, args.burst);
    let (channel_of, lanes) = plan(&counts, args.connections);
    println!(
        "  {label}: {total} messages over {} channels (busiest {}), optimum {optimum_secs:.1} s; posting…",
        counts.len(),
        counts.iter().max().copied().unwrap_or(0)
    );
    let t0 = Instant::now();
    let intake = send_lanes(reverb.addr(), lanes).await;
    require_all_accepted(&intake, || reverb.logs())?;
    let timeout = Duration::from_secs_f64(optimum_secs * 2.0 + 60.0);
    let complete = wait_for_posts(&slack, total, timeout).await;
    let deliveries = analyse(&slack.calls(), &channel_of, counts.len());
    reverb.stop(Duration::from_secs(5));
    slack.stop().await;
    if !complete {
        println!(
            "  {label}: only {} of {total} delivered within {timeout:?}",
            deliveries.delivered
        );
    }
    let makespan_secs = deliveries
        .last_at
        .map_or(f64::INFINITY, |t| t.duration_since(t0).as_secs_f64());
    Ok(PacedRun {
        label,
        t0,
        counts,
        optimum_secs,
        makespan_secs,
        intake,
        deliveries,
    })
}

struct UnlimitedRun {
    messages: usize,
    intake: BatchResult,
    /// First POST to last delivery, intake and delivery overlapping.
    end_to_end_secs: f64,
    deliveries: Deliveries,
    /// A backlog of `messages` stored while Slack hung, drained after `kill -9` and a restart:
    /// from the new process's spawn to the last delivery.
    drain_secs: f64,
    drained: Deliveries,
}

/// Slack unlimited: how fast messages go through the outbox, first while they are being posted,
/// then as a backlog drained by a restarted Reverb.
async fn unlimited_run(args: &MakespanArgs) -> anyhow::Result<UnlimitedRun> {
    let slack = fake_slack(0.0, 1, "unused").await?;
    let mut config = ReverbConfig::new(&slack.base_url());
    config.channel_rate = 1_000_000.0;
    config.channel_burst = 1000;
    let counts = distribution(args.unlimited_messages, args.channels, None);
    let (channel_of, lanes) = plan(&counts, args.connections);
    println!(
        "  unlimited Slack: {} messages over {} channels, posted and delivered at once…",
        args.unlimited_messages, args.channels
    );
    let mut reverb = ReverbProcess::start(&config)?;
    let t0 = Instant::now();
    let intake = send_lanes(reverb.addr(), lanes).await;
    require_all_accepted(&intake, || reverb.logs())?;
    let complete = wait_for_posts(&slack, args.unlimited_messages, Duration::from_secs(120)).await;
    let deliveries = analyse(&slack.calls(), &channel_of, counts.len());
    reverb.stop(Duration::from_secs(5));
    slack.stop().await;
    if !complete {
        bail!(
            "unlimited run: only {} of {} delivered in 120 s",
            deliveries.delivered,
            args.unlimited_messages
        );
    }
    let end_to_end_secs = deliveries
        .last_at
        .map_or(f64::INFINITY, |t| t.duration_since(t0).as_secs_f64());

    println!(
        "  unlimited Slack: the same stored as a backlog while Slack hangs, Reverb killed -9 and restarted…"
    );
    let hole = BlackHole::start().await?;
    let mut hung = ReverbConfig::new(&hole.base_url);
    hung.channel_rate = 1_000_000.0;
    hung.channel_burst = 1000;
    hung.extra_env = BlackHole::reverb_env();
    let mut reverb = ReverbProcess::start(&hung)?;
    let (channel_of, lanes) = plan(&counts, args.connections);
    let backlog = send_lanes(reverb.addr(), lanes).await;
    require_all_accepted(&backlog, || reverb.logs())?;
    let slack = fake_slack(0.0, 1, "unused").await?;
    config.slack_base_url = slack.base_url();
    // Killed while its sends hang in the black hole (so none was delivered or rescheduled),
    // then started again on the same store, now with a working Slack.
    reverb.kill();
    drop(hole);
    reverb.restart(&config)?;
    let complete = wait_for_posts(&slack, args.unlimited_messages, Duration::from_secs(120)).await;
    let drained = analyse(&slack.calls(), &channel_of, counts.len());
    reverb.stop(Duration::from_secs(5));
    slack.stop().await;
    if !complete {
        bail!(
            "backlog run: only {} of {} delivered in 120 s",
            drained.delivered,
            args.unlimited_messages
        );
    }
    // From the new process's spawn: its start-up and resuming the backlog count.
    let drain_secs = drained.last_at.map_or(f64::INFINITY, |t| {
        t.duration_since(reverb.spawned_at).as_secs_f64()
    });
    Ok(UnlimitedRun {
        messages: args.unlimited_messages,
        intake,
        end_to_end_secs,
        deliveries,
        drain_secs,
        drained,
    })
}

/// One intake measurement: half the messages one at a time (latency), half over parallel
/// connections (throughput).
struct IntakeRun {
    sequential: BatchResult,
    parallel: BatchResult,
    /// Database plus WAL while running, after the last request.
    store_live: u64,
    /// Database after a clean stop (WAL checkpointed and truncated).
    store_after: u64,
    rss_after_mib: f64,
}

/// Posts `store_messages` notifications either to a Reverb with Slack disabled (nothing is
/// stored: the baseline) or to one whose Slack is unreachable (everything stays in the store).
async fn intake_run(args: &MakespanArgs, store: bool) -> anyhow::Result<IntakeRun> {
    let hole = BlackHole::start().await?;
    let config = if store {
        // Slack hangs: nothing is delivered, retried or rescheduled, so the store only grows.
        let mut config = ReverbConfig::new(&hole.base_url);
        config.extra_env = BlackHole::reverb_env();
        config
    } else {
        let mut config = ReverbConfig::new("http://127.0.0.1:9");
        config.slack_enabled = false;
        config
    };
    let mut reverb = ReverbProcess::start(&config)?;
    let half = args.store_messages / 2;
    let channels = args.channels.max(1);
    let request = |seq: usize| notification_request(seq, &channel_name(seq % channels));
    let sequential_lane = (0..half).map(|seq| (seq, request(seq))).collect();
    let sequential = send_lanes(reverb.addr(), vec![sequential_lane]).await;
    let mut lanes = vec![Vec::new(); args.connections.max(1)];
    let lane_count = lanes.len();
    for seq in half..args.store_messages {
        lanes[seq % lane_count].push((seq - half, request(seq)));
    }
    let parallel = send_lanes(reverb.addr(), lanes).await;
    require_all_accepted(&sequential, || reverb.logs())?;
    require_all_accepted(&parallel, || reverb.logs())?;
    let store_live = reverb.store_bytes().data_bytes();
    let rss_after_mib = reverb.memory()?.rss_mib();
    // A clean stop checkpoints the WAL into the database file: what is left is what the
    // messages really occupy. Closing the hanging sends first lets the stop be quick.
    drop(hole);
    reverb.stop(Duration::from_secs(10));
    let store_after = reverb.store_bytes().data_bytes();
    Ok(IntakeRun {
        sequential,
        parallel,
        store_live,
        store_after,
        rss_after_mib,
    })
}

/// What the stored messages add to the checkpointed database, over the same Reverb that stored
/// nothing (its file holds only the schema).
fn store_bytes_per_message(baseline: &IntakeRun, stored: &IntakeRun, messages: usize) -> f64 {
    stored.store_after.saturating_sub(baseline.store_after) as f64 / messages.max(1) as f64
}

pub async fn run(args: MakespanArgs, out_dir: &Path) -> anyhow::Result<()> {
    let load_before = report::load_average();
    println!("outbox-makespan: Reverb's outbox against a fake Slack limiting each channel");
    let mut paced = vec![
        paced_run(
            &args,
            "even",
            distribution(args.messages, args.channels, None),
        )
        .await?,
    ];
    if args.hot > 0 {
        paced.push(
            paced_run(
                &args,
                "uneven",
                distribution(args.messages, args.channels, Some(args.hot)),
            )
            .await?,
        );
    }
    let unlimited = if args.unlimited_messages > 0 {
        Some(unlimited_run(&args).await?)
    } else {
        None
    };
    let intake = if args.store_messages >= 2 {
        println!(
            "  store cost: {} notifications with Slack disabled (no store), then with Slack hanging (all stored)…",
            args.store_messages
        );
        let baseline = intake_run(&args, false)
            .await
            .context("no-store baseline")?;
        let stored = intake_run(&args, true).await.context("stored run")?;
        Some((baseline, stored))
    } else {
        None
    };

    let mut targets = Vec::new();
    let mut table = Table::new(
        &format!(
            "Paced delivery: {} messages, {} channels, fake Slack {}/s per channel, burst {}",
            args.messages, args.channels, args.rate, args.burst
        ),
        &[
            "distribution",
            "busiest",
            "optimum",
            "makespan",
            "ratio",
            "lost",
            "dups",
            "429s",
            "out of order",
            "intake p50/p99",
        ],
    );
    for run in &paced {
        let d = &run.deliveries;
        table.row(vec![
            run.label.to_owned(),
            run.counts.iter().max().copied().unwrap_or(0).to_string(),
            format!("{:.1} s", run.optimum_secs),
            format!("{:.2} s", run.makespan_secs),
            format!("{:.3}", run.ratio()),
            d.lost.to_string(),
            d.duplicates.to_string(),
            d.rate_limited.to_string(),
            d.out_of_order.to_string(),
            format!(
                "{} / {}",
                fmt_ms(run.intake.latency.p50_ms),
                fmt_ms(run.intake.latency.p99_ms)
            ),
        ]);
        targets.push(Target::new(
            &format!("makespan ({})", run.label),
            "within 10% of optimum",
            format!(
                "{:.2} s vs {:.1} s (+{:.1}%)",
                run.makespan_secs,
                run.optimum_secs,
                (run.ratio() - 1.0) * 100.0
            ),
            run.ratio() <= 1.10,
        ));
        targets.push(Target::new(
            &format!("messages lost ({})", run.label),
            "0",
            format!("{} (duplicates {})", d.lost, d.duplicates),
            d.lost == 0,
        ));
        targets.push(Target::new(
            &format!("429s received ({})", run.label),
            &format!(
                "no more than the bursts cause (<= {}), ideally 0",
                args.channels
            ),
            d.rate_limited.to_string(),
            d.rate_limited <= args.channels,
        ));
    }
    table.print();

    if let Some(run) = &unlimited {
        for (label, d) in [
            ("unlimited, delivered at once", &run.deliveries),
            ("unlimited, backlog after kill -9 and restart", &run.drained),
        ] {
            targets.push(Target::new(
                &format!("messages lost ({label})"),
                "0",
                format!("{} (duplicates {})", d.lost, d.duplicates),
                d.lost == 0,
            ));
        }
        let mut table = Table::new(
            &format!(
                "Throughput with Slack unlimited ({} messages, {} channels)",
                run.messages, args.channels
            ),
            &["run", "messages/s", "time", "lost", "dups", "out of order"],
        );
        table.row(vec![
            "intake only (POST /notifications)".into(),
            format!(
                "{:.0}",
                run.messages as f64 / run.intake.elapsed.as_secs_f64()
            ),
            format!("{:.2} s", run.intake.elapsed.as_secs_f64()),
            String::new(),
            String::new(),
            String::new(),
        ]);
        table.row(vec![
            "posted and delivered at once (first POST → last delivery)".into(),
            format!("{:.0}", run.messages as f64 / run.end_to_end_secs),
            format!("{:.2} s", run.end_to_end_secs),
            run.deliveries.lost.to_string(),
            run.deliveries.duplicates.to_string(),
            run.deliveries.out_of_order.to_string(),
        ]);
        table.row(vec![
            "backlog drained after kill -9 and restart (spawn → last delivery)".into(),
            format!("{:.0}", run.messages as f64 / run.drain_secs),
            format!("{:.2} s", run.drain_secs),
            run.drained.lost.to_string(),
            run.drained.duplicates.to_string(),
            run.drained.out_of_order.to_string(),
        ]);
        table.print();
    }

    if let Some((baseline, stored)) = &intake {
        let mut table = Table::new(
            &format!(
                "Store cost per message ({} POST /notifications each)",
                args.store_messages
            ),
            &[
                "Reverb",
                "1 conn p50",
                "1 conn p99",
                "1 conn req/s",
                &format!("{} conns req/s", args.connections),
                "store live (db+WAL)",
                "store after clean stop",
                "RSS after",
            ],
        );
        for (name, run) in [
            ("Slack disabled (no store)", baseline),
            ("stored (Slack hangs)", stored),
        ] {
            table.row(vec![
                name.to_owned(),
                fmt_ms(run.sequential.latency.p50_ms),
                fmt_ms(run.sequential.latency.p99_ms),
                format!(
                    "{:.0}",
                    run.sequential.statuses.len() as f64 / run.sequential.elapsed.as_secs_f64()
                ),
                format!(
                    "{:.0}",
                    run.parallel.statuses.len() as f64 / run.parallel.elapsed.as_secs_f64()
                ),
                format!("{:.1} KiB", run.store_live as f64 / 1024.0),
                format!("{:.1} KiB", run.store_after as f64 / 1024.0),
                format!("{:.1} MiB", run.rss_after_mib),
            ]);
        }
        table.print();
        println!(
            "  enqueue cost: {:+.3} ms per message at p50 (one connection); {:.0} bytes of store per pending message; {:.1} MiB of store per 10,000",
            stored.sequential.latency.p50_ms - baseline.sequential.latency.p50_ms,
            store_bytes_per_message(baseline, stored, args.store_messages),
            store_bytes_per_message(baseline, stored, args.store_messages) * 10_000.0 / 1_048_576.0
        );
    }
    report::print_targets(&targets);

    let results = json!({
        "paced": paced.iter().map(PacedRun::to_json).collect::<Vec<_>>(),
        "unlimited": unlimited.as_ref().map(|run| json!({
            "messages": run.messages,
            "intake": run.intake.to_json(),
            "endToEndSecs": round3(run.end_to_end_secs),
            "deliveredPerSec": round3(run.messages as f64 / run.end_to_end_secs),
            "lost": run.deliveries.lost,
            "duplicates": run.deliveries.duplicates,
            "rateLimited429": run.deliveries.rate_limited,
            "outOfOrderWithinChannel": run.deliveries.out_of_order,
            "backlogDrain": {
                "secsFromSpawn": round3(run.drain_secs),
                "deliveredPerSec": round3(run.messages as f64 / run.drain_secs),
                "lost": run.drained.lost,
                "duplicates": run.drained.duplicates,
                "rateLimited429": run.drained.rate_limited,
                "outOfOrderWithinChannel": run.drained.out_of_order,
            },
        })),
        "storeCost": intake.as_ref().map(|(baseline, stored)| {
            let one = |run: &IntakeRun| json!({
                "sequential": run.sequential.to_json(),
                "parallel": run.parallel.to_json(),
                "storeBytesLive": run.store_live,
                "storeBytesAfterCleanStop": run.store_after,
                "rssAfterMiB": round3(run.rss_after_mib),
            });
            json!({
                "messages": args.store_messages,
                "noStoreBaseline": one(baseline),
                "stored": one(stored),
                "enqueueCostP50Ms": round3(stored.sequential.latency.p50_ms - baseline.sequential.latency.p50_ms),
                "enqueueCostMeanMs": round3(stored.sequential.latency.mean_ms - baseline.sequential.latency.mean_ms),
                "storeBytesPerPendingMessage": round3(store_bytes_per_message(baseline, stored, args.store_messages)),
            })
        }),
    });
    let parameters = json!({
        "messages": args.messages,
        "channels": args.channels,
        "slackRatePerSec": args.rate,
        "slackBurst": args.burst,
        "hotChannelMessages": args.hot,
        "unlimitedMessages": args.unlimited_messages,
        "storeMessages": args.store_messages,
        "connections": args.connections,
        "reverbDelivery": {"channelRate": args.rate, "channelBurst": args.burst, "concurrency": 16},
    });
    let path = report::write(
        out_dir,
        "outbox-makespan",
        parameters,
        results,
        &targets,
        load_before,
    )?;
    println!("  wrote {}", path.display());
    Ok(())
}
