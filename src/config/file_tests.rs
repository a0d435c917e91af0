use super::*;

fn command() -> Command {
    use clap::CommandFactory;
    crate::cli::Cli::command()
}

/// The arguments a file adds over `argv`, or the error.
fn added(toml_text: &str, argv: &[&str]) -> Result<Vec<String>, String> {
    let f = File {
        path: Path::new("/etc/x.toml"),
        text: toml_text,
    };
    let table: toml::Table = toml_text.parse().map_err(|e| f.syntax(&e))?;
    let first = command()
        .try_get_matches_from(argv)
        .map_err(|e| e.to_string())?;
    f.arguments(&command(), &table, &first)
}

#[test]
fn keys_become_the_flags_they_name() {
    let got = added(
        "retries = 5\nupgrade = true\njson = false\nhost-tag = [\"a,b\", \"c\"]\nverbose = 2\n\
         installer-arg = [\"--set-x=1\"]\ninstaller-timeout = \"20m\"",
        &["x", "apply"],
    )
    .unwrap();
    assert_eq!(
        got,
        [
            "--host-tag=a,b",
            "--host-tag=c",
            "--installer-arg=--set-x=1",
            "--installer-timeout=20m",
            "--retries=5",
            "--upgrade",
            "--verbose",
            "--verbose"
        ]
    );
}

#[test]
fn a_flag_or_a_conflicting_flag_keeps_the_file_out() {
    assert_eq!(
        added(
            "retries = 5\nverbose = 1",
            &["x", "apply", "--retries", "2", "-q"]
        )
        .unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn bad_files_name_file_line_and_key_and_never_the_secret() {
    let secret = "dt0c01.ABCDEFGHIJKLMNOPQRSTUVWX.secret";
    for (text, want) in [
        (
            "retries = 5\nclustr-url = \"https://a\"",
            "line 2: unknown key 'clustr-url'; did you mean 'cluster-url'?",
        ),
        (
            "config = \"/x\"",
            "unknown key 'config'; the file cannot name another",
        ),
        ("retries = 11", "line 1: 'retries': invalid value '11'"),
        ("monitoring-mode = \"full\"", "possible values: fullstack"),
        ("upgrade = \"yes\"", "'upgrade' must be true or false"),
        ("host-tag = \"a\"", "'host-tag' must be an array of strings"),
        ("retries = 1.5", "'retries' must be a string"),
        (
            "installer-timeout = \"2d\"",
            "'installer-timeout': invalid value '2d'",
        ),
        ("\n\nretries = = 1", "line 3 is not valid TOML"),
    ] {
        let err = added(text, &["x", "apply"]).unwrap_err();
        assert!(err.contains(want), "{text:?}: {err}");
        assert!(err.starts_with("configuration file /etc/x.toml"), "{err}");
    }
    for text in [
        format!("cluster-token = \"{secret}\""),
        format!("api_token = \"{secret}\""),
        format!("host-tag = [\"{secret}\"]"),
        format!("not-a-key = \"{secret}\""),
        "proxy = \"http://u:dt0c01.secret@proxy:3128\"".to_string(),
        "proxy = \"http://user:hunter2@proxy:3128\"".to_string(),
        format!("cluster-url = {secret}"),
    ] {
        let err = added(&text, &["x", "apply"]).unwrap_err();
        assert!(!err.contains("dt0c01") && !err.contains("hunter2"), "{err}");
        assert!(err.contains("configuration file"), "{err}");
    }
    assert!(added("proxy = \"http://user:hunter2@proxy:3128\"", &["x"])
        .unwrap_err()
        .contains("in DT_PROXY instead"));
}

#[test]
fn url_passwords_are_found_only_in_the_userinfo() {
    assert!(has_url_password("http://u:p@h:3128"));
    assert!(!has_url_password("http://u@h:3128"));
    assert!(!has_url_password("http://h:3128/a:b@c"));
    assert!(!has_url_password("user:pw@host"));
}

/// The shipped example with every option line uncommented (alternatives left out).
fn example_uncommented() -> String {
    include_str!("../../packaging/config.example.toml")
        .lines()
        .filter(|l| !l.contains("instead of"))
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| l.split_once(" = ").is_some_and(|(k, _)| !k.contains(' ')))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_example_parses_and_names_every_option() {
    let text = example_uncommented();
    added(&text, &["x", "apply"]).unwrap();
    let table: toml::Table = text.parse().unwrap();
    let mut documented: Vec<&str> = table.keys().map(String::as_str).collect();
    documented.push("quiet");
    documented.sort();
    let command = command();
    let mut options: Vec<&str> = command
        .get_arguments()
        .filter(|a| !a.is_hide_set() && a.get_id() != "config")
        .filter_map(|a| a.get_long())
        .collect();
    options.sort();
    assert_eq!(
        documented, options,
        "packaging/config.example.toml lacks an option"
    );
}

#[test]
fn the_readme_example_parses() {
    let readme = include_str!("../../README.md");
    let section = readme.split("## Configuration file").nth(1).unwrap();
    let example = section
        .split("```toml")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    assert!(added(example, &["x", "apply"]).unwrap().len() >= 7);
}
