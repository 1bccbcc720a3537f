//! The accounts in force (`PlainPermissionManager`): loaded from `<home>/conf/plain_acl.yml`
//! and every `.yml`/`.yaml` under `<home>/conf/acl/`, swapped whole on reload so that a
//! request is checked against one consistent set, and changed by the ACL admin codes.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use rmqd_remoting::RemotingCommand;
use yaml_rust2::Yaml;

use super::address::{java_host, AddressPattern};
use super::file::{self, DataVersion};
use super::perm::{self, Account, AccountConfig};
use super::{resource, AclError};

/// What one load of the files found.
#[derive(Default)]
struct State {
    files: Vec<PathBuf>,
    /// accessKey → (file it is defined in, account).
    accounts: HashMap<String, (PathBuf, Account)>,
    global_white: Vec<AddressPattern>,
    versions: BTreeMap<PathBuf, DataVersion>,
}

/// Modification stamps of the files, for the watcher.
type Stamps = BTreeMap<PathBuf, Option<(SystemTime, u64)>>;

pub struct AclManager {
    home: PathBuf,
    acl_dir: PathBuf,
    default_file: PathBuf,
    state: RwLock<Arc<State>>,
    /// Serialises changes (admin codes, reloads) so that none is lost between read and write.
    change: Mutex<Stamps>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl AclManager {
    /// Loads the files under `home`. `default_file` is `conf/plain_acl.yml` or what
    /// `aclPlainFile` says, relative to `home` unless absolute. Fails on a file that
    /// does not parse, so that a broker never runs with half its rules.
    pub fn open(home: &Path, default_file: &str) -> Result<Self, AclError> {
        let default_file = home.join(default_file);
        if !default_file.exists() {
            // Java creates it empty too: global white addresses are kept there.
            if let Some(dir) = default_file.parent() {
                std::fs::create_dir_all(dir).map_err(|e| AclError(e.to_string()))?;
            }
            std::fs::write(&default_file, b"")
                .map_err(|e| AclError(format!("cannot create {}: {e}", default_file.display())))?;
            tracing::warn!(file = %default_file.display(), "ACL file missing: created empty, so only global white addresses will be let in");
        }
        let m = AclManager {
            home: home.to_owned(),
            acl_dir: home.join("conf").join("acl"),
            default_file,
            state: RwLock::new(Arc::new(State::default())),
            change: Mutex::new(BTreeMap::new()),
        };
        m.reload()?;
        Ok(m)
    }

    pub fn default_file(&self) -> &Path {
        &self.default_file
    }

    fn state(&self) -> Arc<State> {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Stamps> {
        self.change.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `getAllAclFiles` + the default file, sorted so that loads are repeatable.
    fn file_list(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, tools: &Path, out: &mut Vec<PathBuf>) {
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p == tools {
                    continue;
                }
                if p.is_dir() {
                    walk(&p, tools, out);
                } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                    out.push(p);
                }
            }
        }
        let mut out = Vec::new();
        walk(
            &self.acl_dir,
            &self.home.join("conf").join("tools.yml"),
            &mut out,
        );
        out.sort();
        if self.default_file.exists() && !out.contains(&self.default_file) {
            out.push(self.default_file.clone());
        }
        out
    }

    fn stamps(files: &[PathBuf]) -> Stamps {
        files
            .iter()
            .map(|f| {
                let s = std::fs::metadata(f)
                    .ok()
                    .and_then(|m| Some((m.modified().ok()?, m.len())));
                (f.clone(), s)
            })
            .collect()
    }

    /// Reads every file again (`PlainPermissionManager.load`); on error the rules in
    /// force stay as they were.
    pub fn reload(&self) -> Result<(), AclError> {
        let mut stamps = self.lock();
        self.reload_locked(&mut stamps)
    }

