//! The disclosure key: the one secret behind record keys (cell-key perturbation) and pseudonyms.
//!
//! Everything derived from it is an HMAC-SHA256, never a plain hash: crime references, UPRNs and
//! business references can be enumerated, so a plain hash of one is as good as the id itself.
//! Outputs record only the key's [`KeyId`], which identifies the key without revealing it.

use std::fmt;
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::DisclosureError;

type HmacSha256 = Hmac<Sha256>;

/// The environment variable that may hold the key itself (instead of `disclosure.key_file`).
pub const KEY_ENV: &str = "LANTERN_DISCLOSURE_KEY";

/// Keys shorter than this many bytes are refused: HMAC-SHA256 wants 256 bits of secret.
pub const MIN_KEY_BYTES: usize = 32;

/// The secret. Its `Debug` never prints it.
#[derive(Clone)]
pub struct SecretKey {
    bytes: Vec<u8>,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.id())
    }
}

/// Names a key in manifests: the first 16 hex digits of HMAC(key, "lantern/key-id").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub String);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl SecretKey {
    /// A key from its text (a file's or the environment's contents, surrounding whitespace
    /// ignored).
    pub fn from_text(text: &str, origin: &str) -> Result<Self, DisclosureError> {
        let bytes = text.trim().as_bytes().to_vec();
        if bytes.len() < MIN_KEY_BYTES {
            return Err(DisclosureError::Key(format!(
                "{origin}: the key is {} bytes; at least {MIN_KEY_BYTES} are needed (make one \
                 with `lantern key new FILE`)",
                bytes.len()
            )));
        }
        Ok(SecretKey { bytes })
    }

    /// The key from `LANTERN_DISCLOSURE_KEY` if set, else from `file` if given. `None` when
    /// neither is set.
    pub fn load(file: Option<&Path>) -> Result<Option<Self>, DisclosureError> {
        if let Ok(text) = std::env::var(KEY_ENV) {
            return Self::from_text(&text, KEY_ENV).map(Some);
        }
        let Some(file) = file else { return Ok(None) };
        let text = std::fs::read_to_string(file).map_err(|e| {
            DisclosureError::Key(format!(
                "disclosure.key_file {}: {e} (make one with `lantern key new {}`)",
                file.display(),
                file.display()
            ))
        })?;
        Self::from_text(&text, &format!("disclosure.key_file {}", file.display())).map(Some)
    }

    /// A new random key as text (64 hex digits), for `lantern key new`.
    pub fn generate_text() -> Result<String, DisclosureError> {
        let mut bytes = [0u8; 32];
        getrandom(&mut bytes)?;
        Ok(hex::encode(bytes))
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.bytes).expect("HMAC takes any key length");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    pub fn id(&self) -> KeyId {
        KeyId(hex::encode(&self.mac(&[b"lantern/key-id"])[..8]))
    }

    /// A record's key for cell-key perturbation: uniform in `0..modulus`, fixed for the record
    /// whatever its version, so the records of a cell decide its noise and nothing else does.
    pub fn record_key(&self, record_id: &str, modulus: u32) -> u32 {
        let mac = self.mac(&[b"lantern/record-key\0", record_id.as_bytes()]);
        let wide = u64::from_be_bytes(mac[..8].try_into().expect("8 bytes"));
        (wide % u64::from(modulus)) as u32
    }

    /// The pseudonym of `id` in `domain` (one domain per kind of entity): hex of
    /// HMAC-SHA256(key, domain ‖ 0x00 ‖ id). The NUL keeps domain "ab" + id "c" apart from
    /// domain "a" + id "bc".
    pub fn pseudonym(&self, domain: &str, id: &str) -> String {
        hex::encode(self.mac(&[domain.as_bytes(), b"\0", id.as_bytes()]))
    }
}

/// Reads the operating system's random source.
fn getrandom(out: &mut [u8]) -> Result<(), DisclosureError> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(out))
        .map_err(|e| DisclosureError::Key(format!("reading /dev/urandom: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> SecretKey {
        SecretKey::from_text(text, "test").unwrap()
    }

    #[test]
    fn short_keys_are_refused_and_debug_hides_the_key() {
        let err = SecretKey::from_text("too short", "LANTERN_DISCLOSURE_KEY").unwrap_err();
        assert!(err.to_string().contains("LANTERN_DISCLOSURE_KEY"), "{err}");
        let k = key(&"k".repeat(40));
        assert!(!format!("{k:?}").contains("kkkk"));
        assert_eq!(k.id().0.len(), 16);
    }

    #[test]
    fn derived_values_depend_on_key_domain_and_id() {
        let (a, b) = (key(&"a".repeat(40)), key(&"b".repeat(40)));
        assert_ne!(a.pseudonym("victim", "V1"), b.pseudonym("victim", "V1"));
        assert_ne!(a.pseudonym("victim", "V1"), a.pseudonym("address", "V1"));
        assert_ne!(a.pseudonym("ab", "c"), a.pseudonym("a", "bc"));
        assert_eq!(a.pseudonym("victim", "V1"), a.pseudonym("victim", "V1"));
        assert_ne!(a.id(), b.id());
        let keys: std::collections::BTreeSet<u32> = (0..2000)
            .map(|i| a.record_key(&format!("r{i}"), 256))
            .collect();
        assert!(keys.len() > 240, "record keys should spread over 0..256");
        assert!(keys.iter().all(|k| *k < 256));
    }
}
