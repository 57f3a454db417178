//! Adapters' `https://` egress, against the FastAPI fixture
//! (`tests/fixtures/rest_api.py --tls`) serving HTTPS with a certificate
//! for 127.0.0.1 issued at run time by a test CA (`support::pki`). The
//! server entry's `ca_file` makes that CA trusted for the adapter's
//! requests; without it the certificate is refused, naming the problem.
//! An entry's scheme must match the request's.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::pki::Pki;
use crate::support::rest_api::RestApi;
use crate::support::*;
use weft::Hub;

/// The key weft injects into the adapters' requests.
const CANARY: &str = "canary-4b8e2d17-https-key";

/// A config in `dir` for the HTTPS service `api`, with its document in
/// `openapi.json`:
/// - `items`: the OpenAPI adapter over `https://127.0.0.1:PORT/*`, trusting
///   the test CA, with `X-Api-Key: CANARY` injected;
/// - `trusting`: the egress test adapter, the same list and CA;
/// - `untrusting`: the same without `ca_file`;
/// - `plain`: an `http://` entry for the same address and port;
/// - `wild`: `https://*:PORT`, which names no address.
async fn setup(dir: &Path, api: &RestApi) -> PathBuf {
    std::fs::copy(guest_wasm("weft-egress-guest"), dir.join("egress.wasm"))
        .expect("copy the adapter");
    let document = api.get_tls("/openapi.json").await;
    std::fs::write(dir.join("openapi.json"), document.to_string()).expect("write the document");
    write_secrets(dir, "ITEMS_KEY", CANARY);
    let (p, base) = (api.port, api.base());
    let text = format!(
        r#"[settings]
secrets = "secrets.toml"

[servers.items]
component = "builtin:openapi"
egress = ["https://127.0.0.1:{p}/*"]
ca_file = "ca.pem"
[servers.items.egress_headers."127.0.0.1"]
X-Api-Key = "${{secret:ITEMS_KEY}}"
[servers.items.config]
spec_file = "openapi.json"
base_url = "{base}"

[servers.trusting]
component = "egress.wasm"
egress = ["https://127.0.0.1:{p}/*"]
ca_file = "ca.pem"

[servers.untrusting]
component = "egress.wasm"
egress = ["https://127.0.0.1:{p}/*"]

[servers.plain]
component = "egress.wasm"
egress = ["http://127.0.0.1:{p}/*"]

[servers.wild]
component = "egress.wasm"
egress = ["https://*:{p}"]
ca_file = "ca.pem"
"#
    );
    let path = dir.join("weft.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

async fn hub(dir: &Path, api: &RestApi) -> Hub {
    weft::sandbox::Sandbox::shared_with_cache_dir(Some(dir.join("cache"))).expect("sandbox");
    let config = weft::Config::load(&setup(dir, api).await).expect("the config loads");
    within("the hub starts", Hub::start(config)).await
}

/// `SERVER.fetch` of a GET of `url`: the egress adapter's report.
async fn get(hub: &Hub, server: &str, url: String) -> Value {
    let r = within(
        "an adapter's fetch",
        hub.call_tool(server, "fetch", json!({ "url": url }).as_object().cloned()),
    )
    .await
    .unwrap_or_else(|e| panic!("{server}.fetch fails: {e:?}"));
    let text = text_of(&r);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The requests the service received, but the test's own fetch of the
/// document.
async fn requests(api: &RestApi) -> Vec<Value> {
    api.seen_tls()
        .await
        .into_iter()
        .filter(|r| r["path"] != "/openapi.json")
        .collect()
}

/// The host's refusal as the adapter saw it.
fn refusal(reason: &str) -> String {
    format!("ErrorCode::InternalError(Some({reason:?}))")
}

/// The OpenAPI adapter calls the HTTPS service through weft, which trusts
/// the private CA of `ca_file` and injects the secret header: the
/// service's record shows it arrived; the answer is exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_egress_trusts_the_ca_file_and_injects_the_secret() {
    let dir = temp_dir();
    let pki = Pki::new(dir.path());
    let api = RestApi::start_tls(&pki);
    let hub = hub(dir.path(), &api).await;
    let r = within(
        "an operation over https",
        hub.call_tool(
            "items",
            "read_item_items_item_id_get",
            json!({"item_id": 1}).as_object().cloned(),
        ),
    )
    .await
    .expect("the operation answers");
    assert_eq!(
        r.structured_content,
        Some(json!({"id": 1, "name": "kettle", "price": 20.5, "tags": ["kitchen"], "owner": null}))
    );
    let seen = requests(&api).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["path"], json!("/items/1"));
    assert_eq!(seen[0]["headers"]["x-api-key"], json!(CANARY));

    // The egress adapter too: a plain GET over https with the same CA.
    let report = get(
        &hub,
        "trusting",
        format!("https://127.0.0.1:{}/items/1", api.port),
    )
    .await;
    assert_eq!(report["ok"], json!(true), "{report}");
    assert_eq!(report["status"], json!(200));
}

/// Without `ca_file`, the service's certificate is refused, and the
/// adapter's error names the certificate problem and the key to set.
/// An `http://` entry does not allow an `https://` request (nor the other
/// way round), and `*` does not reach a loopback address over https
/// either: those are refused before any connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificates_and_other_schemes_are_refused() {
    let dir = temp_dir();
    let pki = Pki::new(dir.path());
    let api = RestApi::start_tls(&pki);
    let hub = hub(dir.path(), &api).await;
    let p = api.port;

    let report = get(&hub, "untrusting", format!("https://127.0.0.1:{p}/items/1")).await;
    assert_eq!(report["ok"], json!(false), "{report}");
    let error = report["error"].as_str().expect("an error");
    assert!(
        error.starts_with(&format!(
            "ErrorCode::InternalError(Some(\"weft egress: https://127.0.0.1:{p}/items/1 failed: "
        )),
        "{error}"
    );
    assert!(
        error.contains("invalid peer certificate: UnknownIssuer"),
        "the certificate problem is named: {error}"
    );
    assert!(
        error.contains("`ca_file` in [servers.untrusting]"),
        "the key to set is named: {error}"
    );

    let report = get(&hub, "plain", format!("https://127.0.0.1:{p}/items/1")).await;
    assert_eq!(
        report["error"],
        json!(refusal(&format!(
            "weft egress: refused https://127.0.0.1:{p}/items/1: not on the `egress` list of servers.plain (http://127.0.0.1:{p}/*)"
        )))
    );
    let report = get(&hub, "trusting", format!("http://127.0.0.1:{p}/items/1")).await;
    assert_eq!(
        report["error"],
        json!(refusal(&format!(
            "weft egress: refused http://127.0.0.1:{p}/items/1: not on the `egress` list of servers.trusting (https://127.0.0.1:{p}/*)"
        )))
    );
    let report = get(&hub, "wild", format!("https://127.0.0.1:{p}/items/1")).await;
    assert_eq!(
        report["error"],
        json!(refusal(&format!(
            "weft egress: refused https://127.0.0.1:{p}/items/1: 127.0.0.1 is a loopback address, reached only when an `egress` entry names it (such as \"https://127.0.0.1:{p}\")"
        )))
    );
    // Only the untrusting adapter's handshake reached the service, and it
    // sent no request.
    assert_eq!(requests(&api).await, Vec::<Value>::new());
}

