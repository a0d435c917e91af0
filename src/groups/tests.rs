use std::cell::RefCell;
use std::time::Duration;

use serde_json::json;

use super::sync::{self, Api};
use super::*;
use crate::error::kind_of;

fn wanted(name: &str, perms: &[&str]) -> Wanted {
    Wanted {
        name: name.into(),
        permissions: perms.iter().map(|p| p.to_string()).collect(),
        ..Wanted::default()
    }
}

#[test]
fn group_flags_parse_and_unknown_permissions_are_config_errors() {
    let g = parse_group("{customer}-{stage}-operators:VIEWER, MANAGE_SETTINGS,VIEWER").unwrap();
    assert_eq!(g.template, "{customer}-{stage}-operators");
    assert_eq!(g.permissions, vec!["VIEWER", "MANAGE_SETTINGS"]);
    // The last ':' splits: names may hold colons.
    assert_eq!(parse_group("ops: a:VIEWER").unwrap().template, "ops: a");
    for bad in [
        "viewers",
        ":VIEWER",
        "viewers:",
        "viewers:VIEWER,",
        "viewers:viewer",
        "viewers:MANAGE_SUPPORT_TICKETS",
    ] {
        let err = parse_group(bad).unwrap_err();
        assert_eq!(kind_of(&err), Kind::Config, "{bad}");
        assert!(err.to_string().contains("--tenant-group"), "{err}");
    }
    let m = parse_mapping("{customer}-viewers=CN=abc,OU=groups", "--tenant-group-ldap").unwrap();
    assert_eq!(m.group, "{customer}-viewers");
    assert_eq!(m.external, "CN=abc,OU=groups");
    for bad in ["x", "=y", "x=", " = "] {
        assert!(parse_mapping(bad, "--tenant-group-sso").is_err(), "{bad}");
    }
}

#[test]
fn names_render_from_facts_and_mappings_must_name_a_group() {
    let mut facts = Facts::default();
    facts.set("customer", "abc", Source::Flag);
    facts.set("stage", "p", Source::Flag);
    let spec = GroupsSpec {
        groups: vec![
            parse_group("{customer}-viewers:VIEWER").unwrap(),
            parse_group("{tenant}-ops:AGENT_INSTALL").unwrap(),
            parse_group("{customer}-viewers:LOG_VIEWER").unwrap(),
        ],
        ldap: vec![
            parse_mapping("{customer}-viewers=CN={customer}", "--tenant-group-ldap").unwrap(),
        ],
        ..GroupsSpec::default()
    };
    let got = render(&spec, &facts, "abc-p1").unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].name, "abc-viewers");
    assert_eq!(
        got[0].permissions.iter().collect::<Vec<_>>(),
        ["LOG_VIEWER", "VIEWER"]
    );
    assert_eq!(got[0].ldap.iter().collect::<Vec<_>>(), ["CN=abc"]);
    assert_eq!(got[1].name, "abc-p1-ops");

    let mut stray = spec.clone();
    stray.sso = vec![parse_mapping("nobody=x", "--tenant-group-sso").unwrap()];
    let err = render(&stray, &facts, "abc-p1").unwrap_err();
    assert_eq!(kind_of(&err), Kind::Config);
    assert!(
        err.to_string().contains("no --tenant-group is named"),
        "{err}"
    );

    let mut missing = spec.clone();
    missing.ldap.clear();
    missing.groups = vec![parse_group("{region}-x:VIEWER").unwrap()];
    assert_eq!(
        kind_of(&render(&missing, &facts, "t").unwrap_err()),
        Kind::Config
    );
    missing.groups = vec![parse_group("{stage|first}--:VIEWER").unwrap()];
    assert!(render(&missing, &facts, "t").is_ok());
    missing.groups = vec![parse_group("--:VIEWER").unwrap()];
    assert_eq!(
        kind_of(&render(&missing, &facts, "t").unwrap_err()),
        Kind::Config
    );
}

