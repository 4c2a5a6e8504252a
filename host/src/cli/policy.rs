//! `synchost policy explain [SOURCE]`: the administrator's policy in force
//! (its file and sha256) and, for each configured source (or the one
//! named), every rule that applies: the config's value, the value that
//! applies, and why, naming the policy line. The checks are the ones a pull
//! makes ([`crate::trust::caps::evaluate`], [`crate::trust::admit`]), so a
//! source explained without a violation is not refused by them. Exit 2 when
//! a source violates the policy, listing every violation.

use std::io::Read as _;
use std::path::Path;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Global, JsonFlag};
use crate::config::Config;
use crate::error::{refused, usage};
use crate::trust::caps::Check;
use crate::trust::policy::POLICY_ENV;
use crate::trust::Policy;
use crate::untrusted::Untrusted;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Show the administrator's policy and, for a source (default: every
    /// configured one), each rule that applies, the config's value, the
    /// value in force and why; exit 2 when the config violates it.
    Explain(ExplainArgs),
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The source (default: every source in the config).
    source: Option<String>,
    #[command(flatten)]
    output: JsonFlag,
}

pub fn run(global: &Global, command: PolicyCommand) -> Result<()> {
    match command {
        PolicyCommand::Explain(args) => explain(global, args),
    }
}

fn explain(global: &Global, args: ExplainArgs) -> Result<()> {
    let config = global.config()?;
    let Some(policy) = &config.policy else {
        let message = format!(
            "No policy: {} does not exist{}, so the config alone decides what runs and where \
             it goes.",
            Policy::location().display(),
            if std::env::var_os(POLICY_ENV).is_some() {
                format!(" ({POLICY_ENV} points there)")
            } else {
                String::new()
            }
        );
        match args.output.json {
            true => println!("{}", json!({"policy": null, "message": message})),
            false => println!("{message}"),
        }
        return Ok(());
    };
    let names = match &args.source {
        Some(name) => vec![name.clone()],
        None => config.source_names(),
    };
    let mut sources = Vec::new();
    for name in &names {
        let mut checks = config.policy_checks(name)?;
        checks.extend(plugin_check(&config, policy, name));
        sources.push((name.as_str(), checks));
    }
    if args.output.json {
        let report = json!({
            "policy": policy.path(),
            "sha256": policy.sha256,
            "allow_ad_hoc": policy.allow_ad_hoc,
            "sources": sources.iter().map(|(name, checks)| json!({
                "source": name,
                "checks": checks,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(policy, &sources);
    }
    let violations: Vec<&Check> = sources
        .iter()
        .flat_map(|(_, checks)| checks)
        .filter(|check| check.violation.is_some())
        .collect();
    let Some(first) = violations.first() else {
        return Ok(());
    };
    let listed: Vec<String> = violations
        .iter()
        .filter_map(|check| check.violation.as_deref())
        .map(|violation| format!("  - {violation}"))
        .collect();
    Err(refused(
        &first.rule,
        format!(
            "the config violates the policy ({} violation{}):\n{}",
            listed.len(),
            if listed.len() == 1 { "" } else { "s" },
            listed.join("\n")
        ),
    ))
}

fn print_text(policy: &Policy, sources: &[(&str, Vec<Check>)]) {
    println!("policy: {}", policy.path().display());
    println!("sha256: {}", policy.sha256);
    if !policy.allow_ad_hoc {
        println!(
            "ad-hoc plugins (--plugin): refused by {}",
            policy.rule("allow_ad_hoc")
        );
    }
    if sources.is_empty() {
        println!("The config defines no sources.");
    }
    for (name, checks) in sources {
        println!();
        println!("source `{}`:", Untrusted::new(name));
        if checks.is_empty() {
            println!("  no rule of the policy applies to it");
        }
        for check in checks {
            let mark = if check.violation.is_some() {
                "  VIOLATION"
            } else {
                ""
            };
            println!("  {}{mark}", check.key);
            println!("    config:    {}", Untrusted::new(&check.config));
            println!("    effective: {}", Untrusted::new(&check.effective));
            println!("    why:       {}", Untrusted::new(&check.why));
            println!("    rule:      {}", check.rule);
        }
    }
}

/// The plugin rules (`allowed_plugin_hashes`, `require_signature`,
/// `trusted_keys`) against the source's plugin file as it is now; `None`
/// when the policy has none.
fn plugin_check(config: &Config, policy: &Policy, name: &str) -> Option<Check> {
    let key = ["allowed_plugin_hashes", "require_signature", "trusted_keys"]
        .into_iter()
        .find(|key| match *key {
            "allowed_plugin_hashes" => policy.allowed_plugin_hashes.is_some(),
            "require_signature" => policy.require_signature,
            _ => policy.trusted_keys.is_some(),
        })?;
    let section = config.file.sources.get(name)?;
    let path = config.base_dir.join(&section.plugin);
    let mut check = Check {
        key: "plugin".into(),
        rule: policy.rule(key),
        config: path.display().to_string(),
        effective: String::new(),
        why: String::new(),
        violation: None,
    };
    let admitted = sha256_of(&path).and_then(|sha256| {
        check.config = format!("{} (sha256 {sha256})", path.display());
        let trust = config.ad_hoc_trust()?;
        crate::trust::admit(name, &trust, &path, &sha256)
    });
    match admitted {
        Ok(admission) => {
            check.effective = "admitted".into();
            check.why = match admission.signer {
                Some(signer) => format!("signed by trusted key {signer}"),
                None => "its sha256 is allowed".into(),
            };
        }
        Err(err) => {
            check.effective = "refused".into();
            match crate::error::policy_rule(&err) {
                Some(rule) => {
                    check.rule = rule.to_string();
                    check.why = "the policy does not admit this file".into();
                    check.violation = Some(format!("{err:#}"));
                }
                // The config's own rules (its [trust]), or an unreadable file.
                None => check.why = format!("{err:#}"),
            }
        }
    }
    Some(check)
}

fn sha256_of(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path)
        .map_err(|err| usage(format!("plugin {}: {err}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}
