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

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: &str) -> Target {
        Target {
            stream: "items".into(),
            id: id.into(),
        }
    }

    #[test]
    fn only_the_records_files_go_and_no_link_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let (mirror, outside) = (dir.path().join("m"), dir.path().join("outside"));
        std::fs::create_dir_all(mirror.join("a")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(mirror.join("a/one.txt"), "one, edited here").unwrap();
        std::fs::write(mirror.join("two.txt"), "two").unwrap();
        std::fs::write(outside.join("x"), "not the mirror's").unwrap();
        std::os::unix::fs::symlink(&outside, mirror.join("link")).unwrap();
        let manifest = serde_json::json!({"source": "s", "entries": {
            "items/1": {"path": "a/one.txt", "hash": "h1", "stream": "items", "id": "1"},
            "items/1#x": {"path": "link/x", "hash": "h2"},
            "items/10": {"path": "two.txt", "hash": "h3"},
        }});
        std::fs::write(mirror.join(MANIFEST), manifest.to_string()).unwrap();

        let dry = forget_files(&mirror, "s", &[target("1")], true).unwrap();
        assert_eq!(dry.removed, 2);
        assert!(mirror.join("a/one.txt").exists());

        let report = forget_files(&mirror, "s", &[target("1")], false).unwrap();
        assert_eq!(report.removed, 1);
        assert!(!mirror.join("a").exists(), "the emptied directory goes");
        assert!(
            outside.join("x").exists(),
            "nothing is removed through a link"
        );
        assert!(
            report.warnings[0].contains("symbolic link"),
            "{:?}",
            report.warnings
        );
        assert!(mirror.join("two.txt").exists(), "record 10 is not record 1");
        let left: serde_json::Value =
            serde_json::from_slice(&std::fs::read(mirror.join(MANIFEST)).unwrap()).unwrap();
        let keys: Vec<&String> = left["entries"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["items/1#x", "items/10"],
            "what is still there stays listed"
        );

        let err = forget_files(&mirror, "other", &[target("1")], true).unwrap_err();
        assert!(
            err.to_string().contains("holds the mirror of source `s`"),
            "{err}"
        );
        let err = forget_files(&outside, "s", &[target("1")], true).unwrap_err();
        assert!(err.to_string().contains("not a synchost mirror"), "{err}");
    }
}