/// The merge as a table: (existing group, wanted permissions, expected accessRight after,
/// expected added permissions).
#[test]
fn merge_only_adds_and_keeps_everything_else() {
    let base = |rights: Value| {
        json!({"id": "abcviewers", "name": "abc-viewers", "isClusterAdminGroup": false,
               "ldapGroupNames": ["CN=x"], "future": {"kept": true}, "accessRight": rights})
    };
    let table: Vec<(Value, &[&str], Value, &[&str])> = vec![
        // Nothing yet: both added.
        (
            base(json!({})),
            &["VIEWER", "AGENT_INSTALL"],
            json!({"VIEWER": ["t1"], "AGENT_INSTALL": ["t1"]}),
            &["AGENT_INSTALL", "VIEWER"],
        ),
        // Other environments stay, ours is appended.
        (
            base(json!({"VIEWER": ["t0"], "LOG_VIEWER": ["t0"]})),
            &["VIEWER"],
            json!({"VIEWER": ["t0", "t1"], "LOG_VIEWER": ["t0"]}),
            &["VIEWER"],
        ),
        // Already there: no change, extra rights on our tenant kept.
        (
            base(json!({"VIEWER": ["t1"], "MANAGE_SETTINGS": ["t1"]})),
            &["VIEWER"],
            json!({"VIEWER": ["t1"], "MANAGE_SETTINGS": ["t1"]}),
            &[],
        ),
        // A null accessRight or list is an empty one.
        (
            base(Value::Null),
            &["VIEWER"],
            json!({"VIEWER": ["t1"]}),
            &["VIEWER"],
        ),
        (
            base(json!({"VIEWER": null})),
            &["VIEWER"],
            json!({"VIEWER": ["t1"]}),
            &["VIEWER"],
        ),
    ];
    for (existing, perms, rights, added) in table {
        let (after, got) = merge(&existing, &wanted("abc-viewers", perms), "t1").unwrap();
        assert_eq!(after["accessRight"], rights, "{existing}");
        assert_eq!(got.permissions, added, "{existing}");
        for keep in [
            "id",
            "name",
            "isClusterAdminGroup",
            "ldapGroupNames",
            "future",
        ] {
            assert_eq!(after[keep], existing[keep], "{keep} of {existing}");
        }
    }
    for odd in [
        json!([]),
        json!({"name": "g", "accessRight": []}),
        json!({"name": "g", "accessRight": {"VIEWER": "t0"}}),
    ] {
        assert!(
            merge(&odd, &wanted("g", &["VIEWER"]), "t1").is_err(),
            "{odd}"
        );
    }
}

#[test]
fn ldap_and_sso_names_are_added_once() {
    let mut w = wanted("g", &["VIEWER"]);
    w.ldap.insert("CN=a".into());
    w.sso.insert("sso-a".into());
    let g = json!({"id": "g", "name": "g", "ldapGroupNames": ["CN=a", "CN=b"],
                   "accessRight": {"VIEWER": ["t1"]}});
    let (after, added) = merge(&g, &w, "t1").unwrap();
    assert_eq!(after["ldapGroupNames"], json!(["CN=a", "CN=b"]));
    assert_eq!(after["ssoGroupNames"], json!(["sso-a"]));
    assert_eq!(added.sso, vec!["sso-a"]);
    assert!(added.permissions.is_empty() && added.ldap.is_empty());
}

#[test]
fn plan_creates_updates_or_leaves_alone() {
    let existing = vec![
        json!({"id": "abcviewers", "name": "abc-viewers", "accessRight": {"VIEWER": ["abc-p1"]}}),
        json!({"id": "abcops", "name": "ABC-ops", "accessRight": {}}),
    ];
    let steps = plan(
        &[
            wanted("abc-viewers", &["VIEWER"]),
            wanted("abc-ops", &["AGENT_INSTALL"]),
            wanted("abc-new", &["VIEWER", "LOG_VIEWER"]),
        ],
        "abc-p1",
        &existing,
    )
    .unwrap();
    let shown: Vec<String> = steps
        .iter()
        .map(|s| format!("{}: {}", s.kind(), Described(s, "abc-p1")))
        .collect();
    assert_eq!(
        shown,
        [
            "update-group: update user group 'abc-ops': add AGENT_INSTALL on abc-p1",
            "create-group: create user group 'abc-new': add LOG_VIEWER, VIEWER on abc-p1",
        ]
    );
    let Step::Create { body, .. } = &steps[1] else {
        panic!("{steps:?}")
    };
    assert_eq!(
        body["accessRight"],
        json!({"LOG_VIEWER": ["abc-p1"], "VIEWER": ["abc-p1"]})
    );
    assert!(body.get("id").is_none());
}

/// An in-memory cluster with a racer whose PUTs land right after ours, built from a read taken
/// before ours (a lost update).
#[derive(Default)]
struct Fake {
    groups: RefCell<Vec<Value>>,
    /// Stale bodies the racer writes, one after each of our writes.
    racer: RefCell<Vec<Value>>,
    /// Created by a racer between our list and our POST.
    created_after_list: RefCell<Option<Value>>,
    log: RefCell<Vec<String>>,
}

impl Fake {
    fn put(&self, body: &Value) {
        let mut gs = self.groups.borrow_mut();
        let id = body["id"].clone();
        match gs.iter_mut().find(|g| g["id"] == id) {
            Some(g) => *g = body.clone(),
            None => gs.push(body.clone()),
        }
    }

    fn race(&self) {
        let next = self.racer.borrow_mut().pop();
        if let Some(stale) = next {
            self.put(&stale);
        }
    }

