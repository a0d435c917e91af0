//! Each option of section 7 (dynatrace-api.md), as the public docs "Customize OneAgent
//! installation on Linux" and "OneAgent configuration via command-line interface" describe it:
//! the installer and oneagentctl accept it, store it, read it back, and refuse what the real one
//! refuses.

use std::path::Path;

use super::{ctl, dash, get, install_with, installer, text, Variant, TOKEN, VERSIONS};

/// One single-valued setting: its default, values that read back as given (or as normalised),
/// and values refused.
struct Opt {
    name: &'static str,
    default: &'static str,
    good: &'static [(&'static str, &'static str)],
    bad: &'static [&'static str],
}

const LONG: &str = "a123456789b123456789c123456789d123456789e123456789f123456789g123456789h123456789i123456789j123456789k123456789l123456789m123456789n123456789o123456789p123456789q123456789r123456789s123456789t123456789u123456789v123456789w123456789x123456789y123456789z1234567";

const OPTS: &[Opt] = &[
    Opt {
        name: "no-proxy",
        default: "",
        good: &[("localhost,127.0.0.1,.internal", ""), ("", "")],
        bad: &[],
    },
    Opt {
        name: "proxy",
        default: "",
        good: &[("user:pw@172.1.1.128:8080", ""), ("", "")],
        bad: &[],
    },
    Opt {
        name: "system-logs-access-enabled",
        default: "true",
        good: &[("false", ""), ("true", "")],
        bad: &["yes", "1", ""],
    },
    Opt {
        name: "auto-update-enabled",
        default: "true",
        good: &[("false", "")],
        bad: &["on", ""],
    },
    Opt {
        name: "auto-injection-enabled",
        default: "true",
        good: &[("false", "")],
        bad: &["0", "TRUE"],
    },
    Opt {
        name: "app-log-content-access",
        default: "true",
        good: &[("0", "false"), ("1", "true"), ("false", "")],
        bad: &["yes", "2"],
    },
    Opt {
        name: "host-id-source",
        default: "auto",
        good: &[("fqdn", ""), ("ip-addresses;namespace=test-1.a_b", "")],
        bad: &[
            "dns",
            "auto;namespace=x",
            "fqdn;namespace=",
            "fqdn;namespace=a b",
            "mac-addresses;ns=x",
        ],
    },
    Opt {
        name: "watchdog-portrange",
        default: "50000:50100",
        good: &[("1024:1027", ""), ("60000:65535", "")],
        bad: &[
            "1024:1026",
            "1000:2000",
            "60000:50000",
            "50000",
            "50000:70000",
            "50000:5010x",
        ],
    },
    Opt {
        name: "extensions-ingest-port",
        default: "14499",
        good: &[("15000", "")],
        bad: &["0", "65536", "x", "0123", ""],
    },
    Opt {
        name: "extensions-statsd-port",
        default: "18125",
        good: &[("18126", "")],
        bad: &["-1", "18125 "],
    },
    Opt {
        name: "network-zone",
        default: "",
        good: &[("dc1.zone-A_2", ""), ("", "")],
        bad: &[".dc1", "a b", "zone/1", LONG],
    },
    Opt {
        name: "host-name",
        default: "",
        good: &[("web 01.example", ""), ("", "")],
        bad: &["a<b", "a>b", "a&b", "it's", "say\"x\"", "#web", LONG],
    },
    Opt {
        name: "host-group",
        default: "",
        good: &[("My.HostGroup_123-456", ""), ("", "")],
        bad: &["dt.x", "a b", "a/b"],
    },
    Opt {
        name: "monitoring-mode",
        default: "fullstack",
        good: &[("discovery", ""), ("infra-only", "")],
        bad: &["full-stack", ""],
    },
];

fn line(v: &str) -> String {
    format!("{v}\n")
}

/// Runs the installer for VERSIONS[1] with `args` under `dir`/bad; asserts exit 1, a message,
/// nothing written.
fn installer_refuses(dir: &Path, args: &[&str]) {
    let root = dir.join("bad");
    let root_arg = format!("INSTALL_PATH={}", root.display());
    let mut all = vec![root_arg.as_str()];
    all.extend_from_slice(args);
    let out = dash(&installer(dir, VERSIONS[1], Variant::Normal), &all);
    assert_eq!(out.status.code(), Some(1), "installer {args:?} should fail");
    assert!(!out.stderr.is_empty(), "installer {args:?}: no message");
    assert!(
        !root.exists(),
        "installer {args:?} wrote {}",
        root.display()
    );
}

