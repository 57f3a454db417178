//! Unit tests of the interpreters' loading: one build per language, and
//! a build of one language never holds up the other.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use super::*;

/// A toolchain that writes a stand-in component, holding JavaScript's
/// build until released, and failing the first `fail_first` builds.
#[derive(Default)]
struct Gated {
    js_started: Notify,
    js_release: Notify,
    builds: AtomicUsize,
    fail_first: usize,
}

impl Toolchain for Gated {
    fn fingerprint(&self, _lang: Language) -> String {
        "test".into()
    }

    fn build<'a>(
        &'a self,
        lang: Language,
        _dir: &'a Path,
        out: &'a Path,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let n = self.builds.fetch_add(1, Ordering::SeqCst);
            if lang == Language::JavaScript {
                self.js_started.notify_one();
                self.js_release.notified().await;
            }
            anyhow::ensure!(n >= self.fail_first, "build {n} fails");
            std::fs::write(out, lang.name())?;
            Ok(())
        })
    }
}

#[tokio::test]
async fn a_python_request_does_not_wait_for_a_javascript_build() {
    let dir = tempfile::tempdir().unwrap();
    let toolchain = Arc::new(Gated::default());
    let interpreters = Arc::new(Interpreters::new(
        Some(dir.path().to_path_buf()),
        toolchain.clone(),
    ));
    let js = tokio::spawn({
        let interpreters = interpreters.clone();
        async move { interpreters.get(Language::JavaScript).await }
    });
    toolchain.js_started.notified().await;
    // JavaScript's build is under way and held: Python builds and loads.
    let python = tokio::time::timeout(Duration::from_secs(10), interpreters.get(Language::Python))
        .await
        .expect("Python is not held up by JavaScript's build")
        .unwrap();
    assert_eq!(python.bytes(), b"python");
    toolchain.js_release.notify_one();
    let js = js.await.unwrap().unwrap();
    assert_eq!(js.bytes(), b"javascript");
    // Loaded once: later requests build nothing.
    interpreters.get(Language::Python).await.unwrap();
    assert_eq!(toolchain.builds.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_failed_build_is_tried_again_by_the_next_request() {
    let dir = tempfile::tempdir().unwrap();
    let toolchain = Arc::new(Gated {
        fail_first: 1,
        ..Gated::default()
    });
    let interpreters = Interpreters::new(Some(dir.path().to_path_buf()), toolchain.clone());
    let Err(err) = interpreters.get(Language::Python).await else {
        panic!("the first build fails");
    };
    assert!(err.to_string().contains("build 0 fails"), "{err}");
    let wasm = interpreters.get(Language::Python).await.unwrap();
    assert_eq!(wasm.bytes(), b"python");
    assert_eq!(toolchain.builds.load(Ordering::SeqCst), 2);
}
