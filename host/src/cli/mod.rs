//! The `synchost` command line: argument parsing, logging, exit codes, and
//! one module per command.

mod check;
mod export;
mod forget;
mod history;
mod import;
mod init;
mod inspect;
mod policy;
mod pull;
mod push;
mod scaffold;
mod status;
mod trust;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tracing_subscriber::filter::{filter_fn, FilterExt as _};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::error::{kind_of, ExitKind};
use crate::untrusted::terminal_safe;

/// Sync records from remote systems into a local SQLite store, through
/// sandboxed WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "synchost", version, about, long_about = None)]
pub struct Cli {
    /// Config file (default: ./synchost.toml when it exists).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Store file (default: [store].path, else .synchost/synchost.db).
    #[arg(long, global = true, value_name = "PATH")]
    store: Option<PathBuf>,
    /// More detail: each page with its timing, each plugin log line.
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Everything, including each HTTP request.
    #[arg(long, global = true)]
    debug: bool,
    /// Log line format (logs go to stderr; RUST_LOG filters them).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Pull records from sources into the store (resumes unfinished runs).
    Pull(pull::PullArgs),
    /// Pull sources on a schedule until stopped (a service's main process).
    Watch(watch::WatchArgs),
    /// Show each source and stream: records, tombstones, watermark, last run, pending work.
    Status(status::StatusArgs),
    /// List recent runs (the audit trail).
    Runs(status::RunsArgs),
    /// Write a source's stored records: JSON lines to stdout, or a mirror (--format files --out DIR).
    Export(export::ExportArgs),
    /// Stage local changes (JSON lines on stdin) for the next push.
    Stage(push::StageArgs),
    /// Send staged changes (or a mirror's edits, --from) to the remote.
    Push(push::PushArgs),
    /// List the outbox: open changes (or --all), with their history in --json.
    Changes(push::ChangesArgs),
    /// List open conflicts with both sides and a diff.
    Conflicts(push::ConflictsArgs),
    /// Settle a conflict: keep the local edit, the remote item, or a merge.
    Resolve(push::ResolveArgs),
    /// Work with plugin files.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// The administrator's policy (docs/security.md): what it allows, and why.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Add a source to synchost.toml (or --config PATH) from a plugin's
    /// manifest: its settings, auth variables and hosts, nothing secret.
    Init(init::InitArgs),
    /// Restore a source's records from `synchost export` output on stdin,
    /// all or nothing.
    Import(import::ImportArgs),
    /// List the kept versions of a record, with their times and runs.
    History(history::HistoryArgs),
    /// Print one record (or one of its kept versions, --version) as JSON.
    Show(history::ShowArgs),
    /// Remove records for good: from the store, its history, blobs and
    /// mirrors (--mirror DIR); the audit keeps who, when and how many.
    Forget(forget::ForgetArgs),
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Show a plugin's manifest, contract version, imports, size and sha256.
    Inspect(inspect::InspectArgs),
    /// Create a plugin project: ./NAME with Cargo.toml, src/lib.rs, a test and a README.
    New(scaffold::NewArgs),
    /// Run the conformance suite against the API the settings name: one
    /// verdict per rule, exit 1 when one fails. Writes no store.
    Check(check::CheckArgs),
    /// Accept a configured source's plugin file as it is now into
    /// synchost.lock, showing what changed from the recorded one.
    Trust(trust::TrustArgs),
    /// Sign a plugin file with an ed25519 key: writes FILE.sig.
    Sign(trust::SignArgs),
    /// Create an ed25519 key pair for `plugin sign`: PREFIX.key and PREFIX.pub.
    Keygen(trust::KeygenArgs),
}

