//! The token table: tokens by id, plus an index of the ids living in each environment, so
//! listing one environment's tokens costs that environment's share, not the whole cluster's
//! (a fleet leaves tens of thousands of tokens behind). Serialised as the plain map it always
//! was, so old state files load; the index is rebuilt on load.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::tokens::Token;

#[derive(Debug, Default, Clone)]
pub struct TokenStore {
    by_id: BTreeMap<String, Token>,
    /// Environment (`None`: cluster tokens) -> ids of the tokens that live there.
    by_home: HashMap<Option<String>, BTreeSet<String>>,
}

impl TokenStore {
    /// Adds or replaces a token. Callers never move a token to another environment, but the
    /// index stays right if one did.
    pub fn insert(&mut self, id: String, token: Token) {
        if let Some(old) = self.by_id.get(&id) {
            if let Some(ids) = self.by_home.get_mut(&old.environment) {
                ids.remove(&id);
            }
        }
        self.by_home
            .entry(token.environment.clone())
            .or_default()
            .insert(id.clone());
        self.by_id.insert(id, token);
    }

    pub fn get(&self, id: &str) -> Option<&Token> {
        self.by_id.get(id)
    }

    /// Mutable access for fields other than `environment` (last use, revocation, scopes).
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Token> {
        self.by_id.get_mut(id)
    }

    pub fn values(&self) -> impl Iterator<Item = &Token> {
        self.by_id.values()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// The tokens of one environment (`None`: cluster tokens), in id order.
    pub fn in_home<'a>(&'a self, home: Option<&str>) -> impl Iterator<Item = &'a Token> + 'a {
        let ids = self.by_home.get(&home.map(str::to_string));
        ids.into_iter()
            .flatten()
            .filter_map(|id| self.by_id.get(id))
    }

    /// Marks every token of `env` deleted (its environment is gone).
    pub fn revoke_home(&mut self, env: &str) {
        if let Some(ids) = self.by_home.get(&Some(env.to_string())) {
            for id in ids {
                if let Some(t) = self.by_id.get_mut(id) {
                    t.revoked = true;
                }
            }
        }
    }
}

impl Serialize for TokenStore {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.by_id.serialize(s)
    }
}

impl<'de> Deserialize<'de> for TokenStore {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let by_id = BTreeMap::<String, Token>::deserialize(d)?;
        let mut store = TokenStore::default();
        for (id, t) in by_id {
            store.insert(id, t);
        }
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::{mint, Mint};

    fn token(env: Option<&str>) -> Token {
        mint(Mint {
            name: "t",
            environment: env,
            scopes: vec!["InstallerDownload".into()],
            owner: "o",
            personal_access_token: false,
            expires_ms: None,
        })
        .token
    }

    #[test]
    fn index_follows_inserts_and_survives_a_round_trip() {
        let mut s = TokenStore::default();
        let (a, b, c) = (token(Some("a")), token(Some("b")), token(None));
        for t in [&a, &b, &c] {
            s.insert(t.id.clone(), t.clone());
        }
        let ids = |s: &TokenStore, h: Option<&str>| -> Vec<String> {
            s.in_home(h).map(|t| t.id.clone()).collect()
        };
        assert_eq!(ids(&s, Some("a")), vec![a.id.clone()]);
        assert_eq!(ids(&s, None), vec![c.id.clone()]);
        assert!(ids(&s, Some("zzz")).is_empty());
        // Re-homing a token (never done by the routes) keeps the index exact.
        let mut moved = a.clone();
        moved.environment = Some("b".into());
        s.insert(a.id.clone(), moved);
        assert!(ids(&s, Some("a")).is_empty());
        assert_eq!(ids(&s, Some("b")).len(), 2);
        s.revoke_home("b");
        assert!(s.in_home(Some("b")).all(|t| t.revoked));
        assert!(!s.get(&c.id).is_some_and(|t| t.revoked));

        let json = serde_json::to_string(&s).expect("serialise");
        let back: TokenStore = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back.len(), 3);
        assert_eq!(ids(&back, Some("b")).len(), 2);
        assert_eq!(ids(&back, None), vec![c.id]);
    }
}
