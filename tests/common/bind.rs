//! A real BIND 9 `named` for a test: started on 127.0.0.1 with a free high port, serving the
//! zone `oss.test.` (dynamic updates allowed to one TSIG key made with `tsig-keygen`) and
//! `locked.test.` (served, no updates allowed), killed by pid when dropped. `dig` and
//! `nsupdate` check and change it from outside oss.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ZONE: &str = "oss.test";
pub const LOCKED_ZONE: &str = "locked.test";
pub const KEY_NAME: &str = "oss-key";

const NAMED: &str = "/usr/sbin/named";
const TOOLS: [&str; 4] = [
    NAMED,
    "/usr/sbin/tsig-keygen",
    "/usr/bin/dig",
    "/usr/bin/nsupdate",
];

pub struct Bind {
    pub port: u16,
    /// BIND's statistics channel (HTTP), to count the UPDATE messages it received.
    pub stats_port: u16,
    /// The key's base64 secret.
    pub secret: String,
    dir: tempfile::TempDir,
    child: Child,
}

/// Fails (never skips) when a tool is missing, saying what to install.
pub fn require_tools() {
    for tool in TOOLS {
        assert!(
            Path::new(tool).exists(),
            "the DNS tests need {tool}: apt-get install bind9 bind9-utils bind9-dnsutils (scripts/test.sh installs them)"
        );
    }
}

fn free_port() -> u16 {
    // TCP and UDP both: named listens on both at one port.
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn wait_ready(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if !dig(port, &format!("{ZONE}."), "SOA").is_empty() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// `dig +short NAME TYPE` against the server at `port`, sorted lines.
fn dig(port: u16, name: &str, rtype: &str) -> Vec<String> {
    let out = Command::new("/usr/bin/dig")
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            "+short",
            "+tcp",
            "+time=2",
            "+tries=1",
            name,
            rtype,
        ])
        .output()
        .unwrap();
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with(';'))
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

impl Bind {
    pub fn start() -> Bind {
        require_tools();
        let dir = tempfile::Builder::new()
            .prefix("oss-bind-")
            .tempdir()
            .unwrap();
        let keygen = Command::new("/usr/sbin/tsig-keygen")
            .args(["-a", "hmac-sha256", KEY_NAME])
            .output()
            .unwrap();
        assert!(keygen.status.success(), "tsig-keygen failed");
        let key_conf = String::from_utf8(keygen.stdout).unwrap();
        let secret = key_conf
            .split('"')
            .nth(3)
            .expect("tsig-keygen prints the secret in quotes")
            .to_string();
        let path = dir.path();
        std::fs::write(path.join("key.conf"), &key_conf).unwrap();
        for zone in [ZONE, LOCKED_ZONE] {
            std::fs::write(
                path.join(format!("{zone}.db")),
                format!(
                    "$TTL 300\n@ IN SOA ns.{zone}. admin.{zone}. 1 3600 600 86400 60\n@ IN NS ns.{zone}.\nns IN A 127.0.0.1\n"
                ),
            )
            .unwrap();
        }
        let d = path.display();
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let stats_port = free_port();
            let conf = format!(
                r#"options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    allow-query {{ any; }};
    notify no;
}};
controls {{ }};
statistics-channels {{ inet 127.0.0.1 port {stats_port} allow {{ 127.0.0.1; }}; }};
include "{d}/key.conf";
zone "{ZONE}" {{ type primary; file "{d}/{ZONE}.db"; update-policy {{ grant {KEY_NAME} zonesub ANY; }}; allow-transfer {{ key {KEY_NAME}; }}; }};
zone "{LOCKED_ZONE}" {{ type primary; file "{d}/{LOCKED_ZONE}.db"; }};
"#
            );
            std::fs::write(path.join("named.conf"), conf).unwrap();
            let log = std::fs::File::create(path.join("named.log")).unwrap();
            let child = Command::new(NAMED)
                .args(["-g", "-4", "-c"])
                .arg(path.join("named.conf"))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap();
            let mut child = child;
            if wait_ready(&mut child, port) {
                return Bind {
                    port,
                    stats_port,
                    secret,
                    dir,
                    child,
                };
            }
            last_error = std::fs::read_to_string(path.join("named.log")).unwrap_or_default();
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("named did not start:\n{last_error}");
    }

    pub fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `dig +short NAME TYPE` against this server, sorted lines.
    pub fn dig(&self, name: &str, rtype: &str) -> Vec<String> {
        dig(self.port, name, rtype)
    }

    /// The TTL `dig` shows for `name`'s first `rtype` record.
    pub fn ttl(&self, name: &str, rtype: &str) -> Option<u32> {
        let out = Command::new("/usr/bin/dig")
            .args([
                "@127.0.0.1",
                "-p",
                &self.port.to_string(),
                "+noall",
                "+answer",
                "+tcp",
                name,
                rtype,
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|t| t.parse().ok())
    }

    /// How many UPDATE messages the server has received, from its statistics channel.
    pub fn updates(&self) -> u64 {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.stats_port)).unwrap();
        stream
            .write_all(b"GET /xml/v3/server HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        let mut body = String::new();
        stream.read_to_string(&mut body).unwrap();
        // <counters type="opcode"> ... <counter name="UPDATE">N</counter>
        let opcodes = body
            .split("<counters type=\"opcode\">")
            .nth(1)
            .and_then(|rest| rest.split("</counters>").next())
            .unwrap_or("");
        opcodes
            .split("<counter name=\"UPDATE\">")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .map_or(0, |n| n.trim().parse().unwrap())
    }

    /// Sends `commands` (nsupdate's language, `send` added) signed with the key.
    pub fn nsupdate(&self, commands: &str) {
        let mut child = Command::new("/usr/bin/nsupdate")
            .arg("-k")
            .arg(self.dir.path().join("key.conf"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let script = format!("server 127.0.0.1 {}\n{commands}\nsend\n", self.port);
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "nsupdate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Bind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
