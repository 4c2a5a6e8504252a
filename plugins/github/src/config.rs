//! The settings: what `configure` accepts and the manifest documents.

use crate::git::Glob;
use crate::Stream;
use synchost_sdk::{Error, SettingInfo, Settings};

/// The validated settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The API root without a trailing `/`: `https://api.github.com`, or
    /// `https://HOST/api/v3` for GitHub Enterprise Server.
    pub base_url: String,
    pub owner: String,
    pub repo: String,
    /// The branch, tag or commit; `None`: the repository's default branch.
    pub git_ref: Option<String>,
    /// Only files matching one of these (none: every file).
    pub paths: Vec<Glob>,
    /// Files larger than this become metadata-only records.
    pub max_file_bytes: u64,
    /// The streams that list anything; the others answer empty listings.
    pub include: Vec<Stream>,
}

pub const DEFAULT_BASE_URL: &str = "https://api.github.com";
const DEFAULT_MAX_FILE_MB: u64 = 100;

pub fn setting_infos() -> Vec<SettingInfo> {
    vec![
        SettingInfo::required("repo", "The repository, as owner/name"),
        SettingInfo::optional(
            "ref",
            "The branch, tag or commit whose files are synced (and that pushes commit to)",
        )
        .default_value("the repository's default branch"),
        SettingInfo::optional(
            "base_url",
            "The REST API root; GitHub Enterprise Server: https://HOST/api/v3",
        )
        .default_value(DEFAULT_BASE_URL),
        SettingInfo::optional(
            "paths",
            "Comma-separated globs of the files to sync (`*` within a directory, `**` across), \
             e.g. docs/**,*.md",
        ),
        SettingInfo::optional(
            "max_file_mb",
            "Files larger than this many MB are recorded without content",
        )
        .default_value(DEFAULT_MAX_FILE_MB.to_string()),
        SettingInfo::optional(
            "include",
            "Comma-separated streams to sync; the others list nothing",
        )
        .default_value("files,issues,pulls,comments"),
    ]
}

impl Config {
    pub fn from_settings(settings: &Settings) -> Result<Config, Error> {
        let repo = settings.required("repo")?.trim();
        let (owner, name) = repo
            .split_once('/')
            .filter(|(o, n)| valid_name(o) && valid_name(n))
            .ok_or_else(|| {
                Error::invalid_config(format!(
                    "setting `repo` must be owner/name, e.g. octocat/Hello-World, got `{repo}`"
                ))
            })?;
        let git_ref = match settings.get("ref").map(str::trim) {
            None => None,
            Some(r) if valid_ref(r) => Some(r.to_owned()),
            Some(r) => {
                return Err(Error::invalid_config(format!(
                    "setting `ref` must be a branch, tag or commit name, got `{r}`"
                )))
            }
        };
        let base_url = match settings.get("base_url") {
            Some(_) => settings.url("base_url")?,
            None => DEFAULT_BASE_URL.to_owned(),
        };
        let paths = list(settings.get("paths"))
            .map(Glob::new)
            .collect::<Vec<_>>();
        let max_mb: u64 = settings
            .parse("max_file_mb")?
            .unwrap_or(DEFAULT_MAX_FILE_MB);
        if max_mb == 0 || max_mb > 100_000 {
            return Err(Error::invalid_config(format!(
                "setting `max_file_mb` must be between 1 and 100000, got {max_mb}"
            )));
        }
        let include = match settings.get("include") {
            None => Stream::ALL.to_vec(),
            Some(raw) => list(Some(raw))
                .map(|name| {
                    Stream::parse(name).map_err(|_| {
                        Error::invalid_config(format!(
                            "setting `include`: unknown stream `{name}` (streams: {})",
                            Stream::ALL.map(Stream::name).join(", ")
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        Ok(Config {
            base_url,
            owner: owner.to_owned(),
            repo: name.to_owned(),
            git_ref,
            paths,
            max_file_bytes: max_mb * 1024 * 1024,
            include,
        })
    }

    /// True when `path` passes the `paths` filter.
    pub fn wants(&self, path: &str) -> bool {
        self.paths.is_empty() || self.paths.iter().any(|g| g.matches(path))
    }
}

/// The comma-separated items of a setting, trimmed, blanks dropped.
fn list(raw: Option<&str>) -> impl Iterator<Item = &str> {
    raw.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// GitHub owner and repository names: letters, digits, `-`, `_`, `.`.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A git ref name as `git check-ref-format` allows it, roughly: no spaces,
/// controls, `..`, `~^:?*[\`, and no leading `-` or `/`.
fn valid_ref(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 255
        && !r.starts_with(['-', '/'])
        && !r.ends_with(['/', '.'])
        && !r.contains("..")
        && !r.contains("@{")
        && !r
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        match Config::from_settings(&settings(pairs)) {
            Err(Error::InvalidConfig(m)) => m,
            other => panic!("{pairs:?}: {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let c = Config::from_settings(&settings(&[("repo", "octocat/Hello-World")])).unwrap();
        assert_eq!(
            (c.owner.as_str(), c.repo.as_str(), c.git_ref.as_deref()),
            ("octocat", "Hello-World", None)
        );
        assert_eq!(c.base_url, "https://api.github.com");
        assert_eq!(c.max_file_bytes, 100 * 1024 * 1024);
        assert_eq!(c.include, Stream::ALL.to_vec());
        assert!(c.wants("any/file.rs"));
        let infos = setting_infos();
        assert_eq!(
            infos
                .iter()
                .find(|s| s.name == "base_url")
                .and_then(|s| s.default_value.as_deref()),
            Some(DEFAULT_BASE_URL)
        );
    }

    #[test]
    fn every_setting() {
        let c = Config::from_settings(&settings(&[
            ("repo", " acme/widgets.js "),
            ("ref", "release/1.2"),
            ("base_url", "https://ghe.example.com/api/v3/"),
            ("paths", "docs/**, *.md ,"),
            ("max_file_mb", "2"),
            ("include", "files, comments"),
        ]))
        .unwrap();
        assert_eq!(c.repo, "widgets.js");
        assert_eq!(c.git_ref.as_deref(), Some("release/1.2"));
        assert_eq!(c.base_url, "https://ghe.example.com/api/v3");
        assert_eq!(c.max_file_bytes, 2 * 1024 * 1024);
        assert_eq!(c.include, vec![Stream::Files, Stream::Comments]);
        assert!(c.wants("docs/a/b.txt") && c.wants("README.md"));
        assert!(!c.wants("src/main.rs") && !c.wants("src/notes.md"));
    }

    #[test]
    fn bad_settings_name_themselves() {
        assert!(err(&[]).contains("`repo`"));
        for bad in ["octocat", "a/b/c", "/b", "a/", "a b/c", "../x"] {
            assert!(err(&[("repo", bad)]).contains("`repo`"), "{bad}");
        }
        for bad in ["a..b", "-x", "x y", "x:y", "refs/heads/", "a~1"] {
            assert!(
                err(&[("repo", "a/b"), ("ref", bad)]).contains("`ref`"),
                "{bad}"
            );
        }
        assert!(err(&[("repo", "a/b"), ("base_url", "api.github.com")]).contains("`base_url`"));
        assert!(err(&[("repo", "a/b"), ("max_file_mb", "0")]).contains("`max_file_mb`"));
        assert!(err(&[("repo", "a/b"), ("max_file_mb", "x")]).contains("`max_file_mb`"));
        let m = err(&[("repo", "a/b"), ("include", "files,wiki")]);
        assert!(
            m.contains("`wiki`") && m.contains("files, issues, pulls, comments"),
            "{m}"
        );
    }
}
