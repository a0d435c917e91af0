//! The tenant this host belongs to: its id, display name and tags, from `--tenant` or from a
//! template filled with facts.
//!
//! Template syntax: `{fact}` or `{fact|filter|filter}`; `{{` and `}}` are literal braces.
//! Filters: `lower`, `upper`, `first` (first character), `last` (last character), `slug`
//! (anything outside `[A-Za-z0-9_-]` becomes `-`). Substituted values are never re-parsed, so a
//! fact holding braces cannot inject a placeholder.

use std::fmt;

use anyhow::Result;

use crate::error::{failure, Kind};
use crate::facts::Facts;

/// The environment id rule of the Cluster API.
pub const ID_RULE: &str = "^[a-zA-Z0-9_-]{1,70}$";
const ID_MAX: usize = 70;
const TAG_MAX: usize = 100;
const NAME_MAX: usize = 200;
const FILTERS: &[&str] = &["lower", "upper", "first", "last", "slug"];

pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.chars().count() <= ID_MAX
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    Unclosed { at: usize },
    StrayClose { at: usize },
    Nested { at: usize },
    EmptyPlaceholder { at: usize },
    MissingFact { name: String },
    UnknownFilter { name: String },
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Unclosed { at } => write!(f, "'{{' at offset {at} is never closed"),
            TemplateError::StrayClose { at } => {
                write!(
                    f,
                    "'}}' at offset {at} closes nothing (write '}}}}' for a literal)"
                )
            }
            TemplateError::Nested { at } => write!(f, "'{{' at offset {at} inside a placeholder"),
            TemplateError::EmptyPlaceholder { at } => {
                write!(f, "empty placeholder at offset {at}")
            }
            TemplateError::MissingFact { name } => write!(f, "no fact named '{name}'"),
            TemplateError::UnknownFilter { name } => {
                write!(f, "unknown filter '{name}' (known: {})", FILTERS.join(", "))
            }
        }
    }
}

/// A rendered template and the facts it used, for error messages and `facts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub used: Vec<(String, String)>,
}

pub fn render(template: &str, facts: &Facts) -> Result<Rendered, TemplateError> {
    let mut text = String::new();
    let mut used = Vec::new();
    let mut chars = template.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if matches!(chars.peek(), Some((_, '{'))) => {
                chars.next();
                text.push('{');
            }
            '}' if matches!(chars.peek(), Some((_, '}'))) => {
                chars.next();
                text.push('}');
            }
            '}' => return Err(TemplateError::StrayClose { at: i }),
            '{' => {
                let mut inner = String::new();
                loop {
                    match chars.next() {
                        None => return Err(TemplateError::Unclosed { at: i }),
                        Some((_, '}')) => break,
                        Some((j, '{')) => return Err(TemplateError::Nested { at: j }),
                        Some((_, ch)) => inner.push(ch),
                    }
                }
                let mut parts = inner.split('|').map(str::trim);
                let name = parts.next().unwrap_or_default();
                if name.is_empty() {
                    return Err(TemplateError::EmptyPlaceholder { at: i });
                }
                let value = facts.get(name).ok_or_else(|| TemplateError::MissingFact {
                    name: name.to_string(),
                })?;
                used.push((name.to_string(), value.to_string()));
                let mut value = value.to_string();
                for filter in parts {
                    value = apply_filter(filter, &value)?;
                }
                text.push_str(&value);
            }
            _ => text.push(c),
        }
    }
    Ok(Rendered { text, used })
}

fn apply_filter(name: &str, value: &str) -> Result<String, TemplateError> {
    Ok(match name {
        "lower" => value.to_lowercase(),
        "upper" => value.to_uppercase(),
        "first" => value.chars().next().map(String::from).unwrap_or_default(),
        "last" => value.chars().last().map(String::from).unwrap_or_default(),
        "slug" => value
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect(),
        _ => {
            return Err(TemplateError::UnknownFilter {
                name: name.to_string(),
            })
        }
    })
}

/// How the tenant is chosen (from the configuration).
#[derive(Debug, Clone, Default)]
pub struct TenantSpec {
    pub explicit: Option<String>,
    pub template: Option<String>,
    pub name_template: Option<String>,
    pub tags: Vec<String>,
}

/// The tenant this host belongs to, and how it was derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub tags: Vec<String>,
    /// One line: "--tenant" or "template '...' with customer=abc, stage=p".
    pub derivation: String,
}

