//! Signatures made outside weft (issue 61): a cosign encrypted key file
//! sealed by PyNaCl, which `weft sign` opens with COSIGN_PASSWORD; and
//! keyless cosign signatures, verified offline: a test Fulcio
//! (an rcgen CA issuing a short-lived code-signing certificate with the
//! signer's e-mail and OIDC issuer, as Fulcio does) and a test Rekor key
//! signing the entry, laid out on the signature artifact as `cosign sign`
//! lays them out, and pushed by skopeo. The real Fulcio and Rekor are on
//! the internet, which the tests do not have; their roots and keys are
//! what `[settings.trust.keyless]` names in production.

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, PublicKeyData as _, SanType, SigningKey as _, date_time_ymd,
};
use serde_json::{Value, json};

use crate::oci::{config, failed, ok, push, run_p, trivial, weft_at};
use crate::support::registry::{Registry, digest_of};
use crate::support::*;

const SIGNER: &str = "ci@acme.dev";
const OIDC: &str = "https://issuer.acme.dev";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A test Fulcio (a root CA) and Rekor (a key, and its log's ID).
struct Sigstore {
    root_pem: String,
    ca: Issuer<'static, KeyPair>,
    rekor: KeyPair,
    log_id: String,
}

/// A signing certificate as Fulcio issues it, and its key.
struct Leaf {
    pem: String,
    key: KeyPair,
}

impl Sigstore {
    fn new() -> Sigstore {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let root_pem = ca.self_signed(&ca_key).unwrap().pem();
        let rekor = KeyPair::generate().unwrap();
        let log_id = digest_of(&rekor.subject_public_key_info())[7..].to_string();
        Sigstore {
            root_pem,
            ca: Issuer::new(ca, ca_key),
            rekor,
            log_id,
        }
    }

    /// A certificate for [`SIGNER`] from [`OIDC`], valid on 2025-01-01
    /// only, for `usage`.
    fn leaf(&self, usage: ExtendedKeyUsagePurpose) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
        leaf.subject_alt_names = vec![SanType::Rfc822Name(SIGNER.try_into().unwrap())];
        leaf.extended_key_usages = vec![usage];
        leaf.custom_extensions = vec![CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 4, 1, 57264, 1, 1],
            OIDC.as_bytes().to_vec(),
        )];
        leaf.not_before = date_time_ymd(2025, 1, 1);
        leaf.not_after = date_time_ymd(2025, 1, 2);
        let pem = leaf.signed_by(&key, &self.ca).unwrap().pem();
        Leaf { pem, key }
    }

    /// The signature layer's annotations for `payload` signed by `leaf`:
    /// its chain is this Fulcio's root, and the entry is recorded in log
    /// `log_id` at `when` (seconds since 1970), the timestamp signed by
    /// `set_key`.
    fn annotations(
        &self,
        leaf: &Leaf,
        payload: &[u8],
        when: i64,
        log_id: &str,
        set_key: &KeyPair,
    ) -> Value {
        let signature = leaf.key.sign(payload).unwrap();
        let entry = json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": &digest_of(payload)[7..]}},
                "signature": {
                    "content": b64(&signature),
                    "publicKey": {"content": b64(leaf.pem.as_bytes())}
                }
            }
        });
        let body = b64(entry.to_string().as_bytes());
        let canonical = format!(
            r#"{{"body":"{body}","integratedTime":{when},"logID":"{log_id}","logIndex":42}}"#
        );
        let set = set_key.sign(canonical.as_bytes()).unwrap();
        let bundle = json!({
            "SignedEntryTimestamp": b64(&set),
            "Payload": {"body": body, "integratedTime": when, "logIndex": 42, "logID": log_id}
        });
        json!({
            "dev.cosignproject.cosign/signature": b64(&signature),
            "dev.sigstore.cosign/certificate": leaf.pem,
            "dev.sigstore.cosign/chain": self.root_pem,
            "dev.sigstore.cosign/bundle": bundle.to_string(),
        })
    }
}

