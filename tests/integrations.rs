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
/// The password of the proxy OneAgent is given: no output, Puppet/Ansible file or file in the
/// state dir (last-install.log included) may hold it.
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

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

/// Prints the oneagent_bootstrap fact's state and tenant ("absent" without the fact).
const SHOW_FACT: &str = "$f = $facts['oneagent_bootstrap']
$state = $f.dig('state').lest || { 'absent' }
notice(\"fact=${state}/${f.dig('tenant')}\")
";

/// The user group the node-mode runs ask for (`tenant_groups`).
const OPERATORS: &str = "{customer}-{stage}-operators:VIEWER,AGENT_INSTALL";

#[track_caller]
fn assert_operators_group(w: &World) {
    assert_eq!(
        w.group("abc-p-operators")["accessRight"],
        serde_json::json!({"VIEWER": ["abc-p1"], "AGENT_INSTALL": ["abc-p1"]}),
        "tenant_groups reached the binary"
    );
}

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
  tenant_groups     => ['{OPERATORS}'],
  splay             => '1s',
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

/// `puppet apply` runs in a temp dir with the module on the modulepath; every output is kept
/// for the secret greps.
struct Puppet {
    bin: PathBuf,
    dir: PathBuf,
    vardir: PathBuf,
    outputs: Vec<(String, String)>,
}

impl Puppet {
    /// None when puppet is missing and SKIP_PUPPET_TESTS=1.
    fn new(w: &World) -> Option<Puppet> {
        let bin = tool(
            "puppet",
            "SKIP_PUPPET_TESTS",
            "apt-get install puppet puppet-lint",
        )?;
        let dir = w.dir.path().to_path_buf();
        let modules = dir.join("modules");
        std::fs::create_dir_all(&modules).expect("modules dir");
        std::os::unix::fs::symlink(
            Path::new(REPO).join("puppet"),
            modules.join("oneagent_bootstrap"),
        )
        .expect("module symlink");
        std::fs::create_dir_all(dir.join("bin")).expect("bin dir");
        Some(Puppet {
            bin,
            vardir: dir.join("puppet-var"),
            dir,
            outputs: Vec::new(),
        })
    }

    fn apply(&mut self, what: &str, manifest: &str) -> Out {
        let d = &self.dir;
        let file = d.join(format!("{}.pp", what.replace(' ', "-")));
        std::fs::write(&file, manifest).expect("manifest");
        let out = run(Command::new(&self.bin)
            .args(["apply", "--detailed-exitcodes", "--color", "false"])
            .arg("--modulepath")
            .arg(d.join("modules"))
            .arg("--vardir")
            .arg(&self.vardir)
            .arg("--confdir")
            .arg(d.join("puppet-conf"))
            .arg("--codedir")
            .arg(d.join("puppet-code"))
            .arg("--logdir")
            .arg(d.join("puppet-log"))
            .arg("--rundir")
            .arg(d.join("puppet-run"))
            .arg(&file)
            // Short waits between the server-side provision's user group writes and read-backs.
            .env("DT_GROUPS_SETTLE", "100ms"));
        self.outputs.push((what.to_string(), out.text.clone()));
        out
    }
}

#[test]
fn puppet_module_converges_reports_failures_and_keeps_tokens_secret() {
    let w = World::new();
    let Some(mut puppet) = Puppet::new(&w) else {
        return;
    };
    let d = w.dir.path();
    let wrong_token_file = wrong_token_file(&w);
    let vardir = puppet.vardir.clone();
    let puppet_bin = puppet.bin.clone();
    let config = d.join("puppet-config");
    let mut apply = |what: &str, manifest: &str| puppet.apply(what, manifest);
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
    assert_operators_group(&w);
    assert_eq!(
        w.oneagentctl(&["--get-proxy"]),
        proxy_url(),
        "the proxy reached OneAgent"
    );
    let metadata = w.oneagentctl(&["--get-deployment-metadata"]);
    let version = run(Command::new(&puppet_bin).arg("--version")).text;
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

    assert_no_secret(&w, "puppet apply", &puppet.outputs, &[&vardir, &w.state]);
}

/// A 0600 file holding WRONG_TOKEN (the binary refuses a token file others can read).
fn wrong_token_file(w: &World) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let file = w.dir.path().join("wrong-token");
    std::fs::write(&file, WRONG_TOKEN).expect("wrong token");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    file
}

