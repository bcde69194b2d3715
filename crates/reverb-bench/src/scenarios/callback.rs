//! `callback-ack` (judgments issue): how fast Reverb acknowledges signed Approve clicks when
//! they arrive all at once and Orca, which the click must reach, takes seconds to answer.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use reverb_sandbox::{ClickRequest, FakeOrcaConfig, FakeSlack, start_fake_orca};
use serde_json::{Value, json};
use tokio::sync::Barrier;

use super::common::{fake_slack, require_all_accepted, wait_for_posts};
use crate::http1::{Connection, encode_request, post_json};
use crate::load::send_lanes;
use crate::process::{ReverbConfig, ReverbProcess};
use crate::report::{self, Table, Target, fmt_ms};
use crate::stats::{Latency, round3};

const EXECUTION: &str = include_str!("../../fixtures/execution-running.json");
const NOTIFICATION: &str = include_str!("../../fixtures/notification-manual-judgment.json");
const SECRET: &str = "bench-signing-secret";
const CLICKER: &str = "U0JANE0001";
const CHANNELS: usize = 10;

#[derive(Debug, Clone, Args)]
pub struct CallbackArgs {
    /// Clicks sent at the same instant in each round.
    #[arg(long, default_value_t = 200)]
    pub clicks: usize,
    /// Rounds, back to back (each on judgments of its own).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// How long the fake Orca takes to answer any request (milliseconds).
    #[arg(long, default_value_t = 2000)]
    pub orca_delay_ms: u64,
}

fn channel(index: usize) -> String {
    format!("#bench-approvals-{:02}", index % CHANNELS)
}

fn execution_id(index: usize) -> String {
    format!("01BENCHEXEC{index:015}")
}

/// Orca's RUNNING execution and its manual-judgment notification, for execution `index`.
fn judgment_fixtures(index: usize) -> anyhow::Result<(Value, Vec<u8>)> {
    let id = execution_id(index);
    let mut execution: Value = serde_json::from_str(EXECUTION)?;
    execution["id"] = json!(id);
    let mut notification: Value = serde_json::from_str(NOTIFICATION)?;
    notification["to"] = json!([channel(index)]);
    notification["source"]["executionId"] = json!(id);
    notification["additionalContext"]["execution"]["id"] = json!(id);
    Ok((execution, serde_json::to_vec(&notification)?))
}

/// The first `action_id` in a message that starts with `prefix` (Reverb's Approve button).
fn find_action_id(value: &Value, prefix: &str) -> Option<String> {
    match value {
        Value::Object(map) => {
            if let Some(id) = map.get("action_id").and_then(Value::as_str)
                && id.starts_with(prefix)
            {
                return Some(id.to_owned());
            }
            map.values().find_map(|v| find_action_id(v, prefix))
        }
        Value::Array(items) => items.iter().find_map(|v| find_action_id(v, prefix)),
        _ => None,
    }
}

/// Every judgment message the fake Slack shows, as (channel, ts, Approve action id).
fn approve_buttons(slack: &FakeSlack) -> Vec<(String, String, String)> {
    let mut buttons = Vec::new();
    for index in 0..CHANNELS {
        let name = channel(index);
        for message in slack.posted(&name) {
            if let Some(action) =
                find_action_id(&message.to_slack_json(), "reverb.judgment.continue")
            {
                buttons.push((name.clone(), message.ts.clone(), action));
            }
        }
    }
    buttons
}

/// The signed interactivity requests, exactly as Slack would send them.
fn signed_clicks(
    slack: &FakeSlack,
    buttons: &[(String, String, String)],
) -> anyhow::Result<Vec<Vec<u8>>> {
    buttons
        .iter()
        .map(|(channel, ts, action)| {
            let click = slack
                .build_click(&ClickRequest::new(channel, ts, action, CLICKER))
                .with_context(|| format!("building a click on {channel} {ts}"))?;
            let timestamp = click.timestamp.to_string();
            Ok(encode_request(
                "POST",
                "/notifications/callbacks/slack",
                &[
                    ("Content-Type", "application/x-www-form-urlencoded"),
                    ("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)"),
                    ("X-Slack-Request-Timestamp", &timestamp),
                    ("X-Slack-Signature", &click.signature),
                ],
                click.body.as_bytes(),
            ))
        })
        .collect()
}

/// Opens one connection per click, releases all clicks at once, and returns (status, latency)
/// per click: from the send to the complete answer.
async fn burst(addr: std::net::SocketAddr, requests: Vec<Vec<u8>>) -> Vec<(u16, Duration)> {
    let barrier = Arc::new(Barrier::new(requests.len()));
    let mut tasks = Vec::with_capacity(requests.len());
    for request in requests {
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let connection = Connection::connect(addr).await;
            barrier.wait().await;
            let Ok(mut connection) = connection else {
                return (0, Duration::ZERO);
            };
            let sent = Instant::now();
            match connection.send(&request).await {
                Ok(response) => (response.status, sent.elapsed()),
                Err(_) => (0, sent.elapsed()),
            }
        }));
    }
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await.unwrap_or((0, Duration::ZERO)));
    }
    results
}

