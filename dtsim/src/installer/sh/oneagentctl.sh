dt_prog=oneagentctl

dt_usage() {
    echo "usage: oneagentctl -h|--help | -v|--version | --get-<setting> | [--set-<setting>=VALUE]... [--remove-host-tag=TAG]... [--remove-host-property=KEY[=VALUE]]... [--restart-service]"
    echo "get and set: server tenant proxy no-proxy host-group network-zone monitoring-mode infra-only host-name"
    echo "  host-id-source auto-update-enabled app-log-content-access system-logs-access-enabled"
    echo "  auto-injection-enabled watchdog-portrange extensions-ingest-port extensions-statsd-port"
    echo "  host-tag(s) host-propert(y|ies) deployment-metadata; set only: tenant-token (get: --get-tenant-token)"
    echo "get only: host-id fips-enabled (fips is set by the installer)"
}

# The settings with one value each that --get-NAME prints as stored (or their default).
dt_single=" server tenant tenant-token proxy no-proxy host-group network-zone monitoring-mode host-name host-id-source auto-update-enabled app-log-content-access system-logs-access-enabled auto-injection-enabled fips-enabled watchdog-portrange extensions-ingest-port extensions-statsd-port "

case $1 in
    -h|--help)
        dt_usage
        exit 0 ;;
esac

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
    -v|--version|--get-*)
        if [ $# -ne 1 ]; then
            dt_err "$1 cannot be combined with other options"
            exit 1
        fi
        dt_name=${1#--get-}
        case $1 in
            -v|--version) cat "$dt_conf/version" ;;
            --get-host-tags) dt_get_lines host-tags ;;
            --get-host-properties) dt_get_lines host-properties ;;
            --get-deployment-metadata) dt_get_lines deployment-metadata ;;
            --get-host-id) cat "$dt_conf/host-id" || exit 1 ;;
            --get-infra-only)
                if [ "$(dt_get monitoring-mode fullstack)" = infra-only ]; then
                    echo true
                else
                    echo false
                fi ;;
            *)
                case $dt_single in
                    *" $dt_name "*) dt_get "$dt_name" "$(dt_default "$dt_name")" ;;
                    *) dt_err "unknown option '$1'"; dt_usage >&2; exit 1 ;;
                esac ;;
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
        -v|--version|--get-*|-h|--help)
            dt_err "${dt_arg%%=*} cannot be combined with other options"; exit 1 ;;
        *)
            dt_err "unknown option '${dt_arg%%=*}'"; dt_usage >&2; exit 1 ;;
    esac
done

# Removing a tag or property that is not set is an error, but the rest is still done (as the
# real one: "a non-zero exit code is returned, but all the existing tags ... are removed").
dt_restart=0
dt_changed=0
dt_missing=0
for dt_arg in "$@"; do
    case $dt_arg in
        --set-*=*)
            dt_name=${dt_arg%%=*}
            dt_apply_set "$dt_settings" "${dt_name#--set-}" "${dt_arg#*=}" || exit 1
            dt_changed=1 ;;
        --remove-host-tag=*)
            if dt_has_line "$dt_settings/host-tags" "${dt_arg#*=}"; then
                dt_remove_exact "$dt_settings/host-tags" "${dt_arg#*=}" || exit 1
                dt_changed=1
            else
                dt_err "host tag '${dt_arg#*=}' is not set"
                dt_missing=1
            fi ;;
        --remove-host-property=*)
            # Properties are keyed: KEY=VALUE removes KEY whatever its value.
            dt_key=${dt_arg#*=}
            dt_key=${dt_key%%=*}
            if dt_has_key "$dt_settings/host-properties" "$dt_key"; then
                dt_remove_lines "$dt_settings/host-properties" "$dt_key" || exit 1
                dt_changed=1
            else
                dt_err "host property '$dt_key' is not set"
                dt_missing=1
            fi ;;
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
exit $dt_missing
