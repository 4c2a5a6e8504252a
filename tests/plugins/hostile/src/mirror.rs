//! Attacks on the mirror export: names and parent chains that try to escape or take over the output directory.
//!
//! Each attack is chosen by the setting `attack`; [`list`] and [`fetch`]
//! answer `None` for attacks of other modules. Every record is complete
//! (content or blobs), so the host never calls `fetch` for these. Blobs
//! point at the items fake's `/echo` (setting `base_url`), which answers any
//! request with a small JSON body.
//!
//! - `mirror-manifest`: records titled like the mirror's manifest (with and
//!   without `.json`, in other cases) holding a forged manifest whose
//!   entries point outside the mirror, attachments named like the export's
//!   temporary files, and a parent chain of 120-byte titles (setting
//!   `chain`, default 60) whose path would exceed PATH_MAX.
//! - `mirror-git`: a repository laid out by titles: `.git` in every
//!   spelling (case, trailing dot or space, 8.3 short name, NTFS stream
//!   suffix, HFS+-ignorable joiners) with `objects`, `refs`, `HEAD` and
//!   `config` below, and other dot-names that tools trust (`.envrc`,
//!   `.vscode`, `.github`, `.hg`).
//! - `mirror-deep`: a single parent chain `depth` records deep (setting,
//!   default 100,000), in pages.
//! - `mirror-names`: NFC/NFD twins, Windows device names in every spelling,
//!   bidi overrides and invisible characters, a record `x#y` beside blob
//!   `y` of record `x`, a record with two blobs of one name, and a path
//!   hint `../../.git/hooks/pre-commit`.

use serde_json::json;
use synchost_sdk::prelude::*;

use crate::Attack;

/// The attacks of this module.
pub const ATTACKS: &[&str] = &[
    "mirror-manifest",
    "mirror-git",
    "mirror-deep",
    "mirror-names",
];

/// A title of 120 bytes, the most a mirror name keeps.
fn long_title(n: usize) -> String {
    format!("{n:04}-{}", "L".repeat(115))
}

