//! Drift of every managed setting, end to end: each field of `Settings` (src/settings.rs) has a
//! row; a field without one fails `every_settings_field_has_a_row`. For each row the host is
//! changed behind our back with oneagentctl, then `check` exits 2 naming the fix, `apply` exits
//! 2 making it with oneagentctl and no request, and the next `apply` exits 0 with no request.
//! The tenant and the version (in `Desired`, not `Settings`) are covered in tests/bootstrap.rs
//! (`wrong_tenant_is_repointed_without_download`, the upgrade tests).

mod harness;

use harness::World;

struct Row {
    /// The `Settings` field this row covers.
    field: &'static str,
    /// Options that make the setting managed (empty: managed by default).
    flags: &'static [&'static str],
    /// What someone else did on the host.
    drift: &'static str,
    /// The oneagentctl argument that puts it back.
    fix: &'static str,
    /// The getter and a line its output must hold afterwards.
    get: &'static str,
    want: &'static str,
}

const ROWS: &[Row] = &[
    Row {
        field: "host_group",
        flags: &["--host-group", "web"],
        drift: "--set-host-group=elsewhere",
        fix: "--set-host-group=web",
        get: "--get-host-group",
        want: "web",
    },
    Row {
        field: "network_zone",
        flags: &["--network-zone", "zone-a"],
        drift: "--set-network-zone=zone-b",
        fix: "--set-network-zone=zone-a",
        get: "--get-network-zone",
        want: "zone-a",
    },
    Row {
        field: "monitoring_mode",
        flags: &["--monitoring-mode", "infra-only"],
        drift: "--set-monitoring-mode=fullstack",
        fix: "--set-monitoring-mode=infra-only",
        get: "--get-monitoring-mode",
        want: "infra-only",
    },
    Row {
        field: "proxy",
        flags: &["--proxy", "http://proxy.example:3128"],
        drift: "--set-proxy=http://other.example:8080",
        fix: "--set-proxy=http://proxy.example:3128",
        get: "--get-proxy",
        want: "http://proxy.example:3128",
    },
    Row {
        field: "server",
        flags: &[
            "--connection-point",
            "https://ag.example:9999/communication",
        ],
        drift: "--set-server=https://other.example/communication",
        fix: "--set-server=https://ag.example:9999/communication",
        get: "--get-server",
        want: "https://ag.example:9999/communication",
    },
    Row {
        field: "host_tags",
        flags: &["--host-tag", "team=web"],
        drift: "--set-host-tag=stray",
        fix: "--remove-host-tag=stray",
        get: "--get-host-tags",
        want: "team=web",
    },
    Row {
        field: "host_properties",
        flags: &["--host-property", "role=web"],
        drift: "--set-host-property=role=db",
        fix: "--set-host-property=role=web",
        get: "--get-host-properties",
        want: "role=web",
    },
    Row {
        field: "deployment_metadata",
        flags: &[],
        drift: "--set-deployment-metadata=orchestration_tech=puppet",
        fix: "--set-deployment-metadata=orchestration_tech=oneagent-bootstrap",
        get: "--get-deployment-metadata",
        want: "orchestration_tech=oneagent-bootstrap",
    },
];

/// The field names of `pub struct Settings` as written in src/settings.rs.
fn settings_fields() -> Vec<String> {
    let src = include_str!("../src/settings.rs");
    let body = src
        .split_once("pub struct Settings {")
        .and_then(|(_, rest)| rest.split_once("\n}"))
        .map(|(body, _)| body)
        .expect("src/settings.rs declares `pub struct Settings { ... }`");
    body.lines()
        .filter_map(|l| l.trim().strip_prefix("pub "))
        .filter_map(|l| l.split_once(':').map(|(name, _)| name.trim().to_string()))
        .collect()
}

#[test]
fn every_settings_field_has_a_row() {
    let mut fields = settings_fields();
    let mut rows: Vec<String> = ROWS.iter().map(|r| r.field.to_string()).collect();
    fields.sort();
    rows.sort();
    assert!(fields.len() >= 8, "parsed too few fields: {fields:?}");
    assert_eq!(
        rows, fields,
        "tests/drift.rs needs exactly one row per Settings field"
    );
}

#[test]
fn drift_of_each_managed_setting_is_named_fixed_and_then_converged() {
    let w = World::new();
    let managed: Vec<&str> = ROWS.iter().flat_map(|r| r.flags.iter().copied()).collect();
    w.cmd("apply").args(&managed).run().code(2);
    for row in ROWS {
        w.oneagentctl(&[row.drift]);
        w.sim.clear_requests();
        let check = w.cmd("check").args(&managed).arg("--json").run();
        check.code(2).requests(&[]);
        let planned = check.json()["actions"].to_string();
        check.check(
            planned.contains(row.fix),
            &format!("{}: check does not plan {}", row.field, row.fix),
        );
        // Only this setting drifted: no other row's fix is planned.
        for other in ROWS.iter().filter(|o| o.field != row.field) {
            check.check(
                !planned.contains(other.fix),
                &format!("{}: check also plans {}", row.field, other.fix),
            );
        }
        let apply = w.cmd("apply").args(&managed).arg("--json").run();
        apply.code(2).requests(&[]);
        let done = apply.json()["actions"].to_string();
        apply.check(
            done.contains(row.fix) && done.contains("reconfigure"),
            &format!("{}: apply did not run {}", row.field, row.fix),
        );
        let now = w.oneagentctl(&[row.get]);
        assert!(
            now.lines().any(|l| l == row.want),
            "{}: {} says {now:?}, want {:?}",
            row.field,
            row.get,
            row.want
        );
        w.cmd("apply").args(&managed).run().code(0).requests(&[]);
    }
}
