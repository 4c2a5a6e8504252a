//! Configuration: `synchost.toml`, ad-hoc sources from the command line, and
//! their resolution into a [`SourceConfig`] the engine can run.
//!
//! Secrets never live in the file: `auth` names environment variables, read
//! here once, and the values go only to the HTTP layer (never to the plugin).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde::Deserialize;

use crate::error::{refused, usage};
use crate::net::{Credential, HostPolicy, RetryPolicy};
use crate::trust::caps::{self, Check, Written};
use crate::trust::{lock::LOCK_FILE, Allowed, PluginTrust, Policy, PublicKey};

/// The default store location, relative to the working directory.
pub const DEFAULT_STORE: &str = ".synchost/synchost.db";
/// The default page size for `list`.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// The hard maximum page size, whatever the config or plugin say.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Default HTTP concurrency per source.
pub const DEFAULT_CONCURRENCY: u32 = 5;
/// The value `synchost init` writes for a required setting it cannot know;
/// a source still holding it is refused, naming the setting.
pub const SETTING_PLACEHOLDER: &str = "<fill in>";

/// `synchost.toml` as written by the user.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub store: StoreSection,
    #[serde(default)]
    pub sources: BTreeMap<String, SourceSection>,
    #[serde(default)]
    pub network: NetworkSection,
    #[serde(default)]
    pub trust: TrustSection,
}

/// `[network]`: how every source reaches the network (see
/// [`crate::net::Network`]; proxies come from the environment).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// A PEM file of certificate authorities to trust besides the bundled
    /// roots and the OS trust store (a TLS-inspecting proxy's, a private
    /// CA's); relative to the config file's directory.
    pub ca_file: Option<PathBuf>,
}

/// `[trust]`: the keys whose plugin signatures are trusted, and whether
/// every source's plugin must carry one.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustSection {
    /// Public keys, `ed25519:BASE64` (`synchost plugin keygen` prints one).
    #[serde(default)]
    pub keys: Vec<String>,
    /// A file of public keys, one a line (`#` starts a comment), relative
    /// to the config file.
    pub keys_file: Option<PathBuf>,
    /// Every source's plugin (and `pull --plugin`'s) must be signed by a trusted key.
    #[serde(default)]
    pub require_signature: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    pub path: Option<PathBuf>,
}

/// `[sources.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSection {
    pub plugin: PathBuf,
    pub allowed_hosts: Option<Vec<String>>,
    pub page_size: Option<u32>,
    pub concurrency: Option<u32>,
    /// Requests per second to each allowed host (token bucket); unlimited when absent.
    pub requests_per_second: Option<f64>,
    pub auth: Option<AuthSection>,
    #[serde(default)]
    pub settings: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub retry: RetrySection,
    /// Rules applied to every record before it is stored.
    #[serde(default)]
    pub redact: crate::redact::RedactSection,
    #[serde(default)]
    pub history: HistorySection,
    /// Records matching any of these (`FIELD=VALUE`, see
    /// [`crate::matching`]) are not stored.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Only the plugin file with this sha256 runs (the lock file is not
    /// consulted, and `synchost plugin trust` cannot change it).
    pub plugin_sha256: Option<String>,
    /// The plugin must be signed by a key of `[trust]`.
    #[serde(default)]
    pub require_signature: bool,
}

/// `[sources.NAME.history]`: how many earlier versions of each record the
/// store keeps (default [`crate::store::history::DEFAULT_KEEP_VERSIONS`];
/// 0 keeps none), and for how long (default: no age limit).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistorySection {
    pub keep_versions: Option<u32>,
    pub keep_days: Option<u32>,
}

/// `[sources.NAME.auth]`: which environment variables hold the credential.
/// A flat table (rather than a tagged enum) so a wrong key is reported at its
/// own line; [`credential`] checks that the keys fit the type.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    #[serde(rename = "type")]
    pub kind: AuthKind,
    pub token_env: Option<String>,
    pub username_env: Option<String>,
    pub password_env: Option<String>,
    pub name: Option<String>,
    pub value_env: Option<String>,
    pub key_env: Option<String>,
    pub jwt_env: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    /// `Authorization: Bearer $token_env`.
    Bearer,
    /// `Authorization: Basic base64($username_env:$password_env)`.
    Basic,
    /// `$name: $value_env`.
    Header,
    /// `apikey: $key_env` and `Authorization: Bearer` of `$jwt_env` (a
    /// user's JWT) when given, else of the key.
    Supabase,
}

impl AuthKind {
    /// The kind as `type = "..."` names it.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthKind::Bearer => "bearer",
            AuthKind::Basic => "basic",
            AuthKind::Header => "header",
            AuthKind::Supabase => "supabase",
        }
    }

    /// The `*_env` keys this kind reads, with whether each must be set
    /// (a Supabase user's JWT is optional).
    pub fn env_keys(self) -> &'static [(&'static str, bool)] {
        match self {
            AuthKind::Bearer => &[("token_env", true)],
            AuthKind::Basic => &[("username_env", true), ("password_env", true)],
            AuthKind::Header => &[("value_env", true)],
            AuthKind::Supabase => &[("key_env", true), ("jwt_env", false)],
        }
    }
}

