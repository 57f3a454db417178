//! A real OCI registry for the `oci://` tests: Debian's `docker-registry`
//! (the CNCF Distribution registry), started on a free port with its
//! storage in the test's folder, plain or with TLS from the test PKI and
//! basic auth; and `skopeo`, the second client, to read what weft pushed
//! and to push what weft pulls.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::OutputWithin;
use super::pki::Pki;
use super::procs::{Background, listening_ports};

/// The registry's executable, as Debian installs it.
const REGISTRY: &str = "/usr/bin/docker-registry";

/// A running registry.
pub struct Registry {
    /// `127.0.0.1:PORT` (plain) or `localhost:PORT` (TLS): the host part
    /// of an `oci://` reference.
    pub host: String,
    /// Where its blobs are stored.
    pub storage: PathBuf,
    /// The TLS CA and basic-auth user, if it has them.
    pub secured: Option<Secured>,
    process: Option<Background>,
}

/// What a client needs for a registry with TLS and basic auth.
pub struct Secured {
    pub pki: Pki,
    pub user: String,
    pub password: String,
}

fn must_have(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install Debian's {package} package (`bash .ci/setup-tools` does)"
    );
}

impl Registry {
    /// A plain-HTTP registry on 127.0.0.1, storing in `dir/registry`.
    pub fn plain(dir: &Path) -> Registry {
        Self::start(dir, None)
    }

    /// A registry on `localhost` with TLS (a certificate from a test CA)
    /// and basic auth (one user, bcrypt in an htpasswd file).
    pub fn secured(dir: &Path) -> Registry {
        let pki_dir = dir.join("pki");
        std::fs::create_dir_all(&pki_dir).unwrap();
        let secured = Secured {
            pki: Pki::new(&pki_dir),
            user: "publisher".into(),
            password: "s3cret-registry-pass".into(),
        };
        Self::start(dir, Some(secured))
    }

