//! The allowlist and the credential's binding: which URLs a source's plugin
//! (and its blob references, and every redirect hop) may reach, and which of
//! them get the credential. [`HostPolicy::admit`] is the one place that
//! decides both, for every request path.

use std::sync::Arc;

use url::{Host, Url};

use super::cap::HostCap;

/// The origins one source may reach, and where its credential goes.
///
/// Entries are `[scheme://]host[:port|:*]`, host names or IP literals:
/// - `https://host` is https on 443, `http://host` http on 80,
///   `https://host:8443` that port, `https://host:*` every port, with that
///   scheme only;
/// - without a scheme (older configs): `host` is http on 80 and https on
///   443, `host:port` either scheme on that port, `host:*` every port.
///
/// The credential is bound to origins (scheme, host, port): it goes over
/// https to any allowed URL, and over plain http only to the origin of an
/// http `base_url` (a local service). A host bound to https (an `https://`
/// entry, or the host of an https `base_url`) is never reached over plain
/// http at all: such a request, or a redirect to one, is denied.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    allowed: Vec<Entry>,
    /// The origin of `base_url`, when it is a URL.
    base: Option<Origin>,
    /// The administrator's `allowed_hosts`, checked again on every request
    /// (the config was checked against it when loaded: defence in depth).
    cap: Option<Arc<HostCap>>,
}

/// What [`HostPolicy::admit`] allows for one URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// Whether the request carries the credential.
    pub credential: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub(super) fn of(url: &Url) -> Option<Scheme> {
        match url.scheme() {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            _ => None,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    pub(super) fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// (scheme, host, port), the host normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Origin {
    pub(super) scheme: Scheme,
    pub(super) host: Host<String>,
    pub(super) port: u16,
}

impl Origin {
    pub(super) fn of(url: &Url) -> Option<Origin> {
        let scheme = Scheme::of(url)?;
        Some(Origin {
            scheme,
            host: normalize(url.host()?.to_owned()),
            port: url.port_or_known_default()?,
        })
    }
}

/// One allowlist entry.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// `None`: an entry written without a scheme.
    pub(super) scheme: Option<Scheme>,
    pub(super) host: Host<String>,
    pub(super) ports: Ports,
}

/// The ports an entry allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ports {
    /// No port written: the scheme's default port (80 for http, 443 for https).
    Default,
    /// `host:port`.
    Only(u16),
    /// `host:*`.
    Any,
}

impl Entry {
    fn allows(&self, origin: &Origin) -> bool {
        self.host == origin.host
            && self.scheme.is_none_or(|scheme| scheme == origin.scheme)
            && match self.ports {
                Ports::Default => origin.port == origin.scheme.default_port(),
                Ports::Only(port) => origin.port == port,
                Ports::Any => true,
            }
    }
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(scheme) = self.scheme {
            write!(f, "{}://", scheme.name())?;
        }
        write!(f, "{}", self.host)?;
        match self.ports {
            Ports::Default => Ok(()),
            Ports::Only(port) => write!(f, ":{port}"),
            Ports::Any => write!(f, ":*"),
        }
    }
}

impl HostPolicy {
    /// A policy of `entries` alone: the credential never goes over plain http.
    pub fn new(entries: &[String]) -> Result<HostPolicy, String> {
        HostPolicy::with_base_url(entries, None)
    }

    /// A policy of `entries` for a source whose `base_url` setting is
    /// `base_url`: an http base_url's origin may get the credential over
    /// plain http; an https one's host is never reached over plain http.
    pub fn with_base_url(entries: &[String], base_url: Option<&str>) -> Result<HostPolicy, String> {
        let allowed = entries
            .iter()
            .map(|entry| parse_entry(entry))
            .collect::<Result<_, _>>()?;
        let base = base_url
            .and_then(|url| Url::parse(url).ok())
            .and_then(|url| Origin::of(&url));
        Ok(HostPolicy {
            allowed,
            base,
            cap: None,
        })
    }

    /// This policy under the administrator's `allowed_hosts` as well.
    pub fn capped(mut self, cap: Option<Arc<HostCap>>) -> HostPolicy {
        self.cap = cap;
        self
    }

