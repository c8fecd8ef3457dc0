//! The vultr provider's settings (docs/providers.md): the shared REST-cloud block
//! (`crate::driver::rest_cloud::settings`) with Vultr's API, key variable and region ids.

use crate::driver::rest_cloud::settings::Cloud;

pub use crate::driver::rest_cloud::settings::SECRET_SETTINGS;

/// What Vultr's settings differ in.
pub struct Vultr;

impl Cloud for Vultr {
    const ENDPOINT: &'static str = "https://api.vultr.com";
    /// vultr-cli's and Terraform's.
    const TOKEN_VARIABLE: &'static str = "VULTR_API_KEY";
    const REGION: (&'static str, &'static str) = ("region id", "ewr");

    /// `ewr`, `fra`, `sgp`: lower-case letters and digits (dashes allowed for newer ones).
    fn region_id(id: &str) -> bool {
        !id.is_empty()
            && id.len() <= 16
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    }
}
