//! Cursor codecs and link helpers of the Confluence fake.
//!
//! v2 cursors look like the real ones: standard base64 (padded) of
//! `{"id":"3997697","contentOrder":"id","contentOrderValue":3997697}`, where
//! `contentOrder` is the listing's `sort` and `contentOrderValue` the sort
//! key of the last result served (a number, or a string for titles).
//!
//! v1 (CQL search) cursors look like the real ones too:
//! `_f_<base64(start)>_sa_<base64([sort value, "id"])>`; `start` is how many
//! results came before the next page.
//!
//! Both are opaque to clients; decoding is tolerant (padding optional,
//! URL-safe alphabet accepted, `+` turned into a space by form decoding
//! restored).

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine as _};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};

const STD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().replace(' ', "+");
    STD.decode(&s).ok().or_else(|| URL_SAFE.decode(&s).ok())
}

/// A sort key: a number (ids, epoch milliseconds) or a string (titles).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    Num(i64),
    Str(String),
}

impl Key {
    fn to_json(&self) -> Value {
        match self {
            Key::Num(n) => json!(n),
            Key::Str(s) => json!(s),
        }
    }

    fn from_json(v: &Value) -> Option<Key> {
        match v {
            Value::Number(n) => n.as_i64().map(Key::Num),
            Value::String(s) => Some(Key::Str(s.clone())),
            _ => None,
        }
    }
}

/// Where a v2 listing stands: after `(value, id)` in the order `order`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Cursor {
    pub id: u64,
    pub order: String,
    pub value: Key,
}

impl V2Cursor {
    pub fn encode(&self) -> String {
        // Field order as in the real cursors (serde_json maps sort keys).
        let v = format!(
            "{{\"id\":\"{}\",\"contentOrder\":{},\"contentOrderValue\":{}}}",
            self.id,
            Value::from(self.order.as_str()),
            self.value.to_json()
        );
        STD.encode(v)
    }

    pub fn decode(s: &str) -> Option<V2Cursor> {
        let v: Value = serde_json::from_slice(&b64_decode(s)?).ok()?;
        let obj = v.as_object()?;
        if obj.len() != 3 {
            return None;
        }
        let id = obj.get("id")?.as_str()?.parse().ok()?;
        let order = obj.get("contentOrder")?.as_str()?.to_owned();
        let value = Key::from_json(obj.get("contentOrderValue")?)?;
        Some(V2Cursor { id, order, value })
    }
}

/// Where a v1 search stands: `start` results served, the last one at `(value, id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Cursor {
    pub start: u64,
    pub value: i64,
    pub id: u64,
}

impl V1Cursor {
    pub fn encode(&self) -> String {
        format!(
            "_f_{}_sa_{}",
            STD.encode(self.start.to_string()),
            STD.encode(json!([self.value, format!("\t{}", self.id)]).to_string())
        )
    }

    pub fn decode(s: &str) -> Option<V1Cursor> {
        let rest = s.trim().strip_prefix("_f_")?;
        let (start, sa) = rest.split_once("_sa_")?;
        let start = String::from_utf8(b64_decode(start)?).ok()?.parse().ok()?;
        let v: Value = serde_json::from_slice(&b64_decode(sa)?).ok()?;
        let arr = v.as_array()?;
        if arr.len() != 2 {
            return None;
        }
        let value = arr[0].as_i64()?;
        let id = arr[1].as_str()?.strip_prefix('\t')?.parse().ok()?;
        Some(V1Cursor { start, value, id })
    }
}

/// Characters kept as they are in a path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A path segment, percent-encoded (`a b#.png` -> `a%20b%23.png`).
pub fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// A query value, percent-encoded (`+` for spaces, like Confluence's links).
pub fn encode_query_value(s: &str) -> String {
    form_encode(s)
}

fn form_encode(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT)
        .to_string()
        .replace("%20", "+")
}

/// A title in a web UI link: spaces as `+`, the rest percent-encoded.
pub fn webui_title(s: &str) -> String {
    form_encode(s)
}

