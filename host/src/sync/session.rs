//! What a pull and a push share: opening a source (the plugin loaded,
//! described, checked and configured behind its HTTP client) and the rules
//! for a plugin's answers (error kinds, waits it asks for, Ctrl+C).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio_util::sync::CancellationToken;

use super::progress::human_duration;
use crate::config::{AuthKind, AuthSection, SourceConfig};
use crate::error::{auth, failed, interrupted, usage};
use crate::net::client::ClientOptions;
use crate::net::limiter::HostLimiters;
use crate::net::{HostPolicy, HttpClient, Network};
use crate::runtime::bindings::types::{self, Manifest};
use crate::runtime::plugin::LoadedPlugin;
use crate::runtime::{PluginInstance, Runtime};
use crate::store::Store;
use crate::untrusted::{render, Untrusted};
use crate::{checks, settings};

/// A configured plugin instance of one source, ready for calls.
pub struct Session {
    pub plugin: LoadedPlugin,
    pub http: Arc<HttpClient>,
    pub instance: PluginInstance,
    pub manifest: Manifest,
}

impl Session {
    /// Loads the source's plugin, checks its manifest, configures it, asks
    /// it for the streams of these settings (which replace the manifest's)
    /// and records in the store which plugin runs the source.
    pub async fn open(runtime: &Runtime, store: &Store, source: &SourceConfig) -> Result<Session> {
        let plugin = runtime.load_source(source)?;
        Session::start(plugin, store, source).await
    }

    /// [`Session::open`] with the source's plugin already loaded.
    pub async fn start(
        plugin: LoadedPlugin,
        store: &Store,
        source: &SourceConfig,
    ) -> Result<Session> {
        let session = Session::configured(plugin, source).await?;
        store.register_source(
            &source.name,
            &session.manifest.name,
            &session.manifest.version,
            &session.plugin.sha256,
        )?;
        Ok(session)
    }

    /// [`Session::start`] without a store (`synchost plugin check`). A
    /// configured source's first session records its plugin in the lock
    /// file (see [`super::pin::record_first`]).
    pub async fn configured(plugin: LoadedPlugin, source: &SourceConfig) -> Result<Session> {
        let (http, mut instance, mut manifest) = described(&plugin, source).await?;
        let configured = instance.configure(&source.settings).await;
        refused_settings(source, "configure", configured.map_err(|e| failed(e.0))?)?;
        let streams = instance.streams().await.map_err(|e| failed(e.0))?;
        let streams = refused_settings(source, "streams", streams)?;
        // The manifest as `describe` answers it, as `plugin trust` sees it.
        super::pin::record_first(source, &plugin, &manifest)?;
        manifest.streams = streams;
        check_streams(&format!("source `{}`", source.name), &manifest.streams)?;
        Ok(Session {
            plugin,
            http,
            instance,
            manifest,
        })
    }
}

/// The answer of `configure` or `streams` (`call`): an `invalid-config`
/// refuses the settings (exit 2), other errors are classified.
fn refused_settings<T>(
    source: &SourceConfig,
    call: &str,
    answer: std::result::Result<T, types::Error>,
) -> Result<T> {
    answer.map_err(|error| match error {
        types::Error::InvalidConfig(why) => usage(format!(
            "source `{}`: the plugin refused its settings: {}",
            source.name,
            Untrusted::new(&why)
        )),
        error => classify(&source.name, call, error),
    })
}

/// An ad-hoc source (`pull --plugin FILE`) named as its plugin's manifest
/// names it (so `export NAME` finds what `pull --plugin` stored), from a
/// `describe` in an instance that can reach nothing. A name unfit for a
/// command line keeps the file's name, with a warning. Without an auth
/// flag, the source authenticates as the manifest's auth info suggests
/// (see [`suggested_credential`]).
pub async fn ad_hoc_named(plugin: &LoadedPlugin, source: &SourceConfig) -> Result<SourceConfig> {
    let manifest = describe_offline(plugin, &source.name, &source.limits).await?;
    check_manifest(&format!("plugin {}", plugin.path.display()), &manifest)?;
    let mut named = source.clone();
    let name = &manifest.name;
    if usable_source_name(name) {
        named.name = name.clone();
    } else {
        tracing::warn!(
            "the plugin's name `{}` is not usable as a source name (letters, digits, `-`, `_` \
             and `.`, at most 64); the source is named `{}` after its file",
            Untrusted::clipped(name, 200),
            source.name
        );
    }
    if named.auth_kind.is_none() {
        if let Some((kind, credential)) = suggested_credential(&named.name, &manifest)? {
            named.auth_kind = Some(kind);
            named.credential = Some(credential);
        }
    }
    Ok(named)
}

