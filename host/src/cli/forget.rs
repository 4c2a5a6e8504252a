//! `synchost forget SOURCE (--id ID... | --match FIELD=VALUE) [--stream S]
//! [--mirror DIR]... [--dry-run]`: records removed for good from the store
//! (and their files from mirrors), the removal audited by count.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::{ArgGroup, Args};

use super::init::toml_string;
use super::Global;
use crate::error::failed;
use crate::matching::RecordMatch;
use crate::mirror::forget::forget_files;
use crate::store::forget::{Selection, Target};
use crate::store::Store;
use crate::untrusted::terminal_safe;

/// Most ids the suggested `exclude` line names; beyond, it says how many.
const MAX_SUGGESTED_IDS: usize = 20;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("selection").required(true).args(["id", "matching"])))]
pub struct ForgetArgs {
    /// The source.
    source: String,
    /// A record to forget, by id (repeatable). An id the store does not
    /// hold is refused (exit 2) and nothing is forgotten.
    #[arg(long = "id", value_name = "ID")]
    id: Vec<String>,
    /// Forget every record this selects: FIELD=VALUE (equal) or
    /// FIELD~=VALUE (contains); FIELD is id, title, path, parent_id,
    /// content, metadata.KEY.KEY or metadata/JSON-pointer.
    #[arg(long = "match", value_name = "FIELD=VALUE")]
    matching: Option<String>,
    /// Only records of this stream.
    #[arg(long, value_name = "S")]
    stream: Option<String>,
    /// A mirror (`export --format files --out DIR`) to remove the records'
    /// files from (repeatable).
    #[arg(long, value_name = "DIR")]
    mirror: Vec<PathBuf>,
    /// Count what would be removed; change nothing.
    #[arg(long)]
    dry_run: bool,
}

pub fn run(global: &Global, args: ForgetArgs) -> Result<()> {
    let started = Instant::now();
    let config = global.config()?;
    let mut store = Store::open_existing(&config.store_path(global.store.as_deref()))?;
    let _lock = store.lock_writer()?;
    store.require_source(&args.source)?;
    let rule = args
        .matching
        .as_deref()
        .map(RecordMatch::parse)
        .transpose()?;
    let selection = match &rule {
        Some(rule) => Selection::Match(rule),
        None => Selection::Ids(&args.id),
    };
    let targets = store.forget_targets(&args.source, args.stream.as_deref(), &selection)?;

    // Every mirror is checked (and its files counted) before anything goes.
    let mut mirror_files = 0;
    for dir in &args.mirror {
        mirror_files += forget_files(dir, &args.source, &targets, true)?.removed;
    }
    if args.dry_run {
        let counts = store.forget(&args.source, &targets, true)?;
        println!(
            "Would forget {} records of source `{}` ({} earlier versions, {} blobs, \
             {} staged changes, {} mirror files); nothing was changed",
            counts.records,
            args.source,
            counts.versions,
            counts.blobs,
            counts.changes,
            mirror_files
        );
        return Ok(());
    }
    if targets.is_empty() {
        println!(
            "No record of source `{}` matches {}; nothing was forgotten",
            args.source,
            terminal_safe(args.matching.as_deref().unwrap_or_default())
        );
        return Ok(());
    }

    // Mirrors first: if the store then fails, nothing of it changed and the
    // same command can be run again.
    let mut mirror_files = 0;
    let mut left = Vec::new();
    for dir in &args.mirror {
        let report = forget_files(dir, &args.source, &targets, false)?;
        mirror_files += report.removed;
        left.extend(report.warnings);
    }
    let counts = store
        .forget(&args.source, &targets, false)
        .map_err(|err| store.explain_write_failure(err))?;
    crate::sync::blobs::sweep(&store)?;
    store.scrub()?;
    println!(
        "Forgot {} records of source `{}` ({} earlier versions, {} blobs, {} staged changes, \
         {} mirror files) in {:.1}s; the store file was rewritten without them",
        counts.records,
        args.source,
        counts.versions,
        counts.blobs,
        counts.changes,
        mirror_files,
        started.elapsed().as_secs_f64()
    );
    let configured = config
        .file
        .sources
        .get(&args.source)
        .map(|s| s.exclude.clone())
        .unwrap_or_default();
    if args.mirror.is_empty() {
        eprintln!(
            "Mirrors are not known to the store: one that holds these records still has \
             their files until it is exported again (`synchost export {} --format files \
             --out DIR` removes them, except files edited there) or is named with --mirror",
            args.source
        );
    }
    if let Some(hint) = exclude_hint(&args.source, &targets, rule.as_ref(), &configured) {
        eprintln!("{}", terminal_safe(&hint));
    }
    if !left.is_empty() {
        for warning in &left {
            eprintln!("warning: {warning}");
        }
        return Err(failed(format!(
            "{} mirror files of the forgotten records could not be removed (see above); \
             remove them by hand",
            left.len()
        )));
    }
    Ok(())
}

/// How to keep the forgotten records out of the next pull: the `exclude`
/// line to add, unless the source's rules already hold it.
fn exclude_hint(
    source: &str,
    targets: &[Target],
    rule: Option<&RecordMatch>,
    configured: &[String],
) -> Option<String> {
    let mut rules: Vec<String> = match rule {
        Some(rule) => vec![rule.to_string()],
        None => targets.iter().map(|t| format!("id={}", t.id)).collect(),
    };
    rules.sort();
    rules.dedup();
    rules.retain(|rule| !configured.contains(rule));
    if rules.is_empty() {
        return None;
    }
    let more = rules.len().saturating_sub(MAX_SUGGESTED_IDS);
    let quoted: Vec<String> = rules
        .iter()
        .take(MAX_SUGGESTED_IDS)
        .map(|rule| toml_string(rule))
        .collect();
    let back = "The next pull brings them back while the remote has them; to keep them out,";
    let mut hint = if configured.is_empty() {
        format!(
            "{back} add to [sources.{source}] in synchost.toml:\n  exclude = [{}]",
            quoted.join(", ")
        )
    } else {
        format!(
            "{back} add to the exclude list of [sources.{source}] in synchost.toml:\n  {}",
            quoted.join(", ")
        )
    };
    if more > 0 {
        hint.push_str(&format!("\n  (and {more} more `id=` rules)"));
    }
    Some(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_names_what_is_not_yet_excluded() {
        let targets = vec![
            Target {
                stream: "a".into(),
                id: "1".into(),
            },
            Target {
                stream: "b".into(),
                id: "x\"y".into(),
            },
        ];
        // A source with exclude rules: the rules to add to its list, quoted.
        let hint = exclude_hint("docs", &targets, None, &["id=1".into()]).unwrap();
        assert!(
            hint.contains("exclude list") && hint.ends_with(r#"  "id=x\"y""#),
            "{hint}"
        );
        assert!(exclude_hint("docs", &targets[..1], None, &["id=1".into()]).is_none());
        let rule = RecordMatch::parse("title~=Secret").unwrap();
        let hint = exclude_hint("docs", &targets, Some(&rule), &[]).unwrap();
        assert!(hint.contains(r#"exclude = ["title~=Secret"]"#), "{hint}");
    }
}
