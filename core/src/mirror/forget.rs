//! `synchost forget --mirror DIR`: the forgotten records' files removed from
//! a mirror written by `export --format files`. Only files its manifest
//! lists for those records are touched, through the same guards as an
//! export (no path outside the plan, no symbolic link followed); a file
//! edited since the export goes too (it holds the record's data).

use std::collections::HashSet;
use std::path::Path;

use anyhow::Result;

use super::{file_key, read_manifest, remove_empty_dirs, remove_file, write_atomically, Root};
use super::{MirrorReport, MANIFEST};
use crate::error::usage;
use crate::store::forget::Target;

/// Removes the files of `targets` from the mirror of `source` in `out` and
/// drops them from its manifest; `dry_run` only counts them. A directory
/// without a manifest, or the mirror of another source, is refused (a
/// usage error) before anything is removed.
pub fn forget_files(
    out: &Path,
    source: &str,
    targets: &[Target],
    dry_run: bool,
) -> Result<MirrorReport> {
    let mut report = MirrorReport::default();
    let Some(mut manifest) = read_manifest(out, source, &mut report.warnings)
        .map_err(|err| usage(format!("--mirror {}: {err:#}", out.display())))?
    else {
        return Err(usage(format!(
            "--mirror {}: not a synchost mirror (it has no {MANIFEST}; \
             `synchost export {source} --format files --out DIR` writes one)",
            out.display()
        )));
    };
    let records: HashSet<String> = targets
        .iter()
        .map(|t| file_key(&t.stream, &t.id, None))
        .collect();
    // `stream/id`, or `stream/id#blob` (`#` inside a part is escaped).
    let forgotten = |key: &str| {
        let record = key.split_once('#').map_or(key, |(record, _)| record);
        records.contains(record)
    };
    let keys: Vec<String> = manifest
        .entries
        .keys()
        .filter(|key| forgotten(key))
        .cloned()
        .collect();
    if dry_run {
        report.removed = keys.len() as u64;
        return Ok(report);
    }
    let root = Root::new(out);
    let mut gone = Vec::with_capacity(keys.len());
    for key in &keys {
        let entry = manifest.entries.remove(key).expect("listed above");
        if remove_file(&root, &entry.path, &mut report.warnings) {
            report.removed += 1;
            gone.push(entry.path);
        } else {
            // Still there (the warning says why): still listed.
            manifest.entries.insert(key.clone(), entry);
        }
    }
    manifest
        .folders
        .retain(|_, folder| !records.contains(&file_key(&folder.stream, &folder.id, None)));
    let gone: Vec<&str> = gone.iter().map(String::as_str).collect();
    remove_empty_dirs(&root, &gone);
    write_atomically(&root, MANIFEST, &serde_json::to_vec_pretty(&manifest)?)?;
    Ok(report)
}
