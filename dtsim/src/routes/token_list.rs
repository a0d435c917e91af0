//! `GET /api/v2/apiTokens` [doc: "Access tokens API - GET all tokens"]: `apiTokenSelector`,
//! `fields`, `sort`, `pageSize` (100-10000, default 200) and a stand-alone `nextPageKey`. A
//! client that filters before it revokes must get only what it asked for.

use std::cmp::Ordering;
use std::sync::Arc;

use hyper::{Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::env_list::{encode_page_key, keyset_page, page_key};
use super::tokens::render_v2;
use crate::app::App;
use crate::body::{self, Body};
use crate::error::{ApiError, ApiResult, Location};
use crate::request::Req;
use crate::tokens::Token;

const DEFAULT_PAGE_SIZE: usize = 200;
const PAGE_SIZES: std::ops::RangeInclusive<usize> = 100..=10_000;
const DEFAULT_FIELDS: [&str; 5] = ["id", "name", "enabled", "owner", "creationDate"];
const OTHER_FIELDS: [&str; 7] = [
    "personalAccessToken",
    "expirationDate",
    "lastUsedDate",
    "lastUsedIpAddress",
    "modifiedDate",
    "scopes",
    "additionalMetadata",
];
const SORT_KEYS: [&str; 5] = [
    "name",
    "lastUsedDate",
    "creationDate",
    "expirationDate",
    "modifiedDate",
];

/// Everything that selects a page; `nextPageKey` encodes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Query {
    /// Sort key of the last token of the previous page (see `env_list`'s twin).
    after: Option<TokenKey>,
    page_size: usize,
    selector: Option<String>,
    fields: Vec<String>,
    sort: String,
}

fn bad(param: &str, message: String) -> ApiError {
    ApiError::invalid(Location::Query, param, message)
}

#[derive(Debug, PartialEq)]
enum Term {
    Owner(String),
    /// Case-insensitive substring [inferred].
    Name(String),
    Personal(bool),
    /// Any of these scopes (OR).
    Scope(Vec<String>),
}

/// Splits `a(x,"y"),b(z)` at the commas outside parentheses and quotes.
fn top_level_terms(s: &str) -> Vec<&str> {
    let (mut depth, mut quoted, mut start, mut out) = (0, false, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out
}

/// `owner("x")`, `name("x")`, `personalAccessToken(true)`, `scope("a","b")`, ANDed.
fn parse_selector(s: &str) -> ApiResult<Vec<Term>> {
    let err = |m: String| bad("apiTokenSelector", m);
    top_level_terms(s)
        .into_iter()
        .map(|term| {
            let (func, rest) = term
                .split_once('(')
                .ok_or_else(|| err(format!("'{term}' is not of the form criterion(\"value\")")))?;
            let args = rest
                .strip_suffix(')')
                .ok_or_else(|| err(format!("missing ')' in '{term}'")))?;
            let values: Vec<String> = args
                .split(',')
                .map(|a| a.trim().trim_matches('"').to_string())
                .filter(|a| !a.is_empty())
                .collect();
            let one = || match values.as_slice() {
                [v] => Ok(v.clone()),
                _ => Err(err(format!("{func}() takes exactly one value"))),
            };
            Ok(match func.trim() {
                "owner" => Term::Owner(one()?),
                "name" => Term::Name(one()?.to_lowercase()),
                "personalAccessToken" => match one()?.as_str() {
                    "true" => Term::Personal(true),
                    "false" => Term::Personal(false),
                    other => return Err(err(format!("personalAccessToken({other}): use true or false"))),
                },
                "scope" if !values.is_empty() => Term::Scope(values),
                "scope" => return Err(err("scope() needs at least one scope".into())),
                other => {
                    return Err(err(format!(
                        "unknown criterion '{other}'; use owner(), name(), personalAccessToken() or scope()"
                    )))
                }
            })
        })
        .collect()
}

fn keep(t: &Token, terms: &[Term]) -> bool {
    terms.iter().all(|term| match term {
        Term::Owner(o) => t.owner == *o,
        Term::Name(n) => t.name.to_lowercase().contains(n),
        Term::Personal(p) => t.personal_access_token == *p,
        Term::Scope(any) => any.iter().any(|s| t.scopes.contains(s)),
    })
}

/// `+a,-b` edits the default fields, `a,b` replaces them; `id` is always there.
fn parse_fields(s: &str) -> ApiResult<Vec<String>> {
    let items: Vec<&str> = s
        .split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .collect();
    let edits = items.iter().any(|i| i.starts_with(['+', '-']));
    let mut fields: Vec<String> = if edits {
        DEFAULT_FIELDS.iter().map(|f| f.to_string()).collect()
    } else {
        vec!["id".to_string()]
    };
    for item in items {
        let (op, name) = match item.split_at(item.starts_with(['+', '-']) as usize) {
            ("", n) if edits => {
                return Err(bad(
                    "fields",
                    format!("'{n}' needs + or - when other fields use them"),
                ))
            }
            (op, n) => (op, n),
        };
        if !DEFAULT_FIELDS.contains(&name) && !OTHER_FIELDS.contains(&name) {
            return Err(bad(
                "fields",
                format!(
                    "unknown field '{name}'; known: {}, {}",
                    DEFAULT_FIELDS.join(", "),
                    OTHER_FIELDS.join(", ")
                ),
            ));
        }
        fields.retain(|f| f != name);
        if op != "-" || name == "id" {
            fields.push(name.to_string());
        }
    }
    Ok(fields)
}

fn parse_sort(s: &str) -> ApiResult<String> {
    let key = s.trim_start_matches(['+', '-']);
    if s.len() - key.len() > 1 || !SORT_KEYS.contains(&key) {
        return Err(bad(
            "sort",
            format!(
                "'{s}' is not one of {} (with an optional + or -)",
                SORT_KEYS.join(", ")
            ),
        ));
    }
    Ok(if s.starts_with('-') {
        s.to_string()
    } else {
        key.to_string()
    })
}

fn query(req: &Req) -> ApiResult<Query> {
    if let Some(q) = page_key(req)? {
        return Ok(q);
    }
    let page_size = match req.param("pageSize") {
        None => DEFAULT_PAGE_SIZE,
        Some(s) => s
            .parse()
            .ok()
            .filter(|n| PAGE_SIZES.contains(n))
            .ok_or_else(|| {
                bad(
                    "pageSize",
                    format!(
                        "'{s}' is not an integer within {}..={}",
                        PAGE_SIZES.start(),
                        PAGE_SIZES.end()
                    ),
                )
            })?,
    };
    let selector = req.param("apiTokenSelector").map(str::to_string);
    if let Some(s) = &selector {
        parse_selector(s)?;
    }
    Ok(Query {
        after: None,
        page_size,
        selector,
        fields: match req.param("fields") {
            Some(f) => parse_fields(f)?,
            None => DEFAULT_FIELDS.iter().map(|f| f.to_string()).collect(),
        },
        // Newest first unless asked otherwise.
        sort: parse_sort(req.param("sort").unwrap_or("-creationDate"))?,
    })
}

/// Where a token sorts: every sort order is a comparison of these fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TokenKey {
    name: String,
    last_used_ms: Option<u64>,
    expires_ms: Option<u64>,
    created_ms: u64,
    id: String,
}

