//! API tokens: the `dt0c01.PUBLIC.SECRET` format, scopes, and expiration parsing.
//!
//! dtsim keeps only a SHA-256 of each token's secret, so neither the state file nor the admin
//! routes can leak a usable token.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dates;
use crate::error::{ApiError, ApiResult, Location};

pub const PREFIX: &str = "dt0c01";
const PUBLIC_LEN: usize = 24;
const SECRET_LEN: usize = 64;
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Environment API scopes dtsim knows (ARCHITECTURE.md); anything else is a 400.
pub const ENV_SCOPES: [&str; 9] = [
    "InstallerDownload",
    "apiTokens.read",
    "apiTokens.write",
    "TenantTokenManagement",
    "settings.read",
    "settings.write",
    "DataExport",
    "ReadConfig",
    "WriteConfig",
];

/// Cluster API scopes dtsim knows [doc: "Create new Cluster token"]; the cluster token of
/// `Dtsim::cluster_token` has all of them.
pub const CLUSTER_SCOPES: [&str; 16] = [
    "ServiceProviderAPI",
    "EnvironmentTokenManagement",
    "ClusterTokenManagement",
    "ControlManagement",
    "DiagnosticExport",
    "ExternalSyntheticIntegration",
    "Nodekeeper",
    "ReadSyntheticData",
    "UnattendedInstall",
    "settings.read",
    "settings.write",
    "apiTokens.read",
    "apiTokens.write",
    "activeGateTokenManagement.read",
    "activeGateTokenManagement.create",
    "activeGateTokenManagement.write",
];

/// Scopes of a tenant token-management token (createToken=true and the tokenManagementToken route).
pub const MANAGEMENT_SCOPES: [&str; 3] =
    ["apiTokens.read", "apiTokens.write", "TenantTokenManagement"];

/// A stored token. `environment` is `None` for cluster tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    pub id: String,
    pub secret_sha256: String,
    pub name: String,
    pub environment: Option<String>,
    pub scopes: Vec<String>,
    pub owner: String,
    pub personal_access_token: bool,
    pub created_ms: u64,
    pub expires_ms: Option<u64>,
    pub last_used_ms: Option<u64>,
    /// Deleted tokens stay listed (for `/__dtsim/tokens`) but never authenticate again.
    #[serde(default)]
    pub revoked: bool,
    /// Revoked by an update (`revoked: true` on PUT): still listed and shown with
    /// `revoked: true`, never authenticates, and an update can enable it again.
    #[serde(default)]
    pub disabled: bool,
}

impl Token {
    pub fn expired(&self, now_ms: u64) -> bool {
        self.expires_ms.is_some_and(|e| e <= now_ms)
    }

    /// Usable for authentication: neither deleted, disabled nor expired.
    pub fn alive(&self, now_ms: u64) -> bool {
        !self.revoked && !self.disabled && !self.expired(now_ms)
    }
}

/// A freshly minted token: the stored record and the secret handed to the caller once.
pub struct Minted {
    pub token: Token,
    pub secret: String,
}

pub fn random_base32(n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| BASE32[rng.gen_range(0..32)] as char)
        .collect()
}

pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub struct Mint<'a> {
    pub name: &'a str,
    pub environment: Option<&'a str>,
    pub scopes: Vec<String>,
    pub owner: &'a str,
    pub personal_access_token: bool,
    pub expires_ms: Option<u64>,
}

pub fn mint(m: Mint<'_>) -> Minted {
    let public = random_base32(PUBLIC_LEN);
    let secret = format!("{PREFIX}.{public}.{}", random_base32(SECRET_LEN));
    Minted {
        token: Token {
            id: format!("{PREFIX}.{public}"),
            secret_sha256: hash(&secret),
            name: m.name.to_string(),
            environment: m.environment.map(str::to_string),
            scopes: m.scopes,
            owner: m.owner.to_string(),
            personal_access_token: m.personal_access_token,
            created_ms: now_ms(),
            expires_ms: m.expires_ms,
            last_used_ms: None,
            revoked: false,
            disabled: false,
        },
        secret,
    }
}

/// What a client presented: either a full token or (for delete/get) only its id.
#[derive(Debug, PartialEq, Eq)]
pub enum Presented<'a> {
    Full { id: String, secret: &'a str },
    IdOnly(String),
}

fn is_base32(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| BASE32.contains(&b))
}

