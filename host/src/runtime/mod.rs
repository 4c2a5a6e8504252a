//! The sandbox: one wasmtime [`Engine`] per process, components compiled once
//! and cached on disk, checked at load (contract version, imports), and run
//! in fresh stores with memory, CPU and wall-clock limits.
//!
//! - `bindings`: the host side of the WIT contract, every supported version.
//! - `plugin`: loading, validating and caching a plugin component.
//! - `instance`: one instantiated plugin and its limited calls.
//! - `host`: what the plugin imports: `http`, `log`, and a closed WASI.
//! - `legacy`: contract 0.1's values as the host's (0.2) ones.

pub mod bindings;
pub mod cache;
pub mod host;
pub mod instance;
pub mod legacy;
pub mod plugin;
pub mod record;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine};

pub use instance::{CallError, PluginInstance};
pub use plugin::{LoadedPlugin, SUPPORTED_CONTRACTS};

use cache::CompileCache;
use host::HostState;

/// How often the engine's epoch advances: the granularity of CPU budgets.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// wasmtime's error type is its own since 42; keep its whole chain as text.
pub(crate) fn wasm_error(error: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{error:#}")
}

/// The process-wide engine, linker and compile cache.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    /// `None`: no safe directory, so plugins are compiled in memory.
    cache: Option<CompileCache>,
    /// Where plugins' exchanges are written (`pull --record`), if anywhere.
    recorder: std::sync::OnceLock<Arc<record::Recorder>>,
    /// One limiter per remote host for every source this process runs, so
    /// that sources pulled at once (`pull --parallel`) share a host's limits.
    host_limiters: crate::net::limiter::HostLimiters,
}

impl Runtime {
    /// Creates the engine and starts its epoch ticker. Compiled components
    /// are cached under `cache_dir` when it is safe (see [`cache`]), else
    /// compiled in memory, with a warning when the directory was refused.
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Arc<Runtime>> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(crate::runtime::wasm_error)?;

        let mut linker = Linker::<HostState>::new(&engine);
        // WASI is linked with an empty context (no files, env, args), sockets
        // and wasi:http that deny every call (see `host`); the import check
        // refuses components that ask for anything else.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(crate::runtime::wasm_error)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(crate::runtime::wasm_error)?;
        // Each version's imports under its own names (`synchost:source/http@0.2.0`, ...).
        bindings::SourcePlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(crate::runtime::wasm_error)?;
        bindings::v0_1::SourcePlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(crate::runtime::wasm_error)?;

        let weak = engine.weak();
        std::thread::Builder::new()
            .name("synchost-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })?;
        Ok(Arc::new(Runtime {
            engine,
            linker,
            cache: cache_dir.as_deref().and_then(open_cache),
            recorder: Default::default(),
            host_limiters: Default::default(),
        }))
    }

    /// Records the exchanges of every plugin loaded from now on (`pull
    /// --record`); only the first recorder given counts.
    pub fn record(&self, recorder: record::Recorder) {
        let _ = self.recorder.set(Arc::new(recorder));
    }

    /// Where compiled components are cached: `SYNCHOST_CACHE_DIR` (empty:
    /// no cache), else the user's cache directory (`$XDG_CACHE_HOME`, else
    /// `$HOME/.cache`). Never a shared directory such as the temp directory:
    /// without one of these, `None` (compile in memory).
    pub fn default_cache_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("SYNCHOST_CACHE_DIR") {
            return (!dir.is_empty()).then(|| PathBuf::from(dir));
        }
        let absolute = |dir: PathBuf| dir.is_absolute().then_some(dir);
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .and_then(absolute)
            .or_else(|| {
                std::env::var_os("HOME")
                    .map(|home| PathBuf::from(home).join(".cache"))
                    .and_then(absolute)
            });
        if base.is_none() {
            tracing::info!(
                "no cache directory (neither SYNCHOST_CACHE_DIR, XDG_CACHE_HOME nor HOME is set): \
                 plugins are compiled in memory each run"
            );
        }
        Some(base?.join("synchost").join("compiled"))
    }
}

/// The cache at `dir`, or `None` with a warning saying why it is not used.
fn open_cache(dir: &Path) -> Option<CompileCache> {
    let max_bytes = cache::max_bytes_from_env().unwrap_or_else(|why| {
        tracing::warn!("{why}");
        cache::DEFAULT_MAX_BYTES
    });
    CompileCache::open(dir, max_bytes)
        .inspect_err(|why| {
            tracing::warn!(
                "not using the compile cache: {why}; plugins are compiled in memory \
                 (point SYNCHOST_CACHE_DIR at a directory only you can write)"
            )
        })
        .ok()
}
