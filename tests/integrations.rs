//! The Puppet module (puppet/) and the Ansible role (ansible/roles/oneagent_bootstrap) driven by
//! the real tools against dtsim: `puppet apply --detailed-exitcodes` and `ansible-playbook -c
//! local`, with the built binary as the module's/role's binary source and every path in a temp
//! dir. A missing tool fails the test with how to install it, unless SKIP_PUPPET_TESTS=1 /
//! SKIP_ANSIBLE_TESTS=1 says to skip.

mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::{World, BIN, PATTERN, TEMPLATE};

const REPO: &str = env!("CARGO_MANIFEST_DIR");
/// The password of the proxy OneAgent is given: no output or Puppet/Ansible file may hold it
/// (the binary's own install log does: a known defect outside these integrations).
const PROXY_PASSWORD: &str = "Pr0xyPassw0rd";
/// Shaped like a Dynatrace token, known to no one: the "wrong token" of the failure runs.
const WRONG_TOKEN: &str =
    "dt0c01.WRONGWRONGWRONGWRONGWRON.WRONGWRONGWRONGWRONGWRONGWRONGWRONGWRONGWRONGWRONGWRONGWRONGWRONGWR";

/// The tool on PATH, or None when the matching SKIP_* variable is 1 (said on stderr).
fn tool(name: &str, skip_var: &str, install: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => Some(p),
        None if std::env::var(skip_var).as_deref() == Ok("1") => {
            eprintln!("SKIPPED: {name} is not on PATH and {skip_var}=1");
            None
        }
        None => panic!(
            "{name} is not on PATH: {install} (.ci/run does it), or set {skip_var}=1 to skip"
        ),
    }
}

/// One run of a tool: exit code and stdout+stderr.
struct Out {
    code: i32,
    text: String,
}

fn run(cmd: &mut Command) -> Out {
    let out = cmd.output().expect("the tool starts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Out {
        code: out.status.code().unwrap_or(-1),
        text,
    }
}

/// Fails when any token string, or anything shaped like a token, is in `text`.
#[track_caller]
fn assert_no_token(w: &World, where_: &str, text: &str) {
    // The harness's one scan: cluster and tenant tokens, token shapes, and ours.
    harness::assert_clean(where_, text, &w.secrets(&[WRONG_TOKEN]));
}

