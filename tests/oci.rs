//! Components from an OCI registry (issue 61), against a real registry
//! (Debian's docker-registry, the CNCF Distribution registry) and a second
//! client (skopeo): weft pushes what skopeo reads and runs what skopeo
//! pushed; a signed adapter pulled by tag from a registry with TLS and
//! basic auth serves the Python SDK agent; a signature made by openssl in
//! cosign's format is verified; and every refusal says the reference, the
//! digest and why.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

use crate::support::registry::{Registry, digest_of, oci_layout};
use crate::support::*;

pub(crate) const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";

/// `weft -c DIR/weft.toml ARGS`, with `cache` as its cache folder if
/// given (a fresh machine's), from `dir`.
pub(crate) fn weft_at(dir: &Path, cache: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = weft();
    cmd.current_dir(dir)
        .arg("-c")
        .arg(dir.join("weft.toml"))
        .args(args);
    if let Some(c) = cache {
        cmd.env("WEFT_CACHE_DIR", c);
    }
    cmd.output_timed().expect("weft runs")
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

/// The output of a command that must succeed.
pub(crate) fn ok(out: Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// The last line of stderr of a command that must fail with `code`.
pub(crate) fn failed(out: Output, code: i32) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    stderr(&out).lines().last().unwrap_or_default().to_string()
}

pub(crate) fn trivial() -> PathBuf {
    guest_wasm("weft-trivial-guest")
}

/// `weft push FILE REF` from `dir`: the digest it printed.
pub(crate) fn push(dir: &Path, file: &Path, reference: &str) -> String {
    let out = ok(weft_at(
        dir,
        None,
        &["push", &file.display().to_string(), reference],
    ));
    assert!(out.starts_with("sha256:") && out.len() == 71, "{out}");
    out
}

/// A config of one policy `p` at `reference`, with `extra` settings.
pub(crate) fn config(dir: &Path, reference: &str, extra: &str) {
    std::fs::write(
        dir.join("weft.toml"),
        format!(
            "{extra}\n[policies.p]\npath = {}\ngrants = []\n",
            q(reference)
        ),
    )
    .unwrap();
}

/// Runs policy `p`, which returns its input: the output.
pub(crate) fn run_p(dir: &Path) -> Value {
    let out = ok(weft_at(
        dir,
        None,
        &["run", "p", "--input", r#"{"n": 7}"#, "--json"],
    ));
    let report: Value = serde_json::from_str(&out).expect("a JSON report");
    report["output"].clone()
}

/// The digest `weft.lock` holds for `reference`.
pub(crate) fn locked(dir: &Path, reference: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("weft.lock")).ok()?;
    let lock: toml::Table = toml::from_str(&text).expect("weft.lock is TOML");
    lock["components"]
        .get(reference)
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// An ECDSA P-256 key pair made by rcgen: (private PKCS#8 PEM file,
/// public PEM file).
fn key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let pair = rcgen::KeyPair::generate().expect("a P-256 key");
    let private = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    std::fs::write(&private, pair.serialize_pem()).unwrap();
    std::fs::write(&public, pair.public_key_pem()).unwrap();
    (private, public)
}

#[test]
fn weft_pushes_what_skopeo_reads_and_runs_what_skopeo_pushed() {
    let dir = temp_dir();
    let reg = Registry::plain(dir.path());
    config(dir.path(), &reg.oci("acme/other:2.0"), "");
    let wasm = std::fs::read(trivial()).unwrap();

    // weft pushes; skopeo reads the manifest weft printed the digest of.
    let digest = push(dir.path(), &trivial(), &reg.oci("acme/trivial:1.0"));
    let raw = reg.skopeo_manifest("acme/trivial:1.0");
    assert_eq!(digest_of(&raw), digest);
    let manifest: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(manifest["config"]["mediaType"], WASM_CONFIG);
    assert_eq!(
        manifest["layers"],
        json!([{"mediaType": "application/wasm", "digest": digest_of(&wasm), "size": wasm.len()}])
    );

    // skopeo pushes an artifact of the same layout; weft pulls and runs it.
    let layout = dir.path().join("layout");
    let config_body = br#"{"architecture":"wasm","os":"wasip2","created":"2026-11-29T00:00:00Z"}"#;
    let pushed = oci_layout(
        &layout,
        "2.0",
        WASM_CONFIG,
        config_body,
        &[("application/wasm", &wasm, None)],
        None,
    );
    reg.skopeo_push(&layout, "2.0", "acme/other:2.0");
    let pulled = ok(weft_at(
        dir.path(),
        None,
        &["pull", &reg.oci("acme/other:2.0")],
    ));
    let (got, file) = pulled.split_once(' ').expect("DIGEST FILE");
    assert_eq!(got, pushed);
    assert_eq!(std::fs::read(file).unwrap(), wasm);
    assert_eq!(run_p(dir.path()), json!({"n": 7}));
    assert_eq!(locked(dir.path(), &reg.oci("acme/other:2.0")), Some(pushed));
}

/// The template adapter's path, pushed to a registry with TLS and basic
/// auth, signed with `weft sign`, pulled by tag under
/// `require_signatures`: it serves its tools to the Python SDK agent
/// through `weft serve`, and `weft check` says it was verified.
#[test]
fn a_signed_adapter_from_a_secured_registry_serves_the_python_agent() {
    let dir = temp_dir();
    let reg = Registry::secured(dir.path());
    reg.login(test_home());
    let (key, public) = key_pair(dir.path(), "acme");
    let reference = reg.oci("acme/adapter:1.0");
    let ca = &reg.secured.as_ref().unwrap().pki.ca;
    std::fs::write(
        dir.path().join("weft.toml"),
        format!(
            "[settings.registries]\nca = [{}]\n[settings.trust]\nkeys = [\"acme.pub\"]\nrequire_signatures = true\n[servers.ad]\ncomponent = {}\n",
            q(ca.display().to_string()),
            q(&reference)
        ),
    )
    .unwrap();
    assert!(public.is_file());
    let wasm = guest_wasm("weft-trivial-adapter-guest");
    let digest = push(dir.path(), &wasm, &reference);
    let signed = ok(weft_at(
        dir.path(),
        None,
        &["sign", &reference, "--key", &key.display().to_string()],
    ));
    assert_eq!(signed, digest);

    let argv = json!([
        target_bin("weft").display().to_string(),
        "--config",
        dir.path().join("weft.toml").display().to_string(),
        "serve"
    ]);
    let out = crate::serve::agent(
        &argv.to_string(),
        "legacy",
        "listed",
        json!({"tool": "ad__echo", "args": {"message": "from the registry"}}),
    );
    let tools: Vec<&str> = out["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(tools.contains(&"ad__echo"), "{tools:?}");
    assert_eq!(out["error"], false, "{out}");
    assert!(
        out["text"]
            .as_str()
            .unwrap_or_default()
            .contains("from the registry"),
        "{out}"
    );
    assert_eq!(locked(dir.path(), &reference), Some(digest.clone()));
    let check = ok(weft_at(dir.path(), None, &["check"]));
    assert!(
        check.contains(&format!(
            "    component: {reference}@{digest} (from the cache); signed by acme.pub, verified"
        )),
        "{check}"
    );
    let status = ok(weft_at(dir.path(), None, &["status"]));
    assert!(
        status.contains(&format!(
            "components:\n  ad: {reference}@{digest} (from the cache); signed by acme.pub, verified"
        )),
        "{status}"
    );
}

/// A signature in cosign's format made without weft (openssl signs the
/// payload, skopeo pushes the signature artifact) is verified, and a
/// signature over another digest is not.
#[test]
fn a_cosign_format_signature_made_by_openssl_is_verified() {
    let dir = temp_dir();
    let reg = Registry::plain(dir.path());
    let (key, _) = key_pair(dir.path(), "acme");
    let reference = reg.oci("acme/trivial:1.0");
    config(
        dir.path(),
        &reference,
        "[settings.trust]\nkeys = [\"acme.pub\"]\nrequire_signatures = true",
    );
    let digest = push(dir.path(), &trivial(), &reference);
    let sign_as = |signed: &str, tag: &str| {
        let payload = json!({
            "critical": {
                "identity": {"docker-reference": format!("{}/acme/trivial", reg.host)},
                "image": {"docker-manifest-digest": signed},
                "type": "cosign container image signature"},
            "optional": null})
        .to_string();
        let payload_file = dir.path().join("payload.json");
        std::fs::write(&payload_file, &payload).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&key)
            .arg(&payload_file)
            .output_timed()
            .expect("openssl runs (Debian's openssl package)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        use base64::Engine as _;
        let signature = base64::engine::general_purpose::STANDARD.encode(&out.stdout);
        reg.push_signature(
            dir.path(),
            "acme/trivial",
            tag,
            payload.as_bytes(),
            json!({"dev.cosignproject.cosign/signature": signature}),
        );
    };
    let tag = format!("{}.sig", digest.replace(':', "-"));
    // Over another digest, at this digest's tag: not a signature of it.
    sign_as(&format!("sha256:{}", "0".repeat(64)), &tag);
    let refused = failed(weft_at(dir.path(), None, &["run", "p", "--input", "{}"]), 1);
    assert_eq!(
        refused,
        format!(
            "weft: {reference}@{digest}: refused: it is not signed by a trusted key: a signature by acme.pub is over another digest, and [settings.trust] require_signatures is on"
        )
    );
    sign_as(&digest, &tag);
    assert_eq!(run_p(dir.path()), json!({"n": 7}));
}

#[test]
fn a_tampered_blob_is_refused() {
    let dir = temp_dir();
    let reg = Registry::plain(dir.path());
    let reference = reg.oci("acme/trivial:1.0");
    config(dir.path(), &reference, "");
    push(dir.path(), &trivial(), &reference);
    let wasm = std::fs::read(trivial()).unwrap();
    let layer = digest_of(&wasm);
    // A byte of the stored component changes; its length does not.
    let mut tampered = wasm.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0xff;
    std::fs::write(reg.blob_file(&layer), &tampered).unwrap();
    let fresh = dir.path().join("fresh-cache");
    let refused = failed(weft_at(dir.path(), Some(&fresh), &["pull", &reference]), 1);
    assert_eq!(
        refused,
        format!(
            "weft: {reference}: the component layer does not match its digest (expected {layer}, got {}); refused",
            digest_of(&tampered)
        )
    );
    // And nothing of it was kept.
    let kept = fresh.join("oci/sha256").join(&layer[7..]);
    assert!(!kept.exists(), "{}", kept.display());
}

/// Under `require_signatures`: a component signed by a key not trusted,
/// and one not signed at all, are refused, each with its digest and why.
#[test]
fn untrusted_and_unsigned_components_are_refused() {
    let dir = temp_dir();
    let reg = Registry::plain(dir.path());
    let (stranger, _) = key_pair(dir.path(), "stranger");
    key_pair(dir.path(), "acme");
    let settings = "[settings.trust]\nkeys = [\"acme.pub\"]\nrequire_signatures = true";
    let signed_ref = reg.oci("acme/signed:1.0");
    config(dir.path(), &signed_ref, settings);
    let signed = push(dir.path(), &trivial(), &signed_ref);
    ok(weft_at(
        dir.path(),
        None,
        &[
            "sign",
            &signed_ref,
            "--key",
            &stranger.display().to_string(),
        ],
    ));
    let refused = failed(weft_at(dir.path(), None, &["run", "p", "--input", "{}"]), 1);
    assert_eq!(
        refused,
        format!(
            "weft: {signed_ref}@{signed}: refused: it is not signed by a trusted key: 1 signature(s), none made by a trusted key (acme.pub), and [settings.trust] require_signatures is on"
        )
    );

    let bare_ref = reg.oci("acme/bare:1.0");
    let bare = push(dir.path(), &guest_wasm("weft-hostile-guest"), &bare_ref);
    config(dir.path(), &bare_ref, settings);
    let refused = failed(weft_at(dir.path(), None, &["run", "p", "--input", "{}"]), 1);
    assert_eq!(
        refused,
        format!(
            "weft: {bare_ref}@{bare}: refused: it has no signature, and [settings.trust] require_signatures is on"
        )
    );
    // Without the requirement it runs, and weft check warns of it.
    config(dir.path(), &bare_ref, "");
    let check = ok(weft_at(dir.path(), None, &["check"]));
    assert!(
        check.contains(&format!("! {bare_ref} runs without a verified signature (signature not checked (no [settings.trust] keys))")),
        "{check}"
    );
}

/// A manifest over the 1 MiB cap is refused before anything of it is
/// used.
#[test]
fn a_manifest_past_the_size_cap_is_refused() {
    let dir = temp_dir();
    let reg = Registry::plain(dir.path());
    let reference = reg.oci("acme/huge:1.0");
    config(dir.path(), &reference, "");
    let wasm = std::fs::read(trivial()).unwrap();
    let layout = dir.path().join("layout");
    let filler = "x".repeat(1_200_000);
    oci_layout(
        &layout,
        "1.0",
        WASM_CONFIG,
        b"{}",
        &[("application/wasm", &wasm, None)],
        Some(json!({"filler": filler})),
    );
    reg.skopeo_push(&layout, "1.0", "acme/huge:1.0");
    let size = reg.skopeo_manifest("acme/huge:1.0").len();
    assert!(size > 1 << 20, "{size}");
    let refused = failed(weft_at(dir.path(), None, &["pull", &reference]), 1);
    assert_eq!(
        refused,
        format!(
            "weft: {reference}: the manifest is {size} bytes, over the limit of 1048576; refused"
        )
    );
}

/// The lock pins a tag: after the tag moves, weft runs what it locked
/// until `weft pull`, which shows the old and new digests. With the
/// registry down, the locked digest runs from the cache, and `weft pull`
/// says it stays.
#[test]
fn the_lock_wins_over_a_moved_tag_and_the_cache_over_a_dead_registry() {
    let dir = temp_dir();
    let mut reg = Registry::plain(dir.path());
    let reference = reg.oci("acme/trivial:1.0");
    config(dir.path(), &reference, "");
    let first = push(dir.path(), &trivial(), &reference);
    assert_eq!(run_p(dir.path()), json!({"n": 7}));
    assert_eq!(locked(dir.path(), &reference), Some(first.clone()));

    // The tag moves to another manifest (skopeo pushes it).
    let wasm = std::fs::read(trivial()).unwrap();
    let layout = dir.path().join("layout");
    let second = oci_layout(
        &layout,
        "1.0",
        WASM_CONFIG,
        br#"{"architecture":"wasm","os":"wasip2"}"#,
        &[("application/wasm", &wasm, None)],
        None,
    );
    assert_ne!(first, second);
    reg.skopeo_push(&layout, "1.0", "acme/trivial:1.0");
    let check = ok(weft_at(dir.path(), None, &["check"]));
    assert!(
        check.contains(&format!("{reference}@{first} (from the cache)")),
        "{check}"
    );
    assert_eq!(locked(dir.path(), &reference), Some(first.clone()));
    let pulled = ok(weft_at(dir.path(), None, &["pull"]));
    assert_eq!(pulled, format!("{reference} {first} -> {second}"));
    assert_eq!(locked(dir.path(), &reference), Some(second.clone()));

    // The registry goes away: the locked digest runs from the cache.
    reg.stop();
    assert_eq!(run_p(dir.path()), json!({"n": 7}));
    let check = ok(weft_at(dir.path(), None, &["check"]));
    assert!(
        check.contains(&format!("{reference}@{second} (from the cache)")),
        "{check}"
    );
    let pulled = ok(weft_at(dir.path(), None, &["pull"]));
    assert_eq!(
        pulled,
        format!("{reference} {second} (the registry is down: the cached digest stays)")
    );
    // A machine without it in its cache is told the registry is down.
    let fresh = dir.path().join("fresh-cache");
    let refused = failed(weft_at(dir.path(), Some(&fresh), &["pull", &reference]), 1);
    assert!(
        refused.starts_with(&format!("weft: {reference}: cannot reach the registry: ")),
        "{refused}"
    );
}

/// A layer whose manifest declares more than the 256 MiB cap is refused
/// before a byte of it is read; one that sends more bytes than its
/// manifest declares is cut off there. Nothing of either is kept.
#[test]
fn a_component_past_its_declared_or_capped_size_is_refused() {
    let dir = temp_dir();
    let reg = Registry::plain(dir.path());
    let reference = reg.oci("acme/trivial:1.0");
    config(dir.path(), &reference, "");
    push(dir.path(), &trivial(), &reference);
    let wasm = std::fs::read(trivial()).unwrap();
    let layer = digest_of(&wasm);
    let honest: Value = serde_json::from_slice(&reg.skopeo_manifest("acme/trivial:1.0")).unwrap();
    let fresh = dir.path().join("fresh-cache");
    let lying = |tag: &str, size: u64| {
        let mut m = honest.clone();
        m["layers"][0]["size"] = json!(size);
        reg.put_manifest("acme/trivial", tag, m.to_string().as_bytes());
        let reference = reg.oci(&format!("acme/trivial:{tag}"));
        let refused = failed(weft_at(dir.path(), Some(&fresh), &["pull", &reference]), 1);
        (reference, refused)
    };

    let (big, refused) = lying("big", 300 << 20);
    assert_eq!(
        refused,
        format!(
            "weft: {big}: the component layer is 314572800 bytes, over the limit of 268435456; refused"
        )
    );
    let short = wasm.len() as u64 - 100;
    let (small, refused) = lying("small", short);
    let head =
        format!("weft: {small}: the component layer (more bytes than its manifest declares) is ");
    let tail = format!(" bytes, over the limit of {short}; refused");
    assert!(
        refused.starts_with(&head) && refused.ends_with(&tail),
        "{refused}"
    );
    let kept = fresh.join("oci/sha256").join(&layer[7..]);
    assert!(!kept.exists(), "{}", kept.display());
}

/// `[settings.registries.auth]` logs in with a password from the secrets
/// file (no Docker config on this machine): pushes and pulls from a
/// registry with TLS and basic auth work, and a wrong password is the
/// registry's refusal, which never shows the password.
#[test]
fn a_registry_login_comes_from_a_secret() {
    let dir = temp_dir();
    let reg = Registry::secured(dir.path());
    let s = reg.secured.as_ref().unwrap();
    let reference = reg.oci("acme/trivial:1.0");
    let write = |password: &str| {
        write_secrets(dir.path(), "REGISTRY_PASSWORD", password);
        std::fs::write(
            dir.path().join("weft.toml"),
            format!(
                "[settings]\nsecrets = \"secrets.toml\"\n[settings.registries]\nca = [{}]\n[settings.registries.auth.{}]\nusername = {}\npassword = \"${{secret:REGISTRY_PASSWORD}}\"\n[policies.p]\npath = {}\ngrants = []\n",
                q(s.pki.ca.display().to_string()),
                // Host names match in any case.
                q(reg.host.to_ascii_uppercase()),
                q(&s.user),
                q(&reference)
            ),
        )
        .unwrap();
    };
    assert!(!test_home().join(".docker/config.json").exists());
    write("not the password");
    let refused = failed(
        weft_at(
            dir.path(),
            None,
            &["push", &trivial().display().to_string(), &reference],
        ),
        1,
    );
    assert!(
        refused.starts_with(&format!(
            "weft: {reference}: cannot push the component to the registry: the registry refused access ("
        )),
        "{refused}"
    );
    assert!(
        refused.ends_with(&format!("): the login is missing or wrong, or lacks the permission; check [settings.registries.auth] or the Docker config (`docker login {}`)", reg.host)),
        "{refused}"
    );
    assert!(!refused.contains("not the password"), "{refused}");
    write(&s.password);
    let digest = push(dir.path(), &trivial(), &reference);
    assert_eq!(run_p(dir.path()), json!({"n": 7}));
    assert_eq!(locked(dir.path(), &reference), Some(digest));
}
