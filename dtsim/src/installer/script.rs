//! Renders the installer script for one environment and version from the templates in `sh/`:
//! the installer embeds the environment's connection data and carries `oneagentctl` and
//! `uninstall.sh` as here-documents.

use anyhow::bail;

use super::{InstallerParams, Variant};

const INSTALLER: &str = include_str!("sh/installer.sh");
const COMMON: &str = include_str!("sh/common.sh");
const ONEAGENTCTL: &str = include_str!("sh/oneagentctl.sh");
const UNINSTALL: &str = include_str!("sh/uninstall.sh");

/// The installer script (ends with its final `exit 0` line and a newline).
pub(crate) fn render(p: &InstallerParams) -> anyhow::Result<String> {
    check_word("version", &p.version)?;
    check_word("arch", &p.arch)?;
    check_word("environment", &p.environment)?;
    check_value("tenant UUID", &p.tenant_uuid, true)?;
    // Never echo the token itself, only what is wrong with it.
    check_value("tenant token", &p.tenant_token, false)?;
    check_value("endpoints", &p.endpoints, true)?;
    let (behaviour, fail_code) = match p.variant {
        Variant::Fails(code) if !(1..=255).contains(&code) => {
            bail!("installer failure exit code {code} is out of range 1..=255")
        }
        Variant::Fails(code) => ("fails", code),
        Variant::Hangs => ("hangs", 0),
        Variant::Normal | Variant::BadSignature | Variant::OtherCa => ("normal", 0),
    };
    let oneagentctl = format!(
        "#!/bin/sh\n# oneagentctl simulated by dtsim (OneAgent {}).\n{}\n{}",
        p.version, COMMON, ONEAGENTCTL
    );
    let tenant = sh_quote(&p.tenant_uuid);
    let server = sh_quote(&p.endpoints);
    let token = sh_quote(&p.tenant_token);
    let code = fail_code.to_string();
    let script = fill(
        INSTALLER,
        &[
            ("@COMMON@\n", COMMON),
            ("@ONEAGENTCTL@\n", &oneagentctl),
            ("@UNINSTALL@\n", UNINSTALL),
            ("@DT_BEHAVIOUR@", behaviour),
            ("@DT_FAIL_CODE@", &code),
            ("@DT_ENVIRONMENT@", &p.environment),
            ("@DT_VERSION@", &p.version),
            ("@DT_ARCH@", &p.arch),
            ("@DT_TENANT@", &tenant),
            ("@DT_SERVER@", &server),
            ("@DT_TOKEN@", &token),
        ],
    );
    Ok(script)
}

/// Replaces placeholders in one left-to-right pass, so text coming from a value or an inserted
/// file is never scanned again (a value cannot inject a placeholder).
fn fill(template: &str, subst: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() * 3);
    let mut rest = template;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match subst.iter().find(|(key, _)| rest.starts_with(key)) {
            Some((key, value)) => {
                out.push_str(value);
                rest = &rest[key.len()..];
            }
            None => {
                out.push('@');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Identifiers that appear unquoted in comments and single-quoted strings.
fn check_word(what: &str, value: &str) -> anyhow::Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 100
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !ok {
        bail!("cannot build an installer: {what} '{value}' must be 1-100 letters, digits, '.', '_' or '-'");
    }
    Ok(())
}

/// Free-text values: one line, printable, short enough for OpenSSL's MIME line limit.
fn check_value(what: &str, value: &str, show: bool) -> anyhow::Result<()> {
    let shown = if show {
        format!(" '{value}'")
    } else {
        String::new()
    };
    if value.is_empty() || value.len() > 500 {
        bail!("cannot build an installer: the {what}{shown} must be 1-500 bytes long");
    }
    if value.chars().any(char::is_control) {
        bail!("cannot build an installer: the {what}{shown} contains control characters");
    }
    Ok(())
}

/// Single-quotes `s` for sh: `'` becomes `'\''`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> InstallerParams {
        InstallerParams {
            environment: "env-a".into(),
            version: "1.301.55.20260114-153010".into(),
            arch: "x86".into(),
            tenant_uuid: "env-a".into(),
            tenant_token: "tok'en".into(),
            endpoints: "https://a/communication;https://b/communication".into(),
            variant: Variant::Normal,
            pad_to: None,
        }
    }

    #[test]
    fn embeds_values_quoted_and_leaves_no_placeholder() {
        let s = render(&params()).unwrap();
        assert!(s.contains("DT_EMBEDDED_TENANT_TOKEN='tok'\\''en'\n"));
        assert!(s.contains("DT_VERSION='1.301.55.20260114-153010'\n"));
        assert!(!s.contains("@DT_"), "placeholder left in the script");
        assert!(!s.contains("@COMMON@") && !s.contains("@ONEAGENTCTL@"));
        assert!(s.ends_with(
            "exit 0\n# Everything below is payload and signature; the shell never reads it.\n"
        ));
    }

    #[test]
    fn rejects_unsafe_values_without_echoing_the_token() {
        let mut p = params();
        p.tenant_token = "secret\nline".into();
        let err = render(&p).unwrap_err().to_string();
        assert!(!err.contains("secret"), "{err}");
        let mut p = params();
        p.version = "1.2;rm".into();
        assert!(render(&p).is_err());
        let mut p = params();
        p.variant = Variant::Fails(0);
        assert!(render(&p).is_err());
    }
}
