//! Man pages and shell completions, generated from the clap definition (`--generate-docs DIR`,
//! run by scripts/dist.sh for the packages), so they can never drift from `--help`.
//!
//! DIR/man: `oneagent-bootstrap.1` (every option, the subcommands, the exit codes) and one
//! `oneagent-bootstrap-SUB.1` per subcommand with its example. DIR/completions: bash, zsh, fish.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::roff::{roman, Roff};
use clap_mangen::Man;

use crate::cli::Cli;

const NAME: &str = "oneagent-bootstrap";

/// `--generate-docs DIR`: writes the files and lists them on stdout, one a line.
pub fn generate(dir: &Path) -> Result<()> {
    for path in write(dir)? {
        println!("{}", path.display());
    }
    Ok(())
}

/// Writes DIR/man/*.1 and DIR/completions/*; returns the files written.
pub fn write(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    // Propagates the global options into each subcommand, as the parser sees them.
    cmd.build();
    let mut written = Vec::new();
    let man_dir = dir.join("man");
    let completions = dir.join("completions");
    for d in [&man_dir, &completions] {
        std::fs::create_dir_all(d)
            .with_context(|| format!("could not create {}; check the path", d.display()))?;
    }

    let exit_status = exit_status_section();
    written.push(page(
        &man_dir,
        cmd.clone(),
        Some(("EXIT STATUS", exit_status)),
    )?);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let example = sub.get_after_help().map(|h| {
            let text = h.to_string();
            let mut roff = Roff::new();
            roff.control("nf", []);
            for line in text.lines().filter(|l| !l.starts_with("Example")) {
                roff.text([roman(line)]);
            }
            roff.control("fi", []);
            ("EXAMPLE", roff)
        });
        written.push(page(&man_dir, sub.clone(), example)?);
    }

    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let path =
            clap_complete::generate_to(shell, &mut cmd, NAME, &completions).with_context(|| {
                format!(
                    "could not write the {shell} completions into {}",
                    completions.display()
                )
            })?;
        written.push(path);
    }
    Ok(written)
}

/// One page: the usual sections from clap, then `extra` before the version.
fn page(dir: &Path, cmd: clap::Command, extra: Option<(&str, Roff)>) -> Result<PathBuf> {
    let has_subcommands = cmd.get_subcommands().any(|s| !s.is_hide_set());
    let man = Man::new(cmd);
    let path = dir.join(man.get_filename());
    let write = || -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(File::create(&path)?);
        man.render_title(&mut out)?;
        man.render_name_section(&mut out)?;
        man.render_synopsis_section(&mut out)?;
        man.render_description_section(&mut out)?;
        man.render_options_section(&mut out)?;
        if has_subcommands {
            man.render_subcommands_section(&mut out)?;
        }
        if let Some((title, body)) = &extra {
            let mut head = Roff::new();
            head.control("SH", [*title]);
            head.to_writer(&mut out)?;
            body.to_writer(&mut out)?;
        }
        man.render_version_section(&mut out)?;
        out.flush()
    };
    write().with_context(|| format!("could not write the man page {}", path.display()))?;
    Ok(path)
}

/// The exit-code contract (error::EXIT_CODES) as a tagged paragraph list.
fn exit_status_section() -> Roff {
    let mut roff = Roff::new();
    for (code, name, meaning) in crate::error::EXIT_CODES {
        roff.control("TP", []);
        roff.text([roman(format!("{code} ({name})"))]);
        roff.text([roman(*meaning)]);
    }
    roff
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visible_subcommands() -> Vec<String> {
        Cli::command()
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| s.get_name().to_string())
            .collect()
    }

    #[test]
    fn man_pages_and_completions_cover_every_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        let files = write(dir.path()).unwrap();
        let read = |rel: &str| std::fs::read_to_string(dir.path().join(rel)).unwrap();
        // roff writes a hyphen as `\-`.
        let roff = |s: &str| s.replace('-', "\\-");
        let subs = visible_subcommands();
        assert!(subs.len() >= 5, "{subs:?}");
        assert_eq!(files.len(), 1 + subs.len() + 3, "{files:?}");

        let root = read("man/oneagent-bootstrap.1");
        assert!(root.contains(&roff("--cluster-url")), "options section");
        assert!(
            !root.contains(&roff("generate-docs")),
            "hidden option documented"
        );
        for (code, name, _) in crate::error::EXIT_CODES {
            assert!(
                root.contains(&format!("{code} ({name})")),
                "exit code {code}"
            );
        }
        let completions = [
            "completions/oneagent-bootstrap.bash",
            "completions/_oneagent-bootstrap",
            "completions/oneagent-bootstrap.fish",
        ];
        for sub in &subs {
            assert!(root.contains(sub.as_str()), "man page lacks {sub}");
            let page = read(&format!("man/oneagent-bootstrap-{sub}.1"));
            assert!(page.contains(".SH EXAMPLE"), "{sub} page has no example");
            assert!(
                page.contains(&roff(&format!("oneagent-bootstrap {sub}"))),
                "{sub}"
            );
            for c in completions {
                assert!(read(c).contains(sub.as_str()), "{c} lacks {sub}");
            }
        }
    }

    #[test]
    fn each_subcommand_help_ends_with_an_example_of_itself() {
        for sub in visible_subcommands() {
            let err = Cli::command()
                .try_get_matches_from([NAME, sub.as_str(), "--help"])
                .unwrap_err();
            let help = err.render().to_string();
            let tail: Vec<&str> = help.trim_end().lines().rev().take(6).collect();
            let example = tail.iter().position(|l| l.starts_with("Example:"));
            assert!(
                example.is_some(),
                "{sub} --help does not end with an example:\n{help}"
            );
            assert!(
                tail.iter()
                    .any(|l| l.contains(&format!("oneagent-bootstrap {sub}"))),
                "{sub}'s example does not run {sub}:\n{help}"
            );
        }
    }

    #[test]
    fn version_names_the_commit() {
        let v = Cli::command().render_version();
        assert!(v.contains(env!("CARGO_PKG_VERSION")), "{v}");
        assert!(v.contains("(commit "), "{v}");
    }
}
