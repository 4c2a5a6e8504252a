//! What the host accepts from a plugin. A plugin is untrusted: every value it
//! returns (its manifest, each page of a listing, each record) is checked
//! here before anything is stored. A failed check is a message naming the
//! problem; the caller adds the source and decides the exit code.

use std::collections::HashSet;

use sha2::{Digest, Sha256};

use crate::untrusted::{needs_escape, Untrusted};

/// Longest record id (and deleted id), in bytes.
pub const MAX_ID_BYTES: usize = 1024;
/// Longest record version, in bytes.
pub const MAX_VERSION_BYTES: usize = 1024;
/// Largest metadata JSON a record may carry.
pub const MAX_METADATA_BYTES: usize = 1 << 20;
/// Longest cursor a plugin may return; cursors are stored with every page.
pub const MAX_CURSOR_BYTES: usize = 64 * 1024;
/// Longest watermark a plugin may return: it is stored, shown by `status`
/// and handed back as `since`, like a cursor.
pub const MAX_WATERMARK_BYTES: usize = MAX_CURSOR_BYTES;
/// Most deleted ids one page may report: ten times the largest page. Each is
/// a write in the page's transaction, so the page stays bounded.
pub const MAX_DELETED_IDS: usize = 10_000;
/// Consecutive pages with nothing in them (but a next cursor) before the
/// listing is declared stuck.
pub const MAX_EMPTY_PAGES: u32 = 100;

/// A manifest is usable when it has a name, a semver version and non-zero
/// page and push batch sizes. Its streams are checked by [`streams`]: a
/// manifest may leave them to the configured instance.
pub fn manifest(
    name: &str,
    version: &str,
    max_page_size: u32,
    max_push_batch: u32,
) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("its manifest has no name".into());
    }
    if semver::Version::parse(version).is_err() {
        return Err(format!(
            "its version `{}` is not semver",
            Untrusted::clipped(version, 80)
        ));
    }
    if max_page_size == 0 {
        return Err("its max-page-size is 0".into());
    }
    if max_push_batch == 0 {
        return Err("its max-push-batch is 0".into());
    }
    Ok(())
}

/// A source's streams are usable when there is at least one and their names
/// are distinct and non-empty.
pub fn streams<'a>(streams: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    let mut names = HashSet::new();
    for stream in streams {
        if stream.is_empty() || !names.insert(stream) {
            return Err(format!(
                "stream name `{}` is empty or repeated",
                Untrusted::clipped(stream, 80)
            ));
        }
    }
    if names.is_empty() {
        return Err("it declares no streams".into());
    }
    Ok(())
}

/// Longest plugin, stream or setting name in a manifest, in bytes.
pub const MAX_MANIFEST_NAME_BYTES: usize = 128;
/// Longest description or default value in a manifest, in bytes.
pub const MAX_MANIFEST_TEXT_BYTES: usize = 4096;
/// Most streams, and most settings, a manifest may declare.
pub const MAX_MANIFEST_ENTRIES: usize = 256;

