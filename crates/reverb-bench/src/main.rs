//! `reverb-bench`: the benchmarks behind `make bench`. Every load goes to 127.0.0.1 and is
//! bounded in count and time; Reverb runs as the release binary next to this one, the fake
//! Slack and Orca run in this process (from `reverb-sandbox`).

mod ceiling;
mod http1;
mod load;
mod process;
mod report;
mod scenarios;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "reverb-bench",
    about = "Reverb's benchmarks (see docs/benchmarks.md)"
)]
struct Cli {
    /// Where the JSON results go.
    #[arg(long, global = true, default_value = "bench-results")]
    out_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Outbox makespan against a rate-limited fake Slack, throughput unlimited, store cost.
    OutboxMakespan(scenarios::makespan::MakespanArgs),
    /// Orca events into POST /: fixed-rate latency and flat-out throughput vs a ceiling server.
    Events(scenarios::events::EventsArgs),
    /// Acknowledgement latency of simultaneous signed clicks while Orca is slow.
    CallbackAck(scenarios::callback::CallbackArgs),
    /// Idle and loaded resident memory, and start-to-healthy time.
    Footprint(scenarios::footprint::FootprintArgs),
    /// Memory, `/health` latency and cut-off times while many clients send maximum-size
    /// bodies slowly.
    SlowClients(scenarios::slow_clients::SlowClientsArgs),
    /// The ceiling for `events`: actix-web answering POST / with 200 after reading the body.
    CeilingServer {
        #[arg(long)]
        port: u16,
    },
    /// Print every target of every result file; exit 1 if one is not met.
    Summary,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::CeilingServer { port } = cli.command {
        return exit(ceiling::serve(port));
    }
    if let Command::Summary = cli.command {
        return match report::summary(&cli.out_dir) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => exit(Err(e)),
        };
    }
    // Two workers: the load generator and the fakes share the machine's two cores with the
    // server under test, and more threads would only contend.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return exit(Err(e.into())),
    };
    let out = cli.out_dir;
    exit(runtime.block_on(async move {
        match cli.command {
            Command::OutboxMakespan(args) => scenarios::makespan::run(args, &out).await,
            Command::Events(args) => scenarios::events::run(args, &out).await,
            Command::CallbackAck(args) => scenarios::callback::run(args, &out).await,
            Command::Footprint(args) => scenarios::footprint::run(args, &out).await,
            Command::SlowClients(args) => scenarios::slow_clients::run(args, &out).await,
            Command::CeilingServer { .. } | Command::Summary => Ok(()),
        }
    }))
}

fn exit(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reverb-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
