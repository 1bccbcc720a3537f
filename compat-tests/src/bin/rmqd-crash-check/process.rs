use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rmqd_remoting::codes::request;
use rmqd_remoting::headers::broker::TopicQueueHeader;
use rmqd_remoting::RemotingCommand;
use tokio::process::{Child, Command};

use crate::args::Args;
use crate::link::Link;

pub struct Broker {
    bin: PathBuf,
    dir: PathBuf,
    conf: PathBuf,
    namesrv_port: u16,
    port: u16,
    child: Option<Child>,
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// A free port whose VIP channel (port - 2) and HA port (port + 1) are free too.
fn free_broker_port() -> Result<u16, String> {
    for _ in 0..100 {
        let p = free_port()?;
        if p > 1026
            && p < u16::MAX
            && TcpListener::bind(("127.0.0.1", p - 2)).is_ok()
            && TcpListener::bind(("127.0.0.1", p + 1)).is_ok()
        {
            return Ok(p);
        }
    }
    Err("no free broker port with free VIP and HA ports".into())
}

impl Broker {
    /// Writes DIR/broker.conf; nothing runs yet.
    pub fn new(args: &Args, dir: &Path) -> Result<Broker, String> {
        let namesrv_port = free_port()?;
        let port = free_broker_port()?;
        let conf = dir.join("broker.conf");
        let text = format!(
            "brokerClusterName=DefaultCluster\nbrokerName=crash-check\nbrokerIP1=127.0.0.1\n\
             listenPort={port}\nnamesrvAddr=127.0.0.1:{namesrv_port}\nstorePathRootDir={}\n\
             flushDiskType={}\nmappedFileSizeCommitLog={}\nmappedFileSizeConsumeQueue={}\n\
             maxHashSlotNum={}\nmaxIndexNum={}\n\
             # What is checked is what kills leave; a full host disk must not make the\n\
             # cleaner delete unexpired files forcibly under the checker.\n\
             cleanFileForciblyEnable=false\ngrpcServerPort=0\n",
            dir.join("store").display(),
            args.flush,
            args.commitlog_file_size,
            args.cq_file_size,
            args.max_hash_slot_num,
            args.max_index_num,
        );
        std::fs::write(&conf, text).map_err(|e| format!("write {}: {e}", conf.display()))?;
        Ok(Broker {
            bin: args.rmqd.clone(),
            dir: dir.to_path_buf(),
            conf,
            namesrv_port,
            port,
            child: None,
        })
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn store_dir(&self) -> PathBuf {
        self.dir.join("store")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("rmqd.log")
    }

    pub fn spawn(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| format!("open {}: {e}", self.log_path().display()))?;
        let child = Command::new(&self.bin)
            .arg("standalone")
            .arg("-c")
            .arg(&self.conf)
            .arg("--namesrv-listen")
            .arg(format!("127.0.0.1:{}", self.namesrv_port))
            .env("HOME", &self.dir)
            .env("RMQD_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until the broker answers a request (any answer), or fails when the
    /// process exits or `limit` passes.
    pub async fn wait_answering(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        let mut link = Link::new(&self.addr());
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    return Err(format!(
                        "rmqd exited ({status}) before answering; see {}",
                        self.log_path().display()
                    ));
                }
            }
            let req =
                RemotingCommand::request(request::GET_MAX_OFFSET).with_header(&TopicQueueHeader {
                    topic: crate::TOPIC.into(),
                    queue_id: 0,
                });
            if link.invoke(req, Duration::from_secs(1)).await.is_ok() {
                link.close();
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "rmqd did not answer within {limit:?}; see {}",
                    self.log_path().display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// SIGKILL; returns once the process is gone, with that moment.
    pub async fn kill9(&mut self) -> Result<Instant, String> {
        let Some(mut c) = self.child.take() else {
            return Err("no rmqd to kill".into());
        };
        if let Ok(Some(status)) = c.try_wait() {
            return Err(format!(
                "rmqd had exited ({status}) before the kill; see {}",
                self.log_path().display()
            ));
        }
        c.start_kill().map_err(|e| format!("SIGKILL: {e}"))?;
        c.wait().await.map_err(|e| format!("wait: {e}"))?;
        Ok(Instant::now())
    }

    /// SIGTERM and wait: the shutdown path that flushes and removes the abort file.
    pub async fn stop_clean(&mut self) -> Result<(), String> {
        let Some(mut c) = self.child.take() else {
            return Ok(());
        };
        let Some(pid) = c.id() else {
            return Err("rmqd had exited before the clean stop".into());
        };
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .map_err(|e| format!("kill -TERM: {e}"))?;
        if !sent.success() {
            return Err(format!("kill -TERM {pid} failed"));
        }
        match tokio::time::timeout(Duration::from_secs(30), c.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(format!("rmqd exited {status} on SIGTERM")),
            Ok(Err(e)) => Err(format!("wait: {e}")),
            Err(_) => {
                let _ = c.start_kill();
                let _ = c.wait().await;
                Err("rmqd did not stop within 30 s of SIGTERM".into())
            }
        }
    }

    /// `rmqd store verify -c broker.conf DIR/store`: (passed, its output).
    pub fn verify(&self) -> Result<(bool, String), String> {
        let out = std::process::Command::new(&self.bin)
            .arg("store")
            .arg("verify")
            .arg("-c")
            .arg(&self.conf)
            .arg(self.store_dir())
            .output()
            .map_err(|e| format!("rmqd store verify: {e}"))?;
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        Ok((out.status.success(), text))
    }

    /// How many files a store subdirectory holds.
    pub fn files_in(&self, sub: &str) -> usize {
        std::fs::read_dir(self.store_dir().join(sub))
            .map(|d| d.filter_map(Result::ok).count())
            .unwrap_or(0)
    }
}
