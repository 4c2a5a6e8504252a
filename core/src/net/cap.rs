//! The administrator's `allowed_hosts` (see [`crate::trust::policy`]):
//! patterns that every source's allowlist and `base_url` must fit in.
//! Checked when a config is loaded ([`HostCap::uncovered`]: the source is
//! refused before any request) and again on every request, redirect hop
//! and blob download ([`HostCap::allows`], through [`super::HostPolicy`]).
//!
//! A pattern is written as an `allowed_hosts` entry is,
//! `[scheme://]HOST[:PORT|:*]`, and HOST may also be `*.DOMAIN`:
//! - `http://` or `https://` allows that scheme only; no scheme allows both;
//! - HOST is a DNS name (case and a trailing dot ignored) or an IP literal
//!   (`127.0.0.1`, `[::1]`; other spellings of an address, `2130706433`,
//!   are normalised first, as URLs are), matched whole;
//! - `*.DOMAIN` matches every name that ends in `.DOMAIN`, at any depth
//!   (`*.atlassian.net`: `acme.atlassian.net`, `a.b.atlassian.net`), and not
//!   DOMAIN itself nor `evilatlassian.net`; DOMAIN has two labels at least
//!   (`*.net` is refused), and `*` appears nowhere else;
//! - no port allows the scheme's default port (80 for http, 443 for
//!   https), `:PORT` that port, `:*` every port.
//!
//! A config entry fits when every origin it allows is allowed by some
//! pattern: `example.com` (http on 80 and https on 443) needs both;
//! `host:*` needs a pattern with `:*` for each scheme it allows.

use url::Host;

use super::policy::{parse_entry, Entry, Origin, Ports, Scheme};

/// The patterns, and the policy line that set them (for messages).
#[derive(Debug, Clone)]
pub struct HostCap {
    patterns: Vec<Pattern>,
    /// `policy PATH line N (allowed_hosts = [...])`.
    pub rule: String,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// For a `*.DOMAIN` pattern, the host is DOMAIN.
    entry: Entry,
    wildcard: bool,
}

impl Pattern {
    fn parse(written: &str) -> Result<Pattern, String> {
        let bad = |why: &str| format!("host pattern `{written}`: {why}");
        let trimmed = written.trim();
        let (scheme, rest) = match trimmed.split_once("://") {
            Some((scheme, rest)) => (format!("{scheme}://"), rest),
            None => (String::new(), trimmed),
        };
        let (rest, wildcard) = match rest.strip_prefix("*.") {
            Some(domain) => (domain, true),
            None => (rest, false),
        };
        if rest.strip_suffix(":*").unwrap_or(rest).contains('*') {
            return Err(bad(
                "`*` may only start the host (`*.example.com`) or be the port",
            ));
        }
        let entry = parse_entry(&format!("{scheme}{rest}")).map_err(|why| bad(&why))?;
        if wildcard {
            match &entry.host {
                Host::Domain(domain) if domain.contains('.') => {}
                Host::Domain(_) => return Err(bad("`*.` needs a domain of two labels at least")),
                _ => return Err(bad("`*.` applies to domain names, not addresses")),
            }
        }
        Ok(Pattern { entry, wildcard })
    }

    fn host_matches(&self, host: &Host<String>) -> bool {
        match (self.wildcard, host, &self.entry.host) {
            (false, host, own) => host == own,
            (true, Host::Domain(name), Host::Domain(domain)) => name
                .strip_suffix(domain.as_str())
                .is_some_and(|label| label.len() > 1 && label.ends_with('.')),
            (true, ..) => false,
        }
    }

    /// Whether this pattern allows `scheme` to `host` on `ports` (never
    /// [`Ports::Default`]: see [`pieces`]).
    fn covers(&self, scheme: Scheme, host: &Host<String>, ports: Ports) -> bool {
        let port_ok = match (self.entry.ports, ports) {
            (Ports::Any, _) => true,
            (_, Ports::Any) => false,
            (Ports::Only(own), Ports::Only(port)) => own == port,
            (Ports::Default, Ports::Only(port)) => port == scheme.default_port(),
            (_, Ports::Default) => false,
        };
        port_ok && self.entry.scheme.is_none_or(|own| own == scheme) && self.host_matches(host)
    }
}

