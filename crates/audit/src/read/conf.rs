//! Reader for Asterisk's configuration format (`sip.conf`, `pjsip.conf`, `iax.conf`, `extensions.conf`,
//! `voicemail.conf`, `manager.conf`, …).
//!
//! The format, as Asterisk's `config.c` reads it: `[section]` headers, optionally `[name](!)` (a
//! template), `[name](tmpl1,tmpl2)` (inherit from templates), `[name](!,tmpl)` and `[name](+)` (append to
//! an earlier section); `key = value` and `key => value` (an "object" line, as in `exten =>`); `;`
//! comments (`\;` is a literal semicolon); `;-- … --;` block comments, which nest and span lines;
//! `#include` / `#tryinclude` of further files, whose lines continue the current section.
//!
//! The reader is tolerant: a line it cannot make sense of is reported as [`crate::Unread`] and skipped.

use std::collections::HashMap;

use crate::model::{FileId, Loc};
use crate::sources::{MAX_INCLUDE_DEPTH, Sources};

/// One `key = value` or `key => value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Key, lower-cased and trimmed.
    pub key: String,
    /// Value, trimmed, comments removed, `\;` unescaped.
    pub value: String,
    /// Whether written with `=>`.
    pub object: bool,
    /// Where the line is.
    pub loc: Loc,
}

/// One `[section]` with its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Name between the brackets (case kept).
    pub name: String,
    /// Where the header is.
    pub loc: Loc,
    /// `(!)`: a template, not a real object.
    pub template: bool,
    /// Templates this section inherits from, in order.
    pub inherits: Vec<String>,
    /// The section's own lines, in order.
    pub entries: Vec<Entry>,
}

impl Section {
    /// The last value of `key` among the section's own lines.
    pub fn own(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }
}

/// A parsed configuration file with its includes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conf {
    /// Sections in file order (included files in place).
    pub sections: Vec<Section>,
    /// Every file read for this configuration: the root first, then included ones.
    pub files: Vec<FileId>,
    /// Lower-cased name → index of the first section with that name (template lookup).
    first: HashMap<String, usize>,
}

impl Conf {
    /// Sections named `name` (case-insensitive), non-templates and templates alike.
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Section> + 'a {
        self.sections
            .iter()
            .filter(move |s| s.name.eq_ignore_ascii_case(name))
    }

    /// The first template or section called `name` (what `[x](name)` inherits from).
    fn template(&self, name: &str) -> Option<&Section> {
        self.first
            .get(&name.to_ascii_lowercase())
            .and_then(|i| self.sections.get(*i))
    }

    /// The section's lines including those inherited from its templates (template lines first, so a
    /// section's own value, which comes later, wins with [`last`]).
    pub fn effective<'a>(&'a self, section: &'a Section) -> Vec<&'a Entry> {
        let mut out = Vec::new();
        self.collect(section, &mut out, 0);
        out
    }

    fn collect<'a>(&'a self, section: &'a Section, out: &mut Vec<&'a Entry>, depth: usize) {
        if depth < 8 {
            for parent in &section.inherits {
                if let Some(t) = self.template(parent)
                    && !std::ptr::eq(t, section)
                {
                    self.collect(t, out, depth + 1);
                }
            }
        }
        out.extend(section.entries.iter());
    }
}

/// The last entry with `key` in a list of effective entries.
pub fn last<'a>(entries: &[&'a Entry], key: &str) -> Option<&'a Entry> {
    entries.iter().rev().find(|e| e.key == key).copied()
}

/// Whether a list of effective entries has `key`.
pub fn has(entries: &[&Entry], key: &str) -> bool {
    entries.iter().any(|e| e.key == key)
}

/// Asterisk's truth values (`ast_true`).
pub fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "yes" | "true" | "y" | "t" | "1" | "on"
    )
}

/// Reads `root` and everything it includes.
pub(crate) fn read(sources: &mut Sources<'_>, root: FileId) -> Conf {
    let mut conf = Conf::default();
    let mut reader = Reader {
        current: None,
        stack: Vec::new(),
    };
    reader.file(sources, root, &mut conf);
    if let Some(s) = reader.current.take() {
        conf.sections.push(s);
    }
    for (i, s) in conf.sections.iter().enumerate() {
        conf.first.entry(s.name.to_ascii_lowercase()).or_insert(i);
    }
    conf
}

struct Reader {
    current: Option<Section>,
    stack: Vec<FileId>,
}

