# An absolute path on the node (stdlib's Stdlib::Absolutepath without the dependency).
type Oneagent_bootstrap::Absolutepath = Pattern[/\A\/[^\n]*\z/]
