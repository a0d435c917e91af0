//! The documented rules for OneAgent's `--set-*` values (section 7 of the API reference, and
//! what dtsim's installer checks), applied to the setting options and to `--installer-arg
//! --set-*=` alike: a bad value is exit 3 before the first request, not an installer failure
//! after a tenant was created and the installer downloaded. The installer's own check stays
//! as a second line.

/// Why `value` is not acceptable for `--set-<name>=`, if it is not. Names without a documented
/// rule are left to the installer.
pub fn check_set(name: &str, value: &str) -> Result<(), String> {
    if value.chars().any(char::is_control) {
        return Err("must be one line without control characters".into());
    }
    let needs_value = matches!(
        name,
        "server" | "tenant" | "tenant-token" | "host-tag" | "host-property"
    );
    if needs_value && value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    let name_chars = |v: &str| {
        v.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '.'))
    };
    match name {
        "host-group" => {
            if value.chars().count() > 100 || !name_chars(value) {
                return Err("at most 100 of A-Z a-z 0-9 _ - .".into());
            }
            if value.to_ascii_lowercase().starts_with("dt.") {
                return Err("must not start with 'dt.' (reserved by Dynatrace)".into());
            }
        }
        "network-zone" if !name_chars(value) => {
            return Err("only A-Z a-z 0-9 _ - . are allowed".into());
        }
        "monitoring-mode" if !matches!(value, "fullstack" | "infra-only" | "discovery") => {
            return Err("must be fullstack, infra-only or discovery".into());
        }
        "tenant"
            if !value
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_') =>
        {
            return Err("only A-Z a-z 0-9 _ - are allowed".into());
        }
        "host-tag" => {
            if value.chars().any(char::is_whitespace) {
                return Err("must not contain white space".into());
            }
            if value.starts_with('#') {
                return Err("must not start with '#'".into());
            }
        }
        "host-property" => match value.split_once('=') {
            Some((k, _)) if !k.trim().is_empty() && !k.chars().any(char::is_whitespace) => {}
            _ => return Err("must be key=value with a key without white space".into()),
        },
        "server" => {
            let list = value.trim_start_matches('{').trim_end_matches('}');
            if value.chars().any(char::is_whitespace)
                || list.split(';').any(|e| e.trim().is_empty())
            {
                return Err(
                    "must be endpoints separated by ';', none empty, without white space".into(),
                );
            }
        }
        "proxy" if value.chars().any(char::is_whitespace) => {
            return Err("must not contain white space".into());
        }
        "auto-update-enabled"
        | "system-logs-access-enabled"
        | "infra-only"
        | "fips-enabled"
        | "auto-injection-enabled"
            if !matches!(value, "true" | "false") =>
        {
            return Err("must be true or false".into());
        }
        "app-log-content-access" if !matches!(value, "true" | "false" | "1" | "0") => {
            return Err("must be true, false, 1 or 0".into());
        }
        _ => {}
    }
    Ok(())
}

/// A proxy's userinfo must be plain `user:password` (`/`, `?` and `#` percent-encoded), so
/// that the password can be found and masked in everything printed or stored.
pub fn check_proxy_userinfo(p: &str) -> Result<(), String> {
    let after_scheme = p.split_once("://").map_or(p, |(_, rest)| rest);
    match after_scheme.rsplit_once('@') {
        Some((userinfo, _)) if userinfo.contains(['/', '?', '#']) => Err(
            "the user or password holds '/', '?' or '#'; percent-encode them (%2F, %3F, %23)"
                .into(),
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_rules() {
        for (name, good) in [
            ("host-group", "web_servers-1.eu"),
            ("host-group", ""),
            ("network-zone", "eu.west-1"),
            ("monitoring-mode", "infra-only"),
            ("host-tag", "team=a,b"),
            ("host-tag", "env"),
            ("host-property", "owners=alice,bob"),
            ("server", "{https://a/communication;https://b:443}"),
            ("proxy", "http://u:p@h:3128"),
            ("app-log-content-access", "1"),
            ("some-future-option", "anything"),
        ] {
            assert_eq!(check_set(name, good), Ok(()), "{name}={good}");
        }
        for (name, bad) in [
            ("host-group", "dt.x"),
            ("host-group", "DT.x"),
            ("host-group", "a b"),
            ("host-group", &"x".repeat(101)),
            ("network-zone", "bad/zone"),
            ("monitoring-mode", "full"),
            ("host-tag", "two words"),
            ("host-tag", "#hash"),
            ("host-tag", ""),
            ("host-property", "novalue"),
            ("host-property", "=v"),
            ("server", ""),
            ("server", "https://a;;https://b"),
            ("tenant", "a/b"),
            ("auto-update-enabled", "yes"),
            ("host-name", "a\nb"),
        ] {
            assert!(check_set(name, bad).is_err(), "{name}={bad}");
        }
    }
}
