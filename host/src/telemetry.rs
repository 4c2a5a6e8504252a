//! OpenTelemetry export: traces and metrics over OTLP/HTTP when an OTLP
//! endpoint is set in the environment, following the OpenTelemetry
//! environment conventions (docs/operations.md "OpenTelemetry").
//!
//! Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or a signal's own
//! `OTEL_EXPORTER_OTLP_{TRACES,METRICS}_ENDPOINT`) is set, and free then: no
//! exporter, no thread, no instrument is built, and the host's spans are
//! disabled at their call sites. When on, the existing `tracing` spans of
//! synchost (and only those: no events, no other crate's spans) become
//! OpenTelemetry spans through `tracing-opentelemetry`, and a few counters
//! and histograms are recorded at the ends of runs, pages and plugin calls.
//!
//! What a span carries is chosen where it is made: names and counts, never
//! a body, a header, a credential, a record's id or content, nor a URL's
//! query string (see `synchost_core::net::client`'s request span).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::{Layer, Registry};

use crate::net::HttpStats;
use crate::runtime::bindings::types::Manifest;
use crate::store::runs::RunEnd;
use crate::sync::progress::Counts;
use crate::untrusted::Untrusted;

/// The service name when neither `OTEL_SERVICE_NAME` nor
/// `OTEL_RESOURCE_ATTRIBUTES` names one.
pub const DEFAULT_SERVICE_NAME: &str = "synchost";
/// The instrumentation scope of every span and instrument.
const SCOPE: &str = "synchost";
/// Ended spans waiting for export, at most, unless `OTEL_BSP_MAX_QUEUE_SIZE`
/// says otherwise: a pull that fetches 10,000 items one request each makes
/// over 10,000 spans in a second or two, more than the SDK's default of
/// 2048 lets wait (the rest would be dropped).
const SPAN_QUEUE: usize = 32_768;
/// How long the last export of spans at exit may take.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// One signal (traces or metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Traces,
    Metrics,
}

impl Signal {
    fn upper(self) -> &'static str {
        match self {
            Signal::Traces => "TRACES",
            Signal::Metrics => "METRICS",
        }
    }
}

/// What the environment asks for: the protocol of each exported signal
/// (`None`: that signal is off), and what was wrong with it.
#[derive(Debug, Default, PartialEq)]
struct Settings {
    traces: Option<Protocol>,
    metrics: Option<Protocol>,
    warnings: Vec<String>,
}

