//! `synchost init --plugin FILE`: a source appended to `synchost.toml`,
//! written from the plugin's manifest.
//!
//! The manifest is untrusted: every text it chose is escaped before it
//! reaches the file (descriptions as comment lines, values and keys as TOML
//! strings), so no description can add a key or a table. The file is only
//! appended to, and only when the result parses with the new source in it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use super::Global;
use crate::config::{self, AuthKind, Limits, SETTING_PLACEHOLDER};
use crate::error::usage;
use crate::runtime::bindings::types::Manifest;
use crate::runtime::Runtime;
use crate::sync::session::{auth_kind, check_manifest, describe_offline, usable_source_name};
use crate::untrusted::{needs_escape, Untrusted};

/// Longest line of a description written as a comment (bytes, escaped).
const COMMENT_BYTES: usize = 1024;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The plugin (.wasm component) the new source runs.
    #[arg(long, value_name = "FILE")]
    plugin: PathBuf,
    /// The source's name (default: the plugin's name).
    #[arg(long)]
    name: Option<String>,
    /// A setting's value, written instead of its placeholder or commented
    /// default, e.g. --set base_url=https://example.com (also derives
    /// allowed_hosts from it).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
}

pub async fn run(global: &Global, args: InitArgs) -> Result<()> {
    let path = global
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("synchost.toml"));
    let existing = read_existing(&path)?;
    let parsed = config::parse(&existing).map_err(|why| {
        usage(format!(
            "{} is not a valid config ({why}); fix it before adding a source",
            path.display()
        ))
    })?;

    let limits = Limits::default();
    let runtime = Runtime::new(Runtime::default_cache_dir())?;
    let plugin = runtime.load(&args.plugin, &limits)?;
    let manifest = describe_offline(&plugin, "init", &limits).await?;
    check_manifest(&format!("plugin {}", args.plugin.display()), &manifest)?;

    let name = source_name(args.name.as_deref(), &manifest, &args.plugin)?;
    if parsed.sources.contains_key(&name) {
        return Err(usage(format!(
            "{} already has a source `{name}`; choose another name with --name",
            path.display()
        )));
    }
    let sets = parse_sets(&args.sets)?;
    let plugin_path = plugin_path_for(&path, &args.plugin)?;
    let block = render(&name, &plugin_path, &manifest, &sets)?;

    let separator = match existing.as_bytes().last() {
        None => "",
        Some(b'\n') => "\n",
        Some(_) => "\n\n",
    };
    let appended = format!("{separator}{block}");
    let whole = format!("{existing}{appended}");
    // The block is ours, but the file is the user's: never leave it unparsable.
    let check = config::parse(&whole)
        .map_err(|why| anyhow::anyhow!("the source written for `{name}` does not parse: {why}"))?;
    anyhow::ensure!(
        check.sources.len() == parsed.sources.len() + 1 && check.sources.contains_key(&name),
        "the source written for `{name}` is not the one source added"
    );
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .with_context(|| format!("cannot open {} to append", path.display()))?;
    file.write_all(appended.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot append to {}", path.display()))?;

    eprintln!("Added source `{name}` to {}.", path.display());
    let placeholders = placeholders(&manifest, &sets);
    if !placeholders.is_empty() {
        eprintln!(
            "Fill in {} (now \"{SETTING_PLACEHOLDER}\") in [sources.{name}.settings].",
            placeholders.join(", ")
        );
    }
    if let Some(auth) = &manifest.auth {
        let vars: Vec<String> = auth
            .env
            .iter()
            .map(|(_, var)| Untrusted::clipped(var, 128).to_string())
            .collect();
        eprintln!(
            "Export the credentials before pulling: {}.",
            vars.join(", ")
        );
    }
    eprintln!("Then: synchost pull {name}");
    Ok(())
}

/// The config's text, empty when it does not exist yet.
fn read_existing(path: &Path) -> Result<String> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map_err(|_| usage(format!("{} is not UTF-8 text", path.display()))),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(err) => Err(usage(format!("cannot read {}: {err}", path.display()))),
    }
}

