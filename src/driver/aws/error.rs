//! What a failed EC2 call means for the engine: every AWS error code, HTTP status and
//! transport failure sorted into retry, fail-over (with how much to rule out) or fatal.
//!
//! The table is documented in docs/aws.md; the tests below pin it. Messages keep AWS's code and
//! its own words, and never hold credentials (the driver never puts them into a message).

use std::time::Duration;

use crate::driver::{DriverError, ErrorClass, Scope};

/// How an EC2 call failed, before it is classified.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// Nothing was sent: connection refused, name not resolved, TLS handshake failed.
    Unreachable(String),
    /// Sent, but no answer in time (the call may or may not have had its effect).
    Timeout(String),
    /// The connection broke after the request went out.
    Transport(String),
    /// AWS answered with an error: its HTTP status, its error code (when the body had one),
    /// its message, and the `Retry-After` it asked for.
    Api {
        status: u16,
        code: Option<String>,
        message: String,
        retry_after: Option<Duration>,
    },
    /// AWS answered 2xx with something that is not the expected XML.
    Malformed(String),
    /// No credentials were found, so nothing was sent.
    NoCredentials,
}

/// Codes that mean "slow down or try again soon".
const RETRY: &[&str] = &[
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "SlowDown",
    "ServiceUnavailable",
    "Unavailable",
    "InternalError",
    "InternalFailure",
    "RequestTimeout",
    "RequestTimeoutException",
    "RequestExpired",
    "PriorRequestNotComplete",
    "IncorrectState",
    "IncorrectInstanceState",
    "ConcurrentTagAccess",
    // A security group or key pair still used by instances that are shutting down.
    "DependencyViolation",
    "InvalidGroup.InUse",
];

/// Codes that refuse this placement, and what else they rule out for the rest of the run.
const FAIL_OVER: &[(&str, Scope)] = &[
    ("InsufficientInstanceCapacity", Scope::Offer),
    ("InsufficientHostCapacity", Scope::Offer),
    ("InsufficientReservedInstanceCapacity", Scope::Offer),
    ("InsufficientCapacity", Scope::Offer),
    ("InsufficientCapacityOnHost", Scope::Offer),
    ("Unsupported", Scope::Offer),
    ("UnsupportedInstanceType", Scope::Offer),
    ("VcpuLimitExceeded", Scope::Offer),
    ("MaxSpotInstanceCountExceeded", Scope::Offer),
    ("InstanceLimitExceeded", Scope::Location),
    ("InvalidAvailabilityZone", Scope::Location),
    ("InsufficientFreeAddressesInSubnet", Scope::Location),
    ("InvalidAMIID.NotFound", Scope::Location),
    ("InvalidAMIID.Unavailable", Scope::Location),
    ("OptInRequired", Scope::Location),
    ("PendingVerification", Scope::Provider),
    ("AccountDisabled", Scope::Provider),
];

/// Codes that no retry or other placement can fix: credentials, permissions, bad requests.
/// Listed so the documentation and the tests can name them; any code not in a table above is
/// fatal too (unless AWS answered with a 5xx or 429 status).
const FATAL: &[&str] = &[
    "AuthFailure",
    "UnauthorizedOperation",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "Blocked",
    "InvalidParameter",
    "InvalidParameterValue",
    "InvalidParameterCombination",
    "MissingParameter",
    "UnknownParameter",
    "ValidationError",
    "InvalidAction",
    "IdempotentParameterMismatch",
    "InvalidKeyPair.NotFound",
    "InvalidKeyPair.Duplicate",
    "InvalidKeyPair.Format",
    "InvalidGroup.NotFound",
    "InvalidGroup.Duplicate",
    "InvalidPermission.Duplicate",
    "InvalidPermission.NotFound",
    "InvalidInstanceID.Malformed",
    "InvalidInstanceID.NotFound",
    "InvalidVpcID.NotFound",
    "VPCIdNotSpecified",
];

