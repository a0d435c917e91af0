//! Soundness under load: 500 concurrent clients, each on its own connection.

use std::time::{Duration, Instant};

use crate::common::Sim;

#[test]
fn five_hundred_concurrent_clients() {
    let s = Sim::new();
    let tok = s.env_with_token("abc-p1");
    s.sim.clear_requests();
    let base = s.sim.url();
    let t = Instant::now();
    let results: Vec<(u16, bool)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..500)
            .map(|i| {
                let (base, tok) = (base.clone(), tok.clone());
                scope.spawn(move || {
                    let agent = crate::common::agent();
                    let path = match i % 3 {
                        0 => "/e/abc-p1/api/v1/deployment/installer/agent/unix/default/latest/metainfo",
                        1 => "/e/abc-p1/api/v1/deployment/installer/agent/connectioninfo",
                        _ => "/e/abc-p1/api/v1/deployment/installer/agent/unix/default/latest",
                    };
                    match agent
                        .get(format!("{base}{path}"))
                        .header("Authorization", format!("Api-Token {tok}"))
                        .send()
                    {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let body = r.bytes().unwrap_or_default();
                            (status, !body.is_empty())
                        }
                        Err(_) => (0, false),
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or((0, false)))
            .collect()
    });
    let ok = results
        .iter()
        .filter(|(st, body)| *st == 200 && *body)
        .count();
    assert_eq!(
        ok,
        500,
        "all 500 succeed: {:?}",
        results
            .iter()
            .filter(|r| r.0 != 200)
            .take(5)
            .collect::<Vec<_>>()
    );
    assert_eq!(s.sim.requests().len(), 500);
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "took {:?}",
        t.elapsed()
    );
}

#[test]
fn drop_stops_promptly_even_with_open_connections() {
    let s = Sim::new();
    let tok = s.env_with_token("abc-p1");
    // The agent keeps its connection alive in its pool while dtsim stops.
    let r = s.get(
        "/e/abc-p1/api/v1/deployment/installer/agent/unix/default/latest",
        Some(&tok),
    );
    assert_eq!(r.status, 200);
    let url = s.sim.url();
    let t = Instant::now();
    drop(s.sim);
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "stopping took {:?}",
        t.elapsed()
    );
    assert!(
        s.agent
            .get(format!("{url}/__dtsim/requests"))
            .send()
            .is_err(),
        "port closed"
    );
}