pub fn list(attack: &Attack, req: &ListRequest) -> Option<Result<Page, Error>> {
    let base = attack
        .settings
        .get_or("base_url", "http://127.0.0.1")
        .trim_end_matches('/')
        .to_owned();
    let blob = |id: &str, title: &str| {
        Record::new(id, "1")
            .title(title)
            .content(Vec::new(), "application/octet-stream")
            .blob(BlobRef::new(
                title,
                format!("{base}/echo?blob={id}"),
                "application/octet-stream",
                "1",
            ))
    };
    let text = |id: &str, title: &str, parent: Option<&str>| {
        Record::new(id, "1")
            .title(title)
            .parent(parent)
            .content_text(format!("record {id}"))
    };
    let page = match attack.name {
        "mirror-manifest" => {
            let chain: usize = match attack.settings.parse_or("chain", 60) {
                Ok(chain) => chain,
                Err(err) => return Some(Err(err)),
            };
            let forged = json!({
                "source": "hostile",
                "entries": {
                    "items/victim": {"path": "../outside/victim.txt", "hash": "0"},
                    "items/absolute": {"path": attack.settings.get_or("absolute", "/etc/hostname"), "hash": "0"},
                    "items/sneaky": {"path": "a/../../outside/sneaky.txt", "hash": "0"},
                }
            });
            let mut records = vec![
                Record::new("manifest-1", "1")
                    .title(".synchost-mirror")
                    .content_json(&forged),
                Record::new("manifest-2", "1")
                    .title(".synchost-mirror.json")
                    .content_json(&forged),
                blob("manifest-3", ".SYNCHOST-MIRROR.JSON"),
                blob("manifest-4", ".Synchost-Mirror.json"),
                blob("temp-1", ".4242-0.synchost-tmp"),
                blob("temp-2", "notes.synchost-tmp"),
                blob("temp-3", &format!(".{}.synchost-tmp", 1)),
            ];
            records.extend((0..chain).map(|n| {
                let parent = (n > 0).then(|| format!("chain-{}", n - 1));
                text(&format!("chain-{n}"), &long_title(n), parent.as_deref())
            }));
            Page::new(records)
        }
        "mirror-git" => {
            let spellings = [
                ".git",
                ".GIT",
                ".Git",
                ".git.",
                ".git ",
                "GIT~1",
                ".git::$INDEX_ALLOCATION",
                ".g\u{200c}it",
                ".gi\u{200d}t",
                "\u{feff}.git",
            ];
            let mut records = Vec::new();
            for (n, spelling) in spellings.iter().enumerate() {
                let dir = format!("git-{n}");
                records.push(text(&dir, spelling, None));
                records.push(text(&format!("{dir}-objects"), "objects", Some(&dir)));
                records.push(text(&format!("{dir}-refs"), "refs", Some(&dir)));
                records.push(blob(&format!("{dir}-head"), "HEAD").parent(dir.as_str()));
                records.push(blob(&format!("{dir}-config"), "config").parent(dir.as_str()));
            }
            for (n, name) in [".envrc", ".vscode", ".github", ".hg", ".gitattributes"]
                .iter()
                .enumerate()
            {
                let id = format!("dot-{n}");
                records.push(blob(&id, name));
                records.push(text(&format!("{id}-child"), "settings", Some(&id)));
            }
            Page::new(records)
        }
        "mirror-deep" => {
            let depth: u64 = match attack.settings.parse_or("depth", 100_000) {
                Ok(depth) => depth,
                Err(err) => return Some(Err(err)),
            };
            let start: u64 = req
                .cursor
                .as_deref()
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let end = (start + u64::from(req.limit)).min(depth);
            let records = (start..end)
                .map(|n| {
                    let parent = (n > 0).then(|| format!("deep-{}", n - 1));
                    Record::new(format!("deep-{n}"), "1")
                        .title(format!("level {n}"))
                        .parent(parent)
                        .content_text("deep")
                })
                .collect();
            Page::new(records).next_cursor((end < depth).then(|| end.to_string()))
        }
        "mirror-names" => {
            let mut records = vec![
                text("nfc", "Caf\u{e9}", None),
                text("nfd", "Cafe\u{301}", None),
                text("upper-nfc", "CAF\u{c9}", None),
                text("rtl", "invoice\u{202e}fdp.exe", None),
                text("zwsp", "a\u{200b}b", None),
                text("isolate", "x\u{2066}y\u{2069}", None),
            ];
            for (n, device) in [
                "COM\u{b9}",
                "lpt\u{b2}.txt",
                "CONIN$",
                "conout$",
                "CLOCK$",
                "NUL.tar.gz",
                "com0",
            ]
            .iter()
            .enumerate()
            {
                records.push(blob(&format!("device-{n}"), device));
            }
            // Record `x` with content and a blob `y`, and a record `x#y`:
            // the old manifest gave both the key `items/x#y`.
            records.push(text("x", "key x", None).blob(BlobRef::new(
                "y",
                format!("{base}/echo?blob=x-y"),
                "application/octet-stream",
                "1",
            )));
            records.push(text("x#y", "key x#y", None));
            // A path hint that climbs out and into a `.git`.
            records.push(text("hinted", "hinted", None).path("../../.git/hooks/pre-commit"));
            // Two blobs of one name in one record.
            records.push(
                text("twins", "twins", None)
                    .blob(BlobRef::new(
                        "photo.png",
                        format!("{base}/echo?blob=first"),
                        "image/png",
                        "1",
                    ))
                    .blob(BlobRef::new(
                        "photo.png",
                        format!("{base}/echo?blob=second"),
                        "image/png",
                        "1",
                    )),
            );
            Page::new(records)
        }
        _ => return None,
    };
    Some(Ok(page))
}

pub fn fetch(attack: &Attack, ids: &[String]) -> Option<Vec<Result<Record, Error>>> {
    ATTACKS.contains(&attack.name).then(|| {
        ids.iter()
            .map(|id| Err(Error::not_found(format!("hostile lists {id} complete"))))
            .collect()
    })
}
