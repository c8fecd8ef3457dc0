//! TLS for the PostgreSQL backend, with libpq's meanings of `sslmode` in the backend URL:
//! `disable` (plain text), `prefer` (the default: TLS when the server offers it, unverified),
//! `require` (TLS or no connection; unverified unless `sslrootcert` is given, as libpq does),
//! `verify-ca` (the server's chain must lead to a root in `sslrootcert`) and `verify-full`
//! (that, and the certificate must name the host connected to). `sslrootcert` is a PEM file
//! of CA certificates, or `system` for this machine's roots. Both parameters are taken out of
//! the URL here; the rest goes to tokio-postgres as it is.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;

/// How much of the server's identity is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    fn parse(text: &str) -> Result<Mode, String> {
        Ok(match text {
            "disable" => Mode::Disable,
            "prefer" => Mode::Prefer,
            "require" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" => Mode::VerifyFull,
            "allow" => {
                return Err(
                    "sslmode=allow is not supported: use prefer, require, verify-ca or verify-full"
                        .into(),
                );
            }
            other => {
                return Err(format!(
                    "unknown sslmode `{}`: use disable, prefer, require, verify-ca or verify-full",
                    crate::echo::Echo(other)
                ));
            }
        })
    }

    fn verifies_chain(self) -> bool {
        matches!(self, Mode::VerifyCa | Mode::VerifyFull)
    }
}

/// Where the trusted roots come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Roots {
    File(PathBuf),
    System,
}

/// The TLS settings of one backend URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub mode: Mode,
    pub roots: Option<Roots>,
}

/// Splits `url` into what tokio-postgres reads and the TLS settings. URL form
/// (`postgres://host/db?sslmode=verify-full&sslrootcert=ca.pem`) and key=value form
/// (`host=h sslmode=require`) both work. Errors never echo the URL (it may hold a password).
pub fn split(url: &str) -> Result<(String, Settings), String> {
    let mut mode = None;
    let mut roots = None;
    let mut take = |key: &str, value: String| -> Result<bool, String> {
        match key {
            "sslmode" => mode = Some(Mode::parse(&value)?),
            "sslrootcert" if value == "system" => roots = Some(Roots::System),
            "sslrootcert" => roots = Some(Roots::File(PathBuf::from(value))),
            _ => return Ok(false),
        }
        Ok(true)
    };
    let rest = if let Some((head, query)) = url.split_once("://").and_then(|_| url.split_once('?'))
    {
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| format!("the value of `{key}` is not UTF-8"))?
                .into_owned();
            if !take(key, value)? {
                kept.push(pair);
            }
        }
        if kept.is_empty() {
            head.to_string()
        } else {
            format!("{head}?{}", kept.join("&"))
        }
    } else if url.contains("://") {
        url.to_string()
    } else {
        let mut kept = Vec::new();
        for word in url.split_whitespace() {
            match word.split_once('=') {
                Some((key, value)) if take(key, value.trim_matches('\'').to_string())? => {}
                _ => kept.push(word),
            }
        }
        kept.join(" ")
    };
    let mode = mode.unwrap_or(Mode::Prefer);
    if roots.is_some() && mode == Mode::Disable {
        return Err("sslrootcert is set but sslmode=disable turns TLS off".into());
    }
    Ok((rest, Settings { mode, roots }))
}

impl Settings {
    /// tokio-postgres's own mode: it only knows whether TLS is off, tried, or required.
    pub fn ssl_mode(&self) -> SslMode {
        match self.mode {
            Mode::Disable => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        }
    }

    /// The rustls configuration: the verifier this mode asks for.
    pub fn client_config(&self) -> Result<ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?;
        // libpq: `require` with a root certificate behaves like `verify-ca`.
        let mode = match (self.mode, &self.roots) {
            (Mode::Require, Some(_)) => Mode::VerifyCa,
            (mode, _) => mode,
        };
        if !mode.verifies_chain() {
            return Ok(builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
                .with_no_client_auth());
        }
        let roots = Arc::new(self.root_store()?);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| format!("TLS setup: {e}"))?;
        Ok(if mode == Mode::VerifyFull {
            builder.with_webpki_verifier(webpki).with_no_client_auth()
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
                .with_no_client_auth()
        })
    }

    fn root_store(&self) -> Result<RootCertStore, String> {
        let mut store = RootCertStore::empty();
        match &self.roots {
            Some(Roots::File(path)) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("cannot read sslrootcert {}: {e}", path.display()))?;
                if certs.is_empty() {
                    return Err(format!(
                        "sslrootcert {} holds no PEM certificate",
                        path.display()
                    ));
                }
                for cert in certs {
                    store.add(cert).map_err(|e| {
                        format!(
                            "sslrootcert {}: a certificate is not usable: {e}",
                            path.display()
                        )
                    })?;
                }
            }
            Some(Roots::System) => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = store.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(
                        "sslrootcert=system: this machine has no usable root certificates".into(),
                    );
                }
            }
            None => {
                return Err(format!(
                    "sslmode={} needs sslrootcert: a PEM file of CA certificates, or `system`",
                    if self.mode == Mode::VerifyFull {
                        "verify-full"
                    } else {
                        "verify-ca"
                    }
                ));
            }
        }
        Ok(store)
    }
}

/// `prefer` and `require` without roots: encrypted, but whoever answers is believed (libpq's
/// meaning). The handshake's signatures are still checked, so the session key is the server's.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the name in the certificate is not
/// compared with the host.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tls_parameters_leave_the_url_and_the_rest_stays() {
        let (rest, tls) =
            split("postgres://oss:pw@db:5432/state?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x")
                .unwrap();
        assert_eq!(rest, "postgres://oss:pw@db:5432/state?application_name=x");
        assert_eq!(tls.mode, Mode::VerifyFull);
        assert_eq!(tls.roots, Some(Roots::File("/etc/ca.pem".into())));
        let (rest, tls) = split("postgres://db/state?sslmode=require").unwrap();
        assert_eq!(
            (rest.as_str(), tls.mode, tls.roots),
            ("postgres://db/state", Mode::Require, None)
        );
        let (rest, tls) = split("host=db user=oss sslmode=verify-ca sslrootcert=system").unwrap();
        assert_eq!(rest, "host=db user=oss");
        assert_eq!((tls.mode, tls.roots), (Mode::VerifyCa, Some(Roots::System)));
        let (_, tls) = split("postgres://db/state").unwrap();
        assert_eq!(tls.mode, Mode::Prefer);
        assert_eq!(tls.ssl_mode(), SslMode::Prefer);
    }

    #[test]
    fn bad_tls_parameters_are_refused_without_echoing_the_url() {
        let err = split("postgres://u:secret@db/s?sslmode=strict").unwrap_err();
        assert!(err.contains("unknown sslmode `strict`"), "{err}");
        assert!(!err.contains("secret"));
        assert!(split("postgres://db/s?sslmode=allow").is_err());
        assert!(split("postgres://db/s?sslmode=disable&sslrootcert=ca.pem").is_err());
        let (_, tls) = split("postgres://db/s?sslmode=verify-full").unwrap();
        let err = tls.client_config().unwrap_err();
        assert!(err.contains("needs sslrootcert"), "{err}");
        let (_, tls) =
            split("postgres://db/s?sslmode=verify-full&sslrootcert=/nonexistent.pem").unwrap();
        let err = tls.client_config().unwrap_err();
        assert!(
            err.contains("cannot read sslrootcert /nonexistent.pem"),
            "{err}"
        );
    }
}