impl TokenKey {
    fn of(t: &Token) -> TokenKey {
        TokenKey {
            name: t.name.to_lowercase(),
            last_used_ms: t.last_used_ms,
            expires_ms: t.expires_ms,
            created_ms: t.created_ms,
            id: t.id.clone(),
        }
    }
}

fn compare(a: &TokenKey, b: &TokenKey, key: &str) -> Ordering {
    let by = match key {
        "name" => a.name.cmp(&b.name),
        "lastUsedDate" => a.last_used_ms.cmp(&b.last_used_ms),
        "expirationDate" => a.expires_ms.cmp(&b.expires_ms),
        // dtsim never modifies a v2 token after creation.
        _ => a.created_ms.cmp(&b.created_ms),
    };
    by.then_with(|| a.id.cmp(&b.id))
}

fn render(t: &Token, fields: &[String]) -> Value {
    let mut v = render_v2(t);
    if let Value::Object(m) = &mut v {
        m.retain(|k, _| fields.contains(k));
    }
    v
}

pub fn list(app: &Arc<App>, req: &Req, env: &str) -> ApiResult<Response<Body>> {
    let q = query(req)?;
    let terms = match &q.selector {
        Some(s) => parse_selector(s)?,
        None => Vec::new(),
    };
    let data = app.data();
    let mut tokens: Vec<(TokenKey, &Token)> = data
        .tokens
        .in_home(Some(env))
        .filter(|t| !t.revoked && keep(t, &terms))
        .map(|t| (TokenKey::of(t), t))
        .collect();
    let key = q.sort.trim_start_matches('-');
    let descending = q.sort.starts_with('-');
    let order = |a: &TokenKey, b: &TokenKey| {
        let o = compare(a, b, key);
        if descending {
            o.reverse()
        } else {
            o
        }
    };
    let total = tokens.len();
    let (page, last) = keyset_page(&mut tokens, q.after.as_ref(), q.page_size, order);
    let next_key = last.map(|after| {
        encode_page_key(&Query {
            after: Some(after),
            ..q.clone()
        })
    });
    let page: Vec<Value> = page.iter().map(|(_, t)| render(t, &q.fields)).collect();
    Ok(body::json(
        StatusCode::OK,
        &json!({"totalCount": total, "pageSize": q.page_size, "nextPageKey": next_key, "apiTokens": page}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_grammar() {
        assert_eq!(
            parse_selector(r#"owner("a b"),scope("x","y"),personalAccessToken(false),name(Q)"#)
                .ok(),
            Some(vec![
                Term::Owner("a b".into()),
                Term::Scope(vec!["x".into(), "y".into()]),
                Term::Personal(false),
                Term::Name("q".into()),
            ])
        );
        for bad in [
            "",
            "owner",
            "owner(a",
            "color(red)",
            "owner(a,b)",
            "scope()",
            "personalAccessToken(1)",
        ] {
            assert!(parse_selector(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fields_grammar() {
        assert_eq!(
            parse_fields("+scopes,-owner,-id").ok(),
            Some(
                ["name", "enabled", "creationDate", "scopes", "id"]
                    .map(String::from)
                    .to_vec()
            )
        );
        assert_eq!(
            parse_fields("name").ok(),
            Some(vec!["id".to_string(), "name".to_string()])
        );
        assert!(parse_fields("+scopes,name").is_err());
        assert!(parse_fields("secret").is_err());
        assert_eq!(parse_sort("+name").ok(), Some("name".to_string()));
        assert!(parse_sort("--name").is_err() && parse_sort("size").is_err());
    }
}
