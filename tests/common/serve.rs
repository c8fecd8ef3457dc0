//! `oss serve` for tests: started on a free loopback port of its own (`--listen
//! 127.0.0.1:0`, the address read from its first line on stderr), killed by pid when dropped;
//! and a plain HTTP/1.0 GET that returns status, headers and body.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

use super::Project;

pub struct Served {
    child: Child,
    /// `127.0.0.1:PORT`
    pub addr: String,
}

impl Served {
    /// `oss serve ARGS` in `p`, once it listens (panics with its stderr if it does not).
    pub fn start(p: &Project, args: &[&str]) -> Served {
        let mut child = p
            .oss()
            .args(["serve", "--listen", "127.0.0.1:0", "--poll", "100ms"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("oss serve starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut seen = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("Serving the dashboard on http://") {
                    let addr = rest.split('/').next().unwrap_or("").to_string();
                    let _ = tx.send(Ok(addr));
                } else {
                    seen.push_str(&line);
                    seen.push('\n');
                }
            }
            let _ = tx.send(Err(seen));
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(addr)) => Served { child, addr },
            Ok(Err(stderr)) => {
                let _ = child.kill();
                panic!("oss serve did not start:\n{stderr}")
            }
            Err(_) => {
                let _ = child.kill();
                panic!("oss serve said nothing in 60 s")
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET `path` with extra request `headers`: (status, headers, body).
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
        get(&self.addr, "GET", path, headers)
    }

    /// GET `path`: (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        let (status, _, body) = self.get_with(path, &[]);
        (status, body)
    }
}

impl Served {
    /// SIGTERM, then the exit status if it exits within `timeout` (else it is killed on drop).
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let started = std::time::Instant::now();
        while started.elapsed() < timeout {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request to `addr` (HTTP/1.0: the server closes after the answer).
pub fn get(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}
