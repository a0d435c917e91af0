//! Parity with Dynatrace's own tooling (issue 8): deployment metadata, the installer arch from
//! the host, air-gapped installs, a cheap `--upgrade`, and local work without credentials.

mod harness;

use harness::{World, V_MID, V_NEW};

const OURS: &str = env!("CARGO_PKG_VERSION");

fn metainfo_checks(w: &World) -> usize {
    w.requests()
        .iter()
        .filter(|r| r.ends_with("/latest/metainfo"))
        .count()
}

#[test]
fn deployment_metadata_is_installed_and_drift_is_repaired_without_requests() {
    let w = World::new();
    w.cmd("apply")
        .args(&["--deployment-metadata", "orchestration_tech=Puppet"])
        .args(&["--deployment-metadata", "tech_version=7.26.0"])
        .run()
        .code(2);
    let m = w.deployment_metadata();
    assert_eq!(m["orchestration_tech"], "Puppet", "{m:?}");
    assert_eq!(m["tech_version"], "7.26.0", "{m:?}");
    assert_eq!(m["script_version"], OURS, "{m:?}");

    // Defaults, and someone changed it by hand: fixed with oneagentctl, no request, and no
    // restart of the agent just to relabel it.
    w.oneagentctl(&["--set-deployment-metadata=orchestration_tech=Manual"]);
    let restarts = || std::fs::read_to_string(w.install.join("agent/conf/restarts")).ok();
    let before = restarts();
    w.sim.clear_requests();
    let fix = w.cmd("apply").arg("--json").run();
    fix.code(2).requests(&[]);
    assert_eq!(restarts(), before);
    assert_eq!(fix.json()["actions"][0]["kind"], "reconfigure");
    assert_eq!(
        w.deployment_metadata()["orchestration_tech"],
        "oneagent-bootstrap"
    );
    // Keys we do not manage stay as they are.
    assert_eq!(w.deployment_metadata()["tech_version"], "7.26.0");
    w.cmd("apply").run().code(0).requests(&[]);

    // An older bootstrapper's script_version is drift too.
    w.oneagentctl(&["--set-deployment-metadata=script_version=0.0.1"]);
    w.cmd("check").run().code(2).requests(&[]);
    w.cmd("apply").run().code(2).requests(&[]);
    assert_eq!(w.deployment_metadata()["script_version"], OURS);
}

#[test]
fn deployment_metadata_from_the_environment() {
    let w = World::new();
    w.cmd("apply")
        .env(
            "DT_DEPLOYMENT_METADATA",
            "orchestration_tech=Ansible,tech_version=1.2.5,team=a\\,b",
        )
        .run()
        .code(2);
    let m = w.deployment_metadata();
    assert_eq!(
        (m["orchestration_tech"].as_str(), m["tech_version"].as_str()),
        ("Ansible", "1.2.5"),
        "{m:?}"
    );
    assert_eq!(m["team"], "a,b", "'\\,' is a literal comma: {m:?}");
}

#[test]
fn an_upgrade_passes_the_deployment_metadata_again() {
    let w = World::new();
    w.cmd("apply").args(&["--version", V_MID]).run().code(2);
    w.cmd("apply")
        .args(&["--upgrade", "--deployment-metadata", "tech_version=2.0"])
        .run()
        .code(2);
    assert_eq!(w.oneagentctl(&["--version"]), V_NEW);
    let log = std::fs::read_to_string(w.state.join("last-install.log")).expect("install log");
    let first = log.lines().next().unwrap_or_default();
    assert!(
        first.contains("--set-deployment-metadata=tech_version=2.0")
            && first.contains(&format!("--set-deployment-metadata=script_version={OURS}")),
        "{first}"
    );
    assert_eq!(w.deployment_metadata()["tech_version"], "2.0");
}

#[test]
fn the_installer_arch_follows_the_arch_fact_and_arch_overrides() {
    for (args, want) in [
        (&["--fact", "arch=aarch64"][..], "arch=arm"),
        (&["--fact", "arch=s390x"][..], "arch=s390"),
        (
            &["--fact", "arch=riscv64", "--arch", "ppc64le"][..],
            "arch=ppcle",
        ),
    ] {
        let w = World::new();
        let run = w.cmd("apply").args(args).run();
        run.code(2);
        let log = w.sim.requests();
        let download = log
            .iter()
            .find(|r| r.path.contains("/installer/agent/unix/default/latest?"))
            .unwrap_or_else(|| panic!("no download{}", run.dump()));
        assert!(download.path.contains(want), "{args:?}: {}", download.path);
    }
}

