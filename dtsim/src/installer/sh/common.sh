# Shared by the installer and oneagentctl (dtsim): validation and storage of settings.
# Settings live in <INSTALL_PATH>/agent/conf/settings/, one file per option name; host tags
# and host properties one per line. Plain POSIX sh (dash), no `local`.

dt_nl='
'

# printf, not echo: dash's echo would interpret backslashes in values.
dt_err() {
    printf '%s: %s\n' "$dt_prog" "$*" >&2
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
        server|tenant-token|proxy|host-name|host-tag) ;;
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
            case $dt_v in
                *[!A-Za-z0-9._-]*) dt_err "invalid network zone '$dt_v' (letters, digits, '.', '_' and '-' only)"; return 1 ;;
            esac ;;
        monitoring-mode)
            case $dt_v in
                fullstack|infra-only|discovery) ;;
                *) dt_err "invalid monitoring mode '$dt_v' (fullstack, infra-only or discovery)"; return 1 ;;
            esac ;;
        host-property)
            case $dt_v in
                [!=]*=*) ;;
                *) dt_err "--set-host-property needs key=value, got '$dt_v'"; return 1 ;;
            esac ;;
        auto-update-enabled|app-log-content-access|fips-enabled)
            case $dt_v in
                true|false) ;;
                *) dt_err "--set-$dt_n must be true or false, got '$dt_v'"; return 1 ;;
            esac ;;
        *)
            dt_err "unknown option --set-$dt_n"
            return 1 ;;
    esac
    return 0
}

# True if FILE has a line equal to TEXT.
dt_has_line() {
    [ -f "$1" ] || return 1
    while IFS= read -r dt_line; do
        [ "$dt_line" = "$2" ] && return 0
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
