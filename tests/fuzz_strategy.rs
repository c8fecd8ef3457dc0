//! A bounded fuzz test of strategy reading: the shipped strategies (strategy.sample.json,
//! examples/*.json) mutated (byte flips, truncation, deep nesting, huge and odd numbers,
//! wrong types, NUL bytes, duplicate keys, long strings, splices), each run through the real
//! binary as `oss validate -s FILE` and `oss plan --refresh=false -s FILE --state-dir DIR`.
//!
//! Every run must exit 0, or exit 1 with a located message (line:column or a JSON pointer, or
//! a clear path error); a panic (exit 101, "panicked"), a signal or a run that does not end
//! within its timeout fails the test, printing the seed, the case and where its input was
//! saved. The files in tests/fuzz/corpus/ (cases found so far) are replayed on every run.
//!
//! Bounded for CI: at most `OSS_FUZZ_CASES` (default 400) new cases, and no new case starts
//! after ~45 s (`OSS_FUZZ_SECONDS`). `OSS_FUZZ_SEED=N` changes the seed (default fixed), `OSS_FUZZ_CASE=I` runs
//! only case I of that seed, to reproduce one failure.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde_json::Value;

const DEFAULT_SEED: u64 = 20_261_201;
const DEFAULT_CASES: usize = 400;
/// No new case starts after this (`OSS_FUZZ_SECONDS` to change); the corpus always runs in
/// full.
const BUDGET: Duration = Duration::from_secs(45);
/// One run of the binary that takes longer hangs.
const RUN_TIMEOUT: Duration = Duration::from_secs(20);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped strategies, by name. The AWS one points at a closed loopback port, so that no
/// mutation can reach a real endpoint (`plan --refresh=false` asks no provider anyway).
fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = vec![(
        "strategy.sample.json".to_string(),
        std::fs::read(root().join("strategy.sample.json")).unwrap(),
    )];
    let mut examples: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        // Validating it reads DigitalOcean's and Linode's offerings, which need their tokens
        // (tests/clouds_cheapest.rs runs it against the fakes).
        .filter(|p| !p.ends_with("cheapest-five-clouds.json"))
        .collect();
    examples.sort();
    for path in examples {
        let mut value: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        if let Some(options) = value["provider"]["options"].as_array_mut() {
            for option in options {
                if let Some(aws) = option.get_mut("aws").and_then(Value::as_object_mut) {
                    aws.insert("endpoint".into(), "http://127.0.0.1:9".into());
                }
            }
        }
        // A route53 dns block makes every plan ask Route53 for its zone (with credentials):
        // left out, as tests/lb_aws.rs runs the example that has one against moto.
        if value["dns"]["provider"].get("route53").is_some()
            && let Some(strategy) = value.as_object_mut()
        {
            strategy.remove("dns");
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        seeds.push((name, serde_json::to_vec_pretty(&value).unwrap()));
    }
    assert!(
        seeds.len() >= 5,
        "too few shipped strategies: {}",
        seeds.len()
    );
    seeds
}

/// One generated case: its input and how it was made.
struct Case {
    what: String,
    bytes: Vec<u8>,
}

const ODD_NUMBERS: &[&str] = &[
    "1e400",
    "-1e400",
    "1e-400",
    "99999999999999999999",
    "18446744073709551616",
    "-9223372036854775809",
    "123456789012345678901234567890123456789",
    "1E+2",
    "3.0",
    "-0",
    "-1",
    "0.5",
    "1000001",
    "4294967296",
];

fn odd_values(rng: &mut Xoshiro256PlusPlus) -> Value {
    match rng.random_range(0..12) {
        0 => Value::Null,
        1 => Value::Bool(rng.random_bool(0.5)),
        2 => Value::from(rng.random_range(-3i64..5)),
        3 => Value::from(""),
        4 => Value::Array(Vec::new()),
        5 => Value::Object(Default::default()),
        6 => serde_json::json!([[{"a": []}]]),
        7 => serde_json::json!({"options": [], "pick": "cheapest"}),
        8 => Value::from("env.OSS_FUZZ_SURELY_UNSET"),
        9 => {
            Value::from(["first", "random", "cheapest", "priciest", "nope"][rng.random_range(0..5)])
        }
        10 => Value::from("x".repeat(rng.random_range(60..5000))),
        _ => Value::from(f64::from(rng.random_range(0..100u32)) / 7.0),
    }
}

