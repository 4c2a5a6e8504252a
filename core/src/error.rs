//! Failures that end a command, classified into the documented exit codes.

use std::fmt;

/// Exit codes, documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// 1: the run failed or is incomplete (checkpoint kept).
    Failed,
    /// 2: usage or configuration error (nothing was attempted).
    Usage,
    /// 3: authentication failed.
    Auth,
    /// 130: interrupted by the user (checkpoint kept).
    Interrupted,
}

impl ExitKind {
    pub fn code(self) -> u8 {
        match self {
            ExitKind::Failed => 1,
            ExitKind::Usage => 2,
            ExitKind::Auth => 3,
            ExitKind::Interrupted => 130,
        }
    }
}

/// An error that carries its exit code. Anything else that reaches `main` is
/// treated as [`ExitKind::Failed`].
#[derive(Debug)]
pub struct Exit {
    pub kind: ExitKind,
    pub message: String,
    /// The administrator's policy line that refused the command, when it
    /// was a policy refusal (recorded in the audit trail).
    pub policy_rule: Option<String>,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

fn exit(kind: ExitKind, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Exit {
        kind,
        message: message.into(),
        policy_rule: None,
    })
}

/// A refusal by the administrator's policy line `rule` (exit 2): as
/// [`usage`], and recorded as such in `runs` (see [`policy_rule`]).
pub fn refused(rule: impl Into<String>, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Exit {
        kind: ExitKind::Usage,
        message: message.into(),
        policy_rule: Some(rule.into()),
    })
}

/// The policy line of a policy refusal ([`refused`]), if `error` is one.
pub fn policy_rule(error: &anyhow::Error) -> Option<&str> {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<Exit>())
        .and_then(|exit| exit.policy_rule.as_deref())
}

/// A usage or configuration error (exit 2).
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    exit(ExitKind::Usage, message)
}

/// An authentication failure (exit 3).
pub fn auth(message: impl Into<String>) -> anyhow::Error {
    exit(ExitKind::Auth, message)
}

/// A failed or incomplete run (exit 1).
pub fn failed(message: impl Into<String>) -> anyhow::Error {
    exit(ExitKind::Failed, message)
}

/// An interruption by the user (exit 130).
pub fn interrupted(message: impl Into<String>) -> anyhow::Error {
    exit(ExitKind::Interrupted, message)
}

/// The exit kind of any error: the outermost [`Exit`] in its chain, else `Failed`.
pub fn kind_of(error: &anyhow::Error) -> ExitKind {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<Exit>())
        .map_or(ExitKind::Failed, |exit| exit.kind)
}
