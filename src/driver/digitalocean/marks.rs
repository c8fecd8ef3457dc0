//! How oss marks what it creates at DigitalOcean, whose tags are bare names
//! (`^[a-zA-Z0-9_\-\:]+$`): a droplet carries the shared node tags
//! (`crate::driver::rest_cloud::marks`) and the tag its firewall targets; a firewall and an SSH
//! key carry the lineage in their names. Pure text.

use sha2::{Digest, Sha256};

use crate::resource::Address;

use crate::driver::rest_cloud::marks;
pub use crate::driver::rest_cloud::marks::{address_tag, lineage_tag, name};

/// The tag the firewall at `address` of `lineage` applies to: droplets carrying it get its
/// rules.
pub fn firewall_tag(lineage: &str, address: &Address) -> String {
    let digest = Sha256::digest(format!("{lineage}\0{address}").as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("oss:fw:{hex}")
}

/// The name of the firewall or key at `address` named `base`: the region and the lineage's
/// first 8 characters added, so a create after a crash finds its own by name.
pub fn object_name(base: &str, region: Option<&str>, lineage: &str) -> String {
    marks::object_name(base, region, lineage, 255)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_what_the_api_accepts() {
        assert_eq!(name("oss-my_app-web", 64), "oss-my-app-web");
        assert_eq!(name("__", 64), "oss");
        assert_eq!(
            object_name("oss-a", Some("nyc1"), "0123456789"),
            "oss-a-nyc1-01234567"
        );
        let tag = firewall_tag("L", &Address("firewall.do.nyc1".into()));
        assert!(tag.starts_with("oss:fw:") && tag.len() == 7 + 16, "{tag}");
    }
}
