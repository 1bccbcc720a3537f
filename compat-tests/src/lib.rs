//! Test support for driving a real `rmqd` process with real RocketMQ clients; the tests
//! live in `tests/`. Clients are installed into `<repo>/.clients` by
//! `compat-tests/clients/install.sh`; each has a driver with the same command line
//! (compat-tests/clients/README.md) that prints one JSON object per line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod fault_proxy;
pub mod grpc5;
pub mod ha_capture;
pub mod wire;

pub fn repo_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

pub fn fixtures_dir() -> PathBuf {
    repo_dir().join("../shared/fixtures")
}

pub fn rmqd_bin() -> PathBuf {
    std::env::var_os("RMQD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo_dir().join("target"));
            target.join("debug/rmqd")
        })
}

pub fn free_port() -> u16 {
    for _ in 0..1000 {
        let p = os_free_port();
        if reserve(&[p]) {
            return p;
        }
    }
    panic!("no free port left that this test process has not handed out already");
}

/// A free port p such that p - 2 (the VIP channel) and p + 1 (the HA port) are free too.
pub fn free_broker_port() -> u16 {
    for _ in 0..1000 {
        let p = os_free_port();
        if p > 1026
            && p < u16::MAX
            && TcpListener::bind(("127.0.0.1", p - 2)).is_ok()
            && TcpListener::bind(("127.0.0.1", p + 1)).is_ok()
            && reserve(&[p - 2, p, p + 1])
        {
            return p;
        }
    }
    free_port()
}

fn os_free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Marks ports as handed out, unless one of them already was. The kernel may give a
/// closed port out again at once, and the tests of one binary run in parallel: without
/// this, two brokers of one process were once given the same port, and a test spoke
/// remoting to another broker's gRPC endpoint (CI saw the connection reset).
fn reserve(ports: &[u16]) -> bool {
    static HANDED_OUT: std::sync::Mutex<Option<std::collections::HashSet<u16>>> =
        std::sync::Mutex::new(None);
    let mut guard = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let set = guard.get_or_insert_with(Default::default);
    if ports.iter().any(|p| set.contains(p)) {
        return false;
    }
    set.extend(ports.iter().copied());
    true
}

/// How an [`Rmqd`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `rmqd standalone`: its own name server and a broker.
    Standalone,
    /// `rmqd broker`: a broker registering with a name server of its own process.
    Broker,
}

/// A running `rmqd standalone` (name server + broker), or `rmqd broker` alone, on free
/// ports with its own store.
pub struct Rmqd {
    child: Option<Child>,
    pub home: tempfile::TempDir,
    pub namesrv_port: u16,
    pub broker_port: u16,
    /// The 5.x gRPC endpoint (`grpcServerPort`).
    pub grpc_port: u16,
    conf: PathBuf,
    mode: Mode,
    /// Extra environment for the process (log settings, fault points).
    env: Vec<(String, String)>,
}

impl Rmqd {
    /// Starts rmqd with `extra` broker.conf lines (Java keys).
    pub fn start(extra: &[&str]) -> Rmqd {
        Self::start_env(extra, &[])
    }

