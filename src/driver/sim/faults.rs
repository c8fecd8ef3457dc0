//! Fault injection: the per-call probabilities of injected errors (the `errors` setting) and
//! which error a call gets for a uniform draw. Drawing is the driver's (one seeded generator).

use serde::Deserialize;

use crate::driver::settings::SettingsError;

/// Per-call probabilities of injected errors, each from 0 to 1, adding up to at most 1.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Faults {
    #[serde(default)]
    pub throttle: f64,
    #[serde(default)]
    pub unavailable: f64,
    #[serde(default)]
    pub timeout: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fault {
    Throttle,
    Unavailable,
    Timeout,
}

impl Faults {
    /// Every probability in range and their sum at most 1; errors point under `/errors`.
    pub fn check(&self) -> Result<(), SettingsError> {
        for (key, probability) in [
            ("throttle", self.throttle),
            ("unavailable", self.unavailable),
            ("timeout", self.timeout),
        ] {
            if !(0.0..=1.0).contains(&probability) {
                return Err(SettingsError::at(
                    format!("/errors/{key}"),
                    format!("Expected a probability from 0 to 1, found {probability}."),
                ));
            }
        }
        if self.throttle + self.unavailable + self.timeout > 1.0 + 1e-9 {
            return Err(SettingsError::at(
                "/errors",
                "The error probabilities add up to more than 1.",
            ));
        }
        Ok(())
    }

    /// The error a call gets for a uniform draw in [0, 1).
    pub fn pick(&self, draw: f64) -> Option<Fault> {
        let mut bound = self.throttle;
        if draw < bound {
            return Some(Fault::Throttle);
        }
        bound += self.unavailable;
        if draw < bound {
            return Some(Fault::Unavailable);
        }
        bound += self.timeout;
        (draw < bound).then_some(Fault::Timeout)
    }
}