    fn reload_locked(&self, stamps: &mut Stamps) -> Result<(), AclError> {
        let files = self.file_list();
        let new_stamps = Self::stamps(&files);
        let mut st = State {
            files: files.clone(),
            ..Default::default()
        };
        for f in &files {
            let doc = file::read(f).map_err(|e| AclError(format!("{}: {}", f.display(), e.0)))?;
            let Some(map) = doc.as_ref().and_then(file::as_map) else {
                tracing::warn!(file = %f.display(), "no data in ACL file");
                continue;
            };
            for w in file::global_white(map) {
                st.global_white.push(AddressPattern::parse(Some(&w))?);
            }
            for c in file::accounts(map) {
                let a = Account::build(&c)?;
                if st.accounts.contains_key(&a.access_key) {
                    tracing::warn!(access_key = %a.access_key, "the accessKey is repeated in multiple ACL files; the first is used");
                    continue;
                }
                st.accounts.insert(a.access_key.clone(), (f.clone(), a));
            }
            let v = file::data_version(map).unwrap_or(DataVersion {
                counter: 0,
                timestamp: now_ms(),
            });
            st.versions.insert(f.clone(), v);
        }
        tracing::info!(
            files = files.len(),
            accounts = st.accounts.len(),
            global_white = st.global_white.len(),
            "ACL rules loaded"
        );
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(st);
        *stamps = new_stamps;
        Ok(())
    }

