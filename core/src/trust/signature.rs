//! Detached ed25519 signatures of plugin files (`FILE.sig`) and their keys.
//!
//! A signature file is TOML:
//!
//! ```toml
//! format = "synchost-plugin-signature-v1"
//! sha256 = "<hex sha256 of the plugin file>"
//! key_id = "<16 hex digits: the start of the sha256 of the public key>"
//! public_key = "ed25519:<base64 of the 32-byte public key>"
//! signature = "<base64 of the 64-byte ed25519 signature>"
//! ```
//!
//! What is signed is [`message`]: the format name and the file's sha256, so
//! a key used for plugins signs nothing else by accident. Keys are written
//! `ed25519:BASE64` (public) and `ed25519-secret:BASE64` (the 32-byte seed).

use std::fmt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `format` of signature files this synchost writes and reads.
pub const FORMAT: &str = "synchost-plugin-signature-v1";
const PUBLIC_PREFIX: &str = "ed25519:";
const SECRET_PREFIX: &str = "ed25519-secret:";
/// A signature file is a few hundred bytes; a larger one is not read.
const MAX_SIG_BYTES: u64 = 4096;

/// An ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses `ed25519:BASE64`.
    pub fn parse(text: &str) -> Result<PublicKey, String> {
        let encoded = text.trim().strip_prefix(PUBLIC_PREFIX).ok_or_else(|| {
            format!(
                "`{}` is not a public key: expected `ed25519:BASE64`",
                clip(text)
            )
        })?;
        let bytes: [u8; 32] = BASE64
            .decode(encoded)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| {
                format!(
                    "`{}` is not a public key: expected 32 bytes in base64",
                    clip(text)
                )
            })?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| format!("`{}` is not a valid ed25519 public key", clip(text)))
    }

    /// The key's id: the first 8 bytes of the sha256 of its 32 bytes, in hex.
    pub fn id(&self) -> String {
        hex::encode(&Sha256::digest(self.0.as_bytes())[..8])
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", BASE64.encode(self.0.as_bytes()))
    }
}

/// A secret signing key.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> SecretKey {
        SecretKey(SigningKey::from_bytes(&rand::random::<[u8; 32]>()))
    }

    /// Parses `ed25519-secret:BASE64` (a key file's content).
    pub fn parse(text: &str) -> Result<SecretKey, String> {
        let seed: [u8; 32] = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .and_then(|encoded| BASE64.decode(encoded).ok())
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or("it is not a synchost secret key (`ed25519-secret:BASE64` of 32 bytes)")?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The key file's content.
    pub fn encoded(&self) -> String {
        format!("{SECRET_PREFIX}{}\n", BASE64.encode(self.0.to_bytes()))
    }

    /// The signature file for a plugin whose content has `sha256`.
    pub fn sign(&self, sha256: &str) -> String {
        let public = self.public();
        let file = SignatureFile {
            format: FORMAT.into(),
            sha256: sha256.into(),
            key_id: public.id(),
            public_key: public.to_string(),
            signature: BASE64.encode(self.0.sign(&message(sha256)).to_bytes()),
        };
        let body = toml::to_string(&file).expect("a signature file serializes");
        format!("# synchost plugin signature (ed25519, detached): see docs/security.md\n{body}")
    }
}

/// What is signed: the format name and the plugin's sha256.
pub fn message(sha256: &str) -> Vec<u8> {
    format!("{FORMAT}\nsha256:{}\n", sha256.to_ascii_lowercase()).into_bytes()
}

/// `FILE.sig` beside `FILE`.
pub fn sig_path(plugin: &Path) -> PathBuf {
    let mut name = plugin.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFile {
    format: String,
    sha256: String,
    key_id: String,
    public_key: String,
    signature: String,
}

/// What the signature beside a plugin file says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// No `FILE.sig`.
    Unsigned,
    /// A `FILE.sig` that does not prove the file was signed: why.
    Invalid(String),
    /// A valid signature of this very content by this key (trusted or not).
    Valid(PublicKey),
}

