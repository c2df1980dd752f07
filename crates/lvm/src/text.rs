//! The LVM2 text metadata format: the configuration syntax of lvm2 (`lib/config`) as the
//! metadata uses it.
//!
//! ```text
//! vg0 {                         # a section: name { items }
//!     seqno = 4                 # key = integer
//!     format = "lvm2"           # key = "string" (escapes: \" and \\)
//!     status = ["READ", "WRITE"] # key = [ scalar, scalar, … ]
//! }
//! ```
//!
//! Strict and bounded: integers only (no floats, which metadata never holds), arrays of
//! scalars only, no duplicate key in a section, at most [`MAX_DEPTH`] nested sections,
//! [`MAX_NODES`] values in all and strings of [`MAX_STRING`] bytes. A NUL ends the text
//! (lvm2 writes one after it). Errors name the line.

use crate::error::{Error, Result};

/// Deepest nesting of sections read. Metadata nests four deep
/// (`vg { logical_volumes { lv { segment1 { … } } } }`).
pub const MAX_DEPTH: usize = 8;
/// Most values (items, sections and array elements together) in one text. Each costs
/// tens of bytes in memory; a VG with thousands of LVs stays well under.
pub const MAX_NODES: usize = 1 << 18;
/// Longest string value. The longest metadata writes is the command line in
/// `description`.
pub const MAX_STRING: usize = 64 << 10;

/// A value on the right of `=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A decimal integer.
    Int(i64),
    /// A string, escapes resolved. Kept as bytes: names are ASCII, but a description
    /// need not be UTF-8.
    Str(Vec<u8>),
    /// `[ a, b, … ]` of integers and strings.
    Array(Vec<Value>),
}

/// What a key names: a value or a nested section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// `key = value`.
    Value(Value),
    /// `key { … }`.
    Section(Section),
}

/// The items of a section (or of the whole text), in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    /// `(key, item)` in the order written; keys are unique.
    pub items: Vec<(String, Item)>,
}

impl Section {
    /// The item under `key`.
    pub fn get(&self, key: &str) -> Option<&Item> {
        self.items.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value under `key`, if it is a value.
    pub fn value(&self, key: &str) -> Option<&Value> {
        match self.get(key) {
            Some(Item::Value(v)) => Some(v),
            _ => None,
        }
    }

    /// The section under `key`, if it is a section.
    pub fn section(&self, key: &str) -> Option<&Section> {
        match self.get(key) {
            Some(Item::Section(s)) => Some(s),
            _ => None,
        }
    }

    /// The nested sections, in order.
    pub fn sections(&self) -> impl Iterator<Item = (&str, &Section)> {
        self.items.iter().filter_map(|(k, v)| match v {
            Item::Section(s) => Some((k.as_str(), s)),
            Item::Value(_) => None,
        })
    }
}

/// Parses metadata text (up to its first NUL).
pub fn parse(text: &[u8]) -> Result<Section> {
    let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
    let mut p = Parser {
        s: &text[..end],
        pos: 0,
        nodes: 0,
    };
    let top = p.items(0)?;
    if p.pos < p.s.len() {
        return Err(p.err("'}' without a section to close"));
    }
    Ok(top)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    nodes: usize,
}

/// Characters of a key or section name: lvm2's name characters.
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'.' | b'-')
}

