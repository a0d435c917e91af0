//! Revoking by name: every run mints under a name no other run uses, so a token whose mint
//! answer was lost (and that a retry then minted again) can still be found and revoked.

use rand::Rng;
use serde::Deserialize;

use super::{revoke, MANAGEMENT_TOKEN};
use crate::error::one_line;
use crate::http::{Call, Client, Method};
use crate::secret::Secret;

/// Pages of the token list followed at most: a selector by name matches a handful.
const MAX_PAGES: usize = 20;

/// The name of this run's installer token: readable in the UI (tool and host) and unique (a
/// random run id), so listing by it finds this run's tokens and no other's. Only letters,
/// digits, `.`, `_`, `-` and spaces: nothing a selector would need to escape.
pub fn run_token_name(host: &str) -> String {
    let run: u64 = rand::thread_rng().gen();
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("oneagent-bootstrap installer download {host} run {run:016x}")
}

/// Revokes every token named exactly `name`. The selector narrows the list where the server
/// supports it; the exact comparison here is what decides.
pub fn revoke_named(
    c: &Client,
    api_url: &str,
    management_token: &Secret,
    name: &str,
) -> anyhow::Result<()> {
    revoke_named_except(c, api_url, management_token, name, None)
}

/// [`revoke_named`], sparing the token with id `keep` (the one a provision hands out).
pub fn revoke_named_except(
    c: &Client,
    api_url: &str,
    management_token: &Secret,
    name: &str,
    keep: Option<&str>,
) -> anyhow::Result<()> {
    let base = format!("{}/v2/apiTokens", api_url.trim_end_matches('/'));
    let selector = format!("name(\"{name}\")");
    let mut url = format!("{base}?apiTokenSelector={}", encode(&selector));
    let doing = format!("listing the tokens named '{name}' to revoke them");
    let mut ids = Vec::new();
    for _ in 0..MAX_PAGES {
        let call = Call::new(Method::Get, &url, &doing)
            .token(management_token, MANAGEMENT_TOKEN)
            .scope("apiTokens.read");
        #[derive(Deserialize)]
        struct Item {
            id: String,
            #[serde(default)]
            name: String,
        }
        #[derive(Deserialize)]
        struct Page {
            #[serde(default, rename = "apiTokens")]
            api_tokens: Vec<Item>,
            #[serde(rename = "nextPageKey")]
            next_page_key: Option<String>,
        }
        let page: Page = c.call(&call, &[200])?.json(&call)?;
        ids.extend(
            page.api_tokens
                .into_iter()
                .filter(|t| t.name == name && Some(t.id.as_str()) != keep)
                .map(|t| t.id),
        );
        match page.next_page_key.filter(|k| !k.is_empty()) {
            Some(key) => url = format!("{base}?nextPageKey={}", encode(&key)),
            None => break,
        }
    }
    ids.sort();
    ids.dedup();
    for id in ids {
        revoke(c, api_url, management_token, &id)?;
    }
    Ok(())
}