/// A stand-in for the node's binary that records, for every run, its arguments and the
/// environment it was started with (/proc/self/environ of the shell), then runs the real one.
fn recording_binary(dir: &Path) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("recording-oneagent-bootstrap");
    let log = dir.join("node-runs.log");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n{{ echo \"argv: $*\"; tr '\\0' '\\n' </proc/$$/environ; }} >>'{log}'\nexec '{BIN}' \"$@\"\n",
            log = log.display()
        ),
    )
    .expect("recording binary");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (script, log)
}

/// The node side never saw the cluster token: not in the arguments or environment of any run
/// of its binary, not in any file of its config dir (what it reads besides the state dir).
#[track_caller]
fn assert_node_never_had_cluster_token(w: &World, log: &Path, config: &Path) {
    let runs = std::fs::read_to_string(log).expect("the node's binary ran");
    assert!(runs.contains("argv: apply"), "the node ran apply:\n{runs}");
    assert!(
        !runs.contains(&w.sim.cluster_token()),
        "the cluster token reached the node's binary:\n{runs}"
    );
    assert!(
        !runs.contains("cluster-token"),
        "the node's binary was pointed at a cluster token:\n{runs}"
    );
    for f in World::files_under(config) {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        assert!(
            !text.contains(&w.sim.cluster_token()),
            "the cluster token is on the node in {}",
            f.display()
        );
    }
}

fn puppet_server_manifest(
    w: &World,
    token_file: &Path,
    node_binary: &Path,
    hostname: &str,
) -> String {
    let d = w.dir.path().display();
    format!(
        r#"class {{ 'oneagent_bootstrap':
  provisioning              => 'server',
  server_cluster_token_file => '{token}',
  server_binary_path        => '{BIN}',
  cluster_url               => '{url}',
  tenant_template           => '{TEMPLATE}',
  hostname_pattern          => '{PATTERN}',
  tenant_groups             => ['{{customer}}-viewers:VIEWER'],
  tenant_group_ldap         => {{ '{{customer}}-viewers' => 'CN={{customer}}-viewers,OU=groups' }},
  extra_facts               => {{ 'hostname' => '{hostname}' }},
  install_path              => '{install}',
  state_dir                 => '{state}',
  config_dir                => '{d}/puppet-config',
  installer_ca_file         => '{ca}',
  proxy                     => Sensitive('{proxy}'),
  binary_source             => '{node}',
  binary_path               => '{d}/bin/oneagent-bootstrap',
}}
"#,
        url = w.sim.url(),
        token = token_file.display(),
        install = w.install.display(),
        state = w.state.display(),
        ca = w.ca.display(),
        proxy = proxy_url(),
        node = node_binary.display(),
    )
}

