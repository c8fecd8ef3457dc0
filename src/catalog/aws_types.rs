//! The EC2 instance types' facts shipped beside the price table: default vCPUs, memory and
//! architecture per type, from `data/aws-ec2-instance-types.json` (made by
//! `scripts/aws-instance-types.py`; its `source` field says from where), embedded with
//! `include_str!` and read once, on first use.
//!
//! These facts change only when AWS adds a type, so the AWS driver plans from them and asks
//! DescribeInstanceTypes only for a type this file does not know. Pure: no I/O.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

use super::Size;

const TYPES_FILE: &str = include_str!("../../data/aws-ec2-instance-types.json");

#[derive(Deserialize)]
struct File {
    source: String,
    /// instance type → (default vCPUs, memory MiB, architecture).
    types: HashMap<String, (u32, f64, String)>,
}

fn file() -> &'static File {
    static FILE: OnceLock<File> = OnceLock::new();
    FILE.get_or_init(|| serde_json::from_str(TYPES_FILE).expect("the shipped instance types parse"))
}

/// The shipped facts of instance type `id` as a size (no disk: the root disk is an EBS volume
/// sized at launch, as in the price table); `None` for a type the file does not know or that
/// runs neither `x86_64` nor `arm64` (Mac, 32-bit only).
pub fn instance_type(id: &str) -> Option<Size> {
    let (vcpus, mib, arch) = file().types.get(id)?;
    if arch.is_empty() {
        return None;
    }
    Some(Size {
        id: id.to_string(),
        name: id.to_string(),
        vcpus: *vcpus,
        memory_gib: mib / 1024.0,
        disk_gib: 0,
        arch: arch.clone(),
    })
}

/// Whether the file knows `id` at all (Mac and 32-bit-only types included), so the API need
/// not be asked about it.
pub fn is_known(id: &str) -> bool {
    file().types.contains_key(id)
}

/// Where the shipped facts come from.
pub fn source() -> &'static str {
    &file().source
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_types_hold_common_sizes_with_their_facts() {
        let micro = instance_type("t3.micro").unwrap();
        assert_eq!(
            (micro.vcpus, micro.memory_gib, micro.arch.as_str()),
            (2, 1.0, "x86_64")
        );
        let graviton = instance_type("m7g.large").unwrap();
        assert_eq!((graviton.vcpus, graviton.memory_gib), (2, 8.0));
        assert_eq!(graviton.arch, "arm64");
        assert!(
            instance_type("mac1.metal").is_none(),
            "Mac types are left out"
        );
        assert!(instance_type("t3.nonesuch").is_none());
        assert!(source().contains("moto") && source().contains("Apache-2.0"));
        assert!(file().types.len() > 1000);
    }
}
