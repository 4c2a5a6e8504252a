//! Loading a plugin: read, check it is a component of a supported contract
//! version with only allowed imports, compile it (or load the cached native
//! code), and prepare it for fast instantiation.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use sha2::{Digest, Sha256};
use wasmparser::{Parser, Payload};
use wasmtime::component::Component;

use super::bindings::{v0_1, SourcePluginPre};
use super::host::HostState;
use super::Runtime;
use crate::config::{Limits, SourceConfig};
use crate::error::usage;
use crate::trust::PluginTrust;
use crate::untrusted::Untrusted;

/// The contract versions this host implements, oldest first; the last is
/// its own (`bindings`), the others are converted to it (`legacy`).
pub const SUPPORTED_CONTRACTS: [semver::Version; 2] =
    [semver::Version::new(0, 1, 0), semver::Version::new(0, 2, 0)];
/// The first contract version whose plugins can push: 0.1 has no
/// idempotency keys and no `reconcile`, so a push could not be made
/// exactly once.
const PUSH_CONTRACT: semver::Version = semver::Version::new(0, 2, 0);
const CONTRACT_EXPORT: &str = "synchost:source/source@";

/// Imports a plugin may have: the contract's own, WASI basics that the host
/// links to an empty context (no files, environment, arguments), and the
/// network interfaces of WASI 0.2 that default Python and JavaScript builds
/// import, linked so that every call fails (see `runtime::host`).
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
    "wasi:sockets/network@0.2.",
    "wasi:sockets/instance-network@0.2.",
    "wasi:sockets/udp@0.2.",
    "wasi:sockets/udp-create-socket@0.2.",
    "wasi:sockets/tcp@0.2.",
    "wasi:sockets/tcp-create-socket@0.2.",
    "wasi:sockets/ip-name-lookup@0.2.",
    "wasi:http/types@0.2.",
    "wasi:http/outgoing-handler@0.2.",
];

/// Functions a component may define in all its modules: far more than any
/// plugin needs, few enough that compiling them all stays bounded.
const MAX_FUNCTIONS: u32 = 200_000;

/// A validated, compiled plugin, ready to instantiate many times.
pub struct LoadedPlugin {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
    /// The contract version the component exports.
    pub contract: semver::Version,
    pub imports: Vec<String>,
    /// The key id of its valid signature by a trusted key, if it has one
    /// (checked only when loaded for a source: [`Runtime::load_source`]).
    pub signer: Option<String>,
    /// True when the native code came from the cache.
    pub cache_hit: bool,
    /// Time to compile or load from cache, in milliseconds.
    pub load_ms: f64,
    pub(crate) pre: PluginPre,
    /// Where its instances write their exchanges (`pull --record`).
    pub(crate) recorder: Option<std::sync::Arc<super::record::Recorder>>,
    /// The runtime's per-host limiters, shared by the sources of a process.
    pub host_limiters: crate::net::limiter::HostLimiters,
    /// What answers its instances' requests instead of the network.
    pub(crate) stand_in: Option<std::sync::Arc<dyn super::replay::StandIn>>,
}

/// A plugin prepared for instantiation, in the contract version it exports.
pub(crate) enum PluginPre {
    /// The host's own contract, 0.2.
    Current(SourcePluginPre<HostState>),
    /// Contract 0.1: pulls, converted to 0.2 values; never pushes.
    V0_1(v0_1::SourcePluginPre<HostState>),
}

impl PluginPre {
    pub(crate) fn engine(&self) -> &wasmtime::Engine {
        match self {
            PluginPre::Current(pre) => pre.engine(),
            PluginPre::V0_1(pre) => pre.engine(),
        }
    }
}

impl LoadedPlugin {
    /// Whether this plugin's contract can push: `Err` says why not and what
    /// to do, for a plugin of contract 0.1 (which still pulls).
    pub fn push_support(&self) -> Result<(), String> {
        push_support(&self.path.display().to_string(), &self.contract)
    }
}

