#!/bin/sh
# Dynatrace OneAgent installer for Linux, simulated by dtsim (not a real OneAgent).
# Environment @DT_ENVIRONMENT@, version @DT_VERSION@, arch @DT_ARCH@.
# This file is a detached S/MIME signed message: the script exits before the payload and the
# signature. Usage: sh installer.sh [--version] [INSTALL_PATH=/path] [KEY=value]... [--set-X=value]...

DT_VERSION='@DT_VERSION@'
DT_ARCH='@DT_ARCH@'
DT_EMBEDDED_TENANT=@DT_TENANT@
DT_EMBEDDED_TENANT_TOKEN=@DT_TOKEN@
DT_EMBEDDED_SERVER=@DT_SERVER@
# normal | fails | hangs (dtsim fault injection)
DT_BEHAVIOUR=@DT_BEHAVIOUR@
DT_FAIL_CODE=@DT_FAIL_CODE@

dt_prog=installer

@COMMON@

dt_fail() {
    dt_err "$*"
    exit 1
}

for dt_arg in "$@"; do
    if [ "$dt_arg" = --version ]; then
        echo "$DT_VERSION"
        exit 0
    fi
done

# Check every argument before writing anything.
dt_install_path=/opt/dynatrace/oneagent
for dt_arg in "$@"; do
    case $dt_arg in
        *"$dt_nl"*)
            dt_fail "parameter values must be on one line" ;;
        INSTALL_PATH=*)
            dt_install_path=${dt_arg#*=}
            case $dt_install_path in
                /?*) ;;
                *) dt_fail "INSTALL_PATH must be an absolute path, got '$dt_install_path'" ;;
            esac ;;
        LOG_PATH=*|DATA_STORAGE=*|NON_ROOT_MODE=*|USER=*|GROUP=*) ;;
        --set-*=*)
            dt_name=${dt_arg%%=*}
            dt_check_set "${dt_name#--set-}" "${dt_arg#*=}" || exit 1 ;;
        *)
            dt_err "unknown parameter '${dt_arg%%=*}'"
            dt_err "accepted: INSTALL_PATH= LOG_PATH= DATA_STORAGE= NON_ROOT_MODE= USER= GROUP= --set-<setting>=VALUE --version"
            exit 1 ;;
    esac
done

case $DT_BEHAVIOUR in
    fails)
        dt_err "error: OneAgent $DT_VERSION installation failed (failure simulated by dtsim), exit code $DT_FAIL_CODE"
        exit "$DT_FAIL_CODE" ;;
    hangs)
        printf 'Installing OneAgent %s to %s ...\n' "$DT_VERSION" "$dt_install_path"
        while :; do sleep 1; done ;;
esac

dt_agent=$dt_install_path/agent
dt_conf=$dt_agent/conf
dt_settings=$dt_conf/settings
dt_old=
if [ -f "$dt_conf/version" ]; then
    dt_old=$(cat "$dt_conf/version")
    printf 'Upgrading OneAgent in %s from %s to %s\n' "$dt_install_path" "$dt_old" "$DT_VERSION"
else
    printf 'Installing OneAgent %s to %s\n' "$DT_VERSION" "$dt_install_path"
fi

umask 022
mkdir -p "$dt_agent/tools" "$dt_settings" ||
    dt_fail "cannot create $dt_agent: run as a user who may write there, or pass INSTALL_PATH="

cat > "$dt_agent/tools/oneagentctl.new" <<'DTSIM_ONEAGENTCTL_END' || dt_fail "cannot write $dt_agent/tools/oneagentctl"
@ONEAGENTCTL@
DTSIM_ONEAGENTCTL_END
chmod 755 "$dt_agent/tools/oneagentctl.new" &&
    mv -f "$dt_agent/tools/oneagentctl.new" "$dt_agent/tools/oneagentctl" ||
    dt_fail "cannot install $dt_agent/tools/oneagentctl"

cat > "$dt_agent/uninstall.sh.new" <<'DTSIM_UNINSTALL_END' || dt_fail "cannot write $dt_agent/uninstall.sh"
@UNINSTALL@
DTSIM_UNINSTALL_END
chmod 755 "$dt_agent/uninstall.sh.new" &&
    mv -f "$dt_agent/uninstall.sh.new" "$dt_agent/uninstall.sh" ||
    dt_fail "cannot install $dt_agent/uninstall.sh"

# A fresh install connects to the embedded environment; an upgrade keeps what is configured.
if [ -z "$dt_old" ]; then
    dt_apply_set "$dt_settings" tenant "$DT_EMBEDDED_TENANT" &&
        dt_apply_set "$dt_settings" server "$DT_EMBEDDED_SERVER" &&
        dt_apply_set "$dt_settings" tenant-token "$DT_EMBEDDED_TENANT_TOKEN" ||
        dt_fail "cannot write the connection settings to $dt_settings"
fi

for dt_arg in "$@"; do
    case $dt_arg in
        --set-*=*)
            dt_name=${dt_arg%%=*}
            dt_apply_set "$dt_settings" "${dt_name#--set-}" "${dt_arg#*=}" ||
                dt_fail "cannot store ${dt_name} in $dt_settings" ;;
        *=*)
            dt_remove_lines "$dt_conf/installation.conf" "${dt_arg%%=*}" &&
                printf '%s\n' "$dt_arg" >> "$dt_conf/installation.conf" ||
                dt_fail "cannot store ${dt_arg%%=*} in $dt_conf/installation.conf" ;;
    esac
done

printf '%s\n' "$DT_VERSION" > "$dt_conf/version.new" &&
    printf '%s\n' "$DT_ARCH" > "$dt_conf/arch" &&
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) ${dt_old:-none} -> $DT_VERSION" >> "$dt_conf/history" &&
    mv -f "$dt_conf/version.new" "$dt_conf/version" ||
    dt_fail "cannot record the installed version in $dt_conf"
echo "Installation finished successfully."
exit 0
# Everything below is payload and signature; the shell never reads it.
