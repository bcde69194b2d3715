//! `events` (events issue): Orca's pipeline-complete event into `POST /` at a fixed rate and
//! flat out, with and without a matching notification, against a minimal actix server that
//! only reads the body (the ceiling), all in one run.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

use super::common::fake_slack;
use crate::http1::{get_json, post_json};
use crate::load::{LoadResult, closed_loop, open_loop};
use crate::process::{CeilingProcess, Memory, ReverbConfig, ReverbProcess};
use crate::report::{self, Table, Target, fmt_mib, fmt_ms};
use crate::stats::round3;

const PIPELINE_COMPLETE: &str = include_str!("../../fixtures/event-pipeline-complete.json");

#[derive(Debug, Clone, Args)]
pub struct EventsArgs {
    /// Fixed rate for the latency target (events per second).
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Measured seconds at the fixed rate (after `--warmup`).
    #[arg(long, default_value_t = 10)]
    pub fixed_secs: u64,
    /// Connections the fixed-rate generator may use.
    #[arg(long, default_value_t = 64)]
    pub fixed_connections: usize,
    /// Measured seconds flat out (after `--warmup`).
    #[arg(long, default_value_t = 5)]
    pub max_secs: u64,
    /// Connections for the flat-out run.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    #[arg(long, default_value_t = 1)]
    pub warmup_secs: u64,
}

/// The fixture as Orca sends it (its application notification matches `pipeline.complete`),
/// or with the execution's `notifications` removed so nothing matches.
pub(crate) fn event_body(matching: bool) -> anyhow::Result<Vec<u8>> {
    let mut event: Value = serde_json::from_str(PIPELINE_COMPLETE)?;
    if !matching
        && let Some(execution) = event
            .pointer_mut("/content/execution")
            .and_then(Value::as_object_mut)
    {
        execution.remove("notifications");
    }
    Ok(serde_json::to_vec(&event)?)
}

struct Case {
    name: &'static str,
    fixed: LoadResult,
    max: LoadResult,
    memory: Memory,
    /// Reverb only: Slack messages the fake received by the end of the case.
    slack_posts: Option<usize>,
    /// Reverb only: messages still in its outbox at the end of the case (from `/health`).
    pending_at_end: Option<u64>,
}

impl Case {
    fn to_json(&self) -> Value {
        json!({
            "case": self.name,
            "fixedRate": self.fixed.to_json(),
            "maxThroughput": self.max.to_json(),
            "rssMiB": round3(self.memory.rss_mib()),
            "peakRssMiB": round3(self.memory.hwm_mib()),
            "slackMessagesDelivered": self.slack_posts,
            "outboxPendingAtEnd": self.pending_at_end,
        })
    }
}

async fn drive(
    args: &EventsArgs,
    addr: std::net::SocketAddr,
    body: &[u8],
) -> (LoadResult, LoadResult) {
    let request = Arc::new(post_json("/", body));
    let warmup = Duration::from_secs(args.warmup_secs);
    let fixed = open_loop(
        addr,
        request.clone(),
        args.rate,
        args.fixed_connections,
        warmup,
        Duration::from_secs(args.fixed_secs),
    )
    .await;
    let max = closed_loop(
        addr,
        request,
        args.connections,
        warmup,
        Duration::from_secs(args.max_secs),
    )
    .await;
    (fixed, max)
}

