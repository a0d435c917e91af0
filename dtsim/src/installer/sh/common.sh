# Shared by the installer and oneagentctl (dtsim): validation and storage of settings.
# Settings live in <INSTALL_PATH>/agent/conf/settings/, one file per option name; host tags,
# host properties and deployment metadata one per line. Rules are those of "Customize OneAgent
# installation on Linux" and "OneAgent configuration via command-line interface" (and the real
# oneagentctl's --help). Plain POSIX sh (dash), no `local`.

dt_nl='
'
dt_ws=" $dt_nl	"

# printf, not echo: dash's echo would interpret backslashes in values.
dt_err() {
    printf '%s: %s\n' "$dt_prog" "$*" >&2
}

dt_is_bool() {
    case $1 in true|false) return 0 ;; esac
    return 1
}

# A decimal integer in LOW..HIGH (no sign, no leading zero, at most 5 digits).
dt_in_range() {
    case $1 in ''|0?*|*[!0-9]*|??????*) return 1 ;; esac
    [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]
}

# Host tags and properties: KEY or KEY=VALUE, no whitespace, no second '=', the key not
# starting with '#', at most 256 characters in all.
dt_check_tag() {
    case $2 in
        *[$dt_ws]*)
            dt_err "--set-$1 '$2' must not contain whitespace"; return 1 ;;
        \#*)
            dt_err "--set-$1 '$2': the key must not start with '#'"; return 1 ;;
        =*|*=*=*)
            dt_err "--set-$1 '$2' must be KEY or KEY=VALUE with no other '='"; return 1 ;;
    esac
    if [ ${#2} -gt 256 ]; then
        dt_err "--set-$1 is longer than 256 characters"
        return 1
    fi
}

# Checks --set-NAME=VALUE without changing anything. Never echoes the tenant token.
dt_check_set() {
    dt_n=$1
    dt_v=$2
    case $dt_n in
        server|tenant|tenant-token|host-tag|host-property)
            if [ -z "$dt_v" ]; then
                dt_err "--set-$dt_n needs a non-empty value"
                return 1
            fi ;;
    esac
    case $dt_n in
        server|tenant-token|proxy|no-proxy) ;;
        host-tag|host-property)
            dt_check_tag "$dt_n" "$dt_v" || return 1 ;;
        deployment-metadata)
            # KEY=VALUE; an empty VALUE removes KEY (the public docs say nothing on removal).
            case $dt_v in
                *=*) ;;
                *) dt_err "--set-deployment-metadata needs KEY=VALUE, got '$dt_v'"; return 1 ;;
            esac
            case ${dt_v%%=*} in
                ''|*[!A-Za-z0-9._-]*)
                    dt_err "invalid deployment metadata key '${dt_v%%=*}' (1 or more letters, digits, '.', '_' and '-')"
                    return 1 ;;
            esac ;;
        tenant)
            case $dt_v in
                *[!A-Za-z0-9_-]*) dt_err "invalid tenant '$dt_v' (letters, digits, _ and - only)"; return 1 ;;
            esac ;;
        host-name)
            case $dt_v in
                *[\<\>\&\'\"]*|\#*)
                    dt_err "invalid host name '$dt_v' (no < > & ' \", not starting with '#')"; return 1 ;;
            esac
            if [ ${#dt_v} -gt 256 ]; then
                dt_err "host name '$dt_v' is longer than 256 characters"
                return 1
            fi ;;
        host-group)
            if [ ${#dt_v} -gt 100 ]; then
                dt_err "host group '$dt_v' is longer than 100 characters"
                return 1
            fi
            case $dt_v in
                dt.*) dt_err "host group '$dt_v' must not start with 'dt.'"; return 1 ;;
                *[!A-Za-z0-9._-]*) dt_err "invalid host group '$dt_v' (letters, digits, '.', '_' and '-' only)"; return 1 ;;
            esac ;;
        network-zone)
            if [ ${#dt_v} -gt 256 ]; then
                dt_err "network zone '$dt_v' is longer than 256 characters"
                return 1
            fi
            case $dt_v in
                .*) dt_err "network zone '$dt_v' must not start with '.'"; return 1 ;;
                *[!A-Za-z0-9._-]*) dt_err "invalid network zone '$dt_v' (letters, digits, '.', '_' and '-' only)"; return 1 ;;
            esac ;;
        monitoring-mode)
            case $dt_v in
                fullstack|infra-only|discovery) ;;
                *) dt_err "invalid monitoring mode '$dt_v' (fullstack, infra-only or discovery)"; return 1 ;;
            esac ;;
        host-id-source)
            case $dt_v in
                auto|ip-addresses|mac-addresses|fqdn) ;;
                ip-addresses\;namespace=?*|mac-addresses\;namespace=?*|fqdn\;namespace=?*)
                    dt_ns=${dt_v#*;namespace=}
                    case $dt_ns in
                        *[!A-Za-z0-9._-]*)
                            dt_err "invalid host ID namespace '$dt_ns' (letters, digits, '.', '_' and '-' only)"; return 1 ;;
                    esac
                    if [ ${#dt_ns} -gt 256 ]; then
                        dt_err "host ID namespace '$dt_ns' is longer than 256 characters"
                        return 1
                    fi ;;
                *)
                    dt_err "invalid host ID source '$dt_v' (auto, ip-addresses, mac-addresses or fqdn, optionally ';namespace=NAME' after the last three)"
                    return 1 ;;
            esac ;;
        watchdog-portrange)
            dt_lo=${dt_v%%:*}
            dt_hi=${dt_v#*:}
            if ! dt_in_range "$dt_lo" 1024 65535 || ! dt_in_range "$dt_hi" 1024 65535 ||
                [ $((dt_hi - dt_lo)) -lt 3 ]; then
                dt_err "invalid watchdog port range '$dt_v' (LOW:HIGH within 1024-65535, LOW lower, at least 4 ports)"
                return 1
            fi ;;
        extensions-ingest-port|extensions-statsd-port)
            if ! dt_in_range "$dt_v" 1 65535; then
                dt_err "--set-$dt_n must be a port number 1-65535, got '$dt_v'"
                return 1
            fi ;;
        app-log-content-access)
            case $dt_v in
                true|false|1|0) ;;
                *) dt_err "--set-$dt_n must be true, false, 1 or 0, got '$dt_v'"; return 1 ;;
            esac ;;
        auto-update-enabled|system-logs-access-enabled|auto-injection-enabled|infra-only|fips-enabled)
            if ! dt_is_bool "$dt_v"; then
                dt_err "--set-$dt_n must be true or false, got '$dt_v'"
                return 1
            fi ;;
        *)
            dt_err "unknown option --set-$dt_n"
            return 1 ;;
    esac
    return 0
}

