//! Credentials the host injects into requests to allowed hosts.
//!
//! The value is never shown: `Debug` redacts it and it is only ever written
//! into an outgoing request's headers. What a remote echoes back is redacted
//! before a plugin sees it: the secret itself, and the encodings a server is
//! likely to echo it in (base64, percent-encoding, JSON escapes).
//!
//! Redaction never corrupts data: nothing shorter than [`MIN_REDACTED`]
//! bytes is ever replaced, since it cannot be told apart from ordinary text
//! (a one-character token would otherwise turn every such character of
//! every response into `[REDACTED]`). A credential whose secret is that
//! short is not redacted at all, and the host warns when it starts.

use std::sync::Arc;

use base64::Engine as _;
use reqwest::header::{HeaderName, HeaderValue};

/// Secrets and encoded forms shorter than this are not redacted: they would
/// match ordinary text.
pub const MIN_REDACTED: usize = 8;

/// The headers (one, or two for Supabase) the host adds to every request to
/// the source's allowed hosts.
#[derive(Clone)]
pub struct Credential {
    headers: Vec<(HeaderName, HeaderValue)>,
    /// What [`Credential::redact`] replaces, the secrets first.
    forms: Arc<[Vec<u8>]>,
    /// Whether every secret in the values is long enough to be redacted.
    redactable: bool,
}

impl Credential {
    /// `Authorization: Bearer TOKEN`.
    pub fn bearer(token: &str) -> Credential {
        Credential::sensitive(
            reqwest::header::AUTHORIZATION,
            &format!("Bearer {}", token.trim()),
            &[],
        )
    }

    /// `Authorization: Basic base64(user:password)`.
    pub fn basic(user: &str, password: &str) -> Credential {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Credential::sensitive(
            reqwest::header::AUTHORIZATION,
            &format!("Basic {encoded}"),
            &[password],
        )
    }

    /// A custom header such as `x-api-key: VALUE`.
    pub fn header(name: &str, value: &str) -> Result<Credential, String> {
        let name = HeaderName::try_from(name)
            .map_err(|_| format!("`{name}` is not a valid header name"))?;
        Ok(Credential::sensitive(name, value, &[]))
    }

    /// Supabase's pair (contracts §3.1): `apikey: KEY` and
    /// `Authorization: Bearer` of a user's JWT, or of the key without one.
    pub fn supabase(key: &str, jwt: Option<&str>) -> Credential {
        let apikey = Credential::sensitive(HeaderName::from_static("apikey"), key.trim(), &[]);
        let bearer = Credential::bearer(jwt.unwrap_or(key));
        let mut forms = apikey.forms.to_vec();
        forms.extend(
            bearer
                .forms
                .iter()
                .filter(|f| !apikey.forms.contains(f))
                .cloned(),
        );
        Credential {
            headers: [apikey.headers, bearer.headers].concat(),
            forms: Arc::from(forms),
            redactable: apikey.redactable && bearer.redactable,
        }
    }

    /// `also` are further secrets inside the value (a basic-auth password).
    fn sensitive(name: HeaderName, value: &str, also: &[&str]) -> Credential {
        // A value with control characters cannot be sent; keep it out of the
        // error message, which could otherwise echo the secret.
        let mut value = HeaderValue::from_str(value)
            .unwrap_or_else(|_| HeaderValue::from_static("invalid-credential"));
        value.set_sensitive(true);
        let secret = secret_part(value.as_bytes());
        let redactable =
            secret.len() >= MIN_REDACTED && also.iter().all(|extra| extra.len() >= MIN_REDACTED);
        let forms = if secret.len() >= MIN_REDACTED {
            redacted_forms(secret, value.as_bytes(), also)
        } else {
            Vec::new()
        };
        Credential {
            headers: vec![(name, value)],
            forms: Arc::from(forms),
            redactable,
        }
    }