impl AuthSection {
    /// `Authorization: Bearer $VAR`.
    pub fn bearer(token_env: String) -> AuthSection {
        AuthSection {
            token_env: Some(token_env),
            ..AuthSection::empty(AuthKind::Bearer)
        }
    }

    /// The section a plugin's manifest suggests: its scheme, the variable
    /// it suggests for each `*_env` key (keys that are not the host's are
    /// ignored) and, for `header`, the header's name.
    pub fn suggested(
        kind: AuthKind,
        env: &[(String, String)],
        header_name: Option<&str>,
    ) -> AuthSection {
        let mut section = AuthSection::empty(kind);
        section.name = header_name.map(str::to_string);
        for (key, variable) in env {
            if let Some(slot) = section.env_slot(key) {
                *slot = Some(variable.clone());
            }
        }
        section
    }

    /// The variable named for `*_env` key `key`, if any.
    pub fn env_var(&self, key: &str) -> Option<&str> {
        match key {
            "token_env" => self.token_env.as_deref(),
            "username_env" => self.username_env.as_deref(),
            "password_env" => self.password_env.as_deref(),
            "value_env" => self.value_env.as_deref(),
            "key_env" => self.key_env.as_deref(),
            "jwt_env" => self.jwt_env.as_deref(),
            _ => None,
        }
    }

    /// Reads the variables this section names (never shown anywhere).
    pub fn credential(&self, source: &str) -> Result<Credential> {
        credential(source, self)
    }

    fn env_slot(&mut self, key: &str) -> Option<&mut Option<String>> {
        match key {
            "token_env" => Some(&mut self.token_env),
            "username_env" => Some(&mut self.username_env),
            "password_env" => Some(&mut self.password_env),
            "value_env" => Some(&mut self.value_env),
            "key_env" => Some(&mut self.key_env),
            "jwt_env" => Some(&mut self.jwt_env),
            _ => None,
        }
    }

    fn empty(kind: AuthKind) -> AuthSection {
        AuthSection {
            kind,
            token_env: None,
            username_env: None,
            password_env: None,
            name: None,
            value_env: None,
            key_env: None,
            jwt_env: None,
        }
    }
}

/// The values an administrator's policy may bound (its `[limits]` keys):
/// a source's `page_size`, `concurrency`, `requests_per_second`, and every
/// key of `[sources.NAME.limits]`.
pub const BOUNDED: &[&str] = &[
    "page_size",
    "concurrency",
    "requests_per_second",
    "memory_mb",
    "cpu_ms_per_call",
    "call_timeout_s",
    "max_response_mb",
    "request_timeout_s",
    "max_requests_per_run",
    "run_timeout_s",
    "max_blob_mb",
    "max_download_mb_per_run",
    "max_plugin_mb",
    "max_function_kib",
    "max_log_kib",
    "max_wait_total_s",
];

/// `[sources.NAME.limits]`: the sandbox's bounds for this source's plugin.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    pub memory_mb: Option<u64>,
    pub cpu_ms_per_call: Option<u64>,
    pub call_timeout_s: Option<u64>,
    pub max_response_mb: Option<u64>,
    pub request_timeout_s: Option<u64>,
    pub max_requests_per_run: Option<u64>,
    pub run_timeout_s: Option<u64>,
    pub max_blob_mb: Option<u64>,
    pub max_download_mb_per_run: Option<u64>,
    pub max_plugin_mb: Option<u64>,
    pub max_function_kib: Option<u64>,
    pub max_log_kib: Option<u64>,
    pub max_wait_total_s: Option<u64>,
}

/// `[sources.NAME.retry]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySection {
    pub max_retries: Option<u32>,
    pub base_delay_ms: Option<u64>,
    pub max_delay_ms: Option<u64>,
    pub max_wait_s: Option<u64>,
}

/// Limits applied to one plugin instance and its run.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Linear memory cap per memory of the plugin.
    pub memory_bytes: u64,
    /// CPU time the plugin may spend executing in one call.
    pub cpu_per_call: Duration,
    /// Wall-clock time one call may take, including its HTTP requests.
    pub call_timeout: Duration,
    /// Largest HTTP response body handed to the plugin.
    pub max_response_bytes: u64,
    /// Default timeout of one HTTP request (the plugin may ask for less).
    pub request_timeout: Duration,
    /// HTTP requests one run may send.
    pub max_requests_per_run: u64,
    /// Wall-clock time one run (all streams of a source) may take.
    pub run_timeout: Duration,
    /// Largest blob (attachment) one download may write.
    pub max_blob_bytes: u64,
    /// Bytes all blob downloads of one run may write together.
    pub max_download_bytes_per_run: u64,
    /// Largest plugin file compiled.
    pub max_plugin_bytes: u64,
    /// Largest function body compiled (compile memory grows with it).
    pub max_function_bytes: u64,
    /// Log output (the `log` import, stdout, stderr) one plugin instance
    /// may produce; the rest is dropped and counted.
    pub max_log_bytes: u64,
    /// Total time one run may spend waiting because the plugin answered
    /// `rate-limited`.
    pub max_wait_total: Duration,
}

