//! Which plugin files may run: the lock file that pins each configured
//! source to the plugin it first ran (`synchost.lock`), explicit pins in the
//! config, and ed25519 signatures checked against the keys the config
//! trusts. [`admit`] applies all of them to a plugin's sha256 before the
//! plugin is compiled; the host calls it for every configured source, in
//! pull, push, watch and `plugin check`.

pub mod caps;
pub mod lock;
pub mod policy;
pub mod signature;

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::{refused, usage};
pub use lock::{Lock, LockEntry};
pub use policy::Policy;
pub use signature::{PublicKey, Verified};

/// What decides whether a source's plugin file may run.
#[derive(Debug, Clone, Default)]
pub struct PluginTrust {
    /// The lock file recording the plugin of each source; `None` for an
    /// ad-hoc `--plugin` source (nothing to pin it to).
    pub lock: Option<PathBuf>,
    /// `[sources.NAME] plugin_sha256`: only this file runs, whatever the lock says.
    pub pin: Option<String>,
    /// The config line that requires a valid signature by a trusted key,
    /// named in refusals; `None` when no signature is required.
    pub require_signature: Option<String>,
    /// `[trust] keys` and the keys of `[trust] keys_file`; the policy's
    /// `trusted_keys` instead when it lists them.
    pub keys: Vec<PublicKey>,
    /// The policy's `allowed_plugin_hashes`, when it has them.
    pub allowed: Option<Allowed>,
    /// `require_signature` is the policy's rule (its refusals are policy
    /// refusals, recorded as such).
    pub signature_by_policy: bool,
}

/// The only plugin files an administrator's policy lets run.
#[derive(Debug, Clone)]
pub struct Allowed {
    pub hashes: Vec<String>,
    /// The policy line, for refusals.
    pub rule: String,
    /// Files signed by a trusted key may run too (the policy lists the keys).
    pub signed: bool,
}

/// A plugin file allowed to run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admission {
    /// The key id of a valid signature by a trusted key, if the file has one.
    pub signer: Option<String>,
}

/// Whether the plugin at `path`, whose content has `sha256`, may run as
/// `source`: its config pin, its signature when one is required, and its
/// lock entry (a different file than the one recorded is refused until
/// `synchost plugin trust SOURCE`). Every refusal is a usage error (exit 2)
/// naming the rule.
pub fn admit(source: &str, trust: &PluginTrust, path: &Path, sha256: &str) -> Result<Admission> {
    let shown = path.display();
    if let Some(pin) = &trust.pin {
        if !pin.eq_ignore_ascii_case(sha256) {
            return Err(usage(format!(
                "source `{source}`: plugin {shown} has sha256 {sha256}, but the config pins \
                 [sources.{source}] plugin_sha256 = \"{pin}\"; the pin is the config's to \
                 change (`synchost plugin trust` does not override it)"
            )));
        }
    }
    let signer = signer(source, trust, path, sha256)?;
    if let Some(allowed) = &trust.allowed {
        let signed = allowed.signed && signer.is_some();
        if !signed && !allowed.hashes.iter().any(|hash| hash == sha256) {
            return Err(refused(
                &allowed.rule,
                format!(
                    "source `{source}`: plugin {shown} (sha256 {sha256}) is not allowed by {}{}",
                    allowed.rule,
                    if allowed.signed {
                        ", nor signed by a key of its trusted_keys"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
    if let (Some(lock_path), None) = (&trust.lock, &trust.pin) {
        let lock = Lock::read(lock_path)?;
        if let Some(entry) = lock.sources.get(source) {
            if entry.sha256 != sha256 {
                return Err(usage(format!(
                    "source `{source}`: plugin {shown} changed: its sha256 is {sha256}, but {} \
                     records {} ({} {}); if the change is expected, accept it with \
                     `synchost plugin trust {source}` (it shows what changed)",
                    lock_path.display(),
                    entry.sha256,
                    crate::untrusted::Untrusted::clipped(&entry.name, 64),
                    crate::untrusted::Untrusted::clipped(&entry.version, 64),
                )));
            }
        }
    }
    Ok(Admission { signer })
}

/// The trusted signer of the file, refusing it when a signature is required
/// and it has no valid one by a trusted key. A signature that is present
/// but not valid, or by an unlisted key, is a warning when none is required.
fn signer(source: &str, trust: &PluginTrust, path: &Path, sha256: &str) -> Result<Option<String>> {
    let verified = signature::verify(path, sha256);
    let problem = match &verified {
        Verified::Valid(key) if trust.keys.contains(key) => return Ok(Some(key.id())),
        Verified::Valid(key) => format!(
            "it is signed by key {} ({key}), which is not among the trusted keys ([trust] keys \
             or keys_file)",
            key.id()
        ),
        Verified::Unsigned => {
            if trust.require_signature.is_none() {
                return Ok(None);
            }
            format!(
                "it is not signed (no {}; sign it with `synchost plugin sign`)",
                signature::sig_path(path).display()
            )
        }
        Verified::Invalid(why) => format!("its signature is not valid: {why}"),
    };
    let shown = path.display();
    match &trust.require_signature {
        Some(rule) => {
            let message = format!(
                "source `{source}`: plugin {shown} is refused: {problem}, and {rule} requires a \
                 valid signature by a trusted key"
            );
            Err(match trust.signature_by_policy {
                true => refused(rule, message),
                false => usage(message),
            })
        }
        None => {
            tracing::warn!("source `{source}`: plugin {shown}: {problem}; it runs unsigned");
            Ok(None)
        }
    }
}
