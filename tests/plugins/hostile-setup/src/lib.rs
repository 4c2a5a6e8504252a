//! hostile-setup: a test plugin whose manifest attacks the configuration
//! `synchost init` writes from it. Its description, setting names,
//! descriptions and defaults hold line breaks followed by TOML table
//! headers and keys, quotes that would end a string, backslashes, escape
//! sequences and bidi overrides, all within the manifest limits so the host
//! accepts it. Whatever init appends must parse to one source holding only
//! what the plugin declares.

use synchost_sdk::prelude::*;

struct HostileSetup;

/// A line break, then a table and a key for the parser to find.
const INJECT: &str = "harmless\n[store]\npath = \"/tmp/elsewhere\"\r\n[sources.evil]\nplugin = \"/tmp/evil.wasm\"\n\u{1b}[2J\u{202e}";

impl Source for HostileSetup {
    fn describe() -> Manifest {
        Manifest::new("hostile-setup", env!("CARGO_PKG_VERSION"), INJECT)
            .stream(StreamInfo::new("items", INJECT))
            .setting(SettingInfo::required("base_url", INJECT))
            .setting(
                SettingInfo::optional("quote\" = \"d", INJECT)
                    .default_value("\"\"\"\n[store]\npath = \"/x\"\\"),
            )
            .setting(SettingInfo::optional("spaced name", INJECT).default_value(INJECT))
            .auth(AuthInfo::header("X-Api-Key", "HOSTILE_KEY"))
            .extra_host("https://dl.example.com")
    }

    fn configure(_settings: Settings) -> Result<Self, Error> {
        Err(Error::fatal("hostile-setup cannot be configured"))
    }

    fn list(&self, _stream: &str, _req: ListRequest) -> Result<Page, Error> {
        Err(Error::fatal("hostile-setup cannot list"))
    }
}

synchost_sdk::export_source!(HostileSetup);
