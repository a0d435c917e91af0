//! Facts: what we know about the host, from which the tenant id is derived.
//!
//! Sources, later overriding earlier: the host itself (hostname, FQDN, OS, arch, os-release;
//! OS name and version, kernel, CPUs, memory and boot time through sysinfo),
//! `--facts-file` (a JSON object such as `facter -j` or Ansible facts, nested keys flattened as
//! `a.b`, array items as `a.0`), `--fact key=value`, and last the named groups of
//! `--hostname-pattern` applied to the resulting `hostname` fact. Every fact remembers where it
//! came from so `facts` can say why a tenant id came out as it did.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use anyhow::Result;
use regex::Regex;
use serde_json::Value;

use crate::error::{failure, Kind, ResultExt};

mod system;

/// Largest facts file we read: `facter -j` on a busy host is a few hundred KiB.
const MAX_FACTS_FILE: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Host,
    /// The host, as sysinfo reads it.
    System,
    FactsFile,
    Flag,
    HostnamePattern,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Host => "host",
            Source::System => "host (sysinfo)",
            Source::FactsFile => "facts file",
            Source::Flag => "--fact",
            Source::HostnamePattern => "hostname pattern",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub value: String,
    pub source: Source,
}

#[derive(Debug, Clone, Default)]
pub struct Facts {
    map: BTreeMap<String, Fact>,
    /// The sysinfo facts, read the first time one of them is looked at: most configurations
    /// name none, and the converged run should not pay for reading them (BENCHMARKS.md §10).
    /// They rank just above the host's own and below every configured source, so a fact in
    /// `map` always wins.
    system: Option<Arc<OnceLock<BTreeMap<String, Fact>>>>,
}

impl PartialEq for Facts {
    fn eq(&self, other: &Facts) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Facts {}

impl Facts {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map
            .get(key)
            .or_else(|| {
                system::KEYS
                    .contains(&key)
                    .then(|| self.system()?.get(key))
                    .flatten()
            })
            .map(|f| f.value.as_str())
    }

    /// The sysinfo facts (read now if they were not yet), or `None` when these facts are not
    /// this host's.
    fn system(&self) -> Option<&BTreeMap<String, Fact>> {
        let cell = self.system.as_ref()?;
        Some(cell.get_or_init(|| {
            let mut f = Facts::default();
            system::add(&mut f, &system::read());
            f.map
        }))
    }

    /// Whether sysinfo has been read for these facts.
    #[cfg(test)]
    pub fn system_read(&self) -> bool {
        self.system.as_ref().is_some_and(|c| c.get().is_some())
    }

    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>, source: Source) {
        self.map.insert(
            key.into(),
            Fact {
                value: value.into(),
                source,
            },
        );
    }

    /// Every fact, by name; reads the sysinfo facts if they were not yet.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Fact)> {
        let system = self
            .system()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !self.map.contains_key(*k));
        let mut all: Vec<_> = self.map.iter().chain(system).collect();
        all.sort_by(|a, b| a.0.cmp(b.0));
        all.into_iter()
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }
}

/// Where the non-host facts come from (already-read, so gathering stays testable).
pub struct Sources<'a> {
    /// `(where it came from, its text)` of the facts file.
    pub facts_file: Option<(&'a str, &'a str)>,
    pub flags: &'a [String],
    pub hostname_pattern: Option<&'a Regex>,
}

/// Facts of this host: hostname (short), fqdn, domain, os, arch, os-release's ID/VERSION_ID,
/// and sysinfo's (`os.name`, `os.version`, `kernel.version`, `cpu.count`, `memory.total_mib`,
/// `boot.time`).
pub fn host_facts() -> Facts {
    let full = hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let os_release = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .unwrap_or_default();
    // Rust says powerpc64 for both byte orders; OneAgent exists only for little-endian.
    let arch = match std::env::consts::ARCH {
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        other => other,
    };
    let mut facts = host_facts_from(&full, &os_release, std::env::consts::OS, arch);
    facts.system = Some(Arc::default());
    facts
}

