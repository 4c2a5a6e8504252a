//! The plugin's cursor and the API's `_links.next`.
//!
//! The cursor is compact JSON, `{"next":"/wiki/api/v2/…","wm":"2026-…Z"}`:
//! `next` is the API's next link made relative to `base_url` (exactly as the
//! API gave it, never built here) and `wm` the enumeration's watermark, so
//! every page of one enumeration reports the same watermark and a resumed run,
//! even in another process, continues exactly where the API said. Keeping the
//! link relative lets a resume survive a changed `base_url` (a new port, a
//! proxy). A cursor holds no secret: credentials never reach the plugin.

use serde::{Deserialize, Serialize};
use synchost_sdk::Error;

/// Where the next page is and what the enumeration's watermark is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The next request: a path with query relative to `base_url`
    /// (`/wiki/…`), or an absolute URL if the API ever gives one.
    pub next: String,
    /// The watermark (RFC 3339) taken from the `Date` of the enumeration's
    /// first response; absent when that response had no usable `Date`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wm: Option<String>,
}

impl Cursor {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a cursor serializes")
    }

    pub fn decode(text: &str) -> Result<Cursor, Error> {
        serde_json::from_str::<Cursor>(text)
            .ok()
            .filter(|c| !c.next.is_empty())
            .ok_or_else(|| {
                Error::fatal(format!(
                    "cursor `{}` was not made by this plugin (it holds no next link)",
                    text.chars().take(80).collect::<String>()
                ))
            })
    }

    /// The absolute URL of the next request.
    pub fn url(&self, base_url: &str) -> String {
        resolve(base_url, &self.next)
    }
}

/// A v2 `_links.next`: it starts with `/wiki/api/v2/` (relative to the host,
/// not to `_links.base`), so it is kept as is.
pub fn v2_next(next: Option<&str>) -> Option<String> {
    next.filter(|n| !n.is_empty()).map(str::to_owned)
}

/// A v1 link (`_links.next`, `_links.download`) relative to `base_url`: v1
/// links are relative to `_links.context` (`/wiki`), as in
/// `/rest/api/content/search?…&cursor=…`, so the context is put in front.
/// A link that already starts with the context is kept as is (`/wiki/wiki/…`
/// is never a Confluence path).
pub fn v1_link(context: Option<&str>, link: Option<&str>) -> Option<String> {
    let next = link.filter(|n| !n.is_empty())?;
    let context = context.unwrap_or(DEFAULT_CONTEXT).trim_end_matches('/');
    if is_absolute(next) || context.is_empty() || next.starts_with(&format!("{context}/")) {
        return Some(next.to_owned());
    }
    let slash = if next.starts_with('/') { "" } else { "/" };
    Some(format!("{context}{slash}{next}"))
}

/// The context v1 links are relative to, when a response omits it.
pub const DEFAULT_CONTEXT: &str = "/wiki";

/// `base_url` + `link`, unless `link` is already absolute.
pub fn resolve(base_url: &str, link: &str) -> String {
    if is_absolute(link) {
        return link.to_owned();
    }
    let slash = if link.starts_with('/') { "" } else { "/" };
    format!("{}{slash}{link}", base_url.trim_end_matches('/'))
}

fn is_absolute(link: &str) -> bool {
    let lower = link.get(..8).unwrap_or(link).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Lowers a `limit=N` query parameter of `url` to `max` when it is larger.
///
/// Next links repeat the `limit` of the first request. When a run is resumed
/// with a smaller page size, following the link unchanged would return more
/// records than the host asked for (which stops the run), so the one
/// parameter the host controls is adjusted; the cursor and everything else
/// stay exactly as the API gave them.
pub fn fit_limit(url: &str, max: u32) -> String {
    let Some((path, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let params: Vec<String> = query
        .split('&')
        .map(
            |param| match param.strip_prefix("limit=").map(str::parse::<u32>) {
                Some(Ok(n)) if n > max => format!("limit={max}"),
                _ => param.to_owned(),
            },
        )
        .collect();
    format!("{path}?{}", params.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let c = Cursor {
            next: "/wiki/api/v2/spaces/1/pages?limit=250&cursor=eyJpZCI6IjMifQ==".into(),
            wm: Some("2026-01-02T03:04:05Z".into()),
        };
        let text = c.encode();
        assert_eq!(
            text,
            r#"{"next":"/wiki/api/v2/spaces/1/pages?limit=250&cursor=eyJpZCI6IjMifQ==","wm":"2026-01-02T03:04:05Z"}"#
        );
        assert_eq!(Cursor::decode(&text).unwrap(), c);
        let no_wm = Cursor {
            next: "/x".into(),
            wm: None,
        };
        assert_eq!(no_wm.encode(), r#"{"next":"/x"}"#);
        assert_eq!(Cursor::decode(&no_wm.encode()).unwrap(), no_wm);
        for bad in ["", "abc", r#"{"next":""}"#, r#"{"wm":"x"}"#] {
            assert!(matches!(Cursor::decode(bad), Err(Error::Fatal(_))), "{bad}");
        }
    }

    #[test]
    fn v2_links_are_relative_to_the_host() {
        let link = "/wiki/api/v2/spaces/163856/pages?limit=2&cursor=eyJpZCI6IjM5OTc2OTcifQ==";
        let next = v2_next(Some(link)).unwrap();
        assert_eq!(
            resolve("https://site.atlassian.net", &next),
            format!("https://site.atlassian.net{link}")
        );
        assert_eq!(v2_next(None), None);
        assert_eq!(v2_next(Some("")), None);
    }

    #[test]
    fn v1_links_are_relative_to_the_context() {
        // The spec's own example.
        let link = "/rest/api/content/search?cql=type=page&limit=25&cursor=raNDoMsTRiNg";
        let next = v1_link(Some("/wiki"), Some(link)).unwrap();
        assert_eq!(next, format!("/wiki{link}"));
        assert_eq!(
            Cursor { next, wm: None }.url("http://127.0.0.1:9/"),
            format!("http://127.0.0.1:9/wiki{link}")
        );
        assert_eq!(v1_link(None, Some(link)).unwrap(), format!("/wiki{link}"));
        assert_eq!(v1_link(Some(""), Some(link)).unwrap(), link);
        assert_eq!(
            v1_link(Some("/wiki"), Some("/wiki/rest/x")).unwrap(),
            "/wiki/rest/x"
        );
        assert_eq!(v1_link(Some("/wiki"), None), None);
        assert_eq!(resolve("https://a", "https://b/wiki/x"), "https://b/wiki/x");
    }

    #[test]
    fn limits_are_only_lowered() {
        let url = "https://a/wiki/api/v2/spaces/1/pages?limit=250&body-format=storage&cursor=abc";
        assert_eq!(
            fit_limit(url, 100),
            "https://a/wiki/api/v2/spaces/1/pages?limit=100&body-format=storage&cursor=abc"
        );
        assert_eq!(fit_limit(url, 250), url);
        assert_eq!(fit_limit(url, 1000), url);
        assert_eq!(fit_limit("https://a/x", 5), "https://a/x");
        assert_eq!(
            fit_limit("https://a/x?cursor=limit=9", 5),
            "https://a/x?cursor=limit=9"
        );
    }
}