/// Reads the OpenTelemetry variables through `var` (the environment, or a
/// table in tests). A signal is exported when an OTLP endpoint applies to
/// it, it is not turned off (`OTEL_SDK_DISABLED=true`,
/// `OTEL_{TRACES,METRICS}_EXPORTER=none`), and its endpoint and protocol
/// are ones synchost speaks; anything else leaves it off with a warning.
fn settings(var: impl Fn(&str) -> Option<String>) -> Settings {
    let var = |name: &str| {
        var(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let mut settings = Settings::default();
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return settings;
    }
    for signal in [Signal::Traces, Signal::Metrics] {
        let upper = signal.upper();
        let endpoint_var = format!("OTEL_EXPORTER_OTLP_{upper}_ENDPOINT");
        let (name, endpoint) = match var(&endpoint_var) {
            Some(endpoint) => (endpoint_var, endpoint),
            None => match var("OTEL_EXPORTER_OTLP_ENDPOINT") {
                Some(endpoint) => ("OTEL_EXPORTER_OTLP_ENDPOINT".to_string(), endpoint),
                None => continue,
            },
        };
        let exporter_var = format!("OTEL_{upper}_EXPORTER");
        match var(&exporter_var).as_deref() {
            None | Some("otlp") => {}
            Some("none") => continue,
            Some(other) => {
                settings.warnings.push(format!(
                    "{exporter_var}={other} is not supported (only otlp and none); {} are not exported",
                    upper.to_ascii_lowercase()
                ));
                continue;
            }
        }
        if !valid_endpoint(&endpoint) {
            settings.warnings.push(format!(
                "{name} is not an http:// or https:// URL; {} are not exported",
                upper.to_ascii_lowercase()
            ));
            continue;
        }
        let protocol_var = format!("OTEL_EXPORTER_OTLP_{upper}_PROTOCOL");
        let protocol = var(&protocol_var).or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"));
        let protocol = match protocol.as_deref() {
            None | Some("http/protobuf") => Protocol::HttpBinary,
            Some("http/json") => Protocol::HttpJson,
            Some(other) => {
                settings.warnings.push(format!(
                    "OTLP protocol `{other}` is not supported (http/protobuf or http/json); {} are not exported",
                    upper.to_ascii_lowercase()
                ));
                continue;
            }
        };
        match signal {
            Signal::Traces => settings.traces = Some(protocol),
            Signal::Metrics => settings.metrics = Some(protocol),
        }
    }
    settings
}

/// An endpoint the HTTP exporter can use (it would otherwise fall back to
/// localhost silently).
fn valid_endpoint(endpoint: &str) -> bool {
    endpoint
        .parse::<http::Uri>()
        .is_ok_and(|uri| matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some())
}

/// The instruments, made once when metrics are exported.
pub struct Metrics {
    /// Records by outcome (`written`, `skipped`, `failed`, `deleted`).
    pub records: Counter<u64>,
    /// HTTP requests on the wire (every attempt and redirect hop).
    pub requests: Counter<u64>,
    /// Attempts that were retries after a transient failure.
    pub retries: Counter<u64>,
    /// Responses that were rate limits, waited out.
    pub rate_limit_waits: Counter<u64>,
    /// Bytes of response bodies read (`response`) and of blobs downloaded (`blob`).
    pub bytes: Counter<u64>,
    /// Seconds of a source's run.
    pub run_duration: Histogram<f64>,
    /// Seconds from listing a page to committing it.
    pub page_duration: Histogram<f64>,
    /// Seconds of one call into a plugin.
    pub plugin_call_duration: Histogram<f64>,
}

impl Metrics {
    fn new(meter: &Meter) -> Metrics {
        let seconds = |name: &'static str, description: &'static str| {
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(description)
                .build()
        };
        Metrics {
            records: meter
                .u64_counter("synchost.records")
                .with_unit("{record}")
                .with_description("Records of pulls, by outcome")
                .build(),
            requests: meter
                .u64_counter("synchost.http.requests")
                .with_unit("{request}")
                .with_description("HTTP requests sent, every attempt and redirect counted")
                .build(),
            retries: meter
                .u64_counter("synchost.http.retries")
                .with_unit("{request}")
                .with_description("HTTP attempts that were retries")
                .build(),
            rate_limit_waits: meter
                .u64_counter("synchost.http.rate_limit_waits")
                .with_unit("{wait}")
                .with_description("Rate-limit answers waited out")
                .build(),
            bytes: meter
                .u64_counter("synchost.http.received")
                .with_unit("By")
                .with_description("Bytes received: response bodies and blob downloads")
                .build(),
            run_duration: seconds("synchost.run.duration", "Duration of one source's pull"),
            page_duration: seconds("synchost.page.duration", "Listing to commit of one page"),
            plugin_call_duration: seconds(
                "synchost.plugin.call.duration",
                "Duration of one call into a plugin",
            ),
        }
    }
}

/// The providers running in this process, shut down (flushed) at exit.
struct Providers {
    traces: Option<SdkTracerProvider>,
    meters: Option<SdkMeterProvider>,
}

static PROVIDERS: OnceLock<Providers> = OnceLock::new();
static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The instruments, when metrics are exported; `None` costs nothing.
pub fn metrics() -> Option<&'static Metrics> {
    METRICS.get()
}

