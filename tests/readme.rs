//! README.md's exit-code table is the contract Puppet and Ansible code against: it must say
//! exactly what the binary's own table (printed at the end of `--help`) says.

use std::process::Command;

/// `(code, name, meaning)` rows of the README's "Exit codes" table.
fn readme_rows() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md is readable");
    let section = text
        .split("## Exit codes")
        .nth(1)
        .expect("README has an 'Exit codes' section");
    section
        .lines()
        .skip_while(|l| !l.starts_with("| code"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect();
            assert_eq!(cells.len(), 3, "row {l:?}");
            (cells[0].clone(), cells[1].clone(), cells[2].clone())
        })
        .collect()
}

/// The same rows from `oneagent-bootstrap --help` ("  0  converged     nothing changed ...").
fn help_rows() -> Vec<(String, String, String)> {
    let out = Command::new(env!("CARGO_BIN_EXE_oneagent-bootstrap"))
        .arg("--help")
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    help.split("Exit codes:")
        .nth(1)
        .expect("--help ends with the exit codes")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut parts = l.split_whitespace();
            let code = parts.next().unwrap_or_default().to_string();
            let name = parts.next().unwrap_or_default().to_string();
            let meaning = parts.collect::<Vec<_>>().join(" ");
            (code, name, meaning)
        })
        .collect()
}

#[test]
fn readme_exit_codes_match_the_binary() {
    let readme = readme_rows();
    assert_eq!(readme.len(), 8, "{readme:?}");
    assert_eq!(readme, help_rows());
}
