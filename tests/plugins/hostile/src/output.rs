//! Attacks on what the host prints and stores: terminal escapes, watermarks, counts.
//!
//! Each attack is chosen by the setting `attack`; [`list`] and [`fetch`]
//! answer `None` for attacks of other modules.

use synchost_sdk::prelude::*;

use crate::Attack;

/// The attacks of this module.
pub const ATTACKS: &[&str] = &[];

pub fn list(attack: &Attack, _req: &ListRequest) -> Option<Result<Page, Error>> {
    match attack.name {
        _ => None,
    }
}

pub fn fetch(attack: &Attack, _ids: &[String]) -> Option<Vec<Result<Record, Error>>> {
    match attack.name {
        _ => None,
    }
}
