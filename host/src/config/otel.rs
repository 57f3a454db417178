//! `settings.otel_endpoint`: the collector's address, as the URL weft
//! sends its traces to.

/// The OTLP/HTTP traces URL for `settings.otel_endpoint`: the collector's
/// base address gets `/v1/traces`; a URL that already ends so is kept.
pub(super) fn otel_endpoint(text: &str) -> anyhow::Result<String> {
    let trimmed = text.trim().trim_end_matches('/');
    let Some(rest) = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"))
    else {
        return Err(anyhow::anyhow!(
            "{text:?} is not an http:// or https:// URL"
        ));
    };
    if rest.is_empty() || rest.starts_with('/') || trimmed.contains(char::is_whitespace) {
        return Err(anyhow::anyhow!("{text:?} names no host"));
    }
    Ok(match trimmed.ends_with("/v1/traces") {
        true => trimmed.to_string(),
        false => format!("{trimmed}/v1/traces"),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn otel_endpoint_gets_the_traces_path_once() {
        use super::otel_endpoint;
        assert_eq!(
            otel_endpoint("http://c:4318").unwrap(),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            otel_endpoint("http://c:4318/").unwrap(),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            otel_endpoint("https://c/v1/traces").unwrap(),
            "https://c/v1/traces"
        );
        assert!(otel_endpoint("grpc://c:4317").is_err());
        assert!(otel_endpoint("http://").is_err());
    }
}
