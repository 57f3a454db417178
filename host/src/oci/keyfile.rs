//! The private key `weft sign --key` signs with: an ECDSA P-256 key in
//! PEM, as `openssl` writes it (PKCS#8 or SEC1), or cosign's own
//! encrypted key file (`cosign generate-key-pair`), opened with the
//! password in `COSIGN_PASSWORD`.
//!
//! A cosign key file is PEM (`ENCRYPTED SIGSTORE PRIVATE KEY`, or
//! `ENCRYPTED COSIGN PRIVATE KEY` from older cosign) around JSON: the
//! scrypt parameters and salt that turn the password into a 32-byte key,
//! and the nacl/secretbox nonce and ciphertext that key opens. Inside is
//! the PKCS#8 DER of the private key.

use std::path::{Path, PathBuf};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use base64::Engine as _;
use crypto_secretbox::XSalsa20Poly1305;
use crypto_secretbox::aead::{Aead, KeyInit};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use serde::Deserialize;

use super::OciError;

/// The environment variable cosign reads a key's password from.
pub const PASSWORD_VAR: &str = "COSIGN_PASSWORD";

/// The PEM labels of cosign's encrypted keys (new, then old).
const COSIGN_LABELS: [&str; 2] = [
    "ENCRYPTED SIGSTORE PRIVATE KEY",
    "ENCRYPTED COSIGN PRIVATE KEY",
];

/// The largest key file read.
const MAX_KEY_FILE: u64 = 64 << 10;

/// The most memory scrypt may take for a key file's parameters
/// (128 · r · (N + p + 2) bytes; cosign's own are N = 32768, r = 8, p = 1:
/// 32 MiB).
const MAX_SCRYPT_MEMORY: u64 = 256 << 20;

/// The largest scrypt parallelism accepted (cosign uses 1).
const MAX_SCRYPT_P: u32 = 16;

/// A private key to sign with, and the file it came from.
pub struct SigningKey {
    /// The key file, as messages name it.
    pub file: PathBuf,
    pub(super) pair: EcdsaKeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads `file`. A cosign encrypted key needs `password` (the value of
    /// `COSIGN_PASSWORD`, which may be empty). This takes up to a few
    /// hundred milliseconds of CPU for a cosign key: call it off the
    /// async workers.
    pub fn read(file: &Path, password: Option<&str>) -> Result<SigningKey, OciError> {
        let bad = |why: String| OciError::File {
            path: file.to_path_buf(),
            why,
        };
        let size = std::fs::metadata(file)
            .map_err(|e| bad(e.to_string()))?
            .len();
        if size > MAX_KEY_FILE {
            return Err(bad(format!(
                "is {size} bytes, more than a key file's {MAX_KEY_FILE}: name the PEM private key"
            )));
        }
        let text = std::fs::read(file).map_err(|e| bad(e.to_string()))?;
        let der = match pem::parse(&text) {
            Ok(p) if COSIGN_LABELS.contains(&p.tag()) => {
                let Some(password) = password else {
                    return Err(bad(format!(
                        "is a cosign encrypted key: set {PASSWORD_VAR} to its password (empty if it has none)"
                    )));
                };
                decrypt(p.contents(), password.as_bytes()).map_err(bad)?
            }
            Ok(p) if p.tag() == "ENCRYPTED PRIVATE KEY" => {
                return Err(bad(
                    "is a password-protected PKCS#8 key, which weft does not read: export it unencrypted (`openssl pkcs8 -topk8 -nocrypt`) or use a cosign key file".into(),
                ));
            }
            _ => PrivateKeyDer::from_pem_slice(&text)
                .map_err(|e| bad(format!("holds no PEM private key: {e}")))?
                .secret_der()
                .to_vec(),
        };
        let pair = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, &der)
            .map_err(|e| bad(format!("is not an ECDSA P-256 private key: {e}")))?;
        Ok(SigningKey {
            file: file.to_path_buf(),
            pair,
        })
    }
}

