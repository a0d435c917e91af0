//! Section 3: the Deployment API (installers, metainfo, versions, connectioninfo).

use dtsim::installer::VERSIONS;
use serde_json::json;

use crate::common::{id_of, Sim};

const AGENT: &str = "/e/abc-p1/api/v1/deployment/installer/agent";

#[test]
fn latest_download_with_etag_and_304() {
    let s = Sim::new();
    let tok = s.env_with_token("abc-p1");
    let r = s.get(&format!("{AGENT}/unix/default/latest"), Some(&tok));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(
        r.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        r.bytes.len()
    );
    let etag = r.header("etag").unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let text = String::from_utf8_lossy(&r.bytes);
    assert!(text.starts_with("#!/bin/sh"));
    assert!(
        text.contains(VERSIONS[2]),
        "latest is the newest by default"
    );
    assert!(text.contains("----SIGNED-INSTALLER"));
    // The installer embeds the tenant's connection info.
    let ci = s.get(&format!("{AGENT}/connectioninfo"), Some(&tok)).json();
    assert!(text.contains(ci["tenantToken"].as_str().unwrap()));

    // Same content again: same ETag. If-None-Match -> 304, no body.
    let again = s.get(&format!("{AGENT}/unix/default/latest?arch=x86"), Some(&tok));
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    assert_eq!(again.bytes, r.bytes);
    let r304 = s.call_with(
        "GET",
        &format!("{AGENT}/unix/default/latest"),
        Some(&tok),
        None,
        &[("If-None-Match", &etag)],
    );
    assert_eq!(r304.status, 304);
    assert!(r304.bytes.is_empty());
    assert_eq!(r304.header("etag"), Some(etag.as_str()));
    let stale = s.call_with(
        "GET",
        &format!("{AGENT}/unix/default/latest"),
        Some(&tok),
        None,
        &[("If-None-Match", "\"other\"")],
    );
    assert_eq!(stale.status, 200);

    // version/{v}: the newest equals latest; an older one differs.
    let newest = s.get(
        &format!("{AGENT}/unix/default/version/{}", VERSIONS[2]),
        Some(&tok),
    );
    assert_eq!(newest.header("etag"), Some(etag.as_str()));
    let old = s.get(
        &format!("{AGENT}/unix/default/version/{}", VERSIONS[0]),
        Some(&tok),
    );
    assert_eq!(old.status, 200);
    assert_ne!(old.header("etag"), Some(etag.as_str()));
    assert!(String::from_utf8_lossy(&old.bytes).contains(VERSIONS[0]));
    s.get(
        &format!("{AGENT}/unix/default/version/1.2.3.20200101-000000"),
        Some(&tok),
    )
    .assert_error(404, "1.2.3.20200101-000000");

    // arm is a different installer.
    let arm = s.get(&format!("{AGENT}/unix/default/latest?arch=arm"), Some(&tok));
    assert_eq!(arm.status, 200);
    assert_ne!(arm.header("etag"), Some(etag.as_str()));
}

#[test]
fn parameters_and_kinds() {
    let s = Sim::new();
    let tok = s.env_with_token("abc-p1");
    let ok = format!("{AGENT}/unix/default/latest?arch=x86&flavor=default&bitness=64&include=java&include=apache&skipMetadata=true&networkZone=eu");
    assert_eq!(s.get(&ok, Some(&tok)).status, 200);
    for (q, needle) in [
        ("arch=mips", "arch"),
        ("flavor=fancy", "flavor"),
        ("bitness=16", "bitness"),
        ("skipMetadata=perhaps", "skipMetadata"),
    ] {
        let v = s
            .get(&format!("{AGENT}/unix/default/latest?{q}"), Some(&tok))
            .assert_error(400, needle);
        assert_eq!(
            v["error"]["constraintViolations"][0]["parameterLocation"],
            "QUERY"
        );
    }
    s.get(&format!("{AGENT}/unix/default/latest?arch=ppc"), Some(&tok))
        .assert_error(404, "arch ppc");
    s.get(&format!("{AGENT}/windows/default/latest"), Some(&tok))
        .assert_error(404, "windows");
    s.get(&format!("{AGENT}/unix/paas/latest"), Some(&tok))
        .assert_error(404, "paas");
    s.get(&format!("{AGENT}/beos/default/latest"), Some(&tok))
        .assert_error(400, "osType");
    s.get(&format!("{AGENT}/unix/fancy/latest"), Some(&tok))
        .assert_error(400, "installerType");
    s.get(&format!("{AGENT}/unix/default/nightly"), Some(&tok))
        .assert_error(404, "No such API");
    s.post(
        &format!("{AGENT}/unix/default/latest"),
        Some(&tok),
        &json!({}),
    )
    .assert_error(405, "GET");
}