    fn group(&self, id: &str) -> Value {
        self.groups
            .borrow()
            .iter()
            .find(|g| g["id"] == id)
            .cloned()
            .unwrap()
    }
}

impl Api for Fake {
    fn list(&self) -> anyhow::Result<Vec<Value>> {
        self.log.borrow_mut().push("list".into());
        let out = self.groups.borrow().clone();
        if let Some(g) = self.created_after_list.borrow_mut().take() {
            self.put(&g);
        }
        Ok(out)
    }
    fn get(&self, id: &str, _: &str) -> anyhow::Result<Value> {
        self.log.borrow_mut().push(format!("get {id}"));
        Ok(self.group(id))
    }
    fn create(&self, name: &str, body: &Value) -> anyhow::Result<Option<Value>> {
        self.log.borrow_mut().push(format!("post {name}"));
        let id: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
        if self.groups.borrow().iter().any(|g| g["id"] == id.as_str()) {
            return Ok(None);
        }
        let mut g = body.clone();
        g["id"] = json!(id);
        self.put(&g);
        self.race();
        Ok(Some(g))
    }
    fn replace(&self, name: &str, body: &Value) -> anyhow::Result<()> {
        self.log.borrow_mut().push(format!("put {name}"));
        self.put(body);
        self.race();
        Ok(())
    }
    fn sleep(&self, _: Duration) {}
}

fn shared(rights: Value) -> Value {
    json!({"id": "abcviewers", "name": "abc-viewers", "accessRight": rights})
}

#[test]
fn a_lost_update_is_seen_on_read_back_and_repaired() {
    let fake = Fake::default();
    fake.groups.borrow_mut().push(shared(
        json!({"VIEWER": ["abc-p0"], "LOG_VIEWER": ["xyz-p1"]}),
    ));
    // The racer read before our PUT and adds its own tenant: its PUT erases ours.
    fake.racer.borrow_mut().push(shared(
        json!({"VIEWER": ["abc-p0", "abc-p2"], "LOG_VIEWER": ["xyz-p1"]}),
    ));
    let steps = sync::converge(
        &fake,
        &[wanted("abc-viewers", &["VIEWER"])],
        "abc-p1",
        Duration::ZERO,
    )
    .unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(
        fake.group("abcviewers")["accessRight"],
        json!({"VIEWER": ["abc-p0", "abc-p2", "abc-p1"], "LOG_VIEWER": ["xyz-p1"]})
    );
    assert_eq!(
        *fake.log.borrow(),
        [
            "list",
            "put abc-viewers",
            "get abcviewers",
            "put abc-viewers",
            "get abcviewers"
        ]
    );
}

#[test]
fn a_406_on_create_reads_the_racers_group_and_adds_to_it() {
    let fake = Fake::default();
    *fake.created_after_list.borrow_mut() = Some(shared(json!({"VIEWER": ["abc-p2"]})));
    let steps = sync::converge(
        &fake,
        &[wanted("abc-viewers", &["VIEWER"])],
        "abc-p1",
        Duration::ZERO,
    )
    .unwrap();
    assert_eq!(
        steps.iter().map(Step::kind).collect::<Vec<_>>(),
        ["update-group"]
    );
    assert_eq!(
        fake.group("abcviewers")["accessRight"],
        json!({"VIEWER": ["abc-p2", "abc-p1"]})
    );
    assert_eq!(
        *fake.log.borrow(),
        [
            "list",
            "post abc-viewers",
            "list",
            "put abc-viewers",
            "get abcviewers"
        ]
    );
}

#[test]
fn nothing_missing_means_no_write_and_no_read_back() {
    let fake = Fake::default();
    fake.groups
        .borrow_mut()
        .push(shared(json!({"VIEWER": ["abc-p1"]})));
    let steps = sync::converge(
        &fake,
        &[wanted("abc-viewers", &["VIEWER"])],
        "abc-p1",
        Duration::ZERO,
    )
    .unwrap();
    assert!(steps.is_empty());
    assert_eq!(*fake.log.borrow(), ["list"]);
}

#[test]
fn a_group_replaced_on_every_write_gives_up_with_exit_4() {
    let fake = Fake::default();
    fake.groups.borrow_mut().push(shared(json!({})));
    *fake.racer.borrow_mut() = vec![shared(json!({})); 20];
    let err = sync::converge(
        &fake,
        &[wanted("abc-viewers", &["VIEWER"])],
        "abc-p1",
        Duration::ZERO,
    )
    .unwrap_err();
    assert_eq!(kind_of(&err), Kind::Api);
    assert!(err.to_string().contains("--reconcile-groups"), "{err}");
    let puts = fake
        .log
        .borrow()
        .iter()
        .filter(|l| l.starts_with("put"))
        .count();
    assert_eq!(puts as u32, sync::MAX_ROUNDS);
}
