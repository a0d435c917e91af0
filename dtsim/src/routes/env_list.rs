//! Listing environments: `pageSize`, stand-alone `nextPageKey`, `filter` and `sort`.

use std::sync::Arc;

use base64::Engine;
use hyper::{Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::environments::render;
use crate::app::App;
use crate::body::{self, Body};
use crate::error::{ApiError, ApiResult, Location};
use crate::request::Req;
use crate::state::Environment;

pub const DEFAULT_PAGE_SIZE: usize = 100;
pub const MAX_PAGE_SIZE: usize = 1000;

/// Everything that selects a page; encoded into `nextPageKey` so the key stands alone.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct ListQuery {
    /// Sort key of the last environment of the previous page: the next page starts after it,
    /// so environments created or deleted between pages neither repeat nor go missing.
    after: Option<EnvKey>,
    page_size: usize,
    filter: Option<String>,
    sort: Option<String>,
    consumption: bool,
    storage: bool,
}

/// The query a `nextPageKey` stands for, if the request has one (then nothing else is allowed).
pub fn page_key<T: DeserializeOwned>(req: &Req) -> ApiResult<Option<T>> {
    let Some(key) = req.param("nextPageKey") else {
        return Ok(None);
    };
    if let Some(other) = req.param_names().find(|k| *k != "nextPageKey") {
        return Err(ApiError::invalid(
            Location::Query,
            other,
            "no other query parameter is allowed together with nextPageKey",
        ));
    }
    let bad = || {
        ApiError::invalid(
            Location::Query,
            "nextPageKey",
            "is not a key this server handed out",
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(key)
        .map_err(|_| bad())?;
    serde_json::from_slice(&raw).map(Some).map_err(|_| bad())
}

/// Sorts `items` by `order` and returns the page of `size` that follows `after`, with the key
/// of its last item when more follow. Paging by key, not offset, keeps items created or deleted
/// between two pages from being listed twice or skipped.
pub fn keyset_page<'a, K: Clone, T>(
    items: &'a mut [(K, T)],
    after: Option<&K>,
    size: usize,
    order: impl Fn(&K, &K) -> std::cmp::Ordering,
) -> (&'a [(K, T)], Option<K>) {
    items.sort_by(|a, b| order(&a.0, &b.0));
    let start = after.map_or(0, |after| {
        items.partition_point(|(k, _)| order(k, after).is_le())
    });
    let end = (start + size).min(items.len());
    let more = end < items.len();
    let page = &items[start..end];
    let last = page.last().filter(|_| more).map(|(k, _)| k.clone());
    (page, last)
}

/// A `nextPageKey` that stands for `query` on its own.
pub fn encode_page_key<T: Serialize>(query: &T) -> String {
    let raw = serde_json::to_vec(query).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn list_query(req: &Req) -> ApiResult<ListQuery> {
    if let Some(q) = page_key(req)? {
        return Ok(q);
    }
    let page_size = match req.param("pageSize") {
        None => DEFAULT_PAGE_SIZE,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    Location::Query,
                    "pageSize",
                    format!("'{s}' is not an integer within 1..={MAX_PAGE_SIZE}"),
                )
            })?,
    };
    let filter = req.param("filter").map(str::to_string);
    if let Some(f) = &filter {
        parse_filter(f)?;
    }
    let sort = req.param("sort").map(str::to_string);
    if let Some(s) = &sort {
        if !["name", "-name", "creationDate", "-creationDate"].contains(&s.as_str()) {
            return Err(ApiError::invalid(
                Location::Query,
                "sort",
                format!("'{s}' is not one of name, -name, creationDate, -creationDate"),
            ));
        }
    }
    Ok(ListQuery {
        after: None,
        page_size,
        filter,
        sort,
        consumption: super::environments::consumption_param(req)?,
        storage: req.bool_param("includeStorageInfo", false)?,
    })
}

/// Where an environment sorts: every sort order is a comparison of these fields.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct EnvKey {
    name: String,
    created_ms: u64,
    seq: u64,
}

impl EnvKey {
    fn of(e: &Environment) -> EnvKey {
        EnvKey {
            name: e.name.to_lowercase(),
            created_ms: e.created_ms,
            seq: e.seq,
        }
    }
}

#[derive(Debug, PartialEq)]
enum Term {
    Name(String),
    State(String),
    Trial(bool),
    /// Any of these tags (OR); several Tag terms are ANDed.
    Tag(Vec<String>),
}

