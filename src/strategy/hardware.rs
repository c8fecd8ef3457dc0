//! The original tool's hardware strings (`"4 CPU, 8GB ram, 100GB"`) read as constraints:
//! at least that many vCPUs (`min_vcpus`), GiB of memory (`min_memory_gib`) and GiB of disk
//! (`min_disk_gib`).
//!
//! Forgiving about spelling (case, `CPU`/`CPUs`/`vCPU`/`cores`, `GB`/`GiB`/`G`/`TB`,
//! `ram`/`memory`, parts in any order, each optional) but strict about meaning: every word
//! must be understood, each of the three appears at most once, and at least one is given.
//! `GB` and `GiB` both mean GiB (as the original tool's providers used them), `TB` 1024 GiB,
//! `MB` 1/1024 GiB. Pure: text in, constraints or a sentence saying what could not be read.

use serde_json::{Map, Value};

/// An example to put in every hint.
pub const EXAMPLE: &str = "\"4 CPU, 8GB ram, 100GB\"";

/// What one part of the string gives.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Part {
    Vcpus(u64),
    MemoryGib(f64),
    DiskGib(f64),
}

impl Part {
    fn key(self) -> &'static str {
        match self {
            Part::Vcpus(_) => "min_vcpus",
            Part::MemoryGib(_) => "min_memory_gib",
            Part::DiskGib(_) => "min_disk_gib",
        }
    }

    fn value(self) -> Value {
        match self {
            Part::Vcpus(n) => Value::from(n),
            Part::MemoryGib(x) | Part::DiskGib(x) => number(x),
        }
    }
}

/// A whole number as an integer (so `8GB` shows as 8, not 8.0), else the float.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x <= u32::MAX as f64 {
        Value::from(x as u64)
    } else {
        Value::from(x)
    }
}

/// One token of a part: a number or a word.
#[derive(Debug, PartialEq)]
enum Token {
    Number(f64),
    Word(String),
}

/// The constraints `text` asks for, or one sentence saying what could not be read.
pub fn parse(text: &str) -> Result<Map<String, Value>, String> {
    let mut constraints = Map::new();
    let parts: Vec<&str> = text
        .split([',', ';', '+'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        return Err("it gives no CPU count, memory size or disk size".into());
    }
    for raw in parts {
        let part = read_part(raw)?;
        if constraints
            .insert(part.key().to_string(), part.value())
            .is_some()
        {
            let what = match part {
                Part::Vcpus(_) => "CPU count",
                Part::MemoryGib(_) => "memory size",
                Part::DiskGib(_) => "disk size",
            };
            return Err(format!("it gives the {what} twice (again in \"{raw}\")"));
        }
    }
    Ok(constraints)
}

fn tokens(part: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = part.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() || c == ':' || c == '=' {
            chars.next();
        } else if c.is_ascii_digit() || c == '.' {
            let mut end = start;
            while let Some(&(i, d)) = chars.peek() {
                if !(d.is_ascii_digit() || d == '.') {
                    break;
                }
                end = i + d.len_utf8();
                chars.next();
            }
            let digits = &part[start..end];
            let n: f64 = digits
                .parse()
                .map_err(|_| format!("\"{digits}\" in \"{part}\" is not a number"))?;
            out.push(Token::Number(n));
        } else if c.is_alphabetic() {
            let mut end = start;
            while let Some(&(i, d)) = chars.peek() {
                if !d.is_alphabetic() {
                    break;
                }
                end = i + d.len_utf8();
                chars.next();
            }
            out.push(Token::Word(part[start..end].to_lowercase()));
        } else {
            return Err(format!("\"{c}\" in \"{part}\" is not part of a size"));
        }
    }
    Ok(out)
}

/// What a word means in a part.
#[derive(Clone, Copy, PartialEq)]
enum Word {
    Cpu,
    /// A size unit, in GiB.
    Unit(f64),
    Memory,
    Disk,
}

fn word(w: &str) -> Option<Word> {
    Some(match w {
        "cpu" | "cpus" | "vcpu" | "vcpus" | "core" | "cores" => Word::Cpu,
        "g" | "gb" | "gib" => Word::Unit(1.0),
        "t" | "tb" | "tib" => Word::Unit(1024.0),
        "m" | "mb" | "mib" => Word::Unit(1.0 / 1024.0),
        "ram" | "memory" | "mem" => Word::Memory,
        "disk" | "hdd" | "ssd" | "storage" => Word::Disk,
        _ => return None,
    })
}