/// Output switch shared by the commands that can print JSON.
#[derive(Debug, Clone, Copy, Args)]
struct JsonFlag {
    /// Machine-readable JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() {
                ExitKind::Usage.code()
            } else {
                0
            });
        }
    };
    // Before the runtime: the OTLP exporters run on threads of their own.
    let (otel, otel_warnings) = crate::telemetry::start();
    init_logging(&cli, otel);
    for warning in otel_warnings {
        tracing::warn!("OpenTelemetry: {warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(ExitKind::Failed.code());
        }
    };
    let outcome = runtime.block_on(run(cli));
    // Every span has ended once the runtime and its tasks are gone: then
    // the last spans and metrics are sent.
    drop(runtime);
    crate::telemetry::shutdown(crate::telemetry::SHUTDOWN_TIMEOUT);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let kind = kind_of(&err);
            // Messages quote plugins and remotes: the last guard before the terminal.
            let message = match err.downcast_ref::<crate::error::Exit>() {
                Some(exit) if kind == ExitKind::Interrupted => exit.to_string(),
                Some(exit) => format!("error: {exit}"),
                None => format!("error: {err:#}"),
            };
            eprintln!("{}", terminal_safe(&message));
            ExitCode::from(kind.code())
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let global = Global {
        config: cli.config,
        store: cli.store,
        verbose: cli.verbose || cli.debug,
    };
    if !matches!(
        cli.command,
        Command::Pull(_) | Command::Push(_) | Command::Watch(_)
    ) {
        restore_sigpipe();
    }
    match cli.command {
        Command::Pull(args) => pull::run(&global, args).await,
        Command::Watch(args) => watch::run(&global, args).await,
        Command::Status(args) => status::status(&global, args),
        Command::Runs(args) => status::runs(&global, args),
        Command::Export(args) => export::run(&global, args),
        Command::Stage(args) => push::stage(&global, args),
        Command::Push(args) => push::push(&global, args).await,
        Command::Changes(args) => push::changes(&global, args),
        Command::Conflicts(args) => push::conflicts(&global, args),
        Command::Resolve(args) => push::resolve(&global, args),
        Command::Plugin(PluginCommand::Inspect(args)) => inspect::run(&global, args).await,
        Command::Plugin(PluginCommand::Trust(args)) => trust::trust(&global, args).await,
        Command::Plugin(PluginCommand::Sign(args)) => trust::sign(args),
        Command::Plugin(PluginCommand::Keygen(args)) => trust::keygen(args),
        Command::Plugin(PluginCommand::New(args)) => scaffold::run(args),
        Command::Plugin(PluginCommand::Check(args)) => check::run(&global, args).await,
        Command::Init(args) => init::run(&global, args).await,
        Command::Policy(command) => policy::run(&global, command),
        Command::Import(args) => import::run(&global, args),
        Command::History(args) => history::history(&global, args),
        Command::Show(args) => history::show(&global, args),
        Command::Forget(args) => forget::run(&global, args),
    }
}

/// Options every command sees.
struct Global {
    config: Option<PathBuf>,
    store: Option<PathBuf>,
    verbose: bool,
}

impl Global {
    fn config(&self) -> anyhow::Result<crate::config::Config> {
        crate::config::Config::load(self.config.as_deref())
    }
}

/// Read-only commands end quietly when their reader goes away
/// (`synchost status | head`), as Unix tools do. A pull
/// and a push keep Rust's default (SIGPIPE ignored) so they always reach a
/// clean stop.
fn restore_sigpipe() {
    // SAFETY: setting a signal disposition to its default has no
    // preconditions; no handler runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Logs go to stderr through `RUST_LOG` or the flags' filter; spans are
/// not logged (they are exported, through `otel`, when OpenTelemetry is on).
fn init_logging(cli: &Cli, otel: Option<crate::telemetry::TraceLayer>) {
    let default = if cli.debug {
        "synchost=trace,info"
    } else if cli.verbose {
        "synchost=debug,warn"
    } else {
        "warn"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let fmt = match cli.log_format {
        LogFormat::Text => fmt.with_target(false).boxed(),
        LogFormat::Json => fmt.json().boxed(),
    };
    let events_only = filter.and(filter_fn(|metadata| !metadata.is_span()));
    tracing_subscriber::registry()
        .with(otel)
        .with(fmt.with_filter(events_only))
        .init();
}

/// The sources a command works on: those named, else every configured one.
/// None at all is a usage error: "no sources to VERB: HINT".
fn chosen_sources(
    config: &crate::config::Config,
    named: &[String],
    verb: &str,
    hint: &str,
) -> anyhow::Result<Vec<String>> {
    let names = if named.is_empty() {
        config.source_names()
    } else {
        named.to_vec()
    };
    if names.is_empty() {
        return Err(crate::error::usage(format!("no sources to {verb}: {hint}")));
    }
    Ok(names)
}
