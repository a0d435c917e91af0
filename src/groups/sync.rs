//! Executes a group plan against the cluster, and keeps racing hosts from losing each other's
//! rights.
//!
//! The API has no conditional update: `PUT /groups` replaces the whole object. Two hosts that
//! read a shared group (`{customer}-viewers`) before either writes each PUT their own addition,
//! and the later PUT erases the earlier one. The protocol:
//! 1. list the groups, plan, write (POST; on 406 — a racer created it — read it and PUT);
//! 2. wait a jittered settle delay (`settle` × 0.5 to 1.5), read every group we wrote and, where
//!    our rights are missing, merge them into what was read and PUT again;
//! 3. repeat 2 until nothing is missing, at most [`MAX_ROUNDS`] reads (then exit 4).
//!
//! Why this converges: a PUT that erases our rights was built from a read taken before our
//! write landed. Every PUT here is sent right after a read at most `settle`/4 old, so a racer's
//! erasing PUT lands at most settle/4 plus its own flight time after our write, and our
//! read-back comes at least settle/2 after it: we see the loss and repair it. Each repair is a
//! write that the others re-check the same way.
//!
//! The window that remains: a racer's PUT whose flight (sent to applied) takes longer than
//! about settle/4 — a stalled connection, or the HTTP client retrying a 5xx after a backoff —
//! can land after our last read-back with a body that lacks our rights, and nobody repairs it.
//! A larger `--groups-settle` narrows it; `--reconcile-groups` on any host of the tenant
//! repairs it afterwards.

use std::time::{Duration, Instant};

use anyhow::Result;
use rand::Rng;
use serde_json::Value;

use super::{find, plan, update, Step, Wanted};
use crate::error::{failure, Kind};
use crate::http::{Call, Client, Method};
use crate::secret::Secret;

/// Read-backs per group before giving up: each one follows a repair, so hitting the bound means
/// other writers kept replacing the group for the whole time.
pub const MAX_ROUNDS: u32 = 6;

const CLUSTER_TOKEN: &str = "the cluster token (--cluster-token-file/DT_CLUSTER_TOKEN)";
const SCOPE: &str = "ServiceProviderAPI";

/// The group endpoints, as the protocol needs them (a trait so the protocol is unit-tested with
/// a racer that strikes at chosen moments).
pub trait Api {
    fn list(&self) -> Result<Vec<Value>>;
    fn get(&self, id: &str, name: &str) -> Result<Value>;
    /// The created group, or `None` when the name exists (406).
    fn create(&self, name: &str, body: &Value) -> Result<Option<Value>>;
    fn replace(&self, name: &str, body: &Value) -> Result<()>;
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// What the groups look like now and what would change: `check`'s view (reads only).
pub fn preview(api: &dyn Api, wanted: &[Wanted], tenant: &str) -> Result<Vec<Step>> {
    let existing = api.list()?;
    plan(wanted, tenant, &existing).map_err(shape)
}

/// Makes every wanted group give `tenant` its permissions; returns the steps taken (empty
/// when nothing was missing).
pub fn converge(
    api: &dyn Api,
    wanted: &[Wanted],
    tenant: &str,
    settle: Duration,
) -> Result<Vec<Step>> {
    let mut listed = Instant::now();
    let existing = api.list()?;
    let steps = plan(wanted, tenant, &existing).map_err(shape)?;
    let mut done = Vec::new();
    let mut pending = Vec::new();
    for (i, step) in steps.into_iter().enumerate() {
        // Keep every PUT's read fresh (see the module doc): re-plan from a new read when the
        // list is getting old (earlier steps took time).
        let step = if i > 0 && listed.elapsed() > settle / 4 {
            listed = Instant::now();
            match replan(api, step.wanted(), tenant)? {
                Some(s) => s,
                None => continue,
            }
        } else {
            step
        };
        if let Some((step, id)) = write(api, step, tenant)? {
            pending.push((step.wanted().clone(), id));
            done.push(step);
        }
    }
    confirm(api, pending, tenant, settle)?;
    Ok(done)
}

/// The step for one group from a fresh list.
fn replan(api: &dyn Api, w: &Wanted, tenant: &str) -> Result<Option<Step>> {
    let existing = api.list()?;
    Ok(plan(std::slice::from_ref(w), tenant, &existing)
        .map_err(shape)?
        .pop())
}

/// Executes one step; the id of the group written, or `None` when a racer had already given
/// us everything.
fn write(api: &dyn Api, step: Step, tenant: &str) -> Result<Option<(Step, String)>> {
    match step {
        Step::Create { wanted, body } => {
            if let Some(created) = api.create(&wanted.name, &body)? {
                let id = id_of(&created, &wanted.name)?;
                return Ok(Some((Step::Create { wanted, body }, id)));
            }
            // 406: created by someone else since we listed; add to theirs.
            let all = api.list()?;
            let g = find(&all, &wanted.name).ok_or_else(|| {
                failure(
                    Kind::Api,
                    format!(
                        "creating user group '{}': the cluster says it exists (406) but does \
                         not list it; retry later",
                        wanted.name
                    ),
                )
            })?;
            match update(g, &wanted, tenant).map_err(shape)? {
                Some(step) => write(api, step, tenant),
                None => Ok(None),
            }
        }
        Step::Update {
            wanted,
            id,
            added,
            body,
        } => {
            api.replace(&wanted.name, &body)?;
            Ok(Some((
                Step::Update {
                    wanted,
                    id: id.clone(),
                    added,
                    body,
                },
                id,
            )))
        }
    }
}

/// Step 2 and 3 of the protocol.
fn confirm(
    api: &dyn Api,
    mut pending: Vec<(Wanted, String)>,
    tenant: &str,
    settle: Duration,
) -> Result<()> {
    let mut round = 0;
    while !pending.is_empty() {
        round += 1;
        api.sleep(jittered(settle));
        let mut again = Vec::new();
        for (w, id) in pending {
            let g = api.get(&id, &w.name)?;
            let Some(Step::Update { body, .. }) = update(&g, &w, tenant).map_err(shape)? else {
                continue;
            };
            if round >= MAX_ROUNDS {
                return Err(failure(
                    Kind::Api,
                    format!(
                        "giving tenant {tenant} its rights in user group '{}': they were \
                         replaced by other writers {MAX_ROUNDS} times in a row; rerun with \
                         --reconcile-groups (or a larger --groups-settle)",
                        w.name
                    ),
                ));
            }
            api.replace(&w.name, &body)?;
            again.push((w, id));
        }
        pending = again;
    }
    Ok(())
}

/// `settle` × a random factor in [0.5, 1.5], so racing hosts do not read back in lockstep.
fn jittered(settle: Duration) -> Duration {
    settle.mul_f64(rand::thread_rng().gen_range(0.5..=1.5))
}

fn id_of(g: &Value, name: &str) -> Result<String> {
    g.get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .ok_or_else(|| shape(format!("user group '{name}' came back without an id")))
}

fn shape(message: String) -> anyhow::Error {
    failure(
        Kind::Api,
        format!("{message}; is this a Dynatrace Managed cluster?"),
    )
}

/// The real endpoints, with the cluster token.
pub struct Http<'a> {
    client: &'a Client,
    base: String,
    token: &'a Secret,
}

