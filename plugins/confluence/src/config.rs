//! The settings: what `configure` accepts and the manifest documents.

use synchost_sdk::{Error, SettingInfo, Settings};

/// The validated settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The site, without `/wiki` and without a trailing `/`.
    pub base_url: String,
    /// The space key, e.g. `DOCS`.
    pub space: String,
    pub include_comments: bool,
    pub body_format: BodyFormat,
    pub delta_overlap_minutes: u32,
    /// Labels of pages and blog posts in their metadata.
    pub labels: bool,
    /// Content properties of pages and blog posts in their metadata.
    pub properties: bool,
    pub restrictions: Restrictions,
}

/// What the plugin does with restricted content (setting `restrictions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restrictions {
    /// Not asked for: no request.
    Ignore,
    /// Read-restricted pages and blog posts are left out, with their
    /// attachments and comments.
    Skip,
    /// `restricted` and `restrictions` in the metadata of pages and blog
    /// posts.
    Record,
}

impl Config {
    /// Whether pages and blog posts need the bulk metadata search
    /// ([`crate::extras`]).
    pub fn wants_extras(&self) -> bool {
        self.labels || self.properties || self.restrictions != Restrictions::Ignore
    }
}

/// The representation page and comment bodies are synced in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Storage,
    AtlasDocFormat,
}

impl BodyFormat {
    /// The API's name, for `body-format=` (v2) and `expand=body.…` (v1).
    pub fn api_name(self) -> &'static str {
        match self {
            BodyFormat::Storage => "storage",
            BodyFormat::AtlasDocFormat => "atlas_doc_format",
        }
    }

    /// The records' `content-type`.
    pub fn media_type(self) -> &'static str {
        match self {
            BodyFormat::Storage => "application/vnd.atlassian.storage+xml",
            BodyFormat::AtlasDocFormat => "application/vnd.atlassian.adf+json",
        }
    }
}

const DEFAULT_OVERLAP_MINUTES: u32 = 1440;

/// The settings for the manifest.
pub fn setting_infos() -> Vec<SettingInfo> {
    vec![
        SettingInfo::required(
            "base_url",
            "The Confluence Cloud site, without /wiki, e.g. https://example.atlassian.net",
        ),
        SettingInfo::required("space", "The key of the space to mirror, e.g. DOCS"),
        SettingInfo::optional(
            "include_comments",
            "true to sync comments too (footer and inline)",
        )
        .default_value("false"),
        SettingInfo::optional(
            "body_format",
            "Page and comment bodies as `storage` (XHTML) or `atlas_doc_format` (ADF JSON)",
        )
        .default_value("storage"),
        SettingInfo::optional(
            "delta_overlap_minutes",
            "How far before the last watermark a delta sync looks again \
             (CQL dates are minutes in the user's unknown time zone)",
        )
        .default_value(DEFAULT_OVERLAP_MINUTES.to_string()),
        SettingInfo::optional(
            "labels",
            "true to add the labels of pages and blog posts to their metadata",
        )
        .default_value("false"),
        SettingInfo::optional(
            "properties",
            "true to add the content properties of pages and blog posts to their metadata",
        )
        .default_value("false"),
        SettingInfo::optional(
            "restrictions",
            "`ignore`, `skip` (leave read-restricted pages and blog posts out, with their \
             attachments and comments) or `record` (restrictions in the metadata)",
        )
        .default_value("ignore"),
    ]
}

impl Config {
    pub fn from_settings(settings: &Settings) -> Result<Config, Error> {
        let space = settings.required("space")?.trim().to_owned();
        if space
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\\')
        {
            return Err(Error::invalid_config(format!(
                "setting `space` must be a space key such as DOCS, got `{space}`"
            )));
        }
        let body_format = match settings.get_or("body_format", "storage").trim() {
            "storage" => BodyFormat::Storage,
            "atlas_doc_format" => BodyFormat::AtlasDocFormat,
            other => {
                return Err(Error::invalid_config(format!(
                    "setting `body_format` must be `storage` or `atlas_doc_format`, got `{other}`"
                )))
            }
        };
        let restrictions = match settings.get_or("restrictions", "ignore").trim() {
            "ignore" => Restrictions::Ignore,
            "skip" => Restrictions::Skip,
            "record" => Restrictions::Record,
            other => {
                return Err(Error::invalid_config(format!(
                    "setting `restrictions` must be `ignore`, `skip` or `record`, got `{other}`"
                )))
            }
        };
        Ok(Config {
            base_url: settings.url("base_url")?,
            space,
            include_comments: settings.parse_or("include_comments", false)?,
            body_format,
            delta_overlap_minutes: settings
                .parse_or("delta_overlap_minutes", DEFAULT_OVERLAP_MINUTES)?,
            labels: settings.parse_or("labels", false)?,
            properties: settings.parse_or("properties", false)?,
            restrictions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, Error> {
        Config::from_settings(&pairs.iter().copied().collect())
    }

    fn config_error(pairs: &[(&str, &str)]) -> String {
        match config(pairs) {
            Err(Error::InvalidConfig(m)) => m,
            other => panic!("expected invalid-config, got {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let c = config(&[
            ("base_url", "https://x.atlassian.net/"),
            ("space", " DOCS "),
        ])
        .unwrap();
        assert_eq!(
            c,
            Config {
                base_url: "https://x.atlassian.net".into(),
                space: "DOCS".into(),
                include_comments: false,
                body_format: BodyFormat::Storage,
                delta_overlap_minutes: 1440,
                labels: false,
                properties: false,
                restrictions: Restrictions::Ignore,
            }
        );
        assert!(!c.wants_extras());
        let c = config(&[
            ("base_url", "http://127.0.0.1:8080"),
            ("space", "~712020:abc"),
            ("include_comments", "true"),
            ("body_format", "atlas_doc_format"),
            ("delta_overlap_minutes", "0"),
            ("labels", "true"),
            ("restrictions", " skip "),
        ])
        .unwrap();
        assert!(c.labels && !c.properties && c.wants_extras());
        assert_eq!(c.restrictions, Restrictions::Skip);
        assert!(c.include_comments);
        assert_eq!(c.body_format, BodyFormat::AtlasDocFormat);
        assert_eq!(c.delta_overlap_minutes, 0);
        // The manifest documents the same defaults.
        let infos = setting_infos();
        assert_eq!(infos.len(), 8);
        assert_eq!(infos[4].default_value.as_deref(), Some("1440"));
        assert_eq!(infos[7].default_value.as_deref(), Some("ignore"));
    }

    #[test]
    fn errors_name_the_setting() {
        assert!(config_error(&[("space", "DOCS")]).contains("`base_url`"));
        assert!(config_error(&[("base_url", "ftp://x"), ("space", "DOCS")]).contains("`base_url`"));
        assert!(config_error(&[("base_url", "http://x")]).contains("`space`"));
        assert!(config_error(&[("base_url", "http://x"), ("space", "A B")]).contains("`space`"));
        let ok = [("base_url", "http://x"), ("space", "DOCS")];
        for (name, value) in [
            ("include_comments", "yes"),
            ("body_format", "view"),
            ("delta_overlap_minutes", "-5"),
            ("labels", "yes"),
            ("properties", "1"),
            ("restrictions", "hide"),
        ] {
            let mut pairs = ok.to_vec();
            pairs.push((name, value));
            let msg = config_error(&pairs);
            assert!(msg.contains(&format!("`{name}`")), "{msg}");
        }
    }
}
