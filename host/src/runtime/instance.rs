//! One instantiated plugin. Every call runs under the source's limits:
//! memory (per linear memory), a CPU budget counted in epoch ticks while the
//! guest executes, and a wall-clock timeout that also covers its HTTP. After
//! a trap or a timeout the instance is unusable and must be replaced.
//!
//! A plugin of either contract version is called the same way and answers
//! in the host's (0.2) values; a 0.1 plugin is refused `push` and
//! `reconcile` before anything is sent to it.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use tracing::Instrument as _;
use wasmtime::{Store, UpdateDeadline};

use super::bindings::{source_export, types, v0_1, SourcePlugin};
use super::host::HostState;
use super::legacy;
use super::plugin::{push_support, LoadedPlugin, PluginPre};
use crate::checks::MAX_MANIFEST_NAME_BYTES;
use crate::config::Limits;
use crate::net::HttpClient;
use crate::untrusted::Untrusted;

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
    bindings: Bindings,
    contract: semver::Version,
    limits: Limits,
    name: String,
    /// `NAME VERSION` from the manifest, once `describe` answered.
    described: Option<String>,
    broken: Option<String>,
}

/// The instantiated exports, in the contract version the plugin implements.
enum Bindings {
    Current(SourcePlugin),
    V0_1(v0_1::SourcePlugin),
}

