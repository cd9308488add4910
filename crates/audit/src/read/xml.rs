//! A small, tolerant XML reader for FreeSWITCH configuration, keeping the line of every element and
//! attribute.
//!
//! It reads elements, attributes (quoted with `"` or `'`), comments, CDATA, processing instructions and
//! DOCTYPE; text content is skipped (FreeSWITCH configuration lives in attributes). Mismatched or missing
//! end tags are reported as [`crate::Unread`] and repaired the way browsers do: an end tag closes the
//! nearest open element of that name. `<X-PRE-PROCESS cmd="include" data="…"/>` is followed through the
//! resolver, and the children of the included file's root `<include>` are spliced in place, as
//! FreeSWITCH's preprocessor does.

use crate::model::{FileId, Loc};
use crate::sources::{MAX_INCLUDE_DEPTH, Sources};

/// Deepest element nesting kept as a tree (FreeSWITCH configuration is under 10 deep); deeper start tags
/// are kept flat, so a hostile file cannot build a tree whose drop recurses off the stack.
const MAX_DEPTH: usize = 256;

/// An attribute with the place of its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    /// Attribute name.
    pub name: String,
    /// Value with entities decoded.
    pub value: String,
    /// Where the attribute is written.
    pub loc: Loc,
}

/// An element and its children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Tag name.
    pub name: String,
    /// Attributes in order.
    pub attrs: Vec<Attr>,
    /// Where the start tag begins.
    pub loc: Loc,
    /// Child elements in order.
    pub children: Vec<Element>,
}

impl Default for Loc {
    fn default() -> Self {
        Loc::line(FileId(0), 1)
    }
}

impl Element {
    /// The value of attribute `name` (case-insensitive).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attr_full(name).map(|a| a.value.as_str())
    }

    /// The attribute `name` (case-insensitive) with its location.
    pub fn attr_full(&self, name: &str) -> Option<&Attr> {
        self.attrs
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Child elements named `name`.
    pub fn kids<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children
            .iter()
            .filter(move |c| c.name.eq_ignore_ascii_case(name))
    }

    /// Every element below this one (depth first, document order), this one first.
    pub fn walk(&self) -> Vec<&Element> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            out.push(e);
            stack.extend(e.children.iter().rev());
        }
        out
    }

    /// The `value` of the `<param name="…" value="…"/>` child called `name`, with its element.
    pub fn param(&self, name: &str) -> Option<&Element> {
        self.children.iter().rev().find(|c| {
            c.name.eq_ignore_ascii_case("param")
                && c.attr("name").is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    }
}

/// A parsed XML document: a synthetic root whose children are the top-level elements.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct XmlDoc {
    /// Synthetic root (name empty) holding the top-level elements.
    pub root: Element,
    /// Every file read: the root first, then included ones.
    pub files: Vec<FileId>,
}

/// Reads `root` and the files it includes through `X-PRE-PROCESS cmd="include"`.
pub(crate) fn read(sources: &mut Sources<'_>, root: FileId) -> XmlDoc {
    let mut doc = XmlDoc {
        root: Element {
            loc: Loc::line(root, 1),
            ..Element::default()
        },
        files: Vec::new(),
    };
    let mut stack = Vec::new();
    let children = parse_file(sources, root, &mut doc.files, &mut stack);
    doc.root.children = children;
    doc
}

fn parse_file(
    sources: &mut Sources<'_>,
    id: FileId,
    files: &mut Vec<FileId>,
    stack: &mut Vec<FileId>,
) -> Vec<Element> {
    if !files.contains(&id) {
        files.push(id);
    }
    stack.push(id);
    let text = sources.text(id);
    let mut p = Parser {
        s: &text,
        pos: 0,
        line: 1,
        file: id,
    };
    let mut open: Vec<Element> = vec![Element::default()];
    let mut too_deep = false;
    while let Some(lt) = p.s.get(p.pos..).and_then(|r| r.find('<')) {
        p.advance(lt);
        let rest = p.s.get(p.pos..).unwrap_or("");
        if rest.starts_with("<!--") {
            p.skip_past("-->", sources, "comment `<!--` is not closed");
        } else if rest.starts_with("<![CDATA[") {
            p.skip_past("]]>", sources, "CDATA section is not closed");
        } else if rest.starts_with("<?") {
            p.skip_past("?>", sources, "processing instruction `<?` is not closed");
        } else if rest.starts_with("<!") {
            p.skip_past(">", sources, "declaration `<!` is not closed");
        } else if rest.starts_with("</") {
            let loc = p.loc();
            p.advance(2);
            let name = p.name();
            p.skip_past(">", sources, "end tag is not closed");
            close(&mut open, &name, loc, sources);
        } else {
            let loc = p.loc();
            p.advance(1);
            let name = p.name();
            if name.is_empty() {
                sources.unread(loc, "`<` not followed by a tag name");
                continue;
            }
            let (attrs, self_closing) = p.attrs(sources);
            let el = Element {
                name,
                attrs,
                loc,
                children: Vec::new(),
            };
            if el.name.eq_ignore_ascii_case("X-PRE-PROCESS")
                && el
                    .attr("cmd")
                    .is_some_and(|c| c.eq_ignore_ascii_case("include"))
            {
                let target = el.attr("data").unwrap_or("").to_owned();
                let spliced = include(sources, loc, &target, files, stack);
                if self_closing {
                    if let Some(parent) = open.last_mut() {
                        parent.children.push(el);
                        parent.children.extend(spliced);
                    }
                } else {
                    if let Some(parent) = open.last_mut() {
                        parent.children.extend(spliced);
                    }
                    open.push(el);
                }
                continue;
            }
            if self_closing || open.len() > MAX_DEPTH {
                if !self_closing && !too_deep {
                    too_deep = true;
                    sources.unread(
                        loc,
                        format!(
                            "elements nested deeper than {MAX_DEPTH}; deeper ones are read flat"
                        ),
                    );
                }
                if let Some(parent) = open.last_mut() {
                    parent.children.push(el);
                }
            } else {
                open.push(el);
            }
        }
    }
    while open.len() > 1 {
        if let Some(el) = open.pop() {
            if !el.name.eq_ignore_ascii_case("X-PRE-PROCESS") {
                sources.unread(el.loc, format!("element <{}> is not closed", el.name));
            }
            if let Some(parent) = open.last_mut() {
                parent.children.push(el);
            }
        }
    }
    stack.pop();
    open.pop().map(|r| r.children).unwrap_or_default()
}

