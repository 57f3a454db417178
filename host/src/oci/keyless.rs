//! Keyless cosign signatures, verified offline: a signature made with a
//! short-lived certificate from Fulcio and recorded in Rekor, checked
//! against the Fulcio roots, Rekor keys and signer identities that
//! `[settings.trust.keyless]` names.
//!
//! `cosign sign` (keyless) puts on the signature layer, beside the
//! signature, the signing certificate (`dev.sigstore.cosign/certificate`),
//! its chain (`dev.sigstore.cosign/chain`) and Rekor's bundle
//! (`dev.sigstore.cosign/bundle`): the log entry and Rekor's signed entry
//! timestamp over it. A signature counts when all of these hold:
//! - the key of the entry's log (its ID is the key's SHA-256) verifies
//!   the timestamp over the entry;
//! - the entry records this signature, this payload's hash and this
//!   certificate;
//! - the certificate chains to a Fulcio root, for code signing, at the
//!   time the log recorded (Fulcio certificates live minutes);
//! - its subject (e-mail or URI) and its OIDC issuer match an identity;
//! - its key verifies the signature over the payload.
//!
//! Nothing here needs the network: the bundle carries what Rekor would be
//! asked. Without a bundle, a keyless signature is not verified.

use std::time::Duration;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ParsedPublicKey};
use base64::Engine as _;
use rustls::pki_types::{CertificateDer, UnixTime};
use serde::Deserialize;
use x509_cert::der::{Decode, Encode};

use super::store::sha256;
use crate::config::registries::{Identity, Keyless};

/// The annotation holding the signing certificate (PEM).
pub const CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
/// The annotation holding the certificate's chain (PEM).
pub const CHAIN: &str = "dev.sigstore.cosign/chain";
/// The annotation holding Rekor's bundle (JSON).
pub const BUNDLE: &str = "dev.sigstore.cosign/bundle";
/// The largest of those annotations read.
pub const MAX_ANNOTATION: usize = 64 << 10;

/// The code-signing extended key usage (1.3.6.1.5.5.7.3.3), DER.
const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
/// Fulcio's OIDC issuer extension, first as a raw string (…57264.1.1),
/// then as a DER UTF8String (…57264.1.8).
const ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
const ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
/// Subject alternative name.
const SAN: &str = "2.5.29.17";

/// What a keyless signature layer carries beside its signature.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// The signing certificate, PEM.
    pub certificate: String,
    /// Its chain, PEM (may be empty).
    pub chain: String,
    /// Rekor's bundle, JSON (none: not verifiable offline).
    pub bundle: Option<String>,
}

/// Rekor's bundle as cosign attaches it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Bundle {
    signed_entry_timestamp: String,
    payload: Entry,
}

/// The log entry Rekor's timestamp signs.
#[derive(Deserialize)]
struct Entry {
    body: String,
    #[serde(rename = "integratedTime")]
    integrated_time: i64,
    #[serde(rename = "logIndex")]
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

/// The signer's identity (`SUBJECT (ISSUER)`) if `evidence` shows a
/// valid keyless signature `signature` over `payload`; else why not.
pub fn verify(
    keyless: &Keyless,
    payload: &[u8],
    signature: &[u8],
    evidence: &Evidence,
) -> Result<String, String> {
    let bundle = evidence
        .bundle
        .as_deref()
        .ok_or("a keyless signature without a Rekor bundle (weft verifies offline)")?;
    let bundle: Bundle =
        serde_json::from_str(bundle).map_err(|e| format!("its Rekor bundle is not valid: {e}"))?;
    let entry = &bundle.payload;
    // The entry as Rekor signed it: canonical JSON (keys sorted, no
    // spaces). Its strings are base64 and hex, which need no escaping.
    let plain = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    };
    if !plain(&entry.body) || !plain(&entry.log_id) {
        return Err("its Rekor bundle is not valid: unexpected characters".into());
    }
    let canonical = format!(
        r#"{{"body":"{}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
        entry.body, entry.integrated_time, entry.log_id, entry.log_index
    );
    let set = b64(&bundle.signed_entry_timestamp)
        .map_err(|e| format!("its Rekor timestamp is not base64: {e}"))?;
    // The log's ID is the SHA-256 of its key: only that key may sign.
    let Some(log) = keyless.rekor_keys.iter().find(|k| k.id == entry.log_id) else {
        return Err(format!(
            "its Rekor entry is from log {}, whose key is not trusted",
            crate::config::oci::cut(&entry.log_id, 80)
        ));
    };
    if !log.verifies(canonical.as_bytes(), &set) {
        return Err(format!(
            "its Rekor entry is not signed by the key of its log ({})",
            log.name()
        ));
    }