/// The class and scope of an AWS error code answered with HTTP `status`.
pub fn classify_code(code: &str, status: u16) -> (ErrorClass, Scope) {
    if RETRY.contains(&code) {
        return (ErrorClass::Retry, Scope::Offer);
    }
    if let Some((_, scope)) = FAIL_OVER.iter().find(|(c, _)| *c == code) {
        return (ErrorClass::FailOver, *scope);
    }
    if FATAL.contains(&code) {
        return (ErrorClass::Fatal, Scope::Offer);
    }
    // Unknown codes: the status decides (AWS's own 5xx and throttling are transient).
    if status >= 500 || status == 429 {
        (ErrorClass::Retry, Scope::Offer)
    } else {
        (ErrorClass::Fatal, Scope::Offer)
    }
}

/// The code to show for an error answer without one in its body.
fn status_code(status: u16) -> &'static str {
    match status {
        429 => "TooManyRequests",
        500 => "InternalError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        400..=499 => "ClientError",
        _ => "ServerError",
    }
}

impl Failure {
    /// The classified error for a call of `action` in `region` (both named in the message).
    pub fn into_driver_error(self, provider: &str, action: &str, region: &str) -> DriverError {
        let at = format!("AWS {action} in {region} (provider `{provider}`)");
        match self {
            Failure::Unreachable(why) => {
                DriverError::fail_over(format!("{at} could not reach the AWS endpoint: {why}."))
                    .with_code("Unreachable")
                    .with_scope(Scope::Provider)
            }
            Failure::Timeout(why) => {
                DriverError::retry(format!("{at} got no answer in time: {why}."))
                    .with_code("RequestTimeout")
            }
            Failure::Transport(why) => {
                DriverError::retry(format!("{at} lost its connection: {why}."))
                    .with_code("ConnectionError")
            }
            Failure::NoCredentials => DriverError::fatal(format!(
                "{at} needs AWS credentials and found none: give access_key_id and \
                 secret_access_key in the provider block (as env. references), a profile, the \
                 AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY environment variables, or \
                 ~/.aws/credentials."
            ))
            .with_code("NoCredentials"),
            Failure::Malformed(why) => DriverError::retry(format!(
                "{at} answered with something that is not EC2 XML: {why}."
            ))
            .with_code("MalformedResponse"),
            Failure::Api {
                status,
                code,
                message,
                retry_after,
            } => {
                let code = code.unwrap_or_else(|| status_code(status).to_string());
                let (class, scope) = classify_code(&code, status);
                let message = message.trim().trim_end_matches('.');
                let mut error =
                    DriverError::new(class, format!("{message} ({at}, HTTP {status})."))
                        .with_code(code)
                        .with_scope(scope);
                error.retry_after = retry_after;
                error
            }
        }
    }
}