/// Ends a source's run: its outcome and counts on its span (the current
/// one), and its records, requests, retries, rate-limit waits, bytes and
/// duration in the metrics.
pub fn run_ended(source: &str, run_id: i64, manifest: &Manifest, end: &RunEnd, stats: &HttpStats) {
    let span = tracing::Span::current();
    if !span.is_disabled() {
        span.record("synchost.run.id", run_id);
        span.record("synchost.run.outcome", end.outcome.as_str());
        span.record(
            "synchost.plugin.name",
            Untrusted::clipped(&manifest.name, 200).to_string(),
        );
        span.record(
            "synchost.plugin.version",
            Untrusted::clipped(&manifest.version, 200).to_string(),
        );
        span.record("synchost.http.requests", int(end.requests));
        span.record("synchost.http.retries", int(HttpStats::get(&stats.retries)));
        record_counts(
            &span,
            &Counts {
                written: end.written,
                skipped: end.skipped,
                failed: end.failed,
                deleted: end.deleted,
                redacted: end.redacted,
                excluded: end.excluded,
            },
        );
        if end.outcome != "succeeded" {
            span.record("otel.status_code", "ERROR");
        }
    }
    let Some(metrics) = metrics() else {
        return;
    };
    let of_source = [KeyValue::new("synchost.source", source.to_string())];
    for (outcome, count) in [
        ("written", end.written),
        ("skipped", end.skipped),
        ("failed", end.failed),
        ("deleted", end.deleted),
    ] {
        let attributes = [
            of_source[0].clone(),
            KeyValue::new("synchost.outcome", outcome),
        ];
        metrics.records.add(count, &attributes);
    }
    metrics.requests.add(end.requests, &of_source);
    metrics
        .retries
        .add(HttpStats::get(&stats.retries), &of_source);
    metrics
        .rate_limit_waits
        .add(HttpStats::get(&stats.rate_limited), &of_source);
    for (kind, bytes) in [
        ("response", HttpStats::get(&stats.received)),
        ("blob", HttpStats::get(&stats.downloaded)),
    ] {
        let attributes = [
            of_source[0].clone(),
            KeyValue::new("synchost.bytes.kind", kind),
        ];
        metrics.bytes.add(bytes, &attributes);
    }
    let attributes = [
        of_source[0].clone(),
        KeyValue::new("synchost.run.outcome", end.outcome.clone()),
    ];
    metrics
        .run_duration
        .record(end.duration_ms as f64 / 1000.0, &attributes);
}

/// Ends a page: its counts on its span, its duration in the metrics.
pub fn page_ended(span: &tracing::Span, started: Instant, counts: &Counts) {
    record_counts(span, counts);
    if let Some(metrics) = metrics() {
        metrics
            .page_duration
            .record(started.elapsed().as_secs_f64(), &[]);
    }
}

/// A run's, stream's or page's record counts, on its span.
pub fn record_counts(span: &tracing::Span, counts: &Counts) {
    if span.is_disabled() {
        return;
    }
    span.record("synchost.records.written", int(counts.written));
    span.record("synchost.records.skipped", int(counts.skipped));
    span.record("synchost.records.failed", int(counts.failed));
    span.record("synchost.records.deleted", int(counts.deleted));
}

/// A count as a span attribute: `tracing-opentelemetry` exports a `u64`
/// field as a string and an `i64` one as an integer.
pub fn int(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// The layer that turns synchost's spans into OpenTelemetry spans.
pub type TraceLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Starts export as the environment asks. Returns the tracing layer (when
/// traces are exported) and warnings to log once logging is up. Must run
/// outside the async runtime (the HTTP exporter has its own thread and
/// runtime) and at most once.
pub fn start() -> (Option<TraceLayer>, Vec<String>) {
    let mut settings = settings(|name| std::env::var(name).ok());
    if settings.traces.is_none() && settings.metrics.is_none() {
        return (None, settings.warnings);
    }
    let resource = resource();
    let traces = settings.traces.and_then(|protocol| {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(protocol)
            .build()
            .map_err(|err| {
                settings
                    .warnings
                    .push(format!("traces are not exported: {err}"))
            })
            .ok()?;
        let mut batches = BatchConfigBuilder::default();
        if std::env::var_os("OTEL_BSP_MAX_QUEUE_SIZE").is_none() {
            batches = batches.with_max_queue_size(SPAN_QUEUE);
        }
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(batches.build())
            .build();
        Some(
            SdkTracerProvider::builder()
                .with_span_processor(processor)
                .with_resource(resource.clone())
                .build(),
        )
    });
    let meters = settings.metrics.and_then(|protocol| {
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_protocol(protocol)
            .build()
            .map_err(|err| {
                settings
                    .warnings
                    .push(format!("metrics are not exported: {err}"))
            })
            .ok()?;
        Some(
            SdkMeterProvider::builder()
                .with_periodic_exporter(exporter)
                .with_resource(resource.clone())
                .build(),
        )
    });
    if let Some(meters) = &meters {
        let _ = METRICS.set(Metrics::new(&meters.meter(SCOPE)));
    }
    let layer = traces.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(SCOPE))
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_level(false)
            .with_tracked_inactivity(false)
            // Nothing in the process reads the OpenTelemetry context: not
            // attaching it on every poll of an instrumented future is cheaper.
            .with_context_activation(false)
            .with_filter(filter_fn(exported))
            .boxed()
    });
    let _ = PROVIDERS.set(Providers { traces, meters });
    (layer, settings.warnings)
}