#[test]
fn every_single_valued_option_is_stored_read_back_and_validated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = install_with(dir.path(), &[]);
    for o in OPTS {
        let getter = format!("--get-{}", o.name);
        assert_eq!(
            get(&root, &getter),
            line(o.default),
            "default of {}",
            o.name
        );
        for (value, shown) in o.good {
            let want = if shown.is_empty() { value } else { shown };
            let (code, _, err) = ctl(&root, &[&format!("--set-{}={value}", o.name)]);
            assert_eq!(code, 0, "oneagentctl --set-{}={value}: {err}", o.name);
            assert_eq!(get(&root, &getter), line(want), "--set-{}={value}", o.name);
        }
        let before = get(&root, &getter);
        for bad in o.bad {
            let arg = format!("--set-{}={bad}", o.name);
            let (code, _, err) = ctl(&root, &[&arg, "--set-host-tag=never"]);
            assert_eq!(code, 1, "oneagentctl {arg} should fail");
            assert!(!err.is_empty(), "oneagentctl {arg}: no message");
            assert_eq!(get(&root, &getter), before, "{arg} changed the value");
            installer_refuses(dir.path(), &[&arg]);
        }
    }
    assert_eq!(
        get(&root, "--get-host-tags"),
        "\n",
        "a refused call changed tags"
    );

    // The installer stores the same options (the last good value of each).
    let dir2 = tempfile::tempdir().expect("tempdir");
    let args: Vec<String> = OPTS
        .iter()
        .filter_map(|o| o.good.first().map(|(v, _)| format!("--set-{}={v}", o.name)))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let root2 = install_with(dir2.path(), &args);
    for o in OPTS {
        let (value, shown) = o.good[0];
        let want = if shown.is_empty() { value } else { shown };
        assert_eq!(get(&root2, &format!("--get-{}", o.name)), line(want));
    }
}

#[test]
fn deprecated_infra_only_is_the_monitoring_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = install_with(dir.path(), &["--set-infra-only=true"]);
    assert_eq!(get(&root, "--get-monitoring-mode"), "infra-only\n");
    assert_eq!(get(&root, "--get-infra-only"), "true\n");
    let (code, _, err) = ctl(&root, &["--set-infra-only=false"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(get(&root, "--get-monitoring-mode"), "fullstack\n");
    assert_eq!(get(&root, "--get-infra-only"), "false\n");
    let (code, _, _) = ctl(&root, &["--set-monitoring-mode=discovery"]);
    assert_eq!(code, 0);
    assert_eq!(get(&root, "--get-infra-only"), "false\n");
    let (code, _, _) = ctl(&root, &["--set-infra-only=yes"]);
    assert_eq!(code, 1);
    assert_eq!(get(&root, "--get-monitoring-mode"), "discovery\n");
    installer_refuses(dir.path(), &["--set-infra-only=1"]);
}

#[test]
fn fips_is_chosen_at_install_and_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = install_with(dir.path(), &[]);
    assert_eq!(get(&plain, "--get-fips-enabled"), "false\n");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = install_with(dir.path(), &["--set-fips-enabled=true"]);
    assert_eq!(get(&root, "--get-fips-enabled"), "true\n");
    let (code, _, err) = ctl(&root, &["--set-fips-enabled=false"]);
    assert_eq!(code, 1);
    assert!(err.contains("installer"), "{err}");
    assert_eq!(get(&root, "--get-fips-enabled"), "true\n");
    installer_refuses(dir.path(), &["--set-fips-enabled=on"]);
}

#[test]
fn host_id_tenant_token_and_help() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = install_with(dir.path(), &["--set-host-id-source=fqdn;namespace=prod"]);
    let id = get(&root, "--get-host-id");
    let hex = id.trim_end();
    assert!(
        hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "host id {id:?}"
    );
    assert_eq!(get(&root, "--get-host-id-source"), "fqdn;namespace=prod\n");
    assert_eq!(get(&root, "--get-tenant-token"), format!("{TOKEN}\n"));
    // An upgrade keeps the host ID; another host gets another one.
    let new = installer(dir.path(), VERSIONS[2], Variant::Normal);
    let out = dash(&new, &[&format!("INSTALL_PATH={}", root.display())]);
    assert!(out.status.success(), "upgrade: {}", text(&out.stderr));
    assert_eq!(get(&root, "--get-host-id"), id);
    let other = tempfile::tempdir().expect("tempdir");
    assert_ne!(get(&install_with(other.path(), &[]), "--get-host-id"), id);

    for help in ["--help", "-h"] {
        let (code, out, _) = ctl(&root, &[help]);
        assert_eq!(code, 0, "oneagentctl {help}");
        for word in [
            "no-proxy",
            "system-logs-access-enabled",
            "host-id-source",
            "--version",
        ] {
            assert!(out.contains(word), "oneagentctl {help} lacks {word}: {out}");
        }
    }
    let (code, out, _) = ctl(&root, &["-v"]);
    assert_eq!((code, out), (0, format!("{}\n", VERSIONS[2])));
    let (code, _, _) = ctl(&root, &["--get-host-id", "--help"]);
    assert_eq!(code, 1, "a getter with another option");
    let fresh = dir.path().join("fresh");
    let out = dash(
        &installer(dir.path(), VERSIONS[1], Variant::Normal),
        &[&format!("INSTALL_PATH={}", fresh.display()), "--help"],
    );
    assert!(out.status.success() && text(&out.stdout).contains("INSTALL_PATH"));
    assert!(!fresh.exists(), "installer --help installed");
}