/// The pure part of [`host_facts`]. No DNS lookup for the FQDN: a converged run must stay fast
/// and offline, so the FQDN is what the kernel's hostname says.
pub fn host_facts_from(full_hostname: &str, os_release: &str, os: &str, arch: &str) -> Facts {
    let mut facts = Facts::default();
    let full = full_hostname.trim();
    let (short, domain) = full.split_once('.').unwrap_or((full, ""));
    facts.set("hostname", short, Source::Host);
    facts.set("fqdn", full, Source::Host);
    facts.set("domain", domain, Source::Host);
    facts.set("os", os, Source::Host);
    facts.set("arch", arch, Source::Host);
    for (k, v) in parse_os_release(os_release) {
        match k.as_str() {
            "ID" => facts.set("os.id", v, Source::Host),
            "VERSION_ID" => facts.set("os.version_id", v, Source::Host),
            _ => {}
        }
    }
    facts
}

/// `KEY=value` lines of /etc/os-release; values may be quoted. Lenient: odd lines are skipped.
pub fn parse_os_release(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let unquoted = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            v[1..v.len() - 1]
                .replace("\\\"", "\"")
                .replace("\\\\", "\\")
        } else {
            v.to_string()
        };
        out.push((k.trim().to_string(), unquoted));
    }
    out
}

/// Reads the facts file (bounded), for [`Sources::facts_file`].
pub fn read_facts_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let what = || {
        format!(
            "could not read the facts file {}; check --facts-file",
            path.display()
        )
    };
    let file = std::fs::File::open(path).kind(Kind::Config, what)?;
    let mut text = String::new();
    file.take(MAX_FACTS_FILE + 1)
        .read_to_string(&mut text)
        .kind(Kind::Config, what)?;
    if text.len() as u64 > MAX_FACTS_FILE {
        return Err(failure(
            Kind::Config,
            format!(
                "the facts file {} is larger than {} MiB; pass a smaller JSON object",
                path.display(),
                MAX_FACTS_FILE / 1024 / 1024
            ),
        ));
    }
    Ok(text)
}

/// Facts of this host plus the configured sources (`--facts-file`, `--fact`,
/// `--hostname-pattern`).
pub fn configured(
    facts_file: Option<&Path>,
    flags: &[String],
    hostname_pattern: Option<&Regex>,
) -> Result<Facts> {
    let text = facts_file.map(read_facts_file).transpose()?;
    let origin = facts_file
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    gather(
        host_facts(),
        &Sources {
            facts_file: text.as_deref().map(|t| (origin.as_str(), t)),
            flags,
            hostname_pattern,
        },
    )
}

/// Host facts, then the facts file, then `--fact`, then the hostname pattern.
pub fn gather(host: Facts, sources: &Sources) -> Result<Facts> {
    let mut facts = host;
    if let Some((origin, text)) = sources.facts_file {
        let value: Value = serde_json::from_str(text).kind(Kind::Config, || {
            format!("the facts file {origin} is not valid JSON")
        })?;
        if !value.is_object() {
            return Err(failure(
                Kind::Config,
                format!("the facts file {origin} must hold a JSON object (like `facter -j`)"),
            ));
        }
        let mut flat = Vec::new();
        flatten("", &value, &mut flat);
        for (k, v) in flat {
            facts.set(k, v, Source::FactsFile);
        }
    }
    for flag in sources.flags {
        let (k, v) = parse_fact_flag(flag)?;
        facts.set(k, v, Source::Flag);
    }
    if let Some(re) = sources.hostname_pattern {
        apply_hostname_pattern(&mut facts, re)?;
    }
    Ok(facts)
}

/// Nested objects become `a.b`, arrays `a.0`; null is no fact.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&key(k), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&key(&i.to_string()), v, out);
            }
        }
        Value::Null => {}
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        Value::Bool(_) | Value::Number(_) => out.push((prefix.to_string(), value.to_string())),
    }
}

/// `key=value`; the key is a plain name (letters, digits, `_`, `-`, `.`), the value anything.
pub fn parse_fact_flag(flag: &str) -> Result<(String, String)> {
    let Some((k, v)) = flag.split_once('=') else {
        return Err(failure(
            Kind::Config,
            format!("--fact {flag:?} is not key=value"),
        ));
    };
    if !valid_key(k) {
        return Err(failure(
            Kind::Config,
            format!("--fact {flag:?}: the key must be letters, digits, '_', '-' or '.', not {k:?}"),
        ));
    }
    Ok((k.to_string(), v.to_string()))
}