/// What an entry allows, one scheme at a time, its default port written out.
fn pieces(entry: &Entry) -> Vec<(Scheme, Ports)> {
    let schemes = match entry.scheme {
        Some(scheme) => vec![scheme],
        None => vec![Scheme::Http, Scheme::Https],
    };
    schemes
        .into_iter()
        .map(|scheme| {
            let ports = match entry.ports {
                Ports::Default => Ports::Only(scheme.default_port()),
                other => other,
            };
            (scheme, ports)
        })
        .collect()
}

impl HostCap {
    /// The patterns of the policy line `rule`; a bad one is refused.
    pub fn new(patterns: &[String], rule: String) -> Result<HostCap, String> {
        let patterns = patterns
            .iter()
            .map(|p| Pattern::parse(p))
            .collect::<Result<_, _>>()?;
        Ok(HostCap { patterns, rule })
    }

    /// Whether a request to `origin` is allowed.
    pub(super) fn allows(&self, origin: &Origin) -> bool {
        self.patterns
            .iter()
            .any(|p| p.covers(origin.scheme, &origin.host, Ports::Only(origin.port)))
    }

    /// What the `allowed_hosts` entry `entry` allows that no pattern does,
    /// as `scheme://host:port` (or `:*`); `None` when it fits. An entry that
    /// does not parse is refused as the config's own check refuses it.
    pub fn uncovered(&self, entry: &str) -> Result<Option<String>, String> {
        let entry = parse_entry(entry)?;
        Ok(pieces(&entry).into_iter().find_map(|(scheme, ports)| {
            let fits = self
                .patterns
                .iter()
                .any(|p| p.covers(scheme, &entry.host, ports));
            let port = match ports {
                Ports::Only(port) => port.to_string(),
                _ => "*".to_string(),
            };
            (!fits).then(|| format!("{}://{}:{port}", scheme.name(), entry.host))
        }))
    }

    /// [`HostCap::uncovered`] for the origin of a URL (a `base_url`).
    pub fn uncovered_url(&self, url: &str) -> Option<String> {
        let origin = url::Url::parse(url).ok().and_then(|url| Origin::of(&url))?;
        (!self.allows(&origin))
            .then(|| format!("{}://{}:{}", origin.scheme.name(), origin.host, origin.port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(patterns: &[&str]) -> HostCap {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        HostCap::new(&patterns, "policy p line 1".into()).unwrap()
    }

    fn fits(cap: &HostCap, entry: &str) -> bool {
        cap.uncovered(entry).unwrap().is_none()
    }

    #[test]
    fn wildcards_match_subdomains_only() {
        let c = cap(&["https://*.atlassian.net"]);
        assert!(fits(&c, "https://acme.atlassian.net"));
        assert!(fits(&c, "https://a.b.atlassian.net:443"));
        assert!(fits(&c, "https://ACME.atlassian.net."));
        assert!(!fits(&c, "https://atlassian.net"));
        assert!(!fits(&c, "https://evilatlassian.net"));
        assert!(!fits(&c, "https://acme.atlassian.net.evil.com"));
        // A bare entry allows http too, which the pattern does not.
        assert_eq!(
            c.uncovered("acme.atlassian.net").unwrap().as_deref(),
            Some("http://acme.atlassian.net:80")
        );
        assert!(!fits(&c, "https://acme.atlassian.net:8443"));
        assert!(!fits(&c, "https://acme.atlassian.net:*"));
    }

    #[test]
    fn ports_and_schemes_must_fit() {
        let c = cap(&["127.0.0.1:*", "api.github.com"]);
        assert!(fits(&c, "127.0.0.1:8080"));
        assert!(fits(&c, "http://127.0.0.1:*"));
        assert!(fits(&c, "api.github.com"));
        assert!(fits(&c, "https://api.github.com"));
        assert!(!fits(&c, "api.github.com:*"));
        assert!(!fits(&c, "https://api.github.com:8443"));
        assert!(!fits(&c, "localhost:8080"));
        assert!(!fits(&c, "127.0.0.2"));
        // Other spellings of an address are the address.
        assert!(fits(&c, "http://2130706433:9000"));
        assert_eq!(c.uncovered_url("http://127.0.0.1:9/x"), None);
        assert_eq!(
            c.uncovered_url("https://github.com/x").as_deref(),
            Some("https://github.com:443")
        );
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in [
            "*.net",
            "*.127.0.0.1",
            "a*.example.com",
            "ftp://x.org",
            "x.org/p",
        ] {
            assert!(
                HostCap::new(&[bad.to_string()], String::new()).is_err(),
                "{bad}"
            );
        }
    }
}