    /// [`Rmqd::start`] with extra environment variables for the process.
    pub fn start_env(extra: &[&str], env: &[(&str, &str)]) -> Rmqd {
        let home = tempfile::tempdir().expect("tempdir");
        let namesrv_port = free_port();
        let broker_port = free_broker_port();
        let grpc_port = free_port();
        let conf = home.path().join("broker.conf");
        let mut text = format!(
            "brokerClusterName=DefaultCluster\nbrokerName=broker-a\nbrokerIP1=127.0.0.1\nlistenPort={broker_port}\n\
             storePathRootDir={}\nnamesrvAddr=127.0.0.1:{namesrv_port}\ngrpcServerPort={grpc_port}\n",
            home.path().join("store").display()
        );
        for l in extra {
            text.push_str(l);
            text.push('\n');
        }
        std::fs::write(&conf, text).expect("write broker.conf");
        let mut r = Rmqd {
            child: None,
            home,
            namesrv_port,
            broker_port,
            grpc_port,
            conf,
            mode: Mode::Standalone,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        r.spawn();
        r
    }

    /// Starts `rmqd broker` alone, registering with the name server at `namesrv`, with
    /// `extra` broker.conf lines (a master and its slaves in tests: `brokerRole`,
    /// `brokerId`…) and `env` for the process (`RMQD_FAILPOINTS`, say). Its HA port is
    /// `broker_port + 1`, and that port and `broker_port - 2` were free.
    pub fn start_broker(namesrv: &Namesrv, extra: &[&str], env: &[(&str, &str)]) -> Rmqd {
        let home = tempfile::tempdir().expect("tempdir");
        let broker_port = free_broker_port();
        let grpc_port = free_port();
        let conf = home.path().join("broker.conf");
        let mut text = format!(
            "brokerClusterName=DefaultCluster\nbrokerName=broker-a\nbrokerIP1=127.0.0.1\nlistenPort={broker_port}\n\
             storePathRootDir={}\nnamesrvAddr={}\ngrpcServerPort={grpc_port}\n",
            home.path().join("store").display(),
            namesrv.addr()
        );
        for l in extra {
            text.push_str(l);
            text.push('\n');
        }
        std::fs::write(&conf, text).expect("write broker.conf");
        let mut r = Rmqd {
            child: None,
            home,
            namesrv_port: namesrv.port,
            broker_port,
            grpc_port,
            conf,
            mode: Mode::Broker,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        r.spawn();
        r
    }

    /// The HA port (`listenPort + 1` unless broker.conf says otherwise).
    pub fn ha_addr(&self) -> String {
        format!("127.0.0.1:{}", self.broker_port + 1)
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.home.path().join("rmqd.log"))
            .expect("log file");
        let mut cmd = Command::new(rmqd_bin());
        match self.mode {
            Mode::Standalone => cmd.args([
                "standalone",
                "-c",
                self.conf.to_str().expect("path"),
                "--namesrv-listen",
                &format!("127.0.0.1:{}", self.namesrv_port),
            ]),
            Mode::Broker => cmd.args(["broker", "-c", self.conf.to_str().expect("path")]),
        };
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let child = cmd
            .env("HOME", self.home.path())
            .env("RMQD_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} (build it first): {e}",
                    rmqd_bin().display()
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        if self.mode == Mode::Broker {
            // Registered once the name server lists this broker's address.
            let ns = self.namesrv();
            let me = self.broker();
            loop {
                let (code, _, body) = remoting_request(&ns, 106, &[], b"");
                if code == 0 && String::from_utf8_lossy(&body).contains(&me) {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "broker never registered; log:\n{}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        for port in [self.namesrv_port, self.broker_port] {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                self.assert_running();
                assert!(
                    Instant::now() < deadline,
                    "rmqd did not start; log:\n{}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // Clients find brokers through the name server: wait until it routes TBW102.
        let ns = format!("127.0.0.1:{}", self.namesrv_port);
        while remoting_request(&ns, 105, &[("topic", "TBW102")], b"").0 != 0 {
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "broker never registered; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Fails at once, with the log, when the process has already exited (a port it
    /// could not bind, say) instead of waiting for the deadline.
    fn assert_running(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "rmqd exited during start-up ({status}); log:\n{}",
                    self.log()
                );
            }
        }
    }

    /// The gRPC endpoint as 5.x clients take it.
    pub fn grpc(&self) -> String {
        format!("127.0.0.1:{}", self.grpc_port)
    }

    pub fn namesrv(&self) -> String {
        format!("127.0.0.1:{}", self.namesrv_port)
    }

    pub fn broker(&self) -> String {
        format!("127.0.0.1:{}", self.broker_port)
    }

    pub fn store_dir(&self) -> PathBuf {
        self.home.path().join("store")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("rmqd.log")).unwrap_or_default()
    }

    /// SIGTERM and wait: the clean shutdown path.
    pub fn stop_clean(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    panic!("rmqd did not stop on SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// SIGKILL: no shutdown hook runs.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends a signal to the process (`STOP`, `CONT`): a frozen broker keeps its sockets
    /// open but answers nothing, as a hung machine does.
    pub fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let ok = Command::new("kill")
                .args([&format!("-{sig}"), &c.id().to_string()])
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "kill -{sig} failed");
        }
    }

    /// GET_BROKER_RUNTIME_INFO (28) as a map.
    pub fn runtime_info(&self) -> serde_json::Map<String, Value> {
        let (code, remark, body) = remoting_request(&self.broker(), 28, &[], b"");
        assert_eq!(code, 0, "runtime info: {remark}");
        let v: Value = serde_json::from_slice(&body).expect("runtime info JSON");
        v["table"].as_object().cloned().unwrap_or_default()
    }

    /// One runtime-info figure as a number (-1 when absent).
    pub fn runtime_i64(&self, key: &str) -> i64 {
        self.runtime_info()
            .get(key)
            .and_then(Value::as_str)
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1)
    }

    /// Adds broker.conf lines for the next start (later lines win): an operator's
    /// fail-over edits `brokerId` and `brokerRole`, then restarts.
    pub fn append_conf(&mut self, lines: &[&str]) {
        let mut text = std::fs::read_to_string(&self.conf).expect("read broker.conf");
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        std::fs::write(&self.conf, text).expect("write broker.conf");
    }

    /// Starts again on the same store and ports.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop it first");
        self.spawn();
    }
}

impl Drop for Rmqd {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A running `rmqd namesrv` alone (brokers of a master/slave group register with it, and
/// it outlives a master killed in a test).
pub struct Namesrv {
    child: Option<Child>,
    pub port: u16,
    home: tempfile::TempDir,
}

impl Namesrv {
    pub fn start() -> Namesrv {
        let home = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let log = std::fs::File::create(home.path().join("namesrv.log")).expect("log file");
        let child = Command::new(rmqd_bin())
            .args(["namesrv", "--listen", &format!("127.0.0.1:{port}")])
            .env("HOME", home.path())
            .env("RMQD_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", rmqd_bin().display()));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "name server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Namesrv {
            child: Some(child),
            port,
            home,
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("namesrv.log")).unwrap_or_default()
    }
}

impl Drop for Namesrv {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Sends one JSON-header remoting request and returns (code, remark, body).
pub fn remoting_request(
    addr: &str,
    code: i32,
    ext: &[(&str, &str)],
    body: &[u8],
) -> (i64, String, Vec<u8>) {
    let (h, body) = exchange(addr, code, ext, body);
    (
        h["code"].as_i64().unwrap_or(-1),
        h["remark"].as_str().unwrap_or("").to_string(),
        body,
    )
}

/// GET_MAX_OFFSET (30): how many entries `topic`/`queue` holds on `broker`.
pub fn max_offset(broker: &str, topic: &str, queue: i32) -> i64 {
    let q = queue.to_string();
    let (code, remark, ext) =
        remoting_request_ext(broker, 30, &[("topic", topic), ("queueId", &q)]);
    assert_eq!(code, 0, "GET_MAX_OFFSET {topic}/{queue}: {remark}");
    ext.get("offset")
        .and_then(Value::as_str)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("GET_MAX_OFFSET {topic}/{queue}: no offset in {ext:?}"))
}

/// A bodiless request whose answer is in the response header: (code, remark, extFields).
pub fn remoting_request_ext(
    addr: &str,
    code: i32,
    ext: &[(&str, &str)],
) -> (i64, String, serde_json::Map<String, Value>) {
    let (h, _) = exchange(addr, code, ext, b"");
    (
        h["code"].as_i64().unwrap_or(-1),
        h["remark"].as_str().unwrap_or("").to_string(),
        h["extFields"].as_object().cloned().unwrap_or_default(),
    )
}

/// One JSON-header request on a fresh connection; the reply's header and body.
fn exchange(addr: &str, code: i32, ext: &[(&str, &str)], body: &[u8]) -> (Value, Vec<u8>) {
    let ext: serde_json::Map<String, Value> = ext
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    let header = serde_json::json!({
        "code": code, "language": "JAVA", "version": 409, "opaque": 1, "flag": 0, "extFields": ext
    });
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(&wire::json_frame(&header, body)).expect("send");
    wire::read_frame(&mut s)
}

/// UPDATE_AND_CREATE_TOPIC (17) on the broker, perm 6.
pub fn create_topic(broker: &str, topic: &str, queues: u32) {
    let q = queues.to_string();
    let (code, remark, _) = remoting_request(
        broker,
        17,
        &[
            ("topic", topic),
            ("defaultTopic", "TBW102"),
            ("readQueueNums", &q),
            ("writeQueueNums", &q),
            ("perm", "6"),
            ("topicFilterType", "SINGLE_TAG"),
            ("topicSysFlag", "0"),
            ("order", "false"),
        ],
        b"",
    );
    assert_eq!(code, 0, "create topic {topic}: {remark}");
}

/// The real clients under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// PyPI `rocketmq` 0.4.4: the Apache C++ client 1.x.
    PyCpp1,
    /// PyPI `rocketmq-python-cvs` 2.1.0.3: the Apache C++ client 2.1.
    PyCpp2,
    /// npm `ali-ons` 3.12.0.
    Node,
    /// crates.io `rocketmq-client-rust` 1.0.0.
    Rust,
    /// PyPI `rocketmq-python-client` 5.1.2 (5.x, gRPC).
    Py5,
    /// npm `rocketmq-client-nodejs` 1.0.8 (5.x, gRPC).
    Node5,
}