#[test]
fn metainfo_versions_connectioninfo() {
    let s = Sim::new();
    let tok = s.env_with_token("abc-p1");
    let v = s
        .get(
            &format!("{AGENT}/unix/default/latest/metainfo?arch=x86"),
            Some(&tok),
        )
        .assert_json(200);
    assert_eq!(v, json!({"latestAgentVersion": VERSIONS[2]}));
    let v = s
        .get(&format!("{AGENT}/versions/unix/default"), Some(&tok))
        .assert_json(200);
    assert_eq!(v, json!({"availableVersions": VERSIONS}));
    s.get(&format!("{AGENT}/versions/windows/default"), Some(&tok))
        .assert_error(404, "windows");
    let v = s
        .get(&format!("{AGENT}/connectioninfo"), Some(&tok))
        .assert_json(200);
    assert_eq!(v["tenantUUID"], "abc-p1");
    let tt = v["tenantToken"].as_str().unwrap();
    assert!(tt.len() >= 16 && !tt.starts_with("dt0c01"));
    let ep = format!("{}/communication", s.sim.url());
    assert_eq!(v["communicationEndpoints"], json!([ep]));
    assert_eq!(v["formattedCommunicationEndpoints"], ep);
}

#[test]
fn installer_download_scope_and_auth() {
    let s = Sim::new();
    let mgmt = s.env("abc-p1");
    let reader = s.token("abc-p1", &mgmt, &["apiTokens.read"]);
    for path in [
        format!("{AGENT}/unix/default/latest"),
        format!("{AGENT}/unix/default/latest/metainfo"),
        format!("{AGENT}/unix/default/version/{}", VERSIONS[0]),
        format!("{AGENT}/versions/unix/default"),
        format!("{AGENT}/connectioninfo"),
    ] {
        s.get(&path, Some(&reader))
            .assert_error(403, "InstallerDownload");
        s.get(&path, None)
            .assert_error(401, "Missing authorization parameter.");
        s.get(&path, Some(&s.cluster()))
            .assert_error(401, "Token Authentication failed");
    }
    // The token can be given as a query parameter; the log never shows it.
    let inst = s.token("abc-p1", &mgmt, &["InstallerDownload"]);
    assert_eq!(
        s.get(&format!("{AGENT}/connectioninfo?api-token={inst}"), None)
            .status,
        200
    );
    let last = s.sim.requests().pop().unwrap();
    assert_eq!(last.path, format!("{AGENT}/connectioninfo"));
    assert_eq!(last.token_id.as_deref(), Some(id_of(&inst).as_str()));
}

#[test]
fn installer_size_pads_the_download() {
    let s = Sim::with(dtsim::Options {
        installer_size: Some(3 << 20),
        ..Default::default()
    });
    let tok = s.env_with_token("abc-p1");
    let r = s.get(&format!("{AGENT}/unix/default/latest"), Some(&tok));
    assert_eq!(r.status, 200);
    let n = r.bytes.len() as i64;
    assert!((n - (3 << 20)).abs() < 64 << 10, "about 3 MiB, got {n}");
    assert_eq!(
        r.header("content-length").unwrap().parse::<i64>().unwrap(),
        n
    );
}

