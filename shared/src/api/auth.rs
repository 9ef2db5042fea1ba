//! Who is calling: the principal from the JWT claims API Gateway's authorizer validated.

use super::*;

/// Who is calling, from the JWT claims the authorizer validated.
#[derive(Debug, Clone)]
pub struct Principal {
    pub subject: String,
    pub scopes: Vec<String>,
}

impl Principal {
    /// Reads the principal from the API Gateway HTTP API JWT authorizer context.
    pub fn from_request(req: &Request) -> Option<Self> {
        let RequestContext::ApiGatewayV2(ctx) = req.request_context_ref()? else {
            return None;
        };
        let jwt = ctx.authorizer.as_ref()?.jwt.as_ref()?;
        let subject = jwt.claims.get("sub").filter(|s| !s.is_empty())?.to_owned();
        let mut scopes: Vec<String> = jwt.scopes.clone().unwrap_or_default();
        for name in ["scope", "scp"] {
            if let Some(claim) = jwt.claims.get(name) {
                scopes.extend(scope_claim(claim));
            }
        }
        Some(Self { subject, scopes })
    }

    pub fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The principal as the actor of what it records.
    pub fn actor(&self) -> Actor {
        Actor {
            subject: self.subject.clone(),
        }
    }
}

/// API Gateway's id of the request (`requestContext.requestId`).
pub(super) fn request_id(req: &Request) -> Option<String> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => ctx.request_id.clone(),
        _ => None,
    }
}

/// The scopes of a `scope` or `scp` claim as API Gateway hands it over: a space-separated string
/// (`"a b"`, the OAuth form; Cognito, Auth0), or an array, which HTTP APIs pass as `"[a b]"` (Okta
/// and Entra send `scp` as an array), or as JSON text (`["a","b"]`).
pub fn scope_claim(claim: &str) -> Vec<String> {
    let text = claim.trim();
    if let Ok(list) = serde_json::from_str::<Vec<String>>(text) {
        return list.into_iter().filter(|s| !s.is_empty()).collect();
    }
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    inner
        .split(|c: char| c.is_whitespace() || c == ',')
        .map(|s| s.trim_matches('"'))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
