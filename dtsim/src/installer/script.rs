//! Renders the installer script for one environment and version.

use super::InstallerParams;

pub(crate) fn render(p: &InstallerParams) -> anyhow::Result<String> {
    Ok(format!(
        "#!/bin/sh\ncase \"$1\" in --version) echo '{}'; exit 0;; esac\nexit 1\n",
        p.version
    ))
}
