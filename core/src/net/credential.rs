//! Credentials the host injects into requests to allowed hosts.
//!
//! The value is never shown: `Debug` redacts it and it is only ever written
//! into an outgoing request's headers.

use base64::Engine as _;
use reqwest::header::{HeaderName, HeaderValue};

/// One header the host adds to every request to the source's allowed hosts.
#[derive(Clone)]
pub struct Credential {
    name: HeaderName,
    value: HeaderValue,
}

impl Credential {
    /// `Authorization: Bearer TOKEN`.
    pub fn bearer(token: &str) -> Credential {
        Credential::sensitive(
            reqwest::header::AUTHORIZATION,
            &format!("Bearer {}", token.trim()),
        )
    }

    /// `Authorization: Basic base64(user:password)`.
    pub fn basic(user: &str, password: &str) -> Credential {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Credential::sensitive(reqwest::header::AUTHORIZATION, &format!("Basic {encoded}"))
    }

    /// A custom header such as `apikey: VALUE`.
    pub fn header(name: &str, value: &str) -> Result<Credential, String> {
        let name = HeaderName::try_from(name)
            .map_err(|_| format!("`{name}` is not a valid header name"))?;
        Ok(Credential::sensitive(name, value))
    }

    fn sensitive(name: HeaderName, value: &str) -> Credential {
        // A value with control characters cannot be sent; keep it out of the
        // error message, which could otherwise echo the secret.
        let mut value = HeaderValue::from_str(value)
            .unwrap_or_else(|_| HeaderValue::from_static("invalid-credential"));
        value.set_sensitive(true);
        Credential { name, value }
    }

    pub fn header_name(&self) -> &HeaderName {
        &self.name
    }

    pub fn header_value(&self) -> &HeaderValue {
        &self.value
    }

    /// The secret part of the value (after the scheme, for `Bearer x` and
    /// `Basic x`), which must never be shown or handed to a plugin.
    pub fn secret(&self) -> &[u8] {
        let value = self.value.as_bytes();
        match value.iter().position(|&b| b == b' ') {
            Some(space) if value.starts_with(b"Bearer ") || value.starts_with(b"Basic ") => {
                &value[space + 1..]
            }
            _ => value,
        }
    }

    /// Replaces every occurrence of the secret in `bytes` (a response a remote
    /// echoed back, an error message) with `[REDACTED]`. Returns true if any.
    pub fn redact(&self, bytes: &mut Vec<u8>) -> bool {
        let secret = self.secret();
        if secret.is_empty() || memchr::memmem::find(bytes, secret).is_none() {
            return false;
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut rest = &bytes[..];
        while let Some(at) = memchr::memmem::find(rest, secret) {
            out.extend_from_slice(&rest[..at]);
            out.extend_from_slice(b"[REDACTED]");
            rest = &rest[at + secret.len()..];
        }
        out.extend_from_slice(rest);
        *bytes = out;
        true
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({}: <redacted>)", self.name)
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
    fn basic_is_base64_of_user_and_password() {
        let credential = Credential::basic("me@example.com", "tok");
        assert_eq!(
            credential.header_value().to_str().unwrap(),
            "Basic bWVAZXhhbXBsZS5jb206dG9r"
        );
    }
}
