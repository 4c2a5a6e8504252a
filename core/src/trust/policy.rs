//! The administrator's policy: a file outside the user's reach
//! ([`POLICY_PATH`]) that caps what any user config may allow. A config
//! that asks for more is refused (exit 2) naming the policy line. The
//! environment variable [`POLICY_ENV`] points elsewhere, for tests only: an
//! administrator who needs the policy enforced must also control the
//! environment synchost starts in (a service unit does).
//!
//! Nothing of the policy reaches a plugin: it is read by the host, applied
//! to the resolved source ([`crate::trust::caps`]) and never turned into a
//! setting, a variable or a file the sandbox sees. Its proxy's credentials
//! are never shown: [`Policy::rule`] prints the proxy line without them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::PublicKey;
use crate::error::usage;
use crate::net::network::ProxyUrl;
use crate::net::HostCap;

pub const POLICY_PATH: &str = "/etc/synchost/policy.toml";
/// Overrides [`POLICY_PATH`]; for tests.
pub const POLICY_ENV: &str = "SYNCHOST_POLICY_FILE";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    require_signature: bool,
    trusted_keys: Option<Vec<String>>,
    allowed_plugin_hashes: Option<Vec<String>>,
    #[serde(default = "yes")]
    allow_ad_hoc: bool,
    allowed_hosts: Option<Vec<String>>,
    #[serde(default = "yes")]
    allow_blobs: bool,
    #[serde(default = "yes")]
    allow_mirrors: bool,
    proxy: Option<String>,
    #[serde(default)]
    limits: BTreeMap<String, toml::Value>,
}

fn yes() -> bool {
    true
}

/// A loaded policy. Its `Debug` shows neither its text nor its proxy's
/// credentials.
#[derive(Clone)]
pub struct Policy {
    path: PathBuf,
    text: String,
    /// The sha256 of the policy file, for the audit trail.
    pub sha256: String,
    pub require_signature: bool,
    /// The only keys whose signatures count; `None`: the user's `[trust]` keys.
    pub trusted_keys: Option<Vec<PublicKey>>,
    /// The only plugin files that may run (or files signed by a key of
    /// `trusted_keys`); `None`: any.
    pub allowed_plugin_hashes: Option<Vec<String>>,
    pub allow_ad_hoc: bool,
    /// The only hosts any source may reach; `None`: the config's.
    pub allowed_hosts: Option<Arc<HostCap>>,
    /// Whether blobs (attachments, large files) may be downloaded.
    pub allow_blobs: bool,
    /// Whether mirrors (`export --out DIR`, `push --from DIR`) may be written.
    pub allow_mirrors: bool,
    /// The proxy every request must go through, whatever the environment says.
    pub proxy: Option<ProxyUrl>,
    /// `[limits]`: upper bounds, by config key ([`crate::config::BOUNDED`]).
    pub limits: BTreeMap<String, f64>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Policy({}, sha256 {})", self.path.display(), self.sha256)
    }
}