pub fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The pattern's named groups that matched become facts. A pattern that does not match is a
/// configuration error: a template built on it could only produce a wrong tenant.
pub fn apply_hostname_pattern(facts: &mut Facts, re: &Regex) -> Result<()> {
    let Some(hostname) = facts.get("hostname").map(str::to_string) else {
        return Err(failure(
            Kind::Config,
            "--hostname-pattern needs a 'hostname' fact; set one with --fact hostname=...",
        ));
    };
    let Some(caps) = re.captures(&hostname) else {
        return Err(failure(
            Kind::Config,
            format!(
                "hostname {hostname:?} does not match --hostname-pattern '{}'; fix the pattern or \
                 pass the facts with --fact",
                re.as_str()
            ),
        ));
    };
    for name in re.capture_names().flatten() {
        if let Some(m) = caps.name(name) {
            facts.set(name, m.as_str(), Source::HostnamePattern);
        }
    }
    Ok(())
}

/// Compiles `--hostname-pattern` (configuration error when it is not a regex).
pub fn compile_pattern(pattern: &str) -> Result<Regex> {
    let re = Regex::new(pattern).map_err(|e| {
        failure(
            Kind::Config,
            format!(
                "--hostname-pattern '{pattern}' is not a valid regular expression: {}",
                regex_reason(&e)
            ),
        )
    })?;
    if re.capture_names().flatten().next().is_none() {
        return Err(failure(
            Kind::Config,
            format!(
                "--hostname-pattern '{pattern}' has no named group; name the parts, e.g. \
                 '^(?P<customer>[a-z]+)-(?P<stage>[a-z])(?P<index>[0-9]+)-'"
            ),
        ));
    }
    Ok(re)
}

