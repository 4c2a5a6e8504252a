//! HS256 JSON Web Tokens: the keys the fake prints and the checks PostgREST
//! makes on `Authorization: Bearer` (v13+ codes: PGRST301 when the token
//! cannot be decoded or its signature is wrong, PGRST303 when a claim check
//! fails).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

/// The `--jwt-secret` default (at least 32 characters, as Supabase's are).
pub const DEFAULT_SECRET: &str = "synchost-fake-supabase-jwt-secret-0123456789";

/// Seconds of clock skew PostgREST tolerates on `exp`, `nbf` and `iat`.
const LEEWAY_S: i64 = 30;

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// `header.claims.signature` with `{"alg":"HS256","typ":"JWT"}`.
pub fn sign(claims: &Value, secret: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let sig = hmac_sha256(secret.as_bytes(), signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// A Supabase API key for `role` (`anon` or `service_role`): issued at a
/// fixed time, valid until 2100, like the keys a project shows.
pub fn api_key(role: &str, secret: &str) -> String {
    sign(
        &json!({"iss": "supabase", "ref": "synchost-fake", "role": role, "iat": 1_700_000_000, "exp": 4_102_444_800u64}),
        secret,
    )
}

/// Why a token was refused: PostgREST's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtError {
    pub code: &'static str,
    pub message: String,
}

fn decode_error(message: impl Into<String>) -> JwtError {
    JwtError {
        code: "PGRST301",
        message: message.into(),
    }
}

fn claim_error(message: &str) -> JwtError {
    JwtError {
        code: "PGRST303",
        message: message.to_owned(),
    }
}

/// Verifies an HS256 token against `secret` at `now` (epoch seconds) and
/// returns its claims.
pub fn verify(token: &str, secret: &str, now: i64) -> Result<Map<String, Value>, JwtError> {
    if token.trim().is_empty() {
        return Err(decode_error("Empty JWT is sent in Authorization header"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(decode_error(format!(
            "Expected 3 parts in JWT; got {}",
            parts.len()
        )));
    }
    let json_part = |part: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?).ok()
    };
    let header =
        json_part(parts[0]).ok_or_else(|| decode_error("JWT cryptographic operation failed"))?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(decode_error("Wrong or unsupported encoding algorithm"));
    }
    let sig = URL_SAFE_NO_PAD
        .decode(parts[2].trim_end_matches('='))
        .map_err(|_| decode_error("JWT cryptographic operation failed"))?;
    let expected = hmac_sha256(
        secret.as_bytes(),
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
    );
    if sig.len() != expected.len()
        || sig
            .iter()
            .zip(expected)
            .fold(0, |acc, (a, b)| acc | (a ^ b))
            != 0
    {
        return Err(decode_error("No suitable key or wrong key type"));
    }
    let Some(Value::Object(claims)) = json_part(parts[1]) else {
        return Err(decode_error("JWT cryptographic operation failed"));
    };
    let time = |name: &str| claims.get(name).and_then(Value::as_f64).map(|t| t as i64);
    if time("exp").is_some_and(|exp| now > exp + LEEWAY_S) {
        return Err(claim_error("JWT expired"));
    }
    if time("nbf").is_some_and(|nbf| now + LEEWAY_S < nbf) {
        return Err(claim_error("JWT not yet valid"));
    }
    if time("iat").is_some_and(|iat| now + LEEWAY_S < iat) {
        return Err(claim_error("JWT issued at future"));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn sign_then_verify_and_refusals() {
        let token = sign(&json!({"role": "authenticated", "exp": 2000}), "s");
        assert_eq!(verify(&token, "s", 1000).unwrap()["role"], "authenticated");
        assert_eq!(verify(&token, "other", 1000).unwrap_err().code, "PGRST301");
        let expired = verify(&token, "s", 2031).unwrap_err();
        assert_eq!(
            (expired.code, expired.message.as_str()),
            ("PGRST303", "JWT expired")
        );
        assert!(verify(&token, "s", 2030).is_ok(), "30 s of leeway");
        assert_eq!(
            verify("a.b", "s", 0).unwrap_err().message,
            "Expected 3 parts in JWT; got 2"
        );
        assert_eq!(verify("", "s", 0).unwrap_err().code, "PGRST301");
        let mut tampered = token.clone();
        tampered.push('A');
        assert_eq!(verify(&tampered, "s", 1000).unwrap_err().code, "PGRST301");
        let future = sign(&json!({"nbf": 5000}), "s");
        assert_eq!(
            verify(&future, "s", 1000).unwrap_err().message,
            "JWT not yet valid"
        );
    }
}
