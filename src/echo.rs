//! Message text. Bounded echoes of user input: an error that names a path, an address or a
//! value given by the user shows at most [`LIMIT`] bytes of it, then `… (N bytes)`: a 5 MB
//! path must not become 5 MB of stderr. Every error that echoes input goes through here. And
//! an error's causes, each said once ([`causes`]).
//!
//! Pure: formatting only.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

/// How many bytes of an echoed value are shown.
pub const LIMIT: usize = 200;

/// `value` whole when it is short, else its first [`LIMIT`] bytes (cut at a character
/// boundary) and `… (N bytes)`.
pub fn echo(value: &str) -> Cow<'_, str> {
    cap(value, LIMIT)
}

/// Like [`echo`], with another limit (for whole messages, as a last line of defence).
pub fn cap(value: &str, limit: usize) -> Cow<'_, str> {
    if value.len() <= limit {
        return Cow::Borrowed(value);
    }
    let mut end = limit;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}… ({} bytes)", &value[..end], value.len()))
}

/// A value shown through [`echo`], for format strings: `format!("no file {}", Echo(&name))`.
pub struct Echo<'a>(pub &'a str);

impl fmt::Display for Echo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&echo(self.0))
    }
}

/// A path shown through [`echo`].
pub struct EchoPath<'a>(pub &'a Path);

impl fmt::Display for EchoPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&echo(&self.0.to_string_lossy()))
    }
}

/// The texts of `e`'s causes, outermost first. A cause is left out when it is blank or when
/// the message or an earlier cause already says it (wrappers often repeat their source).
pub fn causes(e: &dyn std::error::Error) -> Vec<String> {
    let message = e.to_string();
    let mut causes: Vec<String> = Vec::new();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        let said = message.contains(text.as_str()) || causes.iter().any(|c| c.contains(&text));
        if !text.trim().is_empty() && !said {
            causes.push(text);
        }
        source = cause.source();
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_shown_whole() {
        assert_eq!(echo("node.web[0]"), "node.web[0]");
        assert_eq!(echo(&"a".repeat(LIMIT)), "a".repeat(LIMIT));
    }

    #[test]
    fn long_values_are_cut_with_their_size() {
        let long = "b".repeat(5_000_000);
        let shown = echo(&long);
        assert_eq!(shown, format!("{}… (5000000 bytes)", "b".repeat(LIMIT)));
    }

    #[test]
    fn cuts_fall_on_character_boundaries() {
        // 'é' is two bytes: byte 200 falls inside the 101st one.
        let long = format!("a{}", "é".repeat(200));
        let shown = echo(&long);
        assert!(shown.starts_with(&format!("a{}", "é".repeat(99))));
        assert!(shown.ends_with("… (401 bytes)"), "{shown}");
        assert_eq!(EchoPath(Path::new(&long)).to_string(), shown.into_owned());
    }
}