    /// Parses and checks `url` (see [`HostPolicy::admit`]).
    pub fn check(&self, url: &str) -> Result<(Url, Admission), String> {
        let parsed =
            Url::parse(url).map_err(|err| format!("invalid URL `{}`: {err}", clip(url)))?;
        let admission = self.admit(&parsed)?;
        Ok((parsed, admission))
    }

    /// Decides whether `url` may be reached and whether it gets the
    /// credential: for plugin requests, batches, blob downloads and every
    /// redirect hop alike. URLs are parsed the WHATWG way, so
    /// `http://2130706433/` is `127.0.0.1` and is matched as such; user info
    /// in a URL is refused outright.
    pub fn admit(&self, url: &Url) -> Result<Admission, String> {
        let Some(scheme) = Scheme::of(url) else {
            return Err(format!(
                "scheme `{}` is not allowed (http and https only)",
                url.scheme()
            ));
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err("URLs with user info are not allowed".to_string());
        }
        let origin = Origin::of(url).ok_or_else(|| "URL has no host".to_string())?;
        let host = &origin.host;
        if scheme == Scheme::Http && self.https_bound(host) {
            return Err(format!(
                "`{host}` is bound to https (its base_url or an `https://` entry in \
                 allowed_hosts); plain http to it is refused so the credential never \
                 travels in cleartext"
            ));
        }
        if let Some(cap) = self.cap.as_ref().filter(|cap| !cap.allows(&origin)) {
            return Err(format!(
                "`{}://{host}:{}` is outside the hosts {} allows",
                scheme.name(),
                origin.port,
                cap.rule
            ));
        }
        if self.allowed.iter().any(|entry| entry.allows(&origin)) {
            let credential = scheme == Scheme::Https
                || self
                    .base
                    .as_ref()
                    .is_some_and(|base| base.scheme == Scheme::Http && *base == origin);
            return Ok(Admission { credential });
        }
        let written = format!("{}://{host}:{}", scheme.name(), origin.port);
        let same_host: Vec<String> = self
            .allowed
            .iter()
            .filter(|entry| entry.host == *host)
            .map(Entry::to_string)
            .collect();
        if same_host.is_empty() {
            Err(format!(
                "host `{host}` is not in this source's allowed_hosts"
            ))
        } else {
            Err(format!(
                "`{written}` is not in this source's allowed_hosts (entries for `{host}`: {}); \
                 add `{host}:{port}` (or `{host}:*`)",
                same_host.join(", "),
                port = origin.port,
            ))
        }
    }

    /// True when `host` must only be reached over https.
    fn https_bound(&self, host: &Host<String>) -> bool {
        let base = self
            .base
            .as_ref()
            .is_some_and(|base| base.scheme == Scheme::Https && base.host == *host);
        base || self
            .allowed
            .iter()
            .any(|entry| entry.scheme == Some(Scheme::Https) && entry.host == *host)
    }