    let leaf = pem_certs(&evidence.certificate)?
        .into_iter()
        .next()
        .ok_or("its signing certificate is not PEM")?;
    check_entry(&entry.body, payload, signature, &leaf)?;

    let chain = pem_certs(&evidence.chain)?;
    let anchors: Vec<_> = keyless
        .roots
        .iter()
        .filter_map(|c| webpki::anchor_from_trusted_cert(c).ok())
        .collect();
    let cert = webpki::EndEntityCert::try_from(&leaf)
        .map_err(|e| format!("its signing certificate cannot be read: {e:?}"))?;
    let when = u64::try_from(entry.integrated_time)
        .map_err(|_| "its Rekor entry has a negative time".to_string())?;
    let algorithms = rustls::crypto::aws_lc_rs::default_provider()
        .signature_verification_algorithms
        .all;
    cert.verify_for_usage(
        algorithms,
        &anchors,
        &chain,
        UnixTime::since_unix_epoch(Duration::from_secs(when)),
        webpki::KeyUsage::required(CODE_SIGNING),
        None,
        None,
    )
    .map_err(chain_error)?;

    let (subject, issuer, spki) = identity_of(&leaf)?;
    if !keyless
        .identities
        .iter()
        .any(|i: &Identity| i.subject == subject && i.issuer == issuer)
    {
        return Err(format!(
            "it was signed by {} ({}), not a trusted identity",
            crate::config::oci::cut(&subject, 200),
            crate::config::oci::cut(&issuer, 200)
        ));
    }
    ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &spki)
        .ok()
        .filter(|k| k.verify_sig(payload, signature).is_ok())
        .ok_or("its signature is not made by its certificate's key")?;
    Ok(format!("{subject} (keyless, issuer {issuer})"))
}

/// Why the certificate's chain failed, in words.
fn chain_error(e: webpki::Error) -> String {
    use webpki::Error as E;
    match e {
        E::CertExpired { .. } => {
            "its signing certificate had expired when Rekor recorded the signature".into()
        }
        E::CertNotValidYet { .. } => {
            "its signing certificate was not yet valid when Rekor recorded the signature".into()
        }
        // An unknown CA, or one named as a trusted one but not it.
        E::UnknownIssuer | E::InvalidSignatureForPublicKey => {
            "its signing certificate does not chain to a trusted Fulcio root".into()
        }
        E::RequiredEkuNotFoundContext(_) => {
            "its signing certificate is not for code signing".into()
        }
        other => format!("its signing certificate is not valid: {other:?}"),
    }
}

fn b64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    base64::engine::general_purpose::STANDARD.decode(text.trim())
}

/// The DER certificates in PEM `text`.
fn pem_certs(text: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("a certificate it carries is not PEM: {e}"))
}

/// Checks that Rekor's entry (`hashedrekord`, base64 JSON) records this
/// payload's hash, this signature and this certificate.
fn check_entry(
    body: &str,
    payload: &[u8],
    signature: &[u8],
    leaf: &CertificateDer<'_>,
) -> Result<(), String> {
    let bad = |what: &str| format!("its Rekor entry does not record {what}");
    let body = b64(body).map_err(|_| bad("anything readable"))?;
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|_| bad("JSON"))?;
    if v["kind"] != "hashedrekord" {
        return Err(bad("a hashedrekord"));
    }
    let spec = &v["spec"];
    let hash = &spec["data"]["hash"];
    let want = sha256(payload);
    if hash["algorithm"] != "sha256" || Some(&want[7..]) != hash["value"].as_str() {
        return Err(bad("this payload"));
    }
    let recorded = spec["signature"]["content"]
        .as_str()
        .and_then(|s| b64(s).ok());
    if recorded.as_deref() != Some(signature) {
        return Err(bad("this signature"));
    }
    let key = spec["signature"]["publicKey"]["content"]
        .as_str()
        .and_then(|s| b64(s).ok())
        .and_then(|pem| String::from_utf8(pem).ok())
        .and_then(|pem| pem_certs(&pem).ok())
        .and_then(|c| c.into_iter().next());
    if key.as_ref() != Some(leaf) {
        return Err(bad("this certificate"));
    }
    Ok(())
}