fn read_part(part: &str) -> Result<Part, String> {
    let unreadable = || {
        format!(
            "\"{part}\" is not a CPU count (\"4 CPU\"), a memory size (\"8GB ram\") or a disk size (\"100GB\")"
        )
    };
    let mut amount = None;
    let mut words = Vec::new();
    for token in tokens(part)? {
        match token {
            Token::Number(n) if amount.is_none() => amount = Some(n),
            Token::Number(_) => return Err(unreadable()),
            Token::Word(w) => match word(&w) {
                Some(meaning) if !words.contains(&meaning) => words.push(meaning),
                Some(_) => return Err(unreadable()),
                None => return Err(format!("\"{w}\" in \"{part}\" is not a known word")),
            },
        }
    }
    let amount = amount.ok_or_else(|| format!("\"{part}\" has no number"))?;
    if amount <= 0.0 {
        return Err(format!(
            "\"{part}\" asks for nothing (the amount must be above 0)"
        ));
    }
    let unit = words.iter().find_map(|w| match w {
        Word::Unit(gib) => Some(*gib),
        _ => None,
    });
    let has = |w: Word| words.contains(&w);
    match (has(Word::Cpu), unit, has(Word::Memory), has(Word::Disk)) {
        (true, None, false, false) if amount.fract() == 0.0 => Ok(Part::Vcpus(amount as u64)),
        (true, None, false, false) => Err(format!("\"{part}\": a CPU count is a whole number")),
        (false, Some(gib), true, false) => Ok(Part::MemoryGib(amount * gib)),
        (false, Some(gib), false, _) => Ok(Part::DiskGib(amount * gib)),
        _ => Err(unreadable()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(text: &str) -> Value {
        Value::Object(parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}")))
    }

    #[test]
    fn the_original_sample_reads_as_three_minimums() {
        assert_eq!(
            ok("4 CPU, 8GB ram, 100GB"),
            json!({"min_vcpus": 4, "min_memory_gib": 8, "min_disk_gib": 100})
        );
    }

    #[test]
    fn spellings_cases_and_orders_agree() {
        let same = json!({"min_vcpus": 4, "min_memory_gib": 8, "min_disk_gib": 100});
        for text in [
            "4 CPUs, 8 GB RAM, 100 GB",
            "4cpu,8gb ram,100gb",
            "4 vCPU, 8GiB memory, 100GiB disk",
            "4 cores; 8G mem; 100G",
            "100GB, 8GB ram, 4 CPU",
            "8 GB RAM, 100 GB disk, 4 vCPUs",
            "  4 Cores ,  8 gib Memory , 100 GIB  ",
            "ram: 8GB, cpu: 4, disk: 100GB",
            "4 CPU + 8GB RAM + 100GB SSD",
        ] {
            assert_eq!(ok(text), same, "{text:?}");
        }
    }

    #[test]
    fn each_part_is_optional_and_units_scale() {
        assert_eq!(ok("2 CPU"), json!({"min_vcpus": 2}));
        assert_eq!(ok("16GB ram"), json!({"min_memory_gib": 16}));
        assert_eq!(ok("1TB"), json!({"min_disk_gib": 1024}));
        assert_eq!(ok("2 TB disk"), json!({"min_disk_gib": 2048}));
        assert_eq!(ok("512MB ram"), json!({"min_memory_gib": 0.5}));
        assert_eq!(ok("0.5GB ram"), json!({"min_memory_gib": 0.5}));
        assert_eq!(
            ok("1 core, 1TB memory"),
            json!({"min_vcpus": 1, "min_memory_gib": 1024})
        );
    }

    #[test]
    fn unreadable_strings_say_what_could_not_be_read() {
        for (text, says) in [
            ("", "gives no CPU count"),
            (" , ", "gives no CPU count"),
            (
                "4 CPU, 8GB rum",
                "\"rum\" in \"8GB rum\" is not a known word",
            ),
            ("four CPU", "\"four\" in \"four CPU\" is not a known word"),
            ("CPU", "\"CPU\" has no number"),
            ("4", "\"4\" is not a CPU count"),
            ("4 GB CPU", "\"4 GB CPU\" is not a CPU count"),
            ("8GB ram disk", "is not a CPU count"),
            ("4 CPU 8GB ram", "\"4 CPU 8GB ram\" is not a CPU count"),
            (
                "4 CPU, 2 cores",
                "gives the CPU count twice (again in \"2 cores\")",
            ),
            ("8GB ram, 16GB memory", "memory size twice"),
            ("100GB, 200GB", "disk size twice"),
            ("2.5 CPU", "a CPU count is a whole number"),
            ("0 CPU", "asks for nothing"),
            ("1.2.3GB", "\"1.2.3\" in \"1.2.3GB\" is not a number"),
            ("8GB ram!", "\"!\" in \"8GB ram!\" is not part of a size"),
            ("8GB GB ram", "is not a CPU count"),
        ] {
            let error = parse(text).expect_err(text);
            assert!(error.contains(says), "{text:?}: {error}");
        }
    }
}