/// The warning when tokens of `name` may be left: what to do about them.
pub fn warning(name: &str, err: &anyhow::Error) -> String {
    format!(
        "could not revoke the tokens named '{name}' that a retried mint may have left ({}); \
         they expire by themselves within 15 minutes, or delete them under Access tokens",
        one_line(err)
    )
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::testing::{client, fault, sim, sim_tokens, tenant};
    use dtsim::Fault;

    #[test]
    fn names_are_unique_per_run_and_encoded_for_the_query() {
        let (a, b) = (run_token_name("web01"), run_token_name("web01"));
        assert_ne!(a, b);
        assert!(a.starts_with("oneagent-bootstrap installer download web01 run "));
        assert!(run_token_name("a\"b(c)").contains(" a_b_c_ run "));
        assert_eq!(encode("name(\"a b\")"), "name%28%22a%20b%22%29");
    }

    /// Every token of `env` named `name` is dead in dtsim; how many there were.
    fn dead_named(sim: &dtsim::Dtsim, env: &str, name: &str) -> usize {
        let mine: Vec<_> = sim_tokens(sim)
            .into_iter()
            .filter(|t| t["environment"] == env && t["name"] == name)
            .collect();
        for t in &mine {
            assert_eq!(t["alive"], false, "{t}");
        }
        mine.len()
    }

    #[test]
    fn a_cut_mint_answer_leaves_no_token_alive() {
        let sim = sim();
        let c = client();
        let (api, mgmt) = tenant(&sim, &c, "cut-1");
        let name = run_token_name("h");
        // The first answer is lost after the server minted: the retry mints a second token.
        sim.add_fault(fault(
            "POST",
            "/e/cut-1/api/v2/apiTokens",
            Some(1),
            Fault::Cut { after_bytes: 5 },
        ));
        let guard = super::super::MintedGuard::mint(&c, &api, &mgmt, &name).unwrap();
        guard.revoke().unwrap();
        assert_eq!(dead_named(&sim, "cut-1", &name), 2);

        // Every answer lost: the mint fails, and what it minted is revoked before it returns.
        let name = run_token_name("h");
        sim.add_fault(fault(
            "POST",
            "/e/cut-1/api/v2/apiTokens",
            None,
            Fault::Cut { after_bytes: 5 },
        ));
        assert!(super::super::MintedGuard::mint(&c, &api, &mgmt, &name).is_err());
        assert_eq!(dead_named(&sim, "cut-1", &name), 4);
    }

    #[test]
    fn a_kept_token_lives_on_and_a_retried_mint_leaves_only_it() {
        let sim = sim();
        let c = client();
        let (api, mgmt) = tenant(&sim, &c, "keep-1");
        let name = run_token_name("h");
        sim.add_fault(fault(
            "POST",
            "/e/keep-1/api/v2/apiTokens",
            Some(1),
            Fault::Cut { after_bytes: 5 },
        ));
        let guard = super::super::MintedGuard::mint(&c, &api, &mgmt, &name).unwrap();
        let kept = guard.keep().unwrap();
        assert!(kept.expires.is_some());
        let mine: Vec<_> = sim_tokens(&sim)
            .into_iter()
            .filter(|t| t["name"] == name.as_str())
            .collect();
        assert_eq!(mine.len(), 2, "{mine:?}");
        for t in mine {
            assert_eq!(t["alive"], t["id"] == kept.id.as_str(), "{t}");
        }
    }

    #[test]
    fn minted_equals_revoked_under_every_fault_on_the_mint_route() {
        let sim = sim();
        let c = client();
        let (api, mgmt) = tenant(&sim, &c, "cut-3");
        for f in [
            Fault::Cut { after_bytes: 0 },
            Fault::FlipByte { offset: 2 },
            Fault::Status { status: 503 },
            Fault::RateLimit {
                retry_after_secs: 0,
            },
            Fault::Stall {
                after_bytes: 3,
                ms: 50,
            },
            Fault::Delay { ms: 50 },
        ] {
            for times in [Some(1), None] {
                let name = run_token_name("h");
                sim.add_fault(fault("POST", "/e/cut-3/api/v2/apiTokens", times, f.clone()));
                if let Ok(guard) = super::super::MintedGuard::mint(&c, &api, &mgmt, &name) {
                    guard.revoke().unwrap();
                }
                sim.clear_faults();
                // dead_named asserts that none is alive.
                dead_named(&sim, "cut-3", &name);
            }
        }
    }

    #[test]
    fn only_tokens_of_exactly_that_name_go() {
        let sim = sim();
        let c = client();
        let (api, mgmt) = tenant(&sim, &c, "cut-2");
        let other = super::super::mint_installer_token(&c, &api, &mgmt, "x (y)").unwrap();
        let mine = super::super::mint_installer_token(&c, &api, &mgmt, "x").unwrap();
        revoke_named(&c, &api, &mgmt, "x").unwrap();
        let alive = |id: &str| {
            sim_tokens(&sim)
                .into_iter()
                .any(|t| t["id"] == id && t["alive"] == true)
        };
        assert!(!alive(&mine.id));
        assert!(alive(&other.id));
    }

    #[test]
    fn every_page_of_the_listing_is_swept() {
        // dtsim pages the token list by 200, as Dynatrace does: 201 tokens of one name need a
        // second page, whose tokens must not be left alive.
        let sim = sim();
        let c = client();
        let (api, mgmt) = tenant(&sim, &c, "pages-1");
        for _ in 0..201 {
            super::super::mint_installer_token(&c, &api, &mgmt, "many").unwrap();
        }
        revoke_named(&c, &api, &mgmt, "many").unwrap();
        assert_eq!(dead_named(&sim, "pages-1", "many"), 201);
    }

    #[test]
    fn the_warning_names_the_tokens_and_what_to_do() {
        let w = warning("run 7", &anyhow::anyhow!("HTTP 503"));
        assert!(w.contains("'run 7'") && w.contains("HTTP 503"), "{w}");
        assert!(w.contains("expire by themselves within 15 minutes"), "{w}");
    }
}
