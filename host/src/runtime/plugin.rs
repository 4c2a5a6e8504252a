//! Loading a plugin: read, check it is a component of a supported contract
//! version with only allowed imports, compile it (or load the cached native
//! code), and prepare it for fast instantiation.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use super::bindings::SourcePluginPre;
use super::host::HostState;
use super::Runtime;
use crate::error::usage;

/// The contract this host implements.
pub const SUPPORTED_CONTRACT: semver::Version = semver::Version::new(0, 1, 0);
const CONTRACT_EXPORT: &str = "synchost:source/source@";

/// Imports a plugin may have: the contract's own, and WASI basics that the
/// host links to an empty context (no files, environment, arguments, sockets).
const ALLOWED_IMPORTS: &[&str] = &[
    "synchost:source/http@",
    "synchost:source/log@",
    "synchost:source/types@",
    "wasi:io/",
    "wasi:cli/environment@",
    "wasi:cli/exit@",
    "wasi:cli/stdin@",
    "wasi:cli/stdout@",
    "wasi:cli/stderr@",
    "wasi:cli/terminal-",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:filesystem/",
];

/// A validated, compiled plugin, ready to instantiate many times.
pub struct LoadedPlugin {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
    /// The contract version the component exports.
    pub contract: semver::Version,
    pub imports: Vec<String>,
    /// True when the native code came from the cache.
    pub cache_hit: bool,
    /// Time to compile or load from cache, in milliseconds.
    pub load_ms: f64,
    pub(crate) pre: SourcePluginPre<HostState>,
}

impl Runtime {
    /// Loads and validates the plugin at `path`. Every refusal is a usage
    /// error (exit 2) naming the file and what is wrong.
    pub fn load(&self, path: &Path) -> Result<LoadedPlugin> {
        let shown = path.display();
        let bytes = std::fs::read(path)
            .map_err(|err| usage(format!("cannot read plugin {shown}: {err}")))?;
        check_component_header(&bytes).map_err(|why| usage(format!("plugin {shown} {why}")))?;
        let sha256 = hex::encode(Sha256::digest(&bytes));

        let started = Instant::now();
        let (component, cache_hit) = self
            .compile_cached(&bytes, &sha256)
            .map_err(|err| usage(format!("plugin {shown} is not a valid component: {err:#}")))?;
        let load_ms = started.elapsed().as_secs_f64() * 1000.0;

        let component_type = component.component_type();
        let exports: Vec<String> = component_type
            .exports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let contract =
            contract_version(&exports).map_err(|why| usage(format!("plugin {shown} {why}")))?;
        let imports: Vec<String> = component_type
            .imports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        if let Some(refused) = imports.iter().find(|name| !is_allowed_import(name)) {
            return Err(usage(format!(
                "plugin {shown} imports `{refused}`, which synchost does not grant \
                 (plugins may import only synchost:source/http, synchost:source/log and WASI basics)"
            )));
        }
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|err| usage(format!("plugin {shown} cannot be linked: {err:#}")))?;
        let pre = SourcePluginPre::new(instance_pre).map_err(|err| {
            usage(format!(
                "plugin {shown} does not match the contract: {err:#}"
            ))
        })?;
        Ok(LoadedPlugin {
            path: path.to_path_buf(),
            sha256,
            size: bytes.len() as u64,
            contract,
            imports,
            cache_hit,
            load_ms,
            pre,
        })
    }

    /// Native code is cached by component hash and engine compatibility
    /// hash; only files this host wrote are ever deserialized.
    fn compile_cached(&self, bytes: &[u8], sha256: &str) -> Result<(Component, bool)> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        let file = self
            .cache_dir
            .join(format!("{sha256}-{:016x}.cwasm", hasher.finish()));
        if file.exists() {
            // SAFETY: the file is written below by this host (atomically, via
            // rename) from a component it compiled with a compatible engine,
            // as the compatibility hash in its name guarantees.
            match unsafe { Component::deserialize_file(&self.engine, &file) } {
                Ok(component) => return Ok((component, true)),
                Err(err) => {
                    tracing::warn!("ignoring unusable cache entry {}: {err}", file.display())
                }
            }
        }
        let component = Component::new(&self.engine, bytes).map_err(crate::runtime::wasm_error)?;
        if let Err(err) = write_cache_entry(&file, &component) {
            tracing::warn!(
                "cannot cache compiled plugin at {}: {err:#}",
                file.display()
            );
        }
        Ok((component, false))
    }
}