#[test]
fn an_unsupported_arch_is_exit_3_before_any_request() {
    let w = World::new();
    w.cmd("apply")
        .args(&["--fact", "arch=riscv64"])
        .run()
        .code(3)
        .stderr_has("riscv64")
        .requests(&[]);
    assert!(!w.installed());
    w.cmd("apply")
        .args(&["--arch", "mips"])
        .run()
        .code(3)
        .stderr_has("--arch")
        .requests(&[]);
    // --upgrade asks for the target version for that arch: also refused before asking.
    w.cmd("apply").run().code(2);
    w.sim.clear_requests();
    w.cmd("apply")
        .args(&["--upgrade", "--fact", "arch=riscv64"])
        .run()
        .code(3)
        .requests(&[]);
}

#[test]
fn installer_file_installs_with_no_url_no_token_and_no_request() {
    let w = World::new();
    let file = w.installer_file("abc-p1");
    let file = file.display().to_string();
    let run = w
        .cmd("apply")
        .offline()
        .args(&["--installer-file", &file, "--json"])
        .run();
    run.code(2).requests(&[]);
    assert!(w.installed());
    assert_eq!(w.oneagentctl(&["--get-tenant"]), "abc-p1");
    assert_eq!(w.deployment_metadata()["script_version"], OURS);
    let j = run.json();
    assert_eq!(j["actions"][0]["kind"], "install");
    assert_eq!(j["requests"], 0);
    let sha = j["sha256"].as_str().expect("sha256").to_string();
    assert!(j["installerRoot"]
        .as_str()
        .is_some_and(|r| r.contains("dtsim")));
    assert!(
        std::path::Path::new(&file).exists(),
        "the operator's file stays"
    );
    // The copy in the private download dir is gone.
    assert!(!World::files_under(&w.state)
        .iter()
        .any(|p| p.display().to_string().contains(".download-")));

    // Same file, checked against --sha256 too: converged.
    w.cmd("apply")
        .offline()
        .args(&["--installer-file", &file, "--sha256", &sha])
        .run()
        .code(0)
        .requests(&[]);
}

#[test]
fn a_tampered_installer_file_is_exit_5_and_nothing_runs() {
    let w = World::new();
    let file = w.installer_file("abc-p1");
    let mut bytes = std::fs::read(&file).expect("installer");
    let at = bytes[200..]
        .iter()
        .position(|b| b.is_ascii_lowercase())
        .expect("a letter")
        + 200;
    bytes[at] = if bytes[at] == b'a' { b'b' } else { b'a' };
    std::fs::write(&file, &bytes).expect("tamper");
    let file = file.display().to_string();
    w.cmd("apply")
        .offline()
        .args(&["--installer-file", &file])
        .run()
        .code(5)
        .requests(&[]);
    assert!(!w.installed());
    assert!(!w.state.join("last-install.log").exists());

    // A good file with the wrong --sha256: also refused.
    let good = w.installer_file("abc-p1").display().to_string();
    w.cmd("apply")
        .offline()
        .args(&["--installer-file", &good, "--sha256", &"0".repeat(64)])
        .run()
        .code(5)
        .requests(&[]);
    assert!(!w.installed());

    // A missing file is a configuration error.
    w.cmd("apply")
        .offline()
        .args(&["--installer-file", "/nonexistent/installer.sh"])
        .run()
        .code(3)
        .stderr_has("--installer-file");
}

