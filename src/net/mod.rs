//! The network plumbing every driver and state backend shares, so none writes its own: the one
//! HTTP client setup (`http`), URL and form encoding (`encode`), and AWS's credentials chain,
//! SigV4 signing and XML answers (`aws`), and the adaptive client-side rate limit every
//! provider's calls go through (`pace`), which also counts them (`calls`). The bearer-token REST clouds (DigitalOcean,
//! Hetzner...) get their skeleton here too, next to `aws`.
//!
//! Knows nothing of oss resources or state documents, and never prints. Retry schedules come
//! from `crate::backoff`; what is worth retrying is each caller's to say.

pub mod aws;
pub mod calls;
pub mod encode;
pub mod http;
pub mod pace;
pub mod rest;
