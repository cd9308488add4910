//! Reader for `kamailio.cfg`: evaluates the preprocessor (`#!define`, `#!trydef`, `#!redefine`, `#!undef`,
//! `#!ifdef`, `#!ifndef`, `#!else`, `#!endif`, also spelled `!!`) and follows `#!include_file`,
//! `#!import_file`, `include_file` and `import_file`, so the checks see only the lines Kamailio would use.
//!
//! Defines given on the command line (`kamailio -A WITH_AUTH`) cannot be seen in the file; callers pass
//! them in as `predefined`.

use std::collections::HashMap;

use crate::model::{FileId, Loc};
use crate::sources::{MAX_INCLUDE_DEPTH, Sources};

/// A configuration after preprocessing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KamCfg {
    /// Names defined when the file ends, with the `#!define` line (none for command-line defines).
    pub defines: HashMap<String, Option<Loc>>,
    /// `# #!define NAME` lines: a define someone switched off by commenting it out.
    pub commented_defines: HashMap<String, Loc>,
    /// First `#!ifdef NAME` / `#!ifndef NAME` line for each name.
    pub conditionals: HashMap<String, Loc>,
    /// Active code lines (comments removed, trimmed, non-empty) with their place.
    pub lines: Vec<(Loc, String)>,
    /// Every file read: the root first.
    pub files: Vec<FileId>,
}

impl KamCfg {
    /// Whether an active line contains `needle`.
    pub fn uses(&self, needle: &str) -> bool {
        self.lines.iter().any(|(_, l)| l.contains(needle))
    }
}

/// Whether a file looks like a Kamailio (or SER/OpenSIPS-style) routing configuration.
pub(crate) fn sniff(text: &str) -> bool {
    text.lines().take(50).any(|l| {
        let l = l.trim_start();
        l.starts_with("#!KAMAILIO")
            || l.starts_with("#!SER")
            || l.starts_with("#!define")
            || l.starts_with("loadmodule")
    }) || text.contains("request_route")
}

/// Reads `root` and its includes with the given command-line defines.
pub(crate) fn read(sources: &mut Sources<'_>, root: FileId, predefined: &[String]) -> KamCfg {
    let mut cfg = KamCfg::default();
    for d in predefined {
        cfg.defines.insert(d.clone(), None);
    }
    let mut state = State {
        cond: Vec::new(),
        stack: Vec::new(),
        in_block_comment: false,
    };
    state.file(sources, root, &mut cfg);
    cfg
}

struct State {
    /// One entry per open `#!ifdef`: (this branch taken, some enclosing branch is inactive).
    cond: Vec<(bool, bool)>,
    stack: Vec<FileId>,
    in_block_comment: bool,
}

impl State {
    fn active(&self) -> bool {
        self.cond.iter().all(|(taken, _)| *taken)
    }

    fn file(&mut self, sources: &mut Sources<'_>, id: FileId, cfg: &mut KamCfg) {
        if !cfg.files.contains(&id) {
            cfg.files.push(id);
        }
        self.stack.push(id);
        let text = sources.text(id);
        for (n, raw) in text.lines().enumerate() {
            let loc = Loc::line(id, u32::try_from(n + 1).unwrap_or(u32::MAX));
            let t = raw.trim();
            let directive = t.strip_prefix("#!").or_else(|| t.strip_prefix("!!"));
            if let Some(d) = directive {
                self.directive(sources, loc, d, cfg);
                continue;
            }
            if let Some(c) = t.strip_prefix('#') {
                // `# #!define WITH_AUTH`: remember switched-off defines, for the fix location.
                let c = c.trim_start_matches(['#', ' ', '\t']);
                if let Some(name) = c.strip_prefix("!define").map(first_word)
                    && !name.is_empty()
                {
                    cfg.commented_defines.entry(name.to_owned()).or_insert(loc);
                }
                continue;
            }
            let code = self.strip(t);
            if code.is_empty() || !self.active() {
                continue;
            }
            if let Some(rest) = code
                .strip_prefix("include_file")
                .or_else(|| code.strip_prefix("import_file"))
            {
                let required = code.starts_with("include_file");
                self.include(sources, loc, rest, required, cfg);
                continue;
            }
            cfg.lines.push((loc, code));
        }
        self.stack.pop();
    }