impl<'a> Http<'a> {
    pub fn new(client: &'a Client, cluster_url: &str, token: &'a Secret) -> Http<'a> {
        Http {
            client,
            base: format!(
                "{}/api/v1.0/onpremise/groups",
                cluster_url.trim_end_matches('/')
            ),
            token,
        }
    }

    fn call(
        &self,
        method: Method,
        url: &str,
        doing: &str,
        body: Option<&Value>,
        expect: &[u16],
    ) -> Result<crate::http::Reply> {
        let mut call = Call::new(method, url, doing)
            .token(self.token, CLUSTER_TOKEN)
            .scope(SCOPE);
        if let Some(b) = body {
            call = call.json(b);
        }
        self.client.call(&call, expect)
    }

    fn parse<T: serde::de::DeserializeOwned>(
        &self,
        reply: &crate::http::Reply,
        method: Method,
        url: &str,
        doing: &str,
    ) -> Result<T> {
        reply.json(&Call::new(method, url, doing))
    }
}

impl Api for Http<'_> {
    fn list(&self) -> Result<Vec<Value>> {
        let doing = "listing the cluster's user groups";
        let reply = self.call(Method::Get, &self.base, doing, None, &[200])?;
        self.parse(&reply, Method::Get, &self.base, doing)
    }

    fn get(&self, id: &str, name: &str) -> Result<Value> {
        let doing = format!("reading user group '{name}'");
        if !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(failure(
                Kind::Api,
                format!("{doing}: the cluster gave it the id {id:?}, which we cannot put in a URL"),
            ));
        }
        let url = format!("{}/{id}", self.base);
        let reply = self.call(Method::Get, &url, &doing, None, &[200])?;
        self.parse(&reply, Method::Get, &url, &doing)
    }

    fn create(&self, name: &str, body: &Value) -> Result<Option<Value>> {
        let doing = format!("creating user group '{name}'");
        let reply = self.call(
            Method::Post,
            &self.base,
            &doing,
            Some(body),
            &[200, 201, 406],
        )?;
        if reply.status == 406 {
            return Ok(None);
        }
        self.parse(&reply, Method::Post, &self.base, &doing)
            .map(Some)
    }

    fn replace(&self, name: &str, body: &Value) -> Result<()> {
        let doing = format!("updating user group '{name}'");
        self.call(Method::Put, &self.base, &doing, Some(body), &[200, 204])?;
        Ok(())
    }
}