/// `--name`, else the plugin's name, else the file's: one that can be a
/// source name on a command line.
fn source_name(given: Option<&str>, manifest: &Manifest, plugin: &Path) -> Result<String> {
    let name = match given {
        Some(name) => name.to_string(),
        None if usable_source_name(&manifest.name) => manifest.name.clone(),
        None => plugin
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or("source")
            .to_string(),
    };
    if !usable_source_name(&name) {
        return Err(usage(format!(
            "`{}` cannot name a source (letters, digits, `-`, `_` and `.`, at most 64); \
             pass --name NAME",
            Untrusted::clipped(&name, 200)
        )));
    }
    Ok(name)
}

fn parse_sets(sets: &[String]) -> Result<BTreeMap<String, String>> {
    sets.iter()
        .map(|set| {
            set.split_once('=')
                .map(|(key, value)| (key.trim().to_string(), value.to_string()))
                .ok_or_else(|| usage(format!("--set expects KEY=VALUE, got `{set}`")))
        })
        .collect()
}

/// The plugin as the config names it: relative to the config's directory
/// when it lies below it, else absolute (config paths are relative to the
/// config's directory, not to where `synchost` runs).
fn plugin_path_for(config: &Path, plugin: &Path) -> Result<String> {
    let plugin = std::fs::canonicalize(plugin)
        .map_err(|err| usage(format!("cannot read {}: {err}", plugin.display())))?;
    let dir = config
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let shown = match std::fs::canonicalize(dir) {
        Ok(dir) => plugin
            .strip_prefix(&dir)
            .map(Path::to_path_buf)
            .unwrap_or(plugin.clone()),
        Err(_) => plugin.clone(),
    };
    shown.to_str().map(str::to_string).ok_or_else(|| {
        usage(format!(
            "the plugin's path {} is not UTF-8",
            plugin.display()
        ))
    })
}

/// Required settings without a default that `--set` did not give.
fn placeholders(manifest: &Manifest, sets: &BTreeMap<String, String>) -> Vec<String> {
    manifest
        .settings
        .iter()
        .filter(|s| s.required && s.default_value.is_none() && !sets.contains_key(&s.name))
        .map(|s| Untrusted::clipped(&s.name, 128).to_string())
        .collect()
}

/// The `[sources.NAME]` block for `manifest`: a header comment, the
/// plugin, `allowed_hosts` (from a given base_url; the manifest's extra
/// hosts as advice), each declared setting (a given value, else a
/// placeholder when required, else its default commented out) after its
/// description, other given settings, and the auth block naming the
/// variables the manifest suggests.
fn render(
    name: &str,
    plugin: &str,
    manifest: &Manifest,
    sets: &BTreeMap<String, String>,
) -> Result<String> {
    let key = toml_key(name);
    let mut out = String::new();
    comment(
        &mut out,
        &format!(
            "{} {} (written by `synchost init`)",
            manifest.name, manifest.version
        ),
    );
    comment(&mut out, &manifest.description);
    let _ = writeln!(out, "[sources.{key}]");
    let _ = writeln!(out, "plugin = {}", toml_string(plugin));
    let extra: Vec<String> = manifest
        .extra_hosts
        .iter()
        .map(|h| toml_string(h))
        .collect();
    match sets.get("base_url") {
        Some(base_url) => {
            let origin = config::origin_of(name, base_url)?;
            comment(&mut out, "Hosts the plugin may reach: base_url's origin.");
            let _ = writeln!(out, "allowed_hosts = [{}]", toml_string(&origin));
        }
        None => comment(
            &mut out,
            "Without allowed_hosts, the plugin may reach base_url's origin only.",
        ),
    }
    if !extra.is_empty() {
        comment(
            &mut out,
            &format!(
                "The plugin also reaches {}: add them to allowed_hosts to let it.",
                extra.join(", ")
            ),
        );
    }

    let _ = writeln!(out, "\n[sources.{key}.settings]");
    for setting in &manifest.settings {
        let mut note = setting.description.clone();
        match (&setting.default_value, setting.required) {
            (Some(default), _) => note.push_str(&format!(" (default {})", toml_string(default))),
            (None, true) => note.push_str(" (required)"),
            (None, false) => note.push_str(" (optional)"),
        }
        comment(&mut out, &note);
        let setting_key = toml_key(&setting.name);
        match (sets.get(&setting.name), &setting.default_value) {
            (Some(value), _) => {
                let _ = writeln!(out, "{setting_key} = {}", toml_string(value));
            }
            (None, None) if setting.required => {
                let _ = writeln!(out, "{setting_key} = {}", toml_string(SETTING_PLACEHOLDER));
            }
            (None, Some(default)) if setting.required => {
                let _ = writeln!(out, "{setting_key} = {}", toml_string(default));
            }
            (None, default) => {
                let value = default.as_deref().unwrap_or("");
                let _ = writeln!(out, "# {setting_key} = {}", toml_string(value));
            }
        }
    }
    for (setting, value) in sets {
        if !manifest.settings.iter().any(|s| &s.name == setting) {
            let _ = writeln!(out, "{} = {}", toml_key(setting), toml_string(value));
        }
    }

    if let Some(auth) = &manifest.auth {
        let kind = auth_kind(auth.scheme);
        let _ = writeln!(out);
        comment(
            &mut out,
            "The credential is read from these environment variables when synchost runs; \
             never write a secret here.",
        );
        let _ = writeln!(out, "[sources.{key}.auth]");
        let _ = writeln!(out, "type = {}", toml_string(kind.as_str()));
        if let Some(header) = &auth.header_name {
            let _ = writeln!(out, "name = {}", toml_string(header));
        }
        for &(env_key, required) in kind.env_keys() {
            let Some((_, var)) = auth.env.iter().find(|(k, _)| k == env_key) else {
                continue;
            };
            if required {
                let _ = writeln!(out, "{env_key} = {}", toml_string(var));
            } else {
                comment(&mut out, "Optional:");
                let _ = writeln!(out, "# {env_key} = {}", toml_string(var));
            }
        }
        if kind == AuthKind::Header && auth.header_name.is_none() {
            let _ = writeln!(out, "name = {}", toml_string(SETTING_PLACEHOLDER));
        }
    }
    Ok(out)
}

