//! The digitalocean provider's settings (docs/providers.md): the shared REST-cloud block
//! (`crate::driver::rest_cloud::settings`) with DigitalOcean's API, token variable and
//! region slugs.

use crate::driver::rest_cloud::settings::Cloud;

pub use crate::driver::rest_cloud::settings::SECRET_SETTINGS;

/// What DigitalOcean's settings differ in.
pub struct DigitalOcean;

impl Cloud for DigitalOcean {
    const ENDPOINT: &'static str = "https://api.digitalocean.com";
    /// doctl's and Terraform's.
    const TOKEN_VARIABLE: &'static str = "DIGITALOCEAN_TOKEN";
    const REGION: (&'static str, &'static str) = ("region slug", "nyc1");

    fn region_id(slug: &str) -> bool {
        !slug.is_empty()
            && slug.len() <= 16
            && slug
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    }
}
