//! DPoP (RFC 9449): tokens bound to a key weft holds, so a token copied
//! off the wire is useless without it.
//!
//! A server that wants DPoP says so in its challenge (`WWW-Authenticate:
//! DPoP …`), or `dpop = true` in its `oauth` table asks for it. weft then
//! makes a P-256 key for the server (kept with its tokens, so a token
//! stored earlier stays usable), and:
//! - every token request carries a proof (`DPoP` header) for the token
//!   endpoint ([`Http`], the HTTP client rmcp's OAuth code runs on);
//! - every request to the server carries `Authorization: DPoP TOKEN` and a
//!   fresh proof naming the method, the URL and the token's hash;
//! - a `use_dpop_nonce` refusal from either server is answered once with
//!   the nonce it gave (RFC 9449 §8, §9); the latest nonce of each is kept
//!   for the next proofs.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderName, HeaderValue, StatusCode};
use rmcp::transport::auth::{OAuthHttpClient, OAuthHttpClientFuture, OAuthHttpRequest};
use sha2::Digest;

/// The header a proof goes in, and the one a server's nonce comes in.
pub const DPOP: HeaderName = HeaderName::from_static("dpop");
pub const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// The largest nonce weft keeps (what a server sends is hostile).
const MAX_NONCE: usize = 512;

/// The largest answer to an OAuth request weft reads.
const MAX_BODY: usize = 256 * 1024;

/// Why a key cannot be made or used.
#[derive(Debug, thiserror::Error)]
pub enum DpopError {
    #[error("cannot make a DPoP key: {0}")]
    Key(String),
    #[error("cannot sign a DPoP proof: {0}")]
    Sign(String),
}

/// One server's proof key, and the latest nonces its servers gave.
pub struct Key {
    /// The key as PKCS#8 (stored with the tokens).
    pkcs8: Vec<u8>,
    signing: jsonwebtoken::EncodingKey,
    jwk: jsonwebtoken::jwk::Jwk,
    /// The authorization server's nonce, then the resource server's.
    as_nonce: parking_lot::Mutex<Option<String>>,
    rs_nonce: parking_lot::Mutex<Option<String>>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dpop::Key(…)")
    }
}

impl Key {
    /// A new P-256 key.
    pub fn generate() -> Result<Key, DpopError> {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|e| DpopError::Key(e.to_string()))?;
        Key::from_pkcs8(doc.as_ref())
    }

    /// The key stored earlier (base64url of its PKCS#8).
    pub fn restore(stored: &str) -> Result<Key, DpopError> {
        let der = URL_SAFE_NO_PAD
            .decode(stored)
            .map_err(|e| DpopError::Key(e.to_string()))?;
        Key::from_pkcs8(&der)
    }

    fn from_pkcs8(der: &[u8]) -> Result<Key, DpopError> {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|e| DpopError::Key(e.to_string()))?;
        // An uncompressed point: 0x04, then x and y, 32 bytes each.
        let point = pair.public_key().as_ref();
        if point.len() != 65 || point[0] != 4 {
            return Err(DpopError::Key("not an uncompressed P-256 point".into()));
        }
        let jwk = serde_json::from_value(serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        }))
        .map_err(|e| DpopError::Key(e.to_string()))?;
        Ok(Key {
            pkcs8: der.to_vec(),
            signing: jsonwebtoken::EncodingKey::from_ec_der(der),
            jwk,
            as_nonce: Default::default(),
            rs_nonce: Default::default(),
        })
    }

    /// The key to store (base64url of its PKCS#8).
    pub fn stored(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.pkcs8)
    }

    /// A proof for one request: `method` to `url` (its query and
    /// fragment left out), bound to `token` when one is presented, with
    /// the latest nonce of the server it goes to.
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        to_resource: bool,
    ) -> Result<HeaderValue, DpopError> {
        let htu = url.split(['?', '#']).next().unwrap_or(url).to_string();
        let now = crate::util::unix_ms(std::time::SystemTime::now()) / 1000;
        let jti = crate::util::random_hex(16).map_err(|e| DpopError::Sign(e.to_string()))?;
        let mut claims = serde_json::json!({"jti": jti, "htm": method, "htu": htu, "iat": now});
        if let Some(token) = token {
            let hash = sha2::Sha256::digest(token.as_bytes());
            claims["ath"] = URL_SAFE_NO_PAD.encode(hash).into();
        }
        let nonce = match to_resource {
            true => self.rs_nonce.lock().clone(),
            false => self.as_nonce.lock().clone(),
        };
        if let Some(nonce) = nonce {
            claims["nonce"] = nonce.into();
        }
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(self.jwk.clone());
        let jwt = jsonwebtoken::encode(&header, &claims, &self.signing)
            .map_err(|e| DpopError::Sign(e.to_string()))?;
        let mut value = HeaderValue::from_str(&jwt).map_err(|e| DpopError::Sign(e.to_string()))?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// Keeps the nonce a server sent (in any answer), if it sent one.
    /// Returns whether it sent one.
    pub fn note_nonce(&self, headers: &http::HeaderMap, from_resource: bool) -> bool {
        let Some(nonce) = headers
            .get(&DPOP_NONCE)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= MAX_NONCE)
        else {
            return false;
        };
        let slot = match from_resource {
            true => &self.rs_nonce,
            false => &self.as_nonce,
        };
        *slot.lock() = Some(nonce.to_string());
        true
    }
}