pub async fn run(args: CallbackArgs, out_dir: &Path) -> anyhow::Result<()> {
    let load_before = report::load_average();
    let total = args.clicks * args.rounds;
    println!(
        "callback-ack: {} rounds of {} simultaneous signed Approve clicks; the fake Orca answers after {} ms",
        args.rounds, args.clicks, args.orca_delay_ms
    );
    let slack = fake_slack(0.0, 1, SECRET).await?;
    let orca = start_fake_orca(FakeOrcaConfig {
        response_delay: Duration::from_millis(args.orca_delay_ms),
        ..FakeOrcaConfig::default()
    })
    .await?;
    let mut config = ReverbConfig::new(&slack.base_url());
    config.signing_secret = Some(SECRET.to_owned());
    config.orca_base_url = orca.base_url();
    config.channel_rate = 1_000_000.0;
    config.channel_burst = 1000;
    let mut reverb = ReverbProcess::start(&config)?;

    println!("  posting {total} manual-judgment notifications…");
    let mut lanes = vec![Vec::new(); 4];
    for index in 0..total {
        let (execution, notification) = judgment_fixtures(index)?;
        orca.put_execution(execution);
        lanes[index % 4].push((index, Arc::new(post_json("/notifications", &notification))));
    }
    let posted = send_lanes(reverb.addr(), lanes).await;
    require_all_accepted(&posted, || reverb.logs())?;
    if !wait_for_posts(&slack, total, Duration::from_secs(60)).await {
        bail!(
            "the judgment messages did not all reach the fake Slack:\n{}",
            reverb.logs()
        );
    }
    let buttons = approve_buttons(&slack);
    if buttons.len() < total {
        bail!(
            "found {} messages with an Approve button, expected {total}",
            buttons.len()
        );
    }

    let first_click = Instant::now();
    let mut all = Vec::with_capacity(total);
    let mut per_round = Vec::new();
    for round in buttons.chunks(args.clicks).take(args.rounds) {
        let requests = signed_clicks(&slack, round)?;
        let results = burst(reverb.addr(), requests).await;
        let latencies: Vec<Duration> = results.iter().map(|(_, d)| *d).collect();
        let accepted = results.iter().filter(|(s, _)| *s == 200).count();
        per_round.push((Latency::from_samples(&latencies), accepted));
        all.extend(results);
    }
    let acked_in = first_click.elapsed();

    // The work behind the answers: every judgment reaches Orca, seconds later.
    let deadline = Instant::now() + Duration::from_secs(120);
    while orca.patches().len() < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let patched = orca.patches().len();
    let recorded_in = first_click.elapsed();
    // …and then the messages show the decisions. Reverb paces chat.update at Slack's Tier 3
    // (about 50 a minute per workspace), so only a share of them can follow within this wait.
    let deadline = Instant::now() + Duration::from_secs(15);
    while slack.calls_to("chat.update").len() < patched && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let updates = slack.calls_to("chat.update").len();
    let updated_in = first_click.elapsed();
    let memory = reverb.memory()?;
    if patched < total {
        let logs = reverb.logs();
        let tail: Vec<&str> = logs.lines().rev().take(15).collect();
        println!("  Orca did not get every judgment; Reverb's last log lines:");
        for line in tail.into_iter().rev() {
            println!("    {line}");
        }
    }
    reverb.stop(Duration::from_secs(5));
    orca.stop().await;
    slack.stop().await;

    let latencies: Vec<Duration> = all.iter().map(|(_, d)| *d).collect();
    let overall = Latency::from_samples(&latencies);
    let accepted = all.iter().filter(|(s, _)| *s == 200).count();
    let mut table = Table::new(
        "Callback acknowledgement (send → complete answer)",
        &["round", "clicks", "200s", "p50", "p99", "max"],
    );
    for (i, (latency, ok)) in per_round.iter().enumerate() {
        table.row(vec![
            (i + 1).to_string(),
            latency.count.to_string(),
            ok.to_string(),
            fmt_ms(latency.p50_ms),
            fmt_ms(latency.p99_ms),
            fmt_ms(latency.max_ms),
        ]);
    }
    table.row(vec![
        "all".into(),
        overall.count.to_string(),
        accepted.to_string(),
        fmt_ms(overall.p50_ms),
        fmt_ms(overall.p99_ms),
        fmt_ms(overall.max_ms),
    ]);
    table.print();
    println!(
        "  all clicks answered {:.2} s after the first; Orca had {patched}/{total} judgments {:.1} s after the first click, Slack {updates} message updates after {:.1} s",
        acked_in.as_secs_f64(),
        recorded_in.as_secs_f64(),
        updated_in.as_secs_f64()
    );

    let targets = vec![
        Target::new(
            "callback ack p99",
            "< 50 ms",
            format!(
                "{} ({} of {} answered 200)",
                fmt_ms(overall.p99_ms),
                accepted,
                total
            ),
            overall.p99_ms < 50.0 && accepted == total,
        ),
        Target::new(
            "every click recorded in Orca",
            &format!("{total} PATCHes"),
            patched.to_string(),
            patched == total,
        ),
    ];
    report::print_targets(&targets);

    let parameters = json!({
        "clicksPerRound": args.clicks,
        "rounds": args.rounds,
        "orcaDelayMs": args.orca_delay_ms,
        "payload": "block_actions on Reverb's Approve button, built and signed by reverb_sandbox (FakeSlack::build_click → sign)",
    });
    let results = json!({
        "overall": overall.to_json(),
        "rounds": per_round.iter().map(|(l, ok)| json!({"latency": l.to_json(), "accepted": ok})).collect::<Vec<_>>(),
        "accepted": accepted,
        "allAnsweredSecs": round3(acked_in.as_secs_f64()),
        "orcaPatches": patched,
        "orcaPatchesCompleteSecs": round3(recorded_in.as_secs_f64()),
        "chatUpdates": updates,
        "chatUpdatesCompleteSecs": round3(updated_in.as_secs_f64()),
        "reverbPeakRssMiB": round3(memory.hwm_mib()),
    });
    let path = report::write(
        out_dir,
        "callback-ack",
        parameters,
        results,
        &targets,
        load_before,
    )?;
    println!("  wrote {}", path.display());
    Ok(())
}
