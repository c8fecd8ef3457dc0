//! How oss marks what it creates at Linode. Instances carry the shared node tags
//! (`crate::driver::rest_cloud::marks`: `oss:lineage:LINEAGE`, `oss:node:GROUP:INDEX`;
//! Linode's tags are free text); labels follow Linode's own rule (a letter first, then letters,
//! digits, `-`, `_`, `.`, never two of those in a row). A firewall and an SSH key carry the
//! lineage in their labels. Pure text.

pub use crate::driver::rest_cloud::marks::{address_tag, lineage_tag};

/// A label Linode accepts, at most `max` characters (at least 3).
pub fn label(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
            c
        } else {
            '-'
        };
        if out.is_empty() && !c.is_ascii_alphabetic() {
            continue;
        }
        let last = out.chars().last();
        if !c.is_ascii_alphanumeric() && last.is_some_and(|l| !l.is_ascii_alphanumeric()) {
            continue;
        }
        if out.len() == max {
            break;
        }
        out.push(c);
    }
    while out.ends_with(|c: char| !c.is_ascii_alphanumeric()) {
        out.pop();
    }
    while out.len() < 3 {
        out.push_str(if out.is_empty() { "oss" } else { "0" });
        out.truncate(max.max(3));
    }
    out
}

/// The label of the firewall or key named `base`: the region and the lineage's first 8
/// characters added, so a create after a crash finds its own by label. Firewall labels are
/// at most 32 characters, so the base is shortened first, the suffix kept whole.
pub fn object_label(base: &str, region: Option<&str>, lineage: &str, max: usize) -> String {
    let short: String = lineage.chars().take(8).collect();
    let suffix = match region {
        Some(region) => format!("-{region}-{short}"),
        None => format!("-{short}"),
    };
    let room = max.saturating_sub(suffix.len()).max(3);
    label(&format!("{}{suffix}", label(base, room)), max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_what_the_api_accepts() {
        assert_eq!(label("oss-my_app-web-0", 64), "oss-my_app-web-0");
        assert_eq!(label("9--a__b..c", 64), "a_b.c");
        assert_eq!(label("__", 64), "oss");
        assert_eq!(label("web", 64), "web");
        let l = object_label(
            "oss-a-very-long-strategy-name",
            Some("us-east"),
            "0123456789",
            32,
        );
        assert!(l.len() <= 32 && l.ends_with("-us-east-01234567"), "{l}");
        assert_eq!(object_label("k", None, "abcdefgh1", 64), "k00-abcdefgh");
    }
}
