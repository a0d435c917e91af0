//! Environment API tokens (v2): mint the short-lived `InstallerDownload`-only token, look up a
//! token's scopes, revoke. [`MintedGuard`] makes sure a minted token is revoked on every path.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::json;

use crate::error::{failure, one_line, Kind};
use crate::http::{Call, Client, Method};
use crate::secret::Secret;

mod sweep;

pub use sweep::{revoke_named, run_token_name};

/// The token that mints and revokes: the tenant's token-management token, or the operator's.
const MANAGEMENT_TOKEN: &str = "the minting token (token-management token or --api-token-file)";
/// Long enough for a slow download; the guard revokes it sooner anyway.
const EXPIRY: &str = "now+15m";
pub const INSTALLER_SCOPE: &str = "InstallerDownload";

#[derive(Debug)]
pub struct Minted {
    /// The public id (`dt0c01.PUBLIC`), safe to log; what DELETE takes.
    pub id: String,
    pub token: Secret,
    /// When the server says the token expires (`expirationDate`), if it said.
    pub expires: Option<String>,
}

/// Mints a token with scope `InstallerDownload` only, expiring in 15 minutes. (The run mints
/// through [`MintedGuard::mint`], which also revokes what a lost answer left.)
#[cfg(test)]
pub fn mint_installer_token(
    c: &Client,
    api_url: &str,
    management_token: &Secret,
    label: &str,
) -> anyhow::Result<Minted> {
    mint_tracked(c, api_url, management_token, label).0
}

/// [`mint_installer_token`], and whether the server may hold a token of this name that the
/// result does not name: a try's answer was lost (cut, timed out) or unreadable, so a retry
/// may have minted a second one, or the failure hides a first.
fn mint_tracked(
    c: &Client,
    api_url: &str,
    management_token: &Secret,
    label: &str,
) -> (anyhow::Result<Minted>, bool) {
    let url = format!("{}/v2/apiTokens", api_url.trim_end_matches('/'));
    let doing = "minting the installer download token";
    let body = json!({ "name": label, "scopes": [INSTALLER_SCOPE], "expirationDate": EXPIRY });
    let call = Call::new(Method::Post, &url, doing)
        .token(management_token, MANAGEMENT_TOKEN)
        .scope("apiTokens.write")
        .not_found("the API URL is wrong or the tenant does not exist: check --api-url")
        .json(&body);
    let lost_before = c.lost_answers();
    let reply = c.call(&call, &[201]);
    let lost = c.lost_answers() != lost_before;
    let reply = match reply {
        Ok(r) => r,
        Err(e) => return (Err(e), lost),
    };
    #[derive(Deserialize)]
    struct Created {
        id: Option<String>,
        token: String,
        #[serde(rename = "expirationDate")]
        expiration_date: Option<String>,
    }
    let parsed = reply.json::<Created>(&call).and_then(|created| {
        let token = Secret::new(created.token);
        let id = created
            .id
            .or_else(|| token.token_id().map(str::to_string))
            .filter(|id| !id.is_empty())
            .ok_or_else(|| call.api_error("answered without a token id"))?;
        if token.is_empty() {
            return Err(call.api_error("answered with an empty token"));
        }
        Ok(Minted {
            id,
            token,
            expires: created.expiration_date,
        })
    });
    let unreadable = parsed.is_err();
    (parsed, lost || unreadable)
}

/// The scopes of `token`, asked with the token itself (`POST apiTokens/lookup`).
pub fn scopes_of(c: &Client, api_url: &str, token: &Secret) -> anyhow::Result<Vec<String>> {
    let url = format!("{}/v2/apiTokens/lookup", api_url.trim_end_matches('/'));
    let body = json!({ "token": token.expose() });
    let call = Call::new(Method::Post, &url, "looking up the API token's scopes")
        .token(token, "the API token (--api-token-file/DT_API_TOKEN)")
        .not_found("the token is unknown to this tenant: check --api-token-file and --api-url")
        .json(&body);
    #[derive(Deserialize)]
    struct Looked {
        #[serde(default)]
        scopes: Vec<String>,
    }
    let looked: Looked = c.call(&call, &[200])?.json(&call)?;
    Ok(looked.scopes)
}

/// Deletes token `id`. Already gone (404) counts as done.
pub fn revoke(
    c: &Client,
    api_url: &str,
    management_token: &Secret,
    id: &str,
) -> anyhow::Result<()> {
    // The id goes into the path: refuse anything that is not a plain token id.
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.') {
        return Err(failure(
            Kind::Internal,
            format!("revoking token: '{}' is not a token id", id.escape_debug()),
        ));
    }
    let url = format!("{}/v2/apiTokens/{id}", api_url.trim_end_matches('/'));
    let doing = format!("revoking the installer download token {id}");
    let call = Call::new(Method::Delete, &url, &doing)
        .token(management_token, MANAGEMENT_TOKEN)
        .scope("apiTokens.write");
    c.call(&call, &[204, 404]).map(|_| ())
}

