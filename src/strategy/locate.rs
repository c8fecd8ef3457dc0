//! Finds where a JSON pointer points in a strategy's source text, so every error can say
//! `file:line:col`. serde_json keeps no spans, so this walks the text itself; it runs only
//! when an error is reported, never on the happy path.

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `text`.
    pub fn of_offset(text: &str, offset: usize) -> Position {
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Position { line, column }
    }
}

/// Where the value at `pointer` starts. With `key: Some(k)`, where the key `k` of the object at
/// `pointer` starts instead (for "unexpected property" errors).
pub fn locate(text: &str, pointer: &str, key: Option<&str>) -> Option<Position> {
    let mut segments: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let want_key = key.map(|k| {
        segments.push(k.to_string());
        segments.len()
    });
    let mut walker = Walker {
        bytes: text.as_bytes(),
        at: 0,
    };
    let offset = walker.find(&segments, 0, want_key)?;
    Some(Position::of_offset(text, offset))
}

/// The byte offset of line `line`, column `column` (1-based, columns counting bytes, as
/// serde_json reports them), clamped to the text.
pub fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let line_start = text
        .match_indices('\n')
        .nth(line.saturating_sub(2))
        .map_or(0, |(i, _)| i + 1);
    let start = if line <= 1 { 0 } else { line_start };
    (start + column.saturating_sub(1)).min(text.len())
}

/// The JSON pointer of the innermost value whose text spans byte `offset` (its end
/// included, since parsers report errors just after a value). Iterative, so deep nesting
/// cannot overflow the stack; `None` when the text is not JSON up to there.
pub fn pointer_at(text: &str, offset: usize) -> Option<String> {
    let mut walker = Walker {
        bytes: text.as_bytes(),
        at: 0,
    };
    let mut pointer = String::new();
    'value: loop {
        walker.skip_ws();
        let object = match walker.peek()? {
            b'{' => true,
            b'[' => false,
            _ => return Some(pointer),
        };
        walker.at += 1;
        let mut index = 0usize;
        loop {
            walker.skip_ws();
            match walker.peek()? {
                b'}' | b']' => return Some(pointer),
                b',' => {
                    walker.at += 1;
                    index += 1;
                    continue;
                }
                _ => {}
            }
            let segment = if object {
                let key = walker.string()?;
                walker.skip_ws();
                if walker.peek()? != b':' {
                    return Some(pointer);
                }
                walker.at += 1;
                key.replace('~', "~0").replace('/', "~1")
            } else {
                index.to_string()
            };
            walker.skip_ws();
            let start = walker.at;
            if start > offset {
                return Some(pointer);
            }
            if walker.skip_value().is_none() || walker.at >= offset {
                pointer.push('/');
                pointer.push_str(&segment);
                walker.at = start;
                continue 'value;
            }
        }
    }
}

/// The text of the value at `pointer`, as written (for echoing numbers exactly).
pub fn value_text<'t>(text: &'t str, pointer: &str) -> Option<&'t str> {
    let segments: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut walker = Walker {
        bytes: text.as_bytes(),
        at: 0,
    };
    let start = walker.find(&segments, 0, None)?;
    walker.at = start;
    walker.skip_value()?;
    text.get(start..walker.at)
}