pub fn clients_dir() -> PathBuf {
    std::env::var_os("RMQD_CLIENTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_dir().join(".clients"))
}

impl Client {
    pub fn name(self) -> &'static str {
        match self {
            Client::PyCpp1 => "rocketmq-0.4.4 (C++ 1.x)",
            Client::PyCpp2 => "rocketmq-python-cvs-2.1.0.3 (C++ 2.1)",
            Client::Node => "ali-ons-3.12.0",
            Client::Rust => "rocketmq-client-rust-1.0.0",
            Client::Py5 => "rocketmq-python-client-5.1.2",
            Client::Node5 => "rocketmq-client-nodejs-1.0.8",
        }
    }

    fn program(self) -> (PathBuf, Vec<PathBuf>) {
        let c = clients_dir();
        let drivers = repo_dir().join("compat-tests/clients");
        match self {
            Client::PyCpp1 => (
                c.join("py-cpp1/bin/python"),
                vec![drivers.join("python/driver.py")],
            ),
            Client::PyCpp2 => (
                c.join("py-cpp2/bin/python"),
                vec![drivers.join("python/driver.py")],
            ),
            Client::Node => (PathBuf::from("node"), vec![drivers.join("node/driver.js")]),
            Client::Rust => (c.join("rust-target/debug/rust-driver"), vec![]),
            Client::Py5 => (
                c.join("py-5x/bin/python"),
                vec![drivers.join("python5/driver5.py")],
            ),
            Client::Node5 => (
                PathBuf::from("node"),
                vec![drivers.join("node5/driver5.js")],
            ),
        }
    }

    /// Whether `install.sh` put the client in place. Tests fail (not skip) without it.
    pub fn installed(self) -> bool {
        match self {
            Client::Node => clients_dir().join("node/node_modules/ali-ons").is_dir(),
            Client::Node5 => clients_dir()
                .join("node-5x/node_modules/rocketmq-client-nodejs")
                .is_dir(),
            _ => self.program().0.exists(),
        }
    }

    pub fn command(self, args: &[&str], home: &Path) -> Command {
        assert!(
            self.installed(),
            "{} is not installed: run compat-tests/clients/install.sh {}",
            self.name(),
            clients_dir().display()
        );
        let (prog, pre) = self.program();
        let mut cmd = Command::new(prog);
        cmd.args(pre).args(args);
        let logs = home.join("client-logs");
        let _ = std::fs::create_dir_all(&logs);
        cmd.env("HOME", home)
            .env("RMQD_CLIENT_LOG_DIR", &logs)
            .env("ROCKETMQ_CLIENT_LOG_DIR", &logs)
            .env(
                "NODE_PATH",
                if self == Client::Node5 {
                    clients_dir().join("node-5x/node_modules")
                } else {
                    clients_dir().join("node/node_modules")
                },
            )
            .env("RUST_LOG", "error");
        cmd
    }
}

