//! `memory-server`: serves the API (no subcommand), or runs `migrate`, `embed`, `retention`,
//! `export` or `import`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use memory_server::config::Settings;
use memory_server::startup::Application;
use memory_server::telemetry;

/// AI Memory Layer: long-term memory for chatbots. Every flag is also a MEMORY_* variable.
#[derive(Debug, Parser)]
#[command(name = "memory-server", version, about)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Embed texts read one per line on stdin; write JSON lines {"text", "embedding"} to stdout.
    Embed,
    /// Run retention once for one tenant (or every tenant) and print the counts as JSON.
    Retention {
        /// The tenant; all tenants when absent.
        #[arg(long)]
        tenant: Option<String>,
        /// Count only, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write a tenant's messages (archived ones included) to stdout as JSON lines, oldest
    /// first; progress goes to stderr.
    Export {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// Only this conversation.
        #[arg(long)]
        conversation: Option<String>,
        /// Include the embeddings (an import then needs no model time for them).
        #[arg(long)]
        embeddings: bool,
    },
    /// Store the messages of a JSON lines file written by `export` (ids, dates, importance
    /// and archived flags kept). Re-running an interrupted import stores nothing twice.
    Import {
        /// The file (`-` for stdin).
        file: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    // Before any other thread starts: the model's buffers stay in the process (allocator.rs).
    let tuning = memory_server::allocator::tune();
    // A missing .env is normal; a malformed one is reported.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("error: cannot read .env: {e}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    telemetry::init(cli.settings.log_format, &cli.settings.log_level);
    tracing::debug!(?tuning, "malloc thresholds");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(cli.settings).await?;
            app.run_until_stopped().await?;
            Ok(())
        }
        Command::Migrate => memory_server::adapters::migrate(&cli.settings).await,
        Command::Embed => memory_server::adapters::embed_stdin(&cli.settings).await,
        Command::Retention { tenant, dry_run } => {
            memory_server::adapters::retention_once(&cli.settings, tenant.as_deref(), dry_run).await
        }
        Command::Export {
            tenant,
            conversation,
            embeddings,
        } => {
            memory_server::adapters::export(
                &cli.settings,
                &tenant,
                conversation.as_deref(),
                embeddings,
            )
            .await
        }
        Command::Import { file } => memory_server::adapters::import(&cli.settings, &file).await,
    }
}
