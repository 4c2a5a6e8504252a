//! Attacks through push answers: what a plugin returns from `push` and
//! `reconcile` is as hostile as what it lists.
//!
//! Each attack is chosen by the setting `attack`; [`list`] and [`fetch`]
//! answer `None` for attacks of other modules, [`push`] and [`reconcile`]
//! are called (raw, past the SDK, which would mend a wrong count: see
//! `Export` in `lib.rs`) only for the attacks of this module.
//!
//! Apart from its attack, each behaves: the stream `items` holds a fixed
//! dataset, [`DATASET`] complete records `item-000001`, … at version `1`
//! (`list` returns them all on one page, `fetch` by id); `push` answers
//! every change as a remote that accepted it would ([`applied`]: the
//! change's id, or `new-KEY` for a creation, at its base version + 1, with
//! its title, content and metadata; none after a deletion); `reconcile`
//! answers `not-applied` for every change (nothing is ever written
//! anywhere). The attacks change the answer for the *first* change of a
//! call, the others stay as they should be, unless said otherwise:
//!
//! - `push-fewer-outcomes`: one outcome less than changes (the last one
//!   missing).
//! - `push-other-id`: `applied` with a record whose id is not the change's
//!   (`other-ID`, `other-KEY` for a creation; also for a deletion).
//! - `push-huge-record`: `applied` with the change's record (its id, also
//!   for a deletion) whose content is [`HUGE_CONTENT`] (64 MiB).
//! - `push-hostile-text`: `failed(fatal)` with a message of [`HOSTILE_TEXT`]
//!   bytes (1 MB) full of ANSI escapes, a bell and forged log lines.
//! - `reconcile-wrong-count`: `reconcile` answers one more than changes
//!   (`push` behaves).
//! - `push-conflict-other-id`: `conflict` with a record whose id is not
//!   the change's (`other-ID`).

use std::cell::RefCell;

use synchost_sdk::prelude::*;

use crate::Attack;

/// The attacks of this module.
pub const ATTACKS: &[&str] = &[
    "push-fewer-outcomes",
    "push-other-id",
    "push-huge-record",
    "push-hostile-text",
    "reconcile-wrong-count",
    "push-conflict-other-id",
];
/// Records of the fixed dataset.
pub const DATASET: u32 = 3;
/// Content bytes of the `push-huge-record` record.
pub const HUGE_CONTENT: usize = 64 << 20;
/// Bytes of the `push-hostile-text` message.
pub const HOSTILE_TEXT: usize = 1_000_000;

