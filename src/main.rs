//! The `tributary` command: parses the command line and calls the library.

use std::net::TcpListener;

use actix_web::web;
use anyhow::Context;
use clap::{Parser, Subcommand};
use tributary::config::Config;
use tributary::startup::{spawn, AppState};

#[derive(Parser)]
#[command(
    name = "tributary",
    version,
    about = "Multi-account inventory planning server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and pages on BIND_ADDR with DATABASE_URL.
    Serve {
        /// Address to listen on (overrides BIND_ADDR).
        #[arg(long)]
        bind: Option<String>,
    },
    /// Serve a seeded demo organisation from its own SQLite file.
    Demo {
        /// Address to listen on (overrides BIND_ADDR).
        #[arg(long)]
        bind: Option<String>,
        /// The demo's database file.
        #[arg(long, default_value = "tributary-demo.db")]
        database: String,
    },
    /// Forecast every series of a long CSV (`series_id,period,quantity`),
    /// or measure accuracy on a holdout.
    Forecast {
        /// Input CSV.
        #[arg(long)]
        input: std::path::PathBuf,
        /// Periods to forecast (or to hold out with --holdout).
        #[arg(long)]
        horizon: usize,
        /// Season length (default from the step: 7 days, 52 weeks, 12 months, 4 quarters).
        #[arg(long)]
        season: Option<usize>,
        /// Output CSV (default standard output).
        #[arg(long)]
        output: Option<std::path::PathBuf>,
        /// Hold out the last H points of each series and print accuracy as JSON.
        #[arg(long)]
        holdout: Option<usize>,
        /// Also write per series the distribution of the total over the horizon (CSV).
        #[arg(long)]
        totals: Option<std::path::PathBuf>,
    },
    /// Recompute plans now: incrementally (only what changed since the
    /// stored plans) unless --full.
    Plan {
        /// Only this account (a master: with its children).
        #[arg(long)]
        account: Option<String>,
        /// Compute every plan whole.
        #[arg(long)]
        full: bool,
    },
    /// Back up the database of DATABASE_URL, even while a server is
    /// serving it: SQLite with `VACUUM INTO`, PostgreSQL with `pg_dump`
    /// (custom format). A sealing key kept in a file is copied to FILE.key.
    Backup {
        /// The backup file to write (must not exist).
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Restore a backup into the new or empty database of DATABASE_URL
    /// (SQLite file or PostgreSQL database), with its FILE.key if any.
    Restore {
        /// The backup file `tributary backup` wrote.
        #[arg(long)]
        from: std::path::PathBuf,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user (and the organisation if it is new).
    Add {
        /// E-mail used to log in.
        #[arg(long)]
        email: String,
        /// Password.
        #[arg(long)]
        password: String,
        /// Organisation name.
        #[arg(long)]
        organisation: String,
        /// admin or viewer.
        #[arg(long, default_value = "admin")]
        role: String,
    },
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,actix_server=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

fn serve(state: AppState, bind: &str) -> anyhow::Result<()> {
    let listener = TcpListener::bind(bind).with_context(|| format!("listening on {bind}"))?;
    tracing::info!("tributary listening on http://{}", listener.local_addr()?);
    actix_web::rt::System::new().block_on(async move {
        let server = spawn(web::Data::new(state), listener)?;
        server.await
    })?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing();
    if let Command::Forecast {
        input,
        horizon,
        season,
        output,
        holdout,
        totals,
    } = cli.command
    {
        return tributary::forecast::cli::run(&tributary::forecast::cli::ForecastArgs {
            input,
            horizon,
            season,
            output,
            holdout,
            totals,
        });
    }
    let mut config = Config::from_env()?;
    match cli.command {
        Command::Serve { bind } => {
            let bind = bind.unwrap_or_else(|| config.bind_addr.clone());
            serve(AppState::init(config)?, &bind)
        }
        Command::Demo { bind, database } => {
            let started = std::time::Instant::now();
            let bind = bind.unwrap_or_else(|| config.bind_addr.clone());
            config.database_url = format!("sqlite://{database}");
            tributary::demo::configure(&mut config);
            config.secret_key_file = std::path::Path::new(&database)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| p.join("tributary-demo.key"))
                .unwrap_or_else(|| "tributary-demo.key".into());
            // The worker starts once the demo's plans are computed, so that
            // it does not compute them a second time meanwhile.
            let state = AppState::init_idle(config)?;
            let today = state
                .config
                .today
                .unwrap_or_else(|| chrono::Utc::now().date_naive());
            let feed = tributary::demo::feed_base(&bind);
            tributary::demo::seed(&state.db, &state.secrets, today, Some(&feed))?;
            let seeded = started.elapsed().as_secs_f64();
            let planned = tributary::demo::plan(&state.db, state.config.today)?;
            tracing::info!(
                seconds = started.elapsed().as_secs_f64() - seeded,
                plans = planned,
                "demo plans computed"
            );
            tracing::info!(
                seconds = started.elapsed().as_secs_f64(),
                "demo ready: log in as {} / {}",
                tributary::demo::DEMO_EMAIL,
                tributary::demo::DEMO_PASSWORD
            );
            state.start_worker();
            // The outlet store the feed child pulls moves on every minute.
            let db = state.db.clone();
            std::thread::spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_secs(60));
                if let Err(e) = tributary::demo::move_on(&db, chrono::Utc::now()) {
                    tracing::warn!(error = %e, "demo: the outlet store could not move on");
                }
            });
            serve(state, &bind)
        }
        Command::Backup { to } => {
            let key_file = config
                .secret_key
                .is_none()
                .then_some(config.secret_key_file.as_path());
            let done = tributary::db::backup::backup(&config.database_url, &to, key_file)?;
            println!(
                "backup written to {} ({} bytes)",
                done.file.display(),
                done.bytes
            );
            match done.key_file {
                Some(k) => println!(
                    "sealing key copied to {}: keep it with the backup, as secret as the database",
                    k.display()
                ),
                None => println!(
                    "the sealing key is not in the backup: keep TRIBUTARY_SECRET_KEY with it"
                ),
            }
            Ok(())
        }
        Command::Restore { from } => {
            let key_file = config
                .secret_key
                .is_none()
                .then_some(config.secret_key_file.as_path());
            tributary::db::backup::restore(&from, &config.database_url, key_file)?;
            println!(
                "restored {} into {}",
                from.display(),
                tributary::db::parse_url(&config.database_url).1
            );
            Ok(())
        }
        Command::Forecast { .. } => unreachable!("handled before the configuration is read"),
        Command::Plan { account, full } => {
            let state = AppState::init_idle(config)?;
            let mut conn = state.db.conn()?;
            let started = std::time::Instant::now();
            let done = tributary::services::plans::replan_now(
                &mut conn,
                account.as_deref(),
                full,
                state.config.today,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            for r in &done {
                let (lines, seconds) = r
                    .header
                    .as_ref()
                    .map(|h| (h.line_count, h.seconds))
                    .unwrap_or((0, 0.0));
                println!(
                    "{}\t{}\t{}\t{lines} lines\t{seconds:.3} s",
                    r.account.id, r.account.name, r.mode
                );
            }
            println!(
                "{} plans in {:.3} s",
                done.len(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Add {
                    email,
                    password,
                    organisation,
                    role,
                },
        } => {
            let state = AppState::init(config)?;
            let mut conn = state.db.conn()?;
            let added = tributary::services::users::add_user(
                &mut conn,
                &email,
                &password,
                &organisation,
                &role,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "user {} ({role}) in organisation {}{}",
                email.trim().to_lowercase(),
                organisation.trim(),
                if added.organisation_created {
                    " (new)"
                } else {
                    ""
                }
            );
            Ok(())
        }
    }
}
