//! A real Prometheus (Debian's `prometheus`) for the `/metrics` tests: started on a free
//! loopback port with a temporary data directory, scraping one target every second, queried
//! through its HTTP API; killed by pid when dropped.

use std::time::{Duration, Instant};

use serde_json::Value;

/// A real Prometheus (Debian's) on a free loopback port, scraping `target` every second;
/// killed by pid when dropped.
pub struct Prometheus {
    child: std::process::Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    pub fn start(target: &str) -> Prometheus {
        let binary = "/usr/bin/prometheus";
        assert!(
            std::path::Path::new(binary).exists(),
            "the metrics test needs {binary}: apt-get install prometheus (scripts/test.sh installs it)"
        );
        let dir = tempfile::Builder::new()
            .prefix("oss-prom-")
            .tempdir()
            .unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: oss\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = std::process::Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("prometheus starts");
        Prometheus {
            child,
            addr,
            _dir: dir,
        }
    }

    /// The samples of an instant query (PromQL already percent-encoded), or none yet.
    pub fn query(&self, promql: &str) -> Vec<Value> {
        let path = format!("/api/v1/query?query={promql}");
        // Not listening yet: nothing scraped yet either.
        if std::net::TcpStream::connect(&self.addr).is_err() {
            return Vec::new();
        }
        let (status, _, body) = super::serve::get(&self.addr, "GET", &path, &[]);
        if status != 200 {
            return Vec::new();
        }
        let answer: Value = serde_json::from_str(&body).unwrap_or_default();
        answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The samples of `promql` (written plainly, encoded here) once Prometheus has any,
    /// waiting at most 60 s for its scrapes.
    pub fn wait_for(&self, promql: &str) -> Vec<Value> {
        let encoded: String = promql
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' => (b as char).to_string(),
                other => format!("%{other:02X}"),
            })
            .collect();
        let started = Instant::now();
        loop {
            let found = self.query(&encoded);
            if !found.is_empty() {
                return found;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "Prometheus had nothing for {promql} after 60 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
