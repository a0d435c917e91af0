//! The configuration file, and the one place where flag > environment > file > default is
//! decided.
//!
//! The file is `--config FILE` (`DT_CONFIG`), else `/etc/oneagent-bootstrap/config.toml` when
//! that exists. Its keys are the long options without the dashes. clap alone decides flag >
//! environment > default; [`layer`] then turns every key of the file whose option clap took from
//! nowhere or from its default into `--key=value` arguments put in front of the command line,
//! and clap parses again. So the file's values go through the options' own parsers and checks,
//! and nothing after `cli::parse` knows or cares where a value came from. Each key is first
//! parsed alone, so a bad value is reported with the file, its line and the key.
//!
//! The file decides where the cluster token is sent, so it passes the state dir's ownership
//! rule (fsafe.rs) and never holds a secret itself: tokens and URL passwords are refused
//! without echoing them.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};
use toml::Value;

use crate::error::one_line;

const DEFAULT_PATH: &str = "/etc/oneagent-bootstrap/config.toml";
/// Where the default file is looked for instead, so that tests never touch /etc. Not an
/// escalation: whoever sets it could as well set `DT_CONFIG`.
const DEFAULT_PATH_ENV: &str = "ONEAGENT_BOOTSTRAP_DEFAULT_CONFIG";
/// A configuration file is a few hundred bytes; a bigger one is the wrong file.
const MAX_SIZE: u64 = 1024 * 1024;
const TOKEN_FIX: &str = "write the token to a file only root can read (chmod 600) and set \
     cluster-token-file or api-token-file to its path, or use DT_CLUSTER_TOKEN / DT_API_TOKEN";

/// `first` (clap's parse of `args`) with the configuration file's values added where neither a
/// flag nor the environment set the option. `explicit`: the `--config`/`DT_CONFIG` path. A
/// failure is exit 3 (`Kind::Config`) and names the file.
pub fn layer(
    command: &Command,
    args: &[OsString],
    first: ArgMatches,
    explicit: Option<&Path>,
) -> anyhow::Result<ArgMatches> {
    use crate::error::{failure, Kind};
    let refuse = |msg: String| failure(Kind::Config, msg);
    let default =
        std::env::var_os(DEFAULT_PATH_ENV).map_or(PathBuf::from(DEFAULT_PATH), PathBuf::from);
    let Some((path, text)) = read(explicit, &default).map_err(|e| refuse(one_line(&e)))? else {
        return Ok(first);
    };
    let file = File {
        path: &path,
        text: &text,
    };
    let table: toml::Table = text.parse().map_err(|e| refuse(file.syntax(&e)))?;
    let extra = file.arguments(command, &table, &first).map_err(refuse)?;
    if extra.is_empty() {
        return Ok(first);
    }
    let mut all = args.iter().take(1).cloned().collect::<Vec<_>>();
    all.extend(extra.into_iter().map(OsString::from));
    all.extend(args.iter().skip(1).cloned());
    command.clone().try_get_matches_from(all).map_err(|e| {
        refuse(format!(
            "with the settings of configuration file {}: {}",
            path.display(),
            clap_message(&e)
        ))
    })
}

/// The file's path and text; `None` when no file was given and the default does not exist.
fn read(explicit: Option<&Path>, default: &Path) -> anyhow::Result<Option<(PathBuf, String)>> {
    use crate::error::{failure, Kind, ResultExt};
    let path = match explicit {
        Some(p) if !p.exists() && !p.is_symlink() => {
            return Err(failure(
                Kind::Config,
                format!(
                    "configuration file {} (--config or DT_CONFIG) does not exist; fix the path \
                     or create the file",
                    p.display()
                ),
            ))
        }
        Some(p) => p,
        None if default.exists() || default.is_symlink() => default,
        None => return Ok(None),
    };
    let what = "configuration file";
    let file = crate::fsafe::open_trusted_file(path, what)?;
    let mut text = String::new();
    file.take(MAX_SIZE + 1)
        .read_to_string(&mut text)
        .kind(Kind::Config, || {
            format!("reading {what} {} (it must be UTF-8 TOML)", path.display())
        })?;
    if text.len() as u64 > MAX_SIZE {
        return Err(failure(
            Kind::Config,
            format!(
                "{what} {} is larger than 1 MiB; point --config at the right file",
                path.display()
            ),
        ));
    }
    Ok(Some((path.to_path_buf(), text)))
}

