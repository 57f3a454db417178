//! A real HTTP/1.1 server for the egress tests, on 127.0.0.1 and a port
//! the system picks. It counts the connections it accepts and records
//! every request (method, path and query, headers); it answers each with
//! those as JSON, echoing every request header back as a response header
//! too (`x-echo-NAME`), the way a careless API would. `/big` answers with
//! 64 KiB of text instead; `/slow` answers after 30 seconds; `/moved`
//! redirects (302) to `/api/moved-here`.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use serde_json::{Value, json};

/// The server; it stops when dropped.
pub struct EchoHttp {
    pub port: u16,
    seen: Arc<Mutex<Vec<Value>>>,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl EchoHttp {
    /// Starts it (call inside a tokio runtime).
    pub async fn start() -> EchoHttp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port");
        let port = listener.local_addr().expect("its address").port();
        let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
        let connections = Arc::new(AtomicUsize::new(0));
        let (s, c) = (seen.clone(), connections.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let s = s.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| answer(req, s.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        EchoHttp {
            port,
            seen,
            connections,
            task,
        }
    }

    /// The requests received so far.
    pub fn seen(&self) -> Vec<Value> {
        self.seen.lock().clone()
    }

    /// The connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for EchoHttp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    req: Request<Incoming>,
    seen: Arc<Mutex<Vec<Value>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let headers: serde_json::Map<String, Value> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
            )
        })
        .collect();
    let record = json!({
        "method": req.method().as_str(),
        "path": req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/"),
        "headers": headers,
    });
    seen.lock().push(record.clone());
    if req.uri().path() == "/slow" {
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    }
    let mut response = Response::builder().status(200);
    if req.uri().path() == "/moved" {
        response = Response::builder()
            .status(302)
            .header("location", "/api/moved-here");
    }
    for (name, value) in req.headers() {
        response = response.header(format!("x-echo-{}", name.as_str()), value);
    }
    let body = if req.uri().path() == "/big" {
        "x".repeat(64 << 10)
    } else {
        record.to_string()
    };
    Ok(response
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a response"))
}