impl Reader {
    fn file(&mut self, sources: &mut Sources<'_>, id: FileId, conf: &mut Conf) {
        if !conf.files.contains(&id) {
            conf.files.push(id);
        }
        self.stack.push(id);
        let text = sources.text(id);
        let mut depth = 0usize; // nesting of ;-- --; block comments
        for (n, raw) in text.lines().enumerate() {
            let loc = Loc::line(id, u32::try_from(n + 1).unwrap_or(u32::MAX));
            let line = strip_comments(raw, &mut depth);
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix('#') {
                self.directive(sources, loc, rest, conf);
            } else if line.starts_with('[') {
                self.header(sources, loc, line, conf);
            } else if let Some(eq) = line.find('=') {
                let key = line.get(..eq).unwrap_or("").trim().to_ascii_lowercase();
                let mut value = line.get(eq + 1..).unwrap_or("");
                let object = value.starts_with('>');
                if object {
                    value = value.get(1..).unwrap_or("");
                }
                if key.is_empty() {
                    sources.unread(loc, "line has `=` but no key");
                    continue;
                }
                let entry = Entry {
                    key,
                    value: value.trim().to_owned(),
                    object,
                    loc,
                };
                match self.current.as_mut() {
                    Some(s) => s.entries.push(entry),
                    None => sources.unread(loc, "setting outside of any [section]"),
                }
            } else {
                sources.unread(loc, format!("cannot read line `{}`", shorten(line)));
            }
        }
        if depth > 0 {
            let last = u32::try_from(text.lines().count().max(1)).unwrap_or(u32::MAX);
            sources.unread(Loc::line(id, last), "block comment `;--` is not closed");
        }
        self.stack.pop();
    }

    fn directive(&mut self, sources: &mut Sources<'_>, loc: Loc, rest: &str, conf: &mut Conf) {
        let (word, arg) = match rest.find(|c: char| c.is_whitespace() || c == '"' || c == '<') {
            Some(i) => (rest.get(..i).unwrap_or(""), rest.get(i..).unwrap_or("")),
            None => (rest, ""),
        };
        let target = arg
            .trim()
            .trim_matches(|c| c == '"' || c == '<' || c == '>')
            .trim();
        let required = match word.to_ascii_lowercase().as_str() {
            "include" => true,
            "tryinclude" => false,
            "exec" | "tryexec" => {
                sources.unread(
                    loc,
                    format!("`#{word}` runs a program; its output is not audited"),
                );
                return;
            }
            _ => {
                sources.unread(loc, format!("unknown directive `#{word}`"));
                return;
            }
        };
        if target.is_empty() {
            sources.unread(loc, format!("`#{word}` without a file name"));
            return;
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            sources.unread(
                loc,
                format!("includes nested deeper than {MAX_INCLUDE_DEPTH}; `{target}` not followed"),
            );
            return;
        }
        for id in sources.include(loc, target, required) {
            if self.stack.contains(&id) {
                sources.unread(
                    loc,
                    format!("`{target}` includes itself; not followed again"),
                );
                continue;
            }
            self.file(sources, id, conf);
        }
    }

    fn header(&mut self, sources: &mut Sources<'_>, loc: Loc, line: &str, conf: &mut Conf) {
        let Some(close) = line.find(']') else {
            sources.unread(
                loc,
                format!("section header without `]`: `{}`", shorten(line)),
            );
            return;
        };
        let name = line.get(1..close).unwrap_or("").trim().to_owned();
        let after = line.get(close + 1..).unwrap_or("").trim();
        let mut template = false;
        let mut append = false;
        let mut inherits = Vec::new();
        if let Some(opts) = after.strip_prefix('(') {
            let opts = opts.split(')').next().unwrap_or("");
            for opt in opts.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                match opt {
                    "!" => template = true,
                    "+" => append = true,
                    t => inherits.push(t.to_owned()),
                }
            }
        } else if !after.is_empty() {
            sources.unread(
                loc,
                format!("text after section header ignored: `{}`", shorten(after)),
            );
        }
        if let Some(s) = self.current.take() {
            conf.sections.push(s);
        }
        if append && let Some(pos) = conf.sections.iter().rposition(|s| s.name == name) {
            let mut earlier = conf.sections.remove(pos);
            earlier.inherits.extend(inherits);
            self.current = Some(earlier);
            return;
        }
        self.current = Some(Section {
            name,
            loc,
            template,
            inherits,
            entries: Vec::new(),
        });
    }
}