#[test]
fn tags_and_properties_follow_the_documented_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = install_with(
        dir.path(),
        &[
            "--set-host-tag=role=fallback",
            "--set-host-tag=role=primary",
            "--set-host-tag=Gdansk",
            "--set-host-property=AppName",
            "--set-host-property=Environment=Dev",
        ],
    );
    // Tags may share a key; a key-only property is a property.
    assert_eq!(
        get(&root, "--get-host-tags"),
        "role=fallback\nrole=primary\nGdansk\n"
    );
    assert_eq!(
        get(&root, "--get-host-properties"),
        "AppName\nEnvironment=Dev\n"
    );
    let max = format!("k={}", &LONG[..254]);
    let (code, _, err) = ctl(&root, &[&format!("--set-host-tag={max}")]);
    assert_eq!(code, 0, "a 256-character tag: {err}");
    let (code, _, _) = ctl(&root, &[&format!("--remove-host-tag={max}")]);
    assert_eq!(code, 0);
    let too_long = format!("k={}", &LONG[..255]);
    for kind in ["host-tag", "host-property"] {
        for bad in [
            "two words",
            "#hash",
            "#k=v",
            "a=b=c",
            "=v",
            "tab\there",
            &too_long,
        ] {
            let arg = format!("--set-{kind}={bad}");
            let (code, _, err) = ctl(&root, &[&arg]);
            assert_eq!(code, 1, "oneagentctl {arg} should fail");
            assert!(!err.is_empty());
            installer_refuses(dir.path(), &[&arg]);
        }
    }
    // Removing something not set: non-zero, but what is set goes, and changes still apply.
    let (code, _, err) = ctl(
        &root,
        &[
            "--remove-host-tag=role=fallback",
            "--remove-host-tag=role",
            "--remove-host-tag=absent",
            "--set-host-tag=new",
            "--remove-host-property=Environment=Prod",
            "--remove-host-property=Missing",
        ],
    );
    assert_ne!(code, 0, "removing what is not set must fail");
    assert!(err.contains("absent") && err.contains("Missing"), "{err}");
    assert!(!err.contains("role=fallback"), "{err}");
    assert_eq!(get(&root, "--get-host-tags"), "role=primary\nGdansk\nnew\n");
    assert_eq!(get(&root, "--get-host-properties"), "AppName\n");
    // Removing exactly what is set succeeds.
    let (code, _, err) = ctl(
        &root,
        &[
            "--remove-host-tag=role=primary",
            "--remove-host-property=AppName",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(get(&root, "--get-host-properties"), "\n");
    let (code, _, _) = ctl(&root, &["--remove-host-property=AppName"]);
    assert_ne!(code, 0, "a property removed twice");
}

#[test]
fn installer_parameters_are_validated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("bad");
    let inside = format!("LOG_PATH={}/log", root.display());
    for bad in [
        &["LOG_PATH=relative/log"][..],
        &["DATA_STORAGE=/"],
        &["NON_ROOT_MODE=2"],
        &["DISABLE_ROOT_FALLBACK=yes"],
        &["SKIP_OS_SUPPORT_CHECK=1"],
        &["USER=ab"],
        &["USER=1000"],
        &["USER=dt user"],
        &["GROUP=dtgroup"],
        &[inside.as_str()],
    ] {
        installer_refuses(dir.path(), bad);
    }
    let out = dash(
        &installer(dir.path(), VERSIONS[1], Variant::Normal),
        &["INSTALL_PATH=/"],
    );
    assert_eq!(out.status.code(), Some(1), "INSTALL_PATH=/");

    let ok = tempfile::tempdir().expect("tempdir");
    let log = format!("LOG_PATH={}/log", ok.path().display());
    let data = format!("DATA_STORAGE={}/data", ok.path().display());
    let root = install_with(
        ok.path(),
        &[
            &log,
            &data,
            "NON_ROOT_MODE=1",
            "DISABLE_ROOT_FALLBACK=0",
            "USER=dtuser",
            "GROUP=dt.group-1",
            "SKIP_OS_SUPPORT_CHECK=true",
        ],
    );
    let conf = std::fs::read_to_string(root.join("agent/conf/installation.conf")).expect("conf");
    for want in [
        "NON_ROOT_MODE=1",
        "USER=dtuser",
        "GROUP=dt.group-1",
        "SKIP_OS_SUPPORT_CHECK=true",
    ] {
        assert!(conf.contains(want), "{want} not in {conf}");
    }
}
