//! `subscriptions/listen` (2026-07-28) between tenants: a listen stream
//! carries updates only of the URIs whose subscription succeeded, and an
//! update from a per-tenant server's instance reaches only that tenant's
//! listeners, although both tenants name the same URI.
//!
//! The server is our recording fixture, run once per tenant; its `touch`
//! tool makes it announce `notifications/resources/updated`, and it
//! refuses subscriptions to items whose id starts with `refused`.

use super::*;

/// weft with the fixture `vault` run per tenant for acme and globex:
/// (dir, weft, base, acme, globex).
fn start() -> (tempfile::TempDir, Background, String, String, String) {
    let dir = temp_dir();
    let d = dir.path();
    let mut text = fixture(d, "vault", &[]);
    text += "per_tenant = true\n";
    for t in ["acme", "globex"] {
        text += &format!("\n[tenants.{t}]\ninclude = [\"vault.*\"]\n");
    }
    std::fs::write(d.join("weft.toml"), text).unwrap();
    let (acme, globex) = (add_key(d, "acme"), add_key(d, "globex"));
    let (weft, base) = serve_in(d, &d.join("weft.stderr"));
    (dir, weft, base, acme, globex)
}

/// A listen stream: the response and what has been read of it.
pub(super) struct Stream {
    resp: reqwest::Response,
    seen: String,
}

impl Stream {
    /// Opens a listen stream for `uris` as `key`, acknowledged.
    pub(super) async fn open(base: &str, key: &str, uris: &[&str]) -> Stream {
        let params = json!({"notifications": {"resourceSubscriptions": uris}});
        let resp = send_modern(base, key, "subscriptions/listen", params, json!({})).await;
        assert_eq!(resp.status().as_u16(), 200);
        let mut stream = Stream {
            resp,
            seen: String::new(),
        };
        while !stream
            .seen
            .contains("notifications/subscriptions/acknowledged")
        {
            stream.read().await;
        }
        stream
    }

    async fn read(&mut self) {
        let chunk = within("the listen stream", self.resp.chunk())
            .await
            .expect("the stream stays open")
            .unwrap_or_else(|| panic!("the stream ended: {}", self.seen));
        self.seen.push_str(&String::from_utf8_lossy(&chunk));
    }

    /// Every message read so far.
    pub(super) fn messages(&self) -> Vec<Value> {
        self.seen
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .collect()
    }

    /// The URIs of every `resources/updated` read so far.
    pub(super) fn updates(&self) -> Vec<String> {
        self.messages()
            .into_iter()
            .filter(|m| m["method"] == "notifications/resources/updated")
            .filter_map(|m| m["params"]["uri"].as_str().map(str::to_string))
            .collect()
    }

    /// Reads until an update of `uri` has come; every update's URI so far.
    pub(super) async fn until_update(&mut self, uri: &str) -> Vec<String> {
        while !self.updates().iter().any(|u| u == uri) {
            self.read().await;
        }
        self.updates()
    }
}

async fn touch(client: &Client, uri: &str) {
    let r = call(client, "vault__touch", json!({"uri": uri})).await;
    assert_eq!(r.is_error, Some(false), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listen_stream_carries_only_the_uris_it_could_subscribe() {
    let (dir, _weft, base, acme_key, _) = start();
    let acme = connect(&base, &acme_key).await;
    let (refused, fine) = ("vault+fixture://item/refused-1", "vault+fixture://item/3");
    let mut stream = Stream::open(&base, &acme_key, &[refused, fine]).await;
    // The upstream took only the one it does not refuse.
    until("the upstream subscription", EXCHANGE, || {
        let n = records(dir.path(), "vault", "resources/subscribe").len();
        async move { n == 1 }
    })
    .await;
    assert_eq!(
        records(dir.path(), "vault", "resources/subscribe"),
        [json!({"uri": "fixture://item/3"})]
    );
    // The server announces both; the stream carries only the subscribed.
    touch(&acme, "fixture://item/refused-1").await;
    touch(&acme, "fixture://item/3").await;
    let updates = stream.until_update(fine).await;
    assert!(!updates.iter().any(|u| u == refused), "{updates:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_tenant_instances_update_reaches_only_its_own_tenants_listeners() {
    let (dir, _weft, base, acme_key, globex_key) = start();
    let acme = connect(&base, &acme_key).await;
    let globex = connect(&base, &globex_key).await;
    let (one, two) = ("vault+fixture://item/1", "vault+fixture://item/2");
    let mut acme_stream = Stream::open(&base, &acme_key, &[one]).await;
    let mut globex_stream = Stream::open(&base, &globex_key, &[one, two]).await;
    // Each tenant's own instance was subscribed: acme's item 1, globex's
    // items 1 and 2 (two processes, one record file).
    until("three upstream subscriptions", EXCHANGE, || {
        let n = records(dir.path(), "vault", "resources/subscribe").len();
        async move { n == 3 }
    })
    .await;
    // acme's instance announces item 1: acme hears it.
    touch(&acme, "fixture://item/1").await;
    acme_stream.until_update(one).await;
    // globex's instance then announces item 2: globex hears that, and
    // never heard acme's item 1 (announced before it, on the same hub).
    touch(&globex, "fixture://item/2").await;
    let updates = globex_stream.until_update(two).await;
    assert!(!updates.iter().any(|u| u == one), "{updates:?}");
    // globex's own item 1 does reach globex.
    touch(&globex, "fixture://item/1").await;
    globex_stream.until_update(one).await;
}