/// Whether a plugin's name can name a source as it is: letters, digits,
/// `-`, `_` and `.`, starting with a letter or digit, at most 64 bytes.
pub fn usable_source_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The manifest of `plugin`, from an instance named `name` whose HTTP
/// client may reach no host: `describe` must not do I/O.
pub async fn describe_offline(
    plugin: &LoadedPlugin,
    name: &str,
    limits: &crate::config::Limits,
) -> Result<Manifest> {
    let http = offline_client(name, limits)?;
    let mut instance = PluginInstance::new(plugin, name, http, limits)
        .await
        .map_err(|e| failed(e.0))?;
    instance.describe().await.map_err(|e| failed(e.0))
}

/// The `auth` type of a scheme a manifest declares.
pub fn auth_kind(scheme: types::AuthScheme) -> AuthKind {
    match scheme {
        types::AuthScheme::Bearer => AuthKind::Bearer,
        types::AuthScheme::Basic => AuthKind::Basic,
        types::AuthScheme::Header => AuthKind::Header,
        types::AuthScheme::Supabase => AuthKind::Supabase,
    }
}

/// The credential of the variables a manifest suggests, for an ad-hoc
/// source. None when the plugin declares no auth, or when none of the
/// variables it needs is set (a warning names them: some remotes answer
/// without credentials); refused (exit 2) when only some are, naming the
/// missing ones. Values are never shown.
fn suggested_credential(
    source: &str,
    manifest: &Manifest,
) -> Result<Option<(AuthKind, crate::net::Credential)>> {
    let Some(info) = &manifest.auth else {
        return Ok(None);
    };
    let kind = auth_kind(info.scheme);
    let required = |key: &str| kind.env_keys().iter().any(|&(k, r)| k == key && r);
    // An optional variable (a Supabase user's JWT) counts only when set.
    let env: Vec<(String, String)> = info
        .env
        .iter()
        .filter(|(key, var)| required(key) || std::env::var_os(var).is_some())
        .cloned()
        .collect();
    let section = AuthSection::suggested(kind, &env, info.header_name.as_deref());
    let mut set = Vec::new();
    let mut missing = Vec::new();
    for &(key, required) in kind.env_keys() {
        match section.env_var(key) {
            Some(var) if std::env::var_os(var).is_some() => set.push(var),
            Some(var) if required => missing.push(var.to_string()),
            Some(_) => {}
            None if required => missing.push(format!("(a variable for {key})")),
            None => {}
        }
    }
    if kind == AuthKind::Header && section.name.is_none() {
        missing.push("(the header's name)".into());
    }
    if missing.is_empty() {
        return Ok(Some((kind, section.credential(source)?)));
    }
    let what = format!(
        "the plugin expects {} credentials in {}",
        kind.as_str(),
        missing.join(" and ")
    );
    if set.is_empty() {
        tracing::warn!(
            "source `{source}`: {what}; none is set, so the pull sends no credentials \
             (export them, or pass --auth-bearer-env VAR)"
        );
        return Ok(None);
    }
    Err(usage(format!(
        "source `{source}`: {what}: {} is not set (its companion {} is); export it and run again",
        missing.join(" and "),
        set.join(" and ")
    )))
}

/// A source's plugin behind the source's HTTP client, described, and the
/// source's settings checked against those it declares.
async fn described(
    plugin: &LoadedPlugin,
    source: &SourceConfig,
) -> Result<(Arc<HttpClient>, PluginInstance, Manifest)> {
    let policy = source
        .policy()
        .map_err(|why| usage(format!("source `{}`: {why}", source.name)))?;
    let http = client(
        &plugin.host_limiters,
        source,
        policy,
        source.credential.clone(),
    )?;
    let mut instance = PluginInstance::new(plugin, &source.name, http.clone(), &source.limits)
        .await
        .map_err(|e| failed(e.0))?;
    let manifest = instance.describe().await.map_err(|e| failed(e.0))?;
    check_manifest(&format!("source `{}`", source.name), &manifest)?;
    check_settings(source, &manifest)?;
    source
        .check_reach()
        .map_err(|why| usage(format!("source `{}`: {why}", source.name)))?;
    if let Some(advice) = auth_advice(source, &manifest) {
        tracing::warn!("{advice}");
    }
    Ok((http, instance, manifest))
}