fn used_list(used: &[(String, String)]) -> String {
    if used.is_empty() {
        return "no facts".into();
    }
    used.iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn render_for(what: &str, template: &str, facts: &Facts) -> Result<Rendered> {
    render(template, facts).map_err(|e| {
        let hint =
            match e {
                TemplateError::MissingFact { .. } => {
                    let known: Vec<&str> = facts.iter().map(|(k, _)| k.as_str()).take(30).collect();
                    format!(
                    "; known facts: {}{}; add it with --fact, --facts-file or a named group in \
                     --hostname-pattern",
                    known.join(", "),
                    if facts.len() > known.len() { ", ..." } else { "" }
                )
                }
                _ => String::new(),
            };
        failure(
            Kind::Config,
            format!("{what} '{template}' cannot be rendered: {e}{hint}"),
        )
    })
}

/// The tenant from `--tenant` or the template. `Ok(None)` when neither is set.
pub fn resolve(spec: &TenantSpec, facts: &Facts) -> Result<Option<Tenant>> {
    let (id, derivation) = match (&spec.explicit, &spec.template) {
        (Some(_), Some(_)) => {
            return Err(failure(
                Kind::Config,
                "both --tenant and --tenant-template are set (flag or DT_TENANT / \
                 DT_TENANT_TEMPLATE); set only one",
            ))
        }
        (None, None) => return Ok(None),
        (Some(id), None) => {
            if !is_valid_id(id) {
                return Err(failure(
                    Kind::Config,
                    format!("--tenant {id:?} does not match the tenant id rule {ID_RULE}"),
                ));
            }
            (id.clone(), "--tenant".to_string())
        }
        (None, Some(template)) => {
            let r = render_for("tenant template", template, facts)?;
            let derivation = format!("template '{template}' with {}", used_list(&r.used));
            if !is_valid_id(&r.text) {
                return Err(failure(
                    Kind::Config,
                    format!(
                        "tenant template '{template}' with {} gives {:?}, which does not match \
                         the tenant id rule {ID_RULE}; fix the facts or the template (filters \
                         |lower |slug |first help)",
                        used_list(&r.used),
                        r.text
                    ),
                ));
            }
            (r.text, derivation)
        }
    };

    let name = match &spec.name_template {
        None => id.clone(),
        Some(t) => {
            let mut with_id = facts.clone();
            with_id.set("tenant", id.clone(), crate::facts::Source::Flag);
            let r = render_for("tenant name template", t, &with_id)?;
            let name = r.text.trim().to_string();
            if name.is_empty()
                || name.chars().count() > NAME_MAX
                || name.chars().any(char::is_control)
            {
                return Err(failure(
                    Kind::Config,
                    format!(
                        "tenant name template '{t}' gives {name:?}: a name must be 1 to \
                         {NAME_MAX} characters without control characters"
                    ),
                ));
            }
            name
        }
    };

    let mut tags = Vec::new();
    for t in &spec.tags {
        let r = render_for("tenant tag", t, facts)?;
        if r.text.is_empty() || r.text.chars().count() > TAG_MAX {
            return Err(failure(
                Kind::Config,
                format!(
                    "tenant tag '{t}' gives {:?}: a tag is 1 to {TAG_MAX} characters",
                    r.text
                ),
            ));
        }
        tags.push(r.text);
    }

    Ok(Some(Tenant {
        id,
        name,
        tags,
        derivation,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{kind_of, one_line};
    use crate::facts::Source;

    fn facts(pairs: &[(&str, &str)]) -> Facts {
        let mut f = Facts::default();
        for (k, v) in pairs {
            f.set(*k, *v, Source::Flag);
        }
        f
    }

    fn base() -> Facts {
        facts(&[
            ("customer", "abc"),
            ("stage", "prod"),
            ("index", "1"),
            ("upper", "ABC"),
            ("brace", "{customer}"),
            ("semi", "a;rm -rf /"),
            ("slash", "a/../b"),
            ("uni", "kundé"),
            ("long", &"x".repeat(71)),
            ("seventy", &"y".repeat(70)),
            ("empty", ""),
        ])
    }

    #[test]
    fn template_table() {
        // (template, Ok(rendered id) | Err(substring of the error))
        let table: &[(&str, Result<&str, &str>)] = &[
            ("{customer}-{stage|first}{index}", Ok("abc-p1")),
            ("{customer}-{stage}{index}", Ok("abc-prod1")),
            ("{upper|lower}", Ok("abc")),
            ("{customer|upper}_x", Ok("ABC_x")),
            ("{ customer | last }", Ok("c")),
            (
                "{seventy}",
                Ok("yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"),
            ),
            ("{semi|slug}", Ok("a-rm--rf--")),
            ("{uni|slug}", Ok("kund-")),
            // literal braces render, but braces are not allowed in an id
            ("{{{customer}}}", Err("does not match the tenant id rule")),
            ("{missing}", Err("no fact named 'missing'")),
            ("{customer", Err("never closed")),
            ("customer}", Err("closes nothing")),
            ("{cus{tomer}", Err("inside a placeholder")),
            ("{}", Err("empty placeholder")),
            ("{|lower}", Err("empty placeholder")),
            ("{customer|shout}", Err("unknown filter 'shout'")),
            ("{brace}", Err("does not match the tenant id rule")), // no re-parsing
            ("{semi}", Err("does not match the tenant id rule")),
            ("{slash}", Err("does not match the tenant id rule")),
            ("{uni}", Err("does not match the tenant id rule")),
            ("{long}", Err("does not match the tenant id rule")),
            ("{empty}", Err("does not match the tenant id rule")),
            ("", Err("does not match the tenant id rule")),
            ("abc p1", Err("does not match the tenant id rule")),
        ];
        for (template, want) in table {
            let spec = TenantSpec {
                template: Some(template.to_string()),
                ..Default::default()
            };
            match (resolve(&spec, &base()), want) {
                (Ok(Some(t)), Ok(id)) => assert_eq!(t.id, *id, "{template}"),
                (Err(e), Err(needle)) => {
                    assert_eq!(kind_of(&e), Kind::Config, "{template}");
                    let msg = one_line(&e);
                    assert!(msg.contains(needle), "{template}: {msg}");
                    assert!(msg.contains(template), "names the template: {msg}");
                }
                (got, want) => panic!("{template}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn bad_id_error_names_the_facts_and_the_rule() {
        let spec = TenantSpec {
            template: Some("{customer}-{semi}".into()),
            ..Default::default()
        };
        let msg = one_line(&resolve(&spec, &base()).unwrap_err());
        assert!(msg.contains("customer=\"abc\""), "{msg}");
        assert!(msg.contains("semi=\"a;rm -rf /\""), "{msg}");
        assert!(msg.contains(ID_RULE), "{msg}");
    }

    #[test]
    fn explicit_name_and_tags() {
        let spec = TenantSpec {
            explicit: Some("abc-p1".into()),
            name_template: Some("Customer {customer|upper} ({tenant})".into()),
            tags: vec!["customer:{customer}".into(), "managed-by-bootstrap".into()],
            ..Default::default()
        };
        let t = resolve(&spec, &base()).unwrap().unwrap();
        assert_eq!(t.id, "abc-p1");
        assert_eq!(t.name, "Customer ABC (abc-p1)");
        assert_eq!(t.tags, vec!["customer:abc", "managed-by-bootstrap"]);
        assert_eq!(t.derivation, "--tenant");

        let bad = TenantSpec {
            explicit: Some("abc p1".into()),
            ..Default::default()
        };
        assert_eq!(kind_of(&resolve(&bad, &base()).unwrap_err()), Kind::Config);
        let both = TenantSpec {
            explicit: Some("a".into()),
            template: Some("b".into()),
            ..Default::default()
        };
        assert_eq!(kind_of(&resolve(&both, &base()).unwrap_err()), Kind::Config);
        assert_eq!(resolve(&TenantSpec::default(), &base()).unwrap(), None);
        let long_tag = TenantSpec {
            explicit: Some("a".into()),
            tags: vec!["{long}{long}".into()],
            ..Default::default()
        };
        assert_eq!(
            kind_of(&resolve(&long_tag, &base()).unwrap_err()),
            Kind::Config
        );
    }

    #[test]
    fn derivation_lists_the_facts_used() {
        let spec = TenantSpec {
            template: Some("{customer}-{stage|first}{index}".into()),
            ..Default::default()
        };
        let t = resolve(&spec, &base()).unwrap().unwrap();
        assert_eq!(
            t.derivation,
            "template '{customer}-{stage|first}{index}' with customer=\"abc\", stage=\"prod\", index=\"1\""
        );
    }
}
