//! The AWS Query APIs over the shared AWS plumbing (`crate::net::aws`): form-encoded POSTs
//! to one [`QueryService`] (EC2 for the compute driver, ELBv2 for the `aws` load-balancer
//! provider), signed for its signing name, XML answers parsed into [`Element`]s, errors turned into classified
//! [`DriverError`]s, and retryable failures of safe calls retried on the shared backoff,
//! honouring `Retry-After`.
//!
//! Knows nothing of oss resources: actions and parameters come from the driver.

use std::time::Duration;

use super::error::Failure;
use crate::backoff::Policy;
use crate::driver::{DriverError, ErrorClass};
use crate::net::aws::xml::Element;
use crate::net::aws::{self, Keys, Outgoing, SendError, Service};
use crate::net::encode;
use crate::net::http::Transport;
use crate::net::pace::Pace;

/// A Query API: the host prefix of its regional endpoints, the version every request names,
/// and the service it is signed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryService {
    /// `ec2` → `https://ec2.REGION.amazonaws.com/`.
    pub host: &'static str,
    pub version: &'static str,
    pub signing: Service,
}

impl QueryService {
    /// EC2, version 2016-11-15.
    pub const EC2: QueryService = QueryService {
        host: "ec2",
        version: "2016-11-15",
        signing: Service::EC2,
    };
    /// Elastic Load Balancing v2 (application load balancers), version 2015-12-01.
    pub const ELBV2: QueryService = QueryService {
        host: "elasticloadbalancing",
        version: "2015-12-01",
        signing: Service::named("elasticloadbalancing"),
    };
}
const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
/// Retries of one safe call for retryable failures (the executor retries whole steps on top);
/// the longest `Retry-After` obeyed here is 20 s (longer waits are the executor's business).
pub const RETRIES: Policy = Policy::new(Duration::from_millis(200), Duration::from_secs(3), 5)
    .with_retry_after_max(Duration::from_secs(20));

/// Parameters of one Query API call, in order.
#[derive(Clone, Debug, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn new() -> Self {
        Params::default()
    }

    /// Adds `name=value`.
    pub fn set(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.push((name.into(), value.into()));
        self
    }

    /// Adds `prefix.1=a&prefix.2=b...` (`InstanceId.1`, `Owner.1`).
    pub fn list<S: AsRef<str>>(mut self, prefix: &str, values: &[S]) -> Self {
        for (i, value) in values.iter().enumerate() {
            self.0
                .push((format!("{prefix}.{}", i + 1), value.as_ref().to_string()));
        }
        self
    }

    /// Adds filter number `n` (from 1): `Filter.n.Name=name&Filter.n.Value.1=...`.
    pub fn filter<S: AsRef<str>>(self, n: usize, name: &str, values: &[S]) -> Self {
        self.set(format!("Filter.{n}.Name"), name)
            .list(&format!("Filter.{n}.Value"), values)
    }

    /// Adds a tag specification for one resource type (`instance`, `key-pair`...).
    pub fn tag_spec(mut self, resource_type: &str, tags: &[(String, String)]) -> Self {
        self = self.set("TagSpecification.1.ResourceType", resource_type);
        for (i, (key, value)) in tags.iter().enumerate() {
            self = self
                .set(format!("TagSpecification.1.Tag.{}.Key", i + 1), key)
                .set(format!("TagSpecification.1.Tag.{}.Value", i + 1), value);
        }
        self
    }
}

/// Whether a call may be sent again after a retryable failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeat {
    /// Reads and idempotent writes: retried here with backoff.
    Safe,
    /// Writes whose repetition could duplicate: one attempt; the caller decides.
    Once,
    /// Such a write sent again only when the provider refused it as throttled (it did
    /// nothing then), with backoff; any other failure is the caller's, as with `Once`.
    Throttled,
}

/// One Query API of one provider.
pub struct Api {
    client: aws::Client,
    service: QueryService,
    /// One endpoint for every region (an emulator), or `None` for AWS's regional endpoints.
    endpoint: Option<String>,
    keys: Option<Keys>,
    /// The provider's name, for messages.
    provider: String,
    /// The provider's own pacing of its calls (`crate::net::pace`), shared by every region.
    pace: Pace,
}

impl Api {
    pub fn new(
        provider: &str,
        service: QueryService,
        endpoint: Option<String>,
        keys: Option<Keys>,
    ) -> Result<Self, String> {
        Ok(Api {
            client: aws::Client::new()?,
            service,
            endpoint,
            keys,
            provider: provider.to_string(),
            pace: Pace::new(),
        })
    }

    /// This API's calls so far, every region's (see `crate::net::calls`).
    pub fn counts(&self) -> crate::net::calls::CallCounts {
        self.pace.counts()
    }

    /// Whether there are credentials to sign with.
    pub fn has_credentials(&self) -> bool {
        self.keys.is_some()
    }

    /// Where the calls for `region` go.
    pub fn url(&self, region: &str) -> String {
        match &self.endpoint {
            Some(endpoint) => endpoint.clone(),
            None if region.starts_with("cn-") => {
                format!("https://{}.{region}.amazonaws.com.cn/", self.service.host)
            }
            None => format!("https://{}.{region}.amazonaws.com/", self.service.host),
        }
    }

