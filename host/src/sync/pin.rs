//! A source's entry in the lock file (`synchost.lock`): made from a loaded
//! plugin and its manifest, recorded by the source's first session and by
//! `synchost plugin trust` (see [`crate::trust`]).

use anyhow::Result;

use super::session::auth_kind;
use crate::config::SourceConfig;
use crate::runtime::bindings::types::Manifest;
use crate::runtime::plugin::LoadedPlugin;
use crate::trust::{Lock, LockEntry};

/// The lock entry of `plugin` as `source` runs it; `manifest` is its
/// `describe` answer (already checked: its texts are bounded).
pub fn entry(source: &SourceConfig, plugin: &LoadedPlugin, manifest: &Manifest) -> LockEntry {
    let streams = manifest
        .streams
        .iter()
        .map(|stream| {
            let mut traits = Vec::new();
            if stream.supports_delta {
                traits.push("delta");
            }
            if stream.supports_push {
                traits.push("push");
            }
            format!("{} [{}]", stream.name, traits.join(", "))
        })
        .collect();
    let settings = manifest
        .settings
        .iter()
        .map(|setting| {
            if setting.required {
                format!("{} (required)", setting.name)
            } else {
                setting.name.clone()
            }
        })
        .collect();
    let auth = manifest
        .auth
        .as_ref()
        .map(|auth| {
            let mut parts: Vec<String> = auth
                .env
                .iter()
                .map(|(key, variable)| format!("{key} = {variable}"))
                .collect();
            if let Some(header) = &auth.header_name {
                parts.push(format!("header {header}"));
            }
            format!("{}; {}", auth_kind(auth.scheme).as_str(), parts.join(", "))
        })
        .unwrap_or_default();
    let configured = source.plugin.display().to_string();
    LockEntry {
        plugin: configured,
        sha256: plugin.sha256.clone(),
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        contract: plugin.contract.to_string(),
        imports_sha256: LockEntry::imports_digest(&plugin.imports),
        imports: plugin.imports.clone(),
        streams,
        settings,
        auth,
        extra_hosts: manifest.extra_hosts.clone(),
        signer: plugin.signer.clone().unwrap_or_default(),
        recorded_at: crate::store::now(),
    }
}

/// Records `plugin` as the plugin of `source` in the lock file when the
/// lock has no entry for it yet (its first run), or, for a source the
/// config pins, when the pinned file is another than the recorded one.
/// Ad-hoc sources have no lock. A lock that cannot be written is a warning.
pub fn record_first(
    source: &SourceConfig,
    plugin: &LoadedPlugin,
    manifest: &Manifest,
) -> Result<()> {
    let Some(path) = &source.trust.lock else {
        return Ok(());
    };
    let recorded = Lock::read(path)?;
    match recorded.sources.get(&source.name) {
        Some(entry) if entry.sha256 == plugin.sha256 => Ok(()),
        // Unpinned, another file was refused before it was compiled.
        _ => {
            // A config mounted read-only (a container) keeps working, unpinned.
            match Lock::record(path, &source.name, entry(source, plugin, manifest)) {
                Ok(()) => tracing::info!(
                    "source `{}`: recorded plugin sha256 {} in {}",
                    source.name,
                    plugin.sha256,
                    path.display()
                ),
                Err(err) => tracing::warn!(
                    "source `{}`: {err:#}: its plugin (sha256 {}) is not pinned; ship \
                     synchost.lock with the config (see docs/security.md)",
                    source.name,
                    plugin.sha256
                ),
            }
            Ok(())
        }
    }
}
