//! The settings given to `configure`.

use crate::Error;
use std::fmt::Display;
use std::str::FromStr;

/// The source's settings, as given to [`Source::configure`](crate::Source::configure)
/// (from `synchost.toml` or `--set`). They never hold secrets: the host adds
/// credentials to requests itself.
///
/// A value that is empty or only whitespace counts as absent. Every failure is
/// an [`Error::InvalidConfig`] naming the setting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pairs: Vec<(String, String)>,
}

impl Settings {
    /// Wraps the `(name, value)` pairs; when a name repeats, the last wins.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Settings { pairs }
    }

    /// The value of `name`, if present and not blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    /// The value of `name`, or `invalid-config` if it is absent.
    pub fn required(&self, name: &str) -> Result<&str, Error> {
        self.get(name)
            .ok_or_else(|| Error::InvalidConfig(format!("setting `{name}` is required")))
    }

    /// The value of `name`, or `default` if it is absent.
    pub fn get_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.get(name).unwrap_or(default)
    }

    /// The value of `name` parsed as `T`; `Ok(None)` if it is absent.
    pub fn parse<T>(&self, name: &str) -> Result<Option<T>, Error>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.get(name) {
            None => Ok(None),
            Some(raw) => raw.trim().parse().map(Some).map_err(|e| {
                Error::InvalidConfig(format!("setting `{name}`: invalid value `{raw}`: {e}"))
            }),
        }
    }

    /// The value of `name` parsed as `T`, or `default` if it is absent.
    pub fn parse_or<T>(&self, name: &str, default: T) -> Result<T, Error>
    where
        T: FromStr,
        T::Err: Display,
    {
        Ok(self.parse(name)?.unwrap_or(default))
    }

    /// The required setting `name` as a base URL: it must be an absolute
    /// `http://` or `https://` URL with a host and without query or fragment.
    /// Returned without trailing `/`, ready for `format!("{base}/items")`.
    pub fn url(&self, name: &str) -> Result<String, Error> {
        let raw = self.required(name)?.trim();
        let bad = |why: &str| {
            Error::InvalidConfig(format!("setting `{name}` must be {why}, got `{raw}`"))
        };
        let lower = raw.to_ascii_lowercase();
        let rest = if lower.starts_with("https://") {
            &raw[8..]
        } else if lower.starts_with("http://") {
            &raw[7..]
        } else {
            return Err(bad("an http:// or https:// URL"));
        };
        if rest.is_empty() || rest.starts_with('/') {
            return Err(bad("a URL with a host"));
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("a URL without spaces"));
        }
        if raw.contains(['?', '#']) {
            return Err(bad("a base URL without query or fragment"));
        }
        Ok(raw.trim_end_matches('/').to_owned())
    }

    /// All `(name, value)` pairs, as given.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl From<Vec<(String, String)>> for Settings {
    fn from(pairs: Vec<(String, String)>) -> Self {
        Settings::new(pairs)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Settings {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Settings::new(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(pairs: &[(&str, &str)]) -> Settings {
        pairs.iter().copied().collect()
    }

    fn config_msg(e: Error) -> String {
        match e {
            Error::InvalidConfig(m) => m,
            other => panic!("expected invalid-config, got {other:?}"),
        }
    }

    #[test]
    fn get_required_get_or() {
        let st = s(&[("a", "1"), ("blank", "  "), ("a", "2")]);
        assert_eq!(st.get("a"), Some("2"), "last wins");
        assert_eq!(st.get("blank"), None);
        assert_eq!(st.get("missing"), None);
        assert_eq!(st.required("a").unwrap(), "2");
        let msg = config_msg(st.required("blank").unwrap_err());
        assert!(msg.contains("`blank`") && msg.contains("required"), "{msg}");
        assert_eq!(st.get_or("missing", "d"), "d");
        assert_eq!(st.get_or("a", "d"), "2");
        assert_eq!(st.iter().count(), 3);
    }

    #[test]
    fn parse() {
        let st = s(&[("n", " 25 "), ("bad", "x"), ("flag", "true")]);
        assert_eq!(st.parse::<u32>("n").unwrap(), Some(25));
        assert_eq!(st.parse::<u32>("missing").unwrap(), None);
        assert!(st.parse::<bool>("flag").unwrap().unwrap());
        assert_eq!(st.parse_or::<u32>("missing", 7).unwrap(), 7);
        let msg = config_msg(st.parse::<u32>("bad").unwrap_err());
        assert!(msg.contains("`bad`") && msg.contains("`x`"), "{msg}");
    }

    #[test]
    fn url() {
        let ok = |v: &str| s(&[("base_url", v)]).url("base_url").unwrap();
        assert_eq!(ok("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(
            ok("https://api.example.com/v1/"),
            "https://api.example.com/v1"
        );
        assert_eq!(ok(" HTTPS://x.io// "), "HTTPS://x.io");
        for bad in [
            "ftp://x",
            "x.io",
            "http://",
            "https:///path",
            "http://a b",
            "http://x?q=1",
        ] {
            let msg = config_msg(s(&[("base_url", bad)]).url("base_url").unwrap_err());
            assert!(msg.contains("`base_url`"), "{msg}");
        }
        let msg = config_msg(Settings::default().url("base_url").unwrap_err());
        assert!(msg.contains("required"), "{msg}");
    }
}
