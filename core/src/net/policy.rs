//! The allowlist: which URLs a source's plugin (and its blob references) may reach.

use url::{Host, Url};

/// The hosts one source may reach. Entries are host names or IP literals:
/// `host` allows the default ports (80 for http, 443 for https), `host:port`
/// that port, and `host:*` every port. The credential goes wherever the
/// policy allows, so a bare host never lets it reach another service on
/// another port of the same machine.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    allowed: Vec<(Host<String>, Ports)>,
}

/// The ports an entry allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ports {
    /// `host`: 80 and 443.
    Default,
    /// `host:port`.
    Only(u16),
    /// `host:*`.
    Any,
}

impl Ports {
    fn allow(self, port: Option<u16>) -> bool {
        match self {
            Ports::Default => matches!(port, Some(80 | 443)),
            Ports::Only(allowed) => port == Some(allowed),
            Ports::Any => true,
        }
    }
}

impl HostPolicy {
    pub fn new(entries: &[String]) -> Result<HostPolicy, String> {
        let allowed = entries
            .iter()
            .map(|entry| parse_entry(entry))
            .collect::<Result<_, _>>()?;
        Ok(HostPolicy { allowed })
    }

    /// Checks `url`, returning the parsed URL or why it is refused. URLs are
    /// parsed the WHATWG way, so `http://2130706433/` is `127.0.0.1` and is
    /// matched as such; user info in a URL is refused outright.
    pub fn check(&self, url: &str) -> Result<Url, String> {
        let parsed =
            Url::parse(url).map_err(|err| format!("invalid URL `{}`: {err}", clip(url)))?;
        self.check_url(&parsed)?;
        Ok(parsed)
    }

    /// Checks an already parsed URL (redirect targets).
    pub fn check_url(&self, url: &Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "scheme `{}` is not allowed (http and https only)",
                url.scheme()
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("URLs with user info are not allowed".to_string());
        }
        let host = url
            .host()
            .ok_or_else(|| "URL has no host".to_string())?
            .to_owned();
        let host = normalize(host);
        let port = url.port_or_known_default();
        let entries: Vec<Ports> = self
            .allowed
            .iter()
            .filter(|(allowed, _)| *allowed == host)
            .map(|&(_, ports)| ports)
            .collect();
        if entries.iter().any(|ports| ports.allow(port)) {
            return Ok(());
        }
        let port = port.map_or(String::new(), |p| format!(":{p}"));
        if entries.is_empty() {
            Err(format!(
                "host `{host}` is not in this source's allowed_hosts"
            ))
        } else {
            Err(format!(
                "`{host}{port}` is not in this source's allowed_hosts: an entry \
                 `{host}` allows ports 80 and 443 only; add `{host}{port}` (or `{host}:*`)"
            ))
        }
    }

    /// The allowed entries, for messages.
    pub fn describe(&self) -> String {
        self.allowed
            .iter()
            .map(|(host, ports)| match ports {
                Ports::Default => host.to_string(),
                Ports::Only(port) => format!("{host}:{port}"),
                Ports::Any => format!("{host}:*"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn parse_entry(entry: &str) -> Result<(Host<String>, Ports), String> {
    let trimmed = entry.trim();
    let (trimmed, any_port) = match trimmed.strip_suffix(":*") {
        Some(host) => (host, true),
        None => (trimmed, false),
    };
    let url = Url::parse(&format!("http://{trimmed}/"))
        .map_err(|err| format!("allowed host `{entry}` is invalid: {err}"))?;
    let host = url
        .host()
        .ok_or_else(|| format!("allowed host `{entry}` has no host"))?
        .to_owned();
    if url.path() != "/" || !url.username().is_empty() {
        return Err(format!(
            "allowed host `{entry}` must be a host name, optionally with :port"
        ));
    }
    // Whether a port was written: `url` drops one equal to http's default.
    let written_port = match trimmed.strip_prefix('[') {
        Some(ipv6) => ipv6.contains("]:"),
        None => trimmed.contains(':'),
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
    Ok((normalize(host), ports))
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
        HostPolicy::new(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn a_bare_host_allows_the_default_ports_only() {
        let p = policy(&["example.com", "127.0.0.1"]);
        assert!(p.check("https://EXAMPLE.com/x").is_ok());
        assert!(p.check("http://example.com/x").is_ok());
        assert!(p.check("http://example.org/").is_err());
        let err = p.check("http://127.0.0.1:8080/items").unwrap_err();
        assert!(
            err.contains("`127.0.0.1:8080`") && err.contains("127.0.0.1:*"),
            "{err}"
        );
        assert!(p.check("https://example.com:8443/").is_err());
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
