//! Facts read through sysinfo: OS name and version, kernel version, CPU count, total memory
//! and boot time. They are read only when one of them is looked up (`Facts::get`), and then
//! only the parts these facts need are refreshed (memory, the CPU list without usage or
//! frequency): no process table, disks or network interfaces.

use sysinfo::{CpuRefreshKind, MemoryRefreshKind, System};

use super::{Facts, Source};

/// The facts [`add`] can set: looking one up is what makes sysinfo be read.
pub const KEYS: &[&str] = &[
    "os.name",
    "os.version",
    "kernel.version",
    "cpu.count",
    "memory.total_mib",
    "boot.time",
];

/// What sysinfo reports, before it becomes facts (the pure part is tested with made-up values).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reading {
    pub os_name: Option<String>,
    pub os_version: Option<String>,
    pub kernel_version: Option<String>,
    pub cpu_count: usize,
    pub memory_total_bytes: u64,
    /// Seconds since the Unix epoch; 0 when unknown.
    pub boot_time: u64,
}

/// Reads this host's values.
pub fn read() -> Reading {
    let mut sys = System::new();
    sys.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
    sys.refresh_cpu_list(CpuRefreshKind::nothing());
    Reading {
        os_name: System::name(),
        os_version: System::os_version(),
        kernel_version: System::kernel_version(),
        cpu_count: sys.cpus().len(),
        memory_total_bytes: sys.total_memory(),
        boot_time: System::boot_time(),
    }
}

/// Adds the reading as facts with [`Source::System`]; what sysinfo could not tell is left out
/// rather than set empty, so a template using it fails with "no such fact".
pub fn add(facts: &mut Facts, r: &Reading) {
    let mut set = |key: &str, value: Option<String>| {
        if let Some(v) = value
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
        {
            facts.set(key, v, Source::System);
        }
    };
    set("os.name", r.os_name.clone());
    set("os.version", r.os_version.clone());
    set("kernel.version", r.kernel_version.clone());
    set(
        "cpu.count",
        (r.cpu_count > 0).then(|| r.cpu_count.to_string()),
    );
    set(
        "memory.total_mib",
        (r.memory_total_bytes > 0).then(|| (r.memory_total_bytes >> 20).to_string()),
    );
    set(
        "boot.time",
        (r.boot_time > 0).then(|| r.boot_time.to_string()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_become_facts_and_unknowns_are_left_out() {
        let mut f = Facts::default();
        add(
            &mut f,
            &Reading {
                os_name: Some("Debian GNU/Linux".into()),
                os_version: Some("12".into()),
                kernel_version: Some(" 6.1.0-18-amd64\n".into()),
                cpu_count: 8,
                memory_total_bytes: 16 * 1024 * 1024 * 1024 + 123,
                boot_time: 1_700_000_000,
            },
        );
        assert_eq!(f.get("os.name"), Some("Debian GNU/Linux"));
        assert_eq!(f.get("os.version"), Some("12"));
        assert_eq!(f.get("kernel.version"), Some("6.1.0-18-amd64"));
        assert_eq!(f.get("cpu.count"), Some("8"));
        assert_eq!(f.get("memory.total_mib"), Some("16384"));
        assert_eq!(f.get("boot.time"), Some("1700000000"));
        assert!(f.iter().all(|(_, fact)| fact.source == Source::System));
        let mut empty = Facts::default();
        add(&mut empty, &Reading::default());
        assert_eq!(empty.len(), 0);
    }

    #[test]
    fn this_host_reports_cpus_memory_and_kernel() {
        let r = read();
        assert!(r.cpu_count >= 1, "{r:?}");
        assert!(r.memory_total_bytes > 0, "{r:?}");
        assert!(
            r.kernel_version.as_deref().is_some_and(|k| !k.is_empty()),
            "{r:?}"
        );
        assert!(r.boot_time > 0, "{r:?}");
    }
}