    /// Reloads if a file changed, appeared or went away since the last load (what
    /// `AclFileWatchService` looks at). Returns whether it reloaded.
    pub fn reload_if_changed(&self) -> bool {
        let mut stamps = self.lock();
        let now = Self::stamps(&self.file_list());
        if now == *stamps {
            return false;
        }
        match self.reload_locked(&mut stamps) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "ACL file change not applied: the previous rules stay in force");
                // Not retried until the file changes again.
                *stamps = now;
                false
            }
        }
    }

    /// `PlainAccessValidator.parse` + `PlainPermissionManager.validate`.
    pub fn validate(&self, req: &RemotingCommand, peer: std::net::IpAddr) -> Result<(), AclError> {
        let st = self.state();
        let host = java_host(peer);
        // Java parses the request before looking at any rule, so a request it cannot
        // parse is refused even from a white-listed address.
        let needed = resource::needed(req)?;
        if st.global_white.iter().any(|w| w.matches(&host)) {
            return Ok(());
        }
        let Some(access_key) = req.ext(rmqd_remoting::acl::ACCESS_KEY) else {
            return Err(AclError("No accessKey is configured".into()));
        };
        let Some((_, account)) = st.accounts.get(access_key) else {
            return Err(AclError(format!("No acl config for {access_key}")));
        };
        if account.white.matches(&host) {
            return Ok(());
        }
        if !rmqd_remoting::acl::verify_request(req, &account.secret_key) {
            return Err(AclError(format!(
                "Check signature failed for accessKey={access_key}"
            )));
        }
        // Message traces may always be written.
        if needed
            .iter()
            .any(|(r, p)| r == "RMQ_SYS_TRACE_TOPIC" && *p == perm::PUB)
        {
            return Ok(());
        }
        account.check(req.code, &needed)
    }

    /// `{"<file>": DataVersion}` and the default file's version (GET_BROKER_CLUSTER_ACL_INFO).
    pub fn versions(&self) -> (BTreeMap<String, DataVersion>, DataVersion) {
        let st = self.state();
        let all = st
            .versions
            .iter()
            .map(|(p, v)| (p.display().to_string(), *v))
            .collect();
        let default = st
            .versions
            .get(&self.default_file)
            .copied()
            .unwrap_or(DataVersion {
                counter: 0,
                timestamp: now_ms(),
            });
        (all, default)
    }

    /// Every account and global white address (`getAllAclConfig`), first definition of a key.
    pub fn all_config(&self) -> (Vec<String>, Vec<AccountConfig>) {
        let st = self.state();
        let mut white = Vec::new();
        let mut accounts: Vec<AccountConfig> = Vec::new();
        for f in &st.files {
            let Ok(Some(doc)) = file::read(f) else {
                continue;
            };
            let Some(map) = file::as_map(&doc) else {
                continue;
            };
            white.extend(file::global_white(map));
            for a in file::accounts(map) {
                if !accounts.iter().any(|x| x.access_key == a.access_key) {
                    accounts.push(a);
                }
            }
        }
        (white, accounts)
    }

    fn write(&self, path: &Path, map: &yaml_rust2::yaml::Hash) -> Result<(), AclError> {
        let text = file::render(map)?;
        rmqd_store::config_file::ConfigFile::open(path)
            .persist(&text)
            .map_err(|e| AclError(e.to_string()))
    }

    fn load_map(path: &Path) -> Result<yaml_rust2::yaml::Hash, AclError> {
        Ok(match file::read(path)? {
            Some(Yaml::Hash(h)) => h,
            _ => Default::default(),
        })
    }

    /// UPDATE_AND_CREATE_ACL_CONFIG (`updateAccessConfig`): changes the account in the
    /// file that defines it, or adds it to the default file.
    pub fn update_account(&self, c: &AccountConfig) -> Result<(), AclError> {
        perm::check_keys(c)?;
        perm::check_resource_perms(c.topic_perms.as_deref().unwrap_or_default())?;
        perm::check_resource_perms(c.group_perms.as_deref().unwrap_or_default())?;
        // The new entry must itself be loadable (address pattern, perms).
        Account::build(c)?;
        let mut stamps = self.lock();
        let st = self.state();
        let key = c.access_key.as_deref().unwrap_or_default();
        let path = st
            .accounts
            .get(key)
            .map(|(p, _)| p.clone())
            .unwrap_or_else(|| self.default_file.clone());
        let mut map = Self::load_map(&path)?;
        let mut list = match file::get(&map, file::ACCOUNTS) {
            Some(Yaml::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
        let pos = list
            .iter()
            .position(|a| file::account(a).access_key.as_deref() == Some(key));
        let old = pos.map(|i| list.remove(i)).and_then(|a| match a {
            Yaml::Hash(h) => Some(h),
            _ => None,
        });
        list.push(Yaml::Hash(file::merge_account(old, c)));
        file::set_key(&mut map, file::ACCOUNTS, Yaml::Array(list));
        file::bump_version(&mut map, now_ms());
        self.write(&path, &map)?;
        self.reload_locked(&mut stamps)
    }

    /// DELETE_ACL_CONFIG (`deleteAccessConfig`): `Ok(false)` when no file defines the key.
    pub fn delete_account(&self, access_key: &str) -> Result<bool, AclError> {
        if access_key.is_empty() {
            return Ok(false);
        }
        let mut stamps = self.lock();
        let st = self.state();
        let Some((path, _)) = st.accounts.get(access_key) else {
            return Ok(false);
        };
        let mut map = Self::load_map(path)?;
        let Some(Yaml::Array(list)) = file::get(&map, file::ACCOUNTS) else {
            return Ok(false);
        };
        let mut list = list.clone();
        let before = list.len();
        list.retain(|a| file::account(a).access_key.as_deref() != Some(access_key));
        if list.len() == before {
            return Ok(false);
        }
        file::set_key(&mut map, file::ACCOUNTS, Yaml::Array(list));
        file::bump_version(&mut map, now_ms());
        self.write(path, &map)?;
        self.reload_locked(&mut stamps)?;
        Ok(true)
    }

    /// UPDATE_GLOBAL_WHITE_ADDRS_CONFIG (`updateGlobalWhiteAddrsConfig`). `file` must be
    /// an existing ACL file under the home directory; none means the default file.
    pub fn update_global_white(
        &self,
        addrs: &[String],
        file: Option<&str>,
    ) -> Result<bool, AclError> {
        let path = match file.filter(|f| !f.is_empty()) {
            Some(f) => PathBuf::from(f),
            None => self.default_file.clone(),
        };
        if !path.is_file() {
            tracing::error!(file = %path.display(), "global white address file does not exist or is a directory");
            return Ok(false);
        }
        if !path.starts_with(&self.home) {
            tracing::error!(file = %path.display(), home = %self.home.display(), "global white address file is not under the RocketMQ home");
            return Ok(false);
        }
        for a in addrs {
            AddressPattern::parse(Some(a))?;
        }
        let mut stamps = self.lock();
        let mut map = Self::load_map(&path)?;
        file::set_key(
            &mut map,
            file::GLOBAL_WHITE,
            Yaml::Array(addrs.iter().map(|a| Yaml::String(a.clone())).collect()),
        );
        file::bump_version(&mut map, now_ms());
        self.write(&path, &map)?;
        self.reload_locked(&mut stamps)?;
        Ok(true)
    }
}