/// Checks `FILE.sig` against the file's `sha256` (the host hashed the
/// bytes it compiles: the signature covers exactly what runs).
pub fn verify(plugin: &Path, sha256: &str) -> Verified {
    let path = sig_path(plugin);
    let text = match read_bounded(&path) {
        Ok(Some(text)) => text,
        Ok(None) => return Verified::Unsigned,
        Err(why) => return Verified::Invalid(format!("{}: {why}", path.display())),
    };
    match verify_text(&text, sha256) {
        Ok(key) => Verified::Valid(key),
        Err(why) => Verified::Invalid(format!("{}: {why}", path.display())),
    }
}

/// Checks a signature file's text against a content's `sha256`.
pub fn verify_text(text: &str, sha256: &str) -> Result<PublicKey, String> {
    let file: SignatureFile =
        toml::from_str(text).map_err(|e| format!("unreadable: {}", clip(e.message())))?;
    if file.format != FORMAT {
        return Err(format!("format `{}` is not {FORMAT}", clip(&file.format)));
    }
    let key = PublicKey::parse(&file.public_key)?;
    if file.key_id != key.id() {
        return Err(format!(
            "key_id `{}` is not the id of its public key ({})",
            clip(&file.key_id),
            key.id()
        ));
    }
    if !file.sha256.eq_ignore_ascii_case(sha256) {
        return Err(format!(
            "it signs sha256 {}, but the file's sha256 is {sha256} (the file changed after \
             it was signed)",
            clip(&file.sha256)
        ));
    }
    let signature: [u8; 64] = BASE64
        .decode(file.signature.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or("its signature is not 64 bytes in base64")?;
    key.0
        .verify_strict(&message(sha256), &Signature::from_bytes(&signature))
        .map_err(|_| format!("the signature does not verify under key {}", key.id()))?;
    Ok(key)
}

/// The file's text; `None` when there is none.
fn read_bounded(path: &Path) -> Result<Option<String>, String> {
    use std::io::Read;
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(format!("cannot be read: {err}")),
    };
    let mut text = String::new();
    file.take(MAX_SIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|err| format!("cannot be read: {err}"))?;
    if text.len() as u64 > MAX_SIG_BYTES {
        return Err(format!("is over {MAX_SIG_BYTES} bytes"));
    }
    Ok(Some(text))
}

/// Text from a file someone else wrote, made safe and short for a message.
fn clip(text: &str) -> String {
    crate::untrusted::Untrusted::clipped(text, 100).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn a_signature_verifies_only_its_content_and_key() {
        let key = SecretKey::generate();
        let sig = key.sign(SHA);
        assert_eq!(verify_text(&sig, SHA), Ok(key.public()));
        let other = SHA.replace("00", "11");
        let why = verify_text(&sig, &other).unwrap_err();
        assert!(why.contains("the file changed"), "{why}");

        // The right sha256 claimed, the signature of another content.
        let forged = sig.replace(SHA, &other);
        let why = verify_text(&forged, &other).unwrap_err();
        assert!(why.contains("does not verify"), "{why}");

        // Another key swapped in: its id and its signature disagree.
        let stranger = SecretKey::generate().public();
        let swapped = sig
            .replace(&key.public().to_string(), &stranger.to_string())
            .replace(&key.public().id(), &stranger.id());
        assert!(verify_text(&swapped, SHA)
            .unwrap_err()
            .contains("does not verify"));
    }

    #[test]
    fn keys_round_trip_and_bad_ones_are_named() {
        let key = SecretKey::generate();
        let again = SecretKey::parse(&key.encoded()).unwrap();
        assert_eq!(again.public(), key.public());
        let public = key.public().to_string();
        assert_eq!(PublicKey::parse(&public), Ok(key.public()));
        assert_eq!(key.public().id().len(), 16);
        assert!(PublicKey::parse("rsa:AAAA")
            .unwrap_err()
            .contains("expected"));
        assert!(PublicKey::parse("ed25519:AAAA")
            .unwrap_err()
            .contains("32 bytes"));
        assert!(SecretKey::parse(&public).is_err());
    }

    #[test]
    fn sig_paths_append_to_the_name() {
        assert_eq!(
            sig_path(Path::new("plugins/a.wasm")),
            PathBuf::from("plugins/a.wasm.sig")
        );
    }
}
