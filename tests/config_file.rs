//! The configuration file (issue 12): precedence flag > environment > file > default for a
//! scalar, a list and a switch; a whole apply driven by the file (explicit and default path);
//! unknown keys, secrets and unsafe files refused with exit 3.

mod harness;

use std::path::{Path, PathBuf};

use harness::{chmod, World, PATTERN, TEMPLATE};

/// Writes `text` as a configuration file (0600) under the world's temp dir.
fn config(w: &World, name: &str, text: &str) -> PathBuf {
    let path = w.dir.path().join(name);
    harness::write_private(&path, text);
    path
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn each_layer_overrides_the_next() {
    let w = World::new();
    let (file_dir, env_dir, flag_dir) = (w.dir.path().join("f"), "/env-state", "/flag-state");
    let cfg = config(
        &w,
        "config.toml",
        &format!(
            "state-dir = {:?}\njson = true\nfact = [\"hostname=abc-p1-web01\", \"team=a,b\"]\n\
             hostname-pattern = '{PATTERN}'\ntenant-template = {TEMPLATE:?}\n",
            p(&file_dir)
        ),
    );
    let with_file = |args: &[&str]| w.bare(args).env("DT_CONFIG", &p(&cfg));

    // Scalar (state-dir, seen in status' message) and switch (json).
    let default = w.bare(&["status"]).run();
    default.check(
        !default.stdout.contains(&p(&file_dir)),
        "without the file, the default state dir",
    );
    let file = with_file(&["status"]).run();
    file.code(0);
    assert_eq!(
        file.json()["message"],
        format!("no run recorded in {}", p(&file_dir))
    );
    let env = with_file(&["status"])
        .env("DT_STATE_DIR", env_dir)
        .env("DT_JSON", "false")
        .run();
    env.code(0)
        .stdout_has("no run recorded in /env-state")
        .check(
            !env.stdout.trim_start().starts_with('{'),
            "DT_JSON=false beats json = true",
        );
    let flag = with_file(&["status", "--state-dir", flag_dir, "--json"])
        .env("DT_STATE_DIR", env_dir)
        .env("DT_JSON", "false")
        .run();
    assert_eq!(flag.json()["message"], "no run recorded in /flag-state");

    // List (fact): the file's elements are whole values, never split on commas.
    let file = with_file(&["facts"]).env("DT_JSON", "false").run();
    file.code(0)
        .stdout_has("tenant: abc-p1")
        .stdout_has("\"a,b\"  (--fact)");
    let env = with_file(&["facts"])
        .env("DT_JSON", "false")
        .env("DT_FACTS", "hostname=def-q2-web01")
        .run();
    env.code(0).stdout_has("tenant: def-q2");
    let flag = with_file(&["facts", "--fact", "hostname=ghi-r3-web01"])
        .env("DT_JSON", "false")
        .env("DT_FACTS", "hostname=def-q2-web01")
        .run();
    flag.code(0).stdout_has("tenant: ghi-r3");
}

/// Everything an apply needs but the token comes from the file; `check` and the default path
/// read it the same way.
#[test]
fn apply_and_check_read_the_file_explicit_or_default() {
    let w = World::new();
    let cfg = config(
        &w,
        "config.toml",
        &format!(
            "cluster-url = {:?}\ncluster-token-file = {:?}\nstate-dir = {:?}\n\
             install-path = {:?}\ninstaller-ca-file = {:?}\nfact = [\"hostname=abc-p1-web01\"]\n\
             hostname-pattern = '{PATTERN}'\ntenant-template = {TEMPLATE:?}\n\
             host-tag = [\"role:web\", \"team=a,b\"]\nupgrade = true\n",
            w.sim.url(),
            p(&w.cluster_token_file),
            p(&w.state),
            p(&w.install),
            p(&w.ca),
        ),
    );
    let apply = w.bare(&["apply", "--config", &p(&cfg)]).run();
    apply.code(2);
    assert!(w.installed(), "{}", apply.dump());
    assert_eq!(w.status_json()["tenant"], "abc-p1");
    let tags = w.oneagentctl(&["--get-host-tags"]);
    assert!(
        tags.contains("team=a,b") && tags.contains("role:web"),
        "{tags}"
    );

    let check = w.bare(&["check"]).env("DT_CONFIG", &p(&cfg)).run();
    check.code(0);
    // The default path (moved by the tests-only variable, so /etc is never touched).
    let default = w
        .bare(&["check"])
        .env("ONEAGENT_BOOTSTRAP_DEFAULT_CONFIG", &p(&cfg))
        .run();
    default.code(0);
    // An absent default file is no error: the run just lacks the file's settings.
    let absent = w
        .bare(&["status", "--state-dir", &p(&w.state)])
        .env(
            "ONEAGENT_BOOTSTRAP_DEFAULT_CONFIG",
            "/nonexistent/config.toml",
        )
        .run();
    absent.code(0);
    w.assert_no_secrets(&[&apply, &check, &default, &absent], &[]);
}

#[test]
fn unknown_keys_and_bad_values_are_exit_3_naming_file_line_and_key() {
    let w = World::new();
    let cfg = config(&w, "c.toml", "retries = 2\nclustr-url = \"https://x\"\n");
    let r = w.bare(&["status", "--config", &p(&cfg)]).run();
    r.code(3)
        .stderr_has(&format!("configuration file {}, line 2", p(&cfg)))
        .stderr_has("unknown key 'clustr-url'; did you mean 'cluster-url'?")
        .check(r.stderr.lines().count() == 1, "one line");

    let cfg = config(&w, "d.toml", "upgrade = \"yes\"\n");
    let r = w.bare(&["status"]).env("DT_CONFIG", &p(&cfg)).run();
    r.code(3).stderr_has("'upgrade' must be true or false");
    let cfg = config(&w, "e.toml", "lock-timeout = \"3d\"\n");
    let r = w.bare(&["status"]).env("DT_CONFIG", &p(&cfg)).run();
    r.code(3)
        .stderr_has("'lock-timeout': invalid value '3d'")
        .stderr_has("must be between");

    let r = w.bare(&["status", "--config", "/nonexistent/c.toml"]).run();
    r.code(3)
        .stderr_has("/nonexistent/c.toml (--config or DT_CONFIG) does not exist");

    // `check` reports a file it cannot use as any failed run: the --json object and the
    // --log-file line, both with exit code 3 and the same error.
    let log = w.dir.path().join("runs.log");
    let cfg = config(&w, "f.toml", "clustr-url = \"https://x\"\n");
    let r = w
        .bare(&[
            "check",
            "--json",
            "--config",
            &p(&cfg),
            "--log-file",
            &p(&log),
        ])
        .run();
    r.code(3);
    let j = r.json();
    assert_eq!(j["exitCode"], 3, "{j}");
    let error = j["error"].as_str().expect("error line");
    assert!(error.contains("unknown key 'clustr-url'"), "{j}");
    let line = std::fs::read_to_string(&log).expect("log file");
    let logged: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON line");
    assert_eq!(
        (logged["command"].as_str(), &logged["exitCode"]),
        (Some("check"), &j["exitCode"])
    );
    assert_eq!(logged["error"], j["error"], "{logged}");
}

#[test]
fn tokens_and_passwords_in_the_file_are_refused_and_never_echoed() {
    let w = World::new();
    let token = w.sim.cluster_token();
    let password = "Pr0xyPassw0rd";
    for (i, text) in [
        format!("cluster-token = {token:?}\n"),
        format!("api-token = {token:?}\n"),
        format!("host-tag = [\"x\", {token:?}]\n"),
        format!("cluster-url = {token}\n"),
        format!("proxy = \"http://user:{password}@proxy.example.com:3128\"\n"),
    ]
    .iter()
    .enumerate()
    {
        let cfg = config(&w, &format!("t{i}.toml"), text);
        let r = w
            .bare(&["apply", "--config", &p(&cfg), "--json"])
            .env("DT_CLUSTER_URL", &w.sim.url())
            .run();
        r.code(3).stderr_has("configuration file");
        // --json still gets its one object, with the exit code and the (secret-free) error.
        let j = r.json();
        assert_eq!(j["exitCode"], 3, "{j}");
        let error = j["error"].as_str().expect("error line");
        assert!(error.contains("configuration file"), "{j}");
        w.assert_no_secrets_in(&[&r], &[], &[password]);
    }
    assert!(w.requests().is_empty(), "nothing was sent");
}

#[test]
fn a_file_others_could_change_is_refused() {
    let w = World::new();
    let cfg = config(&w, "c.toml", "retries = 2\n");
    chmod(&cfg, 0o664);
    let r = w.bare(&["status", "--config", &p(&cfg)]).run();
    r.code(3)
        .stderr_has("is writable by group or others")
        .stderr_has(&format!("chmod go-w {}", p(&cfg)));
    chmod(&cfg, 0o644);
    w.bare(&["status", "--config", &p(&cfg), "--state-dir", &p(&w.state)])
        .run()
        .code(0);

    std::os::unix::fs::chown(&cfg, Some(harness::NOBODY), None).unwrap();
    let r = w.bare(&["status", "--config", &p(&cfg)]).run();
    r.code(3).stderr_has("is owned by another user");
    std::os::unix::fs::chown(&cfg, Some(0), None).unwrap();

    let big = config(&w, "big.toml", &format!("# {}\n", "x".repeat(1024 * 1024)));
    let r = w.bare(&["status", "--config", &p(&big)]).run();
    r.code(3).stderr_has("is larger than 1 MiB");

    let link = w.dir.path().join("link.toml");
    std::os::unix::fs::symlink(&cfg, &link).unwrap();
    let r = w.bare(&["status"]).env("DT_CONFIG", &p(&link)).run();
    r.code(3).stderr_has("is a symbolic link");

    let open = w.dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    chmod(&open, 0o777);
    let inside = config(&w, "open/c.toml", "retries = 2\n");
    let r = w.bare(&["status", "--config", &p(&inside)]).run();
    r.code(3)
        .stderr_has(&format!("{} is writable by group or others", p(&open)));
}

/// The shipped example, every option line uncommented: the whole configuration resolves.
#[test]
fn the_example_file_resolves() {
    let w = World::new();
    let example = include_str!("../packaging/config.example.toml");
    let text: String = example
        .lines()
        .filter(|l| !l.contains("instead of"))
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| l.split_once(" = ").is_some_and(|(k, _)| !k.contains(' ')))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(text.lines().count() > 40, "{text}");
    let cfg = config(&w, "example.toml", &text);
    // The files the example names do not exist here: flags (which win) point at real ones.
    let r = w
        .bare(&["status", "--config", &p(&cfg), "--state-dir", &p(&w.state)])
        .args(&["--cluster-token-file", &p(&w.cluster_token_file)])
        .args(&["--api-token-file", &p(&w.cluster_token_file)])
        .run();
    r.code(0).stdout_has("no run recorded");
}