/// [`LoadedPlugin::push_support`] for a plugin called `plugin` in messages.
pub(crate) fn push_support(plugin: &str, contract: &semver::Version) -> Result<(), String> {
    if contract.major == 0 && contract.minor < PUSH_CONTRACT.minor {
        return Err(format!(
            "plugin {plugin} implements synchost:source@{contract}, which cannot push \
             (no idempotency keys or reconciliation): rebuild it against synchost-sdk \
             {}.{} to push; it still pulls",
            PUSH_CONTRACT.major, PUSH_CONTRACT.minor
        ));
    }
    Ok(())
}

impl Runtime {
    /// Loads and validates the plugin at `path`. Every refusal is a usage
    /// error (exit 2) naming the file and what is wrong. The file's size and
    /// its functions are bounded by `limits` before the compiler sees them.
    pub fn load(&self, path: &Path, limits: &Limits) -> Result<LoadedPlugin> {
        self.load_admitted(path, limits, None)
    }

    /// [`Runtime::load`] for `source`: the file must also pass the source's
    /// trust rules (pin, signature, lock file: [`crate::trust::admit`]),
    /// checked on the bytes read, before they are compiled.
    pub fn load_source(&self, source: &SourceConfig) -> Result<LoadedPlugin> {
        self.load_admitted(
            &source.plugin,
            &source.limits,
            Some((&source.name, &source.trust)),
        )
    }

    /// [`Runtime::load`] under `trust`, refusals naming the plugin `name`
    /// (`plugin inspect` under an administrator's policy).
    pub fn load_trusted(
        &self,
        path: &Path,
        limits: &Limits,
        name: &str,
        trust: &PluginTrust,
    ) -> Result<LoadedPlugin> {
        self.load_admitted(path, limits, Some((name, trust)))
    }

    fn load_admitted(
        &self,
        path: &Path,
        limits: &Limits,
        trust: Option<(&str, &PluginTrust)>,
    ) -> Result<LoadedPlugin> {
        let shown = path.display();
        let bytes = read_bounded(path, limits.max_plugin_bytes)
            .map_err(|why| usage(format!("plugin {shown} {why}")))?;
        check_component_header(&bytes).map_err(|why| usage(format!("plugin {shown} {why}")))?;
        let scan =
            scan_component(&bytes, limits).map_err(|why| usage(format!("plugin {shown} {why}")))?;
        let contract = contract_version(&scan.exports)
            .map_err(|why| usage(format!("plugin {shown} {why}")))?;
        check_imports(&scan).map_err(|why| usage(format!("plugin {shown} {why}")))?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let admission = match trust {
            Some((source, trust)) => {
                let started = Instant::now();
                let admission = crate::trust::admit(source, trust, path, &sha256)?;
                tracing::debug!(
                    "source `{source}`: plugin {shown} admitted in {:.2} ms (signer: {})",
                    started.elapsed().as_secs_f64() * 1000.0,
                    admission.signer.as_deref().unwrap_or("none")
                );
                admission
            }
            None => Default::default(),
        };

        let started = Instant::now();
        let (component, cache_hit) = self
            .compile_cached(&bytes, &sha256)
            .map_err(|err| usage(format!("plugin {shown} is not a valid component: {err:#}")))?;
        let load_ms = started.elapsed().as_secs_f64() * 1000.0;

        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|err| usage(format!("plugin {shown} cannot be linked: {err:#}")))?;
        let mismatch = |err: wasmtime::Error| {
            usage(format!(
                "plugin {shown} does not match the contract synchost:source@{contract}: {err:#}"
            ))
        };
        // `contract_version` let through 0.1.x and 0.2.x only.
        let pre = if contract.minor == 1 {
            PluginPre::V0_1(v0_1::SourcePluginPre::new(instance_pre).map_err(mismatch)?)
        } else {
            PluginPre::Current(SourcePluginPre::new(instance_pre).map_err(mismatch)?)
        };
        Ok(LoadedPlugin {
            path: path.to_path_buf(),
            sha256,
            size: bytes.len() as u64,
            contract,
            imports: scan.imports,
            signer: admission.signer,
            cache_hit,
            load_ms,
            pre,
            recorder: self.recorder.get().cloned(),
            host_limiters: self.host_limiters.clone(),
            stand_in: self.stand_in.get().cloned(),
        })
    }

    /// Native code is cached by component hash and engine compatibility
    /// hash, in a directory only this user can write (see [`super::cache`]).
    fn compile_cached(&self, bytes: &[u8], sha256: &str) -> Result<(Component, bool)> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        let key = format!("{sha256}-{:016x}", hasher.finish());
        if let Some(component) = self
            .cache
            .as_ref()
            .and_then(|cache| cache.load(&self.engine, &key))
        {
            return Ok((component, true));
        }
        let component = Component::new(&self.engine, bytes).map_err(crate::runtime::wasm_error)?;
        if let Some(cache) = &self.cache {
            cache.store(&key, &component);
        }
        Ok((component, false))
    }
}

