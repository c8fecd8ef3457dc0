# salt-ssh '*' state.apply web: writes a file in each node's own directory. oss's facts about
# the node are grains under `oss` (from the roster oss writes).
page:
  file.managed:
    - name: {{ grains['oss']['node_dir'] }}/site/salt.txt
    - contents: managed by salt on {{ grains['id'] }} ({{ grains['oss']['provider'] }}/{{ grains['oss']['location'] }})