/// The source's settings against those its plugin declares (see
/// [`settings::check`]): a near miss or a missing required setting is
/// exit 2, other unknown names a warning.
fn check_settings(source: &SourceConfig, manifest: &Manifest) -> Result<()> {
    let given: Vec<&str> = source.settings.iter().map(|(k, _)| k.as_str()).collect();
    let declared: Vec<settings::Declared> = manifest
        .settings
        .iter()
        .map(|s| settings::Declared {
            name: &s.name,
            required: s.required,
            has_default: s.default_value.is_some(),
        })
        .collect();
    let name = &source.name;
    let warning = settings::check(&given, &declared)
        .map_err(|why| usage(format!("source `{name}`: {why}")))?;
    if let Some(warning) = warning {
        tracing::warn!("source `{name}`: {warning}");
    }
    Ok(())
}

/// A client for `source`'s plugin that denies every request (no host is
/// allowed) and holds no credential: for calls that must not do I/O.
pub fn unreachable_client(source: &SourceConfig) -> Result<Arc<HttpClient>> {
    offline_client(&source.name, &source.limits)
}

/// [`unreachable_client`] for a plugin that is not a configured source yet.
fn offline_client(name: &str, limits: &crate::config::Limits) -> Result<Arc<HttpClient>> {
    Ok(Arc::new(HttpClient::new(ClientOptions {
        source: name.to_string(),
        policy: HostPolicy::new(&[]).map_err(failed)?,
        credential: None,
        concurrency: 1,
        requests_per_second: None,
        retry: crate::net::RetryPolicy::default(),
        max_response_bytes: limits.max_response_bytes,
        request_timeout: limits.request_timeout,
        max_requests: 0,
        max_blob_bytes: 0,
        max_download_bytes: 0,
    })?))
}

/// The HTTP client of `source`'s plugin, under `policy`, with `limiters`
/// (the runtime's: shared by the sources of a process).
fn client(
    limiters: &HostLimiters,
    source: &SourceConfig,
    policy: HostPolicy,
    credential: Option<crate::net::Credential>,
) -> Result<Arc<HttpClient>> {
    let options = ClientOptions {
        source: source.name.clone(),
        policy,
        credential,
        concurrency: source.concurrency,
        requests_per_second: source.requests_per_second,
        retry: source.retry.clone(),
        max_response_bytes: source.limits.max_response_bytes,
        request_timeout: source.limits.request_timeout,
        max_requests: source.limits.max_requests_per_run,
        max_blob_bytes: source.limits.max_blob_bytes,
        max_download_bytes: source.limits.max_download_bytes_per_run,
    };
    let forced = source
        .admin
        .as_ref()
        .and_then(|policy| policy.proxy.as_ref());
    let network = Network::of_process(source.ca_file.as_deref(), forced).map_err(usage)?;
    tracing::debug!(source = %source.name, "network: {}", network.describe());
    Ok(Arc::new(HttpClient::with_limiters(
        options,
        limiters.clone(),
        &network,
    )?))
}

/// What to say when the source's `auth` type is not the one the plugin
/// declares: a wrong type is rarely what was meant, and its symptom (a 401
/// from the remote) does not say so. A source without `auth` gets nothing:
/// some remotes take requests without credentials.
fn auth_advice(source: &SourceConfig, manifest: &Manifest) -> Option<String> {
    let declared = manifest.auth.as_ref()?;
    let configured = source.auth_kind?;
    let kind = auth_kind(declared.scheme);
    let name = kind.as_str();
    if configured == kind {
        return None;
    }
    let keys: Vec<String> = declared
        .env
        .iter()
        .map(|(key, var)| format!("{key} = \"{var}\""))
        .collect();
    Some(format!(
        "source `{}` is configured with auth type {configured:?}, but its plugin expects \
         type = \"{name}\" ({})",
        source.name,
        Untrusted::new(&keys.join(", "))
    ))
}

/// Refuses a manifest the host cannot use or show: see [`checks::manifest`],
/// [`checks::manifest_text`] and [`checks::auth_info`]; its streams, when it
/// declares any, as [`check_streams`]. `source` is how the message names it.
pub(crate) fn check_manifest(source: &str, manifest: &Manifest) -> Result<()> {
    if !manifest.streams.is_empty() {
        check_streams(source, &manifest.streams)?;
    }
    let auth_env: Vec<(&str, &str)> = manifest
        .auth
        .iter()
        .flat_map(|auth| &auth.env)
        .map(|(key, variable)| (key.as_str(), variable.as_str()))
        .collect();
    let header_name = manifest
        .auth
        .as_ref()
        .and_then(|a| a.header_name.as_deref());
    let settings: Vec<(&str, &str, Option<&str>)> = manifest
        .settings
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.description.as_str(),
                s.default_value.as_deref(),
            )
        })
        .collect();
    checks::manifest_text(&manifest.name, &manifest.description, &[], &settings)
        .and_then(|()| {
            checks::manifest(
                &manifest.name,
                &manifest.version,
                manifest.max_page_size,
                manifest.max_push_batch,
            )
        })
        .and_then(|()| checks::auth_info(&auth_env, header_name))
        .and_then(|()| {
            let hosts: Vec<&str> = manifest.extra_hosts.iter().map(String::as_str).collect();
            checks::extra_hosts(&hosts)
        })
        .map_err(|problem| usage(format!("{source}: the plugin is unusable: {problem}")))
}