impl LimitsSection {
    /// Each key, its value and its default: the one list of the defaults.
    pub fn fields_mut(&mut self) -> [(&'static str, &mut Option<u64>, u64); 13] {
        [
            ("memory_mb", &mut self.memory_mb, 256),
            ("cpu_ms_per_call", &mut self.cpu_ms_per_call, 10_000),
            ("call_timeout_s", &mut self.call_timeout_s, 300),
            ("max_response_mb", &mut self.max_response_mb, 32),
            ("request_timeout_s", &mut self.request_timeout_s, 60),
            (
                "max_requests_per_run",
                &mut self.max_requests_per_run,
                10_000_000,
            ),
            ("run_timeout_s", &mut self.run_timeout_s, 24 * 3600),
            ("max_blob_mb", &mut self.max_blob_mb, 2048),
            (
                "max_download_mb_per_run",
                &mut self.max_download_mb_per_run,
                100 * 1024,
            ),
            ("max_plugin_mb", &mut self.max_plugin_mb, 64),
            ("max_function_kib", &mut self.max_function_kib, 512),
            ("max_log_kib", &mut self.max_log_kib, 1024),
            ("max_wait_total_s", &mut self.max_wait_total_s, 3600),
        ]
    }
}

impl Limits {
    fn from_section(section: &LimitsSection) -> Self {
        const MIB: u64 = 1024 * 1024;
        let mut s = section.clone();
        for (_, value, default) in s.fields_mut() {
            value.get_or_insert(default);
        }
        let get = |value: Option<u64>| value.unwrap_or_default();
        Limits {
            memory_bytes: get(s.memory_mb).saturating_mul(MIB),
            cpu_per_call: Duration::from_millis(get(s.cpu_ms_per_call)),
            call_timeout: Duration::from_secs(get(s.call_timeout_s)),
            max_response_bytes: get(s.max_response_mb).saturating_mul(MIB),
            request_timeout: Duration::from_secs(get(s.request_timeout_s)),
            max_requests_per_run: get(s.max_requests_per_run),
            run_timeout: Duration::from_secs(get(s.run_timeout_s)),
            max_blob_bytes: get(s.max_blob_mb).saturating_mul(MIB),
            max_download_bytes_per_run: get(s.max_download_mb_per_run).saturating_mul(MIB),
            max_plugin_bytes: get(s.max_plugin_mb).saturating_mul(MIB),
            max_function_bytes: get(s.max_function_kib).saturating_mul(1024),
            max_log_bytes: get(s.max_log_kib).saturating_mul(1024),
            max_wait_total: Duration::from_secs(get(s.max_wait_total_s)),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::from_section(&LimitsSection::default())
    }
}

/// A source ready to run: every path resolved, every secret read.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
    pub plugin: PathBuf,
    pub settings: Vec<(String, String)>,
    pub allowed_hosts: Vec<String>,
    pub page_size: u32,
    pub concurrency: u32,
    pub requests_per_second: Option<f64>,
    pub credential: Option<Credential>,
    /// The configured `auth` type, to compare with what the plugin declares.
    pub auth_kind: Option<AuthKind>,
    pub limits: Limits,
    pub retry: RetryPolicy,
    /// Given on the command line (`--plugin`): its name is the plugin
    /// manifest's, once described, not the file's.
    pub ad_hoc: bool,
    /// `[redact]` rules, compiled; `None` when there are none.
    pub redactor: Option<crate::redact::Redactor>,
    /// `exclude` rules, parsed.
    pub exclusions: crate::matching::Exclusions,
    /// Earlier versions kept per record, and for how many days (none: no limit).
    pub history: (u32, Option<u32>),
    /// `[network] ca_file`, resolved.
    pub ca_file: Option<PathBuf>,
    /// What decides whether the plugin file may run (see [`crate::trust`]).
    pub trust: PluginTrust,
    /// The administrator's policy this source was checked against (its
    /// hash goes to the audit trail; its hosts, proxy and blob rule hold
    /// while the source runs). Never given to the plugin.
    pub admin: Option<Arc<Policy>>,
}

impl SourceConfig {
    /// The source's network policy: its allowlist, with the credential
    /// bound to the origin of its `base_url` setting.
    pub fn policy(&self) -> std::result::Result<HostPolicy, String> {
        let base_url = self
            .settings
            .iter()
            .find(|(key, _)| key == "base_url")
            .map(|(_, value)| value.as_str());
        let cap = self.admin.as_ref().and_then(|p| p.allowed_hosts.clone());
        HostPolicy::with_base_url(&self.allowed_hosts, base_url).map(|p| p.capped(cap))
    }

    /// The policy line that forbids blobs, when the policy does.
    pub fn blobs_forbidden(&self) -> Option<String> {
        let policy = self.admin.as_ref().filter(|p| !p.allow_blobs)?;
        Some(policy.rule("allow_blobs"))
    }

