//! The administrator's policy: a file outside the user's reach
//! ([`POLICY_PATH`]) that caps what any user config may allow. A config
//! that asks for more is refused (exit 2) naming the policy line. The
//! environment variable [`POLICY_ENV`] points elsewhere, for tests only: an
//! administrator who needs the policy enforced must also control the
//! environment synchost starts in (a service unit does).

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::PublicKey;
use crate::error::usage;

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
}

fn yes() -> bool {
    true
}

/// A loaded policy.
#[derive(Debug, Clone)]
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
}

impl Policy {
    /// The policy in force: the file at `$SYNCHOST_POLICY_FILE`, else at
    /// [`POLICY_PATH`]; `None` when there is none. A policy that cannot be
    /// read or parsed refuses everything (exit 2): it fails closed.
    pub fn load() -> Result<Option<Policy>> {
        let path = std::env::var_os(POLICY_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(POLICY_PATH));
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
        Ok(Policy {
            path: path.to_path_buf(),
            sha256: hex::encode(Sha256::digest(text.as_bytes())),
            text,
            require_signature: file.require_signature,
            trusted_keys,
            allowed_plugin_hashes,
            allow_ad_hoc: file.allow_ad_hoc,
        })
    }

    /// The policy line that sets `key`, as refusals name it:
    /// `policy /etc/synchost/policy.toml line 3 (allow_ad_hoc = false)`.
    pub fn rule(&self, key: &str) -> String {
        let found = self.text.lines().enumerate().find(|(_, line)| {
            line.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        });
        match found {
            Some((number, line)) => format!(
                "policy {} line {} ({})",
                self.path.display(),
                number + 1,
                crate::untrusted::Untrusted::clipped(line.trim(), 120)
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
}
