//! OpenID Connect discovery's configuration: the options, the document's URL for an issuer,
//! and reading its `jwks_uri`.

use std::time::Duration;

use serde_json::Value;

use crate::http;

/// The default path of the configuration document below the issuer.
pub const DEFAULT_CONFIG_PATH: &str = "/.well-known/openid-configuration";

/// Settings of a discovery-mode client (one with no fixed `uri`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoveryOptions {
    /// Issuers whose tokens may be verified (exact string match with `iss`).
    pub allowed_issuers: Vec<String>,
    /// Discover ANY issuer a token names. Dangerous: whoever sends a token chooses which URLs
    /// the client fetches (server-side request forgery), and any issuer's keys are accepted.
    /// Only with a transport that restricts destinations, or behind an `iss` check of your own.
    /// An issuer only a token names, and the `jwks_uri` its document gives, must be https, even
    /// on loopback (plain http only with `allow_http`).
    pub allow_any_issuer: bool,
    /// The configuration document's path below the issuer. Default
    /// `/.well-known/openid-configuration`.
    pub config_path: String,
    /// Issuers with a known JWKS URL: no discovery request is made for them. Such an issuer is
    /// allowed.
    pub static_issuers: Vec<(String, String)>,
    /// How many issuers are cached (least recently used evicted). 32; at most
    /// [`crate::MAX_ISSUERS_LIMIT`].
    pub max_issuers: usize,
    /// How long an issuer's configuration and key set are used before being fetched again.
    /// 3600 s.
    pub issuer_ttl: Duration,
    /// Minimum time between two refetches of an issuer's keys caused by an unknown kid. 300 s.
    pub min_refetch_interval: Duration,
}

impl Default for DiscoveryOptions {
    fn default() -> Self {
        DiscoveryOptions {
            allowed_issuers: Vec::new(),
            allow_any_issuer: false,
            config_path: DEFAULT_CONFIG_PATH.to_owned(),
            static_issuers: Vec::new(),
            max_issuers: 32,
            issuer_ttl: Duration::from_secs(3600),
            min_refetch_interval: Duration::from_secs(300),
        }
    }
}

impl DiscoveryOptions {
    /// Whether any issuer setting asks for discovery mode.
    pub fn is_enabled(&self) -> bool {
        !self.allowed_issuers.is_empty() || self.allow_any_issuer || !self.static_issuers.is_empty()
    }
}

/// The configuration URL of an issuer (OIDC Discovery §4: a trailing `/` of the issuer is
/// removed before the path is appended).
pub fn config_url(issuer: &str, config_path: &str) -> String {
    let base = issuer.trim_end_matches('/');
    if config_path.starts_with('/') {
        format!("{base}{config_path}")
    } else {
        format!("{base}/{config_path}")
    }
}

/// The `jwks_uri` of an OpenID Provider configuration document fetched for `iss`, or why the
/// document is refused.
pub(crate) fn parse_configuration(
    body: &[u8],
    iss: &str,
    allow_http: bool,
) -> std::result::Result<String, String> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|_| "the configuration document is not JSON".to_owned())?;
    let doc = doc
        .as_object()
        .ok_or_else(|| "the configuration document is not a JSON object".to_owned())?;
    // OIDC Discovery §4.3: the document's issuer must be exactly the issuer asked about.
    if doc.get("issuer").and_then(Value::as_str) != Some(iss) {
        return Err("the configuration document's issuer does not match the token's iss".into());
    }
    let jwks_uri = doc
        .get("jwks_uri")
        .or_else(|| doc.get("jwks_url"))
        .and_then(Value::as_str)
        .ok_or_else(|| "the configuration document has no jwks_uri".to_owned())?;
    http::check_scheme(jwks_uri, allow_http).map_err(|_| {
        "its jwks_uri is not an https URL (plain http only to loopback hosts)".to_owned()
    })?;
    Ok(jwks_uri.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_url_follows_the_spec() {
        let p = DEFAULT_CONFIG_PATH;
        assert_eq!(
            config_url("https://idp.example", p),
            "https://idp.example/.well-known/openid-configuration"
        );
        assert_eq!(
            config_url("https://idp.example/tenant/", p),
            "https://idp.example/tenant/.well-known/openid-configuration"
        );
        assert_eq!(
            config_url("https://idp.example/", "oidc.json"),
            "https://idp.example/oidc.json"
        );
    }
}
