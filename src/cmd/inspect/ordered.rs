//! A JSON tree that keeps its keys in the order they were written (`serde_json::Value`
//! sorts them, this build having no `preserve_order`): so that `inspect --json` can add
//! fields to the layout's report and print every other field where it always was.

use std::fmt;

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A JSON value; objects keep their key order.
#[derive(Debug, Clone)]
pub(super) enum Node {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl Node {
    /// `v` as a tree, in its serialized order.
    pub(super) fn of(v: &impl Serialize) -> serde_json::Result<Self> {
        serde_json::from_str(&serde_json::to_string(v)?)
    }

    /// The value of `key` in an object.
    pub(super) fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match self {
            Node::Object(o) => o.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Sets `key` of an object (added at its end when new); nothing on other values.
    pub(super) fn set(&mut self, key: &str, v: Node) {
        if let Node::Object(o) = self {
            match o.iter_mut().find(|(k, _)| k == key) {
                Some((_, old)) => *old = v,
                None => o.push((key.to_string(), v)),
            }
        }
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => s.serialize_unit(),
            Node::Bool(b) => s.serialize_bool(*b),
            Node::Number(n) => n.serialize(s),
            Node::String(t) => s.serialize_str(t),
            Node::Array(a) => s.collect_seq(a),
            Node::Object(o) => s.collect_map(o.iter().map(|(k, v)| (k, v))),
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Node, E> {
        Ok(Node::Bool(b))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Node, E> {
        Ok(Node::Number(n.into()))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Node, E> {
        Ok(Node::Number(n.into()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Node, E> {
        Ok(serde_json::Number::from_f64(n).map_or(Node::Null, Node::Number))
    }
    fn visit_str<E>(self, s: &str) -> Result<Node, E> {
        Ok(Node::String(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Node, E> {
        Ok(Node::String(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = a.next_element()? {
            v.push(x);
        }
        Ok(Node::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Node, A::Error> {
        let mut v = Vec::new();
        while let Some((k, x)) = m.next_entry::<String, Node>()? {
            v.push((k, x));
        }
        Ok(Node::Object(v))
    }
}

#[cfg(test)]
mod tests {
    use super::Node;

    #[test]
    fn keys_keep_their_order() {
        let text = r#"{"z":1,"a":[true,null,{"y":"s","b":-2.5}],"m":{}}"#;
        let mut n: Node = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), text);
        n.set("b", Node::Null);
        n.set("z", Node::Bool(false));
        assert_eq!(
            serde_json::to_string(&n).unwrap(),
            r#"{"z":false,"a":[true,null,{"y":"s","b":-2.5}],"m":{},"b":null}"#
        );
    }
}
