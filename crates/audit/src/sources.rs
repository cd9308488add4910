//! The file table of one audit run and the include resolver the caller provides.

use std::collections::HashMap;
use std::rc::Rc;

use crate::model::{FileId, Loc, SourceFile, Unread};

/// Finds the files an include directive names. The audit core never opens files itself: the caller
/// decides where `#include sip_custom.conf` or `X-PRE-PROCESS cmd="include"` leads (a directory on disk,
/// an in-memory set, an archive).
pub trait Resolver {
    /// Files named by `target`, as written in an include directive of the file `from` (its path as given
    /// in [`SourceFile::path`]). Globs (`directory/*.xml`) may yield several files; an empty vector means
    /// the target was not found.
    fn resolve(&mut self, from: &str, target: &str) -> Vec<SourceFile>;
}

impl<F: FnMut(&str, &str) -> Vec<SourceFile>> Resolver for F {
    fn resolve(&mut self, from: &str, target: &str) -> Vec<SourceFile> {
        self(from, target)
    }
}

/// A resolver that finds nothing: includes are reported as not followed.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoIncludes;

impl Resolver for NoIncludes {
    fn resolve(&mut self, _from: &str, _target: &str) -> Vec<SourceFile> {
        Vec::new()
    }
}

/// How deep includes may nest before the reader stops following them (Asterisk itself allows 32).
pub(crate) const MAX_INCLUDE_DEPTH: usize = 16;

/// How many files one root may pull in through includes, in total. Depth alone does not bound the work:
/// a file that includes itself twice under different names doubles at every level.
pub(crate) const MAX_INCLUDED_FILES: usize = 2000;

/// The files of one audit run (roots and included ones), with what could not be read.
pub(crate) struct Sources<'r> {
    paths: Vec<String>,
    texts: Vec<Rc<str>>,
    by_path: HashMap<String, FileId>,
    resolver: &'r mut dyn Resolver,
    pub(crate) unread: Vec<Unread>,
    /// Files included since the current root started.
    included: usize,
}

impl<'r> Sources<'r> {
    pub(crate) fn new(resolver: &'r mut dyn Resolver) -> Self {
        Self {
            paths: Vec::new(),
            texts: Vec::new(),
            by_path: HashMap::new(),
            resolver,
            unread: Vec::new(),
            included: 0,
        }
    }

    /// Adds a file (or returns the id of the file already known under that path).
    pub(crate) fn add(&mut self, file: SourceFile) -> FileId {
        if let Some(id) = self.by_path.get(&file.path) {
            return *id;
        }
        let id = FileId(u32::try_from(self.paths.len()).unwrap_or(u32::MAX));
        self.by_path.insert(file.path.clone(), id);
        self.paths.push(file.path);
        self.texts.push(Rc::from(file.text));
        id
    }

    pub(crate) fn text(&self, id: FileId) -> Rc<str> {
        self.texts
            .get(id.index())
            .cloned()
            .unwrap_or_else(|| Rc::from(""))
    }

    pub(crate) fn path(&self, id: FileId) -> &str {
        self.paths.get(id.index()).map_or("", String::as_str)
    }

    pub(crate) fn unread(&mut self, loc: Loc, reason: impl Into<String>) {
        self.unread.push(Unread {
            loc,
            reason: reason.into(),
        });
    }

    /// Starts reading a new root: the include budget starts over.
    pub(crate) fn begin_root(&mut self) {
        self.included = 0;
    }

    /// Resolves an include written at `at`; records it as unread when `required` and nothing is found.
    pub(crate) fn include(&mut self, at: Loc, target: &str, required: bool) -> Vec<FileId> {
        if self.included >= MAX_INCLUDED_FILES {
            self.unread(
                at,
                format!("more than {MAX_INCLUDED_FILES} included files; `{target}` not followed"),
            );
            return Vec::new();
        }
        let from = self.path(at.file).to_owned();
        let found = self.resolver.resolve(&from, target);
        if found.is_empty() && required {
            self.unread(at, format!("included file `{target}` not found"));
        }
        let room = MAX_INCLUDED_FILES - self.included;
        if found.len() > room {
            self.unread(
                at,
                format!(
                    "more than {MAX_INCLUDED_FILES} included files; part of `{target}` not followed"
                ),
            );
        }
        let ids: Vec<FileId> = found.into_iter().take(room).map(|f| self.add(f)).collect();
        self.included += ids.len();
        ids
    }

    pub(crate) fn into_parts(self) -> (Vec<String>, Vec<Rc<str>>, Vec<Unread>) {
        (self.paths, self.texts, self.unread)
    }
}