    /// The headers to add, values marked sensitive.
    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    /// Whether the credential sets the header `name`.
    pub fn sets(&self, name: &HeaderName) -> bool {
        self.headers.iter().any(|(own, _)| own == name)
    }

    /// False when the secret (or a basic-auth password) is shorter than
    /// [`MIN_REDACTED`] bytes: then echoes of it are not redacted.
    pub fn redactable(&self) -> bool {
        self.redactable
    }

    /// Replaces every occurrence of the secret, or of a likely encoding of
    /// it, in `bytes` (a response a remote echoed back, an error message)
    /// with `[REDACTED]`. Returns true if any.
    pub fn redact(&self, bytes: &mut Vec<u8>) -> bool {
        let mut any = false;
        for form in self.forms.iter() {
            any |= replace_all(bytes, form);
        }
        any
    }
}

/// The part of a header value after `Bearer ` or `Basic `; all of any other.
fn secret_part(value: &[u8]) -> &[u8] {
    match value.iter().position(|&b| b == b' ') {
        Some(space) if value.starts_with(b"Bearer ") || value.starts_with(b"Basic ") => {
            &value[space + 1..]
        }
        _ => value,
    }
}

/// The secret, then the encodings a server might echo it in: base64
/// (standard and URL-safe), percent-encoding and JSON escapes, of the
/// secret, of the whole header value and of each of `also`, which are
/// redacted raw as well. The header value itself is redacted only encoded:
/// raw, its secret part is already caught and `Bearer [REDACTED]` stays
/// readable.
fn redacted_forms(secret: &[u8], header_value: &[u8], also: &[&str]) -> Vec<Vec<u8>> {
    let encoded = |value: &[u8]| {
        [
            base64_prefix(&base64::engine::general_purpose::STANDARD_NO_PAD, value),
            base64_prefix(&base64::engine::general_purpose::URL_SAFE_NO_PAD, value),
            percent_encoded(value),
            serde_json::to_string(&String::from_utf8_lossy(value))
                .map(|quoted| quoted.trim_matches('"').as_bytes().to_vec())
                .unwrap_or_default(),
        ]
    };
    let mut candidates: Vec<Vec<u8>> = Vec::new();
    candidates.extend(encoded(secret));
    candidates.extend(encoded(header_value));
    for extra in also {
        candidates.push(extra.as_bytes().to_vec());
        candidates.extend(encoded(extra.as_bytes()));
    }
    let mut forms = vec![secret.to_vec()];
    for form in candidates {
        if form.len() >= MIN_REDACTED && !forms.contains(&form) {
            forms.push(form);
        }
    }
    forms
}

/// The part of `value`'s base64 that is the same wherever `value` starts a
/// 3-byte group of a longer encoded text: its whole groups.
fn base64_prefix(engine: &impl base64::Engine, value: &[u8]) -> Vec<u8> {
    let whole = value.len() / 3 * 3;
    engine.encode(&value[..whole]).into_bytes()
}

/// `value` with every byte outside the URL-unreserved set as `%XX`.
fn percent_encoded(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    for &byte in value {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte);
        } else {
            out.extend_from_slice(format!("%{byte:02X}").as_bytes());
        }
    }
    out
}

