//! The allowlist: which URLs a source's plugin (and its blob references) may reach.

use url::{Host, Url};

/// The hosts one source may reach. Entries are host names or IP literals,
/// optionally with `:port`; without a port, any port of that host matches.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    allowed: Vec<(Host<String>, Option<u16>)>,
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
        let allowed = self.allowed.iter().any(|(allowed, allowed_port)| {
            *allowed == host && allowed_port.is_none_or(|p| Some(p) == port)
        });
        if allowed {
            Ok(())
        } else {
            Err(format!(
                "host `{host}` is not in this source's allowed_hosts"
            ))
        }
    }

    /// The allowed entries, for messages.
    pub fn describe(&self) -> String {
        self.allowed
            .iter()
            .map(|(host, port)| match port {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn parse_entry(entry: &str) -> Result<(Host<String>, Option<u16>), String> {
    let url = Url::parse(&format!("http://{}/", entry.trim()))
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
    Ok((normalize(host), url.port()))
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
    fn allows_listed_hosts_on_any_port() {
        let p = policy(&["example.com", "127.0.0.1"]);
        assert!(p.check("https://EXAMPLE.com/x").is_ok());
        assert!(p.check("http://127.0.0.1:8080/items").is_ok());
        assert!(p.check("http://example.org/").is_err());
    }

    #[test]
    fn port_entries_pin_the_port() {
        let p = policy(&["127.0.0.1:8080"]);
        assert!(p.check("http://127.0.0.1:8080/").is_ok());
        assert!(p.check("http://127.0.0.1:8081/").is_err());
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