/// Removes `;` comments (honouring `\;`) and `;-- --;` block comments, updating the block depth.
fn strip_comments(raw: &str, depth: &mut usize) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    loop {
        if *depth > 0 {
            match (rest.find("--;"), rest.find(";--")) {
                (Some(end), Some(start)) if start < end => {
                    *depth += 1;
                    rest = rest.get(start + 3..).unwrap_or("");
                }
                (Some(end), _) => {
                    *depth -= 1;
                    rest = rest.get(end + 3..).unwrap_or("");
                }
                (None, Some(start)) => {
                    *depth += 1;
                    rest = rest.get(start + 3..).unwrap_or("");
                }
                (None, None) => return out,
            }
            continue;
        }
        // Outside a block: find the first unescaped `;`.
        let bytes = rest.as_bytes();
        let mut i = 0;
        let mut cut = None;
        while let Some(&b) = bytes.get(i) {
            if b == b'\\' && bytes.get(i + 1) == Some(&b';') {
                i += 2;
                continue;
            }
            if b == b';' {
                cut = Some(i);
                break;
            }
            i += 1;
        }
        match cut {
            None => {
                out.push_str(&rest.replace("\\;", ";"));
                return out;
            }
            Some(c) => {
                out.push_str(&rest.get(..c).unwrap_or("").replace("\\;", ";"));
                let tail = rest.get(c..).unwrap_or("");
                if tail.starts_with(";--") {
                    *depth += 1;
                    rest = tail.get(3..).unwrap_or("");
                } else {
                    return out;
                }
            }
        }
    }
}

/// A line cut to a readable length for messages.
pub(crate) fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if s.chars().count() > 60 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceFile;
    use crate::sources::NoIncludes;

    fn parse(text: &str) -> (Conf, Vec<crate::Unread>) {
        let mut r = NoIncludes;
        let mut s = Sources::new(&mut r);
        let id = s.add(SourceFile::new("t.conf", text));
        let c = read(&mut s, id);
        let (_, _, unread) = s.into_parts();
        (c, unread)
    }

    #[test]
    fn sections_templates_and_object_lines_keep_their_lines() {
        let (c, u) = parse(
            "; comment\n[general]\nallowguest = no ; trailing\n\n[phones](!)\ntype=friend\n\
             [101](phones)\nsecret=abc\\;def\n[ctx]\nexten => _X.,1,Dial(SIP/${EXTEN})\n",
        );
        assert!(u.is_empty(), "{u:?}");
        assert_eq!(c.sections.len(), 4);
        let g = &c.sections[0];
        assert_eq!((g.name.as_str(), g.loc.line), ("general", 2));
        assert_eq!(
            g.own("allowguest").map(|e| (e.value.as_str(), e.loc.line)),
            Some(("no", 3))
        );
        assert!(c.sections[1].template);
        let p = &c.sections[2];
        assert_eq!(p.inherits, vec!["phones".to_owned()]);
        let eff = c.effective(p);
        assert_eq!(last(&eff, "type").map(|e| e.loc.line), Some(6));
        assert_eq!(
            last(&eff, "secret").map(|e| e.value.as_str()),
            Some("abc;def")
        );
        let x = &c.sections[3].entries[0];
        assert!(x.object);
        assert_eq!(
            (x.key.as_str(), x.value.as_str(), x.loc.line),
            ("exten", "_X.,1,Dial(SIP/${EXTEN})", 10)
        );
    }

    #[test]
    fn block_comments_nest_and_span_lines() {
        let (c, u) = parse("[a]\nx=1 ;-- start\ny=2\n;-- inner --; still\n--; z=3\nw=4\n");
        assert!(u.is_empty(), "{u:?}");
        let keys: Vec<_> = c.sections[0]
            .entries
            .iter()
            .map(|e| (e.key.as_str(), e.loc.line))
            .collect();
        assert_eq!(keys, vec![("x", 2), ("z", 5), ("w", 6)]);
    }

    #[test]
    fn unreadable_lines_are_reported_not_fatal() {
        let (c, u) = parse(
            "orphan=1\n[a\n[b]\njunk line\nk=v\n#include \"missing.conf\"\n#tryinclude \"gone.conf\"\n",
        );
        assert_eq!(c.sections.len(), 1);
        let lines: Vec<u32> = u.iter().map(|x| x.loc.line).collect();
        assert_eq!(lines, vec![1, 2, 4, 6]);
    }

    #[test]
    fn includes_continue_the_current_section_with_their_own_lines() {
        let mut r = |_: &str, t: &str| {
            if t == "custom.conf" {
                vec![SourceFile::new(
                    "custom.conf",
                    "secret=1234\n[102]\nsecret=x\n",
                )]
            } else {
                Vec::new()
            }
        };
        let mut s = Sources::new(&mut r);
        let id = s.add(SourceFile::new(
            "sip.conf",
            "[101]\ntype=friend\n#include \"custom.conf\"\nhost=dynamic\n",
        ));
        let c = read(&mut s, id);
        assert_eq!(c.files.len(), 2);
        let s101 = &c.sections[0];
        let sec = s101.own("secret").map(|e| (e.loc.file.index(), e.loc.line));
        assert_eq!(sec, Some((1, 1)));
        // host=dynamic after the include belongs to [102], as in Asterisk.
        assert_eq!(c.sections[1].own("host").map(|e| e.loc.line), Some(4));
    }
}