/// The certificate's subject (its e-mail or URI alternative name), its
/// OIDC issuer, and its public key (SPKI DER).
fn identity_of(leaf: &CertificateDer<'_>) -> Result<(String, String, Vec<u8>), String> {
    use x509_cert::ext::pkix::SubjectAltName;
    use x509_cert::ext::pkix::name::GeneralName;
    let cert = x509_cert::Certificate::from_der(leaf.as_ref())
        .map_err(|e| format!("its signing certificate cannot be read: {e}"))?;
    let tbs = &cert.tbs_certificate;
    let mut subject = None;
    let mut issuer = None;
    for ext in tbs.extensions.iter().flatten() {
        let value = ext.extn_value.as_bytes();
        match ext.extn_id.to_string().as_str() {
            SAN => {
                let names = SubjectAltName::from_der(value)
                    .map_err(|e| format!("its certificate's names cannot be read: {e}"))?;
                subject = names.0.into_iter().find_map(|n| match n {
                    GeneralName::Rfc822Name(s) => Some(s.to_string()),
                    GeneralName::UniformResourceIdentifier(s) => Some(s.to_string()),
                    _ => None,
                });
            }
            ISSUER_V2 => {
                issuer = x509_cert::der::asn1::Utf8StringRef::from_der(value)
                    .ok()
                    .map(|s| s.to_string());
            }
            ISSUER_V1 if issuer.is_none() => {
                issuer = std::str::from_utf8(value).ok().map(str::to_string);
            }
            _ => {}
        }
    }
    let spki = tbs
        .subject_public_key_info
        .to_der()
        .map_err(|e| format!("its certificate's key cannot be read: {e}"))?;
    match (subject, issuer) {
        (Some(s), Some(i)) => Ok((s, i, spki)),
        _ => Err(
            "its certificate names no signer or no OIDC issuer (not a Fulcio certificate)".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64e(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// A hashedrekord entry body recording `payload`, `signature` and the
    /// certificate `cert` (DER), base64 as Rekor sends it.
    fn entry(kind: &str, payload: &[u8], signature: &[u8], cert: &[u8]) -> String {
        let pem = pem::encode(&pem::Pem::new("CERTIFICATE", cert.to_vec()));
        let body = serde_json::json!({
            "apiVersion": "0.0.1", "kind": kind,
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": &sha256(payload)[7..]}},
                "signature": {"content": b64e(signature), "publicKey": {"content": b64e(pem.as_bytes())}}
            }
        });
        b64e(body.to_string().as_bytes())
    }

    #[test]
    fn the_rekor_entry_must_record_this_payload_signature_and_certificate() {
        let leaf = CertificateDer::from(vec![0x30, 1, 2]);
        let ok = entry("hashedrekord", b"payload", b"sig", &[0x30, 1, 2]);
        assert_eq!(check_entry(&ok, b"payload", b"sig", &leaf), Ok(()));
        for (body, what) in [
            (
                entry("rekord", b"payload", b"sig", &[0x30, 1, 2]),
                "a hashedrekord",
            ),
            (
                entry("hashedrekord", b"other", b"sig", &[0x30, 1, 2]),
                "this payload",
            ),
            (
                entry("hashedrekord", b"payload", b"other", &[0x30, 1, 2]),
                "this signature",
            ),
            (
                entry("hashedrekord", b"payload", b"sig", &[0x30, 9, 9]),
                "this certificate",
            ),
            ("!!".to_string(), "anything readable"),
            (b64e(b"[1, 2"), "JSON"),
        ] {
            assert_eq!(
                check_entry(&body, b"payload", b"sig", &leaf),
                Err(format!("its Rekor entry does not record {what}"))
            );
        }
    }

    #[test]
    fn a_bundle_is_checked_before_any_certificate_is_read() {
        let keyless = Keyless {
            roots: Vec::new(),
            rekor_keys: Vec::new(),
            identities: Vec::new(),
        };
        let evidence = |bundle: Option<&str>| Evidence {
            certificate: "not PEM".into(),
            chain: String::new(),
            bundle: bundle.map(str::to_string),
        };
        let cases = [
            (
                None,
                "a keyless signature without a Rekor bundle (weft verifies offline)",
            ),
            (Some("{"), "its Rekor bundle is not valid: "),
            (
                Some(
                    r#"{"SignedEntryTimestamp":"AA==","Payload":{"body":"a\"b","integratedTime":1,"logIndex":1,"logID":"x"}}"#,
                ),
                "its Rekor bundle is not valid: unexpected characters",
            ),
            (
                Some(
                    r#"{"SignedEntryTimestamp":"AA==","Payload":{"body":"ab","integratedTime":1,"logIndex":1,"logID":"x"}}"#,
                ),
                "its Rekor entry is from log x, whose key is not trusted",
            ),
        ];
        for (bundle, why) in cases {
            let e = verify(&keyless, b"p", b"s", &evidence(bundle)).unwrap_err();
            assert!(e.starts_with(why), "{e}");
        }
    }
}