    fn start(dir: &Path, secured: Option<Secured>) -> Registry {
        must_have(REGISTRY, "docker-registry");
        let storage = dir.join("registry");
        std::fs::create_dir_all(&storage).unwrap();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\n",
            storage.display()
        );
        if let Some(s) = &secured {
            let hash = bcrypt::hash(&s.password, 4).expect("bcrypt");
            let htpasswd = dir.join("htpasswd");
            std::fs::write(&htpasswd, format!("{}:{hash}\n", s.user)).unwrap();
            config += &format!(
                "  tls:\n    certificate: {}\n    key: {}\nauth:\n  htpasswd:\n    realm: weft-test\n    path: {}\n",
                s.pki.server_cert.display(),
                s.pki.server_key.display(),
                htpasswd.display()
            );
        }
        let file = dir.join("registry.yml");
        std::fs::write(&file, config).unwrap();
        let mut cmd = Command::new(REGISTRY);
        cmd.arg("serve")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let process = Background::spawn(&mut cmd);
        let port = wait_port(process.0.id());
        let host = match secured {
            Some(_) => format!("localhost:{port}"),
            None => format!("127.0.0.1:{port}"),
        };
        Registry {
            host,
            storage,
            secured,
            process: Some(process),
        }
    }

    /// `oci://HOST/PATH` (PATH is `repo:tag` or `repo@digest`).
    pub fn oci(&self, path: &str) -> String {
        format!("oci://{}/{path}", self.host)
    }

    /// Stops the registry (SIGKILL, as a crash would).
    pub fn stop(&mut self) {
        self.process.take();
    }

    /// Puts `body` as manifest `tag` of `repository` straight through the
    /// registry's API (a plain registry only): for manifests no client
    /// writes, like one whose layer's declared size is not its size.
    pub fn put_manifest(&self, repository: &str, tag: &str, body: &[u8]) {
        use std::io::{Read, Write};
        assert!(self.secured.is_none(), "put_manifest speaks plain HTTP");
        let mut conn = std::net::TcpStream::connect(&self.host).expect("the registry listens");
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            conn,
            "PUT /v2/{repository}/manifests/{tag} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.host,
            body.len()
        )
        .unwrap();
        conn.write_all(body).unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply)
            .expect("the registry answers");
        assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");
    }

    /// Pushes (with skopeo) a cosign signature artifact as `repo:tag`:
    /// one simple-signing layer holding `payload`, with `annotations`
    /// (the signature, and a keyless signature's certificate and bundle).
    pub fn push_signature(
        &self,
        dir: &Path,
        repo: &str,
        tag: &str,
        payload: &[u8],
        annotations: Value,
    ) {
        let layout = dir.join(format!(
            "sig-{}",
            &digest_of(annotations.to_string().as_bytes())[7..19]
        ));
        oci_layout(
            &layout,
            "sig",
            "application/vnd.oci.image.config.v1+json",
            b"{}",
            &[(
                "application/vnd.dev.cosign.simplesigning.v1+json",
                payload,
                Some(annotations),
            )],
            None,
        );
        self.skopeo_push(&layout, "sig", &format!("{repo}:{tag}"));
    }

    /// The stored bytes of blob `digest` (`sha256:HEX`).
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// The Docker config (`~/.docker/config.json` of `home`) holding this
    /// registry's credentials, as `docker login` writes it.
    pub fn login(&self, home: &Path) {
        let s = self.secured.as_ref().expect("a registry with auth");
        let docker = home.join(".docker");
        std::fs::create_dir_all(&docker).unwrap();
        use base64::Engine as _;
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", s.user, s.password));
        std::fs::write(
            docker.join("config.json"),
            json!({"auths": {self.host.clone(): {"auth": auth}}}).to_string(),
        )
        .unwrap();
    }

    /// skopeo's options to reach this registry.
    fn skopeo_tls(&self, flag: &str) -> Vec<String> {
        match &self.secured {
            None => vec![format!("--{flag}-tls-verify=false")],
            Some(s) => {
                // skopeo reads a folder of CA files for the registry.
                let certs = s.pki.ca.parent().unwrap().join("skopeo-certs");
                std::fs::create_dir_all(&certs).unwrap();
                std::fs::copy(&s.pki.ca, certs.join("ca.crt")).unwrap();
                vec![
                    format!("--{flag}-cert-dir={}", certs.display()),
                    format!("--{flag}-creds={}:{}", s.user, s.password),
                ]
            }
        }
    }

    /// `skopeo inspect --raw` of `path` (`repo:tag`): the manifest's bytes.
    pub fn skopeo_manifest(&self, path: &str) -> Vec<u8> {
        let mut cmd = skopeo();
        cmd.args(["inspect", "--raw"])
            .args(
                self.skopeo_tls("src")
                    .iter()
                    .map(|a| a.replace("--src-", "--")),
            )
            .arg(format!("docker://{}/{path}", self.host));
        let out = cmd.output_timed().expect("skopeo runs");
        assert!(
            out.status.success(),
            "skopeo inspect: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// skopeo pushes `layout` (an OCI image layout folder, tag `tag`) as
    /// `path` (`repo:tag`).
    pub fn skopeo_push(&self, layout: &Path, tag: &str, path: &str) {
        let mut cmd = skopeo();
        cmd.arg("copy")
            .args(self.skopeo_tls("dest"))
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{}/{path}", self.host));
        let out = cmd.output_timed().expect("skopeo runs");
        assert!(
            out.status.success(),
            "skopeo copy: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn skopeo() -> Command {
    must_have("/usr/bin/skopeo", "skopeo");
    let mut cmd = Command::new("/usr/bin/skopeo");
    // skopeo's own policy file: accept any image (it checks no signatures
    // of its own here; weft does).
    let policy = super::test_home().join("skopeo-policy.json");
    if !policy.exists() {
        std::fs::write(
            &policy,
            r#"{"default": [{"type": "insecureAcceptAnything"}]}"#,
        )
        .unwrap();
    }
    cmd.arg("--policy").arg(policy).stdin(Stdio::null());
    super::isolate(&mut cmd);
    cmd
}

/// Waits for the registry process to listen, and returns its port.
fn wait_port(pid: u32) -> u16 {
    let start = Instant::now();
    loop {
        if let Some(port) = listening_ports(pid).first() {
            return *port;
        }
        assert!(
            super::procs::alive(pid),
            "docker-registry exited at start (see its config in the test folder)"
        );
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "docker-registry did not listen within 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `sha256:HEX` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes an OCI image layout in `dir` holding one artifact tagged `tag`:
/// a config of `config_type` with body `config`, and `layers` (media type,
/// bytes, annotations). Returns the manifest's digest.
pub fn oci_layout(
    dir: &Path,
    tag: &str,
    config_type: &str,
    config: &[u8],
    layers: &[(&str, &[u8], Option<Value>)],
    manifest_annotations: Option<Value>,
) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let d = digest_of(bytes);
        std::fs::write(blobs.join(&d[7..]), bytes).unwrap();
        d
    };
    let config_digest = put(config);
    let layers: Vec<Value> = layers
        .iter()
        .map(|(media, bytes, annotations)| {
            let mut l = json!({"mediaType": media, "digest": put(bytes), "size": bytes.len()});
            if let Some(a) = annotations {
                l["annotations"] = a.clone();
            }
            l
        })
        .collect();
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": config_type, "digest": config_digest, "size": config.len()},
        "layers": layers,
    });
    if let Some(a) = manifest_annotations {
        manifest["annotations"] = a;
    }
    let body = serde_json::to_vec(&manifest).unwrap();
    let digest = put(&body);
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion": "1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest, "size": body.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag}}]})
        .to_string(),
    )
    .unwrap();
    digest
}
