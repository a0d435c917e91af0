//! What an operator sees: the download progress bar on a terminal (and plain timed step lines
//! otherwise), `-vv` request lines, and the `--log-file` audit lines.

mod harness;

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::Stdio;

use harness::{assert_clean, find_token, write_private, World};
use serde_json::Value;

/// Runs `apply` with stderr on a pseudo-terminal; returns (exit code, what the terminal got).
fn apply_on_a_pty(w: &World, extra: &[&str]) -> (i32, String) {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two descriptors into the given ints; the other arguments may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened by openpty and are owned by nobody else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut child = w
        .cmd("apply")
        .args(extra)
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(slave))
        .spawn()
        .expect("the binary starts");
    // The command (which held the only other copy of the slave) is gone: once the child exits,
    // reading the master ends with EIO.
    let reader = std::thread::spawn(move || {
        let mut file = std::fs::File::from(master);
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = file.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&out).into_owned()
    });
    let status = child.wait().expect("the binary finishes");
    (status.code().unwrap_or(-1), reader.join().expect("reader"))
}

#[test]
fn progress_bar_on_a_terminal_and_timed_lines_on_a_pipe() {
    let w = World::with(dtsim::Options {
        installer_size: Some(8 << 20),
        ..Default::default()
    });
    let (code, tty) = apply_on_a_pty(&w, &[]);
    assert_eq!(code, 2, "{tty}");
    assert!(
        tty.contains("\r\x1b[2Kdownloading installer ["),
        "no bar: {tty:?}"
    );
    assert!(tty.contains("/8.0 MiB"), "no byte count: {tty:?}");
    assert!(tty.contains("MiB/s ETA"), "no rate or ETA: {tty:?}");
    // -q and --json promise no progress output, on a terminal too.
    for quiet in ["-q", "--json"] {
        let w = World::new();
        let (code, tty) = apply_on_a_pty(&w, &[quiet]);
        assert_eq!(code, 2, "{tty}");
        // (The terminal itself turns each \n into \r\n: look for the bar, not for \r.)
        assert!(
            !tty.contains('\x1b') && !tty.contains("ETA"),
            "{quiet}: {tty:?}"
        );
    }

    let w = World::new();
    let r = w.cmd("apply").run();
    r.code(2)
        .stderr_has("installer finished in ")
        .check(!r.stderr.contains('\x1b'), "no escape codes on a pipe")
        .check(!r.stderr.contains('\r'), "no carriage returns on a pipe");
    let timed = |prefix: &str| {
        r.stderr
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix}: {}", r.dump()))
            .to_string()
    };
    let downloaded = timed("downloaded ");
    assert!(
        downloaded.contains(" bytes in ") && downloaded.contains(" MiB/s), sha256 "),
        "{downloaded}"
    );
    let verified = timed("verified installer signature");
    assert!(
        verified.ends_with(" ms") || verified.ends_with(" s"),
        "{verified}"
    );
}

#[test]
fn very_verbose_shows_each_request_without_secrets() {
    let w = World::new();
    let r = w.cmd("apply").arg("-vv").run();
    r.code(2);
    let http: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("  http: "))
        .collect();
    assert!(http.len() >= 5, "{}", r.dump());
    for line in &http {
        assert!(!line.contains('?'), "a query string in {line}");
        assert!(line.ends_with("(try 1)"), "{line}");
        let status = line.split(" -> ").nth(1).unwrap_or_default();
        assert!(
            status.len() > 3 && status[..3].bytes().all(|b| b.is_ascii_digit()),
            "{line}"
        );
    }
    assert!(
        http.iter()
            .any(|l| l.starts_with("  http: GET ") && l.contains("/installer/agent/unix/default/")),
        "{}",
        r.dump()
    );
    assert!(http.iter().any(|l| l.starts_with("  http: PUT ")));
    w.assert_no_secrets(&[&r], &[]);

    let w = World::new();
    let r = w.cmd("apply").arg("-v").run();
    r.code(2)
        .check(!r.stderr.contains("http: "), "-v has no request lines");
}