pub async fn run(args: EventsArgs, out_dir: &Path) -> anyhow::Result<()> {
    let load_before = report::load_average();
    let no_match = event_body(false)?;
    let matching = event_body(true)?;
    println!(
        "events: pipeline-complete fixture ({} bytes) into POST /, {}/s fixed for {} s, then {} connections flat out for {} s",
        matching.len(),
        args.rate,
        args.fixed_secs,
        args.connections,
        args.max_secs
    );
    let mut cases = Vec::new();

    println!("  ceiling: minimal actix handler that reads the body…");
    let ceiling = CeilingProcess::start()?;
    let (fixed, max) = drive(&args, ceiling.addr(), &matching).await;
    let memory = ceiling.memory()?;
    ceiling.stop();
    cases.push(Case {
        name: "ceiling (read body, 200)",
        fixed,
        max,
        memory,
        slack_posts: None,
        pending_at_end: None,
    });

    for (name, body) in [
        ("Reverb, no matching notification", &no_match),
        ("Reverb, one matching notification", &matching),
    ] {
        println!("  {name}…");
        let slack = fake_slack(0.0, 1, "unused").await?;
        let mut config = ReverbConfig::new(&slack.base_url());
        config.channel_rate = 1_000_000.0;
        config.channel_burst = 1000;
        let mut reverb = ReverbProcess::start(&config)?;
        let (fixed, max) = drive(&args, reverb.addr(), body).await;
        let memory = reverb.memory()?;
        let pending_at_end = get_json(reverb.addr(), "/health")
            .await
            .ok()
            .and_then(|health| health.pointer("/details/outbox/pending")?.as_u64());
        reverb.stop(Duration::from_secs(5));
        let posts = slack.calls_to("chat.postMessage").len();
        slack.stop().await;
        cases.push(Case {
            name,
            fixed,
            max,
            memory,
            slack_posts: Some(posts),
            pending_at_end,
        });
    }

    let mut table = Table::new(
        "Events into POST /",
        &[
            "server",
            "fixed rate achieved",
            "p50",
            "p99",
            "max",
            "flat out",
            "p50",
            "p99",
            "errors",
            "peak RSS",
        ],
    );
    for case in &cases {
        table.row(vec![
            case.name.to_owned(),
            format!("{:.0}/s", case.fixed.throughput()),
            fmt_ms(case.fixed.latency.p50_ms),
            fmt_ms(case.fixed.latency.p99_ms),
            fmt_ms(case.fixed.latency.max_ms),
            format!("{:.0}/s", case.max.throughput()),
            fmt_ms(case.max.latency.p50_ms),
            fmt_ms(case.max.latency.p99_ms),
            (case.fixed.failed + case.fixed.io_errors + case.max.failed + case.max.io_errors)
                .to_string(),
            fmt_mib(case.memory.hwm_mib()),
        ]);
    }
    table.print();
    for case in &cases[1..] {
        println!(
            "  {}: Slack received {} messages; {} still in the outbox at the end",
            case.name,
            case.slack_posts.unwrap_or(0),
            case.pending_at_end
                .map_or_else(|| "?".to_owned(), |n| n.to_string())
        );
    }

    let ceiling_max = cases[0].max.throughput();
    let mut targets = Vec::new();
    for case in &cases[1..] {
        let share = case.max.throughput() / ceiling_max.max(1e-9);
        targets.push(Target::new(
            &format!("throughput, {}", case.name),
            ">= 50% of the ceiling",
            format!(
                "{:.0}/s = {:.0}% of {:.0}/s",
                case.max.throughput(),
                share * 100.0,
                ceiling_max
            ),
            share >= 0.5,
        ));
        targets.push(Target::new(
            &format!("p99 at {}/s, {}", args.rate, case.name),
            "< 10 ms",
            format!(
                "{} (from scheduled send; {} on the wire)",
                fmt_ms(case.fixed.latency.p99_ms),
                fmt_ms(case.fixed.service_latency.map_or(0.0, |l| l.p99_ms))
            ),
            case.fixed.latency.p99_ms < 10.0
                && case.fixed.failed + case.fixed.io_errors == 0
                && case.fixed.ok > 0,
        ));
    }
    report::print_targets(&targets);

    let parameters = json!({
        "fixture": "event-pipeline-complete.json",
        "bodyBytes": {"matching": matching.len(), "noMatch": no_match.len()},
        "fixedRatePerSec": args.rate,
        "fixedSecs": args.fixed_secs,
        "fixedConnections": args.fixed_connections,
        "maxSecs": args.max_secs,
        "maxConnections": args.connections,
        "warmupSecs": args.warmup_secs,
    });
    let results = json!({"cases": cases.iter().map(Case::to_json).collect::<Vec<_>>()});
    let path = report::write(
        out_dir,
        "events",
        parameters,
        results,
        &targets,
        load_before,
    )?;
    println!("  wrote {}", path.display());
    Ok(())
}
