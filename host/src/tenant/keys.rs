//! API keys: made at random, shown once, stored as SHA-256 hashes.
//!
//! Keys are 32 random bytes, so a fast hash is enough: there is nothing to
//! guess that a slow password hash would protect. A key is `weft_` and 64
//! hex digits; its id (shown in the audit log and `weft keys list`) is
//! random too and says nothing about the key.

use sha2::{Digest, Sha256};

/// The prefix every weft key starts with, so leaked keys can be found.
pub const PREFIX: &str = "weft_";

/// `sha256:HEX` of a key.
pub fn hash(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex = hex::encode(digest);
    format!("sha256:{hex}")
}

/// A new key (32 bytes from the operating system's random source) and its
/// id; no key is made when that source fails.
pub fn generate() -> Result<(String, String), crate::util::RandomError> {
    let key = format!("{PREFIX}{}", crate::util::random_hex(32)?);
    let id = format!("k{}", crate::util::random_hex(4)?);
    Ok((key, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hash_stably_and_differ() {
        let (a, id_a) = generate().unwrap();
        let (b, id_b) = generate().unwrap();
        assert_ne!(a, b);
        assert_ne!(id_a, id_b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 64);
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
        assert!(crate::config::tenant::check_hash(&hash(&a)).is_ok());
    }
}
