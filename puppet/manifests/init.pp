# @summary Puts this host under Dynatrace OneAgent monitoring with the oneagent-bootstrap binary.
#
# The binary decides and acts; this class only installs it, writes its token files and runs
# `apply` unless `check` says the host is converged, so a converged host reports no change and
# a failure reports the binary's one-line error. See README.md for a Hiera example.
#
# @param ensure `present` installs OneAgent, `absent` uninstalls it and removes the token files.
# @param cluster_url Cluster base URL, e.g. `https://dynatrace.example.com`.
# @param cluster_token Cluster token (ServiceProviderAPI, EnvironmentTokenManagement).
# @param api_url Environment API base; may contain `{tenant}` (ActiveGate).
# @param api_token Environment API token (InstallerDownload, or apiTokens.write to mint one).
# @param tenant Explicit tenant (environment) id.
# @param tenant_template Template for the tenant id filled from facts, e.g. `{customer}-{stage}{index}`.
# @param tenant_name_template Display name of a tenant this run creates.
# @param tenant_tags Tags of a tenant this run creates.
# @param hostname_pattern Regex whose named groups become facts, applied to the `hostname` fact.
# @param extra_facts Facts given to the binary on top of the ones it gathers (they win).
# @param host_group OneAgent host group (managed only when set).
# @param network_zone OneAgent network zone (managed only when set).
# @param monitoring_mode OneAgent monitoring mode (managed only when set).
# @param host_tags Host tags; when any is given the host has exactly these.
# @param host_properties Host properties; when any is given the host has exactly these.
# @param version OneAgent version: `latest` or a full version.
# @param upgrade Install when the installed OneAgent is older than `version`.
# @param splay Wait up to this long (`90s`, `5m`) before the first request of a run that needs
#   the network, the same delay on every run of a node (`--splay`); a converged node never waits.
# @param install_path Where OneAgent is installed.
# @param state_dir The binary's lock, status.json and logs.
# @param config_dir Where this class writes the token and facts files (directory 0700).
# @param ca_file Extra trusted root certificate (PEM) for the Dynatrace API.
# @param installer_ca_file Root certificate the installer signature must chain to (replaces the pin).
# @param proxy Proxy OneAgent uses; passed in the environment, never on the command line.
# @param binary_source A `file` source for the binary: `puppet:///...`, `https://...` or a path.
# @param package_name Install this package (which provides the binary) instead, from the
#   host's repositories or from `package_source`.
# @param package_source A local .deb (Debian family, `dpkg` provider) or .rpm (RedHat family,
#   `rpm` provider) file of the package `package_name`, for hosts without a repository.
# @param binary_path Where the binary is (installed from `binary_source` when given); the
#   default is `/usr/bin/oneagent-bootstrap` with `package_name` (where our packages put it),
#   otherwise `/usr/local/bin/oneagent-bootstrap`.
# @param extra_args More arguments for both `check` and `apply`.
# @param deployment_metadata Merged over `orchestration_tech=Puppet`, `tech_version=<puppet version>`.
# @param provisioning `node`: the node holds the cluster token (or `api_token`) and does all.
#   `server` (recommended): the Puppet server provisions while it compiles the catalog, with the
#   cluster token in `server_cluster_token_file` there, and the node gets a 15-minute
#   InstallerDownload token, only when its `oneagent_bootstrap` fact says it needs the network.
# @param server_cluster_token_file With `provisioning => 'server'`: the cluster token file on the Puppet server.
# @param server_binary_path With `provisioning => 'server'`: the binary on the Puppet server.
# @param tenant_groups User groups of a new tenant, 'NAME-TEMPLATE:PERM[,PERM...]'.
# @param tenant_group_ldap LDAP group mapped to a `tenant_groups` group, by its rendered name.
# @param tenant_group_sso SSO group mapped to a `tenant_groups` group, by its rendered name.
# @param reconcile_groups Also complete the groups when the run did not create the tenant.
class oneagent_bootstrap (
  Enum['present', 'absent'] $ensure = 'present',
  Optional[String[1]] $cluster_url = undef,
  Optional[Sensitive[String[1]]] $cluster_token = undef,
  Optional[String[1]] $api_url = undef,
  Optional[Sensitive[String[1]]] $api_token = undef,
  Optional[String[1]] $tenant = undef,
  Optional[String[1]] $tenant_template = undef,
  Optional[String[1]] $tenant_name_template = undef,
  Array[Oneagent_bootstrap::Item] $tenant_tags = [],
  Optional[String[1]] $hostname_pattern = undef,
  Hash[String[1], String] $extra_facts = {},
  Optional[String[1]] $host_group = undef,
  Optional[String[1]] $network_zone = undef,
  Optional[Enum['fullstack', 'infra-only', 'discovery']] $monitoring_mode = undef,
  Array[Oneagent_bootstrap::Item] $host_tags = [],
  Hash[Oneagent_bootstrap::Item, Oneagent_bootstrap::Item] $host_properties = {},
  String[1] $version = 'latest',
  Boolean $upgrade = false,
  Optional[Pattern[/\A[0-9]+(ms|s|m|h)?\z/]] $splay = undef,
  Oneagent_bootstrap::Absolutepath $install_path = '/opt/dynatrace/oneagent',
  Oneagent_bootstrap::Absolutepath $state_dir = '/var/lib/oneagent-bootstrap',
  Oneagent_bootstrap::Absolutepath $config_dir = '/etc/oneagent-bootstrap',
  Optional[Oneagent_bootstrap::Absolutepath] $ca_file = undef,
  Optional[Oneagent_bootstrap::Absolutepath] $installer_ca_file = undef,
  Optional[Variant[String[1], Sensitive[String[1]]]] $proxy = undef,
  Optional[String[1]] $binary_source = undef,
  Optional[String[1]] $package_name = undef,
  Optional[String[1]] $package_source = undef,
  Optional[Oneagent_bootstrap::Absolutepath] $binary_path = undef,
  Array[String[1]] $extra_args = [],
  Hash[Oneagent_bootstrap::Item, Variant[Oneagent_bootstrap::Item, Enum['']]] $deployment_metadata = {},
  Enum['node', 'server'] $provisioning = 'node',
  Optional[Oneagent_bootstrap::Absolutepath] $server_cluster_token_file = undef,
  Oneagent_bootstrap::Absolutepath $server_binary_path = '/usr/local/bin/oneagent-bootstrap',
  Array[Pattern[/\A[^\n]+\z/]] $tenant_groups = [],
  Hash[String[1], Pattern[/\A[^\n]+\z/]] $tenant_group_ldap = {},
  Hash[String[1], Pattern[/\A[^\n]+\z/]] $tenant_group_sso = {},
  Boolean $reconcile_groups = false,
) {
  if $binary_source and $package_name {
    fail('oneagent_bootstrap: set binary_source or package_name, not both')
  }
  if $package_source and !$package_name {
    fail(@(MSG/L))
      oneagent_bootstrap: package_source needs package_name, the name of the package in that \
      file (oneagent-bootstrap for ours), which is how Puppet tells whether it is installed
      | MSG
  }
  # Our .deb and .rpm install the binary in /usr/bin.
  $binary = $binary_path.lest || {
    $package_name ? { undef => '/usr/local/bin/oneagent-bootstrap', default => '/usr/bin/oneagent-bootstrap' }
  }
  $server = $provisioning == 'server'
  if $server and ($cluster_token or $api_token or !$server_cluster_token_file) {
    fail(@(MSG/L))
      oneagent_bootstrap: provisioning => 'server' takes the cluster token from \
      server_cluster_token_file (a file on the Puppet server), not cluster_token or api_token
      | MSG
  }

  if $package_name and $package_source {
    # A file is installed by the low-level tool of the family: the repository providers
    # (apt, yum/dnf) take a package name, not a file.
    $provider = $facts.dig('os', 'family') ? {
      'Debian' => 'dpkg',
      'RedHat' => 'rpm',
      default  => fail(@("MSG"/L))
        oneagent_bootstrap: package_source installs a .deb (Debian family) or .rpm (RedHat \
        family), not on OS family '${facts.dig('os', 'family')}'; use package_name with a \
        repository or binary_source
        | MSG
    }
    package { $package_name:
      ensure   => installed,
      source   => $package_source,
      provider => $provider,
      before   => Exec['oneagent-bootstrap apply'],
    }
  } elsif $package_name {
    package { $package_name:
      ensure => installed,
      before => Exec['oneagent-bootstrap apply'],
    }
  } elsif $binary_source {
    file { $binary:
      ensure => file,
      source => $binary_source,
      owner  => 'root',
      group  => 'root',
      mode   => '0755',
      backup => false,
      before => Exec['oneagent-bootstrap apply'],
    }
  }

  file { $config_dir:
    ensure => directory,
    owner  => 'root',
    group  => 'root',
    mode   => '0700',
  }

  # Where the oneagent_bootstrap fact finds status.json (this host's Puppet vardir).
  if $facts['oneagent_bootstrap_vardir'] {
    file { "${facts['oneagent_bootstrap_vardir']}/oneagent_bootstrap_state_dir":
      ensure  => file,
      content => "${state_dir}\n",
      mode    => '0644',
      backup  => false,
    }
  }

  # Tenant options the node derives its tenant with; the ones only a tenant's creation uses go
  # to the binary that holds the cluster token (the node's, or the server's `provision`).
  $tenant_single = {
    '--tenant'           => $tenant,
    '--tenant-template'  => $tenant_template,
    '--hostname-pattern' => $hostname_pattern,
  }.filter |$flag, $value| { $value =~ NotUndef }
  $tenant_args = $tenant_single.map |$flag, $value| { [$flag, $value] }.flatten
  $create_args = flatten(
    $tenant_name_template.then |$t| { ['--tenant-name-template', $t] }.lest || { [] },
    $tenant_tags.map |$tag| { ['--tenant-tag', $tag] },
    $tenant_groups.map |$group| { ['--tenant-group', $group] },
    $tenant_group_ldap.map |$name, $group| { ['--tenant-group-ldap', "${name}=${group}"] },
    $tenant_group_sso.map |$name, $group| { ['--tenant-group-sso', "${name}=${group}"] },
    $reconcile_groups ? { true => ['--reconcile-groups'], default => [] },
  )

  if $server and $ensure == 'present' {
    # The facts the tenant templates see on the server: the node's names, then `extra_facts`.
    $node_facts = {
      'hostname' => $facts.dig('networking', 'hostname'),
      'fqdn'     => $facts.dig('networking', 'fqdn'),
      'domain'   => $facts.dig('networking', 'domain'),
    }.filter |$key, $value| { $value =~ String } + $extra_facts
    # An upgrade to a pinned version needs the network even on an installed node.
    $status = ($upgrade and $version != 'latest' and $facts.dig('oneagent_bootstrap', 'version') != $version) ? {
      true    => undef,
      default => $facts['oneagent_bootstrap'],
    }
    $server_args = flatten(
      $cluster_url.then |$u| { ['--cluster-url', $u] }.lest || { [] },
      $api_url.then |$u| { ['--api-url', $u] }.lest || { [] },
      $ca_file.then |$f| { ['--ca-file', $f] }.lest || { [] },
      $create_args,
    )
    $handed_out = oneagent_bootstrap::provision(
      $server_binary_path, $server_cluster_token_file, $tenant_args, $server_args, $node_facts, $status,
    )
  } else {
    $handed_out = undef
  }

  # With server provisioning the node holds no cluster token, and a handed-out token only in
  # the run that got one (it expires 15 minutes later; the file is removed after the run).
  $secrets = $server ? {
    true    => { 'cluster-token' => undef, 'api-token' => $handed_out.then |$h| { $h['token'] } },
    default => { 'cluster-token' => $cluster_token, 'api-token' => $api_token },
  }
  $token_args = $secrets.map |$name, $value| {
    $value ? {
      undef   => [],
      default => ["--${name}-file", "${config_dir}/${name}"],
    }
  }.flatten

  $facts_file = "${config_dir}/facts.json"
  $facts_args = $extra_facts.empty ? {
    true    => [],
    default => ['--facts-file', $facts_file],
  }

  $metadata = { 'orchestration_tech' => 'Puppet', 'tech_version' => $facts['puppetversion'] } + $deployment_metadata
  $single = {
    '--cluster-url'          => $cluster_url,
    '--api-url'              => $api_url,
    '--host-group'           => $host_group,
    '--network-zone'         => $network_zone,
    '--monitoring-mode'      => $monitoring_mode,
    '--version'              => $version,
    '--install-path'         => $install_path,
    '--state-dir'            => $state_dir,
    '--ca-file'              => $ca_file,
    '--installer-ca-file'    => $installer_ca_file,
    '--ensure'               => $ensure,
  }.filter |$flag, $value| { $value =~ NotUndef }
  $args = flatten(
    $single.map |$flag, $value| { [$flag, $value] },
    $tenant_args,
    $server ? { true => [], default => $create_args },
    $host_tags.map |$tag| { ['--host-tag', $tag] },
    $host_properties.map |$key, $value| { ['--host-property', "${key}=${value}"] },
    $metadata.map |$key, $value| { ['--deployment-metadata', "${key}=${value}"] },
    $upgrade ? { true => ['--upgrade'], default => [] },
    $splay ? { undef => [], default => ['--splay', $splay] },
    $token_args,
    $facts_args,
    $extra_args,
  )

  # A proxy URL may hold a password: the environment keeps it out of the command line, which
  # Puppet logs and reports.
  $environment = $proxy ? {
    undef   => [],
    default => ["DT_PROXY=${proxy.unwrap}"],
  }
  $file_ensure = $ensure ? { 'present' => 'file', default => 'absent' }
  # `backup => false` keeps the tokens out of the filebucket.
  $secrets.each |$name, $value| {
    $token_ensure = $value ? { undef => 'absent', default => $file_ensure }
    file { "${config_dir}/${name}":
      ensure    => $token_ensure,
      content   => $value,
      owner     => 'root',
      group     => 'root',
      mode      => '0600',
      show_diff => false,
      backup    => false,
    }
  }
  $facts_ensure = $extra_facts.empty ? { true => 'absent', default => $file_ensure }
  file { $facts_file:
    ensure  => $facts_ensure,
    content => oneagent_bootstrap::facts_json($extra_facts),
    owner   => 'root',
    group   => 'root',
    mode    => '0600',
    backup  => false,
  }

  # Uninstalling needs no tenant, address or token: the token files go first.
  $run_args = $ensure ? {
    'present' => $args,
    default   => ['--install-path', $install_path, '--state-dir', $state_dir, '--ensure', 'absent'] + $extra_args,
  }
  $files = File["${config_dir}/cluster-token", "${config_dir}/api-token", $facts_file]
  exec { 'oneagent-bootstrap apply':
    command     => [$binary, 'apply', '--quiet'] + $run_args,
    unless      => [[$binary, 'check', '--quiet'] + $run_args],
    environment => $environment,
    returns     => [0, 2],
    logoutput   => true,
    timeout     => 0,
  }

  $files -> Exec['oneagent-bootstrap apply']

  if $handed_out {
    exec { 'oneagent-bootstrap remove the handed-out token':
      command     => ['/bin/rm', '-f', "${config_dir}/api-token"],
      refreshonly => true,
      subscribe   => Exec['oneagent-bootstrap apply'],
    }
  }
}
