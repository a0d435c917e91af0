//! The user-group part of the network phase: when this run created the tenant (or on
//! `--reconcile-groups`) the --tenant-group groups are made to give it their permissions;
//! `check` only reads and shows what that would change.

use anyhow::Result;

use super::Network;
use crate::cluster;
use crate::error::{failure, Kind};
use crate::groups::{sync, Described, Step};
use crate::report::ActionReport;
use crate::secret::Secret;

impl Network<'_> {
    /// The cluster URL and token, which config.rs already required with --tenant-group.
    fn cluster(&self) -> Result<(&str, &Secret)> {
        self.cfg
            .cluster_url
            .as_deref()
            .zip(self.cfg.cluster_token.as_ref())
            .ok_or_else(|| {
                failure(
                    Kind::Config,
                    "--tenant-group needs --cluster-url (DT_CLUSTER_URL) and the cluster token",
                )
            })
    }

    /// Makes the groups right (once per run); what it did goes to `take_group_steps`.
    pub fn converge_groups(&mut self) -> Result<()> {
        if self.groups.is_empty() || self.groups_done || !self.write_groups {
            return Ok(());
        }
        self.groups_done = true;
        let tenant = self.tenant()?;
        let (url, token) = self.cluster()?;
        let api = sync::Http::new(self.client()?, url, token);
        let steps = sync::converge(&api, self.groups, &tenant.id, self.cfg.groups.settle)?;
        if steps.is_empty() {
            self.out.step(format!(
                "user groups: {} already give tenant {} the requested permissions",
                self.group_names(),
                tenant.id
            ));
        }
        self.record(&steps, "");
        Ok(())
    }

    /// `check`: what converge_groups would do, from reads only. Without --reconcile-groups that
    /// is nothing unless this run would create the tenant.
    pub fn preview_groups(&mut self) -> Result<()> {
        if self.groups.is_empty() || self.groups_done {
            return Ok(());
        }
        self.groups_done = true;
        let tenant = self.tenant()?;
        let (url, token) = self.cluster()?;
        let client = self.client()?;
        if !self.cfg.groups.reconcile && cluster::tenant_exists(client, url, token, &tenant.id)? {
            self.out.step(format!(
                "tenant {} exists: user groups are left alone (--reconcile-groups checks them)",
                tenant.id
            ));
            return Ok(());
        }
        let steps = sync::preview(
            &sync::Http::new(client, url, token),
            self.groups,
            &tenant.id,
        )?;
        self.record(&steps, "would ");
        Ok(())
    }

    /// The group actions of this run, for the result object.
    pub fn take_group_steps(&mut self) -> Vec<ActionReport> {
        std::mem::take(&mut self.group_steps)
    }

    fn record(&mut self, steps: &[Step], prefix: &str) {
        let Some(tenant) = self.tenant else { return };
        for s in steps {
            let description = Described(s, &tenant.id).to_string();
            self.out.step(format!("{prefix}{description}"));
            self.group_steps.push(ActionReport {
                kind: s.kind().into(),
                description,
            });
        }
    }

    fn group_names(&self) -> String {
        self.groups
            .iter()
            .map(|g| format!("'{}'", g.name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
