use super::*;

#[test]
fn installer_urls_for_latest_and_a_version() {
    assert_eq!(
        installer_url("https://c.example/e/abc-p1/api/", "latest", "x86"),
        "https://c.example/e/abc-p1/api/v1/deployment/installer/agent/unix/default/latest?arch=x86&flavor=default"
    );
    assert_eq!(
        installer_url("https://c.example/e/abc-p1/api", "1.301.55.20260114-153010", "arm"),
        "https://c.example/e/abc-p1/api/v1/deployment/installer/agent/unix/default/version/1.301.55.20260114-153010?arch=arm&flavor=default"
    );
    // Hostile input cannot add path segments or query parameters.
    assert_eq!(
        installer_url("https://h/api", "../x?y=1", "x86&flavor=musl"),
        "https://h/api/v1/deployment/installer/agent/unix/default/version/..%2Fx%3Fy%3D1?arch=x86%26flavor%3Dmusl&flavor=default"
    );
}

#[test]
fn machine_architectures_map_to_installer_arches() {
    for (machine, arch) in [
        ("x86_64", "x86"),
        ("amd64", "x86"),
        ("aarch64", "arm"),
        ("ARM64", "arm"),
        ("ppc64le", "ppcle"),
        ("s390x", "s390"),
        ("s390", "s390"),
    ] {
        assert_eq!(installer_arch(machine).unwrap(), arch, "{machine}");
    }
    for bad in ["riscv64", "i686", "ppc64", "", "x86&flavor=musl"] {
        let e = installer_arch(bad).unwrap_err();
        assert_eq!(
            crate::error::kind_of(&e),
            crate::error::Kind::Config,
            "{bad}"
        );
    }
}

mod against_dtsim {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

    use dtsim::{Dtsim, Fault, Options};
    use sha2::{Digest, Sha256};

    use super::super::*;
    use crate::error::{kind_of, Kind};
    use crate::http::testing::{client, fault, message, seen, tenant};

    const INSTALLER: &str = "/e/*/api/v1/deployment/installer/agent/unix/default/*";
    const SIZE: u64 = 3 << 20;

    /// Hashes what it is fed on its own and counts resets, to prove the one-pass contract.
    #[derive(Default)]
    struct Recorder {
        hasher: Sha256,
        resets: u32,
        bytes: u64,
    }

    impl StreamCheck for Recorder {
        fn reset(&mut self) {
            self.hasher = Sha256::new();
            self.bytes = 0;
            self.resets += 1;
        }
        fn update(&mut self, chunk: &[u8]) {
            self.hasher.update(chunk);
            self.bytes += chunk.len() as u64;
        }
    }

    struct Setup {
        sim: Dtsim,
        c: Client,
        api: String,
        token: Secret,
        mgmt: Secret,
        _tmp: tempfile::TempDir,
        dir: PathBuf,
    }

    fn setup(id: &str) -> Setup {
        let sim = Dtsim::start_with(Options {
            installer_size: Some(SIZE),
            ..Options::default()
        })
        .unwrap();
        let c = client();
        let (api, mgmt) = tenant(&sim, &c, id);
        let token = crate::token::mint_installer_token(&c, &api, &mgmt, "test")
            .unwrap()
            .token;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("private");
        fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        sim.clear_requests();
        Setup {
            sim,
            c,
            api,
            token,
            mgmt,
            _tmp: tmp,
            dir,
        }
    }

    fn installer_gets(sim: &Dtsim) -> usize {
        seen(sim)
            .iter()
            .filter(|(m, p)| m == "GET" && p.contains("/installer/agent/unix/default/"))
            .count()
    }