/// A minted token that is revoked when this guard ends: [`MintedGuard::revoke`] on the normal
/// path, `Drop` (best effort, warning on stderr) if the caller returned early or unwound.
pub struct MintedGuard<'a> {
    client: &'a Client,
    api_url: String,
    /// Borrowed when the caller's token outlives the guard; owned when the guard leaves the
    /// scope that fetched it (apply returns it with the download still to come), since `Drop`
    /// needs it to revoke: moved in, never copied.
    management_token: Cow<'a, Secret>,
    /// Unique to this run (see [`run_token_name`]): how leftovers of a lost answer are found.
    name: String,
    minted: Option<Minted>,
    /// Other tokens of `name` may exist (a retried mint): revoke them by name too.
    sweep: bool,
}

impl<'a> MintedGuard<'a> {
    /// Mints the installer token named `name` (unique to this run) and guards it. When the
    /// mint fails after the server may have minted, the tokens of that name are revoked before
    /// the error is returned: minted = revoked under every fault.
    pub fn mint(
        client: &'a Client,
        api_url: &str,
        management_token: impl Into<Cow<'a, Secret>>,
        name: &str,
    ) -> anyhow::Result<MintedGuard<'a>> {
        let management_token = management_token.into();
        let (minted, uncertain) = mint_tracked(client, api_url, &management_token, name);
        match minted {
            Ok(m) => Ok(MintedGuard {
                client,
                api_url: api_url.to_string(),
                management_token,
                name: name.to_string(),
                minted: Some(m),
                sweep: uncertain,
            }),
            Err(e) => {
                if uncertain {
                    if let Err(w) = sweep::revoke_named(client, api_url, &management_token, name) {
                        eprintln!("warning: {}", sweep::warning(name, &w));
                    }
                }
                Err(e)
            }
        }
    }

    pub fn token(&self) -> Option<&Secret> {
        self.minted.as_ref().map(|m| &m.token)
    }

    pub fn id(&self) -> Option<&str> {
        self.minted.as_ref().map(|m| m.id.as_str())
    }

    pub fn expires(&self) -> Option<&str> {
        self.minted.as_ref().and_then(|m| m.expires.as_deref())
    }

    /// Revokes now. An error here should be reported as a warning: the run's outcome does not
    /// depend on it and the token expires by itself.
    pub fn revoke(mut self) -> anyhow::Result<()> {
        self.revoke_all()
    }

    /// Disarms the guard and hands the token out (`provision`: the node uses it, the
    /// controller revokes it later or it expires). Other tokens of our name that a retried
    /// mint left are still revoked: only the one handed out may live on.
    pub fn keep(mut self) -> Option<Minted> {
        let m = self.minted.take()?;
        self.sweep_others(Some(&m.id));
        Some(m)
    }

    /// Our token by id, then (after a retried mint) every other token of our name.
    fn revoke_all(&mut self) -> anyhow::Result<()> {
        let Some(m) = self.minted.take() else {
            return Ok(());
        };
        let own = revoke(self.client, &self.api_url, &self.management_token, &m.id);
        self.sweep_others(None);
        own
    }

    /// After a retried mint: every token of our name but `keep` (a failure is a warning).
    fn sweep_others(&mut self, keep: Option<&str>) {
        if !std::mem::take(&mut self.sweep) {
            return;
        }
        let swept = sweep::revoke_named_except(
            self.client,
            &self.api_url,
            &self.management_token,
            &self.name,
            keep,
        );
        if let Err(e) = swept {
            eprintln!("warning: {}", sweep::warning(&self.name, &e));
        }
    }
}

impl Drop for MintedGuard<'_> {
    fn drop(&mut self) {
        let id = self.id().unwrap_or("?").to_string();
        if let Err(e) = self.revoke_all() {
            eprintln!("warning: {}", revoke_warning(&id, &e));
        }
    }
}

/// The warning for a failed revoke: the public id only, and what to do.
pub fn revoke_warning(id: &str, err: &anyhow::Error) -> String {
    format!(
        "could not revoke installer download token {id} ({}); it expires by itself within 15 \
         minutes, or delete it under Access tokens",
        one_line(err)
    )
}

