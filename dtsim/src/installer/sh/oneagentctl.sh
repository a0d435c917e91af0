dt_prog=oneagentctl

dt_usage() {
    echo "usage: oneagentctl --version | --get-<setting> | [--set-<setting>=VALUE]... [--remove-host-tag=TAG]... [--remove-host-property=KEY[=VALUE]]... [--restart-service]"
    echo "settings: server tenant tenant-token proxy host-group network-zone monitoring-mode host-name host-tag(s) host-propert(y|ies) deployment-metadata auto-update-enabled app-log-content-access"
}

# <INSTALL_PATH>/agent/tools/oneagentctl -> <INSTALL_PATH>
dt_root=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
dt_conf=$dt_root/agent/conf
dt_settings=$dt_conf/settings
if [ ! -f "$dt_conf/version" ]; then
    dt_err "no OneAgent installation found at $dt_root (agent/conf/version is missing)"
    exit 1
fi
if [ $# -eq 0 ]; then
    dt_usage >&2
    exit 1
fi

case $1 in
    --version|--get-*)
        if [ $# -ne 1 ]; then
            dt_err "$1 cannot be combined with other options"
            exit 1
        fi
        case $1 in
            --version) cat "$dt_conf/version" ;;
            --get-server) dt_get server "" ;;
            --get-tenant) dt_get tenant "" ;;
            --get-proxy) dt_get proxy "" ;;
            --get-host-group) dt_get host-group "" ;;
            --get-network-zone) dt_get network-zone "" ;;
            --get-monitoring-mode) dt_get monitoring-mode fullstack ;;
            --get-host-name) dt_get host-name "" ;;
            --get-auto-update-enabled) dt_get auto-update-enabled "" ;;
            --get-app-log-content-access) dt_get app-log-content-access "" ;;
            --get-host-tags) dt_get_lines host-tags ;;
            --get-host-properties) dt_get_lines host-properties ;;
            --get-deployment-metadata) dt_get_lines deployment-metadata ;;
            *) dt_err "unknown option '$1'"; dt_usage >&2; exit 1 ;;
        esac
        exit 0 ;;
esac

# First check every argument, then apply: a bad one leaves the settings untouched.
for dt_arg in "$@"; do
    case $dt_arg in
        *"$dt_nl"*)
            dt_err "option values must be on one line"; exit 1 ;;
        --set-fips-enabled=*)
            dt_err "--set-fips-enabled can only be given to the installer"; exit 1 ;;
        --set-*=*)
            dt_name=${dt_arg%%=*}
            dt_check_set "${dt_name#--set-}" "${dt_arg#*=}" || exit 1 ;;
        --remove-host-tag=?*|--remove-host-property=?*|--restart-service) ;;
        --version|--get-*)
            dt_err "${dt_arg%%=*} cannot be combined with other options"; exit 1 ;;
        *)
            dt_err "unknown option '${dt_arg%%=*}'"; dt_usage >&2; exit 1 ;;
    esac
done

dt_restart=0
dt_changed=0
for dt_arg in "$@"; do
    case $dt_arg in
        --set-*=*)
            dt_name=${dt_arg%%=*}
            dt_apply_set "$dt_settings" "${dt_name#--set-}" "${dt_arg#*=}" || exit 1
            dt_changed=1 ;;
        --remove-host-tag=*)
            dt_remove_lines "$dt_settings/host-tags" "${dt_arg#*=}" || exit 1
            dt_changed=1 ;;
        --remove-host-property=*)
            dt_remove_lines "$dt_settings/host-properties" "${dt_arg#*=}" || exit 1
            dt_changed=1 ;;
        --restart-service)
            dt_restart=1 ;;
    esac
done

# The simulated service: a restart counter, and a marker for changes not yet picked up.
if [ $dt_restart = 1 ]; then
    dt_count=0
    if [ -f "$dt_conf/restarts" ]; then
        dt_count=$(cat "$dt_conf/restarts")
    fi
    echo $((dt_count + 1)) > "$dt_conf/restarts" || exit 1
    rm -f "$dt_conf/restart-pending"
elif [ $dt_changed = 1 ]; then
    : > "$dt_conf/restart-pending"
fi
exit 0