    /// Removes `//` and `/* */` comments (outside quotes is not checked: configuration strings rarely
    /// contain them, and a wrong cut only hides text from the checks).
    fn strip(&mut self, line: &str) -> String {
        let mut out = String::new();
        let mut rest = line;
        loop {
            if self.in_block_comment {
                match rest.find("*/") {
                    Some(i) => {
                        self.in_block_comment = false;
                        rest = rest.get(i + 2..).unwrap_or("");
                    }
                    None => break,
                }
            }
            let slash = rest
                .find("//")
                .filter(|&i| i == 0 || rest.as_bytes().get(i - 1) != Some(&b':'));
            let block = rest.find("/*");
            match (slash, block) {
                (Some(s), Some(b)) if b < s => {
                    out.push_str(rest.get(..b).unwrap_or(""));
                    self.in_block_comment = true;
                    rest = rest.get(b + 2..).unwrap_or("");
                }
                (None, Some(b)) => {
                    out.push_str(rest.get(..b).unwrap_or(""));
                    self.in_block_comment = true;
                    rest = rest.get(b + 2..).unwrap_or("");
                }
                (Some(s), _) => {
                    out.push_str(rest.get(..s).unwrap_or(""));
                    break;
                }
                (None, None) => {
                    out.push_str(rest);
                    break;
                }
            }
        }
        out.trim().to_owned()
    }

    fn directive(&mut self, sources: &mut Sources<'_>, loc: Loc, d: &str, cfg: &mut KamCfg) {
        let word = first_word(d);
        let arg = first_word(d.get(word.len()..).unwrap_or("").trim_start());
        match word.to_ascii_lowercase().as_str() {
            "ifdef" | "ifndef" => {
                cfg.conditionals.entry(arg.to_owned()).or_insert(loc);
                let defined = cfg.defines.contains_key(arg);
                let taken = if word.eq_ignore_ascii_case("ifdef") {
                    defined
                } else {
                    !defined
                };
                let outer_inactive = !self.active();
                self.cond.push((taken && !outer_inactive, outer_inactive));
            }
            "else" => match self.cond.last_mut() {
                Some((taken, outer_inactive)) => *taken = !*taken && !*outer_inactive,
                None => sources.unread(loc, "#!else without #!ifdef"),
            },
            "endif" => {
                if self.cond.pop().is_none() {
                    sources.unread(loc, "#!endif without #!ifdef");
                }
            }
            _ if !self.active() => {}
            "define" | "trydef" | "redefine" => {
                if arg.is_empty() {
                    sources.unread(loc, format!("#!{word} without a name"));
                } else {
                    cfg.defines.insert(arg.to_owned(), Some(loc));
                }
            }
            "undef" => {
                cfg.defines.remove(arg);
            }
            "include_file" | "import_file" => {
                let rest = d.get(word.len()..).unwrap_or("");
                self.include(
                    sources,
                    loc,
                    rest,
                    word.eq_ignore_ascii_case("include_file"),
                    cfg,
                );
            }
            "kamailio" | "ser" | "openser" | "all" | "maxcompat" | "subst" | "substdef"
            | "substdefs" => {}
            _ => sources.unread(loc, format!("unknown preprocessor directive `#!{word}`")),
        }
    }

    fn include(
        &mut self,
        sources: &mut Sources<'_>,
        loc: Loc,
        rest: &str,
        required: bool,
        cfg: &mut KamCfg,
    ) {
        let target = rest.trim().trim_matches(|c| c == '"' || c == '\'').trim();
        if target.is_empty() {
            sources.unread(loc, "include without a file name");
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
            self.file(sources, id, cfg);
        }
    }
}

fn first_word(s: &str) -> &str {
    let s = s.trim_start();
    let end = s.find(|c: char| c.is_whitespace()).unwrap_or(s.len());
    s.get(..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceFile;
    use crate::sources::NoIncludes;

    #[test]
    fn ifdef_else_and_commented_defines() {
        let text = "#!KAMAILIO\n#!define WITH_MYSQL\n# #!define WITH_AUTH\n#!ifdef WITH_AUTH\nloadmodule \"auth.so\"\n#!else\nloadmodule \"nothing.so\" // c\n#!endif\n#!ifdef WITH_MYSQL\n#!ifndef WITH_AUTH\nx=1 /* a\n b */ y=2\n#!endif\n#!endif\n";
        let mut r = NoIncludes;
        let mut s = Sources::new(&mut r);
        let id = s.add(SourceFile::new("kamailio.cfg", text));
        let cfg = read(&mut s, id, &[]);
        assert!(cfg.defines.contains_key("WITH_MYSQL"));
        assert!(!cfg.defines.contains_key("WITH_AUTH"));
        assert_eq!(
            cfg.commented_defines.get("WITH_AUTH").map(|l| l.line),
            Some(3)
        );
        assert_eq!(cfg.conditionals.get("WITH_AUTH").map(|l| l.line), Some(4));
        let lines: Vec<(u32, &str)> = cfg
            .lines
            .iter()
            .map(|(l, s)| (l.line, s.as_str()))
            .collect();
        assert_eq!(
            lines,
            vec![(7, "loadmodule \"nothing.so\""), (11, "x=1"), (12, "y=2")]
        );
    }
}
