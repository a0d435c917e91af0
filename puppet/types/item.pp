# One value of a repeatable option: the binary splits those on commas.
type Oneagent_bootstrap::Item = Pattern[/\A[^,\n]+\z/]
