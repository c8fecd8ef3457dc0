//! SigV4, in one place: every AWS request oss sends (EC2, S3, DynamoDB; Route53 and ELBv2
//! next) is signed here, through AWS's own `aws-sigv4` crate, for a [`Service`] by name.
//!
//! Returns the headers to add; sends nothing. Secrets go into the signature only: no error
//! built here holds one.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign as sign_request,
};
use aws_sigv4::sign::v4;

use super::credentials::Keys;

/// An AWS service as SigV4 names it, and whether it follows S3's signing rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Service {
    pub name: &'static str,
    /// S3 signs the payload hash into `x-amz-content-sha256` and takes paths as they are
    /// (encoded once, not normalised).
    s3_rules: bool,
}

impl Service {
    pub const EC2: Service = Service::named("ec2");
    pub const S3: Service = Service {
        name: "s3",
        s3_rules: true,
    };
    pub const DYNAMODB: Service = Service::named("dynamodb");

    /// A service with the standard signing rules (`route53`, `elasticloadbalancing`...).
    pub const fn named(name: &'static str) -> Service {
        Service {
            name,
            s3_rules: false,
        }
    }

    fn settings(self) -> SigningSettings {
        let mut settings = SigningSettings::default();
        if self.s3_rules {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        }
        settings
    }
}

/// What is signed: method, full URL (query included, already encoded), the headers that are
/// sent besides the signature's, and the body.
pub struct Unsigned<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// The headers (`authorization`, `x-amz-date`, `x-amz-security-token`, and for S3
/// `x-amz-content-sha256`) that sign `request` for `service` in `region` at `time`.
pub fn sign(
    keys: &Keys,
    service: Service,
    region: &str,
    request: &Unsigned<'_>,
    time: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    let identity = Credentials::new(
        keys.access_key_id.to_string(),
        keys.secret_access_key.to_string(),
        keys.session_token.as_deref().cloned(),
        None,
        "oss",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service.name)
        .time(time)
        .settings(service.settings())
        .build()
        .map_err(|e| format!("cannot sign the request: {e}"))?
        .into();
    let signable = SignableRequest::new(
        request.method,
        request.url,
        request.headers.iter().copied(),
        SignableBody::Bytes(request.body),
    )
    .map_err(|e| format!("cannot sign the request to {}: {e}", request.url))?;
    let (instructions, _signature) = sign_request(signable, &params)
        .map_err(|e| format!("cannot sign the request: {e}"))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn keys(token: Option<&str>) -> Keys {
        Keys {
            access_key_id: String::from("AKIDEXAMPLE").into(),
            secret_access_key: String::from("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY").into(),
            session_token: token.map(|t| String::from(t).into()),
            source: "a test".into(),
        }
    }

    /// 2015-08-30T12:36:00Z, the time of AWS's own signing examples.
    fn time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn signs_for_the_named_service_and_region() {
        let request = Unsigned {
            method: "POST",
            url: "https://ec2.us-east-1.amazonaws.com/",
            headers: &[("content-type", "application/x-www-form-urlencoded")],
            body: b"Action=DescribeRegions&Version=2016-11-15",
        };
        let headers = sign(&keys(None), Service::EC2, "us-east-1", &request, time()).unwrap();
        let auth = header(&headers, "authorization").unwrap();
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ec2/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date, Signature="
            ),
            "{auth}"
        );
        assert_eq!(header(&headers, "x-amz-date"), Some("20150830T123600Z"));
        assert_eq!(header(&headers, "x-amz-content-sha256"), None);
        assert!(!headers.iter().any(|(_, v)| v.contains("EXAMPLEKEY")));
        // The same request signs the same way; another service name signs differently.
        let again = sign(&keys(None), Service::EC2, "us-east-1", &request, time()).unwrap();
        assert_eq!(headers, again);
        let other = sign(
            &keys(None),
            Service::named("route53"),
            "us-east-1",
            &request,
            time(),
        )
        .unwrap();
        assert!(
            header(&other, "authorization")
                .unwrap()
                .contains("/route53/aws4_request")
        );
    }

    #[test]
    fn s3_signs_its_payload_hash_and_a_session_token_travels() {
        let request = Unsigned {
            method: "GET",
            url: "http://127.0.0.1:5000/bucket/dir/a%20b.json?versionId=x",
            headers: &[],
            body: b"",
        };
        let headers = sign(
            &keys(Some("TOKEN")),
            Service::S3,
            "eu-west-1",
            &request,
            time(),
        )
        .unwrap();
        assert_eq!(
            header(&headers, "x-amz-content-sha256"),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(header(&headers, "x-amz-security-token"), Some("TOKEN"));
        assert!(
            header(&headers, "authorization")
                .unwrap()
                .contains("/eu-west-1/s3/aws4_request")
        );
    }
}
