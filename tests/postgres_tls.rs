//! The PostgreSQL backend over TLS against a real PostgreSQL with `ssl=on` that refuses plain
//! text (scripts/postgres.sh with OSS_PG_TLS_DIR), with a test CA made here: libpq's
//! `sslmode` meanings, and clear refusals (wrong CA, wrong name, TLS off) that change nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Project;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use serde_json::json;

/// A throwaway PostgreSQL that speaks TLS only, stopped when dropped.
struct TlsPostgres {
    port: String,
    dir: String,
    /// The CA that signed the server's certificate, and another one.
    ca: PathBuf,
    other_ca: PathBuf,
    _certs: tempfile::TempDir,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

impl TlsPostgres {
    fn start() -> TlsPostgres {
        let certs = tempfile::tempdir().unwrap();
        let authority = ca("oss test CA");
        // The server's certificate names its IP address only, not "localhost".
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "oss test server");
        let server = params.signed_by(&key, &authority).unwrap();
        let write = |name: &str, text: &str| {
            let path = certs.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        write("server.crt", &server.pem());
        write("server.key", &key.serialize_pem());
        let ca = write("ca.pem", &authority.pem());
        let other_ca = write("other-ca.pem", &self::ca("someone else").pem());
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/postgres.sh");
        let out = Command::new("bash")
            .arg(&script)
            .env("OSS_PG_TLS_DIR", certs.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "scripts/postgres.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let exports = String::from_utf8(out.stdout).unwrap();
        let value = |name: &str| {
            exports
                .lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .unwrap_or_else(|| panic!("no {name} in {exports}"))
                .to_string()
        };
        let url = value("OSS_TEST_PG_URL");
        let port = url
            .rsplit_once(':')
            .and_then(|(_, rest)| rest.split_once('/'))
            .map(|(port, _)| port.to_string())
            .unwrap();
        TlsPostgres {
            port,
            dir: value("OSS_TEST_PG_DIR"),
            ca,
            other_ca,
            _certs: certs,
        }
    }

    fn url(&self, host: &str, query: &str) -> String {
        format!("postgres://oss@{host}:{}/postgres?{query}", self.port)
    }
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/postgres.sh");
        let _ = Command::new("bash")
            .arg(script)
            .args(["stop", &self.dir])
            .status();
    }
}

fn project() -> Project {
    let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sim/cloud-b.json");
    Project::with_strategy(&json!({
        "name": "tls",
        "provider": {"options": [{"sim": {"name": "cloud-b", "catalog": catalog}}]},
        "node": {
            "name": "app", "count": 2,
            "image": {"options": [{"os": "ubuntu"}]},
            "hardware": {"options": [{"min_vcpus": 2}]},
            "location": {"options": [{"country": "AU"}]}
        }
    }))
}

fn with_backend(p: &Project, url: &str, args: &[&str]) -> (i32, String, String) {
    p.set_env("OSS_BACKEND", "postgres");
    p.set_env("OSS_BACKEND_URL", url);
    p.run(args)
}

#[test]
fn the_postgres_backend_speaks_tls_as_sslmode_asks() {
    let pg = TlsPostgres::start();
    let ca = pg.ca.display().to_string();
    let p = project();

    // verify-full with the right CA: the chain and the name check out.
    let url = pg.url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let (code, _, err) = with_backend(&p, &url, &["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{err}");
    let (code, listed, err) = with_backend(&p, &url, &["state", "list"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(listed.lines().count(), 2, "{listed}");

    // require (encrypted, unverified) and the default (prefer) reach the same state.
    for query in ["sslmode=require", ""] {
        let (code, out, err) = with_backend(&p, &pg.url("127.0.0.1", query), &["state", "list"]);
        assert_eq!((code, out.as_str()), (0, listed.as_str()), "{query}: {err}");
    }

    // The server refuses plain text, so the successes above were TLS.
    let (code, _, err) = with_backend(
        &p,
        &pg.url("127.0.0.1", "sslmode=disable"),
        &["state", "list"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("no encryption"), "{err}");

    // A CA that did not sign the server's certificate: refused, naming why.
    let other = pg.other_ca.display().to_string();
    let url = pg.url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={other}"),
    );
    let (code, _, err) = with_backend(&p, &url, &["plan"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("UnknownIssuer") || err.contains("unknown issuer"),
        "{err}"
    );

    // The certificate names 127.0.0.1, not localhost: verify-full refuses, verify-ca accepts.
    let url = pg.url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let (code, _, err) = with_backend(&p, &url, &["plan"]);
    assert_eq!(code, 1);
    assert!(err.to_lowercase().contains("not valid for name"), "{err}");
    let url = pg.url("localhost", &format!("sslmode=verify-ca&sslrootcert={ca}"));
    let (code, out, err) = with_backend(&p, &url, &["state", "list"]);
    assert_eq!((code, out.as_str()), (0, listed.as_str()), "{err}");

    // Bad settings are refused before any connection, without the URL's secrets.
    let url = format!(
        "postgres://oss:hunter2@127.0.0.1:{}/postgres?sslmode=verify-full",
        pg.port
    );
    let (code, _, err) = with_backend(&p, &url, &["plan"]);
    assert_eq!(code, 1);
    assert!(err.contains("needs sslrootcert"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    // Nothing above changed the state.
    let url = pg.url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let (code, out, _) = with_backend(&p, &url, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");
    let (code, _, err) = with_backend(&p, &url, &["destroy", "--auto-approve"]);
    assert_eq!(code, 0, "{err}");
}