/// The spans that are exported: synchost's own (the host's and its core's),
/// never events (log lines quote remotes and plugins) nor other crates' spans.
fn exported(metadata: &tracing::Metadata<'_>) -> bool {
    metadata.is_span()
        && metadata.target().starts_with("synchost")
        && *metadata.level() <= tracing::Level::INFO
}

/// The resource: `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME` as the
/// SDK reads them, `service.name` `synchost` when neither names one, and
/// `service.version`.
fn resource() -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    let builder = Resource::builder()
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    if named {
        builder.build()
    } else {
        builder.with_service_name(DEFAULT_SERVICE_NAME).build()
    }
}

/// Ends export: the spans that ended (waiting up to `timeout` for their
/// export) and the metrics so far are sent, then the exporters stop. Called
/// as the process exits, whatever the outcome; a second call does nothing.
pub fn shutdown(timeout: Duration) {
    let Some(providers) = PROVIDERS.get() else {
        return;
    };
    if let Some(traces) = &providers.traces {
        report("traces", traces.shutdown_with_timeout(timeout));
    }
    if let Some(meters) = &providers.meters {
        report("metrics", meters.shutdown_with_timeout(timeout));
    }
}

fn report(what: &str, outcome: opentelemetry_sdk::error::OTelSdkResult) {
    use opentelemetry_sdk::error::OTelSdkError;
    match outcome {
        Ok(()) | Err(OTelSdkError::AlreadyShutdown) => {}
        Err(err) => tracing::warn!("OpenTelemetry: the last export of {what} failed: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Settings {
        settings(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        })
    }

    #[test]
    fn nothing_is_exported_without_an_endpoint() {
        assert_eq!(from(&[]), Settings::default());
        assert_eq!(
            from(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]),
            Settings::default()
        );
        assert_eq!(
            from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]),
            Settings::default()
        );
    }

    #[test]
    fn the_general_endpoint_exports_both_signals_in_protobuf_by_default() {
        let s = from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")]);
        assert_eq!(s.traces, Some(Protocol::HttpBinary));
        assert_eq!(s.metrics, Some(Protocol::HttpBinary));
        assert!(s.warnings.is_empty());
    }

    #[test]
    fn a_signal_endpoint_exports_that_signal_only_with_its_own_protocol() {
        let s = from(&[
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "https://collector/v1/metrics",
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json"),
        ]);
        assert_eq!(s.traces, None);
        assert_eq!(s.metrics, Some(Protocol::HttpJson));
    }

    #[test]
    fn disabled_sdk_and_none_exporters_turn_export_off() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        assert_eq!(
            from(&[endpoint, ("OTEL_SDK_DISABLED", "TRUE")]),
            Settings::default()
        );
        let s = from(&[endpoint, ("OTEL_TRACES_EXPORTER", "none")]);
        assert_eq!((s.traces, s.metrics), (None, Some(Protocol::HttpBinary)));
        // Only `true` disables, as the specification says.
        let s = from(&[endpoint, ("OTEL_SDK_DISABLED", "1")]);
        assert!(s.traces.is_some());
    }

    #[test]
    fn what_synchost_cannot_speak_is_off_with_a_warning() {
        let s = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            ("OTEL_METRICS_EXPORTER", "prometheus"),
        ]);
        assert_eq!((s.traces, s.metrics), (None, None));
        assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
        assert!(
            s.warnings[0].contains("`grpc` is not supported"),
            "{:?}",
            s.warnings
        );
        let s = from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")]);
        assert_eq!((s.traces, s.metrics), (None, None));
        assert!(
            s.warnings[0].contains("not an http:// or https:// URL"),
            "{:?}",
            s.warnings
        );
    }
}
