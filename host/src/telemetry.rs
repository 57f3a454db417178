//! Traces over OpenTelemetry (`settings.otel_endpoint`): weft's own
//! spans (the agent's request, the router's call, the upstream request,
//! a policy run) exported as OTLP over HTTP, and the W3C trace context
//! carried in `_meta` (`traceparent`, `tracestate`: SEP-414) both ways.
//!
//! The layer is installed with the logger, switched off; [`start`] turns
//! it on once the config names a collector. While it is off, its filter
//! says no to every span, so tracing costs what it did before (one atomic
//! load per span). When on, it takes weft's spans at INFO and above, and
//! no events. The exporter sends from the SDK's batch thread through
//! weft's own HTTP client on the runtime ([`OnRuntime`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, SdkTracerProvider, Span, SpanData, SpanProcessor,
};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::Registry;

static ON: AtomicBool = AtomicBool::new(false);
/// The processor the layer's provider sends finished spans to: nothing
/// until [`start`] gives it the exporter's batch processor.
static SWITCH: OnceLock<Arc<Switched>> = OnceLock::new();
/// Kept for the life of the process: the layer's tracer belongs to it.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

fn resource() -> Resource {
    Resource::builder().with_service_name("weft").build()
}

#[derive(Debug, Default)]
struct Switched {
    batch: OnceLock<BatchSpanProcessor>,
}

/// A span processor that passes spans on once there is somewhere to send
/// them. (The layer is installed before the config is read, and
/// `tracing-opentelemetry` must sit in the subscriber itself, not behind a
/// reloadable layer, for spans to take a parent.)
#[derive(Debug)]
struct Switch(Arc<Switched>);

impl SpanProcessor for Switch {
    fn on_start(&self, span: &mut Span, cx: &opentelemetry::Context) {
        if let Some(b) = self.0.batch.get() {
            b.on_start(span, cx);
        }
    }

    fn on_end(&self, span: SpanData) {
        if let Some(b) = self.0.batch.get() {
            b.on_end(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0
            .batch
            .get()
            .map_or(Ok(()), BatchSpanProcessor::force_flush)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0
            .batch
            .get()
            .map_or(Ok(()), |b| b.shutdown_with_timeout(timeout))
    }
}

/// The layer for the logger to install, off until [`start`].
pub fn layer() -> impl Layer<Registry> + Send + Sync {
    let switched = SWITCH.get_or_init(Arc::default).clone();
    let provider = SdkTracerProvider::builder()
        .with_resource(resource())
        .with_span_processor(Switch(switched))
        .build();
    let tracer = provider.tracer("weft");
    let _ = PROVIDER.set(provider);
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            ON.load(Ordering::Relaxed)
                && meta.is_span()
                && meta.target().starts_with("weft")
                && *meta.level() <= tracing::Level::INFO
        }))
}

/// Whether spans are being exported.
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Why traces cannot be exported.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot make the OTLP exporter for {endpoint}: {reason}")]
    Exporter { endpoint: String, reason: String },
    #[error("the tracing layer was not installed (the logger is not weft's own)")]
    NoLayer,
    #[error("traces are already exported")]
    Started,
}

/// Sends OTLP requests with weft's HTTP client on the tokio runtime: the
/// SDK's batch processor calls from a thread of its own, where an async
/// client has no reactor.
#[derive(Debug, Clone)]
struct OnRuntime {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OnRuntime {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let client = self.client.clone();
        self.runtime
            .spawn(async move { client.send_bytes(request).await })
            .await?
    }
}

/// Starts exporting to `endpoint` (the `/v1/traces` URL). Call on the
/// runtime.
pub fn start(endpoint: &str) -> Result<(), TelemetryError> {
    use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
    let switched = SWITCH.get().ok_or(TelemetryError::NoLayer)?;
    if switched.batch.get().is_some() {
        return Err(TelemetryError::Started);
    }
    let failed = |reason: String| TelemetryError::Exporter {
        endpoint: endpoint.to_string(),
        reason,
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(10))
        .with_http_client(OnRuntime {
            client,
            runtime: tokio::runtime::Handle::current(),
        })
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let mut batch = BatchSpanProcessor::builder(exporter).build();
    batch.set_resource(&resource());
    switched
        .batch
        .set(batch)
        .map_err(|_| TelemetryError::Started)?;
    ON.store(true, Ordering::Relaxed);
    // Callsites that were asked while the layer was off ask again.
    tracing::callsite::rebuild_interest_cache();
    tracing::info!(%endpoint, "exporting traces over OTLP");
    Ok(())
}

/// Sends what is left and stops exporting (waits up to 5 s).
pub async fn shutdown() {
    let Some(switched) = SWITCH.get().cloned() else {
        return;
    };
    if switched.batch.get().is_none() {
        return;
    }
    ON.store(false, Ordering::Relaxed);
    let stopped = tokio::task::spawn_blocking(move || {
        Switch(switched).shutdown_with_timeout(Duration::from_secs(5))
    })
    .await;
    if let Ok(Err(e)) = stopped {
        tracing::warn!("traces not all sent: {e}");
    }
}

/// The longest `traceparent` or `tracestate` taken from an agent.
const MAX_CONTEXT: usize = 512;

/// Makes the trace context an agent sent (from `_meta`, else the HTTP
/// headers) the parent of `span`. A missing or malformed context leaves
/// the span a root.
pub fn adopt(span: &tracing::Span, traceparent: Option<&str>, tracestate: Option<&str>) {
    if !enabled() {
        return;
    }
    let Some(parent) = traceparent.filter(|t| t.len() <= MAX_CONTEXT) else {
        return;
    };
    let mut carrier = HashMap::from([("traceparent".to_string(), parent.to_string())]);
    if let Some(state) = tracestate.filter(|t| t.len() <= MAX_CONTEXT) {
        carrier.insert("tracestate".to_string(), state.to_string());
    }
    let cx = TraceContextPropagator::new().extract(&carrier);
    if let Err(e) = span.set_parent(cx) {
        tracing::debug!("cannot set a span's parent: {e}");
    }
}

/// The trace context an agent sent: `_meta`'s `traceparent` and
/// `tracestate` (SEP-414), else the W3C headers of its HTTP request.
pub type Sent = (Option<String>, Option<String>);

/// What [`adopt`] takes from a request's `_meta` and headers.
pub fn sent(meta: &rmcp::model::MetaObject, headers: Option<&http::HeaderMap>) -> Sent {
    if !enabled() {
        return (None, None);
    }
    if let Some(parent) = meta.get_traceparent() {
        return (
            Some(parent.to_string()),
            meta.get_tracestate().map(str::to_string),
        );
    }
    let header = |name: &str| {
        headers
            .and_then(|h| h.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    (header("traceparent"), header("tracestate"))
}

/// The current span's context as `(traceparent, tracestate)`, for an
/// upstream request's `_meta`; none while traces are off.
pub fn current() -> Option<(String, Option<String>)> {
    if !enabled() {
        return None;
    }
    let cx = tracing::Span::current().context();
    let mut carrier: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    let parent = carrier.remove("traceparent")?;
    Some((
        parent,
        carrier.remove("tracestate").filter(|s| !s.is_empty()),
    ))
}