/// The cosign payload naming `digest`.
fn payload_of(reg: &Registry, repo: &str, digest: &str) -> Vec<u8> {
    json!({
        "critical": {
            "identity": {"docker-reference": format!("{}/{repo}", reg.host)},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature"},
        "optional": null})
    .to_string()
    .into_bytes()
}

/// A keyless signature is verified against the configured Fulcio root,
/// Rekor key and identity, at the time Rekor recorded it (the certificate
/// expired long ago). Each way it can be wrong is refused with why:
/// another identity, a log not trusted, a timestamp not by its log's key,
/// a record made after the certificate expired, a certificate from
/// another CA (whose root rides along in the chain), one not for code
/// signing, and a payload naming another digest.
#[test]
fn a_keyless_signature_is_verified_offline_from_its_rekor_bundle() {
    let dir = temp_dir();
    let reg = Registry::plain(dir.path());
    let sigstore = Sigstore::new();
    let stranger = KeyPair::generate().unwrap();
    std::fs::write(dir.path().join("fulcio.pem"), &sigstore.root_pem).unwrap();
    std::fs::write(
        dir.path().join("rekor.pub"),
        sigstore.rekor.public_key_pem(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("other-rekor.pub"),
        stranger.public_key_pem(),
    )
    .unwrap();
    let reference = reg.oci("acme/trivial:1.0");
    let trust = |rekor: &str, subject: &str| {
        format!(
            "[settings.trust]\nrequire_signatures = true\n[settings.trust.keyless]\nroots = [\"fulcio.pem\"]\nrekor_keys = [{}]\nidentities = [{{ issuer = {}, subject = {} }}]",
            q(rekor),
            q(OIDC),
            q(subject)
        )
    };
    config(dir.path(), &reference, &trust("rekor.pub", SIGNER));
    let digest = push(dir.path(), &trivial(), &reference);
    let payload = payload_of(&reg, "acme/trivial", &digest);
    let signing = sigstore.leaf(ExtendedKeyUsagePurpose::CodeSigning);
    let log = sigstore.log_id.as_str();
    // 2025-01-01T12:00:00Z, while the certificate was valid.
    let noon = 1_735_732_800;
    // Each signature replaces the last at the digest's signature tag.
    let tag = format!("{}.sig", digest.replace(':', "-"));
    let sign = |payload: &[u8], annotations: Value| {
        reg.push_signature(dir.path(), "acme/trivial", &tag, payload, annotations)
    };
    sign(
        &payload,
        sigstore.annotations(&signing, &payload, noon, log, &sigstore.rekor),
    );
    assert_eq!(run_p(dir.path()), json!({"n": 7}));
    let check = ok(weft_at(dir.path(), None, &["check"]));
    assert!(
        check.contains(&format!(
            "{reference}@{digest} (from the cache); signed by {SIGNER} (keyless, issuer {OIDC}), verified"
        )),
        "{check}"
    );

    let refused = |why: &str| {
        format!(
            "weft: {reference}@{digest}: refused: it is not signed by a trusted key: {why}, and [settings.trust] require_signatures is on"
        )
    };
    let keyless = |why: &str| refused(&format!("a keyless signature: {why}"));
    let run = || failed(weft_at(dir.path(), None, &["run", "p", "--input", "{}"]), 1);
    config(
        dir.path(),
        &reference,
        &trust("rekor.pub", "someone@acme.dev"),
    );
    assert_eq!(
        run(),
        keyless(&format!(
            "it was signed by {SIGNER} ({OIDC}), not a trusted identity"
        ))
    );
    config(dir.path(), &reference, &trust("other-rekor.pub", SIGNER));
    assert_eq!(
        run(),
        keyless(&format!(
            "its Rekor entry is from log {}, whose key is not trusted",
            sigstore.log_id
        ))
    );

    // Signatures made wrong in one way each. A machine that verified the
    // first signature keeps it; each of these is seen by a fresh one.
    config(dir.path(), &reference, &trust("rekor.pub", SIGNER));
    let fresh = |n: usize| dir.path().join(format!("fresh-cache-{n}"));
    let run_fresh = |n: usize| {
        failed(
            weft_at(dir.path(), Some(&fresh(n)), &["run", "p", "--input", "{}"]),
            1,
        )
    };
    let a_year_later = noon + 365 * 86_400;
    sign(
        &payload,
        sigstore.annotations(&signing, &payload, a_year_later, log, &sigstore.rekor),
    );
    assert_eq!(
        run_fresh(1),
        keyless("its signing certificate had expired when Rekor recorded the signature")
    );
    sign(
        &payload,
        sigstore.annotations(&signing, &payload, noon, log, &stranger),
    );
    assert_eq!(
        run_fresh(2),
        keyless("its Rekor entry is not signed by the key of its log (rekor.pub)")
    );
    let forger = Sigstore::new();
    let forged = forger.leaf(ExtendedKeyUsagePurpose::CodeSigning);
    sign(
        &payload,
        forger.annotations(&forged, &payload, noon, log, &sigstore.rekor),
    );
    assert_eq!(
        run_fresh(3),
        keyless("its signing certificate does not chain to a trusted Fulcio root")
    );
    let server = sigstore.leaf(ExtendedKeyUsagePurpose::ServerAuth);
    sign(
        &payload,
        sigstore.annotations(&server, &payload, noon, log, &sigstore.rekor),
    );
    assert_eq!(
        run_fresh(4),
        keyless("its signing certificate is not for code signing")
    );
    let other = payload_of(&reg, "acme/trivial", &format!("sha256:{}", "0".repeat(64)));
    sign(
        &other,
        sigstore.annotations(&signing, &other, noon, log, &sigstore.rekor),
    );
    assert_eq!(
        run_fresh(5),
        refused(&format!(
            "a signature by {SIGNER} (keyless, issuer {OIDC}) is over another digest"
        ))
    );
    // The machine that verified the good signature still runs it.
    assert_eq!(run_p(dir.path()), json!({"n": 7}));
}

/// A key pair as `cosign generate-key-pair` writes it (made here by
/// PyNaCl and `cryptography`, not by weft): `weft sign --key cosign.key`
/// opens it with COSIGN_PASSWORD, and its signature is verified against
/// `cosign.pub`. A wrong or missing password says what to do.
#[test]
fn a_cosign_encrypted_key_signs_with_its_password() {
    let dir = temp_dir();
    let reg = Registry::plain(dir.path());
    let made = std::process::Command::new(venv_bin("python"))
        .arg(repo_root().join("tests/fixtures/python/cosign_keys.py"))
        .arg(dir.path())
        .env("COSIGN_PASSWORD", "correct horse")
        .output_timed()
        .expect("python runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let reference = reg.oci("acme/trivial:1.0");
    config(
        dir.path(),
        &reference,
        "[settings.trust]\nkeys = [\"cosign.pub\"]\nrequire_signatures = true",
    );
    let digest = push(dir.path(), &trivial(), &reference);
    let key = dir.path().join("cosign.key");
    let sign = |password: Option<&str>| {
        let mut cmd = weft();
        cmd.current_dir(dir.path())
            .arg("-c")
            .arg(dir.path().join("weft.toml"))
            .args(["sign", &reference, "--key"])
            .arg(&key)
            .env_remove("COSIGN_PASSWORD");
        if let Some(p) = password {
            cmd.env("COSIGN_PASSWORD", p);
        }
        cmd.output_timed().expect("weft runs")
    };
    let shown = key.display();
    assert_eq!(
        failed(sign(None), 1),
        format!(
            "weft: {shown}: is a cosign encrypted key: set COSIGN_PASSWORD to its password (empty if it has none)"
        )
    );
    assert_eq!(
        failed(sign(Some("wrong horse")), 1),
        format!(
            "weft: {shown}: cannot be opened with the password in COSIGN_PASSWORD: is it the right one?"
        )
    );
    // Nothing was signed: the component is still refused.
    let refused = failed(weft_at(dir.path(), None, &["run", "p", "--input", "{}"]), 1);
    assert!(
        refused.ends_with(
            "refused: it has no signature, and [settings.trust] require_signatures is on"
        ),
        "{refused}"
    );
    assert_eq!(ok(sign(Some("correct horse"))), digest);
    assert_eq!(run_p(dir.path()), json!({"n": 7}));
    let check = ok(weft_at(dir.path(), None, &["check"]));
    assert!(
        check.contains(&format!(
            "{reference}@{digest} (from the cache); signed by cosign.pub, verified"
        )),
        "{check}"
    );
}