/// `name(x)`, `state(ENABLED)`, `trial(true)`, `tag(a,b)`, joined by commas (AND).
fn parse_filter(f: &str) -> ApiResult<Vec<Term>> {
    let bad = |m: String| ApiError::invalid(Location::Query, "filter", m);
    let mut terms = Vec::new();
    let mut rest = f.trim();
    while !rest.is_empty() {
        let open = rest
            .find('(')
            .ok_or_else(|| bad(format!("'{rest}' is not of the form fn(value)")))?;
        let close = rest[open..]
            .find(')')
            .map(|i| open + i)
            .ok_or_else(|| bad(format!("missing ')' in '{rest}'")))?;
        let func = rest[..open].trim();
        let arg = &rest[open + 1..close];
        terms.push(match func {
            "name" => Term::Name(arg.to_lowercase()),
            "state" if arg == "ENABLED" || arg == "DISABLED" => Term::State(arg.to_string()),
            "state" => return Err(bad(format!("state({arg}): use ENABLED or DISABLED"))),
            "trial" => match arg {
                "true" => Term::Trial(true),
                "false" => Term::Trial(false),
                _ => return Err(bad(format!("trial({arg}): use true or false"))),
            },
            "tag" => Term::Tag(arg.split(',').map(|t| t.trim().to_string()).collect()),
            other => {
                return Err(bad(format!(
                    "unknown filter '{other}'; use name(), state(), trial() or tag()"
                )))
            }
        });
        rest = rest[close + 1..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
            if rest.is_empty() {
                return Err(bad("trailing ',' in filter".into()));
            }
        } else if !rest.is_empty() {
            return Err(bad(format!("expected ',' before '{rest}'")));
        }
    }
    if terms.is_empty() {
        return Err(bad("must not be empty".into()));
    }
    Ok(terms)
}

fn keep(env: &Environment, terms: &[Term]) -> bool {
    terms.iter().all(|t| match t {
        Term::Name(n) => env.name.to_lowercase().contains(n),
        Term::State(s) => env.state == *s,
        Term::Trial(t) => env.trial == *t,
        Term::Tag(any) => any.iter().any(|t| env.tags.contains(t)),
    })
}

pub fn list(app: &Arc<App>, req: &Req) -> ApiResult<Response<Body>> {
    let q = list_query(req)?;
    let terms = match &q.filter {
        Some(f) => parse_filter(f)?,
        None => Vec::new(),
    };
    let data = app.data();
    let mut envs: Vec<(EnvKey, &Environment)> = data
        .environments
        .values()
        .filter(|e| keep(e, &terms))
        .map(|e| (EnvKey::of(e), e))
        .collect();
    let order = |a: &EnvKey, b: &EnvKey| match q.sort.as_deref() {
        Some("name") => (&a.name, a.seq).cmp(&(&b.name, b.seq)),
        Some("-name") => (&b.name, b.seq).cmp(&(&a.name, a.seq)),
        Some("-creationDate") => (b.created_ms, b.seq).cmp(&(a.created_ms, a.seq)),
        _ => (a.created_ms, a.seq).cmp(&(b.created_ms, b.seq)),
    };
    let total = envs.len();
    let (page, last) = keyset_page(&mut envs, q.after.as_ref(), q.page_size, order);
    let next_key = last.map(|after| {
        encode_page_key(&ListQuery {
            after: Some(after),
            ..q.clone()
        })
    });
    let page: Vec<Value> = page
        .iter()
        .map(|(_, e)| render(e, q.consumption, q.storage))
        .collect();
    Ok(body::json(
        StatusCode::OK,
        &json!({
            "environments": page,
            "nextPageKey": next_key,
            "pageSize": q.page_size,
            "totalCount": total,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_grammar() {
        assert_eq!(
            parse_filter("name(Ab),state(ENABLED),trial(false),tag(a,b),tag(c)").ok(),
            Some(vec![
                Term::Name("ab".into()),
                Term::State("ENABLED".into()),
                Term::Trial(false),
                Term::Tag(vec!["a".into(), "b".into()]),
                Term::Tag(vec!["c".into()]),
            ])
        );
        for bad in [
            "",
            "name",
            "name(x",
            "foo(x)",
            "state(ON)",
            "trial(yes)",
            "name(x),",
            "name(x)tag(y)",
        ] {
            assert!(parse_filter(bad).is_err(), "{bad}");
        }
    }
}
