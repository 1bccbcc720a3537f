//! `rmqd admin`: the everyday `mqadmin` commands for people without Java. They send the
//! request codes and fields the Java tool sends, to any name server and broker (Java or
//! rmqd), and print what came back for a person, or as JSON with `--json`.

use std::time::Duration;

use clap::{Args, Subcommand};

mod acl;
mod commands;
mod messages;
mod progress;
mod render;
mod reset;
use rmqd_remoting::admin::{AdminClient, AdminError};
use rmqd_remoting::RemotingCommand;
use serde_json::{json, Value};

#[derive(Args, Debug)]
pub struct AdminArgs {
    /// Name server address list, `;`-separated (also `NAMESRV_ADDR`).
    #[arg(
        short = 'n',
        long = "namesrvAddr",
        env = "NAMESRV_ADDR",
        default_value = "127.0.0.1:9876",
        global = true
    )]
    namesrv: String,
    /// Print the answers as JSON.
    #[arg(long, global = true)]
    json: bool,
    /// ACL access key to sign requests with (as tools.yml's accessKey). Subcommands name
    /// their own fields differently: clap would let a same-named one override this.
    #[arg(long = "accessKey", env = "RMQD_ACCESS_KEY", global = true)]
    access_key: Option<String>,
    /// ACL secret key.
    #[arg(
        long = "secretKey",
        env = "RMQD_SECRET_KEY",
        global = true,
        hide_env_values = true
    )]
    secret_key: Option<String>,
    /// Seconds to wait for each answer.
    #[arg(long, default_value_t = 5, global = true)]
    timeout: u64,
    #[command(subcommand)]
    cmd: AdminCommand,
}