impl Parser<'_> {
    fn line(&self) -> usize {
        1 + self.s[..self.pos.min(self.s.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
    }

    fn err(&self, what: &str) -> Error {
        Error::Corrupt(format!("metadata text line {}: {what}", self.line()))
    }

    fn count(&mut self) -> Result<()> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(Error::Limit(format!(
                "metadata text line {}: more than {MAX_NODES} values",
                self.line()
            )));
        }
        Ok(())
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    /// Skips blanks and `#` comments.
    fn skip(&mut self) {
        while let Some(b) = self.peek() {
            if b.is_ascii_whitespace() {
                self.pos += 1;
            } else if b == b'#' {
                while let Some(c) = self.peek() {
                    if c == b'\n' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// Items until the end of the text (depth 0) or a `}` (left unconsumed).
    fn items(&mut self, depth: usize) -> Result<Section> {
        let mut sec = Section::default();
        loop {
            self.skip();
            match self.peek() {
                None | Some(b'}') => return Ok(sec),
                Some(_) => {}
            }
            let start = self.pos;
            while self.peek().is_some_and(is_name_byte) {
                self.pos += 1;
            }
            if self.pos == start {
                return Err(self.err(&format!(
                    "expected a name, found {:?}",
                    char::from(self.s[start])
                )));
            }
            // Only ASCII name bytes were taken, so this is valid UTF-8.
            let key = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
            if sec.get(&key).is_some() {
                return Err(self.err(&format!("{key} appears twice in one section")));
            }
            self.count()?;
            self.skip();
            let item = match self.peek() {
                Some(b'=') => {
                    self.pos += 1;
                    Item::Value(self.value(true)?)
                }
                Some(b'{') => {
                    if depth + 1 > MAX_DEPTH {
                        return Err(Error::Limit(format!(
                            "metadata text line {}: sections nested deeper than {MAX_DEPTH}",
                            self.line()
                        )));
                    }
                    self.pos += 1;
                    let inner = self.items(depth + 1)?;
                    if self.peek() != Some(b'}') {
                        return Err(self.err(&format!("section {key} is not closed")));
                    }
                    self.pos += 1;
                    Item::Section(inner)
                }
                _ => return Err(self.err(&format!("expected '=' or '{{' after {key}"))),
            };
            sec.items.push((key, item));
        }
    }

    fn value(&mut self, array_allowed: bool) -> Result<Value> {
        self.skip();
        match self.peek() {
            Some(b'"') => self.string(),
            Some(b'-' | b'0'..=b'9') => self.int(),
            Some(b'[') if array_allowed => self.array(),
            Some(b'[') => Err(self.err("arrays inside arrays are not metadata")),
            Some(b) => Err(self.err(&format!("expected a value, found {:?}", char::from(b)))),
            None => Err(self.err("the text ends where a value was expected")),
        }
    }

    fn int(&mut self) -> Result<Value> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.peek().is_some_and(|b| b == b'.' || is_name_byte(b)) {
            return Err(self.err("a number followed by other characters (floats are not metadata)"));
        }
        let digits = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
        digits
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| self.err(&format!("integer {digits:?} is not a 64-bit integer")))
    }

    fn string(&mut self) -> Result<Value> {
        self.pos += 1; // the opening quote
        let mut out = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(self.err("a string is not closed"));
            };
            self.pos += 1;
            match b {
                b'"' => return Ok(Value::Str(out)),
                b'\\' => {
                    let Some(c) = self.peek() else {
                        return Err(self.err("a string is not closed"));
                    };
                    self.pos += 1;
                    out.push(c);
                }
                _ => out.push(b),
            }
            if out.len() > MAX_STRING {
                return Err(Error::Limit(format!(
                    "metadata text line {}: a string longer than {MAX_STRING} bytes",
                    self.line()
                )));
            }
        }
    }

    fn array(&mut self) -> Result<Value> {
        self.pos += 1; // '['
        let mut out = Vec::new();
        self.skip();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(out));
        }
        loop {
            self.count()?;
            out.push(self.value(false)?);
            self.skip();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(out));
                }
                _ => return Err(self.err("expected ',' or ']' in an array")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_values_arrays_comments_and_the_nul() {
        let t =
            b"# head\nvg {\n id = \"a\\\"b\\\\c\"\n seqno = 4\n status = [\"READ\", \"WRITE\"]\n\
                  flags = []\n pvs { pv0 { pe_start = -2048 } }\n}\ncontents = \"x\" # c\n\0junk{";
        let top = parse(t).unwrap();
        let vg = top.section("vg").unwrap();
        assert_eq!(vg.value("id"), Some(&Value::Str(b"a\"b\\c".to_vec())));
        assert_eq!(vg.value("seqno"), Some(&Value::Int(4)));
        assert_eq!(
            vg.value("status"),
            Some(&Value::Array(vec![
                Value::Str(b"READ".to_vec()),
                Value::Str(b"WRITE".to_vec())
            ]))
        );
        assert_eq!(vg.value("flags"), Some(&Value::Array(vec![])));
        let pv0 = vg.section("pvs").unwrap().section("pv0").unwrap();
        assert_eq!(pv0.value("pe_start"), Some(&Value::Int(-2048)));
        assert_eq!(top.value("contents"), Some(&Value::Str(b"x".to_vec())));
    }

    fn err(t: &[u8]) -> String {
        parse(t).unwrap_err().to_string()
    }

    #[test]
    fn malformed_text_is_refused_with_the_line() {
        assert!(err(b"a {\n b = 1\n").contains("line 3: section a is not closed"));
        assert!(err(b"a = 1\n}").contains("line 2: '}' without"));
        assert!(err(b"a = 1\na = 2").contains("line 2: a appears twice"));
        assert!(err(b"a = 1.5").contains("floats"));
        assert!(err(b"a = 99999999999999999999").contains("not a 64-bit"));
        assert!(err(b"a = \"open").contains("not closed"));
        assert!(err(b"a = [1, [2]]").contains("arrays inside arrays"));
        assert!(err(b"a = [1 2]").contains("expected ','"));
        assert!(err(b"a =").contains("ends where a value"));
        assert!(err(b"a b").contains("expected '=' or '{'"));
        assert!(err(b"= 1").contains("expected a name"));
    }

    #[test]
    fn depth_nodes_and_strings_are_bounded() {
        let deep = "a{".repeat(MAX_DEPTH + 1) + &"}".repeat(MAX_DEPTH + 1);
        assert!(matches!(parse(deep.as_bytes()), Err(Error::Limit(_))));
        let ok = "a{".repeat(MAX_DEPTH) + &"}".repeat(MAX_DEPTH);
        parse(ok.as_bytes()).unwrap();
        let many = format!("a = [{}1]", "1,".repeat(MAX_NODES));
        assert!(matches!(parse(many.as_bytes()), Err(Error::Limit(_))));
        let long = format!("a = \"{}\"", "x".repeat(MAX_STRING + 1));
        assert!(matches!(parse(long.as_bytes()), Err(Error::Limit(_))));
        // Deep nesting past the limit fails before recursing further: no stack overflow.
        let very_deep = "a{".repeat(1 << 20);
        assert!(matches!(parse(very_deep.as_bytes()), Err(Error::Limit(_))));
    }
}
