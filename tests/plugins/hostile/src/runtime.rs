//! Attacks on the runtime: batches, waits, logs and other per-call budgets.
//!
//! Each attack is chosen by the setting `attack`; [`list`] and [`fetch`]
//! answer `None` for attacks of other modules.
//!
//! - `batch-bomb`: one `send-batch` of `requests` (500) requests to the
//!   items fake's `/echo?pad=PAD` (`pad` bytes, 1 MiB): far more answer
//!   bytes than the plugin's memory. Reports `batch-bomb: N ok, N too-large,
//!   N other` in a fatal error.
//! - `rate-limited-forever`: a first page, then `rate-limited(u32::MAX)` on
//!   every later `list`.
//! - `log-flood`: `lines` (100,000) log lines at warn and as many on stdout
//!   and stderr, each with a forged line and escape sequences, then a page.
//! - `fatal-flood`: a fatal error of `mib` (50) MiB that forges a line.
//! - `panic-in-list`: writes `noise 1` to `noise 40` and then `said` (a
//!   setting) to stderr, then panics with [`PANIC_MESSAGE`] in `list`.
//! - `version-drift`: lists three partial records at version `1`; `fetch`
//!   returns them at version `2`.
//! - `page-numbers`: lists the items fake as a page-number API would: the
//!   cursor is the number of the next page, page N holds the items from
//!   N × limit on (complete records). Resumed with another limit, the same
//!   cursor means another position.

use synchost_sdk::bindings::synchost::source::http as wit;
use synchost_sdk::prelude::*;

use crate::Attack;

/// The attacks of this module.
pub const ATTACKS: &[&str] = &[
    "batch-bomb",
    "rate-limited-forever",
    "log-flood",
    "fatal-flood",
    "panic-in-list",
    "version-drift",
    "page-numbers",
];

/// What `panic-in-list` panics with.
pub const PANIC_MESSAGE: &str = "hostile: the known panic message";

/// A line a plugin would like the host's log to show as its own.
pub const FORGED: &str = "\nERROR synchost: FORGED LINE\r\x1b[2Jcleared";

pub fn list(attack: &Attack, req: &ListRequest) -> Option<Result<Page, Error>> {
    let settings = attack.settings;
    let page = || {
        let record = Record::new("first", "1").content_text("the only record");
        Ok(Page::new(vec![record]).next_cursor("c1"))
    };
    Some(match attack.name {
        "batch-bomb" => Err(batch_bomb(settings)),
        "rate-limited-forever" => match req.cursor {
            None => page(),
            Some(_) => Err(Error::RateLimited(u32::MAX)),
        },
        "log-flood" => {
            let lines: u64 = match settings.parse_or("lines", 100_000) {
                Ok(lines) => lines,
                Err(error) => return Some(Err(error)),
            };
            for n in 0..lines {
                log::warn(format!("flood {n}{FORGED}"));
                println!("stdout flood {n}{FORGED}");
                eprintln!("stderr flood {n}{FORGED}");
            }
            let record = Record::new("flooded", "1").content_text("after the flood");
            Ok(Page::new(vec![record]))
        }
        "fatal-flood" => {
            let mib: usize = match settings.parse_or("mib", 50) {
                Ok(mib) => mib,
                Err(error) => return Some(Err(error)),
            };
            let mut message = format!("fatal flood{FORGED}");
            message.extend(std::iter::repeat_n('x', mib << 20));
            Err(Error::fatal(message))
        }
        "panic-in-list" => {
            for n in 1..=40 {
                eprintln!("noise {n}");
            }
            eprintln!("{}", settings.get_or("said", ""));
            panic!("{PANIC_MESSAGE}");
        }
        "page-numbers" => page_numbers(settings, req),
        "version-drift" => Ok(Page::new(
            (1..=3)
                .map(|n| Record::new(format!("drift-{n}"), "1"))
                .collect(),
        )),
        _ => return None,
    })
}

pub fn fetch(attack: &Attack, ids: &[String]) -> Option<Vec<Result<Record, Error>>> {
    match attack.name {
        "version-drift" => Some(
            ids.iter()
                .map(|id| Ok(Record::new(id.clone(), "2").content_text("drifted")))
                .collect(),
        ),
        _ => None,
    }
}

/// Sends the batch and counts the kinds of answers (dropping the bodies as
/// it goes).
fn batch_bomb(settings: &Settings) -> Error {
    let parsed = settings
        .parse_or("requests", 500usize)
        .and_then(|requests| Ok((requests, settings.parse_or("pad", 1usize << 20)?)));
    let (requests, pad) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => return error,
    };
    let base = settings
        .get("base_url")
        .unwrap_or("http://127.0.0.1")
        .trim_end_matches('/');
    let batch: Vec<wit::Request> = (0..requests)
        .map(|n| crate::get(&format!("{base}/echo?pad={pad}&n={n}")))
        .collect();
    let (mut ok, mut too_large, mut other) = (0, 0, Vec::new());
    for answer in wit::send_batch(&batch) {
        match answer {
            Ok(_) => ok += 1,
            Err(wit::HttpError::TooLarge(_)) => too_large += 1,
            Err(error) => other.push(crate::outcome(&Err(error))),
        }
    }
    let others = other.len();
    other.truncate(3);
    Error::fatal(format!(
        "batch-bomb: {ok} ok, {too_large} too-large, {others} other {other:?}"
    ))
}

/// One page of `page-numbers`: the items fake's first (N + 1) × limit
/// items (at most 1000), of which the last `limit` are page N.
fn page_numbers(settings: &Settings, req: &ListRequest) -> Result<Page, Error> {
    let number: usize = req.cursor.as_deref().unwrap_or("0").parse().unwrap_or(0);
    let limit = req.limit as usize;
    let start = number * limit;
    let base = settings.get_or("base_url", "http://127.0.0.1");
    let listing: serde_json::Value = http::Request::get(format!("{base}/items"))
        .query("limit", (start + limit).min(1000).to_string())
        .send()?
        .error_for_status()?
        .json()?;
    let items = listing["items"].as_array().cloned().unwrap_or_default();
    let records: Vec<Record> = items
        .iter()
        .skip(start)
        .map(|item| {
            let id = item["id"].as_str().unwrap_or_default();
            let version = item["version"].as_str().unwrap_or_default();
            Record::new(id, version).content_text("listed by page number")
        })
        .collect();
    let more = records.len() == limit && !listing["next_cursor"].is_null();
    Ok(Page::new(records).next_cursor(more.then(|| (number + 1).to_string())))
}
