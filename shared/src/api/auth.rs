//! Who is calling: the principal from the JWT claims API Gateway's authorizer validated.

use super::*;
use crate::reservations::Caller;

/// Who is calling, from the JWT claims the authorizer validated.
#[derive(Debug, Clone)]
pub struct Principal {
    pub subject: String,
    /// Whose holds and orders the caller's are ([`owner_of`]).
    pub owner: String,
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
        let claim = |name: &str| jwt.claims.get(name).map(String::as_str);
        let owner = owner_of(&subject, claim);
        Some(Self {
            subject,
            owner,
            scopes,
        })
    }

    pub fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The principal as the caller of a hold's steps: it acts on its own holds, or on every
    /// client's with the admin scope.
    pub fn caller(&self) -> Caller<'_> {
        Caller {
            subject: &self.subject,
            owner: &self.owner,
            any_owner: self.has(super::scope::ADMIN),
        }
    }

    /// The principal as the actor of what it records.
    pub fn actor(&self) -> Actor {
        Actor {
            subject: self.subject.clone(),
            owner: self.owner.clone(),
            any_owner: self.has(super::scope::ADMIN),
        }
    }
}

/// Whose holds and orders a token's are: its client id when it is a client-credentials token (a
/// storefront's machine-to-machine token), else its subject. The client id is the first of the
/// `client_id` (Cognito, Okta), `cid` (Okta), `azp` (Auth0, Keycloak) and `appid` (Entra) claims;
/// the token is a client-credentials one when its subject is that client id (Cognito, Okta), or
/// its subject is `<client id>@clients` or `gty` is `client-credentials` (Auth0), or `idtyp` is
/// `app` (Entra). Every token of one storefront's client therefore shares its holds, whichever
/// token it fetched last.
pub fn owner_of<'a>(subject: &str, claim: impl Fn(&str) -> Option<&'a str>) -> String {
    let client = ["client_id", "cid", "azp", "appid"]
        .into_iter()
        .find_map(|name| claim(name).filter(|c| !c.is_empty()));
    if let Some(client) = client {
        let machine = subject == client
            || subject.strip_suffix("@clients") == Some(client)
            || claim("gty") == Some("client-credentials")
            || claim("idtyp") == Some("app");
        if machine {
            return client.to_owned();
        }
    }
    subject.to_owned()
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

#[cfg(test)]
mod tests {
    use super::owner_of;

    fn owner(subject: &str, claims: &[(&str, &str)]) -> String {
        owner_of(subject, |name| {
            claims.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
        })
    }

    #[test]
    fn a_client_credentials_token_owns_as_its_client_and_a_person_as_themselves() {
        // Cognito and Okta: the subject of a client-credentials token is the client id.
        assert_eq!(owner("web-shop", &[("client_id", "web-shop")]), "web-shop");
        assert_eq!(owner("0oa1", &[("cid", "0oa1")]), "0oa1");
        // Auth0: `<client id>@clients`, and `gty`.
        assert_eq!(owner("pos@clients", &[("azp", "pos")]), "pos");
        assert_eq!(
            owner("x", &[("azp", "pos"), ("gty", "client-credentials")]),
            "pos"
        );
        // Entra: an app token.
        assert_eq!(owner("oid-1", &[("appid", "erp"), ("idtyp", "app")]), "erp");
        // A person signed in through an app client is themselves, not the console's client.
        assert_eq!(owner("user-7", &[("client_id", "console")]), "user-7");
        assert_eq!(owner("user-7", &[]), "user-7");
        assert_eq!(owner("user-7", &[("client_id", "")]), "user-7");
    }
}