#[test]
fn puppet_server_provisioning_keeps_the_cluster_token_off_the_node() {
    let w = World::new();
    let Some(mut puppet) = Puppet::new(&w) else {
        return;
    };
    let (node_binary, log) = recording_binary(w.dir.path());
    let config = w.dir.path().join("puppet-config");
    let manifest = puppet_server_manifest(&w, &w.cluster_token_file, &node_binary, "abc-p1-web01");

    let first = puppet.apply("server first run", &manifest);
    assert_eq!(first.code, 2, "first run changes the host:\n{}", first.text);
    assert!(w.installed(), "OneAgent installed:\n{}", first.text);
    assert_eq!(w.oneagentctl(&["--get-tenant"]), "abc-p1");
    let viewers = w.group("abc-viewers");
    assert_eq!(
        viewers["accessRight"],
        serde_json::json!({"VIEWER": ["abc-p1"]}),
        "the server created the tenant's group"
    );
    assert_eq!(
        viewers["ldapGroupNames"],
        serde_json::json!(["CN=abc-viewers,OU=groups"])
    );
    assert!(
        !config.join("api-token").exists() && !config.join("cluster-token").exists(),
        "no token file is left on the node"
    );
    assert_node_never_had_cluster_token(&w, &log, &config);

    w.sim.clear_requests();
    let second = puppet.apply("server second run", &manifest);
    assert_eq!(
        second.code, 0,
        "a converged host reports no change:\n{}",
        second.text
    );
    assert_eq!(
        w.requests(),
        Vec::<String>::new(),
        "converged: no provision, no request"
    );

    // The node moves to another tenant: its fact no longer matches, so the server provisions.
    let moved = puppet_server_manifest(&w, &w.cluster_token_file, &node_binary, "abc-p2-web01");
    let repoint = puppet.apply("server repoint", &moved);
    assert_eq!(repoint.code, 2, "{}", repoint.text);
    assert_eq!(w.oneagentctl(&["--get-tenant"]), "abc-p2");
    assert_node_never_had_cluster_token(&w, &log, &config);

    // provision fails on the server: the compilation fails with its one-line error.
    let wrong = puppet_server_manifest(&w, &wrong_token_file(&w), &node_binary, "xyz-p3-web01");
    let failed = puppet.apply("server wrong token", &wrong);
    assert_ne!(failed.code, 0, "{}", failed.text);
    assert!(
        failed.text.contains(
            "provision for node xyz-p3-web01 on the Puppet server exited 4: looking up tenant 'xyz-p3'"
        ) && failed.text.contains("401"),
        "provision's error is in Puppet's output:\n{}",
        failed.text
    );

    let vardir = puppet.vardir.clone();
    assert_no_secret(
        &w,
        "puppet apply",
        &puppet.outputs,
        &[&vardir, &w.state, &config],
    );
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

/// `ansible-playbook -c local` runs of the role in a temp dir; every output is kept for the
/// secret greps.
struct Ansible {
    bin: PathBuf,
    dir: PathBuf,
    play: PathBuf,
    outputs: Vec<(String, String)>,
}

impl Ansible {
    /// None when ansible-playbook is missing and SKIP_ANSIBLE_TESTS=1.
    fn new(w: &World) -> Option<Ansible> {
        let bin = tool(
            "ansible-playbook",
            "SKIP_ANSIBLE_TESTS",
            "pip install ansible-core (in a venv) and put its bin/ on PATH",
        )?;
        let dir = w.dir.path().to_path_buf();
        let play = dir.join("play.yml");
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
        Some(Ansible {
            bin,
            dir,
            play,
            outputs: Vec::new(),
        })
    }

    fn run(&mut self, what: &str, vars: serde_json::Value, extra: &[&str]) -> Out {
        let d = &self.dir;
        // Variables travel in a file (as from a vault), never on the command line.
        let file = d.join(format!("{}.json", what.replace(' ', "-")));
        std::fs::write(&file, vars.to_string()).expect("vars file");
        let out = run(Command::new(&self.bin)
            .args(["-c", "local", "-i", "localhost,"])
            .arg(&self.play)
            .arg("-e")
            .arg(format!("@{}", file.display()))
            .args(extra)
            .env("ANSIBLE_ROLES_PATH", Path::new(REPO).join("ansible/roles"))
            .env("ANSIBLE_HOME", d.join("ansible-home"))
            .env("ANSIBLE_LOCAL_TEMP", d.join("ansible-tmp"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
            .env("ANSIBLE_PIPELINING", "1")
            // Short waits between the user group writes and read-backs.
            .env("DT_GROUPS_SETTLE", "100ms"));
        std::fs::remove_file(&file).expect("remove vars file");
        self.outputs.push((what.to_string(), out.text.clone()));
        out
    }
}

#[test]
fn ansible_role_checks_converges_reports_failures_and_keeps_tokens_secret() {
    let w = World::new();
    let Some(mut ansible) = Ansible::new(&w) else {
        return;
    };
    let d = w.dir.path();
    let config = d.join("ansible-config");
    let binary = d.join("bin/oneagent-bootstrap");
    let wrong_token_file = wrong_token_file(&w);
    let vars = |token_file: &Path, hostname: &str, ensure: &str| {
        serde_json::json!({
            "oneagent_bootstrap_ensure": ensure,
            "oneagent_bootstrap_cluster_url": w.sim.url(),
            "oneagent_bootstrap_cluster_token":
                std::fs::read_to_string(token_file).expect("token"),
            "oneagent_bootstrap_tenant_template": TEMPLATE,
            "oneagent_bootstrap_hostname_pattern": PATTERN,
            "oneagent_bootstrap_extra_facts": {"hostname": hostname},
            "oneagent_bootstrap_tenant_groups": [OPERATORS],
            "oneagent_bootstrap_splay": "1s",
            "oneagent_bootstrap_install_path": w.install,
            "oneagent_bootstrap_state_dir": w.state,
            "oneagent_bootstrap_config_dir": config,
            "oneagent_bootstrap_installer_ca_file": w.ca,
            "oneagent_bootstrap_proxy": proxy_url(),
            "oneagent_bootstrap_binary_src": BIN,
            "oneagent_bootstrap_binary_path": binary,
        })
    };
    let mut play_run =
        |what: &str, vars: serde_json::Value, extra: &[&str]| ansible.run(what, vars, extra);
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
    assert_operators_group(&w);
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

    assert_no_secret(
        &w,
        "ansible-playbook",
        &ansible.outputs,
        &[&d.join("ansible-home"), &w.state],
    );
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

#[test]
fn ansible_controller_provisioning_keeps_the_cluster_token_off_the_host() {
    let w = World::new();
    let Some(mut ansible) = Ansible::new(&w) else {
        return;
    };
    let d = w.dir.path();
    let config = d.join("ansible-config");
    let binary = d.join("bin/oneagent-bootstrap");
    std::fs::create_dir_all(d.join("bin")).expect("bin dir");
    let (node_binary, log) = recording_binary(d);
    let vars_with = |token: &str, hostname: &str| {
        serde_json::json!({
            "oneagent_bootstrap_provisioning": "controller",
            "oneagent_bootstrap_controller_binary_path": BIN,
            "oneagent_bootstrap_cluster_url": w.sim.url(),
            "oneagent_bootstrap_cluster_token": token,
            "oneagent_bootstrap_tenant_template": TEMPLATE,
            "oneagent_bootstrap_hostname_pattern": PATTERN,
            "oneagent_bootstrap_tenant_groups": ["{customer}-viewers:VIEWER"],
            "oneagent_bootstrap_tenant_group_ldap":
                {"{customer}-viewers": "CN={customer}-viewers,OU=groups"},
            "oneagent_bootstrap_extra_facts": {"hostname": hostname},
            "oneagent_bootstrap_install_path": w.install,
            "oneagent_bootstrap_state_dir": w.state,
            "oneagent_bootstrap_config_dir": config,
            "oneagent_bootstrap_installer_ca_file": w.ca,
            "oneagent_bootstrap_proxy": proxy_url(),
            "oneagent_bootstrap_binary_src": node_binary,
            "oneagent_bootstrap_binary_path": binary,
        })
    };
    let vars = |hostname: &str| vars_with(&w.sim.cluster_token(), hostname);

    let check = ansible.run("controller check", vars("abc-p1-web01"), &["--check"]);
    assert_eq!(check.code, 0, "{}", check.text);
    assert!(recap_changed(&check.text) >= Some(1), "{}", check.text);
    assert!(!w.installed(), "--check installs nothing");
    assert_eq!(
        w.requests(),
        Vec::<String>::new(),
        "--check provisions nothing"
    );

    let first = ansible.run("controller first run", vars("abc-p1-web01"), &[]);
    assert_eq!(first.code, 0, "{}", first.text);
    assert!(recap_changed(&first.text) >= Some(1), "{}", first.text);
    assert!(w.installed(), "OneAgent installed:\n{}", first.text);
    assert_eq!(w.oneagentctl(&["--get-tenant"]), "abc-p1");
    assert!(
        first.text.contains("result tenant=abc-p1 exit=2"),
        "{}",
        first.text
    );
    let viewers = w.group("abc-viewers");
    assert_eq!(
        viewers["accessRight"],
        serde_json::json!({"VIEWER": ["abc-p1"]}),
        "the controller created the tenant's group"
    );
    assert_eq!(
        viewers["ldapGroupNames"],
        serde_json::json!(["CN=abc-viewers,OU=groups"])
    );
    let requests = w.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("DELETE ") && r.contains("/apiTokens/")),
        "the controller revoked the handed-out token: {requests:?}"
    );
    assert!(
        !config.join("api-token").exists() && !config.join("cluster-token").exists(),
        "no token file is left on the host"
    );
    assert_node_never_had_cluster_token(&w, &log, &config);

    w.sim.clear_requests();
    let second = ansible.run("controller second run", vars("abc-p1-web01"), &[]);
    assert_eq!(second.code, 0, "{}", second.text);
    assert_eq!(recap_changed(&second.text), Some(0), "{}", second.text);
    assert_eq!(
        w.requests(),
        Vec::<String>::new(),
        "converged: no provision, no request"
    );

    let failed = ansible.run(
        "controller wrong token",
        vars_with(WRONG_TOKEN, "xyz-p3-web01"),
        &[],
    );
    assert_ne!(failed.code, 0, "{}", failed.text);
    assert!(
        failed.text.contains(
            "oneagent-bootstrap provision on the controller exited 4: looking up tenant 'xyz-p3'"
        ) && failed.text.contains("401"),
        "provision's error fails the play:\n{}",
        failed.text
    );

    assert_no_secret(
        &w,
        "ansible-playbook",
        &ansible.outputs,
        &[&d.join("ansible-home"), &w.state, &config],
    );
}

// ---- Installing our own package with the module and the role (issue 12) ----
//
// These need root and a built .deb, and change the host's dpkg database: scripts/package-check.sh
// runs them (`--ignored`) with PACKAGE_DEB set to the .deb it built, so the default `cargo test`
// leaves the host's packages alone.

/// The package name in our .deb and .rpm (Cargo.toml [package.metadata.deb]).
const PACKAGE: &str = "oneagent-bootstrap";

/// dpkg's database is the host's: one package test at a time.
static DPKG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The .deb under test (PACKAGE_DEB); None, said on stderr, when SKIP_PACKAGE_TESTS=1.
fn package_deb() -> Option<PathBuf> {
    match std::env::var_os("PACKAGE_DEB") {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var("SKIP_PACKAGE_TESTS").as_deref() == Ok("1") => {
            eprintln!("SKIPPED: PACKAGE_DEB is not set and SKIP_PACKAGE_TESTS=1");
            None
        }
        None => panic!(
            "PACKAGE_DEB is not set: scripts/package-check.sh builds the .deb and runs this test \
             as root, or set SKIP_PACKAGE_TESTS=1 to skip"
        ),
    }
}

/// The .deb, a world, and this test's turn at dpkg on a host without the package (purged again
/// when the turn is dropped).
type Turn = (Purged, std::sync::MutexGuard<'static, ()>);
fn package_turn() -> Option<(PathBuf, World, Turn)> {
    let deb = package_deb()?;
    let turn = DPKG.lock().unwrap_or_else(|e| e.into_inner());
    Some((deb, World::new(), (Purged::new(), turn)))
}

fn package_installed() -> bool {
    let out = run(Command::new("dpkg-query").args(["-W", "-f", "${Status}", PACKAGE]));
    out.code == 0 && out.text == "install ok installed"
}

/// The state dir the package's postinst creates; a purge leaves it.
const PACKAGE_STATE: &str = "/var/lib/oneagent-bootstrap";

/// Purges the package now and again when dropped, so each test starts from a host without it
/// and leaves none behind (even when it fails); also removes the state dir if the install made
/// it, since the module's fact and `check` would read a status.json there.
struct Purged {
    state_existed: bool,
}

impl Purged {
    fn new() -> Purged {
        Self::purge();
        assert!(!package_installed(), "{PACKAGE} is still installed");
        Purged {
            state_existed: Path::new(PACKAGE_STATE).exists(),
        }
    }

    fn purge() {
        let out = run(Command::new("dpkg").args(["--purge", PACKAGE]));
        assert_eq!(out.code, 0, "dpkg --purge {PACKAGE}:\n{}", out.text);
    }
}

impl Drop for Purged {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", PACKAGE]).output();
        if !self.state_existed {
            let _ = std::fs::remove_dir_all(PACKAGE_STATE);
        }
    }
}

/// The host after a first run from the package: installed by the tool, the binary where the
/// package puts it (the module's/role's default binary path then), OneAgent in the tenant.
#[track_caller]
fn assert_converged_from_package(w: &World, tool: &str, text: &str) {
    assert!(package_installed(), "{tool} installed {PACKAGE}:\n{text}");
    assert!(
        Path::new("/usr/bin/oneagent-bootstrap").is_file(),
        "the package's binary is in /usr/bin"
    );
    assert!(w.installed(), "OneAgent installed:\n{text}");
    assert_eq!(w.status_json()["tenant"], "abc-p1");
    assert_eq!(w.oneagentctl(&["--get-tenant"]), "abc-p1");
}

#[test]
#[ignore = "needs root and a .deb: scripts/package-check.sh runs it with PACKAGE_DEB"]
fn puppet_module_installs_our_deb_from_package_source_and_converges() {
    let Some((deb, w, _turn)) = package_turn() else {
        return;
    };
    let Some(mut puppet) = Puppet::new(&w) else {
        return;
    };
    // The usual manifest, with the package instead of binary_source/binary_path.
    let manifest: String = puppet_manifest(&w, &w.cluster_token_file, "abc-p1-web01", "present")
        .lines()
        .filter(|l| !l.trim_start().starts_with("binary_"))
        .map(|l| format!("{l}\n"))
        .collect();
    let manifest = manifest.replacen(
        "class { 'oneagent_bootstrap':\n",
        &format!(
            "class {{ 'oneagent_bootstrap':\n  package_name => '{PACKAGE}',\n  package_source => '{}',\n",
            deb.display()
        ),
        1,
    );
    assert!(manifest.contains("package_source") && !manifest.contains("binary_"));

    let first = puppet.apply("package first run", &manifest);
    assert_eq!(first.code, 2, "first run changes the host:\n{}", first.text);
    assert_converged_from_package(&w, "puppet", &first.text);

    w.sim.clear_requests();
    let second = puppet.apply("package second run", &manifest);
    assert_eq!(second.code, 0, "converged: no change:\n{}", second.text);
    assert_eq!(w.requests(), Vec::<String>::new(), "converged: no request");
    assert_no_secret(
        &w,
        "puppet apply",
        &puppet.outputs,
        &[&puppet.vardir, &w.state],
    );
}

#[test]
#[ignore = "needs root and a .deb: scripts/package-check.sh runs it with PACKAGE_DEB"]
fn ansible_role_installs_our_deb_from_package_src_and_converges() {
    let Some((deb, w, _turn)) = package_turn() else {
        return;
    };
    let Some(mut ansible) = Ansible::new(&w) else {
        return;
    };
    let vars = || {
        serde_json::json!({
            "oneagent_bootstrap_cluster_url": w.sim.url(),
            "oneagent_bootstrap_cluster_token": w.sim.cluster_token(),
            "oneagent_bootstrap_tenant_template": TEMPLATE,
            "oneagent_bootstrap_hostname_pattern": PATTERN,
            "oneagent_bootstrap_extra_facts": {"hostname": "abc-p1-web01"},
            "oneagent_bootstrap_install_path": w.install,
            "oneagent_bootstrap_state_dir": w.state,
            "oneagent_bootstrap_config_dir": w.dir.path().join("ansible-config"),
            "oneagent_bootstrap_installer_ca_file": w.ca,
            "oneagent_bootstrap_package_name": PACKAGE,
            "oneagent_bootstrap_package_src": deb,
        })
    };

    let first = ansible.run("package first run", vars(), &[]);
    assert_eq!(first.code, 0, "{}", first.text);
    assert!(
        recap_changed(&first.text) >= Some(1) && first.text.contains("result tenant=abc-p1 exit=2"),
        "first run changed:\n{}",
        first.text
    );
    assert_converged_from_package(&w, "ansible-playbook", &first.text);

    w.sim.clear_requests();
    let second = ansible.run("package second run", vars(), &[]);
    assert_eq!(second.code, 0, "{}", second.text);
    assert_eq!(
        recap_changed(&second.text),
        Some(0),
        "converged:\n{}",
        second.text
    );
    assert_eq!(w.requests(), Vec::<String>::new(), "converged: no request");
    let home = w.dir.path().join("ansible-home");
    assert_no_secret(&w, "ansible-playbook", &ansible.outputs, &[&home, &w.state]);
}

/// A package file without the package's name, or a package and a binary source at once, is
/// refused before anything is installed.
#[test]
fn module_and_role_refuse_a_package_source_without_its_name() {
    let w = World::new();
    let url = w.sim.url();
    if let Some(mut puppet) = Puppet::new(&w) {
        let source_only = format!(
            "class {{ 'oneagent_bootstrap': cluster_url => '{url}', package_source => '/tmp/x.deb' }}\n"
        );
        let out = puppet.apply("source without name", &source_only);
        assert_eq!(out.code, 1, "{}", out.text);
        assert!(
            out.text.contains("package_source needs package_name"),
            "{}",
            out.text
        );
        let both = format!(
            "class {{ 'oneagent_bootstrap': cluster_url => '{url}', package_name => '{PACKAGE}', \
             binary_source => '{BIN}' }}\n"
        );
        let out = puppet.apply("name and binary source", &both);
        assert_eq!(out.code, 1, "{}", out.text);
        assert!(
            out.text
                .contains("set binary_source or package_name, not both"),
            "{}",
            out.text
        );
    }
    if let Some(mut ansible) = Ansible::new(&w) {
        let refused = |vars: serde_json::Value, what: &str, ansible: &mut Ansible| {
            let out = ansible.run(what, vars, &[]);
            assert_ne!(out.code, 0, "{}", out.text);
            assert!(
                out.text.contains("needs oneagent_bootstrap_package_name")
                    && recap_changed(&out.text) == Some(0),
                "refused before any change:\n{}",
                out.text
            );
        };
        let src = serde_json::json!({"oneagent_bootstrap_cluster_url": url,
            "oneagent_bootstrap_package_src": "/tmp/x.deb"});
        refused(src, "source without name", &mut ansible);
        let both = serde_json::json!({"oneagent_bootstrap_cluster_url": url,
            "oneagent_bootstrap_package_name": PACKAGE, "oneagent_bootstrap_binary_src": BIN});
        refused(both, "name and binary source", &mut ansible);
    }
}
