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
    let offset = walker.find(&segments, want_key)?;
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
/// included, since parsers report errors just after a value). One forward pass with a stack
/// of open containers: linear in the text, and no recursion, so deep nesting costs nothing
/// extra. `None` when the text is not JSON up to there.
pub fn pointer_at(text: &str, offset: usize) -> Option<String> {
    /// An open container and the segment of the child being read.
    struct Open {
        object: bool,
        index: usize,
        key: Option<String>,
    }
    let path = |stack: &[Open], child: bool| {
        let mut pointer = String::new();
        let n = if child {
            stack.len()
        } else {
            stack.len().saturating_sub(1)
        };
        for frame in &stack[..n] {
            pointer.push('/');
            match &frame.key {
                Some(key) if frame.object => pointer.push_str(&escape(key)),
                _ => pointer.push_str(&frame.index.to_string()),
            }
        }
        pointer
    };
    let mut walker = Walker {
        bytes: text.as_bytes(),
        at: 0,
    };
    // Open containers; the root value is the child of nothing.
    let mut stack: Vec<Open> = Vec::new();
    loop {
        walker.skip_ws();
        let b = walker.peek()?;
        // Inside an object, a key comes before each value.
        if let Some(top) = stack.last_mut()
            && top.object
            && b != b'}'
        {
            if b == b',' {
                walker.at += 1;
                continue;
            }
            if walker.at > offset {
                return Some(path(&stack, false));
            }
            top.key = Some(walker.string()?);
            walker.skip_ws();
            if walker.peek()? != b':' {
                return None;
            }
            walker.at += 1;
            walker.skip_ws();
        } else if b == b',' {
            stack.last_mut()?.index += 1;
            walker.at += 1;
            continue;
        }
        let start = walker.at;
        let in_container = !stack.is_empty();
        match walker.peek()? {
            b'}' | b']' => {
                walker.at += 1;
                if walker.at >= offset {
                    return Some(path(&stack, false));
                }
                stack.pop();
                if stack.is_empty() {
                    return None; // the offset is past the document
                }
                continue;
            }
            _ if start > offset => return Some(path(&stack, false)),
            open @ (b'{' | b'[') => {
                walker.at += 1;
                stack.push(Open {
                    object: open == b'{',
                    index: 0,
                    key: None,
                });
            }
            _ => {
                walker.skip_value()?;
                if walker.at >= offset || !in_container {
                    return Some(path(&stack, true));
                }
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
    let start = walker.find(&segments, None)?;
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

    /// Walks into the value at the cursor following `segments`; returns the offset of
    /// the target value (or of the key, when `key_depth` says the last segment is a key).
    /// Iterative, so a pointer as deep as the text cannot overflow the stack.
    fn find(&mut self, segments: &[String], key_depth: Option<usize>) -> Option<usize> {
        let mut depth = 0;
        'value: loop {
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
                            depth += 1;
                            continue 'value;
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
                            depth += 1;
                            continue 'value;
                        }
                        self.skip_value()?;
                    }
                }
                _ => return None,
            }
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

/// A key escaped for a JSON pointer (RFC 6901: `~` as `~0`, `/` as `~1`).
pub fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
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
        assert_eq!(
            pointer_at(&"{\"a\":".repeat(100_000), 300_000),
            Some("/a".repeat(60_000))
        );
        // As deep as the text goes, without overflowing the stack.
        let deep = format!("{}1{}", "[".repeat(200_000), "]".repeat(200_000));
        let pointer = "/0".repeat(200_000);
        assert_eq!(
            locate(&deep, &pointer, None).map(|p| p.column),
            Some(200_001)
        );
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