/// `Authorization: DPoP TOKEN`, kept out of debug output.
pub fn authorization(token: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("DPoP {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// Whether a resource server's 401 asks for a nonce (RFC 9449 §9).
pub fn wants_nonce(challenge: Option<&str>) -> bool {
    challenge.is_some_and(|c| c.contains("use_dpop_nonce"))
}

/// Whether a challenge is of the DPoP scheme.
pub fn is_dpop_challenge(challenge: Option<&str>) -> bool {
    challenge.is_some_and(|c| {
        c.trim_start()
            .get(..4)
            .is_some_and(|s| s.eq_ignore_ascii_case("dpop"))
    })
}

/// The HTTP client rmcp's OAuth code runs on through weft's client for
/// the server (so its TLS settings apply): with a DPoP `key`, each POST (a
/// token request) gets a proof, and a `use_dpop_nonce` refusal is retried
/// once with the nonce. It never follows a redirect, and reads at most
/// [`MAX_BODY`] bytes of an answer.
pub struct Http {
    pub client: reqwest::Client,
    pub key: Option<Arc<Key>>,
}

impl Http {
    async fn send(
        &self,
        request: &http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, Box<dyn std::error::Error + Send + Sync>> {
        let mut copy = http::Request::builder()
            .method(request.method().clone())
            .uri(request.uri().clone())
            .version(request.version());
        for (name, value) in request.headers() {
            copy = copy.header(name, value);
        }
        if let Some(key) = &self.key
            && request.method() == http::Method::POST
        {
            let proof = key.proof("POST", &request.uri().to_string(), None, false)?;
            copy = copy.header(DPOP, proof);
        }
        let copy = copy.body(request.body().clone())?;
        let answer = self
            .client
            .execute(reqwest::Request::try_from(copy)?)
            .await?;
        let mut response = http::Response::builder().status(answer.status());
        for (name, value) in answer.headers() {
            response = response.header(name, value);
        }
        let body = crate::util::capped_body(answer, MAX_BODY).await;
        Ok(response.body(body)?)
    }
}

impl OAuthHttpClient for Http {
    fn execute(&self, request: OAuthHttpRequest) -> OAuthHttpClientFuture<'_> {
        Box::pin(async move {
            let request = request.request;
            let answer = self.send(&request).await?;
            let asked = self
                .key
                .as_ref()
                .is_some_and(|key| key.note_nonce(answer.headers(), false))
                && answer.status() == StatusCode::BAD_REQUEST
                && String::from_utf8_lossy(answer.body()).contains("use_dpop_nonce");
            if asked && request.method() == http::Method::POST {
                return self.send(&request).await;
            }
            Ok(answer)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The proof's header and claims, its signature checked with the key
    /// its own header carries (as a server checks it).
    fn verified(proof: &HeaderValue) -> (jsonwebtoken::Header, serde_json::Value) {
        let text = proof.to_str().unwrap();
        let header = jsonwebtoken::decode_header(text).unwrap();
        let jwk = header.jwk.clone().expect("the proof carries its key");
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<serde_json::Value>(text, &key, &validation).unwrap();
        (header, data.claims)
    }

    #[test]
    fn a_proof_names_the_request_and_the_token_and_verifies_with_its_own_key() {
        let key = Key::generate().unwrap();
        let proof = key
            .proof("POST", "https://mcp.example/mcp?x=1#f", Some("tok"), true)
            .unwrap();
        assert!(proof.is_sensitive());
        let (header, claims) = verified(&proof);
        assert_eq!(header.typ.as_deref(), Some("dpop+jwt"));
        let jwk = serde_json::to_value(header.jwk.unwrap()).unwrap();
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-256");
        assert!(jwk.get("d").is_none(), "no private part: {jwk}");
        assert_eq!(claims["htm"], "POST");
        assert_eq!(claims["htu"], "https://mcp.example/mcp");
        let hash = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(b"tok"));
        assert_eq!(claims["ath"], hash.as_str());
        assert!(claims.get("nonce").is_none());
        // A token request's proof has no `ath`; each proof is fresh.
        let other = key
            .proof("POST", "https://as.example/token", None, false)
            .unwrap();
        let (_, second) = verified(&other);
        assert!(second.get("ath").is_none());
        assert_ne!(claims["jti"], second["jti"]);
    }

    #[test]
    fn nonces_are_kept_per_server_capped_and_sent_back() {
        let key = Key::generate().unwrap();
        let mut headers = http::HeaderMap::new();
        assert!(!key.note_nonce(&headers, true));
        headers.insert(DPOP_NONCE, HeaderValue::from_static("rs-nonce"));
        assert!(key.note_nonce(&headers, true));
        let (_, to_rs) = verified(
            &key.proof("GET", "https://mcp.example/mcp", Some("t"), true)
                .unwrap(),
        );
        assert_eq!(to_rs["nonce"], "rs-nonce");
        let (_, to_as) = verified(
            &key.proof("POST", "https://as.example/token", None, false)
                .unwrap(),
        );
        assert!(to_as.get("nonce").is_none(), "the AS has its own nonce");
        let long = "n".repeat(MAX_NONCE + 1);
        headers.insert(DPOP_NONCE, HeaderValue::from_str(&long).unwrap());
        assert!(
            !key.note_nonce(&headers, false),
            "an oversized nonce is ignored"
        );
    }

    #[test]
    fn a_stored_key_is_the_same_key() {
        let key = Key::generate().unwrap();
        let again = Key::restore(&key.stored()).unwrap();
        let jwk = |k: &Key| serde_json::to_value(&k.jwk).unwrap();
        assert_eq!(jwk(&key), jwk(&again));
        assert!(Key::restore("not base64 !").is_err());
        assert!(Key::restore(&URL_SAFE_NO_PAD.encode(b"not a key")).is_err());
    }

    #[test]
    fn challenges_of_the_dpop_scheme_are_told_apart() {
        assert!(is_dpop_challenge(Some("DPoP resource_metadata=\"x\"")));
        assert!(is_dpop_challenge(Some("dpop error=\"use_dpop_nonce\"")));
        assert!(!is_dpop_challenge(Some("Bearer resource_metadata=\"x\"")));
        assert!(!is_dpop_challenge(Some("DP")));
        assert!(!is_dpop_challenge(None));
        assert!(wants_nonce(Some("DPoP error=\"use_dpop_nonce\"")));
        assert!(!wants_nonce(Some("DPoP error=\"invalid_token\"")));
    }
}