/// Refuses streams the host cannot use or show (the manifest's, or those a
/// configured instance lists): see [`checks::streams`] and
/// [`checks::manifest_text`].
fn check_streams(source: &str, streams: &[types::StreamInfo]) -> Result<()> {
    let named: Vec<(&str, &str)> = streams
        .iter()
        .map(|s| (s.name.as_str(), s.description.as_str()))
        .collect();
    checks::manifest_text("streams", "", &named, &[])
        .and_then(|()| checks::streams(named.iter().map(|(name, _)| *name)))
        .map_err(|problem| usage(format!("{source}: the plugin is unusable: {problem}")))
}

/// A plugin error that stops the run, as an exit-classified error.
pub(crate) fn classify(source: &str, call: &str, error: types::Error) -> anyhow::Error {
    let (kind, message) = describe_error(&error);
    let text = format!("source `{source}`: {call} failed: {kind}: {message}");
    match error {
        types::Error::Auth(_) => auth(format!("{text} (check the source's credentials)")),
        types::Error::InvalidConfig(_) => usage(text),
        _ => failed(text),
    }
}

/// The error's kind and its message, escaped and clipped: the message is the
/// plugin's, and goes to the terminal, the log and the store.
pub(crate) fn describe_error(error: &types::Error) -> (&'static str, String) {
    let (kind, message) = match error {
        types::Error::Auth(m) => ("auth", m),
        types::Error::RateLimited(s) => return ("rate-limited", format!("retry after {s}s")),
        types::Error::Transient(m) => ("transient", m),
        types::Error::NotFound(m) => ("not-found", m),
        types::Error::InvalidConfig(m) => ("invalid-config", m),
        types::Error::InvalidResponse(m) => ("invalid-response", m),
        types::Error::Conflict(m) => ("conflict", m),
        types::Error::Unsupported(m) => ("unsupported", m),
        types::Error::Fatal(m) => ("fatal", m),
    };
    (kind, render(message))
}

/// Waits the `seconds` the plugin asked for in `call`, clamped to
/// `retry.max_wait_s`, and says so through `note`. The run's waits together
/// (`waited`) are bounded by `limits.max_wait_total_s`: past it the run stops
/// (its progress kept) rather than waiting in silence for hours. Ctrl+C
/// (`cancel`) ends the wait at once.
pub(crate) async fn wait_as_asked(
    source: &SourceConfig,
    cancel: &CancellationToken,
    waited: &mut Duration,
    call: &str,
    seconds: u32,
    note: impl Fn(&str),
) -> Result<()> {
    let name = &source.name;
    let (wait, clamped) = source.retry.clamp_wait(Duration::from_secs(seconds.into()));
    let limit = source.limits.max_wait_total;
    if *waited + wait > limit {
        return Err(failed(format!(
            "source `{name}`: the plugin asked again to wait ({seconds} s in `{call}`) after \
             {} of waiting in this run, more than limits.max_wait_total_s ({} s) allows; \
             the progress is saved: rerun later to continue",
            human_duration(*waited),
            limit.as_secs()
        )));
    }
    *waited += wait;
    let until = (chrono::Utc::now() + wait).format("%H:%M:%S");
    let message = if clamped {
        format!(
            "{name}: the plugin is rate-limited in `{call}` and asked to wait {seconds} s; \
             waiting {}, until {until} UTC (clamped to retry.max_wait_s)",
            human_duration(wait)
        )
    } else {
        format!(
            "{name}: the plugin is rate-limited in `{call}`; waiting {}, until {until} UTC, \
             as it asked",
            human_duration(wait)
        )
    };
    note(&message);
    cancellable(cancel, name, async {
        tokio::time::sleep(wait).await;
        Ok(())
    })
    .await
}

/// Runs `work` unless Ctrl+C comes first; then the page in flight is
/// abandoned (nothing of it was committed) and the checkpoint stays.
pub(crate) async fn cancellable<T>(
    cancel: &CancellationToken,
    source: &str,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::select! {
        biased;
        () = cancel.cancelled() => Err(interrupted(format!(
            "Interrupted: the progress of `{source}` is saved; run the same command again to resume"
        ))),
        result = work => result,
    }
}