fn close(open: &mut Vec<Element>, name: &str, loc: Loc, sources: &mut Sources<'_>) {
    let Some(pos) = open.iter().rposition(|e| e.name.eq_ignore_ascii_case(name)) else {
        sources.unread(loc, format!("end tag </{name}> has no matching start tag"));
        return;
    };
    if pos == 0 {
        sources.unread(loc, format!("end tag </{name}> has no matching start tag"));
        return;
    }
    while open.len() > pos {
        let Some(el) = open.pop() else { break };
        if open.len() > pos && !el.name.eq_ignore_ascii_case("X-PRE-PROCESS") {
            sources.unread(
                el.loc,
                format!("element <{}> is not closed before </{name}>", el.name),
            );
        }
        if let Some(parent) = open.last_mut() {
            parent.children.push(el);
        }
    }
}

fn include(
    sources: &mut Sources<'_>,
    at: Loc,
    target: &str,
    files: &mut Vec<FileId>,
    stack: &mut Vec<FileId>,
) -> Vec<Element> {
    if target.trim().is_empty() {
        sources.unread(at, "X-PRE-PROCESS include without data");
        return Vec::new();
    }
    if stack.len() >= MAX_INCLUDE_DEPTH {
        sources.unread(
            at,
            format!("includes nested deeper than {MAX_INCLUDE_DEPTH}; `{target}` not followed"),
        );
        return Vec::new();
    }
    // A glob that matches nothing is normal in FreeSWITCH (empty directories); a plain name is not.
    let required = !target.contains('*');
    let mut out = Vec::new();
    for id in sources.include(at, target.trim(), required) {
        if stack.contains(&id) {
            sources.unread(
                at,
                format!("`{target}` includes itself; not followed again"),
            );
            continue;
        }
        for el in parse_file(sources, id, files, stack) {
            if el.name.eq_ignore_ascii_case("include") {
                out.extend(el.children);
            } else {
                out.push(el);
            }
        }
    }
    out
}

struct Parser<'t> {
    s: &'t str,
    pos: usize,
    line: u32,
    file: FileId,
}