fn write_cache_entry(file: &Path, component: &Component) -> Result<()> {
    let dir = file.parent().expect("cache entries live in a directory");
    std::fs::create_dir_all(dir)?;
    let serialized = component.serialize().map_err(crate::runtime::wasm_error)?;
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::write(&temp, serialized)?;
    std::fs::rename(&temp, file)?;
    Ok(())
}

/// Components start with the wasm magic and the component layer version.
fn check_component_header(bytes: &[u8]) -> std::result::Result<(), String> {
    const MAGIC: &[u8] = b"\0asm";
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err(
            "is not a WebAssembly file (build it with `cargo build --target wasm32-wasip2`)".into(),
        );
    }
    if bytes[6..8] != [1, 0] {
        return Err(
            "is a core WebAssembly module, not a component: build it for wasm32-wasip2 \
             (or wrap it with `wasm-tools component new`)"
                .into(),
        );
    }
    Ok(())
}

/// Finds the exported `synchost:source/source@X.Y.Z` and checks X.Y.
fn contract_version(exports: &[String]) -> std::result::Result<semver::Version, String> {
    let Some(export) = exports
        .iter()
        .find(|name| name.starts_with(CONTRACT_EXPORT))
    else {
        return Err(format!(
            "does not export the synchost:source/source interface (it exports: {}); \
             is it a synchost plugin?",
            if exports.is_empty() {
                "nothing".to_string()
            } else {
                exports.join(", ")
            }
        ));
    };
    let version = semver::Version::parse(&export[CONTRACT_EXPORT.len()..])
        .map_err(|err| format!("exports `{export}` with an unreadable version: {err}"))?;
    let compatible = version.major == SUPPORTED_CONTRACT.major
        && (version.major > 0 || version.minor == SUPPORTED_CONTRACT.minor);
    if !compatible {
        let wanted = if SUPPORTED_CONTRACT.major == 0 {
            format!("0.{}.x", SUPPORTED_CONTRACT.minor)
        } else {
            format!("{}.x", SUPPORTED_CONTRACT.major)
        };
        return Err(format!(
            "implements contract synchost:source@{version}, but this synchost supports \
             synchost:source@{wanted}; rebuild the plugin against a matching synchost-sdk \
             or use a synchost that supports {version}"
        ));
    }
    Ok(version)
}

fn is_allowed_import(name: &str) -> bool {
    ALLOWED_IMPORTS
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_tell_components_from_modules() {
        assert!(check_component_header(b"\0asm\x0d\0\x01\0rest").is_ok());
        assert!(check_component_header(b"\0asm\x01\0\0\0rest")
            .unwrap_err()
            .contains("core"));
        assert!(check_component_header(b"#!/bin/sh\necho")
            .unwrap_err()
            .contains("not a WebAssembly"));
    }

    #[test]
    fn contract_versions_are_checked() {
        let ok = contract_version(&["synchost:source/source@0.1.3".into()]).unwrap();
        assert_eq!(ok, semver::Version::new(0, 1, 3));
        let err = contract_version(&["synchost:source/source@1.0.0".into()]).unwrap_err();
        assert!(err.contains("1.0.0") && err.contains("0.1.x"), "{err}");
        assert!(contract_version(&["synchost:source/source@0.2.0".into()]).is_err());
        assert!(contract_version(&["other:thing/x@1.0.0".into()])
            .unwrap_err()
            .contains("does not export"));
    }

    #[test]
    fn imports_beyond_basics_are_refused() {
        assert!(is_allowed_import("wasi:io/streams@0.2.6"));
        assert!(is_allowed_import("synchost:source/http@0.1.0"));
        assert!(!is_allowed_import("wasi:sockets/tcp@0.2.6"));
        assert!(!is_allowed_import("wasi:http/outgoing-handler@0.2.6"));
    }
}
