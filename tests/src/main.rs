//! `synchost-fake`: fake remote APIs for synchost's end-to-end tests, demos
//! and benchmarks. One subcommand per API; each prints
//! `listening on http://127.0.0.1:PORT` first and serves until killed.

mod fake;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "synchost-fake",
    version,
    about = "Fake remote APIs for synchost's tests, demos and benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The items API of docs/fake-items-api.md.
    Items(fake::items::ItemsArgs),
    /// Confluence Cloud (v2 REST, v1 CQL search, downloads) of docs/confluence.md.
    Confluence(fake::confluence::ConfluenceArgs),
    /// A GitHub repository (REST: git data, contents, archives, issues) of docs/fake-github-api.md.
    Github(fake::github::GithubArgs),
    /// Supabase: PostgREST's table API over a real PostgreSQL, of docs/fake-supabase-api.md.
    Supabase(fake::supabase::SupabaseArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Items(args) => fake::items::run(args).await,
        Command::Confluence(args) => fake::confluence::run(args).await,
        Command::Github(args) => fake::github::run(args).await,
        Command::Supabase(args) => fake::supabase::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("synchost-fake: {e}");
            ExitCode::FAILURE
        }
    }
}
