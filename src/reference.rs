//! References between resources: `${node.db[0].private_address}` (one value),
//! `${node.web[*].address}` (a list) and `${node.web.count}` inside strings, parsed into
//! templates and rendered once the values are known. Compile also writes `${lb.web.address}`
//! (a load balancer's attribute: what a DNS alias record points at); a strategy's own strings
//! may refer only to nodes (`compile/references` says so, located).
//!
//! Only `${node.` and `${lb.` start a reference (`${var.` was substituted when the strategy
//! was read); any other `${...}`, such as a shell's `${HOME}`, is text, and `$${` is a literal
//! `${`.
//! Pure: values come from a lookup the caller gives (the plan's, or the apply's).

use std::fmt;

use serde_json::Value;

use crate::resource::Address;

/// The attributes every resource exposes to references.
pub const ATTRIBUTES: &[&str] = &[
    "id",
    "name",
    "address",
    "private_address",
    "port",
    "provider",
    "location",
    "region",
    "size",
    "hourly_price",
];

/// Which nodes of a group a reference reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// `node.web[2].ATTR`
    One(usize),
    /// `node.web[*].ATTR`: a list.
    All,
    /// `node.web.count`: how many nodes the group has.
    Count,
    /// `lb.web.ATTR`: the load balancer named `group`.
    Balancer,
}

/// One `${...}` reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub group: String,
    pub selector: Selector,
    /// Empty for `count`.
    pub attribute: String,
}

impl Reference {
    /// The addresses it reads, given the group's node count.
    pub fn addresses(&self, nodes: usize) -> Vec<Address> {
        match self.selector {
            Selector::One(i) => vec![Address::node(&self.group, i)],
            Selector::All => (0..nodes).map(|i| Address::node(&self.group, i)).collect(),
            Selector::Count => Vec::new(),
            Selector::Balancer => vec![Address::balancer(&self.group)],
        }
    }

    /// Whether it stands for a list, not one value.
    pub fn is_list(&self) -> bool {
        self.selector == Selector::All
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.selector {
            Selector::One(i) => write!(f, "node.{}[{i}].{}", self.group, self.attribute),
            Selector::All => write!(f, "node.{}[*].{}", self.group, self.attribute),
            Selector::Count => write!(f, "node.{}.count", self.group),
            Selector::Balancer => write!(f, "lb.{}.{}", self.group, self.attribute),
        }
    }
}

/// A piece of a template.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    Text(String),
    Ref(Reference),
}

/// A string with references, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    pub parts: Vec<Part>,
}

/// A value as far as it is known.
#[derive(Clone, Debug, PartialEq)]
pub enum Known {
    Value(Value),
    /// Known only after apply.
    Unknown,
}

impl Template {
    /// Parses `text`; a malformed `${node....}` is an error saying what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            if rest[..start].ends_with('$') {
                // `$${` is a literal `${`.
                literal.push_str(&rest[..start - 1]);
                literal.push_str("${");
                rest = &rest[start + 2..];
                continue;
            }
            literal.push_str(&rest[..start]);
            let inner = &rest[start + 2..];
            if !(inner.starts_with("node.") || inner.starts_with("lb.")) {
                literal.push_str("${");
                rest = inner;
                continue;
            }
            let end = inner
                .find('}')
                .ok_or_else(|| format!("\"${{{}\" is not closed with \"}}\"", cut(inner)))?;
            let reference = parse_reference(&inner[..end])?;
            if !literal.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut literal)));
            }
            parts.push(Part::Ref(reference));
            rest = &inner[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() || parts.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    pub fn references(&self) -> impl Iterator<Item = &Reference> {
        self.parts.iter().filter_map(|p| match p {
            Part::Ref(r) => Some(r),
            Part::Text(_) => None,
        })
    }

    pub fn has_references(&self) -> bool {
        self.references().next().is_some()
    }

    /// The one reference the whole template is (`"${node.web[*].address}"`), if it is one.
    pub fn only_reference(&self) -> Option<&Reference> {
        match self.parts.as_slice() {
            [Part::Ref(r)] => Some(r),
            _ => None,
        }
    }

    /// The value: a template that is one reference is that value (a list stays a list);
    /// otherwise the parts' text joined. Unknown when any part is.
    pub fn render(&self, lookup: &dyn Fn(&Reference) -> Known) -> Known {
        if let Some(reference) = self.only_reference() {
            return lookup(reference);
        }
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Ref(reference) => match lookup(reference) {
                    Known::Value(value) => out.push_str(&text_of(&value)),
                    Known::Unknown => return Known::Unknown,
                },
            }
        }
        Known::Value(Value::String(out))
    }
}

