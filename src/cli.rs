//! Command line: the roles, their options under the Java scripts' names, and start-up.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use rmqd_remoting::CancellationToken;

use crate::broker::Broker;
use crate::config::{BrokerConfig, ConfigError};
use crate::namesrv::{NameServer, NamesrvConfig};
use crate::store_cli;

/// Apache RocketMQ-compatible broker and name server.
///
/// With no subcommand rmqd runs a name server on :9876 and a broker on :10911 in one
/// process, the broker registered with that name server, storing under ~/store.
#[derive(Parser, Debug)]
#[command(name = "rmqd", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    standalone: StandaloneArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Name server and broker in one process (the default).
    Standalone(StandaloneArgs),
    /// Name server only (like `mqnamesrv`).
    Namesrv(NamesrvArgs),
    /// Broker only (like `mqbroker`).
    Broker(BrokerArgs),
    /// The everyday mqadmin commands, against any name server and broker.
    Admin(Box<crate::admin_cli::AdminArgs>),
    /// Offline tools over a store directory.
    Store {
        #[command(subcommand)]
        cmd: store_cli::StoreCommand,
    },
}

#[derive(Args, Debug, Default)]
struct BrokerFileArgs {
    /// Broker config file in Java properties format (broker.conf).
    #[arg(short = 'c', long = "configFile", value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// Print the effective broker configuration and exit.
    #[arg(short = 'p', long = "printConfigItem")]
    print_config: bool,
}

#[derive(Args, Debug, Default)]
struct StandaloneArgs {
    #[command(flatten)]
    broker: BrokerFileArgs,
    /// Address the embedded name server listens on.
    #[arg(
        long = "namesrv-listen",
        value_name = "HOST:PORT",
        default_value = "0.0.0.0:9876"
    )]
    namesrv_listen: Option<SocketAddr>,
}

#[derive(Args, Debug)]
struct NamesrvArgs {
    /// Address to listen on.
    #[arg(long, value_name = "HOST:PORT", default_value = "0.0.0.0:9876")]
    listen: SocketAddr,
    /// Where KV config persists (Java `kvConfigPath`); default ~/namesrv/kvConfig.json.
    #[arg(long = "kvConfigPath", value_name = "FILE")]
    kv_config_path: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct BrokerArgs {
    #[command(flatten)]
    broker: BrokerFileArgs,
    /// Name server address list, `;`-separated (also `NAMESRV_ADDR`).
    #[arg(short = 'n', long = "namesrvAddr", value_name = "ADDR")]
    namesrv_addr: Option<String>,
}

fn load_broker_config(args: &BrokerFileArgs) -> Result<BrokerConfig, ConfigError> {
    match &args.config_file {
        Some(p) => BrokerConfig::load(p),
        None => Ok(BrokerConfig::default()),
    }
}

fn print_config(cfg: &BrokerConfig) {
    for (k, v) in cfg.entries() {
        println!("{k}={v}");
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Standalone(cli.standalone));
    if let Command::Store { cmd } = command {
        return store_cli::run(cmd);
    }
    if let Command::Admin(args) = command {
        let _logs = crate::logging::init(crate::logging::Role::Tool);
        return crate::admin_cli::run(*args);
    }
    let role = match &command {
        Command::Namesrv(_) => crate::logging::Role::Namesrv,
        Command::Broker(_) => crate::logging::Role::Broker,
        _ => crate::logging::Role::Standalone,
    };
    // Held to the end of main: dropping it flushes the log files.
    let _logs = crate::logging::init(role);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("rmqd")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot start the name server on {addr}: {source}")]
    Namesrv {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the broker (listenPort {port}): {source}")]
    Broker { port: u16, source: std::io::Error },
}

async fn run(command: Command) -> Result<(), StartError> {
    let shutdown = CancellationToken::new();
    tokio::spawn(signal_shutdown(shutdown.clone()));
    match command {
        Command::Namesrv(args) => {
            let mut cfg = NamesrvConfig {
                listen: args.listen,
                ..Default::default()
            };
            if args.kv_config_path.is_some() {
                cfg.kv_config_path = args.kv_config_path;
            }
            let ns = start_namesrv(cfg, &shutdown).await?;
            ns.stopped().await;
        }
        Command::Broker(args) => {
            let mut cfg = load_broker_config(&args.broker)?;
            if let Some(addr) = args.namesrv_addr {
                cfg.namesrv_addr = addr;
            }
            if args.broker.print_config {
                print_config(&cfg);
                return Ok(());
            }
            let broker = start_broker(cfg, args.broker.config_file, &shutdown).await?;
            broker.stopped().await;
        }
        Command::Standalone(args) => {
            let mut cfg = load_broker_config(&args.broker)?;
            let listen = args
                .namesrv_listen
                .unwrap_or_else(|| NamesrvConfig::default().listen);
            if args.broker.print_config {
                print_config(&cfg);
                return Ok(());
            }
            let ns_cfg = NamesrvConfig {
                listen,
                ..Default::default()
            };
            // The name server outlives the broker so that the broker can unregister.
            let ns_shutdown = CancellationToken::new();
            let ns = start_namesrv(ns_cfg, &ns_shutdown).await?;
            // The broker registers with its own name server over the protocol, exactly as
            // it would with a remote one.
            let own = SocketAddr::new(
                if ns.local_addr.ip().is_unspecified() {
                    [127, 0, 0, 1].into()
                } else {
                    ns.local_addr.ip()
                },
                ns.local_addr.port(),
            );
            cfg.namesrv_addr = own.to_string();
            let broker = match start_broker(cfg, args.broker.config_file, &shutdown).await {
                Ok(b) => b,
                Err(e) => {
                    ns_shutdown.cancel();
                    return Err(e);
                }
            };
            broker.stopped().await;
            ns_shutdown.cancel();
            ns.stopped().await;
        }
        Command::Store { .. } | Command::Admin(_) => {}
    }
    tracing::info!("stopped");
    Ok(())
}

async fn start_namesrv(
    cfg: NamesrvConfig,
    shutdown: &CancellationToken,
) -> Result<NameServer, StartError> {
    let addr = cfg.listen;
    NameServer::start(cfg, shutdown.clone())
        .await
        .map_err(|source| StartError::Namesrv { addr, source })
}

async fn start_broker(
    mut cfg: BrokerConfig,
    config_path: Option<PathBuf>,
    shutdown: &CancellationToken,
) -> Result<Broker, StartError> {
    cfg.settle_role()?;
    let port = cfg.listen_port;
    Broker::start(cfg, config_path, shutdown.clone())
        .await
        .map_err(|source| StartError::Broker { port, source })
}

async fn signal_shutdown(token: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot install signal handlers; stop rmqd with SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
        _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
    }
    token.cancel();
}