/// Neither a token nor the proxy password is in any output of `tool` or any file under `dirs`.
#[track_caller]
fn assert_no_secret(w: &World, tool: &str, outputs: &[(String, String)], dirs: &[&Path]) {
    let mut texts: Vec<(String, String)> = outputs
        .iter()
        .map(|(what, text)| (format!("the output of {tool} ({what})"), text.clone()))
        .collect();
    for dir in dirs {
        for f in harness::files_strictly_under(dir) {
            let bytes = std::fs::read(&f).expect("readable file");
            texts.push((
                f.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    for (where_, text) in &texts {
        assert_no_token(w, where_, text);
        assert!(
            !text.contains(PROXY_PASSWORD),
            "the proxy password is in {where_}:\n{text}"
        );
    }
}

#[track_caller]
fn assert_no_token_under(w: &World, dir: &Path) {
    for f in harness::files_strictly_under(dir) {
        let bytes = std::fs::read(&f).expect("readable file");
        assert_no_token(
            w,
            &f.display().to_string(),
            &String::from_utf8_lossy(&bytes),
        );
    }
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

/// Prints the oneagent_bootstrap fact's state and tenant ("absent" without the fact).
const SHOW_FACT: &str = "$f = $facts['oneagent_bootstrap']
$state = $f.dig('state').lest || { 'absent' }
notice(\"fact=${state}/${f.dig('tenant')}\")
";

fn proxy_url() -> String {
    format!("http://ops:{PROXY_PASSWORD}@127.0.0.1:3128")
}

fn puppet_manifest(w: &World, token_file: &Path, hostname: &str, ensure: &str) -> String {
    let d = w.dir.path().display();
    format!(
        r#"class {{ 'oneagent_bootstrap':
  ensure            => '{ensure}',
  cluster_url       => '{url}',
  cluster_token     => Sensitive(file('{token}')),
  tenant_template   => '{TEMPLATE}',
  hostname_pattern  => '{PATTERN}',
  extra_facts       => {{ 'hostname' => '{hostname}' }},
  install_path      => '{install}',
  state_dir         => '{state}',
  config_dir        => '{d}/puppet-config',
  installer_ca_file => '{ca}',
  proxy             => Sensitive('{proxy}'),
  binary_source     => '{BIN}',
  binary_path       => '{d}/bin/oneagent-bootstrap',
}}
"#,
        url = w.sim.url(),
        token = token_file.display(),
        install = w.install.display(),
        state = w.state.display(),
        ca = w.ca.display(),
        proxy = proxy_url(),
    )
}

#[test]
fn puppet_module_converges_reports_failures_and_keeps_tokens_secret() {
    let Some(puppet) = tool(
        "puppet",
        "SKIP_PUPPET_TESTS",
        "apt-get install puppet puppet-lint",
    ) else {
        return;
    };
    let w = World::new();
    let d = w.dir.path();
    let modules = d.join("modules");
    std::fs::create_dir_all(&modules).expect("modules dir");
    std::os::unix::fs::symlink(
        Path::new(REPO).join("puppet"),
        modules.join("oneagent_bootstrap"),
    )
    .expect("module symlink");
    std::fs::create_dir_all(d.join("bin")).expect("bin dir");
    let wrong_token_file = d.join("wrong-token");
    std::fs::write(&wrong_token_file, WRONG_TOKEN).expect("wrong token");
    let vardir = d.join("puppet-var");
    let config = d.join("puppet-config");
    let mut outputs = Vec::new();
    let mut apply = |what: &str, manifest: &str| -> Out {
        let file = d.join(format!("{}.pp", what.replace(' ', "-")));
        std::fs::write(&file, manifest).expect("manifest");
        let out = run(Command::new(&puppet)
            .args(["apply", "--detailed-exitcodes", "--color", "false"])
            .arg("--modulepath")
            .arg(&modules)
            .arg("--vardir")
            .arg(&vardir)
            .arg("--confdir")
            .arg(d.join("puppet-conf"))
            .arg("--codedir")
            .arg(d.join("puppet-code"))
            .arg("--logdir")
            .arg(d.join("puppet-log"))
            .arg("--rundir")
            .arg(d.join("puppet-run"))
            .arg(&file));
        outputs.push((what.to_string(), out.text.clone()));
        out
    };
    let good = puppet_manifest(&w, &w.cluster_token_file, "abc-p1-web01", "present");

    let before = apply("fact before the first run", SHOW_FACT);
    assert_eq!(before.code, 0, "{}", before.text);
    assert!(
        before.text.contains("fact=absent/"),
        "no fact before the first run:\n{}",
        before.text
    );

    let first = apply("first run", &good);
    assert_eq!(first.code, 2, "first run changes the host:\n{}", first.text);
    assert!(w.installed(), "OneAgent installed:\n{}", first.text);
    assert_eq!(w.status_json()["tenant"], "abc-p1");
    assert_eq!(w.oneagentctl(&["--get-tenant"]), "abc-p1");
    assert_eq!(
        w.oneagentctl(&["--get-proxy"]),
        proxy_url(),
        "the proxy reached OneAgent"
    );
    let metadata = w.oneagentctl(&["--get-deployment-metadata"]);
    let version = run(Command::new(&puppet).arg("--version")).text;
    assert!(
        metadata.contains("orchestration_tech=Puppet")
            && metadata.contains(&format!("tech_version={}", version.trim())),
        "deployment metadata: {metadata}"
    );
    assert_eq!(mode(&config), 0o700);
    assert_eq!(mode(&config.join("cluster-token")), 0o600);

    w.sim.clear_requests();
    let second = apply("second run", &good);
    assert_eq!(
        second.code, 0,
        "a converged host reports no change:\n{}",
        second.text
    );
    assert_eq!(w.requests(), Vec::<String>::new(), "converged: no request");

    // The custom fact, read back through Puppet itself.
    let fact = apply("fact", SHOW_FACT);
    assert!(
        fact.text.contains("fact=Installed/abc-p1"),
        "oneagent_bootstrap fact:\n{}",
        fact.text
    );

    // A host whose tenant needs the network, with a token the cluster does not know.
    let wrong = puppet_manifest(&w, &wrong_token_file, "xyz-p2-web01", "present");
    let failed = apply("wrong token", &wrong);
    assert!(
        matches!(failed.code, 4 | 6),
        "a wrong token fails the run (4 or 6):\n{}",
        failed.text
    );
    assert!(
        failed.text.contains("error: looking up tenant 'xyz-p2'") && failed.text.contains("401"),
        "the binary's message is in Puppet's output:\n{}",
        failed.text
    );
    let report = std::fs::read_to_string(vardir.join("state/last_run_report.yaml"))
        .expect("Puppet's last run report");
    assert!(
        report.contains("error: looking up tenant ''xyz-p2''"),
        "the binary's message is in Puppet's report:\n{report}"
    );

    let absent = puppet_manifest(&w, &w.cluster_token_file, "abc-p1-web01", "absent");
    let removed = apply("absent", &absent);
    assert_eq!(
        removed.code, 2,
        "ensure => absent changes the host:\n{}",
        removed.text
    );
    assert!(!w.installed(), "OneAgent removed:\n{}", removed.text);
    assert!(!config.join("cluster-token").exists(), "token file removed");
    let again = apply("absent again", &absent);
    assert_eq!(again.code, 0, "absent is converged:\n{}", again.text);

    assert_no_secret(&w, "puppet apply", &outputs, &[&vardir]);
    assert_no_token_under(&w, &w.state);
}

/// The `changed=N` of the play recap.
fn recap_changed(text: &str) -> Option<u32> {
    let at = text.find("changed=")? + "changed=".len();
    let digits: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

#[test]
fn ansible_role_checks_converges_reports_failures_and_keeps_tokens_secret() {
    let Some(playbook) = tool(
        "ansible-playbook",
        "SKIP_ANSIBLE_TESTS",
        "pip install ansible-core (in a venv) and put its bin/ on PATH",
    ) else {
        return;
    };
    let w = World::new();
    let d = w.dir.path();
    let config = d.join("ansible-config");
    let binary = d.join("bin/oneagent-bootstrap");
    let wrong_token_file = d.join("wrong-token");
    std::fs::write(&wrong_token_file, WRONG_TOKEN).expect("wrong token");
    let play = d.join("play.yml");
    std::fs::write(
        &play,
        r#"- hosts: all
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  roles:
    - role: oneagent_bootstrap
  post_tasks:
    - name: Use the registered result
      ansible.builtin.debug:
        msg: "result tenant={{ oneagent_bootstrap_result.tenant }} exit={{ oneagent_bootstrap_result.exitCode }}"
"#,
    )
    .expect("playbook");
    let vars = |token_file: &Path, hostname: &str, ensure: &str| {
        serde_json::json!({
            "oneagent_bootstrap_ensure": ensure,
            "oneagent_bootstrap_cluster_url": w.sim.url(),
            "oneagent_bootstrap_cluster_token":
                std::fs::read_to_string(token_file).expect("token"),
            "oneagent_bootstrap_tenant_template": TEMPLATE,
            "oneagent_bootstrap_hostname_pattern": PATTERN,
            "oneagent_bootstrap_extra_facts": {"hostname": hostname},
            "oneagent_bootstrap_install_path": w.install,
            "oneagent_bootstrap_state_dir": w.state,
            "oneagent_bootstrap_config_dir": config,
            "oneagent_bootstrap_installer_ca_file": w.ca,
            "oneagent_bootstrap_proxy": proxy_url(),
            "oneagent_bootstrap_binary_src": BIN,
            "oneagent_bootstrap_binary_path": binary,
        })
    };
    let mut outputs = Vec::new();
    let mut play_run = |what: &str, vars: serde_json::Value, extra: &[&str]| -> Out {
        // Variables travel in a file (as from a vault), never on the command line.
        let file = d.join(format!("{}.json", what.replace(' ', "-")));
        std::fs::write(&file, vars.to_string()).expect("vars file");
        let out = run(Command::new(&playbook)
            .args(["-c", "local", "-i", "localhost,"])
            .arg(&play)
            .arg("-e")
            .arg(format!("@{}", file.display()))
            .args(extra)
            .env("ANSIBLE_ROLES_PATH", Path::new(REPO).join("ansible/roles"))
            .env("ANSIBLE_HOME", d.join("ansible-home"))
            .env("ANSIBLE_LOCAL_TEMP", d.join("ansible-tmp"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_RETRY_FILES_ENABLED", "0"));
        std::fs::remove_file(&file).expect("remove vars file");
        outputs.push((what.to_string(), out.text.clone()));
        out
    };
    let good = || vars(&w.cluster_token_file, "abc-p1-web01", "present");

    let check = play_run("check on a fresh host", good(), &["--check", "--diff"]);
    assert_eq!(check.code, 0, "{}", check.text);
    assert!(
        recap_changed(&check.text) >= Some(1),
        "--check reports changed:\n{}",
        check.text
    );
    assert!(
        check.text.contains("install OneAgent"),
        "--diff shows the plan:\n{}",
        check.text
    );
    assert!(!w.installed(), "--check installs nothing");
    for p in [&config, &binary, &w.state] {
        assert!(!p.exists(), "--check created {}", p.display());
    }
    std::fs::create_dir_all(binary.parent().expect("bin dir")).expect("bin dir");

    let first = play_run("first run", good(), &[]);
    assert_eq!(first.code, 0, "{}", first.text);
    assert!(
        recap_changed(&first.text) >= Some(1),
        "first run changed:\n{}",
        first.text
    );
    assert!(w.installed(), "OneAgent installed:\n{}", first.text);
    assert_eq!(w.oneagentctl(&["--get-tenant"]), "abc-p1");
    assert_eq!(
        w.oneagentctl(&["--get-proxy"]),
        proxy_url(),
        "the proxy reached OneAgent"
    );
    assert!(
        first.text.contains("result tenant=abc-p1 exit=2"),
        "{}",
        first.text
    );
    let metadata = w.oneagentctl(&["--get-deployment-metadata"]);
    assert!(
        metadata.contains("orchestration_tech=Ansible") && metadata.contains("tech_version=2."),
        "deployment metadata: {metadata}"
    );
    assert_eq!(mode(&config), 0o700);
    assert_eq!(mode(&config.join("cluster-token")), 0o600);

    w.sim.clear_requests();
    let second = play_run("second run", good(), &[]);
    assert_eq!(second.code, 0, "{}", second.text);
    assert_eq!(
        recap_changed(&second.text),
        Some(0),
        "converged:\n{}",
        second.text
    );
    assert!(
        second.text.contains("result tenant=abc-p1 exit=0"),
        "{}",
        second.text
    );
    let converged_check = play_run("check when converged", good(), &["--check"]);
    assert_eq!(
        recap_changed(&converged_check.text),
        Some(0),
        "{}",
        converged_check.text
    );
    assert_eq!(w.requests(), Vec::<String>::new(), "converged: no request");

    let wrong = vars(&wrong_token_file, "xyz-p2-web01", "present");
    let failed = play_run("wrong token", wrong, &[]);
    assert_ne!(
        failed.code, 0,
        "a wrong token fails the play:\n{}",
        failed.text
    );
    assert!(
        failed
            .text
            .contains("oneagent-bootstrap exited 4: looking up tenant 'xyz-p2'")
            && failed.text.contains("401"),
        "the binary's message fails the play:\n{}",
        failed.text
    );

    let absent = || vars(&w.cluster_token_file, "abc-p1-web01", "absent");
    let removed = play_run("absent", absent(), &[]);
    assert_eq!(removed.code, 0, "{}", removed.text);
    assert!(recap_changed(&removed.text) >= Some(1), "{}", removed.text);
    assert!(!w.installed(), "OneAgent removed:\n{}", removed.text);
    assert!(!config.join("cluster-token").exists(), "token file removed");
    let again = play_run("absent again", absent(), &[]);
    assert_eq!(
        recap_changed(&again.text),
        Some(0),
        "absent is converged:\n{}",
        again.text
    );

    assert_no_secret(&w, "ansible-playbook", &outputs, &[&d.join("ansible-home")]);
    assert_no_token_under(&w, &w.state);
}

#[test]
fn puppet_module_passes_parser_validate_and_puppet_lint() {
    let (Some(puppet), Some(lint)) = (
        tool("puppet", "SKIP_PUPPET_TESTS", "apt-get install puppet"),
        tool(
            "puppet-lint",
            "SKIP_PUPPET_TESTS",
            "apt-get install puppet-lint",
        ),
    ) else {
        return;
    };
    let module = Path::new(REPO).join("puppet");
    let manifests: Vec<PathBuf> = World::files_under(&module)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pp"))
        .collect();
    assert!(manifests.len() >= 2, "manifests found: {manifests:?}");
    let dir = tempfile::tempdir().expect("temp dir");
    let validate = run(Command::new(puppet)
        .args(["parser", "validate", "--color", "false", "--vardir"])
        .arg(dir.path())
        .args(&manifests));
    assert_eq!(
        validate.code, 0,
        "puppet parser validate:\n{}",
        validate.text
    );
    // Run from the module root so its .puppet-lint.rc applies.
    let lint = run(Command::new(lint).current_dir(&module).args([
        "--fail-on-warnings",
        "manifests",
        "types",
    ]));
    assert_eq!(lint.code, 0, "puppet-lint:\n{}", lint.text);
}

#[test]
fn ansible_role_passes_ansible_lint() {
    let Some(lint) = tool(
        "ansible-lint",
        "SKIP_ANSIBLE_TESTS",
        "pip install ansible-lint (in a venv) and put its bin/ on PATH",
    ) else {
        return;
    };
    let home = tempfile::tempdir().expect("temp dir");
    let out = run(Command::new(lint)
        .current_dir(Path::new(REPO).join("ansible"))
        .args([
            "--offline",
            "--strict",
            "--profile",
            "production",
            "--nocolor",
        ])
        .arg("roles/oneagent_bootstrap")
        .env("ANSIBLE_HOME", home.path())
        .env("XDG_CACHE_HOME", home.path()));
    assert_eq!(out.code, 0, "ansible-lint:\n{}", out.text);
}