/// The TLS keys on a component server apply to its `https://` egress:
/// without an `https://` entry they are a config error, and a `ca_file`
/// that is not a certificate fails the adapter (only) with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn egress_tls_keys_are_checked() {
    let dir = temp_dir();
    std::fs::copy(
        guest_wasm("weft-egress-guest"),
        dir.path().join("egress.wasm"),
    )
    .expect("copy the adapter");
    let path = dir.path().join("weft.toml");
    std::fs::write(
        &path,
        "[servers.a]\ncomponent = \"egress.wasm\"\negress = [\"http://127.0.0.1:1/*\"]\nca_file = \"ca.pem\"\n",
    )
    .expect("write config");
    let e = weft::Config::load(&path).expect_err("refused").to_string();
    assert!(e.starts_with(&path.display().to_string()), "{e}");
    assert!(
        e.ends_with(": servers.a: `ca_file`, `client_cert`, `client_key` and `insecure_skip_verify` apply to a component server only when its `egress` list has an https:// entry\n  hint: add an https:// entry to `egress`, or remove them"),
        "{e}"
    );

    std::fs::write(dir.path().join("ca.pem"), "not a certificate").expect("write");
    let text = "[servers.a]\ncomponent = \"egress.wasm\"\negress = [\"https://127.0.0.1:1/*\"]\nca_file = \"ca.pem\"\n\n[servers.b]\ncomponent = \"egress.wasm\"\n";
    weft::sandbox::Sandbox::shared_with_cache_dir(Some(dir.path().join("cache"))).expect("sandbox");
    let hub = within("the hub starts", Hub::start(config(dir.path(), text))).await;
    match hub.upstream("a").expect("a").status().state {
        weft::State::Failed { error } => assert_eq!(
            error.to_string(),
            format!(
                "its https:// egress cannot be set up: {} holds no PEM certificate (no BEGIN CERTIFICATE block)",
                dir.path().join("ca.pem").display()
            )
        ),
        other => panic!("a should have failed: {other:?}"),
    }
    assert_eq!(
        hub.upstream("b").expect("b").status().state,
        weft::State::Up
    );
}