/// The variants are mqadmin's command names, spelt as operators type them.
#[allow(non_camel_case_types)]
#[derive(Subcommand, Debug)]
#[command(rename_all = "verbatim")]
pub enum AdminCommand {
    /// Brokers of every cluster, with their runtime figures (106 + 28).
    clusterList,
    /// A broker's runtime figures (28).
    brokerStatus {
        #[arg(short = 'b')]
        broker: String,
    },
    /// A broker's configuration (26).
    getBrokerConfig {
        #[arg(short = 'b')]
        broker: String,
    },
    /// Change one broker setting (25).
    updateBrokerConfig {
        #[arg(short = 'b')]
        broker: String,
        #[arg(short = 'k')]
        key: String,
        #[arg(short = 'v')]
        value: String,
    },
    /// Every topic the name server knows (206).
    topicList,
    /// A topic's route (105).
    topicRoute {
        #[arg(short = 't')]
        topic: String,
    },
    /// Min/max offsets of a topic's queues (202).
    topicStatus {
        #[arg(short = 't')]
        topic: String,
    },
    /// Create or change a topic on a broker or every master of a cluster (17).
    updateTopic {
        #[arg(short = 't')]
        topic: String,
        #[arg(short = 'b')]
        broker: Option<String>,
        #[arg(short = 'c')]
        cluster: Option<String>,
        #[arg(short = 'r', default_value_t = 8)]
        read_queues: i32,
        #[arg(short = 'w', default_value_t = 8)]
        write_queues: i32,
        #[arg(short = 'p', default_value_t = 6)]
        perm: i32,
    },
    /// Delete a topic from a cluster's brokers and the name servers (215 + 216).
    deleteTopic {
        #[arg(short = 't')]
        topic: String,
        #[arg(short = 'c')]
        cluster: String,
    },
    /// Create or change a subscription group (200).
    updateSubGroup {
        #[arg(short = 'g')]
        group: String,
        #[arg(short = 'b')]
        broker: Option<String>,
        #[arg(short = 'c')]
        cluster: Option<String>,
    },
    /// Delete a subscription group and its retry/DLQ topics (207, 215, 216).
    deleteSubGroup {
        #[arg(short = 'g')]
        group: String,
        #[arg(short = 'b')]
        broker: Option<String>,
        #[arg(short = 'c')]
        cluster: Option<String>,
    },
    /// Subscription groups of a broker or cluster (201).
    groupList {
        #[arg(short = 'b')]
        broker: Option<String>,
        #[arg(short = 'c')]
        cluster: Option<String>,
    },
    /// A group's offsets and lag per queue (208); without -g, every group's totals.
    consumerProgress {
        #[arg(short = 'g')]
        group: Option<String>,
    },
    /// A group's online consumers (203).
    consumerConnection {
        #[arg(short = 'g')]
        group: String,
    },
    /// A producer group's connections for a topic (204).
    producerConnection {
        #[arg(short = 'g')]
        group: String,
        #[arg(short = 't')]
        topic: String,
    },
    /// A message by its offsetMsgId (33, to the broker inside the id).
    queryMsgById {
        #[arg(short = 'i')]
        id: String,
    },
    /// Messages by key (12).
    queryMsgByKey {
        #[arg(short = 't')]
        topic: String,
        #[arg(short = 'k')]
        key: String,
    },
    /// A message by its unique (client) id (12 with _UNIQUE_KEY_QUERY).
    queryMsgByUniqueKey {
        #[arg(short = 't')]
        topic: String,
        #[arg(short = 'i')]
        id: String,
    },
    /// The message at a queue offset (11).
    queryMsgByOffset {
        #[arg(short = 't')]
        topic: String,
        #[arg(short = 'b')]
        broker_name: String,
        #[arg(short = 'i')]
        queue: i32,
        #[arg(short = 'o')]
        offset: i64,
    },
    /// Move a group's offsets back or forward to a time (222; 15 per queue when no consumer
    /// is online); `-s` ms, or `now`.
    resetOffsetByTime {
        #[arg(short = 'g')]
        group: String,
        #[arg(short = 't')]
        topic: String,
        #[arg(short = 's')]
        timestamp: String,
        /// Also move offsets forward (mqadmin's `-f`, true unless given false).
        #[arg(short = 'f', action = clap::ArgAction::Set, default_value_t = true)]
        force: bool,
    },
    /// Create or change an ACL account on a broker or every broker of a cluster (50).
    updateAclConfig {
        #[arg(short = 'b')]
        broker: Option<String>,
        #[arg(short = 'c')]
        cluster: Option<String>,
        /// The account (its accessKey). Not `--accessKey`, which signs the request.
        #[arg(short = 'a')]
        account_key: String,
        #[arg(short = 's')]
        account_secret: Option<String>,
        #[arg(short = 'w')]
        white_remote_address: Option<String>,
        #[arg(short = 'i')]
        default_topic_perm: Option<String>,
        #[arg(short = 'u')]
        default_group_perm: Option<String>,
        /// `topicA=DENY,topicB=PUB|SUB`
        #[arg(short = 't')]
        topic_perms: Option<String>,
        #[arg(short = 'g')]
        group_perms: Option<String>,
        #[arg(short = 'm')]
        admin: Option<bool>,
    },
    /// Delete an ACL account (51).
    deleteAclConfig {
        #[arg(short = 'b')]
        broker: Option<String>,
        #[arg(short = 'c')]
        cluster: Option<String>,
        /// The account (its accessKey). Not `--accessKey`, which signs the request.
        #[arg(short = 'a')]
        account_key: String,
    },
    /// The ACL files' versions on a broker or cluster (52).
    clusterAclConfigVersion {
        #[arg(short = 'b')]
        broker: Option<String>,
        #[arg(short = 'c')]
        cluster: Option<String>,
    },
    /// Replace the global white addresses (53), comma-separated; `-p` names the ACL file.
    updateGlobalWhiteAddr {
        #[arg(short = 'b')]
        broker: Option<String>,
        #[arg(short = 'c')]
        cluster: Option<String>,
        #[arg(short = 'g')]
        addresses: String,
        #[arg(short = 'p')]
        file: Option<String>,
    },
    /// Send one message (310).
    sendMessage {
        #[arg(short = 't')]
        topic: String,
        #[arg(short = 'p')]
        body: String,
        #[arg(short = 'k')]
        keys: Option<String>,
        #[arg(short = 'c')]
        tags: Option<String>,
    },
}

pub(crate) fn req(code: i32, ext: &[(&str, String)]) -> RemotingCommand {
    AdminClient::request(code, ext, Vec::new())
}

pub(crate) fn s(v: &str) -> String {
    v.to_owned()
}

pub fn run(args: AdminArgs) -> std::process::ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rmqd admin: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let creds = args.access_key.clone().zip(args.secret_key.clone());
    let client = AdminClient::new(
        &args.namesrv,
        creds,
        Duration::from_secs(args.timeout.max(1)),
    );
    let json_out = args.json;
    let result = rt.block_on(commands::execute(&client, args.cmd));
    client.close();
    match result {
        Ok(out) => {
            if json_out {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&out.json).unwrap_or_default()
                );
            } else {
                print!("{}", out.text);
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            if json_out {
                println!("{}", json!({"error": e.to_string()}));
            } else {
                eprintln!("rmqd admin: {e}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// What a command prints: for people and for scripts.
pub(crate) struct Output {
    pub(crate) text: String,
    pub(crate) json: Value,
}

pub(crate) fn out(text: String, json: Value) -> Result<Output, AdminError> {
    Ok(Output { text, json })
}
