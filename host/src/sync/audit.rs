//! Policy refusals in the audit trail: a command the administrator's
//! policy refused is recorded as a run with outcome `refused`, its policy
//! line and message (`runs.policy_refusal`, `runs.error`), when a store is
//! reachable, and logged as a `policy refusal` event with the same fields
//! (`--log-format json`). Other errors are left alone.

use std::path::Path;

use anyhow::Result;

use crate::config::{Config, Overrides, SourceConfig};
use crate::store::runs::Refusal;
use crate::store::Store;
use crate::trust::Policy;

/// Records `error` when it is a refusal by `policy`, of the command `kind`
/// of `source`, in `store`. Recording is best effort: a store that cannot
/// take the row is a warning, and `error` stays the command's error.
pub fn record(
    store: &Store,
    kind: &str,
    source: &str,
    plugin_sha256: Option<&str>,
    policy: Option<&Policy>,
    error: &anyhow::Error,
) {
    let (Some(rule), Some(policy)) = (crate::error::policy_rule(error), policy) else {
        return;
    };
    // One line: several violations are one refusal.
    let message = format!("{error:#}").replace('\n', "; ");
    log(kind, source, &policy.sha256, rule, &message);
    let refusal = Refusal {
        kind,
        source,
        plugin_sha256,
        policy_sha256: &policy.sha256,
        rule,
        message: &message,
    };
    if let Err(err) = store.record_refusal(&refusal) {
        tracing::warn!("the policy refusal could not be recorded in the store: {err:#}");
    }
}

/// [`record`] in the store at `path`, opened (or created) for it.
pub fn record_at(
    path: &Path,
    kind: &str,
    source: &str,
    policy: Option<&Policy>,
    error: &anyhow::Error,
) {
    let (Some(rule), Some(policy)) = (crate::error::policy_rule(error), policy) else {
        return;
    };
    match Store::open(path) {
        Ok(store) => record(&store, kind, source, None, Some(policy), error),
        Err(err) => {
            let message = format!("{error:#}").replace('\n', "; ");
            log(kind, source, &policy.sha256, rule, &message);
            tracing::warn!("the policy refusal is not recorded: no store: {err:#}");
        }
    }
}

/// `config.source(name)` for a pull (`pull`, `watch`) whose store is at
/// `store_path`, a refusal by the policy recorded there first.
pub fn pull_source(
    config: &Config,
    store_path: &Path,
    name: &str,
    overrides: &Overrides,
) -> Result<SourceConfig> {
    config
        .source(name, overrides)
        .inspect_err(|err| record_at(store_path, "pull", name, config.policy.as_deref(), err))
}

/// The `policy refusal` event of the log.
pub fn log(kind: &str, source: &str, policy_sha256: &str, rule: &str, message: &str) {
    tracing::warn!(
        kind,
        source,
        policy_sha256,
        policy_rule = rule,
        refusal = message,
        "policy refusal"
    );
}
