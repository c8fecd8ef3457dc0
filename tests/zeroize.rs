//! Resolved credentials leave no plain copy in freed memory. This test binary's allocator
//! looks into every block freed while it is armed and counts those holding the canary's bytes;
//! then a strategy whose provider, DNS and state settings take canaries from `env.` and
//! `secret.` references is parsed, its session opened (a driver built for every provider, the
//! DNS provider too), and everything dropped. A copy that was freed without being wiped, such
//! as a settings clone deserialized by reference or a key copied into a plain `String`, is a
//! hit. What stays alive while oss runs (the resolved settings, the redaction list, a driver's
//! token) is docs/security.md's to describe; this checks that it is wiped when it goes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// What every canary starts with: no other string of the run holds these bytes.
const MARK: &[u8] = b"zq7Canary";

static ARMED: AtomicBool = AtomicBool::new(false);
static HITS: AtomicUsize = AtomicUsize::new(0);
/// The size of the last block that held the mark, for the message.
static LAST_SIZE: AtomicUsize = AtomicUsize::new(0);

struct Scanning;

// SAFETY: every call is passed to the system allocator unchanged; `dealloc` only reads the
// block it is given, which is still allocated and `layout.size()` bytes long.
unsafe impl GlobalAlloc for Scanning {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.load(Ordering::Relaxed) {
            // SAFETY: the block is live until the call below frees it; it may hold
            // uninitialized bytes, read here as plain bytes only.
            let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            if block.windows(MARK.len()).any(|w| w == MARK) {
                HITS.fetch_add(1, Ordering::Relaxed);
                LAST_SIZE.store(layout.size(), Ordering::Relaxed);
            }
        }
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Scanning = Scanning;

/// `prefix`, the mark and `name`, in one allocation: a buffer that grew would free a block
/// holding the mark, a hit of the test's own making.
fn canary_in(prefix: &str, name: &str, suffix: &str) -> String {
    let mut value = String::with_capacity(prefix.len() + MARK.len() + name.len() + suffix.len());
    value.push_str(prefix);
    value.push_str(std::str::from_utf8(MARK).unwrap());
    value.push_str(name);
    value.push_str(suffix);
    value
}

fn canary(name: &str) -> String {
    canary_in("", name, "")
}

/// The strategy: a `sim` provider with both its key settings from references, a
/// DigitalOcean token, AWS keys (the id from the vault, the secret from the environment),
/// an rfc2136 TSIG secret and a PostgreSQL URL holding a password. None holds a canary as
/// written; the canaries only come in through the lookups.
fn strategy(dir: &std::path::Path) -> std::path::PathBuf {
    let catalog =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sim/cloud-a.json");
    let text = serde_json::json!({
        "name": "zeroize",
        "provider": {"options": [
            {"sim": {"catalog": catalog, "api_key": "env.SIM_KEY", "require_api_key": "secret.sim_key"}},
            {"digitalocean": {"token": "env.DO_TOKEN", "regions": ["nyc3"]}},
            {"aws": {"access_key_id": "secret.aws_id", "secret_access_key": "env.AWS_SECRET", "regions": ["us-east-1"]}}
        ]},
        "state": {"backend": "postgres", "url": "env.STATE_URL"},
        "dns": {"zone": "example.test", "provider": {"rfc2136": {
            "server": "127.0.0.1:53", "key_name": "oss", "key_secret": "env.TSIG_SECRET"
        }}},
        "node": {
            "name": "app", "count": 1,
            "image": {"options": [{"os": "ubuntu"}]},
            "hardware": {"options": [{"min_vcpus": 1}]},
            "location": {"options": [{"country": "AU"}]}
        }
    });
    let path = dir.join("strategy.json");
    std::fs::write(&path, serde_json::to_string_pretty(&text).unwrap()).unwrap();
    path
}

#[test]
fn resolved_credentials_are_wiped_when_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = strategy(dir.path());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let env = |name: &str| -> Option<String> {
        match name {
            "SIM_KEY" => Some(canary("sim")),
            "DO_TOKEN" => Some(canary("do")),
            "AWS_SECRET" => Some(canary("aws-secret")),
            // A password in the URL, the way a PostgreSQL backend is usually given.
            "STATE_URL" => Some(canary_in("postgres://oss:", "pg", "@127.0.0.1:1/oss")),
            // The TSIG secret is base64 (16 characters, no padding): its text holds the mark.
            "TSIG_SECRET" => Some(canary("tsig000")),
            _ => None,
        }
    };
    let vault = |name: &str| -> Result<String, String> { Ok(canary(name)) };

    ARMED.store(true, Ordering::SeqCst);
    let strategy = oss::strategy::parse_resolving(
        &path,
        &std::fs::read_to_string(&path).unwrap(),
        &env,
        &vault,
        &[],
    );
    let strategy = match strategy {
        Ok(strategy) => strategy,
        Err(e) => {
            ARMED.store(false, Ordering::SeqCst);
            panic!("{e}");
        }
    };
    let found = strategy.secrets.len();
    let backend = std::sync::Arc::new(oss::state::local::LocalBackend::new(dir.path(), "zeroize"));
    let opened = runtime
        .block_on(async { oss::engine::Session::open(strategy, dir.path(), backend).map(drop) });
    ARMED.store(false, Ordering::SeqCst);
    if let Err(e) = opened {
        panic!("{e}");
    }
    assert_eq!(found, 7, "every reference was resolved");
    assert_eq!(
        HITS.load(Ordering::SeqCst),
        0,
        "freed blocks held a canary (the last one {} bytes)",
        LAST_SIZE.load(Ordering::SeqCst)
    );
}
