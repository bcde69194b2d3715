//! `reverb outbox`: list pending messages and dead letters, retry or drop a dead letter.
//! Works on the store file directly; a running Reverb picks up a retried message within seconds.

use std::process::ExitCode;

use clap::Subcommand;
use reverb_config::Settings;
use reverb_store::{SqliteStore, Store, StoredMessage};
use reverb_support::now_ms;

#[derive(Subcommand, Debug)]
pub enum OutboxAction {
    /// List pending messages and dead letters.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Send a dead letter again.
    Retry { id: i64 },
    /// Delete a dead letter.
    Drop { id: i64 },
}

pub fn run(settings: &Settings, action: OutboxAction) -> ExitCode {
    let store = match SqliteStore::open(&settings.reverb.store_path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("reverb outbox: {e}");
            return ExitCode::FAILURE;
        }
    };
    let now = now_ms();
    let result = match action {
        OutboxAction::List { json } => list(&store, now, json),
        OutboxAction::Retry { id } => store.revive(id, now).map(|found| match found {
            Some(m) => println!("dead letter {id} queued again as message {}", m.id),
            None => println!("no dead letter with id {id}"),
        }),
        OutboxAction::Drop { id } => store.drop_dead_letter(id).map(|found| {
            if found {
                println!("dead letter {id} dropped");
            } else {
                println!("no dead letter with id {id}");
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reverb outbox: {e}");
            ExitCode::FAILURE
        }
    }
}

fn list(store: &SqliteStore, now: i64, json: bool) -> Result<(), reverb_store::StoreError> {
    let pending = store.pending()?;
    let dead = store.dead_letters()?;
    if json {
        let row = |state: &str, m: &StoredMessage| {
            serde_json::json!({
                "id": m.id, "state": state, "kind": m.message.kind().as_str(),
                "channel": m.message.destination(),
                "method": m.message.method().as_str(), "attempts": m.attempts,
                "ageSeconds": (now - m.created_ms) / 1000, "lastError": m.last_error,
            })
        };
        let rows: Vec<_> = pending
            .iter()
            .map(|m| row("pending", m))
            .chain(dead.iter().map(|m| row("dead", m)))
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    println!(
        "{:>8}  {:<8} {:<18} {:<24} {:>8} {:>8}  LAST ERROR",
        "ID", "STATE", "KIND", "CHANNEL", "ATTEMPTS", "AGE(s)"
    );
    for (state, messages) in [("pending", &pending), ("dead", &dead)] {
        for m in messages {
            println!(
                "{:>8}  {:<8} {:<18} {:<24} {:>8} {:>8}  {}",
                m.id,
                state,
                m.message.kind(),
                m.message.destination(),
                m.attempts,
                (now - m.created_ms) / 1000,
                m.last_error.as_deref().unwrap_or("-")
            );
        }
    }
    println!("{} pending, {} dead", pending.len(), dead.len());
    Ok(())
}