/// Replaces every `needle` in `bytes` with `[REDACTED]`; true if any.
fn replace_all(bytes: &mut Vec<u8>, needle: &[u8]) -> bool {
    if needle.is_empty() || memchr::memmem::find(bytes, needle).is_none() {
        return false;
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = &bytes[..];
    while let Some(at) = memchr::memmem::find(rest, needle) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(b"[REDACTED]");
        rest = &rest[at + needle.len()..];
    }
    out.extend_from_slice(rest);
    *bytes = out;
    true
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        write!(f, "Credential({}: <redacted>)", names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let credential = Credential::bearer("s3cr3t-token");
        assert!(!format!("{credential:?}").contains("s3cr3t"));
        let mut echoed = b"auth was Bearer s3cr3t-token, again s3cr3t-token.".to_vec();
        assert!(credential.redact(&mut echoed));
        assert_eq!(echoed, b"auth was Bearer [REDACTED], again [REDACTED].");
        assert!(!credential.redact(&mut b"nothing here".to_vec()));
    }

    #[test]
    fn encoded_echoes_are_redacted_too() {
        let token = "s3cr3t/t0ken+with=odd&chars";
        let credential = Credential::bearer(token);
        let b64 = |engine: &base64::engine::GeneralPurpose, text: &str| engine.encode(text);
        let standard = &base64::engine::general_purpose::STANDARD;
        let url_safe = &base64::engine::general_purpose::URL_SAFE;
        for echoed in [
            b64(standard, token),
            b64(url_safe, token),
            b64(standard, &format!("Bearer {token}")),
            format!("token={}", percent_encoded(token.as_bytes()).escape_ascii()),
            serde_json::to_string(token).unwrap(),
        ] {
            let mut body = format!("echo: {echoed} end").into_bytes();
            assert!(credential.redact(&mut body), "{echoed} was not caught");
            let text = String::from_utf8(body).unwrap();
            assert!(text.contains("[REDACTED]"), "{text}");
        }
        let mut plain = b"nothing here, not even s3c".to_vec();
        assert!(!credential.redact(&mut plain));
    }

    #[test]
    fn a_basic_password_is_redacted_on_its_own() {
        let credential = Credential::basic("me@example.com", "hunter2-long-password");
        let mut body = b"wrong password: hunter2-long-password".to_vec();
        assert!(credential.redact(&mut body));
        assert_eq!(body, b"wrong password: [REDACTED]");
    }

    /// A one-character token used to turn every such character of every
    /// response into `[REDACTED]`, which broke JSON: now nothing is replaced.
    #[test]
    fn a_short_secret_never_corrupts_data() {
        for credential in [
            Credential::bearer("x"),
            Credential::header("apikey", "1234567").unwrap(),
            Credential::basic("me@example.com", "pw"),
        ] {
            assert!(!credential.redactable(), "{credential:?}");
            let mut body = br#"{"x": 1, "text": "1234567 Bearer x pw QmVhcmVy"}"#.to_vec();
            let before = body.clone();
            assert!(!credential.redact(&mut body), "{credential:?}");
            assert_eq!(body, before);
        }
        assert!(Credential::bearer("12345678").redactable());
    }

    #[test]
    fn basic_is_base64_of_user_and_password() {
        let credential = Credential::basic("me@example.com", "tok");
        assert_eq!(
            credential.headers()[0].1.to_str().unwrap(),
            "Basic bWVAZXhhbXBsZS5jb206dG9r"
        );
    }

    #[test]
    fn supabase_sends_the_key_and_a_bearer_and_redacts_both() {
        let shown = |c: &Credential| {
            c.headers()
                .iter()
                .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap()))
                .collect::<Vec<_>>()
        };
        let key_only = Credential::supabase("project-key-123", None);
        assert_eq!(
            shown(&key_only),
            [
                "apikey: project-key-123",
                "authorization: Bearer project-key-123"
            ]
        );
        let with_jwt = Credential::supabase("project-key-123", Some("user.jwt.token"));
        assert_eq!(
            shown(&with_jwt),
            [
                "apikey: project-key-123",
                "authorization: Bearer user.jwt.token"
            ]
        );
        assert!(with_jwt.sets(&HeaderName::from_static("apikey")));
        assert!(!format!("{with_jwt:?}").contains("project-key"));
        let mut echoed = b"key project-key-123 and user.jwt.token".to_vec();
        assert!(with_jwt.redact(&mut echoed));
        assert_eq!(echoed, b"key [REDACTED] and [REDACTED]");
        assert!(!Credential::supabase("short", Some("user.jwt.token")).redactable());
    }
}
