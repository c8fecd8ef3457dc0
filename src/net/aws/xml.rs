//! AWS's XML answers (EC2's Query API, S3's REST API) as a small element tree, read with
//! quick-xml.
//!
//! The answers are small documents of nested elements with text leaves and `<item>` lists
//! (`<reservationSet><item>…</item></reservationSet>`); they carry no attributes worth
//! reading. A tree with lookups by local name (namespaces dropped) is all the callers need,
//! and it tolerates the fields moto and AWS add or leave out. Nothing here knows an action.

use quick_xml::Reader;
use quick_xml::events::Event;

/// One element: its local name, its text (entity references resolved) and its children.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// Parses a whole document and returns its root element.
    pub fn parse(document: &str) -> Result<Element, String> {
        let mut reader = Reader::from_str(document);
        // The root's parent: collects the top-level element.
        let mut stack = vec![Element::default()];
        loop {
            let event = reader
                .read_event()
                .map_err(|e| format!("malformed XML at byte {}: {e}", reader.error_position()))?;
            match event {
                Event::Start(start) => stack.push(Element {
                    name: start.local_name().as_ref().to_string(),
                    ..Element::default()
                }),
                Event::Empty(start) => {
                    let element = Element {
                        name: start.local_name().as_ref().to_string(),
                        ..Element::default()
                    };
                    if let Some(parent) = stack.last_mut() {
                        parent.children.push(element);
                    }
                }
                Event::End(_) => {
                    let done = stack.pop().filter(|_| !stack.is_empty());
                    match (done, stack.last_mut()) {
                        (Some(done), Some(parent)) => parent.children.push(done),
                        _ => return Err("malformed XML: an end tag closes nothing".into()),
                    }
                }
                Event::Text(text) => {
                    if let Some(open) = stack.last_mut() {
                        open.text.push_str(&text.xml10_content());
                    }
                }
                Event::CData(data) => {
                    if let Some(open) = stack.last_mut() {
                        open.text.push_str(&data.xml10_content());
                    }
                }
                Event::GeneralRef(reference) => {
                    let resolved = match reference.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        Ok(None) => match reference.xml10_content().as_ref() {
                            "amp" => "&".into(),
                            "lt" => "<".into(),
                            "gt" => ">".into(),
                            "quot" => "\"".into(),
                            "apos" => "'".into(),
                            other => format!("&{other};"),
                        },
                        Err(e) => return Err(format!("malformed XML character reference: {e}")),
                    };
                    if let Some(open) = stack.last_mut() {
                        open.text.push_str(&resolved);
                    }
                }
                Event::Eof => break,
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
        match (stack.len(), stack.pop()) {
            (1, Some(mut top)) if top.children.len() == 1 => Ok(top.children.remove(0)),
            (1, _) => Err("the answer is not one XML document".into()),
            _ => Err("malformed XML: the document ends inside an element".into()),
        }
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The element at a path of child names (`["instanceState", "name"]`).
    pub fn at(&self, path: &[&str]) -> Option<&Element> {
        path.iter()
            .try_fold(self, |element, name| element.child(name))
    }

    /// The trimmed text of the element at `path`, if it exists and is not empty.
    pub fn text_at(&self, path: &[&str]) -> Option<&str> {
        self.at(path)
            .map(|e| e.text.trim())
            .filter(|t| !t.is_empty())
    }

    /// The `<item>` children of the list element `name` (`reservationSet`, `tagSet`...).
    pub fn items<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Element> + 'a {
        self.child(name)
            .into_iter()
            .flat_map(|list| list.children.iter().filter(|c| c.name == "item"))
    }

    /// Every element named `name` anywhere below this one, depth first.
    pub fn descendants<'a>(&'a self, name: &'a str) -> Vec<&'a Element> {
        let mut found = Vec::new();
        let mut stack: Vec<&Element> = self.children.iter().rev().collect();
        while let Some(element) = stack.pop() {
            if element.name == name {
                found.push(element);
            }
            stack.extend(element.children.iter().rev());
        }
        found
    }

    /// The first non-empty `Code` and `Message` anywhere in an error document (EC2's
    /// `<Response><Errors><Error>`, S3's `<Error>`).
    pub fn error_fields(&self) -> (Option<String>, Option<String>) {
        let first = |name: &str| {
            self.descendants(name)
                .into_iter()
                .map(|e| e.text.trim())
                .find(|t| !t.is_empty())
                .map(String::from)
        };
        (first("Code"), first("Message"))
    }

    /// The `tagSet` of an EC2 object as (key, value) pairs.
    pub fn tags(&self) -> Vec<(String, String)> {
        self.items("tagSet")
            .filter_map(|item| {
                let key = item.text_at(&["key"])?;
                let value = item.at(&["value"]).map_or("", |v| v.text.trim());
                Some((key.to_string(), value.to_string()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTANCES: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>8f7724cf-496f-496e-8fe3-example</requestId>
  <reservationSet>
    <item>
      <reservationId>r-1234567890abcdef0</reservationId>
      <instancesSet>
        <item>
          <instanceId>i-1234567890abcdef0</instanceId>
          <instanceState><code>16</code><name>running</name></instanceState>
          <placement><availabilityZone>ap-southeast-2a</availabilityZone></placement>
          <tagSet>
            <item><key>oss:address</key><value>node.web[0]</value></item>
            <item><key>team</key><value>a &amp; b &#x263A;</value></item>
            <item><key>empty</key><value/></item>
          </tagSet>
          <groupSet/>
        </item>
      </instancesSet>
    </item>
  </reservationSet>
  <nextToken><![CDATA[token/with<odd>chars]]></nextToken>
</DescribeInstancesResponse>"#;

    #[test]
    fn reads_nested_items_text_and_tags() {
        let root = Element::parse(INSTANCES).unwrap();
        assert_eq!(root.name, "DescribeInstancesResponse");
        let instances: Vec<&Element> = root
            .items("reservationSet")
            .flat_map(|r| r.items("instancesSet"))
            .collect();
        assert_eq!(instances.len(), 1);
        let instance = instances[0];
        assert_eq!(
            instance.text_at(&["instanceId"]),
            Some("i-1234567890abcdef0")
        );
        assert_eq!(
            instance.text_at(&["instanceState", "name"]),
            Some("running")
        );
        assert_eq!(
            instance.tags(),
            vec![
                ("oss:address".to_string(), "node.web[0]".to_string()),
                ("team".to_string(), "a & b ☺".to_string()),
                ("empty".to_string(), String::new()),
            ]
        );
        assert_eq!(instance.items("groupSet").count(), 0);
        assert_eq!(root.text_at(&["nextToken"]), Some("token/with<odd>chars"));
        assert_eq!(root.descendants("instanceId").len(), 1);
    }

    #[test]
    fn reads_the_error_document() {
        let text = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to validate the provided access credentials</Message></Error></Errors><RequestID>abc</RequestID></Response>"#;
        let root = Element::parse(text).unwrap();
        assert_eq!(
            root.text_at(&["Errors", "Error", "Code"]),
            Some("AuthFailure")
        );
        let (code, message) = root.error_fields();
        assert_eq!(code.as_deref(), Some("AuthFailure"));
        assert!(message.unwrap().starts_with("AWS was not able"));
        let s3 =
            Element::parse("<Error><Code>NoSuchKey</Code><Message></Message></Error>").unwrap();
        assert_eq!(s3.error_fields(), (Some("NoSuchKey".into()), None));
    }

    #[test]
    fn refuses_what_is_not_one_document() {
        assert!(Element::parse("<a><b></a>").is_err());
        assert!(Element::parse("<a>").is_err());
        assert!(Element::parse("").is_err());
        assert!(Element::parse("<html>not closed").is_err());
    }
}