struct File<'a> {
    path: &'a Path,
    text: &'a str,
}

impl File<'_> {
    /// `configuration file PATH, line N: ` (the line of `key = ...` when it can be found).
    fn at(&self, key: &str) -> String {
        let line = self.text.lines().position(|l| {
            let l = l.trim_start();
            let rest = l
                .strip_prefix(key)
                .or_else(|| l.strip_prefix(&format!("\"{key}\"")))
                .or_else(|| l.strip_prefix(&format!("'{key}'")));
            rest.is_some_and(|r| r.trim_start().starts_with('='))
        });
        match line {
            Some(n) => format!(
                "configuration file {}, line {}: ",
                self.path.display(),
                n + 1
            ),
            None => format!("configuration file {}: ", self.path.display()),
        }
    }

    /// Only the parser's message and the line: its rendering quotes the line, which may hold a
    /// secret the user meant to quote.
    fn syntax(&self, e: &toml::de::Error) -> String {
        let line = e.span().map(|s| {
            self.text[..s.start.min(self.text.len())]
                .matches('\n')
                .count()
                + 1
        });
        let at = line.map(|n| format!(", line {n}")).unwrap_or_default();
        format!(
            "configuration file {}{at} is not valid TOML: {}; fix the syntax (see the example in \
             /usr/share/doc/oneagent-bootstrap/examples/config.toml)",
            self.path.display(),
            e.message().trim().replace('\n', "; ")
        )
    }

    /// The `--key=value` arguments the file adds, after refusing secrets, unknown keys, wrong
    /// types and invalid values anywhere in it.
    fn arguments(
        &self,
        command: &Command,
        table: &toml::Table,
        first: &ArgMatches,
    ) -> Result<Vec<String>, String> {
        self.refuse_secrets(command, table)?;
        let known: Vec<&Arg> = command
            .get_arguments()
            .filter(|a| !a.is_hide_set() && a.get_id() != "config")
            .filter(|a| a.get_long().is_some())
            .collect();
        let mut out = Vec::new();
        for (key, value) in table {
            let Some(arg) = known.iter().find(|a| a.get_long() == Some(key.as_str())) else {
                return Err(self.unknown(key, &known));
            };
            let args = flags(arg, key, value)
                .map_err(|want| format!("{}'{key}' must be {want}; fix its value", self.at(key)))?;
            let mut alone = vec![command.get_name().to_string()];
            alone.extend(args.iter().cloned());
            if let Err(e) = command.clone().try_get_matches_from(alone) {
                return Err(format!(
                    "{}'{key}': {}; fix its value",
                    self.at(key),
                    clap_message(&e)
                ));
            }
            if taken_from_file(command, arg, first) {
                out.extend(args);
            }
        }
        Ok(out)
    }

    /// Tokens and URL passwords, in any key (known or not) and any value, without echoing them.
    fn refuse_secrets(&self, command: &Command, table: &toml::Table) -> Result<(), String> {
        for (key, value) in table {
            let k = key.to_ascii_lowercase().replace('_', "-");
            if k.contains("token") && !k.ends_with("token-file") {
                return Err(format!(
                    "{}'{key}': tokens are never read from the configuration file; {TOKEN_FIX}",
                    self.at(key)
                ));
            }
            let mut strings = Vec::new();
            collect_strings(value, &mut strings);
            if strings.iter().any(|s| s.contains("dt0c01.")) {
                return Err(format!(
                    "{}the value of '{key}' looks like a Dynatrace token, which the \
                     configuration file must not hold; {TOKEN_FIX}",
                    self.at(key)
                ));
            }
            if strings.iter().any(|s| has_url_password(s)) {
                let env = command
                    .get_arguments()
                    .find(|a| a.get_long() == Some(key.as_str()))
                    .and_then(|a| a.get_env())
                    .map_or("the option's environment variable".into(), |e| {
                        e.to_string_lossy().into_owned()
                    });
                return Err(format!(
                    "{}the value of '{key}' holds a password (user:password@ in a URL), which \
                     the configuration file must not hold; remove '{key}' from the file and set \
                     the URL with its password in {env} instead",
                    self.at(key)
                ));
            }
        }
        Ok(())
    }

    fn unknown(&self, key: &str, known: &[&Arg]) -> String {
        let hint = match key {
            "config" => "; the file cannot name another configuration file".to_string(),
            _ => known
                .iter()
                .filter_map(|a| a.get_long())
                .map(|k| (distance(key, k), k))
                .min()
                .filter(|(d, _)| *d <= 3)
                .map(|(_, k)| format!("; did you mean '{k}'?"))
                .unwrap_or_default(),
        };
        format!(
            "{}unknown key '{key}'{hint} (the keys are the long options without the dashes, see \
             --help); remove or rename it",
            self.at(key)
        )
    }
}

