//! Attacks on what the host prints and stores: terminal escapes, watermarks, counts.
//!
//! Each attack is chosen by the setting `attack`; [`list`] and [`fetch`]
//! answer `None` for attacks of other modules.
//!
//! - `escapes`: every string the plugin chooses (ids, titles, watermark,
//!   deleted ids, cursor, error messages) carries [`HOSTILE`]. The setting
//!   `stage` picks what happens: `store` (default) stores such records and
//!   succeeds; `fail-items` lists partial records whose `fetch` fails with
//!   hostile messages (the items fail, the run is incomplete); `fail-list`
//!   fails the second `list` call with a hostile `fatal`.
//! - `watermark`: one record and a watermark of `watermark_bytes` bytes.
//! - `phantom-deletes`: records `keep` and `gone` (unless `delete_gone` is
//!   `true`: then only `keep`, and `gone` among the deleted ids), and
//!   `deleted_count` made-up deleted ids, each repeated twice.
//! - `blobs`: one record per id of `blob_items` (comma-separated numbers),
//!   each with a blob at the items fake's `/items/item-NNNNNN`.
//! - `forged-streams`: `streams` answers a stream named [`HOSTILE`] with a
//!   1 MiB description, beside the declared one.
//! - `no-streams`: `streams` answers no stream at all.

use synchost_sdk::prelude::*;

use crate::Attack;

/// The attacks of this module.
pub const ATTACKS: &[&str] = &[
    "escapes",
    "watermark",
    "phantom-deletes",
    "blobs",
    "forged-streams",
    "no-streams",
];

/// What `streams` answers under this module's attacks.
pub fn streams(attack: &Attack) -> Option<Vec<StreamInfo>> {
    match attack.name {
        "forged-streams" => Some(vec![
            StreamInfo::new(crate::STREAM, "declared"),
            StreamInfo::new(HOSTILE, "x".repeat(1 << 20)),
        ]),
        "no-streams" => Some(Vec::new()),
        _ => None,
    }
}

/// What a hostile string holds: a colour and a window-title sequence, a
/// carriage return and line feed that start a forged line, a bidi override,
/// a C1 control (CSI) and DEL.
pub const HOSTILE: &str = "\u{1b}[31mred\u{1b}]0;pwned\u{7}\r\nFORGED: synchost finished, all is well\u{202e}gpj.exe\u{9b}2J\u{7f}";

pub fn list(attack: &Attack, req: &ListRequest) -> Option<Result<Page, Error>> {
    let settings = attack.settings;
    let page = match attack.name {
        "escapes" => escapes(settings.get_or("stage", "store"), req),
        "watermark" => settings.parse_or("watermark_bytes", 65_536).map(|bytes| {
            Page::new(vec![Record::new("one", "1").content_text("one")])
                .watermark("w".repeat(bytes))
        }),
        "phantom-deletes" => phantom_deletes(settings),
        "blobs" => blobs(settings),
        _ => return None,
    };
    Some(page)
}

pub fn fetch(attack: &Attack, ids: &[String]) -> Option<Vec<Result<Record, Error>>> {
    match attack.name {
        // Half the items fail, half are "not found", both with hostile messages.
        "escapes" => Some(
            ids.iter()
                .enumerate()
                .map(|(i, _)| match i % 2 {
                    0 => Err(Error::fatal(format!("fetch: {HOSTILE}"))),
                    _ => Err(Error::not_found(format!("gone: {HOSTILE}"))),
                })
                .collect(),
        ),
        _ => None,
    }
}

fn escapes(stage: &str, req: &ListRequest) -> Result<Page, Error> {
    let hostile_id = |n: u32| format!("id-{n}-{HOSTILE}");
    match (stage, req.cursor.as_deref()) {
        ("store", _) => Ok(Page::new(
            (1..=3)
                .map(|n| {
                    Record::new(hostile_id(n), format!("v{HOSTILE}"))
                        .title(HOSTILE)
                        .content_text(HOSTILE)
                })
                .collect(),
        )
        .deleted(vec![HOSTILE.into()])
        .watermark(format!("wm-{HOSTILE}"))
        .total_hint(3)),
        ("fail-items", _) => Ok(Page::new(
            (1..=4).map(|n| Record::new(hostile_id(n), "1")).collect(),
        )),
        ("fail-list", None) => {
            Ok(
                Page::new(vec![Record::new(hostile_id(1), "1").content_text(HOSTILE)])
                    .next_cursor(format!("c-{HOSTILE}")),
            )
        }
        ("fail-list", Some(_)) => Err(Error::fatal(format!("list: {HOSTILE}"))),
        (other, _) => Err(Error::invalid_config(format!("unknown stage `{other}`"))),
    }
}

fn phantom_deletes(settings: &Settings) -> Result<Page, Error> {
    let count: usize = settings.parse_or("deleted_count", 1000)?;
    let delete_gone: bool = settings.parse_or("delete_gone", false)?;
    let record = |id: &str| Record::new(id, "1").content_text(id);
    let mut records = vec![record("keep")];
    let mut deleted: Vec<String> = (0..count).map(|n| format!("made-up-{}", n / 2)).collect();
    if delete_gone {
        deleted.extend(["gone".to_string(), "gone".to_string()]);
    } else {
        records.push(record("gone"));
    }
    Ok(Page::new(records).deleted(deleted))
}

fn blobs(settings: &Settings) -> Result<Page, Error> {
    let base = settings.required("base_url")?.trim_end_matches('/');
    let records = settings
        .required("blob_items")?
        .split(',')
        .map(|n| {
            let n: u32 = n.trim().parse().map_err(|e| {
                Error::invalid_config(format!("blob_items: `{n}` is not a number: {e}"))
            })?;
            let item = format!("item-{n:06}");
            Ok(Record::new(format!("with-blob-{n}"), "1")
                .title(format!("with blob {n}"))
                .content_text("a record with a blob")
                .blob(BlobRef::new(
                    format!("{item}.json"),
                    format!("{base}/items/{item}"),
                    "application/json",
                    "1",
                )))
        })
        .collect::<Result<_, Error>>()?;
    Ok(Page::new(records))
}