/// The JSON inside a cosign key file.
#[derive(Deserialize)]
struct Sealed {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// The PKCS#8 DER sealed in a cosign key file's JSON, or why not.
fn decrypt(json: &[u8], password: &[u8]) -> Result<Vec<u8>, String> {
    let sealed: Sealed = serde_json::from_slice(json)
        .map_err(|e| format!("is not a cosign key file (its contents: {e})"))?;
    if sealed.kdf.name != "scrypt" || sealed.cipher.name != "nacl/secretbox" {
        return Err(format!(
            "uses {:.40}/{:.40}; weft reads cosign's scrypt/nacl/secretbox keys",
            sealed.kdf.name, sealed.cipher.name
        ));
    }
    let ScryptParams { n, r, p } = sealed.kdf.params;
    // scrypt's buffers: 128·r·N for V, 128·r·p for B, 256·r for XY.
    let memory = 128u64
        .saturating_mul(u64::from(r))
        .saturating_mul(n.saturating_add(u64::from(p)).saturating_add(2));
    if !n.is_power_of_two() || n < 2 || r == 0 || p == 0 || p > MAX_SCRYPT_P {
        return Err(format!(
            "has scrypt parameters N={n} r={r} p={p}, which are not valid"
        ));
    }
    if memory > MAX_SCRYPT_MEMORY {
        return Err(format!(
            "asks scrypt for {} MiB (N={n} r={r}), more than weft allows ({} MiB)",
            memory >> 20,
            MAX_SCRYPT_MEMORY >> 20
        ));
    }
    let b64 = |field: &str, text: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| format!("has a {field} that is not base64: {e}"))
    };
    let salt = b64("salt", &sealed.kdf.salt)?;
    let nonce = b64("nonce", &sealed.cipher.nonce)?;
    let ciphertext = b64("ciphertext", &sealed.ciphertext)?;
    let nonce: [u8; 24] = nonce
        .try_into()
        .map_err(|_| "has a nonce that is not 24 bytes".to_string())?;
    let log_n = n.trailing_zeros() as u8;
    let params = scrypt::Params::new(log_n, r, p, 32)
        .map_err(|e| format!("has scrypt parameters weft cannot use: {e}"))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password, &salt, &params, &mut key).map_err(|e| e.to_string())?;
    let cipher = XSalsa20Poly1305::new_from_slice(&key).map_err(|e| e.to_string())?;
    cipher
        .decrypt(&nonce.into(), ciphertext.as_slice())
        .map_err(|_| {
            format!("cannot be opened with the password in {PASSWORD_VAR}: is it the right one?")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key file sealed as cosign seals one, with cheap scrypt parameters.
    fn seal(der: &[u8], password: &[u8], n: u64) -> String {
        let salt = [7u8; 32];
        let nonce = [9u8; 24];
        let params = scrypt::Params::new(n.trailing_zeros() as u8, 8, 1, 32).unwrap();
        let mut key = [0u8; 32];
        scrypt::scrypt(password, &salt, &params, &mut key).unwrap();
        let sealed = XSalsa20Poly1305::new_from_slice(&key)
            .unwrap()
            .encrypt(&nonce.into(), der)
            .unwrap();
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let json = serde_json::json!({
            "kdf": {"name": "scrypt", "params": {"N": n, "r": 8, "p": 1}, "salt": b64(&salt)},
            "cipher": {"name": "nacl/secretbox", "nonce": b64(&nonce)},
            "ciphertext": b64(&sealed),
        });
        pem::encode(&pem::Pem::new(
            "ENCRYPTED SIGSTORE PRIVATE KEY",
            json.to_string().into_bytes(),
        ))
    }

    fn der() -> Vec<u8> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .unwrap()
            .as_ref()
            .to_vec()
    }

    fn write(dir: &Path, text: &str) -> PathBuf {
        let file = dir.join("cosign.key");
        std::fs::write(&file, text).unwrap();
        file
    }

    #[test]
    fn a_cosign_key_opens_with_its_password_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), &seal(&der(), b"hunter2", 1024));
        assert!(SigningKey::read(&file, Some("hunter2")).is_ok());
        let wrong = SigningKey::read(&file, Some("hunter3"))
            .unwrap_err()
            .to_string();
        assert!(
            wrong.ends_with(
                "cannot be opened with the password in COSIGN_PASSWORD: is it the right one?"
            ),
            "{wrong}"
        );
        let none = SigningKey::read(&file, None).unwrap_err().to_string();
        assert!(none.ends_with("is a cosign encrypted key: set COSIGN_PASSWORD to its password (empty if it has none)"), "{none}");
    }

    #[test]
    fn hostile_scrypt_parameters_are_refused_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        let text = seal(&der(), b"", 1024);
        for (n, r, p, why) in [
            (1u64 << 30, 8u32, 1u32, "asks scrypt for 1048576 MiB"),
            (2, 1 << 20, 16, "asks scrypt for 2560 MiB"),
            (1000, 8, 1, "N=1000 r=8 p=1, which are not valid"),
            (1024, 0, 1, "N=1024 r=0 p=1, which are not valid"),
            (1024, 8, 0, "N=1024 r=8 p=0, which are not valid"),
            (1024, 8, 1000, "N=1024 r=8 p=1000, which are not valid"),
        ] {
            let p0 = pem::parse(&text).unwrap();
            let mut json: serde_json::Value = serde_json::from_slice(p0.contents()).unwrap();
            json["kdf"]["params"] = serde_json::json!({"N": n, "r": r, "p": p});
            let changed = pem::encode(&pem::Pem::new(p0.tag(), json.to_string().into_bytes()));
            let file = write(dir.path(), &changed);
            let e = SigningKey::read(&file, Some("")).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn other_key_files_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let pkcs8 = write(
            dir.path(),
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        );
        let e = SigningKey::read(&pkcs8, None).unwrap_err().to_string();
        assert!(e.contains("openssl pkcs8 -topk8 -nocrypt"), "{e}");
        let plain = write(
            dir.path(),
            &pem::encode(&pem::Pem::new("PRIVATE KEY", der())),
        );
        assert!(SigningKey::read(&plain, None).is_ok());
        let junk = write(dir.path(), "not a key");
        let e = SigningKey::read(&junk, None).unwrap_err().to_string();
        assert!(e.contains("holds no PEM private key"), "{e}");
    }
}
