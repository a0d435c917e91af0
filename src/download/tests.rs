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