/// The free text of a manifest, bounded so that a manifest stays something
/// a person can read: names without control or invisible characters (they
/// name streams in output and in the store) and of at most [`MAX_MANIFEST_NAME_BYTES`],
/// descriptions and defaults of at most [`MAX_MANIFEST_TEXT_BYTES`], at most
/// [`MAX_MANIFEST_ENTRIES`] streams and settings. `streams` are (name,
/// description); `settings` are (name, description, default).
pub fn manifest_text<'a>(
    name: &str,
    description: &str,
    streams: &[(&'a str, &'a str)],
    settings: &[(&'a str, &'a str, Option<&'a str>)],
) -> Result<(), String> {
    let over = |what: &str, text: &str, max: usize| {
        (text.len() > max).then(|| format!("its {what} is {} bytes (at most {max})", text.len()))
    };
    let unprintable = |what: &str, text: &str| {
        text.chars().any(needs_escape).then(|| {
            format!(
                "its {what} `{}` holds control or invisible characters",
                Untrusted::clipped(text, 80)
            )
        })
    };
    let mut problems = vec![
        unprintable("name", name),
        over("name", name, MAX_MANIFEST_NAME_BYTES),
        over("description", description, MAX_MANIFEST_TEXT_BYTES),
    ];
    for (kind, count) in [("streams", streams.len()), ("settings", settings.len())] {
        if count > MAX_MANIFEST_ENTRIES {
            problems.push(Some(format!(
                "it declares {count} {kind} (at most {MAX_MANIFEST_ENTRIES})"
            )));
        }
    }
    for (name, description) in streams {
        problems.push(unprintable("stream name", name));
        problems.push(over("stream name", name, MAX_MANIFEST_NAME_BYTES));
        problems.push(over(
            "stream description",
            description,
            MAX_MANIFEST_TEXT_BYTES,
        ));
    }
    for (name, description, default) in settings {
        problems.push(unprintable("setting name", name));
        problems.push(over("setting name", name, MAX_MANIFEST_NAME_BYTES));
        problems.push(over(
            "setting description",
            description,
            MAX_MANIFEST_TEXT_BYTES,
        ));
        problems.push(over(
            "setting default",
            default.unwrap_or(""),
            MAX_MANIFEST_TEXT_BYTES,
        ));
    }
    match problems.into_iter().flatten().next() {
        Some(problem) => Err(problem),
        None => Ok(()),
    }
}

/// The `auth` keys a manifest's auth info may suggest variables for: the
/// host's `[sources.NAME.auth]` keys.
pub const AUTH_ENV_KEYS: &[&str] = &[
    "token_env",
    "username_env",
    "password_env",
    "value_env",
    "key_env",
    "jwt_env",
];

/// A manifest's auth info is shown to people and written into
/// configurations: each suggested variable is an `auth` key of
/// [`AUTH_ENV_KEYS`] with a plain environment variable name
/// (`[A-Za-z_][A-Za-z0-9_]*`, at most [`MAX_MANIFEST_NAME_BYTES`]), and a
/// header name is an HTTP token of the same bound.
pub fn auth_info(env: &[(&str, &str)], header_name: Option<&str>) -> Result<(), String> {
    for (key, variable) in env {
        if !AUTH_ENV_KEYS.contains(key) {
            return Err(format!(
                "its auth info names `{}`, not one of {}",
                Untrusted::clipped(key, 80),
                AUTH_ENV_KEYS.join(", ")
            ));
        }
        let plain = variable
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
        if !plain || variable.is_empty() || variable.len() > MAX_MANIFEST_NAME_BYTES {
            return Err(format!(
                "its auth info suggests `{}` for {key}, not an environment variable name",
                Untrusted::clipped(variable, 80)
            ));
        }
    }
    if let Some(name) = header_name {
        let token = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token || name.is_empty() || name.len() > MAX_MANIFEST_NAME_BYTES {
            return Err(format!(
                "its auth header `{}` is not a header name",
                Untrusted::clipped(name, 80)
            ));
        }
    }
    Ok(())
}

/// Most extra hosts a manifest may declare.
pub const MAX_EXTRA_HOSTS: usize = 16;

/// A manifest's extra hosts are advice a user may paste into
/// `allowed_hosts`: at most [`MAX_EXTRA_HOSTS`], each a valid entry there
/// (which also rules out control characters and spaces).
pub fn extra_hosts(hosts: &[&str]) -> Result<(), String> {
    if hosts.len() > MAX_EXTRA_HOSTS {
        return Err(format!(
            "it declares {} extra hosts (at most {MAX_EXTRA_HOSTS})",
            hosts.len()
        ));
    }
    for host in hosts {
        if host.len() > MAX_MANIFEST_NAME_BYTES * 2 {
            return Err(format!("its extra host `{}` is too long", clip(host, 80)));
        }
        crate::net::HostPolicy::new(&[host.to_string()]).map_err(|why| {
            format!(
                "its extra host `{}` is not an allowed_hosts entry: {}",
                clip(host, 80),
                clip(&why, 200)
            )
        })?;
    }
    Ok(())
}

/// A record needs a bounded id and version; its metadata, when present, is a
/// JSON document of at most 1 MiB.
pub fn record(id: &str, version: &str, metadata: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(format!("record id must be 1 to {MAX_ID_BYTES} bytes"));
    }
    if version.is_empty() || version.len() > MAX_VERSION_BYTES {
        return Err(format!(
            "record `{}` has an empty or oversized version",
            clip(id, 80)
        ));
    }
    if metadata.len() > MAX_METADATA_BYTES {
        return Err(format!("record `{}` has metadata over 1 MiB", clip(id, 80)));
    }
    if !metadata.is_empty() && serde_json::from_str::<serde_json::Value>(metadata).is_err() {
        return Err(format!(
            "record `{}` has metadata that is not JSON",
            clip(id, 80)
        ));
    }
    Ok(())
}

/// The pages of one listing, checked as they arrive: no page over the
/// requested limit, bounded cursors and ids, and no listing that loops
/// (a cursor seen before) or stalls (endless empty pages).
pub struct ListingGuard {
    limit: u32,
    /// Hashes, not cursors: memory stays small however long the listing.
    seen_cursors: HashSet<[u8; 32]>,
    empty_pages: u32,
}

