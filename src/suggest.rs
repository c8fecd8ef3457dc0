//! "Did you mean": the known names nearest to what the user wrote, by edit distance. Used by
//! every error that names the closest setting, address or option.
//!
//! Pure: no I/O.

/// Levenshtein distance between `a` and `b`, counted in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Up to `n` of `candidates` nearest to `given`, nearest first (ties in the candidates'
/// order). Only the first 64 characters of `given` are compared: enough to rank, and cheap
/// when `given` is huge and the candidates many.
pub fn nearest<I, S>(given: &str, candidates: I, n: usize) -> Vec<S>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let given: String = given.chars().take(64).collect();
    let mut ranked: Vec<(usize, usize, S)> = candidates
        .into_iter()
        .enumerate()
        .map(|(i, c)| (edit_distance(&given, c.as_ref()), i, c))
        .collect();
    ranked.sort_by_key(|(d, i, _)| (*d, *i));
    ranked.into_iter().take(n).map(|(_, _, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("kitten", "kitten"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("läng", "lang"), 1);
    }

    #[test]
    fn nearest_ranks_by_distance_then_order() {
        let known = ["latency_ms", "seed", "rate_limit", "state_file"];
        assert_eq!(nearest("latncy_ms", known, 1), ["latency_ms"]);
        assert_eq!(nearest("sed", known, 2), ["seed", "state_file"]);
        assert!(nearest("x", Vec::<String>::new(), 3).is_empty());
    }
}
