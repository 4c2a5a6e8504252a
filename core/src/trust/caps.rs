//! The administrator's policy applied to one source: its hosts and limits
//! against the policy's `allowed_hosts` and `[limits]`, and what the
//! policy decides that the config cannot (blobs, mirrors, proxy). One
//! evaluation, [`evaluate`], serves both the refusal of a config that asks
//! for more (exit 2, naming the policy line and the config entry) and
//! `synchost policy explain`, so what is explained is what is enforced.

use super::policy::Policy;
use crate::config::{LimitsSection, Overrides, SourceSection};

/// Where a source's values were written, to name them in messages.
pub enum Written<'a> {
    /// `[sources.NAME]` of the config file `path`, whose text is `text`.
    Config {
        path: &'a str,
        text: &'a str,
        source: &'a str,
    },
    /// `pull --plugin` and `plugin check`: flags.
    CommandLine,
}

impl Written<'_> {
    /// How to name `key` of the source (`table`: `""` for the source's own
    /// table, `"limits"` or `"settings"` for its sub-tables).
    pub fn entry(&self, table: &str, key: &str) -> String {
        match self {
            Written::Config { path, text, source } => {
                let header = match table {
                    "" => format!("[sources.{source}]"),
                    table => format!("[sources.{source}.{table}]"),
                };
                match line_of(text, &header, key) {
                    Some(line) => format!("{path} line {line} ({header} {key})"),
                    None => format!("{path} ({header} {key})"),
                }
            }
            Written::CommandLine => match key {
                "allowed_hosts" => "--allow-host".into(),
                "base_url" => "--set base_url".into(),
                key => format!("the default {key}"),
            },
        }
    }
}

/// The line (1-based) of `key = …` in the table `header` of `text`.
fn line_of(text: &str, header: &str, key: &str) -> Option<usize> {
    let mut inside = false;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line.split('#').next().unwrap_or_default().trim() == header;
        } else if inside
            && line
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            return Some(number + 1);
        }
    }
    None
}

/// One rule of the policy as it applies to one source.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    /// The policy key: `allowed_hosts`, `limits.memory_mb`, `allow_blobs`, …
    pub key: String,
    /// The policy line (`policy PATH line N (…)`).
    pub rule: String,
    /// The config's value (`-`: not set), and where it was written.
    pub config: String,
    /// The value that applies.
    pub effective: String,
    /// Why the effective value is what it is.
    pub why: String,
    /// The refusal, naming the policy line and the config entry.
    pub violation: Option<String>,
}

/// The values the policy changes: absent ones bounded.
#[derive(Debug, Clone, Default)]
pub struct Capped {
    pub page_size: Option<u32>,
    pub concurrency: Option<u32>,
    pub requests_per_second: Option<f64>,
    pub limits: LimitsSection,
}

/// Applies `policy` to source `name` as `section` and `overrides` ask for
/// it: every rule that applies, and the values to run with.
pub fn evaluate(
    policy: &Policy,
    name: &str,
    section: &SourceSection,
    written: &Written,
    overrides: &Overrides,
    env_page_size: Option<u32>,
) -> (Vec<Check>, Capped) {
    let mut checks = Vec::new();
    if let Some(cap) = &policy.allowed_hosts {
        checks.extend(host_checks(cap, name, section, written));
    }
    let mut capped = Capped {
        limits: section.limits.clone(),
        ..Capped::default()
    };
    // Values the command line may override, with where each came from.
    let page_size = match (overrides.page_size, env_page_size, section.page_size) {
        (Some(n), ..) => Some((n, "--page-size".to_string())),
        (None, Some(n), _) => Some((n, "SYNCHOST_PAGE_SIZE".to_string())),
        (None, None, n) => n.map(|n| (n, written.entry("", "page_size"))),
    };
    let concurrency = match (overrides.concurrency, section.concurrency) {
        (Some(n), _) => Some((n, "--concurrency".to_string())),
        (None, n) => n.map(|n| (n, written.entry("", "concurrency"))),
    };
    let rps = section
        .requests_per_second
        .map(|n| (n, written.entry("", "requests_per_second")));
    let bound = |key: &str, value: Option<(f64, String)>, default: Option<f64>| {
        let limit = *policy.limits.get(key)?;
        Some(limit_check(policy, name, key, limit, value, default))
    };
    for (key, asked, default, slot) in [
        (
            "page_size",
            page_size,
            crate::config::DEFAULT_PAGE_SIZE,
            &mut capped.page_size,
        ),
        (
            "concurrency",
            concurrency,
            crate::config::DEFAULT_CONCURRENCY,
            &mut capped.concurrency,
        ),
    ] {
        let asked = asked.map(|(n, at)| (f64::from(n), at));
        if let Some((check, value)) = bound(key, asked, Some(default.into())) {
            *slot = value.map(|v| v as u32);
            checks.push(check);
        }
    }
    if let Some((check, value)) = bound("requests_per_second", rps, None) {
        capped.requests_per_second = value;
        checks.push(check);
    }
    for (key, slot, default) in capped.limits.fields_mut() {
        let value = slot.map(|v| (v as f64, written.entry("limits", key)));
        if let Some((check, value)) = bound(key, value, Some(default as f64)) {
            *slot = value.map(|v| v as u64);
            checks.push(check);
        }
    }
    if !policy.allow_blobs {
        checks.push(Check {
            key: "allow_blobs".into(),
            rule: policy.rule("allow_blobs"),
            config: "-".into(),
            effective: "false".into(),
            why: "no blob is downloaded: a record that references one stops the pull".into(),
            violation: None,
        });
    }
    if !policy.allow_mirrors {
        checks.push(Check {
            key: "allow_mirrors".into(),
            rule: policy.rule("allow_mirrors"),
            config: "-".into(),
            effective: "false".into(),
            why: "`export --out DIR` and `push --from DIR` are refused".into(),
            violation: None,
        });
    }
    if let Some(proxy) = &policy.proxy {
        checks.push(Check {
            key: "proxy".into(),
            rule: policy.rule("proxy"),
            config: "-".into(),
            effective: proxy.shown().to_string(),
            why: "every request goes through it; HTTPS_PROXY, HTTP_PROXY and NO_PROXY are \
                  ignored"
                .into(),
            violation: None,
        });
    }
    (checks, capped)
}

