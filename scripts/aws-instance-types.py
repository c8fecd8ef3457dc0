"""Writes data/aws-ec2-instance-types.json: the vCPUs, memory and architecture of every EC2
instance type, which oss ships beside the price table so a cold plan need not ask
DescribeInstanceTypes (facts that change only when AWS adds a type).

The facts come from moto's `ec2/resources/instance_types.json.gz` (moto is Apache-2.0; its
file is DescribeInstanceTypes answers gathered from AWS). Run it with the test virtualenv:

    python3 scripts/aws-instance-types.py "$OSS_TEST_VENV" > data/aws-ec2-instance-types.json

Types that run neither x86_64 nor arm64 (Mac, 32-bit only) are listed with an empty
architecture: known, so never asked about, and never offered (as the driver does).
"""

import gzip
import importlib.metadata
import json
import pathlib
import sys

venv = pathlib.Path(sys.argv[1])
found = sorted(venv.glob("lib/python3*/site-packages/moto/ec2/resources/instance_types.json.gz"))
if not found:
    sys.exit(f"no moto in {venv}: give the test virtualenv (scripts/moto-venv.sh makes it)")
moto = found[0]
dist = sorted(moto.parents[3].glob("moto-*.dist-info"))
version = dist[0].name.removeprefix("moto-").removesuffix(".dist-info") if dist else "unknown"
types = json.load(gzip.open(moto))
out = {}
for name, facts in sorted(types.items()):
    arches = facts.get("ProcessorInfo", {}).get("SupportedArchitectures", [])
    arch = next((a for a in ("x86_64", "arm64") if a in arches), "")
    vcpus = facts.get("VCpuInfo", {}).get("DefaultVCpus") or 0
    mib = facts.get("MemoryInfo", {}).get("SizeInMiB") or 0
    out[name] = [vcpus, mib, arch if vcpus and mib else ""]
doc = {
    "source": f"moto {version}, moto/ec2/resources/instance_types.json.gz (Apache-2.0; "
    "DescribeInstanceTypes answers of AWS), by scripts/aws-instance-types.py",
    "licence": "Apache-2.0",
    "fields": ["default vCPUs", "memory MiB", "architecture"],
    "types": out,
}
text = json.dumps(doc, indent=None, separators=(",", ":"))
# One type per line, so a refresh of the file diffs by type.
text = text.replace('"types":{', '"types":{\n').replace('],"', '],\n"')
print(text)