impl std::fmt::Debug for MintedGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedGuard")
            .field("api_url", &self.api_url)
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::kind_of;
    use crate::http::testing::{client, message, seen, sim, tenant};

    /// The status a lookup with `token` gets: 200 alive, 401/404 dead.
    fn lookup_status(c: &Client, api: &str, token: &Secret) -> u16 {
        let url = format!("{api}/v2/apiTokens/lookup");
        let body = json!({ "token": token.expose() });
        let call = Call::new(Method::Post, &url, "lookup")
            .token(token, "t")
            .json(&body);
        c.call(&call, &[200, 401, 404]).unwrap().status
    }

    #[test]
    fn mint_is_installer_only_and_revoke_kills_it() {
        let sim = sim();
        let c = client();
        let (api, mgmt) = tenant(&sim, &c, "mint-1");
        let minted = mint_installer_token(&c, &api, &mgmt, "oneagent-bootstrap test").unwrap();
        assert_eq!(minted.token.token_id(), Some(minted.id.as_str()));
        assert_eq!(
            scopes_of(&c, &api, &minted.token).unwrap(),
            vec![INSTALLER_SCOPE]
        );
        assert_eq!(lookup_status(&c, &api, &minted.token), 200);
        sim.clear_requests();
        revoke(&c, &api, &mgmt, &minted.id).unwrap();
        assert_eq!(
            seen(&sim),
            vec![(
                "DELETE".into(),
                format!("/e/mint-1/api/v2/apiTokens/{}", minted.id)
            )]
        );
        assert!(matches!(lookup_status(&c, &api, &minted.token), 401 | 404));
        // Already gone is fine.
        revoke(&c, &api, &mgmt, &minted.id).unwrap();
        let err = scopes_of(&c, &api, &minted.token).unwrap_err();
        message(&err, &[&minted.token, &mgmt]);
        assert_eq!(kind_of(&err), Kind::Api);
    }

    #[test]
    fn the_guard_revokes_explicitly_and_on_drop() {
        let sim = sim();
        let c = client();
        let (api, mgmt) = tenant(&sim, &c, "guard-1");

        let guard = MintedGuard::mint(&c, &api, &mgmt, "explicit").unwrap();
        // A copy: the guard (and its token) is consumed by the revoke this test checks.
        let token = guard.token().unwrap().clone();
        // Debug shows what is safe to log (where, and the public id), never the secret.
        let shown = format!("{guard:?}");
        assert!(!shown.contains(token.expose()), "{shown}");
        let id = guard.id().unwrap();
        assert!(shown.contains(id) && shown.contains(&api), "{shown}");
        guard.revoke().unwrap();
        assert!(matches!(lookup_status(&c, &api, &token), 401 | 404));

        // An early return: Drop revokes.
        let mut kept = None;
        let mut failing_download = || -> anyhow::Result<()> {
            let guard = MintedGuard::mint(&c, &api, &mgmt, "early-return")?;
            // A copy: the guard and its token are gone once this closure returns.
            kept = guard.token().cloned();
            Err(failure(Kind::Api, "download failed"))?;
            guard.revoke()
        };
        assert!(failing_download().is_err());
        let early = kept.take().unwrap();
        assert!(matches!(lookup_status(&c, &api, &early), 401 | 404));

        // An unwind: Drop revokes too.
        let unwound = std::sync::Mutex::new(None);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let guard = MintedGuard::mint(&c, &api, &mgmt, "unwound").unwrap();
            *unwound.lock().unwrap() = guard.token().cloned();
            panic!("simulated bug while downloading");
        }));
        assert!(result.is_err());
        let token = unwound.lock().unwrap().take().unwrap();
        assert!(matches!(lookup_status(&c, &api, &token), 401 | 404));
    }

    #[test]
    fn minting_without_scope_is_explained() {
        let sim = sim();
        let c = client();
        let (api, mgmt) = tenant(&sim, &c, "mint-2");
        let minted = mint_installer_token(&c, &api, &mgmt, "t").unwrap();
        // An InstallerDownload token cannot mint tokens.
        let err = mint_installer_token(&c, &api, &minted.token, "t").unwrap_err();
        let text = message(&err, &[&minted.token, &mgmt]);
        assert!(text.contains("403"), "{text}");
        assert!(text.contains("lacks scope apiTokens.write"), "{text}");
        let warning = revoke_warning(&minted.id, &err);
        assert!(warning.contains(&minted.id));
        crate::http::testing::assert_no_secret(&warning, &[&minted.token, &mgmt]);
    }

    /// The id goes into the DELETE's path: an empty one or one with a path character is
    /// refused before any request (`DELETE .../apiTokens/` would name the collection).
    #[test]
    fn revoke_refuses_what_is_not_a_token_id() {
        let sim = sim();
        let c = client();
        let (api, mgmt) = tenant(&sim, &c, "mint-2");
        sim.clear_requests();
        for id in ["", "../x", "a/b"] {
            let err = revoke(&c, &api, &mgmt, id).unwrap_err();
            assert_eq!(kind_of(&err), Kind::Internal, "{id:?}");
        }
        assert_eq!(seen(&sim), Vec::<(String, String)>::new());
    }
}
