//! The hetzner provider's settings (docs/providers.md): the shared REST-cloud block
//! (`crate::driver::rest_cloud::settings`) with Hetzner Cloud's API, token variable and
//! location names.

use crate::driver::rest_cloud::settings::Cloud;

pub use crate::driver::rest_cloud::settings::SECRET_SETTINGS;

/// What Hetzner's settings differ in.
pub struct Hetzner;

impl Cloud for Hetzner {
    /// The API's paths start after `/v1` (the description's server URL).
    const ENDPOINT: &'static str = "https://api.hetzner.cloud/v1";
    /// The hcloud CLI's and Terraform's.
    const TOKEN_VARIABLE: &'static str = "HCLOUD_TOKEN";
    const REGION: (&'static str, &'static str) = ("location name", "fsn1");

    /// `fsn1`, `nbg1`, `hel1`, `ash`, `hil`, `sin`: lower-case letters and digits.
    fn region_id(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= 16
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    }
}