/// The `source` interface of one call, in either version.
enum Guest<'a> {
    Current(&'a source_export::Guest),
    V0_1(&'a v0_1::source_export::Guest),
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
        let mut state = HostState::new(name, http, limits);
        state.recorder = plugin.recorder.clone();
        state.stand_in = plugin.stand_in.clone();
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
        let started = match &plugin.pre {
            PluginPre::Current(pre) => pre
                .instantiate_async(&mut store)
                .await
                .map(Bindings::Current),
            PluginPre::V0_1(pre) => pre.instantiate_async(&mut store).await.map(Bindings::V0_1),
        };
        let bindings =
            started.map_err(|err| CallError(format!("plugin {name} failed to start: {err:#}")))?;
        Ok(PluginInstance {
            store,
            bindings,
            contract: plugin.contract.clone(),
            limits: limits.clone(),
            name: name.to_string(),
            described: None,
            broken: None,
        })
    }

    /// Answers this instance's requests with `stand_in` from now on,
    /// without the network.
    pub fn stand_in(&mut self, stand_in: std::sync::Arc<dyn super::replay::StandIn>) {
        self.store.data_mut().stand_in = Some(stand_in);
    }

    /// The `wasi:http` requests this instance tried (all denied), the
    /// first few, escaped: `METHOD uri`.
    pub fn wasi_http_denied(&self) -> Vec<String> {
        let state = self.store.data();
        state
            .wasi_http_denied()
            .iter()
            .map(|request| Untrusted::clipped(request, 300).to_string())
            .collect()
    }

    pub async fn describe(&mut self) -> Result<types::Manifest, CallError> {
        let timeout = Timeout {
            limit: self.limits.call_timeout.min(DESCRIBE_TIMEOUT),
            name: "describe answers within 10 s at most, without I/O",
        };
        let manifest = self
            .guarded_within("describe", timeout, async |guest, store| match guest {
                Guest::Current(guest) => guest.call_describe(store).await,
                Guest::V0_1(guest) => guest.call_describe(store).await.map(legacy::manifest),
            })
            .await?;
        let clip = |text| Untrusted::clipped(text, MAX_MANIFEST_NAME_BYTES);
        self.described = Some(format!(
            "{} {}",
            clip(&manifest.name),
            clip(&manifest.version)
        ));
        Ok(manifest)
    }

    pub async fn configure(
        &mut self,
        settings: &[(String, String)],
    ) -> Result<Result<(), types::Error>, CallError> {
        self.guarded("configure", async |guest, store| match guest {
            Guest::Current(guest) => guest.call_configure(store, settings).await,
            Guest::V0_1(guest) => guest
                .call_configure(store, settings)
                .await
                .map(|answer| answer.map_err(legacy::error)),
        })
        .await
    }

    /// The streams of the configured instance (contract 0.2); a 0.1
    /// plugin's are its manifest's.
    pub async fn streams(
        &mut self,
    ) -> Result<Result<Vec<types::StreamInfo>, types::Error>, CallError> {
        self.guarded("streams", async |guest, store| match guest {
            Guest::Current(guest) => guest.call_streams(store).await,
            Guest::V0_1(guest) => guest
                .call_describe(store)
                .await
                .map(|manifest| Ok(legacy::manifest(manifest).streams)),
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
        self.guarded("list", async |guest, store| match guest {
            Guest::Current(guest) => {
                guest
                    .call_list(store, stream, cursor, since, limit, detail)
                    .await
            }
            Guest::V0_1(guest) => guest
                .call_list(store, stream, cursor, since, limit, legacy::detail(detail))
                .await
                .map(|answer| answer.map(legacy::page).map_err(legacy::error)),
        })
        .await
    }

    pub async fn fetch(
        &mut self,
        stream: &str,
        ids: &[String],
    ) -> Result<Vec<Result<types::Record, types::Error>>, CallError> {
        let results = self
            .guarded("fetch", async |guest, store| match guest {
                Guest::Current(guest) => guest.call_fetch(store, stream, ids).await,
                Guest::V0_1(guest) => guest.call_fetch(store, stream, ids).await.map(|results| {
                    results
                        .into_iter()
                        .map(|result| result.map(legacy::record).map_err(legacy::error))
                        .collect()
                }),
            })
            .await?;
        self.check_count("fetch", ids.len(), "ids", results.len(), "results")?;
        Ok(results)
    }

    /// Whether this plugin can push: `Err` (with what to do) for a plugin of
    /// contract 0.1, which still pulls. See [`LoadedPlugin::push_support`].
    pub fn push_support(&self) -> Result<(), String> {
        let plugin = match &self.described {
            Some(described) => format!("{described} (source {})", self.name),
            None => self.name.clone(),
        };
        push_support(&plugin, &self.contract)
    }

    /// Sends `changes` to the plugin's `push`: one outcome per change, in
    /// order, or an error (a wrong number of outcomes is one). Under the
    /// same limits as `fetch`. Refused for a plugin of contract 0.1 without
    /// calling it.
    pub async fn push(
        &mut self,
        stream: &str,
        changes: Vec<types::Change>,
    ) -> Result<Vec<types::PushOutcome>, CallError> {
        self.push_support().map_err(CallError)?;
        let outcomes = self
            .guarded("push", async |guest, store| match guest {
                Guest::Current(guest) => guest.call_push(store, stream, &changes).await,
                Guest::V0_1(_) => Err(wasmtime::format_err!("contract 0.1 cannot push")),
            })
            .await?;
        self.check_count("push", changes.len(), "changes", outcomes.len(), "outcomes")?;
        Ok(outcomes)
    }

    /// Asks the plugin's `reconcile` whether each of `changes` (sent before,
    /// outcome never stored) took effect: one answer per change, in order,
    /// or an error (a wrong number of answers is one). Under the same limits
    /// as `fetch`. Refused for a plugin of contract 0.1 without calling it.
    pub async fn reconcile(
        &mut self,
        stream: &str,
        changes: Vec<types::Change>,
    ) -> Result<Vec<types::Reconciliation>, CallError> {
        self.push_support().map_err(CallError)?;
        let answers = self
            .guarded("reconcile", async |guest, store| match guest {
                Guest::Current(guest) => guest.call_reconcile(store, stream, &changes).await,
                Guest::V0_1(_) => Err(wasmtime::format_err!("contract 0.1 cannot reconcile")),
            })
            .await?;
        self.check_count(
            "reconcile",
            changes.len(),
            "changes",
            answers.len(),
            "answers",
        )?;
        Ok(answers)
    }

    /// Refuses an answer whose length is not one per input.
    fn check_count(
        &self,
        call: &str,
        asked: usize,
        inputs: &str,
        answered: usize,
        answers: &str,
    ) -> Result<(), CallError> {
        if asked == answered {
            return Ok(());
        }
        Err(CallError(format!(
            "plugin {} answered {call} of {asked} {inputs} with {answered} {answers}",
            self.name
        )))
    }

    /// Runs one export call under the limits and turns traps into messages.
    async fn guarded<R>(
        &mut self,
        call: &str,
        run: impl AsyncFnOnce(Guest<'_>, &mut Store<HostState>) -> wasmtime::Result<R>,
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
        run: impl AsyncFnOnce(Guest<'_>, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        if let Some(why) = &self.broken {
            return Err(CallError(format!(
                "plugin {} is unusable after an earlier failure: {why}",
                self.name
            )));
        }
        let state = self.store.data_mut();
        state.start_call();
        state.cpu_ticks = 0;
        state.cpu_exceeded = false;
        state.memory.exceeded = false;
        self.store.set_epoch_deadline(1);
        let guest = match &self.bindings {
            Bindings::Current(bindings) => Guest::Current(bindings.synchost_source_source()),
            Bindings::V0_1(bindings) => Guest::V0_1(bindings.synchost_source_source()),
        };
        // The plugin's HTTP requests are this span's children.
        let span = tracing::info_span!(
            "plugin.call",
            otel.name = %format_args!("plugin {call}"),
            otel.status_code = tracing::field::Empty,
            synchost.source = %self.name,
            synchost.plugin.call = call,
            error.type = tracing::field::Empty,
        );
        let started = std::time::Instant::now();
        let outcome = tokio::time::timeout(timeout.limit, run(guest, &mut self.store))
            .instrument(span.clone())
            .await;
        if let Some(metrics) = crate::telemetry::metrics() {
            metrics.plugin_call_duration.record(
                started.elapsed().as_secs_f64(),
                &[KeyValue::new("synchost.plugin.call", call.to_string())],
            );
        }
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
        span.record("otel.status_code", "ERROR");
        span.record("error.type", "plugin_failed");
        self.broken = Some(message.clone());
        Err(CallError(message + &self.stderr_tail()))
    }

    /// What the failed call last wrote to stderr (a panic's message, file
    /// and line), as lines to append to its error: credentials redacted,
    /// each line escaped; empty when it wrote nothing.
    fn stderr_tail(&self) -> String {
        let state = self.store.data();
        let lines = state.stderr_tail();
        if lines.is_empty() {
            return String::new();
        }
        let mut text = lines.join("\n").into_bytes();
        state.http.redact(&mut text);
        let text = String::from_utf8_lossy(&text);
        let mut shown = String::from("\nits last lines on stderr:");
        for line in text.lines() {
            shown.push_str(&format!("\n  | {}", Untrusted::new(line)));
        }
        shown
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