    /// Calls `action` in `region` and returns the answer's root element. Retryable failures
    /// of [`Repeat::Safe`] calls are retried here with jittered backoff.
    pub async fn call(
        &self,
        region: &str,
        action: &str,
        params: &Params,
        repeat: Repeat,
    ) -> Result<Element, DriverError> {
        let policy = match repeat {
            Repeat::Safe | Repeat::Throttled => RETRIES,
            Repeat::Once => RETRIES.with_retries(Some(0)),
        };
        let mut backoff = policy.start();
        loop {
            let permit = self.pace.ready().await;
            let error = match self.send(region, action, params).await {
                Ok(root) => {
                    self.pace.answered(permit, false);
                    return Ok(root);
                }
                Err(failure) => {
                    let answered = matches!(failure, Failure::Api { .. });
                    let error = failure.into_driver_error(&self.provider, action, region);
                    if answered {
                        self.pace.answered(permit, error.is_throttle());
                    }
                    self.pace.failed(error.class);
                    error
                }
            };
            let again = match repeat {
                Repeat::Safe => error.class == ErrorClass::Retry,
                Repeat::Throttled => error.is_throttle(),
                Repeat::Once => false,
            };
            if !again || !backoff.wait(error.retry_after).await {
                return Err(error);
            }
        }
    }

    /// One signed request.
    async fn send(&self, region: &str, action: &str, params: &Params) -> Result<Element, Failure> {
        let Some(keys) = self.keys.as_ref() else {
            return Err(Failure::NoCredentials);
        };
        let url = self.url(region);
        let request = Outgoing {
            method: "POST",
            url: &url,
            headers: &[("content-type", CONTENT_TYPE)],
            body: form_body(self.service.version, action, params).into_bytes(),
        };
        let reply = match self
            .client
            .send(keys, self.service.signing, region, request)
            .await
        {
            Ok(reply) => reply,
            Err(SendError::Sign(text)) => return Err(Failure::Malformed(text)),
            Err(SendError::Transport(kind, text)) => {
                return Err(match kind {
                    Transport::Unreachable => Failure::Unreachable(text),
                    Transport::Timeout => Failure::Timeout(text),
                    Transport::Broken => Failure::Transport(text),
                });
            }
        };
        let text = reply.text();
        if reply.ok() {
            return Element::parse(&text).map_err(Failure::Malformed);
        }
        let (code, message) = Element::parse(&text)
            .map(|root| root.error_fields())
            .unwrap_or_default();
        let message = message.unwrap_or_else(|| {
            let snippet: String = text.chars().take(200).collect();
            if snippet.trim().is_empty() {
                "AWS answered with an error and no message".to_string()
            } else {
                format!("AWS answered: {}", snippet.trim())
            }
        });
        Err(Failure::Api {
            status: reply.status,
            code,
            message,
            retry_after: reply.retry_after(),
        })
    }
}

/// `Action=...&Version=...&params`, form-encoded (space as `+`, for moto's signature check).
pub fn form_body(version: &str, action: &str, params: &Params) -> String {
    let pairs = [("Action", action), ("Version", version)]
        .into_iter()
        .chain(params.0.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    encode::form(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_encode_lists_filters_and_tags() {
        let params = Params::new()
            .set("MaxResults", "1000")
            .filter(1, "tag:oss:lineage", &["abc"])
            .filter(2, "instance-state-name", &["pending", "running"])
            .list("InstanceId", &["i-1", "i-2"])
            .tag_spec("instance", &[("oss:address".into(), "node.web[0]".into())])
            .set("Filter.3.Value.1", "al2023-ami-2023.* x86_64~");
        assert_eq!(
            form_body(QueryService::EC2.version, "DescribeInstances", &params),
            "Action=DescribeInstances&Version=2016-11-15&MaxResults=1000\
             &Filter.1.Name=tag%3Aoss%3Alineage&Filter.1.Value.1=abc\
             &Filter.2.Name=instance-state-name&Filter.2.Value.1=pending&Filter.2.Value.2=running\
             &InstanceId.1=i-1&InstanceId.2=i-2\
             &TagSpecification.1.ResourceType=instance\
             &TagSpecification.1.Tag.1.Key=oss%3Aaddress&TagSpecification.1.Tag.1.Value=node.web%5B0%5D\
             &Filter.3.Value.1=al2023-ami-2023.%2A+x86_64~"
        );
    }

    #[test]
    fn regional_endpoints_unless_one_is_set() {
        let aws = Api::new("aws", QueryService::EC2, None, None).unwrap();
        assert_eq!(
            aws.url("ap-southeast-2"),
            "https://ec2.ap-southeast-2.amazonaws.com/"
        );
        assert_eq!(
            aws.url("cn-north-1"),
            "https://ec2.cn-north-1.amazonaws.com.cn/"
        );
        let moto = Api::new(
            "aws",
            QueryService::EC2,
            Some("http://127.0.0.1:5000".into()),
            None,
        )
        .unwrap();
        assert_eq!(moto.url("eu-west-1"), "http://127.0.0.1:5000");
        let elb = Api::new("aws", QueryService::ELBV2, None, None).unwrap();
        assert_eq!(
            elb.url("eu-west-1"),
            "https://elasticloadbalancing.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            form_body(
                QueryService::ELBV2.version,
                "DescribeLoadBalancers",
                &Params::new()
            ),
            "Action=DescribeLoadBalancers&Version=2015-12-01"
        );
    }

    #[tokio::test]
    async fn without_credentials_nothing_is_sent() {
        let api = Api::new(
            "aws",
            QueryService::EC2,
            Some("http://127.0.0.1:9".into()),
            None,
        )
        .unwrap();
        let e = api
            .call(
                "us-east-1",
                "DescribeInstances",
                &Params::new(),
                Repeat::Safe,
            )
            .await
            .unwrap_err();
        assert_eq!(e.class, ErrorClass::Fatal);
        assert_eq!(e.code.as_deref(), Some("NoCredentials"), "{e}");
    }
}
