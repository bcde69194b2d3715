//! The `reverb` command line. `anyhow` lives only here, at the binary's edge.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use reverb_config::{LoadOptions, Settings};

use crate::startup::Application;
use crate::{outbox_cmd, telemetry};

/// Reverb: Spinnaker's Echo notifications, with Slack buttons that act.
#[derive(Parser, Debug)]
#[command(name = "reverb", version, about)]
pub struct Cli {
    /// A directory holding spinnaker.yml / echo.yml / echo-<profile>.yml; repeatable, later wins.
    #[arg(long = "config-dir", global = true, value_name = "DIR")]
    pub config_dirs: Vec<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Print the effective configuration, secrets redacted, with where each value came from.
    Config,
    /// Inspect the outbox: pending messages and dead letters.
    Outbox {
        #[command(subcommand)]
        action: outbox_cmd::OutboxAction,
    },
    /// Print a Slack app manifest to paste into "Create an app → From a manifest".
    SlackManifest {
        /// The interactivity request URL: https://<your gate>/notifications/callbacks/slack
        #[arg(long)]
        url: String,
    },
}

/// Exit codes: 0 success, 1 runtime failure, 2 configuration error.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match load_settings(&cli) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Config => {
            print_config(&settings);
            print_slack_check(&settings);
            ExitCode::SUCCESS
        }
        Command::Outbox { action } => outbox_cmd::run(&settings, action),
        Command::SlackManifest { url } => {
            let bot_name = settings.slack.bot_name.as_deref().unwrap_or("spinnaker");
            print!("{}", reverb_callbacks::slack_app_manifest(&url, bot_name));
            ExitCode::SUCCESS
        }
    }
}

fn load_settings(cli: &Cli) -> Result<Settings, ExitCode> {
    reverb_config::load(&LoadOptions::from_process(cli.config_dirs.clone())).map_err(|e| {
        eprintln!("reverb: configuration error: {e}");
        ExitCode::from(2)
    })
}

fn print_config(settings: &Settings) {
    println!("# profiles: {}", settings.profiles.join(","));
    for source in &settings.sources {
        println!("# read: {}", source.display());
    }
    for entry in settings.describe() {
        println!("{} = {}    # {}", entry.key, entry.value, entry.origin);
    }
}

/// The Slack token's workspace and scopes, asked of Slack now (what a missing scope disables).
fn print_slack_check(settings: &Settings) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    if let Some(check) = runtime.block_on(crate::startup::check_slack_token(settings)) {
        println!("# slack app token: {}", check.describe());
    }
}

fn serve(settings: Settings) -> ExitCode {
    telemetry::init(
        settings.reverb.log_format,
        settings.reverb.log_level.as_deref(),
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("reverb: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: anyhow::Result<()> = runtime.block_on(async {
        let app = Application::build(settings).await?;
        app.run_until_stopped().await?;
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The errors' own messages already carry their causes (file, line, key).
            tracing::error!(error = %e, "reverb failed");
            eprintln!("reverb: {e}");
            if e.downcast_ref::<crate::startup::BuildError>()
                .is_some_and(crate::startup::BuildError::is_configuration)
            {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