/// Renders a resource's templates with `lookup`: every attribute whose parts are all known
/// gets its value and leaves `templates`; the others are set to `null`, listed in `unknown`,
/// and keep their template with the known parts filled in (for the apply to finish). Returns
/// the references whose values are not known yet.
pub fn render_templates(
    desired: &mut crate::resource::Desired,
    lookup: &dyn Fn(&Reference) -> Known,
) -> Vec<Reference> {
    let mut missing: Vec<Reference> = Vec::new();
    let templates = std::mem::take(&mut desired.templates);
    let mut remaining = crate::resource::Attributes::new();
    desired.unknown.clear();
    for (attribute, written) in templates.iter() {
        let attribute = attribute.clone();
        let mut unknown = false;
        let mut one = |text: &str| -> (Option<Value>, String) {
            let Ok(template) = Template::parse(text) else {
                return (Some(Value::from(text)), text.to_string());
            };
            // Attributes with references are strings (a command, env and tag values): a value
            // read is put in as text, whatever its type.
            let mut text = String::new();
            let mut partial = String::new();
            let mut known = true;
            for part in &template.parts {
                match part {
                    Part::Text(t) => {
                        text.push_str(t);
                        partial.push_str(&t.replace("${", "$${"));
                    }
                    Part::Ref(r) => match lookup(r) {
                        Known::Value(v) => {
                            text.push_str(&text_of(&v));
                            partial.push_str(&text_of(&v).replace("${", "$${"));
                        }
                        Known::Unknown => {
                            known = false;
                            if !missing.contains(r) {
                                missing.push(r.clone());
                            }
                            partial.push_str(&format!("${{{r}}}"));
                        }
                    },
                }
            }
            if !known {
                unknown = true;
                return (None, partial);
            }
            (Some(Value::String(text)), partial)
        };
        let (value, partial) = match written {
            Value::String(text) => {
                let (value, partial) = one(text);
                (value.unwrap_or(Value::Null), Value::String(partial))
            }
            Value::Object(map) => {
                let mut values = serde_json::Map::new();
                let mut partials = serde_json::Map::new();
                for (key, item) in map {
                    let text = item.as_str().unwrap_or_default();
                    let (value, partial) = one(text);
                    values.insert(key.clone(), value.unwrap_or(Value::Null));
                    partials.insert(key.clone(), Value::String(partial));
                }
                (Value::Object(values), Value::Object(partials))
            }
            other => (other.clone(), other.clone()),
        };
        if unknown {
            desired.attributes.insert(attribute.clone(), Value::Null);
            desired.unknown.insert(attribute.clone());
            remaining.insert(attribute, partial);
        } else {
            desired.attributes.insert(attribute, value);
        }
    }
    desired.templates = std::sync::Arc::new(remaining);
    missing
}

/// A value as text inside a string: strings bare, null empty, the rest as JSON.
pub fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn cut(text: &str) -> String {
    let end = text.floor_char_boundary(40.min(text.len()));
    text[..end].to_string()
}

