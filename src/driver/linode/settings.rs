//! The linode provider's settings (docs/providers.md): the shared REST-cloud block
//! (`crate::driver::rest_cloud::settings`) with Linode's API, token variable and region ids.

use crate::driver::rest_cloud::settings::Cloud;

pub use crate::driver::rest_cloud::settings::SECRET_SETTINGS;

/// What Linode's settings differ in.
pub struct Linode;

impl Cloud for Linode {
    const ENDPOINT: &'static str = "https://api.linode.com";
    /// linode-cli's and Terraform's.
    const TOKEN_VARIABLE: &'static str = "LINODE_TOKEN";
    const REGION: (&'static str, &'static str) = ("region id", "us-east");

    /// `us-east`, `ap-south`, `us-ord`: lower-case letters and digits joined by dashes.
    fn region_id(id: &str) -> bool {
        !id.is_empty()
            && id.len() <= 24
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    }
}
