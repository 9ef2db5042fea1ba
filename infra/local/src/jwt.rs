//! HS256 JSON Web Tokens for the local stack: minted for each role at start-up and validated by
//! the gateway as API Gateway's JWT authorizer does on AWS (signature, issuer, audience, expiry).

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;

pub const LOCAL_ISSUER: &str = "http://127.0.0.1/local-issuer";
pub const LOCAL_AUDIENCE: &str = "inventory-api";

/// A signing key shared by the token minter and the gateway.
#[derive(Clone)]
pub struct JwtKey(Vec<u8>);

impl JwtKey {
    pub fn random() -> Self {
        Self((0..32).map(|_| rand::random::<u8>()).collect())
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length")
    }

    /// Signs a token for `sub` with `scope` (space separated), valid for `ttl_secs`.
    pub fn mint(&self, sub: &str, scope: &str, ttl_secs: i64) -> String {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.sign(&json!({
            "iss": LOCAL_ISSUER,
            "aud": LOCAL_AUDIENCE,
            "sub": sub,
            "scope": scope,
            "iat": now,
            "exp": now + ttl_secs,
        }))
    }

    /// Signs arbitrary claims (tests use it for expired or foreign tokens).
    pub fn sign(&self, claims: &Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{payload}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{sig}")
    }

    /// Validates a token and returns its claims as API Gateway passes them (string values).
    pub fn verify(&self, token: &str) -> Option<Map<String, Value>> {
        let mut parts = token.split('.');
        let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
        if header.get("alg")?.as_str()? != "HS256" {
            return None;
        }
        let mut mac = self.mac();
        mac.update(format!("{h}.{p}").as_bytes());
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(s).ok()?).ok()?;
        let claims: Map<String, Value> =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let exp = claims.get("exp")?.as_i64()?;
        let aud_ok = match claims.get("aud")? {
            Value::String(a) => a == LOCAL_AUDIENCE,
            Value::Array(a) => a.iter().any(|a| a.as_str() == Some(LOCAL_AUDIENCE)),
            _ => false,
        };
        if exp <= now || claims.get("iss")?.as_str()? != LOCAL_ISSUER || !aud_ok {
            return None;
        }
        Some(
            claims
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s,
                        Value::Array(a) => format!(
                            "[{}]",
                            a.iter()
                                .map(|x| x.as_str().map(str::to_owned).unwrap_or(x.to_string()))
                                .collect::<Vec<_>>()
                                .join(" ")
                        ),
                        other => other.to_string(),
                    };
                    (k, Value::String(v))
                })
                .collect(),
        )
    }
}

/// The roles the local stack prints tokens for: name, subject, scopes.
pub const ROLES: &[(&str, &str, &str)] = &[
    (
        "storefront",
        "storefront-demo",
        "inventory/sell inventory/read",
    ),
    // A second shop on the same stock: its holds are its own (try the two against each other).
    (
        "storefront-b",
        "storefront-b-demo",
        "inventory/sell inventory/read",
    ),
    ("ops", "ops-demo", "inventory/admin inventory/read"),
    ("readonly", "analyst-demo", "inventory/read"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_with_their_key_and_until_they_expire() {
        let key = JwtKey::random();
        let token = key.mint("me", "inventory/read", 60);
        let claims = key.verify(&token).unwrap();
        assert_eq!(claims["sub"], "me");
        assert_eq!(claims["scope"], "inventory/read");
        assert!(JwtKey::random().verify(&token).is_none());
        assert!(key.verify(&key.mint("me", "x", -1)).is_none());
        let mut tampered = token.clone();
        tampered.insert(token.find('.').unwrap() + 2, 'x');
        assert!(key.verify(&tampered).is_none());
    }
}