/// A cursor as it appears in a v2 link: the padding `=` kept raw (as the
/// real API does), `+` and `/` percent-encoded so form decoding keeps them.
pub fn v2_cursor_in_link(c: &str) -> String {
    c.replace('+', "%2B").replace('/', "%2F")
}

/// The raw query string without its `name=` parameters (raw encoding kept).
pub fn query_without(raw: Option<&str>, names: &[&str]) -> Vec<String> {
    raw.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let key = p.split_once('=').map_or(*p, |(k, _)| k);
            !names.contains(&key)
        })
        .map(str::to_owned)
        .collect()
}

/// `/x/...` short link of a content id, as Confluence makes them: base64 of
/// the id's little-endian bytes, trailing zero bytes dropped.
pub fn tiny_ui(id: u64) -> String {
    let bytes = id.to_le_bytes();
    let len = bytes.iter().rposition(|b| *b != 0).map_or(1, |i| i + 1);
    let s = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&bytes[..len]);
    format!("/x/{}", s.replace('/', "-").replace('+', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_cursor_round_trip_and_real_shape() {
        let c = V2Cursor {
            id: 3_997_697,
            order: "id".into(),
            value: Key::Num(3_997_697),
        };
        // The cursor observed from the real API.
        assert_eq!(
            c.encode(),
            "eyJpZCI6IjM5OTc2OTciLCJjb250ZW50T3JkZXIiOiJpZCIsImNvbnRlbnRPcmRlclZhbHVlIjozOTk3Njk3fQ=="
        );
        assert_eq!(V2Cursor::decode(&c.encode()), Some(c.clone()));
        // Without padding, or with `+` turned into a space.
        assert_eq!(V2Cursor::decode(c.encode().trim_end_matches('=')), Some(c));
        let t = V2Cursor {
            id: 5,
            order: "-title".into(),
            value: Key::Str("Ünïcödé ?/+".into()),
        };
        let enc = t.encode();
        assert_eq!(V2Cursor::decode(&enc.replace('+', " ")), Some(t));
        for bad in ["", "@@@", "eyJpZCI6IjEifQ==", &STD.encode("[1,2]")] {
            assert_eq!(V2Cursor::decode(bad), None, "{bad}");
        }
        let missing_value = STD.encode(r#"{"id":"1","contentOrder":"id","x":1}"#);
        assert_eq!(V2Cursor::decode(&missing_value), None);
        let bad_id = STD.encode(r#"{"id":"x","contentOrder":"id","contentOrderValue":1}"#);
        assert_eq!(V2Cursor::decode(&bad_id), None);
    }

    #[test]
    fn v1_cursor_round_trip() {
        let c = V1Cursor {
            start: 200,
            value: 1_764_000_000_123,
            id: 98_765,
        };
        let s = c.encode();
        assert!(s.starts_with("_f_MjAw_sa_"), "{s}");
        assert_eq!(V1Cursor::decode(&s), Some(c.clone()));
        assert_eq!(V1Cursor::decode(&s.replace('=', "")), Some(c));
        for bad in ["", "_f_MjAw", "_f_x_sa_y", "abc", "_f_MjAw_sa_WzFd"] {
            assert_eq!(V1Cursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn encoding_helpers() {
        assert_eq!(encode_segment("a b#1+.png"), "a%20b%231%2B.png");
        assert_eq!(encode_segment("図.png"), "%E5%9B%B3.png");
        assert_eq!(
            encode_query_value("type=page AND space=\"D\""),
            "type%3Dpage+AND+space%3D%22D%22"
        );
        assert_eq!(webui_title("Why? a/b"), "Why%3F+a%2Fb");
        assert_eq!(v2_cursor_in_link("ab+/c=="), "ab%2B%2Fc==");
        assert_eq!(
            query_without(
                Some("limit=2&cursor=x&body-format=storage&cursor"),
                &["cursor"]
            ),
            vec!["limit=2", "body-format=storage"]
        );
        assert!(query_without(None, &["cursor"]).is_empty());
        // Real: 688129 -> /x/AYAK.
        assert_eq!(tiny_ui(688_129), "/x/AYAK");
    }
}