/// Section 7: Linux installers exist for x86, arm (aarch64), ppcle and s390; metainfo and the
/// download agree on which arches are served.
#[test]
fn every_linux_arch_has_metainfo_and_an_installer() {
    let s = Sim::new();
    let tok = s.env_with_token("abc-p1");
    let mut etags = Vec::new();
    for arch in ["x86", "arm", "ppcle", "s390"] {
        let v = s
            .get(
                &format!("{AGENT}/unix/default/latest/metainfo?arch={arch}"),
                Some(&tok),
            )
            .assert_json(200);
        assert_eq!(v, json!({"latestAgentVersion": VERSIONS[2]}), "{arch}");
        for path in [
            format!("{AGENT}/unix/default/latest?arch={arch}"),
            format!("{AGENT}/unix/default/version/{}?arch={arch}", VERSIONS[0]),
        ] {
            let r = s.get(&path, Some(&tok));
            assert_eq!(r.status, 200, "{path}");
            let text = String::from_utf8_lossy(&r.bytes);
            assert!(text.contains(&format!("DT_ARCH='{arch}'")), "{path}");
            let disposition = r.header("content-disposition").unwrap_or_default();
            assert!(
                disposition.contains(&format!("-Linux-{arch}-")),
                "{disposition}"
            );
            etags.push(r.header("etag").unwrap().to_string());
        }
    }
    etags.sort();
    etags.dedup();
    assert_eq!(etags.len(), 8, "each arch and version is its own installer");
    // Documented arches with no Linux installer: both answer 404, never 200 then 404.
    for arch in ["ppc", "sparc", "all"] {
        s.get(
            &format!("{AGENT}/unix/default/latest/metainfo?arch={arch}"),
            Some(&tok),
        )
        .assert_error(404, &format!("arch {arch}"));
        s.get(
            &format!("{AGENT}/unix/default/latest?arch={arch}"),
            Some(&tok),
        )
        .assert_error(404, &format!("arch {arch}"));
    }
}

/// Runs `dash FILE ARGS`; (exit code, stdout, stderr).
fn run(file: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new("dash")
        .arg(file)
        .args(args)
        .output()
        .expect("running dash");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The downloaded installer of every arch installs an oneagentctl that answers as "OneAgent
/// configuration via command-line interface" documents: --help, --get-tenant-token (the
/// connectioninfo token), --get/--set-no-proxy, --get-system-logs-access-enabled, --get-host-id,
/// --get-host-id-source, --get-fips-enabled; removing a property or tag that is not set exits
/// non-zero; host tags with whitespace or a leading '#' are refused.
#[test]
fn downloaded_installer_gives_the_documented_oneagentctl() {
    let s = Sim::new();
    let tok = s.env_with_token("abc-p1");
    let ci = s.get(&format!("{AGENT}/connectioninfo"), Some(&tok)).json();
    let dir = tempfile::tempdir().expect("tempdir");
    for arch in ["x86", "arm", "ppcle", "s390"] {
        let r = s.get(
            &format!("{AGENT}/unix/default/latest?arch={arch}"),
            Some(&tok),
        );
        assert_eq!(r.status, 200);
        let file = dir.path().join(format!("installer-{arch}.sh"));
        std::fs::write(&file, &r.bytes).expect("writing the installer");
        let root = dir.path().join(arch);
        let (code, _, err) = run(
            &file,
            &[
                &format!("INSTALL_PATH={}", root.display()),
                "--set-no-proxy=localhost",
                "--set-system-logs-access-enabled=false",
                "--set-deployment-metadata=orchestration_tech=Ansible",
            ],
        );
        assert_eq!(code, 0, "installing the {arch} installer: {err}");
        let arch_file = std::fs::read_to_string(root.join("agent/conf/arch")).expect("arch");
        assert_eq!(arch_file, format!("{arch}\n"));
        let ctl = root.join("agent/tools/oneagentctl");
        let get = |flag: &str| {
            let (code, out, err) = run(&ctl, &[flag]);
            assert_eq!(code, 0, "oneagentctl {flag}: {err}");
            out
        };
        assert!(get("--help").contains("--get-tenant-token"));
        let token = ci["tenantToken"].as_str().expect("tenantToken");
        assert_eq!(get("--get-tenant-token"), format!("{token}\n"));
        assert_eq!(get("--get-no-proxy"), "localhost\n");
        assert_eq!(get("--get-system-logs-access-enabled"), "false\n");
        assert_eq!(get("--get-fips-enabled"), "false\n");
        assert_eq!(get("--get-host-id-source"), "auto\n");
        assert_eq!(get("--get-host-id").trim_end().len(), 16);
        assert_eq!(
            get("--get-deployment-metadata"),
            "orchestration_tech=Ansible\n"
        );
        assert_eq!(run(&ctl, &["--set-no-proxy=.internal"]).0, 0);
        assert_eq!(get("--get-no-proxy"), ".internal\n");
        assert_ne!(run(&ctl, &["--remove-host-property=Absent"]).0, 0);
        assert_ne!(run(&ctl, &["--remove-host-tag=absent"]).0, 0);
        for bad in ["--set-host-tag=two words", "--set-host-tag=#hash"] {
            assert_eq!(run(&ctl, &[bad]).0, 1, "{bad}");
        }
        assert_eq!(get("--get-host-tags"), "\n");
    }
}