impl Parser<'_> {
    fn loc(&self) -> Loc {
        Loc::line(self.file, self.line)
    }

    fn advance(&mut self, n: usize) {
        let end = (self.pos + n).min(self.s.len());
        let skipped = self.s.as_bytes().get(self.pos..end).unwrap_or(&[]);
        let nl = skipped.iter().filter(|&&b| b == b'\n').count();
        self.line = self
            .line
            .saturating_add(u32::try_from(nl).unwrap_or(u32::MAX));
        self.pos = end;
    }

    fn skip_past(&mut self, end: &str, sources: &mut Sources<'_>, unclosed: &str) {
        match self.s.get(self.pos..).and_then(|r| r.find(end)) {
            Some(i) => self.advance(i + end.len()),
            None => {
                sources.unread(self.loc(), unclosed);
                self.advance(self.s.len());
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.advance(1);
        }
    }

    fn name(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|b| {
            !b.is_ascii_whitespace() && !matches!(b, b'>' | b'/' | b'=' | b'<' | b'"' | b'\'')
        }) {
            self.advance(1);
        }
        self.s.get(start..self.pos).unwrap_or("").to_owned()
    }

    /// Reads attributes up to and including `>` or `/>`; returns them and whether the tag self-closes.
    fn attrs(&mut self, sources: &mut Sources<'_>) -> (Vec<Attr>, bool) {
        let mut attrs = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                None => {
                    sources.unread(self.loc(), "start tag is not closed");
                    return (attrs, true);
                }
                Some(b'>') => {
                    self.advance(1);
                    return (attrs, false);
                }
                Some(b'/') => {
                    self.advance(1);
                    if self.peek() == Some(b'>') {
                        self.advance(1);
                        return (attrs, true);
                    }
                }
                Some(b'<') => {
                    sources.unread(self.loc(), "start tag is not closed before the next `<`");
                    return (attrs, true);
                }
                Some(_) => {
                    let loc = self.loc();
                    let name = self.name();
                    if name.is_empty() {
                        self.advance(1);
                        continue;
                    }
                    self.skip_ws();
                    if self.peek() != Some(b'=') {
                        sources.unread(loc, format!("attribute `{name}` has no value"));
                        continue;
                    }
                    self.advance(1);
                    self.skip_ws();
                    let value = match self.peek() {
                        Some(q @ (b'"' | b'\'')) => {
                            self.advance(1);
                            let start = self.pos;
                            let quote = char::from(q);
                            match self.s.get(self.pos..).and_then(|r| r.find(quote)) {
                                Some(i) => {
                                    self.advance(i);
                                    let v = self.s.get(start..self.pos).unwrap_or("");
                                    self.advance(1);
                                    decode(v)
                                }
                                None => {
                                    sources.unread(loc, format!("value of `{name}` is not closed"));
                                    self.advance(self.s.len());
                                    return (attrs, true);
                                }
                            }
                        }
                        _ => {
                            sources.unread(loc, format!("value of `{name}` is not quoted"));
                            decode(&self.name())
                        }
                    };
                    attrs.push(Attr { name, value, loc });
                }
            }
        }
    }
}

/// Decodes the five predefined entities and numeric character references.
fn decode(v: &str) -> String {
    if !v.contains('&') {
        return v.to_owned();
    }
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(i) = rest.find('&') {
        out.push_str(rest.get(..i).unwrap_or(""));
        let tail = rest.get(i..).unwrap_or("");
        let Some(semi) = tail.find(';').filter(|&s| s <= 10) else {
            out.push('&');
            rest = tail.get(1..).unwrap_or("");
            continue;
        };
        let ent = tail.get(1..semi).unwrap_or("");
        let ch = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => ent
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = tail.get(semi + 1..).unwrap_or("");
            }
            None => {
                out.push('&');
                rest = tail.get(1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceFile;
    use crate::sources::NoIncludes;

    fn parse(text: &str) -> (XmlDoc, Vec<crate::Unread>) {
        let mut r = NoIncludes;
        let mut s = Sources::new(&mut r);
        let id = s.add(SourceFile::new("t.xml", text));
        let d = read(&mut s, id);
        let (_, _, unread) = s.into_parts();
        (d, unread)
    }

    #[test]
    fn elements_and_attributes_keep_lines() {
        let (d, u) = parse(
            "<?xml version=\"1.0\"?>\n<!-- a\n comment -->\n<configuration name=\"event_socket.conf\">\n  <settings>\n    <param name=\"password\"\n           value=\"Clue&amp;Con\"/>\n  </settings>\n</configuration>\n",
        );
        assert!(u.is_empty(), "{u:?}");
        let cfg = &d.root.children[0];
        assert_eq!((cfg.name.as_str(), cfg.loc.line), ("configuration", 4));
        let p = cfg.children[0].param("password").unwrap();
        assert_eq!(p.loc.line, 6);
        assert_eq!(
            p.attr_full("value").map(|a| (a.value.as_str(), a.loc.line)),
            Some(("Clue&Con", 7))
        );
    }

    #[test]
    fn broken_markup_is_reported_and_repaired() {
        let (d, u) = parse("<a>\n<b x=1>\n<c/>\n</a>\n</zz>\n<d");
        let a = &d.root.children[0];
        assert_eq!(a.children[0].name, "b");
        assert_eq!(a.children[0].children[0].name, "c");
        let lines: Vec<u32> = u.iter().map(|x| x.loc.line).collect();
        assert_eq!(lines, vec![2, 2, 5, 6], "{u:?}");
    }

    #[test]
    fn pre_process_include_splices_children() {
        let mut r = |_: &str, t: &str| {
            if t == "directory/default/*.xml" {
                vec![SourceFile::new(
                    "directory/default/1000.xml",
                    "<include>\n  <user id=\"1000\"/>\n</include>\n",
                )]
            } else {
                Vec::new()
            }
        };
        let mut s = Sources::new(&mut r);
        let id = s.add(SourceFile::new(
            "directory/default.xml",
            "<domain name=\"d\">\n<X-PRE-PROCESS cmd=\"include\" data=\"directory/default/*.xml\"/>\n</domain>\n",
        ));
        let d = read(&mut s, id);
        let dom = &d.root.children[0];
        let user = dom.kids("user").next().unwrap();
        assert_eq!((user.loc.file.index(), user.loc.line), (1, 2));
        assert_eq!(d.files.len(), 2);
    }
}