/// Reads the plugin file, refusing one over `max` bytes without reading it.
fn read_bounded(path: &Path, max: u64) -> std::result::Result<Vec<u8>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|err| format!("cannot be read: {err}"))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| format!("cannot be read: {err}"))?;
    if bytes.len() as u64 > max {
        return Err(format!(
            "is over {} (limits.max_plugin_mb); it is refused before compiling",
            mib(max)
        ));
    }
    Ok(bytes)
}

/// What one parsing pass reads from a component before anything compiles it.
#[derive(Debug, Default)]
struct Scan {
    /// The component's own (top-level) imports, as named in the binary.
    imports: Vec<String>,
    /// The component's own (top-level) exports.
    exports: Vec<String>,
    /// The toolchain that built it, as far as its custom sections tell.
    toolchain: Toolchain,
}

/// One linear pass over the binary, before the compiler runs: reads the
/// component's imports and exports (so a plugin refused for them is never
/// compiled or cached), guesses its toolchain, and bounds what the compiler
/// would be given: compiling takes time and memory in proportion to the
/// largest functions (hundreds of bytes of memory per byte of code), and no
/// other limit applies yet. Parsing allocates next to nothing.
fn scan_component(bytes: &[u8], limits: &Limits) -> std::result::Result<Scan, String> {
    let mut scan = Scan::default();
    let mut functions: u32 = 0;
    // Nesting: 1 is the component itself, more is a module or component inside it.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|err| format!("is not a valid component: {err}"))?;
        match payload {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    let import =
                        import.map_err(|err| format!("is not a valid component: {err}"))?;
                    scan.imports.push(import.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    let export =
                        export.map_err(|err| format!("is not a valid component: {err}"))?;
                    scan.exports.push(export.name.name.to_string());
                }
            }
            Payload::CustomSection(section) => {
                scan.toolchain.notice(section.name(), section.data())
            }
            Payload::CodeSectionStart { count, .. } => {
                functions = functions.saturating_add(count);
                if functions > MAX_FUNCTIONS {
                    return Err(format!(
                        "defines more than {MAX_FUNCTIONS} functions; it is refused before compiling"
                    ));
                }
            }
            Payload::CodeSectionEntry(body) => {
                let size = body.range().len() as u64;
                if size > limits.max_function_bytes {
                    return Err(format!(
                        "has a function of {} KiB, over the limit of {} KiB (limits.max_function_kib); \
                         it is refused before compiling",
                        size.div_ceil(1024),
                        limits.max_function_bytes / 1024
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(scan)
}

/// The toolchain a component was built with, read from its `producers`
/// and name sections, for a hint that names the right build flag.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Toolchain {
    #[default]
    Unknown,
    /// A Rust build (cargo, wit-bindgen): the language of every module.
    Rust,
    /// componentize-py (its runtime and CPython are in the component).
    Python,
    /// ComponentizeJS, alone or through `jco componentize`.
    JavaScript,
}

impl Toolchain {
    /// Markers in custom sections, checked in this order: a Python or
    /// JavaScript build also holds Rust and C modules.
    const MARKERS: [(Toolchain, &'static [&'static str]); 2] = [
        (
            Toolchain::Python,
            &["componentize-py", "componentize_py", "libpython3"],
        ),
        (
            Toolchain::JavaScript,
            &[
                "ComponentizeJS",
                "componentize-js",
                "componentize::embedding",
                "StarlingMonkey",
                "starlingmonkey",
            ],
        ),
    ];

    /// Updates the guess with one custom section.
    fn notice(&mut self, name: &str, data: &[u8]) {
        if !matches!(name, "producers" | "name" | "component-name") {
            return;
        }
        for (toolchain, markers) in Self::MARKERS {
            if self.rank() < toolchain.rank()
                && markers
                    .iter()
                    .any(|marker| memchr::memmem::find(data, marker.as_bytes()).is_some())
            {
                *self = toolchain;
            }
        }
        if *self == Toolchain::Unknown && name == "producers" && is_rust_producers(data) {
            *self = Toolchain::Rust;
        }
    }

    /// Python and JavaScript builds outrank the Rust modules inside them.
    fn rank(self) -> u8 {
        match self {
            Toolchain::Unknown => 0,
            Toolchain::Rust => 1,
            Toolchain::JavaScript => 2,
            Toolchain::Python => 3,
        }
    }

    /// What a build of this toolchain does about network interfaces
    /// synchost does not link (those of another WASI than 0.2).
    fn network_hints(self) -> Vec<&'static str> {
        const PYTHON: &str = "componentize-py: build for WASI 0.2 (componentize-py 0.x; synchost \
                              links its wasi:sockets and wasi:http, denying every call), or \
                              leave them out with `componentize ... --stub-wasi`; send requests \
                              through synchost:source/http (the `synchost_sdk.http` module)";
        const JAVASCRIPT: &str = "ComponentizeJS or jco: build for WASI 0.2 (synchost links its \
                                  wasi:http, denying every call), or leave it out with \
                                  `--disable http fetch-event`; send requests through \
                                  synchost:source/http (the SDK's `http`), not fetch()";
        const RUST: &str = "Rust: build for wasm32-wasip2 and send requests through \
                            synchost:source/http (the SDK's `http` module), not std::net or a \
                            wasi:http client";
        match self {
            Toolchain::Python => vec![PYTHON],
            Toolchain::JavaScript => vec![JAVASCRIPT],
            Toolchain::Rust => vec![RUST],
            Toolchain::Unknown => vec![PYTHON, JAVASCRIPT, RUST],
        }
    }
}

/// Whether a `producers` section names Rust as a language.
fn is_rust_producers(data: &[u8]) -> bool {
    let reader = wasmparser::BinaryReader::new(data, 0);
    let Ok(fields) = wasmparser::ProducersSectionReader::new(reader) else {
        return false;
    };
    fields.into_iter().flatten().any(|field| {
        field.name == "language"
            && field
                .values
                .into_iter()
                .flatten()
                .any(|value| value.name == "Rust")
    })
}

/// Refused imports named in one message, at most; the rest are counted.
const MAX_NAMED_IMPORTS: usize = 20;

/// Refuses a component that imports anything [`is_allowed_import`] does not
/// allow, naming every refused interface once (whatever its version), and
/// with a hint for the toolchain when the refused imports are the network.
fn check_imports(scan: &Scan) -> std::result::Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    let refused: Vec<&str> = scan
        .imports
        .iter()
        .filter(|name| !is_allowed_import(name))
        .filter(|name| seen.insert(name.split('@').next().unwrap_or(name)))
        .map(String::as_str)
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    let mut named: Vec<String> = refused
        .iter()
        .take(MAX_NAMED_IMPORTS)
        .map(|name| format!("`{}`", Untrusted::clipped(name, 200)))
        .collect();
    if refused.len() > MAX_NAMED_IMPORTS {
        named.push(format!("and {} more", refused.len() - MAX_NAMED_IMPORTS));
    }
    let mut message = format!(
        "imports {} that synchost does not grant: {} (plugins may import only \
         synchost:source/http, synchost:source/log and WASI basics); it is refused before compiling",
        if refused.len() == 1 {
            "an interface".to_string()
        } else {
            format!("{} interfaces", refused.len())
        },
        named.join(", ")
    );
    let network = refused
        .iter()
        .any(|name| name.starts_with("wasi:sockets/") || name.starts_with("wasi:http/"));
    if network {
        for hint in scan.toolchain.network_hints() {
            message.push_str("\n  hint: ");
            message.push_str(hint);
        }
    }
    Err(message)
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes / (1024 * 1024))
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

