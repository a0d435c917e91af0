//! Issue 11: host facts read through sysinfo, shown by `facts` with their source.

mod harness;

use harness::World;

#[test]
fn facts_shows_the_sysinfo_host_facts_with_their_source() {
    let w = World::new();
    let j = w.cmd("facts").arg("--json").run();
    j.code(0);
    let v = j.json();
    for key in [
        "kernel.version",
        "cpu.count",
        "memory.total_mib",
        "boot.time",
    ] {
        let fact = &v["facts"][key];
        assert_eq!(fact["source"], "host (sysinfo)", "{key}: {fact}");
        assert!(
            fact["value"].as_str().is_some_and(|s| !s.is_empty()),
            "{key}: {fact}"
        );
    }
    let cpus: u32 = v["facts"]["cpu.count"]["value"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("cpu.count is a number");
    assert!(cpus >= 1);
    // A --fact still wins over the host's own value, sysinfo's included.
    let w2 = w
        .cmd("facts")
        .args(&["--fact", "kernel.version=pinned"])
        .run();
    w2.code(0)
        .stdout_has("kernel.version")
        .stdout_has("\"pinned\"  (--fact)");
}