/// Every pointer of a JSON value, the root included.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                pointers(
                    v,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                pointers(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// Writes `value` as JSON, emitting the first key of the object at `dup` twice (the second
/// time with `second`): serde_json has no way to produce duplicate keys.
fn with_duplicate(value: &Value, at: &str, dup: &str, second: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap());
                out.push(':');
                let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                with_duplicate(v, &here, dup, second, out);
                if i == 0 && at == dup {
                    out.push(',');
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push(':');
                    out.push_str(&second.to_string());
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                with_duplicate(v, &format!("{at}/{i}"), dup, second, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Byte ranges of the number tokens in a JSON text (outside strings).
fn numbers(text: &[u8]) -> Vec<(usize, usize)> {
    let (mut found, mut in_string, mut escaped, mut i) = (Vec::new(), false, false, 0);
    while i < text.len() {
        let b = text[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if b == b'-' || b.is_ascii_digit() {
            let start = i;
            while i < text.len()
                && matches!(text[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
            {
                i += 1;
            }
            found.push((start, i));
            continue;
        }
        i += 1;
    }
    found
}

/// One mutation of `bytes`, described.
fn mutate(
    rng: &mut Xoshiro256PlusPlus,
    bytes: &mut Vec<u8>,
    seeds: &[(String, Vec<u8>)],
) -> String {
    let len = bytes.len().max(1);
    if rng.random_bool(0.4) {
        return plausible(rng, bytes, seeds);
    }
    match rng.random_range(0..11) {
        0 => {
            let n = rng.random_range(1..=4);
            for _ in 0..n {
                let at = rng.random_range(0..len).min(bytes.len().saturating_sub(1));
                if let Some(b) = bytes.get_mut(at) {
                    *b = if rng.random_bool(0.5) {
                        *b ^ (1 << rng.random_range(0..8))
                    } else {
                        rng.random()
                    };
                }
            }
            format!("{n} byte flip(s)")
        }
        1 => {
            let at = rng.random_range(0..len);
            bytes.truncate(at);
            format!("truncated to {at} bytes")
        }
        2 => {
            let depth = [200, 5_000, 100_000][rng.random_range(0..3)];
            let open = ["[", "{\"a\":", "[{\"a\":"][rng.random_range(0..3)];
            let at = rng.random_range(0..len).min(bytes.len());
            let mut nest = open.repeat(depth).into_bytes();
            if rng.random_bool(0.5) {
                // Closed too, as far as it goes.
                nest.extend(b"1");
                let close: String = open
                    .chars()
                    .rev()
                    .filter_map(|c| match c {
                        '[' => Some(']'),
                        '{' => Some('}'),
                        _ => None,
                    })
                    .collect();
                nest.extend(close.repeat(depth).into_bytes());
            }
            bytes.splice(at..at, nest);
            format!("{depth}-deep nesting of {open:?} at byte {at}")
        }
        3 => {
            let found = numbers(bytes);
            let number = ODD_NUMBERS[rng.random_range(0..ODD_NUMBERS.len())];
            match found.get(rng.random_range(0..found.len().max(1))) {
                Some(&(start, end)) => {
                    bytes.splice(start..end, number.bytes());
                    format!("number at byte {start} replaced by {number}")
                }
                None => "no number to replace".into(),
            }
        }
        4 | 5 => {
            let Ok(mut value) = serde_json::from_slice::<Value>(bytes) else {
                return "wrong type skipped: not JSON".into();
            };
            let mut all = Vec::new();
            pointers(&value, String::new(), &mut all);
            let target = all[rng.random_range(0..all.len())].clone();
            let new = odd_values(rng);
            let what = format!("{target} replaced by {}", cap(&new.to_string()));
            match value.pointer_mut(&target) {
                Some(slot) => *slot = new,
                None => return "wrong type skipped".into(),
            }
            *bytes = if rng.random_bool(0.5) {
                serde_json::to_vec_pretty(&value).unwrap()
            } else {
                serde_json::to_vec(&value).unwrap()
            };
            what
        }
        6 => {
            let at = rng.random_range(0..len).min(bytes.len());
            let nul: &[u8] = [b"\0".as_slice(), b"\\u0000", b"\0\0\0\0"][rng.random_range(0..3)];
            bytes.splice(at..at, nul.iter().copied());
            format!("NUL {nul:?} at byte {at}")
        }
        7 => {
            let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
                return "duplicate key skipped: not JSON".into();
            };
            let mut objects = Vec::new();
            pointers(&value, String::new(), &mut objects);
            objects.retain(|p| {
                value
                    .pointer(p)
                    .and_then(Value::as_object)
                    .is_some_and(|m| !m.is_empty())
            });
            let Some(dup) = objects
                .get(rng.random_range(0..objects.len().max(1)))
                .cloned()
            else {
                return "duplicate key skipped: no object".into();
            };
            let second = odd_values(rng);
            let mut out = String::new();
            with_duplicate(&value, "", &dup, &second, &mut out);
            *bytes = out.into_bytes();
            format!(
                "first key of {dup:?} repeated with {}",
                cap(&second.to_string())
            )
        }
        8 => {
            let quotes: Vec<usize> = bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'"')
                .map(|(i, _)| i)
                .collect();
            let long = match rng.random_range(0..3) {
                0 => "x".repeat(1 << 20),
                1 => "é".repeat(100_000),
                _ => "a/".repeat(50_000),
            };
            match quotes.get(rng.random_range(0..quotes.len().max(1))) {
                Some(&at) => {
                    bytes.splice(at + 1..at + 1, long.bytes());
                    format!("{} long string inserted at byte {at}", long.len())
                }
                None => "no string to lengthen".into(),
            }
        }
        9 => {
            let (name, other) = &seeds[rng.random_range(0..seeds.len())];
            let from = rng.random_range(0..other.len());
            let to = rng.random_range(from..=other.len());
            let at = rng.random_range(0..len).min(bytes.len());
            bytes.splice(at..at, other[from..to].iter().copied());
            format!("{name}[{from}..{to}] spliced in at byte {at}")
        }
        _ => {
            let bad: &[u8] = [
                b"\xEF\xBB\xBF".as_slice(),
                b"\xFF",
                b"\xC3",
                b"\xED\xA0\x80",
            ][rng.random_range(0..4)];
            let at = if rng.random_bool(0.3) {
                0
            } else {
                rng.random_range(0..len).min(bytes.len())
            };
            bytes.splice(at..at, bad.iter().copied());
            format!("bytes {bad:?} at {at}")
        }
    }
}

/// An edit that keeps the strategy well-formed and often valid, so placement and planning run
/// on odd but allowed shapes: counts, picks, redundancy, spread, options and providers from
/// other strategies, dropped keys.
fn plausible(
    rng: &mut Xoshiro256PlusPlus,
    bytes: &mut Vec<u8>,
    seeds: &[(String, Vec<u8>)],
) -> String {
    let Ok(mut value) = serde_json::from_slice::<Value>(bytes) else {
        return "plausible edit skipped: not JSON".into();
    };
    // Indexing a JSON value panics on the wrong shape: edit only the shapes it can take.
    let editable = |v: &Value| v.is_object() || v.is_null();
    let shaped = value.is_object()
        && editable(&value["node"])
        && editable(&value["provider"])
        && ["location", "hardware", "image"]
            .iter()
            .all(|b| value.get("node").is_none_or(|n| editable(&n[b])));
    if !shaped {
        return "plausible edit skipped: odd shape".into();
    }
    let picks = ["first", "random", "cheapest", "priciest"];
    let blocks = ["location", "hardware", "image"];
    let (other_name, other) = &seeds[rng.random_range(0..seeds.len())];
    let other: Value = serde_json::from_slice(other).unwrap();
    let what = match rng.random_range(0..8) {
        0 => {
            let count = rng.random_range(0..40);
            value["node"]["count"] = count.into();
            format!("count {count}")
        }
        1 => {
            let (block, pick) = (
                blocks[rng.random_range(0..3)],
                picks[rng.random_range(0..4)],
            );
            value["node"][block]["pick"] = pick.into();
            format!("{block} pick {pick}")
        }
        2 => {
            let pick = picks[rng.random_range(0..4)];
            if rng.random_bool(0.5) {
                value["default_pick"] = pick.into();
                format!("default_pick {pick}")
            } else {
                value["provider"]["pick"] = pick.into();
                format!("provider pick {pick}")
            }
        }
        3 => {
            let r =
                ["1:1", "2:1", "3:1", "+0", "+1", "+3", "999:1", "+9999"][rng.random_range(0..8)];
            value["redundancy"] = r.into();
            format!("redundancy {r}")
        }
        4 => {
            let spread = ["location", "provider", "none"][rng.random_range(0..3)];
            value["spread"] = spread.into();
            format!("spread {spread}")
        }
        5 => {
            let block = blocks[rng.random_range(0..3)];
            value["node"][block] = other["node"][block].clone();
            format!("{block} from {other_name}")
        }
        6 => {
            value["provider"] = other["provider"].clone();
            format!("provider from {other_name}")
        }
        _ => {
            let mut all = Vec::new();
            pointers(&value, String::new(), &mut all);
            let target = all[rng.random_range(0..all.len())].clone();
            match target.rsplit_once('/') {
                Some((parent, key)) => {
                    match value.pointer_mut(parent) {
                        Some(Value::Object(map)) => {
                            map.remove(&key.replace("~1", "/").replace("~0", "~"));
                        }
                        Some(Value::Array(items)) => {
                            items.remove(key.parse::<usize>().unwrap());
                        }
                        _ => {}
                    }
                    format!("{target} removed")
                }
                None => "nothing removed".into(),
            }
        }
    };
    *bytes = serde_json::to_vec_pretty(&value).unwrap();
    what
}

fn cap(text: &str) -> String {
    if text.len() > 80 {
        format!(
            "{}… ({} bytes)",
            &text[..text.floor_char_boundary(80)],
            text.len()
        )
    } else {
        text.to_string()
    }
}

/// Case `index` of `seed`: a shipped strategy with one to three mutations.
fn generate(seed: u64, index: usize, seeds: &[(String, Vec<u8>)]) -> Case {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(
        seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
    );
    let (name, base) = &seeds[rng.random_range(0..seeds.len())];
    let mut bytes = base.clone();
    let mut what = vec![name.clone()];
    for _ in 0..rng.random_range(1..=3) {
        what.push(mutate(&mut rng, &mut bytes, seeds));
    }
    Case {
        what: what.join("; "),
        bytes,
    }
}

/// A scratch directory with what the shipped strategies refer to (sim catalogs, keys).
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("oss-fuzz-")
        .tempdir()
        .unwrap();
    for sub in ["sim", "keys"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        for entry in std::fs::read_dir(root().join("examples").join(sub)).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.path().join(sub).join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

/// Runs `oss ARGS` in `dir`: whether it succeeded, or `Err` with what went wrong beyond an
/// ordinary located error.
fn run(dir: &Path, args: &[&str]) -> Result<bool, String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_oss"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("HOME", dir)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("OSS_BACKEND")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain stderr on a thread, so a long message cannot fill the pipe and stall the child.
    let mut pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut err = Vec::new();
        let _ = pipe.read_to_end(&mut err);
        err
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_TIMEOUT {
            child.kill().unwrap();
            child.wait().unwrap();
            return Err(format!("oss {args:?} did not end within {RUN_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let err = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
    let shown = if err.len() > 600 {
        format!(
            "{}… ({} bytes)",
            &err[..err.floor_char_boundary(600)],
            err.len()
        )
    } else {
        err.clone()
    };
    match status.code() {
        None => Err(format!(
            "oss {args:?} was killed by a signal ({status}): {shown}"
        )),
        Some(_) if err.contains("panicked") => Err(format!("oss {args:?} panicked: {shown}")),
        Some(0) => Ok(true),
        Some(1) if located(&err) => Ok(false),
        Some(1) => Err(format!("oss {args:?} failed without a location: {shown}")),
        Some(code) => Err(format!("oss {args:?} exited {code}: {shown}")),
    }
}

/// Whether an error message says where: `file:LINE:COL`, a JSON pointer, or a path that
/// cannot be read.
fn located(err: &str) -> bool {
    let line_col = err.as_bytes().windows(4).enumerate().any(|(i, w)| {
        w[0] == b':' && w[1].is_ascii_digit() && {
            let rest = &err.as_bytes()[i + 1..];
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            rest.get(digits) == Some(&b':') && rest.get(digits + 1).is_some_and(u8::is_ascii_digit)
        }
    });
    line_col || err.contains(" at /") || err.contains("Cannot read strategy file")
}

/// Runs one input through `validate` and `plan`: whether the strategy was valid, or `Err`
/// with what failed.
fn check(dir: &Path, n: usize, bytes: &[u8]) -> Result<bool, String> {
    let file = format!("case-{n}.json");
    let state = format!("state-{n}");
    std::fs::write(dir.join(&file), bytes).unwrap();
    let result = run(dir, &["validate", "-s", &file]).and_then(|valid| {
        run(
            dir,
            &[
                "plan",
                "--refresh=false",
                "-s",
                &file,
                "--state-dir",
                &state,
            ],
        )?;
        Ok(valid)
    });
    let _ = std::fs::remove_file(dir.join(&file));
    let _ = std::fs::remove_dir_all(dir.join(&state));
    result
}

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    let text = std::env::var(name).ok()?;
    Some(
        text.parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
    )
}

#[test]
fn mutated_strategies_never_panic_hang_or_fail_unlocated() {
    let seed: u64 = env_number("OSS_FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let cases: usize = env_number("OSS_FUZZ_CASES").unwrap_or(DEFAULT_CASES);
    let only: Option<usize> = env_number("OSS_FUZZ_CASE");
    let budget = env_number("OSS_FUZZ_SECONDS").map_or(BUDGET, Duration::from_secs);
    eprintln!(
        "fuzz_strategy: seed {seed}, up to {cases} case(s) in {budget:?} (OSS_FUZZ_SEED, OSS_FUZZ_CASES, OSS_FUZZ_SECONDS, OSS_FUZZ_CASE=I to change)"
    );
    let seeds = seeds();
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let saved = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
    let fail = |what: String, bytes: &[u8], file: String| {
        std::fs::create_dir_all(&saved).unwrap();
        let path = saved.join(file);
        std::fs::write(&path, bytes).unwrap();
        failures
            .lock()
            .unwrap()
            .push(format!("{what}\n    input saved as {}", path.display()));
    };

    // The corpus first: every case found so far, every run.
    let mut corpus: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fuzz/corpus"))
        .expect("tests/fuzz/corpus holds the cases found so far")
        .map(|e| e.unwrap().path())
        .collect();
    corpus.sort();
    assert!(!corpus.is_empty(), "the corpus is empty");
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let ran = AtomicUsize::new(0);
    let valid = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let dir = workdir();
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n < corpus.len() {
                        let path = &corpus[n];
                        let bytes = std::fs::read(path).unwrap();
                        if let Err(e) = check(dir.path(), n, &bytes) {
                            let name = path.file_name().unwrap().to_string_lossy().into_owned();
                            fail(format!("corpus {name}: {e}"), &bytes, name);
                        }
                        continue;
                    }
                    let index = match only {
                        Some(i) if n == corpus.len() => i,
                        Some(_) => break,
                        None => n - corpus.len(),
                    };
                    if index >= cases.max(only.map_or(0, |i| i + 1)) || started.elapsed() > budget {
                        break;
                    }
                    let case = generate(seed, index, &seeds);
                    ran.fetch_add(1, Ordering::SeqCst);
                    match check(dir.path(), n, &case.bytes) {
                        Ok(true) => {
                            valid.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(false) => {}
                        Err(e) => fail(
                            format!("seed {seed} case {index} ({}): {e}", case.what),
                            &case.bytes,
                            format!("seed-{seed}-case-{index}.json"),
                        ),
                    }
                }
            });
        }
    });
    let ran = ran.into_inner();
    eprintln!(
        "fuzz_strategy: {} corpus file(s) and {ran} new case(s) ({} still valid) in {:.1?}",
        corpus.len(),
        valid.into_inner(),
        started.elapsed()
    );
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} failure(s) (seed {seed}; reproduce one with OSS_FUZZ_SEED={seed} OSS_FUZZ_CASE=I; add its input to tests/fuzz/corpus/ once fixed):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
    assert!(
        only.is_some() || ran >= cases.min(10),
        "only {ran} new case(s) ran in the time budget"
    );
}
