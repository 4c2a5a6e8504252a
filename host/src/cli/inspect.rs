//! `synchost plugin inspect FILE`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::{Global, JsonFlag};
use crate::config::Limits;
use crate::runtime::bindings::types;
use crate::runtime::Runtime;
use crate::sync::session::{auth_kind, check_manifest, describe_offline};
use crate::trust::{signature, PublicKey, Verified};
use crate::untrusted::Untrusted;

/// Streams and settings shown at most (a usable manifest has no more).
const MAX_SHOWN: usize = crate::checks::MAX_MANIFEST_ENTRIES;
/// Longest name shown (a usable manifest has none longer).
const NAME_BYTES: usize = crate::checks::MAX_MANIFEST_NAME_BYTES;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The plugin (.wasm component).
    file: PathBuf,
    #[command(flatten)]
    output: JsonFlag,
}

pub async fn run(global: &Global, args: InspectArgs) -> Result<()> {
    let runtime = Runtime::new(Runtime::default_cache_dir())?;
    let limits = Limits::default();
    // Under an administrator's policy, a plugin it forbids is refused as a
    // pull would refuse it, before it is described.
    let plugin = match crate::trust::Policy::load()? {
        Some(_) => {
            let name = args.file.file_stem().unwrap_or_default().to_string_lossy();
            let trust = global.config()?.ad_hoc_trust()?;
            runtime.load_trusted(&args.file, &limits, &name, &trust)?
        }
        None => runtime.load(&args.file, &limits)?,
    };
    let manifest = describe_offline(&plugin, "inspect", &limits).await?;
    let signature = Signature::of(global, &plugin.path, &plugin.sha256);

    let shown = format!("plugin {}", args.file.display());
    // Contract 0.1 plugins pull only.
    let push = plugin.push_support();
    if args.output.json {
        // Machines get the manifest whole, so only a usable one.
        check_manifest(&shown, &manifest)?;
        let streams: Vec<_> = manifest
            .streams
            .iter()
            .map(|s| json!({"name": s.name, "description": s.description, "supports_delta": s.supports_delta, "supports_push": s.supports_push}))
            .collect();
        let settings: Vec<_> = manifest
            .settings
            .iter()
            .map(|s| json!({"name": s.name, "description": s.description, "required": s.required, "default": s.default_value}))
            .collect();
        let report = json!({
            "file": plugin.path,
            "name": manifest.name,
            "version": manifest.version,
            "description": manifest.description,
            "contract": format!("synchost:source@{}", plugin.contract),
            "can_push": push.is_ok(),
            "push_refused": push.err(),
            "size": plugin.size,
            "sha256": plugin.sha256,
            "signature": signature.json(),
            "imports": plugin.imports,
            "max_page_size": manifest.max_page_size,
            "max_push_batch": manifest.max_push_batch,
            "auth": manifest.auth.as_ref().map(|auth| json!({
                "scheme": auth_scheme(auth.scheme),
                "env": auth.env.iter().map(|(key, var)| json!({"key": key, "variable": var})).collect::<Vec<_>>(),
                "header_name": auth.header_name,
            })),
            "extra_hosts": manifest.extra_hosts,
            "streams": streams,
            "settings": settings,
            "load_ms": plugin.load_ms,
            "cache_hit": plugin.cache_hit,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    // Everything the plugin chose is escaped and clipped: a description
    // cannot forge lines or hide the import list below it.
    let name = |text| Untrusted::clipped(text, NAME_BYTES);
    println!(
        "{} {}: {}",
        name(&manifest.name),
        name(&manifest.version),
        Untrusted::new(&manifest.description)
    );
    println!("file:          {}", plugin.path.display());
    println!(
        "contract:      synchost:source@{} ({})",
        plugin.contract,
        if push.is_ok() {
            "can push"
        } else {
            "pull-only"
        }
    );
    if let Err(why) = &push {
        println!("               {why}");
    }
    println!("size:          {} bytes", plugin.size);
    println!("sha256:        {}", plugin.sha256);
    println!("signature:     {}", signature.line());
    println!(
        "native code:   {} in {:.1} ms",
        if plugin.cache_hit {
            "loaded from cache"
        } else {
            "compiled"
        },
        plugin.load_ms
    );
    println!("max page size: {}", manifest.max_page_size);
    if push.is_ok() {
        println!("push batch:    {} changes a call", manifest.max_push_batch);
    }
    match &manifest.auth {
        Some(auth) => {
            let env: Vec<String> = auth
                .env
                .iter()
                .map(|(key, var)| format!("{} = {}", name(key), name(var)))
                .collect();
            let header = auth
                .header_name
                .as_deref()
                .map(|h| format!(" (header {})", name(h)))
                .unwrap_or_default();
            println!(
                "auth:          type = {}{header}; {}",
                auth_scheme(auth.scheme),
                env.join(", ")
            );
        }
        None => println!("auth:          none declared"),
    }
    if !manifest.extra_hosts.is_empty() {
        let hosts: Vec<String> = manifest
            .extra_hosts
            .iter()
            .take(MAX_SHOWN)
            .map(|h| name(h).to_string())
            .collect();
        println!(
            "extra hosts:   {} (add to allowed_hosts to let it reach them)",
            hosts.join(", ")
        );
    }
    if manifest.streams.is_empty() {
        println!("streams:       depend on the settings (listed once configured)");
    } else {
        println!("streams:");
    }
    for stream in manifest.streams.iter().take(MAX_SHOWN) {
        let mut traits = Vec::new();
        if stream.supports_delta {
            traits.push("delta");
        }
        // A contract 0.1 plugin may declare push; it is not done with it.
        if stream.supports_push && push.is_ok() {
            traits.push("push");
        }
        println!(
            "  {:<16} {} [{}]",
            name(&stream.name).to_string(),
            Untrusted::new(&stream.description),
            traits.join(", ")
        );
    }
    more(manifest.streams.len(), "streams");
    println!("settings:");
    for setting in manifest.settings.iter().take(MAX_SHOWN) {
        let default = setting
            .default_value
            .as_deref()
            .map(|d| format!(" (default {})", Untrusted::new(d)))
            .unwrap_or_default();
        let required = if setting.required { " (required)" } else { "" };
        println!(
            "  {:<16} {}{required}{default}",
            name(&setting.name).to_string(),
            Untrusted::new(&setting.description)
        );
    }
    more(manifest.settings.len(), "settings");
    println!("imports:");
    for import in &plugin.imports {
        println!("  {}", Untrusted::new(import));
    }
    // Shown whole above (clipped), refused here: a manifest `pull` would
    // refuse makes `inspect` fail too.
    check_manifest(&shown, &manifest)
}

/// The `[sources.NAME.auth]` type of a declared scheme.
fn auth_scheme(scheme: types::AuthScheme) -> &'static str {
    auth_kind(scheme).as_str()
}

/// Says how many entries were left out of a list of `count`.
fn more(count: usize, what: &str) {
    if count > MAX_SHOWN {
        println!("  … and {} more {what}", count - MAX_SHOWN);
    }
}

/// What `FILE.sig` says about the file, and whether the config (if one
/// loads) trusts its key.
struct Signature {
    verified: Verified,
    /// `None`: no config, or one whose `[trust]` cannot be read.
    trusted_keys: Option<Vec<PublicKey>>,
}

impl Signature {
    fn of(global: &Global, path: &std::path::Path, sha256: &str) -> Signature {
        let trusted_keys = global
            .config()
            .ok()
            .filter(|config| config.path.is_some())
            .and_then(|config| config.ad_hoc_trust().ok())
            .map(|trust| trust.keys);
        Signature {
            verified: signature::verify(path, sha256),
            trusted_keys,
        }
    }

    fn trusted(&self, key: &PublicKey) -> Option<bool> {
        self.trusted_keys.as_ref().map(|keys| keys.contains(key))
    }

    fn line(&self) -> String {
        match &self.verified {
            Verified::Unsigned => "none (no .sig beside the file)".into(),
            Verified::Invalid(why) => format!("INVALID: {why}"),
            Verified::Valid(key) => {
                let trusted = match self.trusted(key) {
                    Some(true) => "; trusted by the config's [trust] keys",
                    Some(false) => "; NOT among the config's [trust] keys",
                    None => "",
                };
                format!("valid, signed by key {} ({key}){trusted}", key.id())
            }
        }
    }

    fn json(&self) -> serde_json::Value {
        match &self.verified {
            Verified::Unsigned => json!({"status": "none"}),
            Verified::Invalid(why) => json!({"status": "invalid", "problem": why}),
            Verified::Valid(key) => json!({
                "status": "valid",
                "key_id": key.id(),
                "public_key": key.to_string(),
                "trusted": self.trusted(key),
            }),
        }
    }
}