/// What a driver run printed.
#[derive(Debug, Default)]
pub struct DriverRun {
    pub lines: Vec<Value>,
    pub success: bool,
    pub stderr: String,
}

impl DriverRun {
    /// Lines that describe a message (sent or received).
    pub fn messages(&self) -> Vec<&Value> {
        self.lines
            .iter()
            .filter(|l| {
                l.get("body").is_some() || (l.get("i").is_some() && l.get("error").is_none())
            })
            .collect()
    }

    pub fn errors(&self) -> Vec<&Value> {
        self.lines
            .iter()
            .filter(|l| l.get("error").is_some())
            .collect()
    }
}

/// A driver started in the background, its output collected by a thread.
pub struct Running {
    child: Child,
    reader: std::thread::JoinHandle<Vec<Value>>,
    err_reader: std::thread::JoinHandle<String>,
    /// Lines printed so far, for tests that watch a driver while it runs.
    seen: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

pub fn spawn_driver(client: Client, args: &[&str], home: &Path) -> Running {
    spawn_driver_env(client, args, home, &[])
}

/// [`spawn_driver`] with extra environment variables (e.g. `ROCKETMQ_SERIALIZE_TYPE`).
pub fn spawn_driver_env(
    client: Client,
    args: &[&str],
    home: &Path,
    env: &[(&str, &str)],
) -> Running {
    let mut cmd = client.command(args, home);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the {} driver: {e}", client.name()));
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
            .inspect(|v| {
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(v.clone());
            })
            .collect()
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut s);
        s
    });
    Running {
        child,
        reader,
        err_reader,
        seen,
    }
}