#[test]
fn converged_upgrade_runs_check_the_version_at_most_once_per_interval() {
    let w = World::new();
    w.cmd("apply").run().code(2);
    w.sim.clear_requests();
    let first = w.cmd("apply").arg("--upgrade").run();
    first.code(0);
    assert_eq!(metainfo_checks(&w), 1, "{}", first.dump());
    let asked = w.requests().len();
    w.sim.clear_requests();
    w.cmd("apply")
        .arg("--upgrade")
        .run()
        .code(0)
        .stderr_has("remembered")
        .requests(&[]);
    w.cmd("check").arg("--upgrade").run().code(0).requests(&[]);
    let cache = w.state.join("version-check.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&cache)
            .expect("version-check.json")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    println!("converged --upgrade with a cluster token: {asked} requests when checking, 0 between");

    // check asks when nothing is remembered, and writes nothing.
    std::fs::remove_file(&cache).expect("forget");
    w.cmd("check").arg("--upgrade").run().code(0);
    assert_eq!(metainfo_checks(&w), 1);
    assert!(!cache.exists(), "check wrote {}", cache.display());
    w.sim.clear_requests();

    // Interval over (0 s here): ask again.
    w.cmd("apply")
        .args(&["--upgrade", "--version-check-interval", "0s"])
        .run()
        .code(0);
    assert_eq!(metainfo_checks(&w), 1);
}

#[test]
fn with_an_installer_download_token_a_version_check_is_one_request() {
    let w = World::new();
    w.cmd("apply").run().code(2);
    let token = w.env_token("abc-p1", &["InstallerDownload"]);
    let run = w
        .cmd("apply")
        .without_cluster_token()
        .env("DT_API_TOKEN", &token)
        .args(&["--upgrade", "--version-check-interval", "0s"])
        .run();
    run.code(0).requests(&[
        "GET /e/abc-p1/api/v1/deployment/installer/agent/unix/default/latest/metainfo",
    ]);

    // A token without the scope (403 on metainfo) still works: lookup, mint, ask, revoke.
    let writer = w.env_token("abc-p1", &["apiTokens.write", "apiTokens.read"]);
    w.cmd("apply")
        .without_cluster_token()
        .env("DT_API_TOKEN", &writer)
        .args(&["--upgrade", "--version-check-interval", "0s"])
        .run()
        .code(0);
    assert_eq!(metainfo_checks(&w), 2, "{:?}", w.requests());
    assert!(w.requests().iter().any(|r| r.starts_with("DELETE")));
}

#[test]
fn local_work_needs_no_address_and_no_token() {
    let w = World::new();
    w.cmd("apply").arg("--host-group").arg("web").run().code(2);
    let local = |sub: &str| w.cmd(sub).offline();

    // Settings drift: fixed with oneagentctl, no request, no credentials.
    w.sim.clear_requests();
    local("check")
        .args(&["--host-group", "db"])
        .run()
        .code(2)
        .requests(&[]);
    local("apply")
        .args(&["--host-group", "db", "--host-tag", "env=prod"])
        .run()
        .code(2)
        .requests(&[]);
    assert_eq!(w.oneagentctl(&["--get-host-group"]), "db");
    local("apply")
        .args(&["--host-group", "db", "--host-tag", "env=prod"])
        .run()
        .code(0)
        .requests(&[]);
    local("check")
        .args(&["--host-group", "db", "--host-tag", "env=prod"])
        .run()
        .code(0)
        .requests(&[]);
    local("status").run().code(0).requests(&[]);

    // The tenant from the last status.json when no tenant is configured.
    w.bare(&[
        "apply",
        "--state-dir",
        &w.state.display().to_string(),
        "--install-path",
        &w.install.display().to_string(),
        "--host-group",
        "app",
    ])
    .run()
    .code(2)
    .requests(&[]);
    assert_eq!(w.oneagentctl(&["--get-host-group"]), "app");

    // What needs the network still says what is missing (exit 3, no request).
    local("apply")
        .args(&["--version", V_MID, "--allow-downgrade"])
        .run()
        .code(3)
        .stderr_has("--cluster-url")
        .requests(&[]);

    // Uninstall: no address, no token, no tenant.
    local("apply")
        .without("--tenant-template")
        .without("--hostname-pattern")
        .args(&["--ensure", "absent"])
        .run()
        .code(2)
        .requests(&[]);
    assert!(!w.installed());
    local("apply")
        .args(&["--ensure", "absent"])
        .run()
        .code(0)
        .requests(&[]);
}

/// Installing needs a tenant: with none configured and no earlier run to take it from, exit 3
/// naming the options, before any request.
#[test]
fn an_install_without_a_tenant_is_exit_3_before_any_request() {
    let w = World::new();
    w.cmd("apply")
        .without("--tenant-template")
        .run()
        .code(3)
        .stderr_has("no tenant: set --tenant (DT_TENANT) or --tenant-template")
        .requests(&[]);
    assert!(!w.installed());
}

/// A cluster token without the cluster's address (the API URL alone cannot create or check a
/// tenant): exit 3 naming `--cluster-url`, before any request, also for the root the
/// signature check would fetch.
#[test]
fn a_cluster_token_without_a_cluster_url_is_exit_3_before_any_request() {
    let w = World::new();
    let api = format!("{}/e/abc-p1", w.sim.url());
    for trust in [true, false] {
        let mut run = w
            .cmd("apply")
            .without("--cluster-url")
            .args(&["--api-url", &api]);
        if !trust {
            run = run.without("--installer-ca-file");
        }
        run.run()
            .code(3)
            .stderr_has("a cluster token is set but no --cluster-url (DT_CLUSTER_URL)")
            .requests(&[]);
    }
    assert!(!w.installed());
}