struct Walker<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Walker<'_> {
    fn skip_ws(&mut self) {
        while self.at < self.bytes.len() && self.bytes[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// Walks into the value at the cursor following `segments[depth..]`; returns the offset of
    /// the target value (or of the key, when `key_depth` says the last segment is a key).
    fn find(
        &mut self,
        segments: &[String],
        depth: usize,
        key_depth: Option<usize>,
    ) -> Option<usize> {
        self.skip_ws();
        if depth == segments.len() {
            return Some(self.at);
        }
        match self.peek()? {
            b'{' => {
                self.at += 1;
                loop {
                    self.skip_ws();
                    match self.peek()? {
                        b'}' => return None,
                        b',' => {
                            self.at += 1;
                            continue;
                        }
                        _ => {}
                    }
                    let key_at = self.at;
                    let key = self.string()?;
                    self.skip_ws();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.at += 1;
                    if key == segments[depth] {
                        if key_depth == Some(depth + 1) {
                            return Some(key_at);
                        }
                        return self.find(segments, depth + 1, key_depth);
                    }
                    self.skip_value()?;
                }
            }
            b'[' => {
                let wanted: usize = segments[depth].parse().ok()?;
                self.at += 1;
                let mut index = 0;
                loop {
                    self.skip_ws();
                    match self.peek()? {
                        b']' => return None,
                        b',' => {
                            self.at += 1;
                            index += 1;
                            continue;
                        }
                        _ => {}
                    }
                    if index == wanted {
                        return self.find(segments, depth + 1, key_depth);
                    }
                    self.skip_value()?;
                }
            }
            _ => None,
        }
    }

    /// Reads a JSON string at the cursor and returns its unescaped text (escapes beyond the
    /// simple ones are kept as written; keys needing them are rare in strategies).
    fn string(&mut self) -> Option<String> {
        if self.peek()? != b'"' {
            return None;
        }
        self.at += 1;
        let start = self.at;
        let mut out = String::new();
        let mut chunk_start = start;
        while let Some(b) = self.peek() {
            match b {
                b'"' => {
                    out.push_str(std::str::from_utf8(&self.bytes[chunk_start..self.at]).ok()?);
                    self.at += 1;
                    return Some(out);
                }
                b'\\' => {
                    out.push_str(std::str::from_utf8(&self.bytes[chunk_start..self.at]).ok()?);
                    let escaped = *self.bytes.get(self.at + 1)?;
                    match escaped {
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'"' | b'\\' | b'/' => out.push(escaped as char),
                        _ => out
                            .push_str(std::str::from_utf8(&self.bytes[self.at..self.at + 2]).ok()?),
                    }
                    self.at += 2;
                    chunk_start = self.at;
                }
                _ => self.at += 1,
            }
        }
        None
    }

    fn skip_value(&mut self) -> Option<()> {
        self.skip_ws();
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' | b'[' => {
                let mut depth = 0usize;
                while let Some(b) = self.peek() {
                    match b {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.at += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.at += 1;
                }
                None
            }
            _ => {
                while let Some(b) = self.peek() {
                    if matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace() {
                        break;
                    }
                    self.at += 1;
                }
                Some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "{\n  \"a\": 1,\n  \"b\": {\"c\": [10, {\"d\": \"x\\\"y\"}, 30]},\n  \"e/f\": true\n}";

    fn at(pointer: &str) -> Option<(usize, usize)> {
        locate(TEXT, pointer, None).map(|p| (p.line, p.column))
    }

    #[test]
    fn finds_values_by_pointer() {
        assert_eq!(at(""), Some((1, 1)));
        assert_eq!(at("/a"), Some((2, 8)));
        assert_eq!(at("/b/c/0"), Some((3, 15)));
        assert_eq!(at("/b/c/1/d"), Some((3, 25)));
        assert_eq!(at("/b/c/2"), Some((3, 34)));
        assert_eq!(at("/e~1f"), Some((4, 10)));
        assert_eq!(at("/nope"), None);
        assert_eq!(at("/b/c/7"), None);
    }

    #[test]
    fn finds_the_pointer_of_an_offset() {
        let of = |needle: &str| pointer_at(TEXT, TEXT.find(needle).unwrap()).unwrap();
        assert_eq!(of("1,"), "/a");
        assert_eq!(of("10"), "/b/c/0");
        assert_eq!(of("\"x"), "/b/c/1/d");
        assert_eq!(of("30"), "/b/c/2");
        assert_eq!(of("true"), "/e~1f");
        // Just after a value still names it; between values names their container.
        assert_eq!(
            pointer_at(TEXT, TEXT.find("30").unwrap() + 2).unwrap(),
            "/b/c/2"
        );
        assert_eq!(pointer_at(TEXT, TEXT.find("\"b\"").unwrap()).unwrap(), "");
        assert_eq!(pointer_at(&"[".repeat(2000), 1000), Some("/0".repeat(1000)));
        assert_eq!(value_text(TEXT, "/b/c/2"), Some("30"));
        assert_eq!(offset_of(TEXT, 3, 15), TEXT.find("10").unwrap());
        assert_eq!(offset_of(TEXT, 1, 1), 0);
    }

    #[test]
    fn finds_keys() {
        let p = locate(TEXT, "/b", Some("c")).unwrap();
        assert_eq!((p.line, p.column), (3, 9));
    }
}
