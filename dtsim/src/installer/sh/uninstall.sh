#!/bin/sh
# Uninstalls the dtsim-simulated OneAgent: removes <INSTALL_PATH>/agent and, if then empty,
# INSTALL_PATH itself. Nothing else is touched.
dt_agent=$(cd "$(dirname "$0")" && pwd) || exit 1
dt_root=$(dirname "$dt_agent")
if [ "${dt_agent##*/}" != agent ] || [ ! -f "$dt_agent/conf/version" ]; then
    printf 'uninstall.sh: no OneAgent installation found at %s\n' "$dt_root" >&2
    exit 1
fi
rm -rf "$dt_agent" || exit 1
rmdir "$dt_root" 2>/dev/null
printf 'OneAgent uninstalled from %s\n' "$dt_root"
exit 0