/// Every code the tables name, with its class, for docs/aws.md's table and the tests.
pub fn table() -> Vec<(&'static str, ErrorClass, Scope)> {
    RETRY
        .iter()
        .map(|c| (*c, ErrorClass::Retry, Scope::Offer))
        .chain(
            FAIL_OVER
                .iter()
                .map(|(c, s)| (*c, ErrorClass::FailOver, *s)),
        )
        .chain(FATAL.iter().map(|c| (*c, ErrorClass::Fatal, Scope::Offer)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: Option<&str>) -> DriverError {
        Failure::Api {
            status,
            code: code.map(String::from),
            message: "AWS says no.".into(),
            retry_after: Some(Duration::from_secs(3)),
        }
        .into_driver_error("aws", "RunInstances", "ap-southeast-2")
    }

    #[test]
    fn the_issue_s_examples_are_classified_as_it_says() {
        for code in ["RequestLimitExceeded", "Throttling"] {
            assert_eq!(classify_code(code, 400).0, ErrorClass::Retry, "{code}");
        }
        for code in [
            "InsufficientInstanceCapacity",
            "InstanceLimitExceeded",
            "Unsupported",
            "InvalidAvailabilityZone",
        ] {
            assert_eq!(classify_code(code, 400).0, ErrorClass::FailOver, "{code}");
        }
        for code in ["AuthFailure", "UnauthorizedOperation", "InvalidParameter"] {
            assert_eq!(classify_code(code, 401).0, ErrorClass::Fatal, "{code}");
        }
        assert_eq!(
            classify_code("InsufficientInstanceCapacity", 500),
            (ErrorClass::FailOver, Scope::Offer)
        );
        assert_eq!(
            classify_code("InvalidAvailabilityZone", 400),
            (ErrorClass::FailOver, Scope::Location)
        );
        assert_eq!(
            classify_code("DependencyViolation", 400).0,
            ErrorClass::Retry
        );
    }

    #[test]
    fn unknown_codes_follow_the_status() {
        assert_eq!(classify_code("SomethingNew", 503).0, ErrorClass::Retry);
        assert_eq!(classify_code("SomethingNew", 429).0, ErrorClass::Retry);
        assert_eq!(classify_code("SomethingNew", 400).0, ErrorClass::Fatal);
    }

    #[test]
    fn the_tables_do_not_overlap() {
        let table = table();
        for (i, (code, ..)) in table.iter().enumerate() {
            assert!(
                table[i + 1..].iter().all(|(other, ..)| other != code),
                "{code} is listed twice"
            );
        }
    }

    #[test]
    fn docs_list_every_code_with_its_class() {
        let docs = include_str!("../../../docs/aws.md");
        for (code, class, scope) in table() {
            let row = match (class, scope) {
                (ErrorClass::Retry, _) => format!("| {code} | retry | |"),
                (ErrorClass::Fatal, _) => format!("| {code} | fatal | |"),
                (ErrorClass::FailOver, Scope::Offer) => {
                    format!("| {code} | fail over | the size in that zone |")
                }
                (ErrorClass::FailOver, Scope::Location) => {
                    format!("| {code} | fail over | the zone |")
                }
                (ErrorClass::FailOver, Scope::Provider) => {
                    format!("| {code} | fail over | the provider |")
                }
            };
            assert!(docs.contains(&row), "docs/aws.md lacks the row {row}");
        }
    }

    #[test]
    fn api_errors_keep_the_code_message_and_wait() {
        let e = api(400, Some("AuthFailure"));
        assert_eq!(e.class, ErrorClass::Fatal);
        assert_eq!(e.code.as_deref(), Some("AuthFailure"));
        assert_eq!(
            e.to_string(),
            "AuthFailure: AWS says no (AWS RunInstances in ap-southeast-2 (provider `aws`), HTTP 400)."
        );
        let e = api(503, None);
        assert_eq!(
            (e.class, e.code.as_deref()),
            (ErrorClass::Retry, Some("ServiceUnavailable"))
        );
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
        let e = api(429, None);
        assert_eq!(
            (e.class, e.code.as_deref()),
            (ErrorClass::Retry, Some("TooManyRequests"))
        );
        let e = api(400, Some("InsufficientInstanceCapacity"));
        assert_eq!((e.class, e.scope), (ErrorClass::FailOver, Scope::Offer));
    }

    #[test]
    fn transport_failures() {
        let e = Failure::Unreachable("connection refused".into()).into_driver_error(
            "aws",
            "DescribeInstances",
            "us-east-1",
        );
        assert_eq!((e.class, e.scope), (ErrorClass::FailOver, Scope::Provider));
        assert!(e.message.contains("connection refused"), "{e}");
        let e = Failure::Timeout("30s".into()).into_driver_error("aws", "RunInstances", "x");
        assert_eq!(e.class, ErrorClass::Retry);
        let e = Failure::Transport("reset".into()).into_driver_error("aws", "RunInstances", "x");
        assert_eq!(e.class, ErrorClass::Retry);
    }
}