/// Finds the exported `synchost:source/source@X.Y.Z` and checks that X.Y is
/// one of [`SUPPORTED_CONTRACTS`] (same major; same minor while it is 0).
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
    let compatible = |supported: &semver::Version| {
        version.major == supported.major && (version.major > 0 || version.minor == supported.minor)
    };
    if !SUPPORTED_CONTRACTS.iter().any(compatible) {
        let wanted: Vec<String> = SUPPORTED_CONTRACTS
            .iter()
            .map(|supported| {
                if supported.major == 0 {
                    format!("0.{}.x", supported.minor)
                } else {
                    format!("{}.x", supported.major)
                }
            })
            .collect();
        return Err(format!(
            "implements contract synchost:source@{version}, but this synchost supports \
             synchost:source@{}; rebuild the plugin against a matching synchost-sdk \
             or use a synchost that supports {version}",
            wanted.join(" and ")
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
        let ok = contract_version(&["synchost:source/source@0.2.1".into()]).unwrap();
        assert_eq!(ok, semver::Version::new(0, 2, 1));
        let err = contract_version(&["synchost:source/source@1.0.0".into()]).unwrap_err();
        assert!(
            err.contains("1.0.0") && err.contains("0.1.x and 0.2.x"),
            "{err}"
        );
        assert!(contract_version(&["synchost:source/source@0.3.0".into()]).is_err());
        assert!(contract_version(&["synchost:source/source@0.0.9".into()]).is_err());
        assert!(contract_version(&["other:thing/x@1.0.0".into()])
            .unwrap_err()
            .contains("does not export"));
    }

    #[test]
    fn only_contract_0_1_is_refused_a_push() {
        let old = semver::Version::new(0, 1, 4);
        let why = push_support("confluence 1.2.0", &old).unwrap_err();
        assert!(
            why.starts_with(
                "plugin confluence 1.2.0 implements synchost:source@0.1.4, which cannot push"
            ),
            "{why}"
        );
        assert!(
            why.contains("synchost-sdk 0.2") && why.contains("still pulls"),
            "{why}"
        );
        assert!(push_support("x", &semver::Version::new(0, 2, 0)).is_ok());
        assert!(push_support("x", &semver::Version::new(0, 2, 7)).is_ok());
    }

    #[test]
    fn imports_beyond_basics_are_refused() {
        assert!(is_allowed_import("wasi:io/streams@0.2.6"));
        assert!(is_allowed_import("synchost:source/http@0.1.0"));
        // WASI 0.2's network, linked deny-all; no other version, nothing else.
        assert!(is_allowed_import("wasi:sockets/tcp@0.2.6"));
        assert!(is_allowed_import("wasi:http/outgoing-handler@0.2.6"));
        assert!(!is_allowed_import("wasi:sockets/tcp@0.3.0"));
        assert!(!is_allowed_import("wasi:http/handler@0.3.0-rc-2025-09-16"));
        assert!(!is_allowed_import("wasi:http/incoming-handler@0.2.6"));
        assert!(!is_allowed_import("wasi:keyvalue/store@0.2.0-draft"));
    }

    fn scan_of(imports: &[&str], toolchain: Toolchain) -> Scan {
        Scan {
            imports: imports.iter().map(|name| name.to_string()).collect(),
            exports: vec!["synchost:source/source@0.2.0".into()],
            toolchain,
        }
    }

    #[test]
    fn every_refused_interface_is_named_once_with_the_hint() {
        let scan = scan_of(
            &[
                "wasi:io/streams@0.2.9",
                "wasi:sockets/tcp@0.3.1",
                "wasi:sockets/tcp@0.3.0",
                "wasi:http/handler@0.3.0",
                "wasi:sockets/tcp@0.2.3",
                "synchost:source/http@0.2.0",
                "evil:x/y\u{1b}[2J",
            ],
            Toolchain::Python,
        );
        let why = check_imports(&scan).unwrap_err();
        assert!(why.starts_with("imports 3 interfaces"), "{why}");
        assert!(
            why.contains("`wasi:sockets/tcp@0.3.1`")
                && why.contains("`wasi:http/handler@0.3.0`")
                && why.contains("`evil:x/y\\u{1b}[2J`"),
            "{why}"
        );
        assert!(
            !why.contains("tcp@0.3.0") && !why.contains("0.2.3"),
            "one name per interface: {why}"
        );
        assert!(!why.contains("wasi:io") && !why.contains('\u{1b}'), "{why}");
        assert!(
            why.contains("--stub-wasi") && !why.contains("fetch-event"),
            "{why}"
        );

        let allowed = scan_of(
            &["wasi:io/streams@0.2.9", "wasi:cli/stderr@0.2.9"],
            Toolchain::Unknown,
        );
        assert!(check_imports(&allowed).is_ok());
    }

    #[test]
    fn refused_names_are_bounded() {
        let names: Vec<String> = (0..25)
            .map(|i| format!("wasi:keyvalue/store{i}@0.1.0"))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let why = check_imports(&scan_of(&names, Toolchain::Unknown)).unwrap_err();
        assert!(
            why.contains("store19@") && !why.contains("store20@"),
            "{why}"
        );
        assert!(why.contains("and 5 more"), "{why}");
        assert!(
            !why.contains("hint"),
            "no network hint for other interfaces: {why}"
        );
    }

    #[test]
    fn the_hint_follows_the_toolchain() {
        let hints = |toolchain| {
            check_imports(&scan_of(&["wasi:sockets/tcp@0.3.0"], toolchain)).unwrap_err()
        };
        let js = hints(Toolchain::JavaScript);
        assert!(
            js.contains("--disable http fetch-event") && !js.contains("--stub-wasi"),
            "{js}"
        );
        let rust = hints(Toolchain::Rust);
        assert!(
            rust.contains("std::net") && !rust.contains("--stub-wasi"),
            "{rust}"
        );
        let unknown = hints(Toolchain::Unknown);
        assert!(
            unknown.contains("--stub-wasi") && unknown.contains("fetch-event"),
            "{unknown}"
        );
    }

    #[test]
    fn toolchains_are_told_by_their_custom_sections() {
        let mut rust_producers = vec![1u8, 8];
        rust_producers.extend_from_slice(b"language");
        rust_producers.extend_from_slice(&[1, 4]);
        rust_producers.extend_from_slice(b"Rust");
        rust_producers.push(0);

        let mut guess = Toolchain::default();
        guess.notice("producers", &rust_producers);
        assert_eq!(guess, Toolchain::Rust);
        guess.notice("component-name", b"..libpython3.14.so:PyInit..");
        assert_eq!(guess, Toolchain::Python, "Python outranks its Rust modules");
        guess.notice("producers", &rust_producers);
        assert_eq!(guess, Toolchain::Python);

        let mut guess = Toolchain::default();
        guess.notice("name", b"componentize::embedding::cabi_free");
        assert_eq!(guess, Toolchain::JavaScript);

        let mut guess = Toolchain::default();
        guess.notice("data-notes", b"componentize-py");
        guess.notice("producers", b"garbage");
        assert_eq!(guess, Toolchain::Unknown, "only the known sections count");
    }
}
