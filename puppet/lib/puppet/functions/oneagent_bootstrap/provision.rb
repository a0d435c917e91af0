# frozen_string_literal: true

# Runs on the Puppet server while it compiles a node's catalog (a function, not Deferred), so
# the cluster token never leaves the server: when the node needs the network, `provision`
# ensures the node's tenant (and its user groups) and hands out a 15-minute InstallerDownload
# token, returned as Sensitive for the catalog. A node whose `oneagent_bootstrap` fact says it
# is installed for the tenant its facts derive gets undef: no token is minted and no request
# is sent (deriving the tenant with `facts` is local).
Puppet::Functions.create_function(:'oneagent_bootstrap::provision') do
  # @param binary The oneagent-bootstrap binary on the Puppet server.
  # @param cluster_token_file The cluster token on the Puppet server (0600, readable by its user).
  # @param tenant_args Options that derive the tenant (`--tenant-template`, `--hostname-pattern`...).
  # @param provision_args Options only `provision` takes (`--cluster-url`, `--tenant-group`...).
  # @param node_facts The node's facts the tenant templates see (`hostname` included).
  # @param status The node's `oneagent_bootstrap` fact; undef forces a provision.
  # @return undef, or `tenant`, `api_url`, `token_id`, `token_name` and `token` (Sensitive).
  dispatch :provision do
    param 'String[1]', :binary
    param 'String[1]', :cluster_token_file
    param 'Array[String]', :tenant_args
    param 'Array[String]', :provision_args
    param 'Hash[String, String]', :node_facts
    param 'Optional[Hash]', :status
  end

  def provision(binary, cluster_token_file, tenant_args, provision_args, node_facts, status)
    require 'json'
    require 'open3'
    require 'tempfile'
    host = node_facts['hostname'] || '(no hostname fact)'
    Tempfile.create(['oneagent-bootstrap-facts', '.json']) do |f|
      f.chmod(0o600)
      f.write(JSON.generate(node_facts))
      f.flush
      common = ['--facts-file', f.path] + tenant_args
      tenant = run(binary, host, ['facts', '--json'] + common).dig('tenant', 'id')
      return nil if status.is_a?(Hash) && status['state'] == 'Installed' && status['tenant'] == tenant

      out = run(binary, host, ['provision', '--json', '--output', '-',
                               '--cluster-token-file', cluster_token_file] + common + provision_args)
      {
        'tenant' => out['tenant'],
        'api_url' => out['apiUrl'],
        'token_id' => out['tokenId'],
        'token_name' => out['tokenName'],
        'token' => Puppet::Pops::Types::PSensitiveType::Sensitive.new(out['token'].to_s),
      }
    end
  end

  # The binary's JSON object; its one-line error (never a secret) fails the compilation.
  def run(binary, host, args)
    stdout, stderr, st = Open3.capture3(binary, *args, stdin_data: '')
    result = begin
      JSON.parse(stdout)
    rescue JSON::ParserError
      {}
    end
    return result if [0, 2].include?(st.exitstatus) && result.is_a?(Hash) && !result['error']

    message = (result['error'] || stderr.lines.last.to_s.strip).sub(/\Aerror: /, '')
    raise Puppet::Error, "oneagent_bootstrap: #{args.first} for node #{host} on the Puppet server " \
                         "exited #{st.exitstatus}: #{message}"
  rescue SystemCallError => e
    raise Puppet::Error, "oneagent_bootstrap: running #{binary} on the Puppet server: #{e.message}; " \
                         'set server_binary_path to the binary there'
  end
end
