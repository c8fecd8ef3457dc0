//! Percent-encoding for URLs and form bodies, one set for every API: RFC 3986's unreserved
//! characters (`A-Z a-z 0-9 - _ . ~`) stay, everything else is encoded. That is what SigV4's
//! canonical requests expect, and what the REST clouds accept.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but RFC 3986's unreserved characters is encoded (query names and values).
pub const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The same, keeping `/` (object keys and other paths).
pub const PATH: &AsciiSet = &UNRESERVED.remove(b'/');

/// One query name or value, percent-encoded (a space is `%20`).
pub fn component(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED).to_string()
}

/// A path, percent-encoded with its `/` kept.
pub fn path(text: &str) -> String {
    utf8_percent_encode(text, PATH).to_string()
}

/// `name=value&...` with every part percent-encoded (a space is `%20`).
pub fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(name, value)| format!("{}={}", component(name), component(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A form body (`application/x-www-form-urlencoded`): like [`query`] but a space becomes
/// `+`, as Python's `urlencode` does. AWS hashes the body as sent, but moto checks signatures
/// over the form re-encoded that way, so any other spelling (`*`, `%20`) would not match.
pub fn form<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    // A literal `%` is encoded as `%25`, so every `%20` stands for a space.
    query(pairs).replace("%20", "+")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_characters_stay_and_the_rest_is_encoded() {
        assert_eq!(component("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(component("a b/c*d%"), "a%20b%2Fc%2Ad%25");
        assert_eq!(path("dir/a b.json"), "dir/a%20b.json");
        assert_eq!(
            query([("versionId", "x y"), ("list-type", "2")]),
            "versionId=x%20y&list-type=2"
        );
        assert_eq!(form([("k", "a b%20")]), "k=a+b%2520");
    }
}
