# frozen_string_literal: true

# The facts file the binary reads with --facts-file: a JSON object, keys sorted so the content
# (and so Puppet's view of the file) only changes when the facts do.
Puppet::Functions.create_function(:'oneagent_bootstrap::facts_json') do
  dispatch :facts_json do
    param 'Hash[String, String]', :facts
  end

  def facts_json(facts)
    require 'json'
    "#{JSON.generate(facts.sort.to_h)}\n"
  end
end
