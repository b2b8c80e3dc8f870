//! `starhouse`: the command line of the Starhouse warehouse engine.
//!
//! With no statements to run it opens the interactive shell (`repl`); with `-c`, `-f` or piped
//! input it runs them and exits, errors on standard error and a non-zero status. `starhouse demo`
//! (re)creates the bundled demo warehouse. Input is split into statements by `input`, run by
//! `runner` (meta-commands in `meta`) and written by `render`.
//!
//! The shell knows the engine's API only: no SQL semantics or catalog rules live here.

mod complete;
mod input;
mod meta;
mod render;
mod repl;
mod runner;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use clap::{Parser, Subcommand, ValueEnum};
use starhouse_engine::catalog::{User, put_user, read_users, remove_user};
use starhouse_engine::{
    Engine, EngineOptions, FileFormat, LoadOptions, LoadOutcome, LoadTarget, ReadOptions, StorageOptions, demo,
};
use starhouse_server::{Server, ServerOptions, TlsFiles};

use crate::render::{Format, TableStyle};
use crate::runner::{Flow, Runner};

/// Starhouse: an analytical warehouse engine for star schemas of Parquet files.
#[derive(Debug, Parser)]
#[command(name = "starhouse", version, about)]
struct Args {
    /// The warehouse to open: a folder (created if new), a file:// URL or s3://bucket/prefix.
    /// Without it, the bundled demo warehouse, created on first use.
    #[arg(short, long, env = "STARHOUSE_WAREHOUSE", global = true)]
    warehouse: Option<String>,

    #[command(flatten)]
    storage: StorageArgs,

    /// Run these statements and exit (may be given more than once).
    #[arg(short, long = "command", value_name = "SQL")]
    command: Vec<String>,

    /// Run the statements in this file and exit.
    #[arg(short, long, value_name = "FILE")]
    file: Option<PathBuf>,

    /// How results are written.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,

    /// Show at most this many rows of a table result (the first and last halves); 0 shows all.
    #[arg(long, default_value_t = 40, value_name = "N")]
    max_rows: usize,

    #[command(subcommand)]
    subcommand: Option<Command>,
}

/// Object storage settings, over the standard AWS_* environment variables (which hold the
/// credentials: they are never given on the command line).
#[derive(Debug, clap::Args)]
struct StorageArgs {
    /// The S3 endpoint, for an S3-compatible server (default: AWS_ENDPOINT_URL, or AWS itself).
    #[arg(long, global = true, value_name = "URL")]
    s3_endpoint: Option<String>,

    /// The S3 region (default: AWS_REGION, or us-east-1).
    #[arg(long, global = true, value_name = "REGION")]
    s3_region: Option<String>,

    /// Allow plain HTTP to the S3 endpoint (a local server; default: AWS_ALLOW_HTTP).
    #[arg(long, global = true)]
    s3_allow_http: bool,

    /// How buckets are addressed: path style (endpoint/bucket/key, the default) or virtual-hosted
    /// style (bucket.endpoint/key).
    #[arg(long, global = true, value_enum, value_name = "STYLE")]
    s3_url_style: Option<UrlStyle>,

    /// Seconds a listing of a table's files is reused (default: 0 for a local warehouse, 30 for
    /// one in object storage).
    #[arg(long, global = true, value_name = "SECONDS")]
    listing_cache_ttl: Option<u64>,

