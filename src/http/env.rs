//! The process environment the HTTP client depends on (proxy variables), read once through one
//! seam so tests stay hermetic, plus the pure decisions made from it: which proxy a URL uses and
//! whether plain `http://` is allowed for a host.

use std::net::IpAddr;

/// The environment variables that shape networking, captured once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetEnv {
    /// `HTTPS_PROXY`, else `https_proxy`.
    pub https_proxy: Option<String>,
    /// `ALL_PROXY`, else `all_proxy`.
    pub all_proxy: Option<String>,
    /// `NO_PROXY`, else `no_proxy`.
    pub no_proxy: Option<String>,
}

impl NetEnv {
    /// Reads the variables from the process environment; the only place that does.
    pub fn from_process() -> NetEnv {
        let var = |upper: &str, lower: &str| {
            [upper, lower]
                .iter()
                .filter_map(|name| std::env::var(name).ok())
                .map(|v| v.trim().to_string())
                .find(|v| !v.is_empty())
        };
        NetEnv {
            https_proxy: var("HTTPS_PROXY", "https_proxy"),
            all_proxy: var("ALL_PROXY", "all_proxy"),
            no_proxy: var("NO_PROXY", "no_proxy"),
        }
    }

    /// The proxy for `https://` requests and the variable it came from, if any.
    pub fn proxy(&self) -> Option<(&'static str, &str)> {
        if let Some(p) = &self.https_proxy {
            return Some(("HTTPS_PROXY", p));
        }
        self.all_proxy.as_deref().map(|p| ("ALL_PROXY", p))
    }
}

/// A parsed `NO_PROXY` list: comma-separated host names or suffixes, `*` for everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    /// Lower-case host suffixes without a leading `.`/`*.`, each with an optional port.
    entries: Vec<(String, Option<u16>)>,
}

impl NoProxy {
    pub fn parse(list: Option<&str>) -> NoProxy {
        let mut out = NoProxy::default();
        for raw in list.unwrap_or("").split(',') {
            let entry = raw.trim().to_ascii_lowercase();
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                out.all = true;
                continue;
            }
            let (host, port) = split_port(&entry);
            let host = host.trim_start_matches("*.").trim_start_matches('.');
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if !host.is_empty() {
                out.entries.push((host.to_string(), port));
            }
        }
        out
    }

    /// Whether `host` (no brackets) on `port` must bypass the proxy. `example.com` matches
    /// `example.com` and `api.example.com`, never `notexample.com`.
    pub fn bypasses(&self, host: &str, port: u16) -> bool {
        if self.all {
            return true;
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.entries.iter().any(|(suffix, p)| {
            let port_ok = p.is_none_or(|p| p == port);
            let name_ok = host == *suffix
                || (host.len() > suffix.len()
                    && host.ends_with(suffix.as_str())
                    && host.as_bytes()[host.len() - suffix.len() - 1] == b'.');
            port_ok && name_ok
        })
    }
}

/// `host:port` -> (host, Some(port)); IPv6 literals without brackets have no port.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
            return (host, port);
        }
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(p) => (host, Some(p)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

/// Loopback hosts, where plain `http://` cannot be read by anyone else on the network.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = host.trim_end_matches('.');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_matches_suffixes_ports_and_star() {
        let np = NoProxy::parse(Some(" .corp.example, localhost,10.0.0.1:8443,,[::1]"));
        assert!(np.bypasses("corp.example", 443));
        assert!(np.bypasses("dt.corp.example", 443));
        assert!(np.bypasses("DT.Corp.Example.", 443));
        assert!(!np.bypasses("evilcorp.example", 443));
        assert!(!np.bypasses("example", 443));
        assert!(np.bypasses("localhost", 80));
        assert!(np.bypasses("10.0.0.1", 8443));
        assert!(!np.bypasses("10.0.0.1", 443));
        assert!(np.bypasses("::1", 443));
        assert!(NoProxy::parse(Some("*")).bypasses("anything.example", 1));
        assert!(!NoProxy::parse(None).bypasses("a.example", 443));
        assert!(NoProxy::parse(Some("*.corp.example")).bypasses("a.corp.example", 443));
    }

    #[test]
    fn proxy_prefers_https_proxy_then_all_proxy() {
        let mut env = NetEnv::default();
        assert_eq!(env.proxy(), None);
        env.all_proxy = Some("http://all:3128".into());
        assert_eq!(env.proxy(), Some(("ALL_PROXY", "http://all:3128")));
        env.https_proxy = Some("http://https:3128".into());
        assert_eq!(env.proxy(), Some(("HTTPS_PROXY", "http://https:3128")));
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "[::1]",
            "localhost",
            "LOCALHOST.",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "10.0.0.1",
            "localhost.example",
            "128.0.0.1",
            "example.com",
            "",
            "::2",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