thread_local! {
    /// The attack of this module the instance was configured with, if any.
    static ATTACK: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Remembers `attack` when it is one of this module's (`configure`).
pub fn configured(attack: Option<&str>) {
    let ours = attack.filter(|attack| ATTACKS.contains(attack));
    ATTACK.with(|slot| *slot.borrow_mut() = ours.map(str::to_owned));
}

/// The attack of this module in force, if any.
pub fn attack() -> Option<String> {
    ATTACK.with(|slot| slot.borrow().clone())
}

pub fn list(attack: &Attack, _req: &ListRequest) -> Option<Result<Page, Error>> {
    ATTACKS
        .contains(&attack.name)
        .then(|| Ok(Page::new((1..=DATASET).map(item).collect())))
}

pub fn fetch(attack: &Attack, ids: &[String]) -> Option<Vec<Result<Record, Error>>> {
    ATTACKS.contains(&attack.name).then(|| {
        ids.iter()
            .map(|id| {
                (1..=DATASET)
                    .map(item)
                    .find(|record| &record.id == id)
                    .ok_or_else(|| Error::not_found(format!("hostile has no {id}")))
            })
            .collect()
    })
}

/// `push` under `attack`: the answers, as many as the attack wants.
pub fn push(attack: &str, changes: &[Change]) -> Vec<PushOutcome> {
    let mut outcomes: Vec<PushOutcome> = changes
        .iter()
        .map(|change| PushOutcome::Applied(applied(change)))
        .collect();
    let (Some(first), Some(change)) = (outcomes.first_mut(), changes.first()) else {
        return outcomes;
    };
    match attack {
        "push-fewer-outcomes" => {
            outcomes.pop();
        }
        "push-other-id" => *first = PushOutcome::Applied(Some(other_id(change))),
        "push-huge-record" => {
            let mut record = record_for(change);
            record.content = Some(vec![b'x'; HUGE_CONTENT]);
            *first = PushOutcome::Applied(Some(record));
        }
        "push-hostile-text" => *first = PushOutcome::Failed(Error::fatal(hostile_text())),
        "push-conflict-other-id" => *first = PushOutcome::Conflict(Some(other_id(change))),
        _ => {}
    }
    outcomes
}

/// `reconcile` under `attack`: `not-applied` for each change, one too many
/// for `reconcile-wrong-count`.
pub fn reconcile(attack: &str, changes: &[Change]) -> Vec<Reconciliation> {
    let extra = usize::from(attack == "reconcile-wrong-count");
    (0..changes.len() + extra)
        .map(|_| Reconciliation::NotApplied)
        .collect()
}

/// Item `n` of the dataset.
fn item(n: u32) -> Record {
    Record::new(format!("item-{n:06}"), "1")
        .title(format!("Item {n}"))
        .content_text(format!("item {n}"))
}

/// The record a remote that accepted `change` would hold: none after a
/// deletion.
fn applied(change: &Change) -> Option<Record> {
    if change.op == ChangeOp::Delete {
        return None;
    }
    let id = change
        .id
        .clone()
        .unwrap_or_else(|| format!("new-{}", change.key));
    let version = change
        .base_version
        .as_deref()
        .and_then(|base| base.parse::<u64>().ok())
        .map_or(1, |base| base + 1);
    let mut record = Record::new(id, version.to_string())
        .title(change.title.clone())
        .content(change.content.clone().unwrap_or_default(), "text/plain");
    record.metadata = change.metadata.clone();
    Some(record)
}

/// The record [`applied`] gives `change`; for a deletion, an empty one
/// with its id.
fn record_for(change: &Change) -> Record {
    applied(change)
        .unwrap_or_else(|| Record::new(change.id.clone().unwrap_or_default(), "1").content_text(""))
}

/// [`record_for`] `change`, under another id.
fn other_id(change: &Change) -> Record {
    let mut record = record_for(change);
    record.id = format!("other-{}", change.id.as_deref().unwrap_or(&change.key));
    record
}

/// [`HOSTILE_TEXT`] bytes of colours, a bell, a title change, a screen
/// clear and forged log lines.
fn hostile_text() -> String {
    let unit = format!(
        "\x1b[31mRED\x1b[0m\x07\x1b]0;pwned\x07{}\r\n",
        crate::runtime::FORGED
    );
    let mut text = unit.repeat(HOSTILE_TEXT / unit.len() + 1);
    text.truncate(HOSTILE_TEXT);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(op: ChangeOp, id: Option<&str>, base: Option<&str>) -> Change {
        Change {
            key: "k1".into(),
            op,
            id: id.map(str::to_owned),
            base_version: base.map(str::to_owned),
            parent_id: None,
            title: Some("T".into()),
            content: (op != ChangeOp::Delete).then(|| b"new".to_vec()),
            metadata: r#"{"a":1}"#.into(),
        }
    }

    fn changes() -> Vec<Change> {
        vec![
            change(ChangeOp::Update, Some("item-000001"), Some("1")),
            change(ChangeOp::Create, None, None),
            change(ChangeOp::Delete, Some("item-000002"), Some("1")),
        ]
    }

    fn applied_id(outcome: &PushOutcome) -> Option<&str> {
        match outcome {
            PushOutcome::Applied(Some(record)) => Some(&record.id),
            _ => None,
        }
    }

    #[test]
    fn outside_its_attack_push_answers_as_an_accepting_remote() {
        let outcomes = push("reconcile-wrong-count", &changes());
        assert_eq!(outcomes.len(), 3);
        let PushOutcome::Applied(Some(updated)) = &outcomes[0] else {
            panic!("{:?}", outcomes[0]);
        };
        assert_eq!(
            (updated.id.as_str(), updated.version.as_str()),
            ("item-000001", "2")
        );
        assert_eq!(updated.content.as_deref(), Some(&b"new"[..]));
        assert_eq!(updated.metadata, r#"{"a":1}"#);
        assert_eq!(applied_id(&outcomes[1]), Some("new-k1"));
        assert!(matches!(outcomes[2], PushOutcome::Applied(None)));
        assert_eq!(reconcile("push-other-id", &changes()).len(), 3);
    }

    #[test]
    fn each_attack_spoils_the_first_answer() {
        assert_eq!(push("push-fewer-outcomes", &changes()).len(), 2);
        assert_eq!(reconcile("reconcile-wrong-count", &changes()).len(), 4);

        let outcomes = push("push-other-id", &changes());
        assert_eq!(applied_id(&outcomes[0]), Some("other-item-000001"));
        assert_eq!(applied_id(&outcomes[1]), Some("new-k1"));

        let outcomes = push("push-conflict-other-id", &changes());
        assert!(
            matches!(&outcomes[0], PushOutcome::Conflict(Some(r)) if r.id == "other-item-000001")
        );

        let outcomes = push("push-huge-record", &changes());
        let PushOutcome::Applied(Some(huge)) = &outcomes[0] else {
            panic!("applied");
        };
        assert_eq!(huge.id, "item-000001");
        assert_eq!(huge.content.as_ref().map(Vec::len), Some(HUGE_CONTENT));

        let outcomes = push("push-hostile-text", &changes());
        let PushOutcome::Failed(Error::Fatal(text)) = &outcomes[0] else {
            panic!("failed");
        };
        assert_eq!(text.len(), HOSTILE_TEXT);
        assert!(text.contains("\x1b[31m") && text.contains("FORGED LINE"));
        assert!(push("push-hostile-text", &[]).is_empty());
    }
}
