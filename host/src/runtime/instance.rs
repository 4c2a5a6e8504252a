//! One instantiated plugin. Every call runs under the source's limits:
//! memory (per linear memory), a CPU budget counted in epoch ticks while the
//! guest executes, and a wall-clock timeout that also covers its HTTP. After
//! a trap or a timeout the instance is unusable and must be replaced.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Store, UpdateDeadline};

use super::bindings::{source_export, types, SourcePlugin};
use super::host::HostState;
use super::plugin::LoadedPlugin;
use crate::config::Limits;
use crate::net::HttpClient;

/// Wall-clock time `describe` may take at most: it only returns constants
/// and may not do I/O, so a plugin that takes longer is stuck or hostile.
pub const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call into the plugin produced no answer. The message names the
/// plugin and the limit involved.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct CallError(pub String);

pub struct PluginInstance {
    store: Store<HostState>,
    bindings: SourcePlugin,
    limits: Limits,
    name: String,
    broken: Option<String>,
}

impl PluginInstance {
    /// Instantiates `plugin` in a fresh store.
    pub async fn new(
        plugin: &LoadedPlugin,
        name: &str,
        http: Arc<HttpClient>,
        limits: &Limits,
    ) -> Result<PluginInstance, CallError> {
        let engine = plugin.pre.engine();
        let state = HostState::new(name, http, limits);
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.memory);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut context| {
            let state = context.data_mut();
            state.cpu_ticks += 1;
            if state.cpu_ticks > state.cpu_budget_ticks {
                state.cpu_exceeded = true;
                return Err(wasmtime::format_err!("CPU budget exceeded"));
            }
            Ok(UpdateDeadline::Yield(1))
        });
        let bindings = plugin
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|err| CallError(format!("plugin {name} failed to start: {err:#}")))?;
        Ok(PluginInstance {
            store,
            bindings,
            limits: limits.clone(),
            name: name.to_string(),
            broken: None,
        })
    }

    pub async fn describe(&mut self) -> Result<types::Manifest, CallError> {
        let timeout = Timeout {
            limit: self.limits.call_timeout.min(DESCRIBE_TIMEOUT),
            name: "describe answers within 10 s at most, without I/O",
        };
        self.guarded_within("describe", timeout, async |guest, store| {
            guest.call_describe(store).await
        })
        .await
    }

    pub async fn configure(
        &mut self,
        settings: &[(String, String)],
    ) -> Result<Result<(), types::Error>, CallError> {
        self.guarded("configure", async |guest, store| {
            guest.call_configure(store, settings).await
        })
        .await
    }

    pub async fn list(
        &mut self,
        stream: &str,
        cursor: Option<&str>,
        since: Option<&str>,
        limit: u32,
        detail: types::Detail,
    ) -> Result<Result<types::Page, types::Error>, CallError> {
        self.guarded("list", async |guest, store| {
            guest
                .call_list(store, stream, cursor, since, limit, detail)
                .await
        })
        .await
    }

    pub async fn fetch(
        &mut self,
        stream: &str,
        ids: &[String],
    ) -> Result<Vec<Result<types::Record, types::Error>>, CallError> {
        let results = self
            .guarded("fetch", async |guest, store| {
                guest.call_fetch(store, stream, ids).await
            })
            .await?;
        if results.len() != ids.len() {
            return Err(CallError(format!(
                "plugin {} answered fetch of {} ids with {} results",
                self.name,
                ids.len(),
                results.len()
            )));
        }
        Ok(results)
    }

    /// Runs one export call under the limits and turns traps into messages.
    async fn guarded<R>(
        &mut self,
        call: &str,
        run: impl AsyncFnOnce(&source_export::Guest, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let timeout = Timeout {
            limit: self.limits.call_timeout,
            name: "limits.call_timeout_s",
        };
        self.guarded_within(call, timeout, run).await
    }

    /// [`PluginInstance::guarded`] with its own wall-clock limit.
    async fn guarded_within<R>(
        &mut self,
        call: &str,
        timeout: Timeout,
        run: impl AsyncFnOnce(&source_export::Guest, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        if let Some(why) = &self.broken {
            return Err(CallError(format!(
                "plugin {} is unusable after an earlier failure: {why}",
                self.name
            )));
        }
        let state = self.store.data_mut();
        state.cpu_ticks = 0;
        state.cpu_exceeded = false;
        state.memory.exceeded = false;
        self.store.set_epoch_deadline(1);
        let guest = self.bindings.synchost_source_source();
        let outcome = tokio::time::timeout(timeout.limit, run(guest, &mut self.store)).await;
        let message = match outcome {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(trap)) => {
                let state = self.store.data();
                if state.cpu_exceeded {
                    format!(
                        "plugin {} exceeded its CPU budget of {} ms in `{call}` (limits.cpu_ms_per_call)",
                        self.name,
                        self.limits.cpu_per_call.as_millis()
                    )
                } else if state.memory.exceeded {
                    format!(
                        "plugin {} exceeded its memory limit of {} MiB in `{call}` (limits.memory_mb)",
                        self.name,
                        self.limits.memory_bytes / (1024 * 1024)
                    )
                } else {
                    format!(
                        "plugin {} crashed in `{call}`: {}",
                        self.name,
                        trap_summary(&trap)
                    )
                }
            }
            Err(_) => format!(
                "plugin {} did not answer `{call}` within {} s ({})",
                self.name,
                timeout.limit.as_secs(),
                timeout.name
            ),
        };
        self.broken = Some(message.clone());
        Err(CallError(message))
    }
}

/// A call's wall-clock limit and the name it is known by in messages.
struct Timeout {
    limit: Duration,
    name: &'static str,
}

/// The trap's cause (e.g. "wasm trap: call stack exhausted"), not the
/// backtrace header that wraps it.
fn trap_summary(error: &wasmtime::Error) -> String {
    let cause = error.root_cause().to_string();
    let line = cause
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("trap");
    line.chars().take(500).collect()
}
