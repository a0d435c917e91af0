//! The user-group part of the network phase: when this run created the tenant (or on
//! `--reconcile-groups`) the --tenant-group groups are made to give it their permissions;
//! `check` only reads and shows what that would change. The work is tenant_access.rs's, shared
//! with `provision`; this keeps it to once per run and collects the actions.

use anyhow::Result;

use super::Network;
use crate::error::{failure, Kind};
use crate::report::ActionReport;
use crate::tenant_access::{self, Access, Groups};

impl<'c> Network<'c> {
    /// The cluster with its token, which config.rs already required with --tenant-group.
    fn access(&self) -> Result<Access<'c>> {
        let (url, token) = self
            .cfg
            .cluster_url
            .as_deref()
            .zip(self.cfg.cluster_token.as_ref())
            .ok_or_else(|| {
                failure(
                    Kind::Config,
                    "--tenant-group needs --cluster-url (DT_CLUSTER_URL) and the cluster token",
                )
            })?;
        Ok(Access {
            client: self.client()?,
            url,
            token,
        })
    }

    /// The groups tenant_access may still write this run (none once done, or in `check`).
    pub(super) fn due_groups(&self) -> Groups<'c> {
        let writable = self.write_groups && !self.groups_done;
        Groups {
            wanted: if writable { self.groups } else { &[] },
            ..self.all_groups()
        }
    }

    /// What tenant_access did to the groups; from then on they are done for this run.
    pub(super) fn groups_converged(&mut self, steps: Option<Vec<ActionReport>>) {
        if let Some(steps) = steps {
            self.groups_done = true;
            self.group_steps.extend(steps);
        }
    }

    /// Makes the groups right (once per run); what it did goes to `take_group_steps`.
    pub fn converge_groups(&mut self) -> Result<()> {
        if self.groups.is_empty() || self.groups_done || !self.write_groups {
            return Ok(());
        }
        self.groups_done = true;
        let tenant = self.tenant()?;
        let groups = self.all_groups();
        let steps = tenant_access::converge_groups(self.access()?, tenant, groups, self.out)?;
        self.group_steps.extend(steps);
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
        let groups = self.all_groups();
        let steps = tenant_access::preview_groups(self.access()?, tenant, groups, None, self.out)?;
        self.group_steps.extend(steps);
        Ok(())
    }

    /// The group actions of this run, for the result object.
    pub fn take_group_steps(&mut self) -> Vec<ActionReport> {
        std::mem::take(&mut self.group_steps)
    }

    fn all_groups(&self) -> Groups<'c> {
        Groups {
            wanted: self.groups,
            spec: &self.cfg.groups,
        }
    }
}