/// The regex crate's error on one line: it draws the pattern with a caret under the fault and
/// the reason on a line of its own; this keeps the reason and says where the caret was.
fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    let lines: Vec<&str> = text.lines().collect();
    let reason = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or_else(|| text.lines().next().unwrap_or_default());
    // The pattern line and the caret line below it share their indentation.
    let caret = lines.iter().enumerate().skip(1).find_map(|(i, l)| {
        let at = l.find('^')?;
        let indent = lines[i - 1].len() - lines[i - 1].trim_start().len();
        (l.trim().chars().all(|c| c == '^' || c == '~')).then(|| at.saturating_sub(indent) + 1)
    });
    match caret {
        Some(at) => format!("{reason} (at character {at})"),
        None => reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::kind_of;

    #[test]
    fn regex_errors_are_one_line_with_the_reason_and_place() {
        let err = compile_pattern("^(?P<customer>[a-z]+-(?P<x").unwrap_err();
        let line = crate::error::one_line(&err);
        assert_eq!(
            line,
            "--hostname-pattern '^(?P<customer>[a-z]+-(?P<x' is not a valid regular \
             expression: unclosed capture group name (at character 27)"
        );
    }

    fn host() -> Facts {
        host_facts_from(
            "web01.example.com",
            "NAME=\"Ubuntu\"\nID=ubuntu\nVERSION_ID=\"24.04\"\n# comment\nbogus\n",
            "linux",
            "x86_64",
        )
    }

    #[test]
    fn sysinfo_is_read_only_when_one_of_its_facts_is_looked_up() {
        let flags = vec!["site=ber".to_string()];
        let facts = gather(
            host_facts(),
            &Sources {
                facts_file: Some(("f.json", r#"{"os": {"name": "Mine"}}"#)),
                flags: &flags,
                hostname_pattern: None,
            },
        )
        .unwrap();
        let ours = facts.clone();
        // What a converged run with a tenant template looks at.
        let r = crate::tenant::render("{site}-{hostname}-{arch}-{fqdn}-{os.name}", &facts).unwrap();
        assert!(r.text.starts_with("ber-"), "{r:?}");
        assert_eq!(facts.get("no.such.fact"), None);
        assert!(
            !facts.system_read(),
            "sysinfo read for facts that are not its own"
        );

        assert_eq!(
            facts.get("os.name"),
            Some("Mine"),
            "the facts file outranks sysinfo"
        );
        let cpus = facts.get("cpu.count").unwrap().parse::<usize>().unwrap();
        assert!(cpus >= 1);
        assert!(
            facts.system_read() && ours.system_read(),
            "a clone shares the reading"
        );
        let all: Vec<(&String, &Fact)> = facts.iter().collect();
        assert!(
            all.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted, no duplicates"
        );
        let source = |k: &str| all.iter().find(|(n, _)| *n == k).map(|(_, f)| f.source);
        assert_eq!(source("os.name"), Some(Source::FactsFile));
        assert_eq!(source("cpu.count"), Some(Source::System));
        assert_eq!(source("hostname"), Some(Source::Host));
        assert_eq!(facts.len(), all.len());

        // Every fact sysinfo can set is one that triggers the reading.
        let mut f = Facts::default();
        system::add(&mut f, &system::read());
        assert!(f.len() >= 4, "{f:?}");
        assert!(
            f.iter().all(|(k, _)| system::KEYS.contains(&k.as_str())),
            "{f:?}"
        );
        assert!(!host().system_read() && host().get("cpu.count").is_none());
    }

    #[test]
    fn host_facts_split_hostname_and_read_os_release() {
        let f = host();
        assert_eq!(f.get("hostname"), Some("web01"));
        assert_eq!(f.get("fqdn"), Some("web01.example.com"));
        assert_eq!(f.get("domain"), Some("example.com"));
        assert_eq!(f.get("os.id"), Some("ubuntu"));
        assert_eq!(f.get("os.version_id"), Some("24.04"));
        assert_eq!(f.get("arch"), Some("x86_64"));
    }

    #[test]
    fn later_sources_override_earlier_and_pattern_applies_last() {
        let re = compile_pattern(r"^(?P<customer>[a-z]+)-(?P<stage>[a-z])(?P<index>\d+)-").unwrap();
        let json = r#"{"hostname":"file-host","os":{"family":"Debian","release":{"major":"12"}},
                       "ips":["10.0.0.1",null],"virtual":false,"n":3}"#;
        let flags = vec!["hostname=abc-p1-web01".to_string(), "team=".to_string()];
        let f = gather(
            host(),
            &Sources {
                facts_file: Some(("facts.json", json)),
                flags: &flags,
                hostname_pattern: Some(&re),
            },
        )
        .unwrap();
        assert_eq!(f.get("hostname"), Some("abc-p1-web01"));
        assert_eq!(f.get("os.family"), Some("Debian"));
        assert_eq!(f.get("os.release.major"), Some("12"));
        assert_eq!(f.get("ips.0"), Some("10.0.0.1"));
        assert_eq!(f.get("ips.1"), None);
        assert_eq!(f.get("virtual"), Some("false"));
        assert_eq!(f.get("n"), Some("3"));
        assert_eq!(f.get("team"), Some(""));
        assert_eq!(f.get("customer"), Some("abc"));
        assert_eq!(f.get("stage"), Some("p"));
        assert_eq!(f.get("index"), Some("1"));
        assert_eq!(f.map["customer"].source, Source::HostnamePattern);
        assert_eq!(f.map["hostname"].source, Source::Flag);
    }

    #[test]
    fn bad_inputs_are_configuration_errors() {
        let cases: Vec<(Option<&str>, Vec<&str>, Option<&str>)> = vec![
            (Some("not json"), vec![], None),
            (Some("[1,2]"), vec![], None),
            (None, vec!["novalue"], None),
            (None, vec!["=x"], None),
            (None, vec!["a b=x"], None),
            (None, vec![], Some(r"^(?P<c>zzz)")), // does not match the hostname
        ];
        for (file, flags, pattern) in cases {
            let flags: Vec<String> = flags.into_iter().map(String::from).collect();
            let re = pattern.map(|p| compile_pattern(p).unwrap());
            let err = gather(
                host(),
                &Sources {
                    facts_file: file.map(|t| ("f.json", t)),
                    flags: &flags,
                    hostname_pattern: re.as_ref(),
                },
            )
            .unwrap_err();
            assert_eq!(
                kind_of(&err),
                Kind::Config,
                "{file:?} {flags:?} {pattern:?}"
            );
        }
        for bad in ["(", "^[a-z]+$"] {
            assert_eq!(kind_of(&compile_pattern(bad).unwrap_err()), Kind::Config);
        }
    }

    #[test]
    fn os_release_quotes_and_oddities() {
        let parsed = parse_os_release("A='x y'\nB=\"q\\\"q\"\n=\nC\nD=\n");
        assert_eq!(
            parsed,
            vec![
                ("A".into(), "x y".into()),
                ("B".into(), "q\"q".into()),
                ("".into(), "".into()),
                ("D".into(), "".into())
            ]
        );
    }
}