/// `node.GROUP[INDEX].ATTR`, `node.GROUP[*].ATTR`, `node.GROUP.count` or `lb.NAME.ATTR`.
fn parse_reference(inner: &str) -> Result<Reference, String> {
    if let Some(rest) = inner.strip_prefix("lb.") {
        return match rest.split_once('.') {
            Some((name, attribute)) if is_name(name) && is_name(attribute) => Ok(Reference {
                group: name.to_string(),
                selector: Selector::Balancer,
                attribute: attribute.to_string(),
            }),
            _ => Err(format!(
                "\"${{{}}}\" is not a reference: write lb.NAME.ATTRIBUTE",
                cut(inner)
            )),
        };
    }
    let bad = |why: &str| {
        format!(
            "\"${{{}}}\" is not a reference: {why}; write node.GROUP[INDEX].ATTRIBUTE, node.GROUP[*].ATTRIBUTE or node.GROUP.count",
            cut(inner)
        )
    };
    let rest = inner
        .strip_prefix("node.")
        .ok_or_else(|| bad("it must start with node."))?;
    let group_end = rest
        .find(['[', '.'])
        .ok_or_else(|| bad("an index or .count must follow the group"))?;
    let group = &rest[..group_end];
    if !is_name(group) {
        return Err(bad("the group name is not valid"));
    }
    let after = &rest[group_end..];
    if after == ".count" {
        return Ok(Reference {
            group: group.to_string(),
            selector: Selector::Count,
            attribute: String::new(),
        });
    }
    let after = after
        .strip_prefix('[')
        .ok_or_else(|| bad("only .count may follow the group without an index"))?;
    let close = after
        .find(']')
        .ok_or_else(|| bad("the index is not closed"))?;
    let selector = match &after[..close] {
        "*" => Selector::All,
        digits => Selector::One(
            digits
                .parse()
                .map_err(|_| bad("the index must be a number or *"))?,
        ),
    };
    let attribute = after[close + 1..]
        .strip_prefix('.')
        .ok_or_else(|| bad("an attribute must follow the index, e.g. .address"))?;
    Ok(Reference {
        group: group.to_string(),
        selector,
        attribute: attribute.to_string(),
    })
}

/// A group, balancer or attribute name: a letter, then letters, digits, `_` and `-`.
fn is_name(text: &str) -> bool {
    text.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_parse_references_and_leave_other_text_alone() {
        let t =
            Template::parse("db=${node.db[0].private_address}:5432 ${HOME} $${node.x}").unwrap();
        assert_eq!(
            t.parts,
            [
                Part::Text("db=".into()),
                Part::Ref(Reference {
                    group: "db".into(),
                    selector: Selector::One(0),
                    attribute: "private_address".into()
                }),
                Part::Text(":5432 ${HOME} ${node.x}".into()),
            ]
        );
        let all = Template::parse("${node.web[*].address}").unwrap();
        assert!(all.only_reference().is_some_and(Reference::is_list));
        let count = Template::parse("${node.web.count}").unwrap();
        assert_eq!(count.only_reference().unwrap().selector, Selector::Count);
        assert!(!Template::parse("plain").unwrap().has_references());
        let lb = Template::parse("${lb.web.zone_id}").unwrap();
        let lb = lb.only_reference().unwrap();
        assert_eq!(
            (
                lb.selector.clone(),
                lb.group.as_str(),
                lb.attribute.as_str()
            ),
            (Selector::Balancer, "web", "zone_id")
        );
        assert_eq!(lb.addresses(0), [Address::balancer("web")]);
        assert_eq!(lb.to_string(), "lb.web.zone_id");
    }

    #[test]
    fn malformed_references_say_what_is_wrong() {
        for (text, why) in [
            ("${node.db[0]", "not closed"),
            ("${node.db[x].id}", "index must be a number"),
            ("${node.db[0]}", "an attribute must follow"),
            ("${node.db}", "an index or .count"),
            ("${node.db.size}", "only .count"),
            ("${lb.web}", "lb.NAME.ATTRIBUTE"),
        ] {
            let e = Template::parse(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn rendering_joins_text_and_keeps_lists_and_unknowns() {
        let lookup = |r: &Reference| match (&r.selector, r.attribute.as_str()) {
            (Selector::One(0), "port") => Known::Value(json!(5432)),
            (Selector::All, _) => Known::Value(json!(["a", "b"])),
            _ => Known::Unknown,
        };
        let t = Template::parse("p=${node.db[0].port}").unwrap();
        assert_eq!(t.render(&lookup), Known::Value(json!("p=5432")));
        let t = Template::parse("${node.web[*].address}").unwrap();
        assert_eq!(t.render(&lookup), Known::Value(json!(["a", "b"])));
        let t = Template::parse("x ${node.db[1].address}").unwrap();
        assert_eq!(t.render(&lookup), Known::Unknown);
    }
}
