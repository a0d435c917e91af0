#!/bin/sh
# Dynatrace OneAgent installer for Linux, simulated by dtsim (not a real OneAgent).
# Environment @DT_ENVIRONMENT@, version @DT_VERSION@, arch @DT_ARCH@.
# This file is a detached S/MIME signed message: the script exits before the payload and the
# signature. Usage: sh installer.sh --help

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

dt_usage() {
    echo "usage: sh $0 [--version] [--help] [INSTALL_PATH=/abs] [LOG_PATH=/abs] [DATA_STORAGE=/abs]"
    echo "  [NON_ROOT_MODE=0|1] [DISABLE_ROOT_FALLBACK=0|1] [USER=name [GROUP=name]] [SKIP_OS_SUPPORT_CHECK=true|false]"
    echo "  [--set-<setting>=VALUE]...   (settings: see oneagentctl --help; also --set-fips-enabled=true|false)"
}

for dt_arg in "$@"; do
    case $dt_arg in
        --version) echo "$DT_VERSION"; exit 0 ;;
        --help) dt_usage; exit 0 ;;
    esac
done

# INSTALL_PATH, LOG_PATH, DATA_STORAGE: absolute, not the root, not an existing symbolic link.
dt_check_dir() {
    case $2 in
        /*[!/]*) ;;
        *) dt_fail "$1 must be an absolute path other than /, got '$2'" ;;
    esac
    if [ -L "$2" ]; then
        dt_fail "$1 must not be an existing symbolic link: $2"
    fi
}

# True if directory A is B or lies inside it.
dt_within() {
    case ${1%/}/ in
        "${2%/}"/*) return 0 ;;
    esac
    return 1
}

# The installation, log and data directories may not share or nest ("Customize OneAgent
# installation on Linux").
dt_check_apart() {
    if dt_within "$2" "$4" || dt_within "$4" "$2"; then
        dt_fail "$1 ($2) and $3 ($4) must not be the same directory or inside one another"
    fi
}

# USER and GROUP: 3-32 of letters, digits, '.', '_', '-', and not a numeric id.
dt_check_account() {
    case $2 in
        ???*) ;;
        *) dt_fail "$1 must be at least 3 characters, got '$2'" ;;
    esac
    case $2 in
        *[!A-Za-z0-9._-]*) dt_fail "invalid $1 '$2' (letters, digits, '.', '_' and '-' only)" ;;
        *[!0-9]*) ;;
        *) dt_fail "$1 must be a name, not a numeric id: '$2'" ;;
    esac
    if [ ${#2} -gt 32 ]; then
        dt_fail "$1 '$2' is longer than 32 characters"
    fi
}

# Check every argument before writing anything.
dt_install_path=/opt/dynatrace/oneagent
dt_log_path=/var/log/dynatrace/oneagent
dt_data_storage=/var/lib/dynatrace/oneagent/datastorage
dt_user=
dt_group=
for dt_arg in "$@"; do
    dt_val=${dt_arg#*=}
    case $dt_arg in
        *"$dt_nl"*)
            dt_fail "parameter values must be on one line" ;;
        INSTALL_PATH=*)
            dt_check_dir INSTALL_PATH "$dt_val"
            dt_install_path=$dt_val ;;
        LOG_PATH=*)
            dt_check_dir LOG_PATH "$dt_val"
            dt_log_path=$dt_val ;;
        DATA_STORAGE=*)
            dt_check_dir DATA_STORAGE "$dt_val"
            dt_data_storage=$dt_val ;;
        NON_ROOT_MODE=*|DISABLE_ROOT_FALLBACK=*)
            case $dt_val in
                0|1) ;;
                *) dt_fail "${dt_arg%%=*} must be 0 or 1, got '$dt_val'" ;;
            esac ;;
        SKIP_OS_SUPPORT_CHECK=*)
            dt_is_bool "$dt_val" || dt_fail "SKIP_OS_SUPPORT_CHECK must be true or false, got '$dt_val'" ;;
        USER=*)
            dt_check_account USER "$dt_val"
            dt_user=$dt_val ;;
        GROUP=*)
            dt_check_account GROUP "$dt_val"
            dt_group=$dt_val ;;
        --set-*=*)
            dt_name=${dt_arg%%=*}
            dt_check_set "${dt_name#--set-}" "${dt_arg#*=}" || exit 1 ;;
        *)
            dt_err "unknown parameter '${dt_arg%%=*}'"
            dt_usage >&2
            exit 1 ;;
    esac
done
if [ -n "$dt_group" ] && [ -z "$dt_user" ]; then
    dt_fail "GROUP can only be given together with USER"
fi
dt_check_apart INSTALL_PATH "$dt_install_path" LOG_PATH "$dt_log_path"
dt_check_apart INSTALL_PATH "$dt_install_path" DATA_STORAGE "$dt_data_storage"
dt_check_apart LOG_PATH "$dt_log_path" DATA_STORAGE "$dt_data_storage"

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
# The host ID (oneagentctl --get-host-id): 16 hex digits, kept across upgrades.
if [ ! -s "$dt_conf/host-id" ]; then
    dt_host_id=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
    case $dt_host_id in
        ????????????????) printf '%s\n' "$dt_host_id" > "$dt_conf/host-id" ||
            dt_fail "cannot write $dt_conf/host-id" ;;
        *) dt_fail "cannot make a host ID from /dev/urandom" ;;
    esac
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