    /// The allowed entries, for messages.
    pub fn describe(&self) -> String {
        self.allowed
            .iter()
            .map(Entry::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub(super) fn parse_entry(entry: &str) -> Result<Entry, String> {
    let trimmed = entry.trim();
    let (scheme, rest) = match trimmed.split_once("://") {
        Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
            "http" => (Some(Scheme::Http), rest),
            "https" => (Some(Scheme::Https), rest),
            _ => {
                return Err(format!(
                    "allowed host `{entry}` has scheme `{scheme}`; only http and https are allowed"
                ))
            }
        },
        None => (None, trimmed),
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (rest, any_port) = match rest.strip_suffix(":*") {
        Some(host) => (host, true),
        None => (rest, false),
    };
    let url = Url::parse(&format!("http://{rest}/"))
        .map_err(|err| format!("allowed host `{entry}` is invalid: {err}"))?;
    let host = url
        .host()
        .ok_or_else(|| format!("allowed host `{entry}` has no host"))?
        .to_owned();
    if url.path() != "/" || !url.username().is_empty() || url.query().is_some() {
        return Err(format!(
            "allowed host `{entry}` must be `[http(s)://]host[:port]`, without a path"
        ));
    }
    // Whether a port was written: `url` drops one equal to http's default.
    let written_port = match rest.strip_prefix('[') {
        Some(ipv6) => ipv6.contains("]:"),
        None => rest.contains(':'),
    };
    let ports = match (any_port, written_port) {
        (true, true) => {
            return Err(format!(
                "allowed host `{entry}` has two ports; write `host`, `host:port` or `host:*`"
            ))
        }
        (true, false) => Ports::Any,
        (false, true) => Ports::Only(url.port().unwrap_or(80)),
        (false, false) => Ports::Default,
    };
    Ok(Entry {
        scheme,
        host: normalize(host),
        ports,
    })
}

/// IPv4-mapped IPv6 addresses compare as their IPv4 form.
fn normalize(host: Host<String>) -> Host<String> {
    match host {
        Host::Domain(domain) => Host::Domain(domain.trim_end_matches('.').to_ascii_lowercase()),
        Host::Ipv6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => Host::Ipv4(v4),
            None => Host::Ipv6(ip),
        },
        ip => ip,
    }
}

fn clip(text: &str) -> &str {
    let end = text.char_indices().nth(200).map_or(text.len(), |(i, _)| i);
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(entries: &[&str]) -> HostPolicy {
        with_base(entries, None)
    }

    fn with_base(entries: &[&str], base_url: Option<&str>) -> HostPolicy {
        let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        HostPolicy::with_base_url(&entries, base_url).unwrap()
    }

    /// Whether `url` is allowed, and with the credential.
    fn verdict(p: &HostPolicy, url: &str) -> Option<bool> {
        p.check(url).ok().map(|(_, admission)| admission.credential)
    }

    #[test]
    fn a_bare_host_allows_the_default_ports_only() {
        let p = policy(&["example.com", "127.0.0.1"]);
        assert!(p.check("https://EXAMPLE.com/x").is_ok());
        assert!(p.check("http://example.com/x").is_ok());
        assert!(p.check("http://example.org/").is_err());
        let err = p.check("http://127.0.0.1:8080/items").unwrap_err();
        assert!(
            err.contains("add `127.0.0.1:8080`") && err.contains("127.0.0.1:*"),
            "{err}"
        );
        assert!(p.check("https://example.com:8443/").is_err());
        // Each scheme on its own default port only.
        assert!(p.check("http://example.com:443/").is_err());
        assert!(p.check("https://example.com:80/").is_err());
    }

    #[test]
    fn a_star_allows_every_port() {
        let p = policy(&["127.0.0.1:*"]);
        assert!(p.check("http://127.0.0.1:8080/items").is_ok());
        assert!(p.check("http://127.0.0.1/items").is_ok());
        assert_eq!(p.describe(), "127.0.0.1:*");
        assert!(HostPolicy::new(&["127.0.0.1:80:*".to_string()]).is_err());
    }

    #[test]
    fn port_entries_pin_the_port() {
        let p = policy(&["127.0.0.1:8080"]);
        assert!(p.check("http://127.0.0.1:8080/").is_ok());
        assert!(p.check("http://127.0.0.1:8081/").is_err());
        assert!(p.check("http://127.0.0.1/").is_err());
        // The scheme's default port, written out, is that port alone.
        let p = policy(&["example.com:80"]);
        assert!(p.check("http://example.com/").is_ok());
        assert!(p.check("https://example.com/").is_err());
    }

    #[test]
    fn scheme_entries_pin_the_scheme() {
        let p = policy(&[
            "https://example.com",
            "http://127.0.0.1:8080",
            "https://api.example.org:*",
        ]);
        assert_eq!(
            p.describe(),
            "https://example.com, http://127.0.0.1:8080, https://api.example.org:*"
        );
        assert!(p.check("https://example.com/").is_ok());
        assert!(p.check("https://example.com:8443/").is_err());
        assert!(p.check("http://127.0.0.1:8080/").is_ok());
        assert!(p.check("https://127.0.0.1:8080/").is_err());
        assert!(p.check("https://api.example.org:9000/").is_ok());
        assert!(HostPolicy::new(&["ftp://example.com".to_string()]).is_err());
        assert!(HostPolicy::new(&["https://example.com/path".to_string()]).is_err());
    }

    /// The reported hole: `base_url = https://host` allowed
    /// `http://host:443/`, and the credential went with it in cleartext.
    #[test]
    fn an_https_host_is_never_reached_over_http() {
        // The default entry for an https base_url.
        let p = with_base(
            &["https://wiki.example.com:443"],
            Some("https://wiki.example.com/wiki"),
        );
        assert_eq!(verdict(&p, "https://wiki.example.com/x"), Some(true));
        for url in [
            "http://wiki.example.com:443/",
            "http://wiki.example.com/",
            "http://WIKI.example.com.:8080/",
        ] {
            let err = p.check(url).unwrap_err();
            assert!(err.contains("bound to https"), "{url}: {err}");
        }
        // Older bare entries still allow http to other hosts, never to the
        // base_url's host, and never with the credential.
        let p = with_base(
            &["wiki.example.com", "cdn.example.com"],
            Some("https://wiki.example.com"),
        );
        assert_eq!(verdict(&p, "http://wiki.example.com/"), None);
        assert_eq!(verdict(&p, "http://cdn.example.com/"), Some(false));
        assert_eq!(verdict(&p, "https://cdn.example.com/"), Some(true));
        // An `https://` entry binds its host without any base_url.
        let p = policy(&["https://api.example.com", "api.example.com:8080"]);
        assert!(p
            .check("http://api.example.com:8080/")
            .unwrap_err()
            .contains("bound to https"));
    }

    #[test]
    fn cleartext_credentials_go_to_an_http_base_url_only() {
        let base = Some("http://127.0.0.1:8080/api");
        let p = with_base(&["127.0.0.1:*", "http://other.test"], base);
        assert_eq!(verdict(&p, "http://127.0.0.1:8080/items"), Some(true));
        assert_eq!(verdict(&p, "http://127.0.0.1:9090/items"), Some(false));
        assert_eq!(verdict(&p, "https://127.0.0.1:9090/items"), Some(true));
        assert_eq!(verdict(&p, "http://other.test/"), Some(false));
        // Without a base_url, never over http.
        assert_eq!(
            verdict(&policy(&["127.0.0.1:8080"]), "http://127.0.0.1:8080/"),
            Some(false)
        );
    }

    /// Defence in depth: a source whose allowlist is wider than the
    /// administrator's patterns (which a loaded config never is) still
    /// reaches only what both allow, redirects and blobs included.
    #[test]
    fn the_administrators_cap_holds_on_every_request() {
        let cap = HostCap::new(
            &[
                "127.0.0.1:8080".to_string(),
                "https://*.example.com".to_string(),
            ],
            "policy /p line 1 (allowed_hosts = [...])".into(),
        )
        .unwrap();
        let p = policy(&["127.0.0.1:*", "a.example.com"]).capped(Some(Arc::new(cap)));
        assert!(p.check("http://127.0.0.1:8080/x").is_ok());
        assert!(p.check("https://a.example.com/x").is_ok());
        let err = p.check("http://127.0.0.1:9090/x").unwrap_err();
        assert!(
            err.contains("`http://127.0.0.1:9090` is outside the hosts policy /p line 1"),
            "{err}"
        );
        assert!(p.check("http://a.example.com/x").is_err());
        assert!(p.check("http://2130706433:9090/").is_err());
    }

    #[test]
    fn tricks_are_refused() {
        let p = policy(&["example.com"]);
        assert!(p.check("http://example.com@169.254.169.254/").is_err());
        assert!(p.check("http://user:pw@example.com/").is_err());
        assert!(p.check("file:///etc/passwd").is_err());
        assert!(p.check("http://example.com.evil.net/").is_err());
        let local = policy(&["127.0.0.1"]);
        // Decimal and hex notations are normalised before matching.
        assert!(local.check("http://2130706433/").is_ok());
        assert!(local.check("http://0x7f.0.0.1/").is_ok());
        assert!(local.check("http://[::ffff:127.0.0.1]/").is_ok());
        assert!(policy(&["example.com"])
            .check("http://2130706433/")
            .is_err());
    }
}