/// Whether the option is left to the file: neither a flag nor the environment set it, nor an
/// option it conflicts with (`verbose = 1` in the file and `--quiet` given: the flag wins).
fn taken_from_file(command: &Command, arg: &Arg, first: &ArgMatches) -> bool {
    let given = |a: &Arg| {
        matches!(
            first.value_source(a.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };
    if given(arg) {
        return false;
    }
    let conflicts = command.get_arg_conflicts_with(arg);
    !command.get_arguments().any(|other| {
        given(other)
            && (conflicts.iter().any(|c| c.get_id() == other.get_id())
                || command
                    .get_arg_conflicts_with(other)
                    .iter()
                    .any(|c| c.get_id() == arg.get_id()))
    })
}

/// The command-line form of one key: what a flag of the same meaning would be. The `Err` says
/// which TOML type the key needs.
fn flags(arg: &Arg, key: &str, value: &Value) -> Result<Vec<String>, &'static str> {
    let flag = format!("--{key}");
    match (arg.get_action(), value) {
        (ArgAction::SetTrue, Value::Boolean(on)) => Ok(if *on { vec![flag] } else { vec![] }),
        (ArgAction::SetTrue, _) => Err("true or false"),
        (ArgAction::Count, Value::Integer(n)) if (0..=10).contains(n) => {
            Ok(vec![flag; *n as usize])
        }
        (ArgAction::Count, _) => Err("a number from 0 to 10"),
        (ArgAction::Append, Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(format!("{flag}={s}")),
                _ => Err("an array of strings, e.g. [\"a\", \"b\"]"),
            })
            .collect(),
        (ArgAction::Append, _) => Err("an array of strings, e.g. [\"a\", \"b\"]"),
        (_, Value::String(s)) => Ok(vec![format!("{flag}={s}")]),
        (_, Value::Integer(n)) => Ok(vec![format!("{flag}={n}")]),
        _ => Err("a string"),
    }
}

fn collect_strings<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Table(t) => t.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// `scheme://user:password@host...`: a password in a URL's userinfo, found by the same rule
/// that masks them in everything we print (secret.rs).
fn has_url_password(s: &str) -> bool {
    s.contains("://") && crate::secret::redact_userinfo(s) != s
}

/// clap's error as one line: its first lines without the "error: " prefix and the help hint.
fn clap_message(e: &clap::Error) -> String {
    e.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("For more information") && !l.starts_with("Usage:")
        })
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