fn log_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn log_file_gets_one_json_line_per_run_failures_included() {
    let w = World::new();
    let log = w.dir.path().join("audit.log");
    let log_arg = log.display().to_string();
    w.cmd("apply").args(&["--log-file", &log_arg]).run().code(2);
    // The environment variable works as the flag does.
    w.cmd("check").env("DT_LOG_FILE", &log_arg).run().code(0);
    let bad = w.dir.path().join("bad-token");
    let bad_token = "dt0c01.ABCDEFGHIJKLMNOPQRSTUVWX.ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    write_private(&bad, bad_token);
    let failed = w
        .cmd("apply")
        .set("--fact", "hostname=xyz-p2-web01")
        .env("DT_CLUSTER_TOKEN_FILE", &bad.display().to_string())
        .args(&["--log-file", &log_arg])
        .run();
    failed.code(4);
    let config_error = w
        .cmd("apply")
        .set("--install-path", "relative/path")
        .args(&["--log-file", &log_arg])
        .run();
    config_error.code(3);

    let lines = log_lines(&log);
    assert_eq!(lines.len(), 4, "{lines:?}");
    let host = hostname_now();
    for (line, (command, code)) in
        lines
            .iter()
            .zip([("apply", 2), ("check", 0), ("apply", 4), ("apply", 3)])
    {
        assert_eq!(line["command"], command, "{line}");
        assert_eq!(line["exitCode"], code, "{line}");
        assert_eq!(line["host"], host.as_str(), "{line}");
        assert!(line["durationMs"].is_u64(), "{line}");
        let time = line["time"].as_str().unwrap_or_default();
        assert!(time.len() == 20 && time.ends_with('Z'), "{line}");
        assert_eq!(line["error"].is_null(), code < 3, "{line}");
    }
    assert_eq!(lines[0]["tenant"], "abc-p1");
    assert_eq!(lines[0]["changed"], true);
    assert!(lines[0]["sha256"].is_string());
    assert!(lines[3]["error"]
        .as_str()
        .is_some_and(|e| e.contains("--install-path")));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_clean("the log file", &text, &w.secrets(&[bad_token]));
}

fn hostname_now() -> String {
    let out = std::process::Command::new("hostname").output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

#[test]
fn log_file_rotates_at_the_bound_and_never_follows_a_link() {
    let w = World::new();
    let log = w.dir.path().join("audit.log");
    let full = vec![b'x'; 10 << 20];
    std::fs::write(&log, &full).unwrap();
    let log_arg = log.display().to_string();
    w.cmd("check").args(&["--log-file", &log_arg]).run().code(2);
    assert_eq!(log_lines(&log).len(), 1);
    let old = w.dir.path().join("audit.log.1");
    assert_eq!(std::fs::read(&old).unwrap(), full);

    let target = w.dir.path().join("target");
    std::fs::write(&target, "").unwrap();
    let link = w.dir.path().join("linked.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let r = w
        .cmd("check")
        .args(&["--log-file", &link.display().to_string()])
        .run();
    // The refusal is a warning: the run's exit code stands.
    r.code(2)
        .stderr_has("warning: writing the log file")
        .stderr_has("symbolic link");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "");
}

#[test]
fn log_file_of_provision_holds_neither_its_result_nor_the_token() {
    let w = World::new();
    let log = w.dir.path().join("audit.log");
    // The worst case: the minted token is printed on stdout.
    let r = w
        .cmd("provision")
        .args(&[
            "--json",
            "--output",
            "-",
            "--log-file",
            &log.display().to_string(),
        ])
        .run();
    r.code(2);
    let token = find_token(&r.stdout).expect("the token on stdout");
    let lines = log_lines(&log);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["command"], "provision");
    assert_eq!(lines[0]["exitCode"], 2);
    assert!(lines[0].get("tokenId").is_none(), "{}", lines[0]);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_clean("the log file", &text, &w.secrets(&[&token]));
}