    /// Megabytes of Parquet footers kept in memory (default 50).
    #[arg(long, global = true, value_name = "MB")]
    metadata_cache_mb: Option<usize>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum UrlStyle {
    Path,
    VirtualHosted,
}

impl StorageArgs {
    fn engine_options(&self) -> EngineOptions {
        EngineOptions {
            storage: StorageOptions {
                s3_endpoint: self.s3_endpoint.clone(),
                s3_region: self.s3_region.clone(),
                s3_allow_http: self.s3_allow_http.then_some(true),
                s3_virtual_hosted_style: self.s3_url_style.map(|style| matches!(style, UrlStyle::VirtualHosted)),
                s3_credentials: None,
            },
            listing_cache_ttl: self.listing_cache_ttl.map(std::time::Duration::from_secs),
            metadata_cache_bytes: self.metadata_cache_mb.map(|mb| mb.saturating_mul(1024 * 1024)),
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// (Re)create the demo retail star schema (in --warehouse, or the bundled demo warehouse).
    Demo {
        /// About a million sales per unit of scale.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
    },
    /// Serve the warehouse over the PostgreSQL protocol, for psql, drivers and BI tools.
    ///
    /// When the warehouse has users (see `starhouse user`), every client signs in with SCRAM-SHA-256;
    /// without users, clients are trusted, and only a loopback address is accepted.
    Serve {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:5433", value_name = "ADDRESS")]
        listen: std::net::SocketAddr,

        /// TLS certificate chain (PEM). With it, clients must connect over TLS.
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,

        /// TLS private key (PEM), for --tls-cert.
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,

        /// Connections served at once; more are refused with "too many connections".
        #[arg(long, default_value_t = 100, value_name = "N")]
        max_connections: usize,

        /// Let every client change the warehouse (CREATE, ALTER, DROP, ANALYZE, SET datafusion.*).
        /// Without it, only users added with --writer do; the others only read.
        #[arg(long)]
        allow_writes: bool,
    },
    /// Load files into managed tables, in one commit: `starhouse load TABLE FILE...`, or
    /// `starhouse load TABLE=FILE TABLE=FILE...` for several tables at once (a fact and its new
    /// dimension rows). Formats come from the extensions (.csv, .json/.ndjson, .parquet).
    Load {
        /// `TABLE FILE...`, or `TABLE=FILE...`.
        #[arg(required = true, num_args = 1.., value_name = "TABLE FILE...")]
        targets: Vec<String>,

        /// The load's id (a batch or run id): a load whose id committed before is skipped.
        #[arg(long, value_name = "ID")]
        load_id: Option<String>,

        /// Load only rows whose COLUMN is above the last load's watermark for the same table and
        /// files, and remember the new one (for scheduled, incremental loads).
        #[arg(long, value_name = "COLUMN")]
        since: Option<String>,

        /// Rows that violate a NOT NULL, primary key or foreign key go to TABLE_rejects (with the
        /// reason and the load id) and the others load, instead of the whole load failing.
        #[arg(long)]
        rejects: bool,

        /// The files' format, when their extensions do not say it.
        #[arg(long, value_enum)]
        format: Option<LoadFormat>,

        /// CSV files have no header line (by default the first line names the columns).
        #[arg(long)]
        no_header: bool,

        /// CSV field delimiter.
        #[arg(long, default_value_t = ',', value_name = "CHAR")]
        delimiter: char,
    },
    /// Manage the users who may connect to `starhouse serve` (kept in the warehouse, with SCRAM
    /// verifiers rather than passwords).
    User {
        #[command(subcommand)]
        action: UserAction,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LoadFormat {
    Csv,
    Json,
    Parquet,
}

/// The tables and files of `starhouse load`'s arguments.
fn load_targets(args: &[String]) -> Result<Vec<LoadTarget>> {
    if args.iter().all(|a| a.contains('=')) {
        let mut targets: Vec<LoadTarget> = Vec::new();
        for arg in args {
            let (table, file) = arg.split_once('=').ok_or_else(|| anyhow!("expected TABLE=FILE, got {arg}"))?;
            match targets.iter_mut().find(|t| t.table == table) {
                Some(target) => target.files.push(file.to_string()),
                None => targets.push(LoadTarget { table: table.to_string(), files: vec![file.to_string()] }),
            }
        }
        return Ok(targets);
    }
    match args {
        [table, files @ ..] if !files.is_empty() => {
            Ok(vec![LoadTarget { table: table.clone(), files: files.to_vec() }])
        }
        _ => anyhow::bail!("give a table and its files (TABLE FILE...), or TABLE=FILE pairs"),
    }
}

/// `starhouse load ...`: says what it loaded, or that the load id was loaded before.
async fn load(engine: &Arc<Engine>, targets: &[LoadTarget], options: &LoadOptions) -> Result<()> {
    match engine.session().load(targets, options).await? {
        LoadOutcome::Loaded { id, version, rows, files, rejected } => {
            eprintln!("Loaded {rows} rows in {files} files as version {version} (load {id})");
            if rejected > 0 {
                eprintln!("Rejected {rejected} rows: they are in the tables' _rejects tables, with the reasons");
            }
        }
        LoadOutcome::AlreadyLoaded { id, version } => {
            eprintln!("Load {id} was committed before, in version {version}: nothing loaded");
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
enum UserAction {
    /// Add a user, or set the password of one. The password is read from STARHOUSE_PASSWORD,
    /// or asked for at the terminal, or read as the first line of standard input.
    Add {
        name: String,
        /// The user may change the warehouse (DDL, loads); without it, the user only reads.
        #[arg(long)]
        writer: bool,
    },
    /// Remove a user.
    Remove { name: String },
    /// List the users and their roles.
    List,
}

/// The new password of a user: from STARHOUSE_PASSWORD, the terminal or standard input.
fn new_password(name: &str) -> Result<String> {
    let password = match std::env::var("STARHOUSE_PASSWORD") {
        Ok(password) => password,
        Err(_) if std::io::stdin().is_terminal() => {
            let first = rpassword::prompt_password(format!("Password for {name}: "))?;
            if rpassword::prompt_password("Again: ")? != first {
                anyhow::bail!("the passwords do not match");
            }
            first
        }
        Err(_) => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    if password.is_empty() {
        anyhow::bail!("the password is empty");
    }
    Ok(password)
}

/// `starhouse user ...`.
async fn manage_users(engine: &Engine, action: &UserAction) -> Result<()> {
    let root = engine.warehouse().root();
    match action {
        UserAction::Add { name, writer } => {
            let verifier = starhouse_server::scram_verifier(&new_password(name)?);
            put_user(root, User { name: name.clone(), verifier, writer: *writer }).await?;
            let role = if *writer { "writer" } else { "reader" };
            eprintln!("User {name} ({role}) can now connect to {root}");
        }
        UserAction::Remove { name } => {
            if !remove_user(root, name).await? {
                anyhow::bail!("there is no user {name}");
            }
            eprintln!("Removed user {name}");
        }
        UserAction::List => {
            for user in read_users(root).await? {
                println!("{}\t{}", user.name, if user.writer { "writer" } else { "reader" });
            }
        }
    }
    Ok(())
}

/// Serves the warehouse until Ctrl-C.
async fn serve(engine: Arc<Engine>, options: ServerOptions) -> Result<()> {
    let server = Server::bind(engine, options).await?;
    let address = server.local_addr().ok_or_else(|| anyhow!("the server has no address"))?;
    eprintln!(
        "Serving the warehouse on postgresql://{address}/starhouse (psql -h {} -p {} starhouse); Ctrl-C stops.",
        address.ip(),
        address.port()
    );
    server
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    Ok(())
}

/// The bundled demo warehouse: `starhouse/demo` in the user's data folder.
fn demo_root() -> Result<PathBuf> {
    let data =
        dirs::data_dir().ok_or_else(|| anyhow!("no data folder found for the demo warehouse: give --warehouse"))?;
    Ok(data.join("starhouse").join("demo"))
}

async fn create_demo(engine: &Arc<Engine>, scale: f64) -> Result<()> {
    eprintln!("Creating the demo warehouse (scale {scale}) at {}", engine.warehouse().root());
    let summary = demo::create(engine, scale).await?;
    let rows: Vec<String> = summary.rows.iter().map(|(table, rows)| format!("{table} {rows}")).collect();
    eprintln!("Created in {:.2} s: {}", summary.elapsed.as_secs_f64(), rows.join(", "));
    Ok(())
}

/// Opens the warehouse the arguments name. The bundled demo warehouse is filled on first use,
/// unless `fill_demo` is false (because the caller is about to fill it).
async fn open(args: &Args, fill_demo: bool) -> Result<Arc<Engine>> {
    let (root, is_demo) = match &args.warehouse {
        Some(root) => (root.clone(), false),
        None => (demo_root()?.display().to_string(), true),
    };
    // The engine's message already says what went wrong underneath; its sources are not repeated.
    let (engine, created) = Engine::open(&root, args.storage.engine_options())
        .await
        .map_err(|e| anyhow!("cannot open the warehouse {}: {e}", starhouse_engine::catalog::redact(&root)))?;
    if is_demo && fill_demo && engine.warehouse().current().tables.is_empty() {
        create_demo(&engine, 1.0).await?;
    } else if created && !is_demo {
        eprintln!("Created an empty warehouse at {}", engine.warehouse().root());
    }
    Ok(engine)
}

fn run(args: Args) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if let Some(Command::Demo { scale }) = &args.subcommand {
        runtime.block_on(async { create_demo(&open(&args, false).await?, *scale).await })?;
        return Ok(ExitCode::SUCCESS);
    }
    let engine = runtime.block_on(open(&args, true))?;
    match &args.subcommand {
        Some(Command::Serve { listen, tls_cert, tls_key, max_connections, allow_writes }) => {
            let tls = match (tls_cert, tls_key) {
                (Some(certificate), Some(key)) => Some(TlsFiles { certificate: certificate.clone(), key: key.clone() }),
                _ => None,
            };
            let options =
                ServerOptions { listen: *listen, max_connections: *max_connections, allow_writes: *allow_writes, tls };
            runtime.block_on(serve(engine, options))?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::User { action }) => {
            runtime.block_on(manage_users(&engine, action))?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Load { targets, load_id, since, rejects, format, no_header, delimiter }) => {
            let delimiter = u8::try_from(*delimiter)
                .ok()
                .filter(u8::is_ascii)
                .ok_or_else(|| anyhow!("the delimiter must be one ASCII character"))?;
            let options = LoadOptions {
                id: load_id.clone(),
                since: since.clone(),
                rejects: *rejects,
                read: ReadOptions {
                    format: format.map(|f| match f {
                        LoadFormat::Csv => FileFormat::Csv,
                        LoadFormat::Json => FileFormat::Json,
                        LoadFormat::Parquet => FileFormat::Parquet,
                    }),
                    header: !no_header,
                    delimiter,
                    ..ReadOptions::default()
                },
            };
            runtime.block_on(load(&engine, &load_targets(targets)?, &options))?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }

    let interactive = args.command.is_empty() && args.file.is_none() && std::io::stdin().is_terminal();
    let terminal = std::io::stdout().is_terminal();
    let mut runner = Runner {
        session: engine.session(),
        format: args.format,
        style: TableStyle {
            expanded: false,
            max_rows: args.max_rows,
            max_cell_width: if terminal { 60 } else { 200 },
            max_width: terminal.then(terminal_width).flatten(),
        },
        timing: interactive,
        output: Box::new(std::io::stdout()),
    };

    if interactive {
        let tables = engine.warehouse().current().tables.len();
        eprintln!(
            "Starhouse {} · warehouse {} ({tables} tables)\nType \\? for help, \\q or Ctrl-D to quit.",
            env!("CARGO_PKG_VERSION"),
            engine.warehouse().root()
        );
        repl::run(&runtime, runner)?;
        return Ok(ExitCode::SUCCESS);
    }

    let mut scripts = args.command.clone();
    if let Some(file) = &args.file {
        scripts.push(std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?);
    }
    if args.command.is_empty() && args.file.is_none() {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("cannot read standard input")?;
        scripts.push(text);
    }
    for script in scripts {
        match runtime.block_on(runner.run_text(&script)) {
            Ok(Flow::Continue) => {}
            Ok(Flow::Quit) => break,
            Err(error) => {
                eprintln!("Error: {error:#}");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The terminal's width in columns, from `COLUMNS` or the terminal itself.
fn terminal_width() -> Option<usize> {
    if let Some(columns) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(columns);
    }
    terminal_size::terminal_size().map(|(width, _)| usize::from(width.0))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("STARHOUSE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("Error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