    fn files_in(dir: &Path) -> Vec<PathBuf> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }

    #[test]
    fn streams_to_a_private_file_with_matching_digests() {
        let s = setup("dl-ok");
        let url = installer_url(&s.api, "latest", "x86");
        let mut rec = Recorder::default();
        let d = download_installer(&s.c, &url, &s.token, &s.dir, &mut rec, false, None).unwrap();
        let bytes = fs::read(&d.path).unwrap();
        // dtsim pads to about the requested size.
        assert!(bytes.len() as u64 > SIZE * 99 / 100, "{}", bytes.len());
        assert_eq!(d.bytes, bytes.len() as u64);
        assert_eq!(d.sha256, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(d.sha256, hex::encode(rec.hasher.clone().finalize()));
        assert_eq!((rec.resets, rec.bytes), (1, d.bytes));
        assert_eq!(d.sha256, d.sha256.to_lowercase());
        let mode = fs::metadata(&d.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(files_in(&s.dir), vec![d.path.clone()]);
        assert_eq!(installer_gets(&s.sim), 1);

        // A given version downloads too, and is a different file.
        let url = installer_url(&s.api, "1.299.40.20250908-101500", "x86");
        let old = download_installer(&s.c, &url, &s.token, &s.dir, &mut (), false, None).unwrap();
        assert_ne!(old.sha256, d.sha256);
    }

    #[test]
    fn a_cut_body_is_retried_from_the_start() {
        let s = setup("dl-cut");
        s.sim.add_fault(fault(
            "GET",
            INSTALLER,
            Some(1),
            Fault::Cut {
                after_bytes: 100_000,
            },
        ));
        let url = installer_url(&s.api, "latest", "x86");
        let mut rec = Recorder::default();
        let d = download_installer(&s.c, &url, &s.token, &s.dir, &mut rec, false, None).unwrap();
        let bytes = fs::read(&d.path).unwrap();
        assert_eq!(d.sha256, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(d.sha256, hex::encode(rec.hasher.clone().finalize()));
        assert_eq!(rec.resets, 2);
        assert_eq!(installer_gets(&s.sim), 2);
        assert_eq!(files_in(&s.dir).len(), 1);
    }

    #[test]
    fn a_permanent_cut_fails_and_leaves_nothing() {
        let s = setup("dl-cut-always");
        s.sim.add_fault(fault(
            "GET",
            INSTALLER,
            None,
            Fault::Cut {
                after_bytes: 100_000,
            },
        ));
        let url = installer_url(&s.api, "latest", "x86");
        let err =
            download_installer(&s.c, &url, &s.token, &s.dir, &mut (), false, None).unwrap_err();
        let text = message(&err, &[&s.token, &s.mgmt]);
        assert_eq!(kind_of(&err), Kind::Api, "{text}");
        assert!(text.contains("gave up after 4 tries"), "{text}");
        assert_eq!(installer_gets(&s.sim), 4);
        assert!(files_in(&s.dir).is_empty(), "partial file left behind");
    }

    #[test]
    fn a_stalled_body_times_out_and_is_retried() {
        let mut s = setup("dl-stall");
        s.c = crate::http::testing::client_with(&crate::http::HttpOptions {
            read_timeout: std::time::Duration::from_millis(300),
            ..Default::default()
        });
        s.sim.add_fault(fault(
            "GET",
            INSTALLER,
            Some(1),
            Fault::Stall {
                after_bytes: 50_000,
                ms: 3_000,
            },
        ));
        let url = installer_url(&s.api, "latest", "x86");
        let start = std::time::Instant::now();
        let d = download_installer(&s.c, &url, &s.token, &s.dir, &mut (), false, None).unwrap();
        assert!(start.elapsed() < std::time::Duration::from_millis(2500));
        assert_eq!(d.bytes, fs::metadata(&d.path).unwrap().len());
        assert_eq!(installer_gets(&s.sim), 2);
    }

    #[test]
    fn unexpected_statuses_fail_without_retry_and_without_a_file() {
        let s = setup("dl-status");
        let url = installer_url(&s.api, "9.9.9.20990101-000000", "x86");
        let err =
            download_installer(&s.c, &url, &s.token, &s.dir, &mut (), false, None).unwrap_err();
        let text = message(&err, &[&s.token, &s.mgmt]);
        assert!(text.contains("answered 404"), "{text}");
        assert!(text.contains("--version"), "{text}");
        assert_eq!(installer_gets(&s.sim), 1);

        s.sim.clear_requests();
        s.sim
            .add_fault(fault("GET", INSTALLER, None, Fault::Status { status: 304 }));
        let url = installer_url(&s.api, "latest", "x86");
        let err =
            download_installer(&s.c, &url, &s.token, &s.dir, &mut (), false, None).unwrap_err();
        let text = message(&err, &[&s.token, &s.mgmt]);
        assert_eq!(kind_of(&err), Kind::Api);
        assert!(text.contains("answered 304"), "{text}");
        assert_eq!(installer_gets(&s.sim), 1);
        assert!(files_in(&s.dir).is_empty());
    }

    #[test]
    fn refuses_a_directory_others_can_read() {
        let s = setup("dl-dir");
        fs::set_permissions(&s.dir, fs::Permissions::from_mode(0o755)).unwrap();
        let url = installer_url(&s.api, "latest", "x86");
        let err =
            download_installer(&s.c, &url, &s.token, &s.dir, &mut (), false, None).unwrap_err();
        assert!(message(&err, &[&s.token]).contains("0700"), "{err:#}");
        assert_eq!(installer_gets(&s.sim), 0);
    }

    #[test]
    fn target_version_and_connection_info() {
        let s = setup("dl-info");
        let v = target_version(&s.c, &s.api, &s.token, "x86").unwrap();
        assert_eq!(v, "1.303.12.20260310-090000");
        let info = connection_info(&s.c, &s.api, &s.token).unwrap();
        assert_eq!(info.tenant_uuid, "dl-info");
        assert!(!info.tenant_token.is_empty());
        assert!(
            info.endpoints.contains("/communication"),
            "{}",
            info.endpoints
        );
        assert!(!format!("{info:?}").contains(info.tenant_token.expose()));
    }
}

/// Peak resident memory of this process (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Run alone: `cargo test ... memory_stays_flat -- --ignored --test-threads=1`. The peak is
/// per process and dtsim runs in it too, so this bounds both together.
#[test]
#[ignore = "256 MiB download; run alone to measure"]
fn memory_stays_flat_for_a_large_installer() {
    use std::os::unix::fs::DirBuilderExt;
    let size = 256u64 << 20;
    let sim = dtsim::Dtsim::start_with(dtsim::Options {
        installer_size: Some(size),
        ..Default::default()
    })
    .unwrap();
    let c = crate::http::testing::client();
    let (api, mgmt) = crate::http::testing::tenant(&sim, &c, "big-1");
    let token = crate::token::mint_installer_token(&c, &api, &mgmt, "t")
        .unwrap()
        .token;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
    let before = peak_rss_kib();
    let start = std::time::Instant::now();
    let url = installer_url(&api, "latest", "x86");
    let d = download_installer(&c, &url, &token, &dir, &mut (), false, None).unwrap();
    let grew = peak_rss_kib().saturating_sub(before);
    eprintln!(
        "downloaded {} bytes in {:?}; peak RSS grew by {grew} KiB",
        d.bytes,
        start.elapsed()
    );
    assert!(d.bytes > size * 99 / 100);
    assert!(grew < 32 * 1024, "peak RSS grew by {grew} KiB");
}