/// Parses `dt0c01.PUBLIC.SECRET` or `dt0c01.PUBLIC`; `None` when it is neither.
pub fn parse(s: &str) -> Option<Presented<'_>> {
    let mut parts = s.split('.');
    let (prefix, public) = (parts.next()?, parts.next()?);
    if prefix != PREFIX || !is_base32(public, PUBLIC_LEN) {
        return None;
    }
    let id = format!("{PREFIX}.{public}");
    match (parts.next(), parts.next()) {
        (None, _) => Some(Presented::IdOnly(id)),
        (Some(secret), None) if is_base32(secret, SECRET_LEN) => {
            Some(Presented::Full { id, secret: s })
        }
        _ => None,
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `2021-02-09T11:03:17.732Z`, the format of Dynatrace dates.
pub fn iso(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// Checks requested scopes against the known list; 400 names the first unknown one.
pub fn check_scopes(scopes: &[String], known: &[&str], field: &str) -> ApiResult<()> {
    if scopes.is_empty() {
        return Err(ApiError::invalid(
            Location::PayloadBody,
            field,
            "must not be empty",
        ));
    }
    for s in scopes {
        if !known.contains(&s.as_str()) {
            return Err(ApiError::invalid(
                Location::PayloadBody,
                field,
                format!("unknown scope '{s}'; known scopes: {}", known.join(", ")),
            ));
        }
    }
    Ok(())
}

/// Parses the v2 `expirationDate`: epoch millis (number or digits), ISO-8601 with any offset,
/// or `now+15m` with an optional alignment (`now+1y/d`; see `dates`). Returns epoch millis; a
/// date in the past is a 400.
pub fn parse_expiration(v: &serde_json::Value, now: u64) -> ApiResult<Option<u64>> {
    let bad = |msg: String| ApiError::invalid(Location::PayloadBody, "expirationDate", msg);
    let ms = match v {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| bad(format!("'{n}' is not epoch milliseconds")))?,
        serde_json::Value::String(s) => parse_date_string(s.trim(), now).map_err(bad)?,
        other => {
            return Err(bad(format!(
                "expected a date string or epoch millis, got {other}"
            )))
        }
    };
    if ms <= now {
        return Err(bad(format!(
            "'{}' is in the past; give a future date, a relative date like now+15m, or leave it out for a token that never expires",
            iso(ms)
        )));
    }
    Ok(Some(ms))
}

fn parse_date_string(s: &str, now: u64) -> Result<u64, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse()
            .map_err(|_| format!("'{s}' is not epoch milliseconds"));
    }
    if let Some(rel) = s.strip_prefix("now") {
        return dates::relative(rel, now).ok_or_else(|| {
            format!("'{s}' is not a relative date; use now+NU or now+NU/A with units m h d w M y, e.g. now+15m, now+14d, now+1y/d")
        });
    }
    dates::iso(s).ok_or_else(|| {
        format!("'{s}' is not an ISO-8601 date such as 2030-01-25T05:57:01.123+01:00")
    })
}

/// `expiresIn: {value, unit}` of the cluster and v1 APIs, as a duration in millis; `unit`
/// defaults to MILLIS [doc: "Create a new tenant token"].
pub fn expires_in_ms(v: &serde_json::Value) -> ApiResult<u64> {
    let bad = |msg: &str| ApiError::invalid(Location::PayloadBody, "expiresIn", msg.to_string());
    let value = v
        .get("value")
        .and_then(|x| x.as_u64())
        .filter(|x| *x > 0)
        .ok_or_else(|| bad("expiresIn.value must be a positive integer"))?;
    let unit = match v.get("unit") {
        None | Some(serde_json::Value::Null) => "MILLIS",
        Some(u) => u
            .as_str()
            .ok_or_else(|| bad("expiresIn.unit must be DAYS, HOURS, MINUTES, SECONDS or MILLIS"))?,
    };
    let unit_ms = match unit {
        "DAYS" => 86_400_000,
        "HOURS" => 3_600_000,
        "MINUTES" => 60_000,
        "SECONDS" => 1000,
        "MILLIS" => 1,
        _ => {
            return Err(bad(
                "expiresIn.unit must be DAYS, HOURS, MINUTES, SECONDS or MILLIS",
            ))
        }
    };
    value
        .checked_mul(unit_ms)
        .ok_or_else(|| bad("expiresIn is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn minted_tokens_parse_and_hash() {
        let m = mint(Mint {
            name: "t",
            environment: Some("e"),
            scopes: vec!["InstallerDownload".into()],
            owner: "o",
            personal_access_token: false,
            expires_ms: None,
        });
        assert_eq!(m.secret.len(), 6 + 1 + 24 + 1 + 64);
        match parse(&m.secret) {
            Some(Presented::Full { id, .. }) => assert_eq!(id, m.token.id),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            parse(&m.token.id),
            Some(Presented::IdOnly(m.token.id.clone()))
        );
        assert_eq!(hash(&m.secret), m.token.secret_sha256);
        assert!(parse("dt0c01.abc.def").is_none());
        assert!(parse("").is_none());
    }

    #[test]
    fn expiration_forms() {
        let now = 1_700_000_000_000;
        assert_eq!(parse_expiration(&json!(null), now), Ok(None));
        assert_eq!(
            parse_expiration(&json!("now+15m"), now),
            Ok(Some(now + 900_000))
        );
        assert_eq!(parse_expiration(&json!(now + 5), now), Ok(Some(now + 5)));
        assert_eq!(
            parse_expiration(&json!("2100-01-01T00:00:00.000Z"), now),
            Ok(Some(4_102_444_800_000))
        );
        assert!(parse_expiration(&json!("now-1h"), now).is_err());
        assert_eq!(
            parse_expiration(&json!("2100-01-01 01:00+01:00"), now),
            Ok(Some(4_102_444_800_000))
        );
        assert!(parse_expiration(&json!("2000-01-01T00:00:00Z"), now).is_err());
        assert!(parse_expiration(&json!("now+5x"), now).is_err());
        assert!(parse_expiration(&json!(true), now).is_err());
    }
}