# The value --get-NAME prints for a setting never set.
dt_default() {
    case $1 in
        monitoring-mode) echo fullstack ;;
        auto-update-enabled|app-log-content-access|system-logs-access-enabled|auto-injection-enabled) echo true ;;
        fips-enabled) echo false ;;
        host-id-source) echo auto ;;
        watchdog-portrange) echo 50000:50100 ;;
        extensions-ingest-port) echo 14499 ;;
        extensions-statsd-port) echo 18125 ;;
        *) echo ;;
    esac
}

# True if FILE has a line equal to TEXT.
dt_has_line() {
    [ -f "$1" ] || return 1
    while IFS= read -r dt_line; do
        [ "$dt_line" = "$2" ] && return 0
    done < "$1"
    return 1
}

# True if FILE has a line equal to KEY or starting with KEY=.
dt_has_key() {
    [ -f "$1" ] || return 1
    while IFS= read -r dt_line; do
        [ "${dt_line%%=*}" = "$2" ] && return 0
    done < "$1"
    return 1
}

# Removes from FILE the lines equal to MATCH or whose key (text before the first '=') is MATCH.
dt_remove_lines() {
    [ -f "$1" ] || return 0
    : > "$1.tmp" || return 1
    while IFS= read -r dt_line; do
        if [ "$dt_line" != "$2" ] && [ "${dt_line%%=*}" != "$2" ]; then
            printf '%s\n' "$dt_line" >> "$1.tmp" || return 1
        fi
    done < "$1"
    mv -f "$1.tmp" "$1"
}

# Removes from FILE the lines equal to TEXT (tags may share a key, so they go one by one).
dt_remove_exact() {
    [ -f "$1" ] || return 0
    : > "$1.tmp" || return 1
    while IFS= read -r dt_line; do
        if [ "$dt_line" != "$2" ]; then
            printf '%s\n' "$dt_line" >> "$1.tmp" || return 1
        fi
    done < "$1"
    mv -f "$1.tmp" "$1"
}

# Stores --set-NAME=VALUE under the settings directory DIR.
dt_apply_set() {
    case $2 in
        host-tag)
            dt_has_line "$1/host-tags" "$3" || printf '%s\n' "$3" >> "$1/host-tags" ;;
        host-property)
            dt_remove_lines "$1/host-properties" "${3%%=*}" &&
                printf '%s\n' "$3" >> "$1/host-properties" ;;
        deployment-metadata)
            dt_remove_lines "$1/deployment-metadata" "${3%%=*}" || return 1
            if [ -n "${3#*=}" ]; then
                printf '%s\n' "$3" >> "$1/deployment-metadata"
            fi ;;
        tenant-token)
            (umask 077 && printf '%s\n' "$3" > "$1/tenant-token") ;;
        # Deprecated alias: one monitoring mode, whichever of the two was given last.
        infra-only)
            if [ "$3" = true ]; then
                printf 'infra-only\n' > "$1/monitoring-mode"
            else
                printf 'fullstack\n' > "$1/monitoring-mode"
            fi ;;
        app-log-content-access)
            case $3 in
                1|true) printf 'true\n' > "$1/$2" ;;
                *) printf 'false\n' > "$1/$2" ;;
            esac ;;
        *)
            printf '%s\n' "$3" > "$1/$2" ;;
    esac
}

# Prints a single-valued setting, DEFAULT (possibly empty) when unset.
dt_get() {
    if [ -f "$dt_settings/$1" ]; then
        cat "$dt_settings/$1"
    else
        printf '%s\n' "$2"
    fi
}

# Prints a multi-valued setting one per line, an empty line when there is none.
dt_get_lines() {
    if [ -s "$dt_settings/$1" ]; then
        cat "$dt_settings/$1"
    else
        echo
    fi
}
