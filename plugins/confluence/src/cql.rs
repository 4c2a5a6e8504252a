//! CQL queries for the v1 content search, and the delta window.
//!
//! CQL dates have minute granularity and are read in the time zone of the
//! user the credentials belong to, which the API does not tell us. So a delta
//! looks again from `since - delta_overlap_minutes` (default 24 h, wider than
//! any UTC offset), written in UTC; the host skips what it already has by
//! version, so the overlap costs listing requests only.

use synchost_sdk::http::quote;
use synchost_sdk::time::{self, Civil, Timestamp};
use synchost_sdk::Error;

/// `type=KIND AND space="KEY"`, plus `AND lastmodified >= "yyyy-MM-dd HH:mm"`
/// for a delta starting at `modified_from`, always `ORDER BY lastmodified ASC`:
/// an item edited while the listing runs then moves behind the cursor and is
/// seen again, instead of jumping ahead of it and being missed (which a full
/// enumeration would turn into a wrong tombstone).
///
/// `kind` is a CQL content type (`page`, `folder`, `attachment`, `comment`).
/// The space key is quoted with `"` and `\` escaped, although
/// [`crate::config`] already refuses keys holding them. URL encoding is the
/// request builder's job.
pub fn query(kind: &str, space_key: &str, modified_from: Option<Timestamp>) -> String {
    let mut cql = format!("type={kind} AND space={}", quote(space_key));
    if let Some(from) = modified_from {
        cql.push_str(&format!(
            " AND lastmodified >= {}",
            quote(&format_cql(from))
        ));
    }
    cql.push_str(" ORDER BY lastmodified ASC");
    cql
}

/// Where a delta starts: the watermark `since` (RFC 3339, as this plugin
/// wrote it) minus the overlap.
pub fn delta_start(since: &str, overlap_minutes: u32) -> Result<Timestamp, Error> {
    let since_ts = time::parse_rfc3339(since).ok_or_else(|| {
        Error::fatal(format!(
            "the stored watermark `{since}` is not an RFC 3339 time; \
             run a full pull (--full) to start over"
        ))
    })?;
    Ok(since_ts - i64::from(overlap_minutes) * 60)
}

/// `2026-01-02 03:04`: a CQL date (minute granularity; seconds dropped, so
/// the value never lies after `t`).
fn format_cql(t: Timestamp) -> String {
    let c = Civil::from_timestamp(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_delta_queries() {
        assert_eq!(
            query("folder", "DOCS", None),
            r#"type=folder AND space="DOCS" ORDER BY lastmodified ASC"#
        );
        let from = delta_start("2026-01-02T03:04:59Z", 1440).unwrap();
        assert_eq!(
            query("page", "DOCS", Some(from)),
            r#"type=page AND space="DOCS" AND lastmodified >= "2026-01-01 03:04" ORDER BY lastmodified ASC"#
        );
        // Crossing a year and a leap day.
        let from = delta_start("2024-03-01T00:10:00+00:00", 20).unwrap();
        assert_eq!(format_cql(from), "2024-02-29 23:50");
        let from = delta_start("2026-01-01T00:00:00Z", 1).unwrap();
        assert_eq!(format_cql(from), "2025-12-31 23:59");
        // No overlap: the watermark's own minute.
        let from = delta_start("2026-06-30T12:34:56Z", 0).unwrap();
        assert_eq!(format_cql(from), "2026-06-30 12:34");
    }

    #[test]
    fn cql_dates_floor_to_the_minute() {
        let t = time::parse_rfc3339("2026-03-01T00:30:59Z").unwrap();
        assert_eq!(format_cql(t), "2026-03-01 00:30");
        assert_eq!(format_cql(t - 31 * 60), "2026-02-28 23:59");
    }

    #[test]
    fn quoting_and_bad_watermarks() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        let err = delta_start("1767323045", 1440).unwrap_err();
        assert!(
            matches!(&err, Error::Fatal(m) if m.contains("1767323045")),
            "{err:?}"
        );
    }

    #[test]
    fn the_request_builder_encodes_the_query() {
        let req = synchost_sdk::http::Request::get("https://x/wiki/rest/api/content/search")
            .query("cql", query("page", "DOCS", Some(0)));
        assert_eq!(
            req.url(),
            "https://x/wiki/rest/api/content/search?cql=type%3Dpage%20AND%20space%3D%22DOCS%22\
             %20AND%20lastmodified%20%3E%3D%20%221970-01-01%2000%3A00%22\
             %20ORDER%20BY%20lastmodified%20ASC"
        );
    }
}