    /// Refuses a source that may reach no host: neither `allowed_hosts`
    /// nor a `base_url` setting. Checked once the plugin's settings are,
    /// so a misspelled `base_url` is named as such first.
    pub fn check_reach(&self) -> std::result::Result<(), String> {
        if self.allowed_hosts.is_empty() {
            return Err("it has neither allowed_hosts nor settings.base_url: \
                        set one so synchost knows which hosts the plugin may reach"
                .into());
        }
        Ok(())
    }
}

/// Command-line overrides that apply to every source of a run.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub page_size: Option<u32>,
    pub concurrency: Option<u32>,
}

/// A loaded config file and the directory its relative paths start from.
#[derive(Debug)]
pub struct Config {
    pub file: ConfigFile,
    pub base_dir: PathBuf,
    pub path: Option<PathBuf>,
    /// The config file's text, to name the line of an entry a policy refuses.
    pub text: String,
    /// The administrator's policy, when there is one (see [`Policy::load`]).
    pub policy: Option<Arc<Policy>>,
}

impl Config {
    /// Reads `path`; a missing default file yields an empty config so ad-hoc
    /// commands work without one.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let (path, explicit) = match path {
            Some(path) => (path.to_path_buf(), true),
            None => (PathBuf::from("synchost.toml"), false),
        };
        let policy = Policy::load()?.map(Arc::new);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(Config {
                    file: ConfigFile::default(),
                    base_dir: PathBuf::from("."),
                    path: None,
                    text: String::new(),
                    policy,
                })
            }
            Err(err) => {
                return Err(usage(format!(
                    "cannot read config {}: {err}; pass --config PATH or create synchost.toml",
                    path.display()
                )))
            }
        };
        let file = parse(&text)
            .map_err(|message| usage(format!("invalid config {}: {message}", path.display())))?;
        let base_dir = path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Ok(Config {
            file,
            base_dir,
            path: Some(path),
            text,
            policy,
        })
    }

    /// The store path: `--store`, else `[store].path`, else the default.
    pub fn store_path(&self, flag: Option<&Path>) -> PathBuf {
        match (flag, &self.file.store.path) {
            (Some(path), _) => path.to_path_buf(),
            (None, Some(path)) => self.base_dir.join(path),
            (None, None) => PathBuf::from(DEFAULT_STORE),
        }
    }

    /// Names of the configured sources, in order.
    pub fn source_names(&self) -> Vec<String> {
        self.file.sources.keys().cloned().collect()
    }

    /// Resolves `[sources.NAME]` for a run.
    pub fn source(&self, name: &str, overrides: &Overrides) -> Result<SourceConfig> {
        self.resolved(name, overrides, true)
    }

    /// [`Config::source`] without reading its credential (it has none): for
    /// commands that never reach the remote (`synchost plugin trust`).
    pub fn source_without_credential(&self, name: &str) -> Result<SourceConfig> {
        self.resolved(name, &Overrides::default(), false)
    }

    fn resolved(
        &self,
        name: &str,
        overrides: &Overrides,
        credential: bool,
    ) -> Result<SourceConfig> {
        let section = self.file.sources.get(name).ok_or_else(|| {
            let known = self.source_names();
            let where_ = self
                .path
                .as_ref()
                .map_or("no config file".to_string(), |p| p.display().to_string());
            if known.is_empty() {
                usage(format!(
                    "unknown source `{name}`: {where_} defines no sources"
                ))
            } else {
                usage(format!(
                    "unknown source `{name}` (in {where_}); known sources: {}",
                    known.join(", ")
                ))
            }
        })?;
        let mut source = resolve(
            name,
            self.base_dir.join(&section.plugin),
            section,
            overrides,
            credential,
        )?;
        if let Some(policy) = &self.policy {
            apply_policy(policy, &mut source, section, &self.written(name), overrides)?;
        }
        source.ca_file = self.ca_file();
        source.trust = self.ad_hoc_trust()?;
        source.trust.lock = Some(self.lock_path());
        if let Some(pin) = &section.plugin_sha256 {
            if pin.len() != 64 || !pin.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(usage(format!(
                    "source `{name}`: plugin_sha256 must be 64 hex digits (as \
                     `synchost plugin inspect` prints the sha256), got `{pin}`"
                )));
            }
            source.trust.pin = Some(pin.to_ascii_lowercase());
        }
        if let (Some(pin), Some(allowed)) = (&source.trust.pin, &source.trust.allowed) {
            if !allowed.signed && !allowed.hashes.contains(pin) {
                return Err(refused(
                    &allowed.rule,
                    format!(
                        "source `{name}`: plugin_sha256 pins a plugin that {} does not allow",
                        allowed.rule
                    ),
                ));
            }
        }
        if section.require_signature && source.trust.require_signature.is_none() {
            source.trust.require_signature =
                Some(format!("[sources.{name}] require_signature = true"));
        }
        if source.trust.require_signature.is_some() && source.trust.keys.is_empty() {
            return Err(usage(format!(
                "source `{name}`: a signature is required but [trust] lists no keys \
                 (keys or keys_file): no plugin could run"
            )));
        }
        Ok(source)
    }

    /// How messages name the entries of `[sources.NAME]`.
    fn written<'a>(&'a self, name: &'a str) -> Written<'a> {
        Written::Config {
            path: self
                .path
                .as_deref()
                .and_then(Path::to_str)
                .unwrap_or("synchost.toml"),
            text: &self.text,
            source: name,
        }
    }

    /// Every rule of the policy that applies to `[sources.NAME]` as
    /// configured (`synchost policy explain`); empty without a policy.
    pub fn policy_checks(&self, name: &str) -> Result<Vec<Check>> {
        let (Some(policy), Some(section)) = (&self.policy, self.file.sources.get(name)) else {
            self.resolved(name, &Overrides::default(), false)?;
            return Ok(Vec::new());
        };
        let (checks, _) = caps::evaluate(
            policy,
            name,
            section,
            &self.written(name),
            &Overrides::default(),
            env_page_size()?,
        );
        Ok(checks)
    }

    /// The lock file: `synchost.lock` beside the config file.
    pub fn lock_path(&self) -> PathBuf {
        self.base_dir.join(LOCK_FILE)
    }

    /// The config's `[trust]` rules, without a lock: what applies to an
    /// ad-hoc `--plugin` source (and, with the lock, to every configured one).
    pub fn ad_hoc_trust(&self) -> Result<PluginTrust> {
        let trust = &self.file.trust;
        let shown = self
            .path
            .as_ref()
            .map_or("the config".to_string(), |p| p.display().to_string());
        let mut keys = Vec::new();
        for key in &trust.keys {
            keys.push(
                PublicKey::parse(key)
                    .map_err(|why| usage(format!("{shown}: [trust] keys: {why}")))?,
            );
        }
        if let Some(file) = &trust.keys_file {
            let path = self.base_dir.join(file);
            let text = std::fs::read_to_string(&path).map_err(|err| {
                usage(format!(
                    "{shown}: [trust] keys_file {}: {err}",
                    path.display()
                ))
            })?;
            for (number, line) in text.lines().enumerate() {
                let line = line.split('#').next().unwrap_or_default().trim();
                if !line.is_empty() {
                    keys.push(PublicKey::parse(line).map_err(|why| {
                        usage(format!("{}, line {}: {why}", path.display(), number + 1))
                    })?);
                }
            }
        }
        let mut rules = PluginTrust {
            lock: None,
            pin: None,
            require_signature: trust
                .require_signature
                .then(|| format!("[trust] require_signature = true in {shown}")),
            keys,
            allowed: None,
            signature_by_policy: false,
        };
        if let Some(policy) = &self.policy {
            if let Some(allowed_keys) = &policy.trusted_keys {
                if let Some(extra) = rules.keys.iter().find(|key| !allowed_keys.contains(key)) {
                    let rule = policy.rule("trusted_keys");
                    return Err(refused(
                        &rule,
                        format!(
                            "{shown}: [trust] trusts key {} ({extra}), which {rule} does not list",
                            extra.id(),
                        ),
                    ));
                }
                rules.keys = allowed_keys.clone();
            }
            if policy.require_signature {
                rules.require_signature = Some(policy.rule("require_signature"));
                rules.signature_by_policy = true;
            }
            rules.allowed = policy.allowed_plugin_hashes.as_ref().map(|hashes| Allowed {
                hashes: hashes.clone(),
                rule: policy.rule("allowed_plugin_hashes"),
                signed: policy.trusted_keys.is_some(),
            });
        }
        Ok(rules)
    }

    /// Refuses an ad-hoc `--plugin` run when the policy says
    /// `allow_ad_hoc = false` (exit 2, naming the line).
    pub fn check_ad_hoc(&self) -> Result<()> {
        match &self.policy {
            Some(policy) if !policy.allow_ad_hoc => {
                let rule = policy.rule("allow_ad_hoc");
                Err(refused(
                    &rule,
                    format!(
                        "ad-hoc plugins (--plugin) are not allowed by {rule}: configure the \
                         source in synchost.toml"
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Refuses `what` (a command that would write a mirror) when the policy
    /// says `allow_mirrors = false` (exit 2, naming the line).
    pub fn check_mirrors(&self, what: &str) -> Result<()> {
        match &self.policy {
            Some(policy) if !policy.allow_mirrors => {
                let rule = policy.rule("allow_mirrors");
                Err(refused(
                    &rule,
                    format!("{what} would write a mirror, which {rule} does not allow"),
                ))
            }
            _ => Ok(()),
        }
    }

    /// `[network] ca_file`, relative to the config file's directory.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.file
            .network
            .ca_file
            .as_ref()
            .map(|file| self.base_dir.join(file))
    }
}

/// Parses a config file; the error names the line and column at fault.
pub fn parse(text: &str) -> std::result::Result<ConfigFile, String> {
    toml::from_str::<ConfigFile>(text).map_err(|err| {
        let position = err.span().map(|span| line_col(text, span.start));
        let message = err.message().trim_end().to_string();
        match position {
            Some((line, col)) => format!("line {line}, column {col}: {message}"),
            None => message,
        }
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// The administrator's policy applied to a resolved `source` (see
/// [`crate::trust::caps`]): a value it forbids is refused (exit 2) naming
/// the policy line and the config entry, every one when there are several;
/// bounded values the config leaves out take the lower of their default
/// and the bound.
fn apply_policy(
    policy: &Arc<Policy>,
    source: &mut SourceConfig,
    section: &SourceSection,
    written: &Written,
    overrides: &Overrides,
) -> Result<()> {
    let (checks, capped) = caps::evaluate(
        policy,
        &source.name,
        section,
        written,
        overrides,
        env_page_size()?,
    );
    let violations: Vec<&Check> = checks.iter().filter(|c| c.violation.is_some()).collect();
    if let Some(first) = violations.first() {
        let all: Vec<&str> = violations
            .iter()
            .filter_map(|c| c.violation.as_deref())
            .collect();
        return Err(refused(&first.rule, all.join("\n")));
    }
    if let Some(size) = capped.page_size {
        source.page_size = size;
    }
    if let Some(concurrency) = capped.concurrency {
        source.concurrency = concurrency;
    }
    if capped.requests_per_second.is_some() {
        source.requests_per_second = capped.requests_per_second;
    }
    source.limits = Limits::from_section(&capped.limits);
    source.admin = Some(policy.clone());
    Ok(())
}

/// A source given entirely on the command line (`--plugin FILE --set k=v`),
/// under the administrator's `policy`, if any.
pub fn ad_hoc_source(
    plugin: &Path,
    sets: &[String],
    auth: Option<AuthSection>,
    allowed_hosts: Option<Vec<String>>,
    overrides: &Overrides,
    policy: Option<&Arc<Policy>>,
) -> Result<SourceConfig> {
    let mut settings = BTreeMap::new();
    for set in sets {
        let (key, value) = set
            .split_once('=')
            .ok_or_else(|| usage(format!("--set expects KEY=VALUE, got `{set}`")))?;
        settings.insert(
            key.trim().to_string(),
            toml::Value::String(value.to_string()),
        );
    }
    let name = plugin
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or("plugin")
        .to_string();
    let section = SourceSection {
        plugin: plugin.to_path_buf(),
        allowed_hosts,
        page_size: None,
        concurrency: None,
        requests_per_second: None,
        auth,
        settings,
        limits: LimitsSection::default(),
        retry: RetrySection::default(),
        redact: Default::default(),
        history: HistorySection::default(),
        exclude: Vec::new(),
        plugin_sha256: None,
        require_signature: false,
    };
    let mut source = resolve(&name, plugin.to_path_buf(), &section, overrides, true)?;
    source.ad_hoc = true;
    if let Some(policy) = policy {
        apply_policy(
            policy,
            &mut source,
            &section,
            &Written::CommandLine,
            overrides,
        )?;
    }
    Ok(source)
}

fn resolve(
    name: &str,
    plugin: PathBuf,
    section: &SourceSection,
    overrides: &Overrides,
    read_credential: bool,
) -> Result<SourceConfig> {
    let settings = flat_settings(name, &section.settings)?;
    if let Some((key, _)) = settings.iter().find(|(_, v)| v == SETTING_PLACEHOLDER) {
        return Err(usage(format!(
            "source `{name}`: setting `{key}` is still \"{SETTING_PLACEHOLDER}\", as `synchost init` \
             wrote it: give it a value in the config"
        )));
    }
    let allowed_hosts = match &section.allowed_hosts {
        Some(hosts) if !hosts.is_empty() => hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
        Some(_) => return Err(usage(format!("source `{name}`: allowed_hosts is empty"))),
        None => default_allowed_hosts(name, &settings)?,
    };
    // Refused here, with the config's name for it, not when the run starts.
    HostPolicy::new(&allowed_hosts).map_err(|err| usage(format!("source `{name}`: {err}")))?;
    let page_size = page_size(
        name,
        overrides
            .page_size
            .or(env_page_size()?)
            .or(section.page_size),
    )?;
    let concurrency = overrides
        .concurrency
        .or(section.concurrency)
        .unwrap_or(DEFAULT_CONCURRENCY);
    if !(1..=256).contains(&concurrency) {
        return Err(usage(format!(
            "source `{name}`: concurrency must be between 1 and 256, got {concurrency}"
        )));
    }
    if let Some(rps) = section.requests_per_second {
        if !(rps > 0.0 && rps.is_finite()) {
            return Err(usage(format!(
                "source `{name}`: requests_per_second must be a positive number"
            )));
        }
    }
    let credential = section
        .auth
        .as_ref()
        .filter(|_| read_credential)
        .map(|auth| credential(name, auth))
        .transpose()?;
    let retry = &section.retry;
    let defaults = RetryPolicy::default();
    Ok(SourceConfig {
        name: name.to_string(),
        plugin,
        settings,
        allowed_hosts,
        page_size,
        concurrency,
        requests_per_second: section.requests_per_second,
        credential,
        auth_kind: section.auth.as_ref().map(|auth| auth.kind),
        limits: Limits::from_section(&section.limits),
        retry: RetryPolicy {
            max_retries: retry.max_retries.unwrap_or(defaults.max_retries),
            base_delay: retry
                .base_delay_ms
                .map_or(defaults.base_delay, Duration::from_millis),
            max_delay: retry
                .max_delay_ms
                .map_or(defaults.max_delay, Duration::from_millis),
            max_wait: retry
                .max_wait_s
                .map_or(defaults.max_wait, Duration::from_secs),
        },
        ad_hoc: false,
        redactor: crate::redact::Redactor::new(name, &section.redact)?,
        exclusions: crate::matching::Exclusions::new(name, &section.exclude)?,
        history: (
            section
                .history
                .keep_versions
                .unwrap_or(crate::store::history::DEFAULT_KEEP_VERSIONS),
            section.history.keep_days,
        ),
        ca_file: None,
        trust: PluginTrust::default(),
        admin: None,
    })
}

/// The settings as the plugin receives them: `[settings]` values, and those
/// of a table nested one level (`[sources.db.settings.tasks]`) as
/// `tasks.KEY`, the name `--set tasks.KEY=V` gives them too.
fn flat_settings(
    source: &str,
    settings: &BTreeMap<String, toml::Value>,
) -> Result<Vec<(String, String)>> {
    let mut flat = Vec::new();
    for (key, value) in settings {
        match value {
            toml::Value::Table(table) => {
                for (inner, value) in table {
                    let name = format!("{key}.{inner}");
                    flat.push((name.clone(), setting_value(source, &name, value)?));
                }
            }
            _ => flat.push((key.clone(), setting_value(source, key, value)?)),
        }
    }
    Ok(flat)
}

fn setting_value(source: &str, key: &str, value: &toml::Value) -> Result<String> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        _ => Err(usage(format!(
            "source `{source}`: setting `{key}` must be a string, number or boolean"
        ))),
    }
}

/// Without `allowed_hosts`, a source may reach only the origin of its
/// `base_url`: its scheme, host and port, so the credential never goes to
/// another service on the same machine, nor over http to an https service.
/// Without either, none (refused by [`SourceConfig::check_reach`]).
fn default_allowed_hosts(name: &str, settings: &[(String, String)]) -> Result<Vec<String>> {
    let Some((_, base_url)) = settings.iter().find(|(key, _)| key == "base_url") else {
        return Ok(Vec::new());
    };
    Ok(vec![origin_of(name, base_url)?])
}

/// The `allowed_hosts` entry of `base_url`'s origin (`scheme://host:port`)
/// for source `name`, refusing what is not an http or https URL.
pub fn origin_of(name: &str, base_url: &str) -> Result<String> {
    let url = url::Url::parse(base_url).map_err(|err| {
        usage(format!(
            "source `{name}`: base_url `{base_url}` is not a URL: {err}"
        ))
    })?;
    match (url.scheme(), url.host_str(), url.port_or_known_default()) {
        (scheme @ ("http" | "https"), Some(host), Some(port)) => {
            Ok(format!("{scheme}://{}:{port}", host.to_ascii_lowercase()))
        }
        (_, None, _) => Err(usage(format!(
            "source `{name}`: base_url `{base_url}` has no host"
        ))),
        (scheme, ..) => Err(usage(format!(
            "source `{name}`: base_url `{base_url}` has scheme `{scheme}`; http or https expected"
        ))),
    }
}

fn env_page_size() -> Result<Option<u32>> {
    match std::env::var("SYNCHOST_PAGE_SIZE") {
        Ok(value) => value.trim().parse().map(Some).map_err(|_| {
            usage(format!(
                "SYNCHOST_PAGE_SIZE must be a number, got `{value}`"
            ))
        }),
        Err(_) => Ok(None),
    }
}

fn page_size(name: &str, requested: Option<u32>) -> Result<u32> {
    let size = requested.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&size) {
        return Err(usage(format!(
            "source `{name}`: page size must be between 1 and {MAX_PAGE_SIZE}, got {size}"
        )));
    }
    Ok(size)
}

fn credential(source: &str, auth: &AuthSection) -> Result<Credential> {
    let read = |value: &Option<String>, name: &str| read_secret(source, auth, value, name);
    Ok(match auth.kind {
        AuthKind::Bearer => Credential::bearer(&read(&auth.token_env, "token_env")?),
        AuthKind::Basic => Credential::basic(
            &read(&auth.username_env, "username_env")?,
            &read(&auth.password_env, "password_env")?,
        ),
        AuthKind::Header => {
            let name = required_key(source, auth, &auth.name, "name")?;
            Credential::header(name, &read(&auth.value_env, "value_env")?)
                .map_err(|err| usage(format!("source `{source}`: {err}")))?
        }
        AuthKind::Supabase => {
            let jwt = match &auth.jwt_env {
                Some(_) => Some(read(&auth.jwt_env, "jwt_env")?),
                None => None,
            };
            Credential::supabase(&read(&auth.key_env, "key_env")?, jwt.as_deref())
        }
    })
}

fn required_key<'a>(
    source: &str,
    auth: &AuthSection,
    value: &'a Option<String>,
    key: &str,
) -> Result<&'a str> {
    value.as_deref().ok_or_else(|| {
        usage(format!(
            "source `{source}`: auth type {:?} needs `{key}`",
            auth.kind
        ))
    })
}

/// The value of the environment variable named by `key`.
fn read_secret(
    source: &str,
    auth: &AuthSection,
    value: &Option<String>,
    key: &str,
) -> Result<String> {
    let var = required_key(source, auth, value, key)?;
    std::env::var(var).map_err(|_| {
        usage(format!(
            "source `{source}`: credential variable {var} is not set; export it before running"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_error_names_the_line() {
        let text = "[store]\npath = \".x\"\n[sources.items]\nplugin = 12\n";
        let err = parse(text).unwrap_err();
        assert!(err.starts_with("line 4"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = parse("[sources.a]\nplugin = \"a.wasm\"\npage_sise = 3\n").unwrap_err();
        assert!(err.contains("line 3") && err.contains("page_sise"), "{err}");
    }

    #[test]
    fn default_allowed_host_is_base_url_host() {
        let file = parse(
            "[sources.a]\nplugin = \"a.wasm\"\n[sources.a.settings]\nbase_url = \"http://Example.com:8080/x\"\n",
        )
        .unwrap();
        let config = Config {
            file,
            base_dir: PathBuf::from("/cfg"),
            path: None,
            text: String::new(),
            policy: None,
        };
        let source = config.source("a", &Overrides::default()).unwrap();
        assert_eq!(
            source.allowed_hosts,
            vec!["http://example.com:8080".to_string()]
        );
        assert_eq!(source.plugin, PathBuf::from("/cfg/a.wasm"));
        assert_eq!(source.page_size, DEFAULT_PAGE_SIZE);
    }

    #[test]
    fn wrong_auth_key_is_reported_at_its_line() {
        let text = "[sources.a]\nplugin = \"a.wasm\"\n[sources.a.auth]\ntype = \"bearer\"\ntoken = \"x\"\n";
        let err = parse(text).unwrap_err();
        assert!(err.starts_with("line 5") && err.contains("token"), "{err}");
    }

    #[test]
    fn every_limit_key_can_be_bounded() {
        let mut section = LimitsSection::default();
        for (key, ..) in section.fields_mut() {
            assert!(BOUNDED.contains(&key), "{key}");
        }
        assert_eq!(BOUNDED.len(), section.fields_mut().len() + 3);
    }

    #[test]
    fn page_size_is_bounded() {
        assert!(page_size("a", Some(1001)).is_err());
        assert!(page_size("a", Some(0)).is_err());
        assert_eq!(page_size("a", Some(1000)).unwrap(), 1000);
    }

    #[test]
    fn nested_settings_reach_the_plugin_dotted() {
        let text = "[sources.a]\nplugin = \"a.wasm\"\n[sources.a.settings]\n\
                    base_url = \"http://h\"\ntables = \"notes, tasks\"\n\
                    [sources.a.settings.tasks]\nprimary_key = \"task_id\"\nrevision = 3\n";
        let config = Config {
            file: parse(text).unwrap(),
            base_dir: PathBuf::from("/cfg"),
            path: None,
            text: String::new(),
            policy: None,
        };
        let source = config.source("a", &Overrides::default()).unwrap();
        let get = |key: &str| {
            source
                .settings
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("tasks.primary_key"), Some("task_id"));
        assert_eq!(get("tasks.revision"), Some("3"));
        assert_eq!(get("tables"), Some("notes, tasks"));
        let deeper =
            "[sources.a]\nplugin = \"a.wasm\"\n[sources.a.settings]\nbase_url = \"http://h\"\n\
                      [sources.a.settings.t.u]\nk = \"v\"\n";
        let config = Config {
            file: parse(deeper).unwrap(),
            base_dir: PathBuf::from("/cfg"),
            path: None,
            text: String::new(),
            policy: None,
        };
        let err = config
            .source("a", &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("setting `t.u` must be a string"), "{err}");
    }

    #[test]
    fn supabase_auth_reads_the_key_and_an_optional_jwt() {
        let mut auth = AuthSection::bearer(String::new());
        auth.kind = AuthKind::Supabase;
        auth.token_env = None;
        let err = credential("a", &auth).unwrap_err().to_string();
        assert!(err.contains("needs `key_env`"), "{err}");
        auth.key_env = Some("SYNCHOST_TEST_SUPABASE_KEY_SURELY_UNSET".into());
        let err = credential("a", &auth).unwrap_err().to_string();
        assert!(
            err.contains("SYNCHOST_TEST_SUPABASE_KEY_SURELY_UNSET"),
            "{err}"
        );
        auth.key_env = Some("PATH".into());
        auth.jwt_env = Some("SYNCHOST_TEST_SUPABASE_JWT_SURELY_UNSET".into());
        let err = credential("a", &auth).unwrap_err().to_string();
        assert!(
            err.contains("SYNCHOST_TEST_SUPABASE_JWT_SURELY_UNSET"),
            "{err}"
        );
        auth.jwt_env = None;
        let credential = credential("a", &auth).unwrap();
        let names: Vec<&str> = credential
            .headers()
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(names, ["apikey", "authorization"]);
    }

    #[test]
    fn missing_credential_variable_is_named() {
        let auth = AuthSection::bearer("SYNCHOST_TEST_SURELY_UNSET".into());
        let err = credential("a", &auth).unwrap_err().to_string();
        assert!(err.contains("SYNCHOST_TEST_SURELY_UNSET"), "{err}");
    }
}