/// `text` as `# ` comment lines: one per line of it, each escaped (no
/// control or invisible character survives, so none can end the comment)
/// and clipped.
fn comment(out: &mut String, text: &str) {
    for line in text.split('\n') {
        let shown = Untrusted::clipped(line, COMMENT_BYTES).to_string();
        let _ = writeln!(out, "# {}", shown.trim_end());
    }
}

/// A TOML key: bare when it can be, else a quoted string.
fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if bare {
        key.to_string()
    } else {
        toml_string(key)
    }
}

/// A TOML basic string holding `text` exactly: quotes and backslashes
/// escaped, and every control or invisible character as a `\u` escape, so
/// the line shows what the value is (and a terminal it is printed on shows
/// nothing else).
pub(super) fn toml_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if needs_escape(c) => {
                let _ = match c as u32 {
                    code @ 0..=0xffff => write!(out, "\\u{code:04X}"),
                    code => write!(out, "\\U{code:08X}"),
                };
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::bindings::types::{AuthInfo, AuthScheme, SettingInfo};

    fn setting(
        name: &str,
        description: &str,
        required: bool,
        default: Option<&str>,
    ) -> SettingInfo {
        SettingInfo {
            name: name.into(),
            description: description.into(),
            required,
            default_value: default.map(str::to_string),
        }
    }

    fn manifest(settings: Vec<SettingInfo>, auth: Option<AuthInfo>) -> Manifest {
        Manifest {
            name: "demo".into(),
            version: "1.0.0".into(),
            description: "Demo\n[store]\npath = \"/etc/x\"".into(),
            streams: Vec::new(),
            settings,
            max_page_size: 100,
            max_push_batch: 1,
            auth,
            extra_hosts: vec!["https://dl.example.com".into()],
        }
    }

    const INJECTION: &str = "text\n[sources.evil]\nplugin = \"/tmp/evil.wasm\"\r\n\u{202e}x";

    #[test]
    fn hostile_text_stays_in_comments_and_strings() {
        let hostile = manifest(
            vec![
                setting("base_url", INJECTION, true, None),
                setting(
                    "quote\"d = 1\n[x]",
                    INJECTION,
                    false,
                    Some("\"\"\"\n[store]\\"),
                ),
                setting("tables.tasks", "dotted", true, Some("a\u{1b}[2J")),
            ],
            Some(AuthInfo {
                scheme: AuthScheme::Supabase,
                env: vec![
                    ("key_env".into(), "KEY".into()),
                    ("jwt_env".into(), "JWT".into()),
                ],
                header_name: None,
            }),
        );
        let block = render("my.docs", "p\"lugin\n.wasm", &hostile, &BTreeMap::new()).unwrap();
        assert!(
            !block.chars().any(|c| c != '\n' && needs_escape(c)),
            "{block}"
        );
        // Unknown keys are refused by the parser: nothing was injected.
        let file = config::parse(&block).unwrap_or_else(|e| panic!("{e}\n{block}"));
        assert!(file.store.path.is_none(), "{block}");
        assert_eq!(
            file.sources.keys().collect::<Vec<_>>(),
            ["my.docs"],
            "{block}"
        );
        let source = &file.sources["my.docs"];
        assert_eq!(source.plugin, PathBuf::from("p\"lugin\n.wasm"));
        assert!(source.allowed_hosts.is_none(), "{block}");
        let settings = &source.settings;
        // Only the required ones are active; the optional default is a comment.
        assert_eq!(settings.len(), 2, "{block}");
        assert_eq!(settings["base_url"].as_str(), Some(SETTING_PLACEHOLDER));
        assert_eq!(settings["tables.tasks"].as_str(), Some("a\u{1b}[2J"));
        let auth = source.auth.as_ref().unwrap();
        assert_eq!(auth.kind, AuthKind::Supabase);
        assert_eq!(auth.key_env.as_deref(), Some("KEY"));
        assert!(auth.jwt_env.is_none(), "the JWT is optional: {block}");
        assert!(block.contains("# jwt_env = \"JWT\""), "{block}");
        assert!(block.contains("https://dl.example.com"), "{block}");
        // And the whole is a valid config once placeholders are filled.
        let filled = block.replace(SETTING_PLACEHOLDER, "http://127.0.0.1:1/");
        config::parse(&filled).unwrap();
    }

    #[test]
    fn given_settings_are_written_and_base_url_gives_allowed_hosts() {
        let m = manifest(
            vec![
                setting("base_url", "The site", true, None),
                setting("space", "Space key", true, None),
                setting("limit", "Page limit", false, Some("50")),
            ],
            Some(AuthInfo {
                scheme: AuthScheme::Basic,
                env: vec![
                    ("username_env".into(), "U".into()),
                    ("password_env".into(), "P".into()),
                ],
                header_name: None,
            }),
        );
        let sets =
            parse_sets(&["base_url=https://Example.com/wiki".into(), "extra=1".into()]).unwrap();
        let block = render("docs", "c.wasm", &m, &sets).unwrap();
        let file = config::parse(&block).unwrap();
        let source = &file.sources["docs"];
        assert_eq!(
            source.allowed_hosts.as_deref(),
            Some(&["https://example.com:443".to_string()][..])
        );
        assert_eq!(
            source.settings["base_url"].as_str(),
            Some("https://Example.com/wiki")
        );
        assert_eq!(source.settings["space"].as_str(), Some(SETTING_PLACEHOLDER));
        assert_eq!(source.settings["extra"].as_str(), Some("1"));
        assert!(!source.settings.contains_key("limit"));
        assert!(block.contains("# limit = \"50\""), "{block}");
        let auth = source.auth.as_ref().unwrap();
        assert_eq!(auth.kind, AuthKind::Basic);
        assert_eq!(auth.username_env.as_deref(), Some("U"));
        assert_eq!(auth.password_env.as_deref(), Some("P"));
        assert_eq!(placeholders(&m, &sets), ["space"]);
    }

    #[test]
    fn toml_strings_round_trip() {
        for text in [
            "plain",
            "q\"b\\s",
            "\u{0}\u{1f}\u{7f}\u{85}\u{202e}\u{feff}é日本",
        ] {
            let text_config = format!(
                "[sources.a]\nplugin = \"a.wasm\"\n[sources.a.settings]\n{} = {}\n",
                toml_key(text),
                toml_string(text)
            );
            let file = config::parse(&text_config).unwrap_or_else(|e| panic!("{e}: {text_config}"));
            assert_eq!(file.sources["a"].settings[text].as_str(), Some(text));
        }
        assert_eq!(toml_key("a-b_1"), "a-b_1");
        assert_eq!(toml_key("a.b"), "\"a.b\"");
        assert_eq!(toml_key(""), "\"\"");
    }
}