impl ListingGuard {
    /// A guard for pages of at most `limit` records; `resumed_from` is the
    /// cursor a resumed listing starts at (returning it again is a loop).
    pub fn new(limit: u32, resumed_from: Option<&str>) -> ListingGuard {
        ListingGuard {
            limit,
            seen_cursors: resumed_from.into_iter().map(cursor_hash).collect(),
            empty_pages: 0,
        }
    }

    /// Checks one page before it is stored. Every error ends the listing;
    /// the checkpoint of the last good page is kept.
    pub fn check_page(
        &mut self,
        records: usize,
        deleted: &[String],
        next_cursor: Option<&str>,
        watermark: Option<&str>,
    ) -> Result<(), String> {
        if records > self.limit as usize {
            return Err(format!(
                "the plugin returned {records} records for a page of at most {} (invalid-response)",
                self.limit
            ));
        }
        if deleted.len() > MAX_DELETED_IDS {
            return Err(format!(
                "the plugin reported {} deleted ids in one page (at most {MAX_DELETED_IDS}; invalid-response)",
                deleted.len()
            ));
        }
        if let Some(watermark) = watermark.filter(|w| w.len() > MAX_WATERMARK_BYTES) {
            return Err(format!(
                "the plugin returned a watermark of {} bytes (at most {MAX_WATERMARK_BYTES}; invalid-response)",
                watermark.len()
            ));
        }
        if let Some(bad) = deleted
            .iter()
            .find(|id| id.is_empty() || id.len() > MAX_ID_BYTES)
        {
            return Err(format!(
                "the plugin reported a deleted id of {} bytes (1 to {MAX_ID_BYTES}; invalid-response)",
                bad.len()
            ));
        }
        let Some(next) = next_cursor else {
            return Ok(());
        };
        if next.len() > MAX_CURSOR_BYTES {
            return Err(format!(
                "the plugin returned a cursor of {} bytes (at most {MAX_CURSOR_BYTES}; invalid-response)",
                next.len()
            ));
        }
        if !self.seen_cursors.insert(cursor_hash(next)) {
            return Err(format!(
                "the plugin returned cursor `{}` twice; stopping instead of looping (checkpoint kept)",
                clip(next, 80)
            ));
        }
        if records == 0 && deleted.is_empty() {
            self.empty_pages += 1;
            if self.empty_pages > MAX_EMPTY_PAGES {
                return Err(format!(
                    "{MAX_EMPTY_PAGES} pages in a row made no progress; stopping"
                ));
            }
        } else {
            self.empty_pages = 0;
        }
        Ok(())
    }
}

fn cursor_hash(cursor: &str) -> [u8; 32] {
    Sha256::digest(cursor.as_bytes()).into()
}

