# frozen_string_literal: true

# oneagent_bootstrap: the binary's status.json (tenant, state, version, last result, updatedAt),
# so PuppetDB can answer "which hosts are not converged". Absent until the binary wrote one.
# oneagent_bootstrap_vardir: this node's Puppet vardir, where the class records the state
# directory it configured (a module parameter the fact could not know otherwise).
require 'json'

Facter.add(:oneagent_bootstrap_vardir) do
  setcode do
    Puppet[:vardir] if defined?(Puppet) && Puppet.respond_to?(:[])
  rescue StandardError
    nil
  end
end

Facter.add(:oneagent_bootstrap) do
  setcode do
    state_dir = '/var/lib/oneagent-bootstrap'
    vardir = Facter.value(:oneagent_bootstrap_vardir)
    pointer = vardir && File.join(vardir, 'oneagent_bootstrap_state_dir')
    state_dir = File.read(pointer).strip if pointer && File.file?(pointer)
    status = File.join(state_dir, 'status.json')
    if File.file?(status)
      s = JSON.parse(File.read(status, 65_536))
      {
        'state_dir' => state_dir,
        'tenant' => s['tenant'],
        'state' => s['state'],
        'version' => s['version'],
        'installed' => s['isAgentInstalled'],
        'last_result' => s['message'],
        'updated_at' => s['updatedAt'],
      }
    end
  rescue StandardError => e
    Facter.debug("oneagent_bootstrap fact: #{e.message}")
    nil
  end
end