/// `key`'s check against the bound `limit`: the value asked for (and where)
/// above it is a violation; an absent one takes min(default, bound).
/// Returns the check and the value to run with (`None`: unlimited).
fn limit_check(
    policy: &Policy,
    name: &str,
    key: &str,
    limit: f64,
    value: Option<(f64, String)>,
    default: Option<f64>,
) -> (Check, Option<f64>) {
    let rule = policy.rule(key);
    let shown = |v: f64| format!("{v}");
    let mut check = Check {
        key: format!("limits.{key}"),
        rule: rule.clone(),
        config: "-".into(),
        effective: shown(limit),
        why: String::new(),
        violation: None,
    };
    let effective = match value {
        Some((asked, at)) => {
            check.config = format!("{} ({at})", shown(asked));
            if asked > limit {
                check.effective = "refused".into();
                check.why = format!("above the bound {}", shown(limit));
                check.violation = Some(format!(
                    "source `{name}`: {key} = {} ({at}) is above the bound {} of {rule}",
                    shown(asked),
                    shown(limit)
                ));
                None
            } else {
                check.effective = shown(asked);
                check.why = format!("within the bound {}", shown(limit));
                Some(asked)
            }
        }
        None => {
            let effective = default.map_or(limit, |default| default.min(limit));
            check.effective = shown(effective);
            check.why = match default {
                Some(default) => format!(
                    "not set: the lower of the default {} and the bound {}",
                    shown(default),
                    shown(limit)
                ),
                None => format!("not set (unlimited): the bound {}", shown(limit)),
            };
            Some(effective)
        }
    };
    (check, effective)
}

/// The source's `allowed_hosts` entries and its `base_url` against the
/// policy's patterns.
fn host_checks(
    cap: &crate::net::HostCap,
    name: &str,
    section: &SourceSection,
    written: &Written,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut check = |key: &str, value: &str, at: String, outside: Option<String>| {
        let violation = outside.as_ref().map(|outside| {
            format!(
                "source `{name}`: {key} `{value}` ({at}) allows {outside}, which {} does not",
                cap.rule
            )
        });
        checks.push(Check {
            key: "allowed_hosts".into(),
            rule: cap.rule.clone(),
            config: format!("{key} `{value}` ({at})"),
            effective: if outside.is_some() {
                "refused".into()
            } else {
                value.to_string()
            },
            why: match &outside {
                Some(outside) => format!("{outside} is outside every pattern"),
                None => "every origin it allows fits a pattern".into(),
            },
            violation,
        });
    };
    for entry in section.allowed_hosts.iter().flatten() {
        let outside = cap
            .uncovered(&entry.to_ascii_lowercase())
            .unwrap_or_else(Some);
        check(
            "allowed_hosts entry",
            entry,
            written.entry("", "allowed_hosts"),
            outside,
        );
    }
    if let Some(toml::Value::String(base_url)) = section.settings.get("base_url") {
        check(
            "base_url",
            base_url,
            written.entry("settings", "base_url"),
            cap.uncovered_url(base_url),
        );
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lines_are_found_in_their_table() {
        let text = "[sources.a]\nplugin = \"a.wasm\"\nconcurrency = 9\n\
                    [sources.b]\nconcurrency = 3\n[sources.b.limits]\nmemory_mb = 64 # mine\n";
        let written = |source| Written::Config {
            path: "s.toml",
            text,
            source,
        };
        assert_eq!(
            written("b").entry("", "concurrency"),
            "s.toml line 5 ([sources.b] concurrency)"
        );
        assert_eq!(
            written("a").entry("", "concurrency"),
            "s.toml line 3 ([sources.a] concurrency)"
        );
        assert_eq!(
            written("b").entry("limits", "memory_mb"),
            "s.toml line 7 ([sources.b.limits] memory_mb)"
        );
        assert_eq!(
            written("a").entry("limits", "memory_mb"),
            "s.toml ([sources.a.limits] memory_mb)"
        );
    }
}