/// `text` escaped and clipped to about `max` bytes, for messages about
/// untrusted values (see [`Untrusted`]).
pub fn clip(text: &str, max: usize) -> String {
    Untrusted::clipped(text, max).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_need_name_semver_and_sizes() {
        assert!(manifest("items", "1.2.3", 100, 50).is_ok());
        assert!(manifest(" ", "1.2.3", 100, 50)
            .unwrap_err()
            .contains("no name"));
        assert!(manifest("items", "1.2", 100, 50)
            .unwrap_err()
            .contains("not semver"));
        assert!(manifest("items", "1.2.3", 0, 50)
            .unwrap_err()
            .contains("max-page-size"));
        assert!(manifest("items", "1.2.3", 100, 0)
            .unwrap_err()
            .contains("max-push-batch"));
    }

    #[test]
    fn auth_info_names_plain_variables() {
        assert!(auth_info(&[("key_env", "SUPABASE_KEY")], None).is_ok());
        assert!(auth_info(&[("value_env", "K")], Some("x-api-key")).is_ok());
        let err = auth_info(&[("secret", "A")], None).unwrap_err();
        assert!(err.contains("not one of"), "{err}");
        for bad in ["", "1A", "A B", "A\n=B", "$(rm)"] {
            let err = auth_info(&[("token_env", bad)], None).unwrap_err();
            assert!(err.contains("not an environment variable name"), "{err}");
        }
        let err = auth_info(&[], Some("x: y")).unwrap_err();
        assert!(err.contains("not a header name"), "{err}");
    }

    #[test]
    fn extra_hosts_are_allowed_hosts_entries() {
        assert!(extra_hosts(&["https://codeload.github.com", "cdn.example.com:*"]).is_ok());
        let err = extra_hosts(&["https://evil.example/\n\u{1b}[2J"]).unwrap_err();
        assert!(
            err.contains("not an allowed_hosts entry") && !err.contains('\u{1b}'),
            "{err}"
        );
        let many: Vec<&str> = vec!["a.example"; MAX_EXTRA_HOSTS + 1];
        assert!(extra_hosts(&many).unwrap_err().contains("at most"));
    }

    #[test]
    fn streams_need_distinct_names() {
        assert!(streams(["items"]).is_ok());
        assert!(streams([]).unwrap_err().contains("no streams"));
        assert!(streams(["a", "b", "a"]).unwrap_err().contains("repeated"));
        assert!(streams(["a", ""]).unwrap_err().contains("empty"));
    }

    #[test]
    fn manifest_text_is_bounded() {
        let long = "d".repeat(MAX_MANIFEST_TEXT_BYTES + 1);
        assert!(manifest_text("p", "fine", &[("items", "fine")], &[]).is_ok());
        let err = manifest_text("p", &long, &[], &[]).unwrap_err();
        assert!(
            err.contains("description is 4097 bytes (at most 4096)"),
            "{err}"
        );
        let err = manifest_text("p", "", &[("items", &long)], &[]).unwrap_err();
        assert!(err.contains("stream description"), "{err}");
        let err = manifest_text("p", "", &[], &[("s", "", Some(&long))]).unwrap_err();
        assert!(err.contains("setting default"), "{err}");
        let err = manifest_text("p", "", &[("a\nb", "")], &[]).unwrap_err();
        assert!(
            err.contains("stream name `a\\u{a}b` holds control"),
            "{err}"
        );
        let many = vec![("s", ""); MAX_MANIFEST_ENTRIES + 1];
        let err = manifest_text("p", "", &many, &[]).unwrap_err();
        assert!(err.contains("257 streams"), "{err}");
    }

    #[test]
    fn records_need_bounded_ids_versions_and_json_metadata() {
        assert!(record("1", "v1", "").is_ok());
        assert!(record("1", "v1", r#"{"a":[1,2]}"#).is_ok());
        assert!(record("", "v1", "").is_err());
        assert!(record(&"x".repeat(MAX_ID_BYTES + 1), "v1", "").is_err());
        assert!(record("1", "", "").unwrap_err().contains("version"));
        assert!(record("1", "v1", "{").unwrap_err().contains("not JSON"));
        // Found by the plugin_values fuzz target: a skimming parser let an
        // out-of-range number by, and `export` gave the metadata back as a
        // string instead of JSON.
        assert!(record("1", "v1", "[56.5E5555]").is_err());
        let huge = format!("\"{}\"", "x".repeat(MAX_METADATA_BYTES));
        assert!(record("1", "v1", &huge).unwrap_err().contains("1 MiB"));
    }

    #[test]
    fn listings_that_loop_or_stall_are_stopped() {
        let mut guard = ListingGuard::new(10, Some("start"));
        assert!(guard
            .check_page(11, &[], None, None)
            .unwrap_err()
            .contains("11"));
        assert!(guard
            .check_page(1, &[], Some("start"), None)
            .unwrap_err()
            .contains("twice"));
        assert!(guard.check_page(1, &[], Some("a"), None).is_ok());
        assert!(guard.check_page(1, &[], Some("a"), None).is_err());
        let long = "c".repeat(MAX_CURSOR_BYTES + 1);
        assert!(guard
            .check_page(1, &[], Some(&long), None)
            .unwrap_err()
            .contains("bytes"));
        assert!(guard
            .check_page(0, &[String::new()], None, None)
            .unwrap_err()
            .contains("deleted id"));
        let many: Vec<String> = (0..=MAX_DELETED_IDS).map(|i| i.to_string()).collect();
        assert!(guard
            .check_page(0, &many, None, None)
            .unwrap_err()
            .contains("deleted ids in one page"));
        assert!(guard
            .check_page(0, &many[..MAX_DELETED_IDS], None, None)
            .is_ok());
        let watermark = "w".repeat(MAX_WATERMARK_BYTES + 1);
        assert!(guard
            .check_page(0, &[], None, Some(&watermark))
            .unwrap_err()
            .contains("watermark of"));
        assert!(guard
            .check_page(0, &[], None, Some(&watermark[1..]))
            .is_ok());

        let mut guard = ListingGuard::new(10, None);
        for page in 0..MAX_EMPTY_PAGES {
            guard
                .check_page(0, &[], Some(&page.to_string()), None)
                .unwrap();
        }
        assert!(guard
            .check_page(0, &[], Some("last"), None)
            .unwrap_err()
            .contains("no progress"));
        // Progress resets the count.
        let mut guard = ListingGuard::new(10, None);
        for page in 0..3 * MAX_EMPTY_PAGES {
            let records = usize::from(page % MAX_EMPTY_PAGES == 0);
            guard
                .check_page(records, &[], Some(&page.to_string()), None)
                .unwrap();
        }
        assert!(guard.check_page(0, &[], None, None).is_ok());
    }
}
