# Applied on every node by run.sh with `puppet apply`: writes a page the node's HTTP service
# serves, and restarts the service (it reads its pages only when it starts) when the page
# changed. The facts come from the SSH session: oss_node_dir and oss_node_name.
$node_dir = $facts['oss_node_dir']
$node = $facts['oss_node_name']

file { "${node_dir}/site/puppet.txt":
  ensure  => file,
  content => "managed by puppet on ${node}\n",
  mode    => '0644',
}

exec { 'restart the HTTP service':
  command     => "old=\$(cat '${node_dir}/http.pid'); kill \"\$old\"; while [ \"\$(cat '${node_dir}/http.pid')\" = \"\$old\" ]; do sleep 0.1; done",
  provider    => shell,
  refreshonly => true,
  subscribe   => File["${node_dir}/site/puppet.txt"],
}