impl Policy {
    /// Where the policy was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The policy in force: the file at `$SYNCHOST_POLICY_FILE`, else at
    /// [`POLICY_PATH`]; `None` when there is none. A policy that cannot be
    /// read or parsed refuses everything (exit 2): it fails closed.
    pub fn load() -> Result<Option<Policy>> {
        let path = Policy::location();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => {
                return Err(usage(format!(
                    "the policy {} cannot be read: {err}; nothing runs until it can",
                    path.display()
                )))
            }
        };
        Policy::parse(&path, text).map(Some)
    }

    /// Where the policy is looked for: `$SYNCHOST_POLICY_FILE`, else [`POLICY_PATH`].
    pub fn location() -> PathBuf {
        std::env::var_os(POLICY_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(POLICY_PATH))
    }

    fn parse(path: &Path, text: String) -> Result<Policy> {
        let shown = path.display();
        let file: PolicyFile = toml::from_str(&text).map_err(|err| {
            usage(format!(
                "the policy {shown} is not valid: {}; nothing runs until it is",
                err.message().trim_end()
            ))
        })?;
        let trusted_keys = file
            .trusted_keys
            .map(|keys| {
                keys.iter()
                    .map(|key| PublicKey::parse(key))
                    .collect::<std::result::Result<Vec<_>, _>>()
            })
            .transpose()
            .map_err(|why| usage(format!("the policy {shown}: trusted_keys: {why}")))?;
        let allowed_plugin_hashes = file.allowed_plugin_hashes.map(|hashes| {
            hashes
                .iter()
                .map(|hash| hash.to_ascii_lowercase())
                .collect()
        });
        let proxy = file
            .proxy
            .as_deref()
            .map(|value| ProxyUrl::parse("the policy's proxy", value))
            .transpose()
            .map_err(|why| {
                usage(format!(
                    "the policy {shown}: {why}; nothing runs until it is"
                ))
            })?;
        let mut limits = BTreeMap::new();
        for (key, value) in &file.limits {
            // A rate may be fractional; every other limit counts whole units.
            let bound = match value {
                toml::Value::Integer(n) if *n > 0 => *n as f64,
                toml::Value::Float(x)
                    if key == "requests_per_second" && *x > 0.0 && x.is_finite() =>
                {
                    *x
                }
                _ => {
                    return Err(usage(format!(
                        "the policy {shown}: [limits] {key} must be a positive {}; nothing \
                         runs until it is",
                        if key == "requests_per_second" {
                            "number"
                        } else {
                            "whole number"
                        }
                    )))
                }
            };
            if !crate::config::BOUNDED.contains(&key.as_str()) {
                return Err(usage(format!(
                    "the policy {shown}: [limits] has no key `{key}` (known: {}); nothing runs \
                     until it is fixed",
                    crate::config::BOUNDED.join(", ")
                )));
            }
            limits.insert(key.clone(), bound);
        }
        let mut policy = Policy {
            path: path.to_path_buf(),
            sha256: hex::encode(Sha256::digest(text.as_bytes())),
            text,
            require_signature: file.require_signature,
            trusted_keys,
            allowed_plugin_hashes,
            allow_ad_hoc: file.allow_ad_hoc,
            allowed_hosts: None,
            allow_blobs: file.allow_blobs,
            allow_mirrors: file.allow_mirrors,
            proxy,
            limits,
        };
        if let Some(patterns) = &file.allowed_hosts {
            let cap = HostCap::new(patterns, policy.rule("allowed_hosts")).map_err(|why| {
                usage(format!(
                    "the policy {shown}: allowed_hosts: {why}; nothing runs until it is fixed"
                ))
            })?;
            policy.allowed_hosts = Some(Arc::new(cap));
        }
        Ok(policy)
    }

    /// The policy line that sets `key`, as refusals name it:
    /// `policy /etc/synchost/policy.toml line 3 (allow_ad_hoc = false)`.
    pub fn rule(&self, key: &str) -> String {
        let found = self.text.lines().enumerate().find(|(_, line)| {
            line.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        });
        // The proxy's line may hold its password: shown without it.
        let written = |line: &str| match (&self.proxy, key) {
            (Some(proxy), "proxy") => format!("proxy = \"{}\"", proxy.shown()),
            _ => crate::untrusted::Untrusted::clipped(line.trim(), 120).to_string(),
        };
        match found {
            Some((number, line)) => format!(
                "policy {} line {} ({})",
                self.path.display(),
                number + 1,
                written(line)
            ),
            None => format!("policy {} ({key})", self.path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_name_their_line() {
        let policy = Policy::parse(
            Path::new("/etc/p.toml"),
            "# admin\nrequire_signature = true\nallow_ad_hoc=false\n".into(),
        )
        .unwrap();
        assert!(policy.require_signature && !policy.allow_ad_hoc);
        assert_eq!(
            policy.rule("allow_ad_hoc"),
            "policy /etc/p.toml line 3 (allow_ad_hoc=false)"
        );
        assert!(Policy::parse(Path::new("p"), "allow_everything = true".into()).is_err());
    }

    #[test]
    fn the_proxy_line_is_shown_without_its_password() {
        let policy = Policy::parse(
            Path::new("/p.toml"),
            "proxy = \"http://it:s3cr3t@proxy.corp:3128\"\n".into(),
        )
        .unwrap();
        let rule = policy.rule("proxy");
        assert_eq!(
            rule,
            "policy /p.toml line 1 (proxy = \"http://[credentials]@proxy.corp:3128\")"
        );
        assert!(!format!("{policy:?}").contains("s3cr3t"));
    }

    #[test]
    fn limits_must_be_known_positive_numbers() {
        let parse = |text: &str| Policy::parse(Path::new("/p.toml"), text.into());
        let policy = parse("[limits]\nconcurrency = 4\nrequests_per_second = 2.5\n").unwrap();
        assert_eq!(policy.limits["concurrency"], 4.0);
        assert_eq!(
            policy.rule("concurrency"),
            "policy /p.toml line 2 (concurrency = 4)"
        );
        for bad in [
            "[limits]\nconcurrency = 0\n",
            "[limits]\nconcurency = 4\n",
            "[limits]\nmemory_mb = \"lots\"\n",
            "[limits]\nconcurrency = 0.5\n",
            "allowed_hosts = [\"*.com\"]\n",
            "proxy = \"socks5://p:1\"\n",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
