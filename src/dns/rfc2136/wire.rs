//! The wire: DNS messages to one server over TCP (length-prefixed, so an UPDATE may carry
//! many records, up to 64 KiB), every request signed with the TSIG key and every signed
//! answer verified with it (hickory-proto's signer). Answers' codes become classified
//! errors that name the zone and the key, never the secret.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_proto::rr::{Name, TSigner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::driver::DriverError;

/// How far the server's clock may be from ours, in seconds (TSIG's fudge).
const FUDGE: u16 = 300;

/// The error code of an UPDATE whose prerequisite failed (the guard on who owns a name).
pub const PREREQUISITE: &str = "PREREQUISITE";

/// The error code of an UPDATE the server could not carry out (SERVFAIL): something in it
/// breaks the server's rules, such as more records at one name than it allows.
pub const UPDATE_FAILED: &str = "UPDATE_FAILED";

/// One server and the key to sign with.
pub struct Wire {
    pub server: SocketAddr,
    pub zone: String,
    key_name: String,
    signer: TSigner,
    timeout: Duration,
}

/// An open connection to the server.
pub struct Conn<'a> {
    wire: &'a Wire,
    stream: TcpStream,
}

impl Wire {
    pub fn new(
        server: SocketAddr,
        zone: &str,
        key_name: &str,
        algorithm: &str,
        secret: Vec<u8>,
        timeout: Duration,
    ) -> Result<Self, DriverError> {
        let algorithm = match algorithm {
            "hmac-sha384" => TsigAlgorithm::HmacSha384,
            "hmac-sha512" => TsigAlgorithm::HmacSha512,
            _ => TsigAlgorithm::HmacSha256,
        };
        let name = Name::from_ascii(key_name).map_err(|_| {
            DriverError::fatal(format!(
                "The TSIG key name `{}` is not a DNS name.",
                crate::echo::echo(key_name)
            ))
        })?;
        let signer = TSigner::new(secret, algorithm, name, FUDGE)
            .map_err(|e| DriverError::fatal(format!("The TSIG key cannot sign: {e}")))?;
        Ok(Wire {
            server,
            zone: zone.to_string(),
            key_name: key_name.to_string(),
            signer,
            timeout,
        })
    }

    /// Opens a connection (refused or timed out: worth a retry).
    pub async fn connect(&self) -> Result<Conn<'_>, DriverError> {
        let stream = tokio::time::timeout(self.timeout, TcpStream::connect(self.server))
            .await
            .map_err(|_| self.unreachable("did not accept a connection in time"))?
            .map_err(|e| self.unreachable(&e.to_string()))?;
        stream.set_nodelay(true).ok();
        Ok(Conn { wire: self, stream })
    }

    fn unreachable(&self, why: &str) -> DriverError {
        DriverError::retry(format!(
            "DNS server {} cannot be reached: {why}",
            self.server
        ))
    }

    /// The error an answer's code stands for (`None`: success).
    pub fn answer_error(&self, answer: &Message) -> Option<DriverError> {
        let tsig_error = answer
            .signature
            .as_ref()
            .and_then(|s| s.data.error.as_ref())
            .map(|e| format!("{e:?}"));
        let zone = &self.zone;
        let key = &self.key_name;
        let code = answer.metadata.response_code;
        let error = match code {
            ResponseCode::NoError => return None,
            ResponseCode::NotAuth => match tsig_error {
                Some(tsig) => DriverError::fatal(format!(
                    "DNS server {} refused TSIG key `{key}` ({tsig}): the key name, algorithm or secret is not the server's",
                    self.server
                )),
                None => DriverError::fatal(format!(
                    "DNS server {} is not authoritative for zone {zone}, or refused TSIG key `{key}` (NOTAUTH)",
                    self.server
                )),
            },
            ResponseCode::NotZone => DriverError::fatal(format!(
                "DNS server {} does not serve zone {zone} (NOTZONE)",
                self.server
            )),
            ResponseCode::Refused => DriverError::fatal(format!(
                "DNS server {} refused the request for zone {zone} (REFUSED): it does not serve the zone, or its update policy does not let key `{key}` change it",
                self.server
            )),
            ResponseCode::YXRRSet
            | ResponseCode::NXRRSet
            | ResponseCode::YXDomain
            | ResponseCode::NXDomain => {
                DriverError::fatal(format!("the update's precondition failed ({code})"))
                    .with_code(PREREQUISITE)
            }
            ResponseCode::ServFail => DriverError::retry(format!(
                "DNS server {} failed to answer for zone {zone} (SERVFAIL)",
                self.server
            )),
            other => DriverError::fatal(format!(
                "DNS server {} answered {other} for zone {zone}",
                self.server
            )),
        };
        Some(error)
    }
}

impl Conn<'_> {
    /// Sends `message` signed and reads the answer, checking its signature. The answer's
    /// code is left for the caller ([`Wire::answer_error`]).
    pub async fn exchange(&mut self, mut message: Message) -> Result<Message, DriverError> {
        let wire = self.wire;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let verifier = message
            .finalize(&wire.signer, now)
            .map_err(|e| DriverError::fatal(format!("The request cannot be signed: {e}")))?;
        let bytes = message
            .to_vec()
            .map_err(|e| DriverError::fatal(format!("The request cannot be encoded: {e}")))?;
        let length = u16::try_from(bytes.len()).map_err(|_| {
            DriverError::fatal(format!(
                "The request is {} bytes, more than a DNS message holds",
                bytes.len()
            ))
        })?;
        let answer = tokio::time::timeout(wire.timeout, async {
            let mut framed = Vec::with_capacity(bytes.len() + 2);
            framed.extend_from_slice(&length.to_be_bytes());
            framed.extend_from_slice(&bytes);
            self.stream.write_all(&framed).await?;
            let mut size = [0u8; 2];
            self.stream.read_exact(&mut size).await?;
            let mut answer = vec![0u8; usize::from(u16::from_be_bytes(size))];
            self.stream.read_exact(&mut answer).await?;
            Ok::<_, std::io::Error>(answer)
        })
        .await
        .map_err(|_| wire.unreachable("did not answer in time"))?
        .map_err(|e| wire.unreachable(&e.to_string()))?;
        let parsed = Message::from_vec(&answer).map_err(|e| {
            DriverError::retry(format!(
                "DNS server {} sent an answer that does not parse: {e}",
                wire.server
            ))
        })?;
        if parsed.metadata.id != message.metadata.id || parsed.metadata.op_code != message.op_code {
            return Err(DriverError::retry(format!(
                "DNS server {} answered another request",
                wire.server
            )));
        }
        // A refused key gets an unsigned answer; any other answer must carry our signature.
        let key_refused = parsed.metadata.response_code == ResponseCode::NotAuth;
        if !key_refused && let Some(mut verifier) = verifier {
            verifier.verify(&answer).map_err(|e| {
                DriverError::fatal(format!(
                    "The answer of DNS server {} is not signed with TSIG key `{}`: {e}",
                    wire.server, wire.key_name
                ))
            })?;
        }
        Ok(parsed)
    }
}

/// A request for the zone: an UPDATE (zone section) or a query.
pub fn message(op_code: OpCode) -> Message {
    let mut message = Message::query();
    message.metadata.op_code = op_code;
    message.metadata.recursion_desired = false;
    message
}
