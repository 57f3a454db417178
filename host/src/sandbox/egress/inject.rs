//! The query parameters and cookies the host adds to an adapter's request
//! (an OpenAPI server's `apiKey` schemes in the query or a cookie), added
//! to the checked URL before it is verified and sent.

use url::Url;

use crate::config::EgressConfig;

/// Adds the query parameters injected for `host` to `url`, each replacing
/// any parameter of its name the adapter wrote. The rest of the query is
/// kept byte for byte.
pub(super) fn query(url: &mut Url, config: &EgressConfig, host: &str) {
    let added: Vec<_> = config
        .injected_for(host)
        .flat_map(|h| h.query.iter())
        .collect();
    if added.is_empty() {
        return;
    }
    let mut kept: Vec<String> = url
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or("");
            let key: String = url::form_urlencoded::parse(key.as_bytes())
                .map(|(k, _)| k.into_owned())
                .next()
                .unwrap_or_default();
            !added.iter().any(|i| i.name == key)
        })
        .map(str::to_string)
        .collect();
    let mut extra = url::form_urlencoded::Serializer::new(String::new());
    for i in &added {
        extra.append_pair(&i.name, &i.value);
    }
    kept.push(extra.finish());
    url.set_query(Some(&kept.join("&")));
}

/// The `cookie` header of the cookies injected for `host`, if any.
pub(super) fn cookie(config: &EgressConfig, host: &str) -> Option<http::HeaderValue> {
    let pairs: Vec<String> = config
        .injected_for(host)
        .flat_map(|h| h.cookies.iter())
        .map(|c| format!("{}={}", c.name, c.value))
        .collect();
    if pairs.is_empty() {
        return None;
    }
    let mut value = http::HeaderValue::from_str(&pairs.join("; ")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openapi::Injection;

    fn config() -> EgressConfig {
        let mut c = EgressConfig::from_entries(&["http://api.test/*".into()]).expect("entries");
        c.inject(
            "http://api.test",
            &[
                Injection::Query("api_key".into(), "s3cr&t".into()),
                Injection::Cookie("session".into(), "abc".into()),
                Injection::Cookie("other".into(), "def".into()),
            ],
        )
        .expect("injections");
        c
    }

    #[test]
    fn the_key_replaces_the_adapters_own_in_every_spelling() {
        let c = config();
        for (sent, expected) in [
            ("http://api.test/a", "http://api.test/a?api_key=s3cr%26t"),
            (
                "http://api.test/a?x=%20y&api_key=mine",
                "http://api.test/a?x=%20y&api_key=s3cr%26t",
            ),
            (
                "http://api.test/a?api%5Fkey=mine&api+key=2",
                "http://api.test/a?api+key=2&api_key=s3cr%26t",
            ),
        ] {
            let mut url = Url::parse(sent).expect("url");
            query(&mut url, &c, "api.test");
            assert_eq!(url.as_str(), expected);
        }
        let mut other = Url::parse("http://elsewhere.test/a").expect("url");
        query(&mut other, &c, "elsewhere.test");
        assert_eq!(other.as_str(), "http://elsewhere.test/a");
    }

    #[test]
    fn cookies_go_as_one_header_for_the_apis_host_only() {
        let c = config();
        assert_eq!(
            cookie(&c, "api.test").map(|v| v.to_str().unwrap_or("").to_string()),
            Some("session=abc; other=def".to_string())
        );
        assert!(cookie(&c, "elsewhere.test").is_none());
    }
}
