//! The `aws` load-balancer provider's ELBv2 layer (docs/lb.md, "aws"): application load
//! balancers, target groups, listeners and registered instance targets on Elastic Load
//! Balancing v2, over the one AWS Query client and signer (`elbv2.rs`). The `Driver` that
//! turns `lb` resources into these calls is not built yet: `lb.NAME` with provider `aws` is
//! still refused at validation (`strategy::lb::LB_PROVIDERS`).

pub mod elbv2;