impl Running {
    /// The lines the driver has printed so far.
    pub fn lines_so_far(&self) -> Vec<Value> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits up to `timeout` for a printed line `pred` accepts.
    pub fn wait_for_line(&self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.lines_so_far().iter().any(&pred) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Waits up to `timeout`, killing the driver if it overstays.
    pub fn finish(mut self, timeout: Duration) -> DriverRun {
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        DriverRun {
            lines: self.reader.join().unwrap_or_default(),
            success: status.is_some_and(|s| s.success()),
            stderr: self.err_reader.join().unwrap_or_default(),
        }
    }
}

pub fn run_driver(client: Client, args: &[&str], home: &Path, timeout: Duration) -> DriverRun {
    spawn_driver(client, args, home).finish(timeout)
}

impl Rmqd {
    /// Like [`Rmqd::start`], with the store at `store_root` (a directory on a test file
    /// system, say) instead of inside `home`. `home/store` is made a symlink to it, so
    /// [`Rmqd::store_dir`] still names the store.
    pub fn start_with_store(store_root: &Path, extra: &[&str]) -> Rmqd {
        let home = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink(store_root, home.path().join("store")).expect("store link");
        let namesrv_port = free_port();
        let broker_port = free_broker_port();
        let grpc_port = free_port();
        let conf = home.path().join("broker.conf");
        let mut text = format!(
            "brokerClusterName=DefaultCluster\nbrokerName=broker-a\nbrokerIP1=127.0.0.1\nlistenPort={broker_port}\n\
             storePathRootDir={}\nnamesrvAddr=127.0.0.1:{namesrv_port}\ngrpcServerPort={grpc_port}\n",
            store_root.display()
        );
        for l in extra {
            text.push_str(l);
            text.push('\n');
        }
        std::fs::write(&conf, text).expect("write broker.conf");
        let mut r = Rmqd {
            child: None,
            home,
            namesrv_port,
            broker_port,
            grpc_port,
            conf,
            mode: Mode::Standalone,
            env: Vec::new(),
        };
        r.spawn();
        r
    }

    /// The broker.conf this instance runs with (for `rmqd store verify -c`).
    pub fn conf_path(&self) -> &Path {
        &self.conf
    }

    /// Whether the process is running (not stopped by this handle).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}
