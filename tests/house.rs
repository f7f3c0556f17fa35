//! The house rules, read from the source (NOTES.md "Layout (issue 28)"): each layer of
//! `src/` uses only the layers below it, no two sibling modules (or folders) import each
//! other round in a cycle, a handful of top-level modules, and small files and functions.
//! Each failure names the file, the line and the rule; the fix is in the code, not here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// The layers of `src/`, top to bottom: a layer may use only those after it.
const LAYERS: [&str; 7] = [
    "driver", "run", "config", "report", "github", "domain", "base",
];
/// Top-level modules of `src/` besides `lib.rs` and `main.rs`.
const MAX_TOP_LEVEL_MODULES: usize = 8;
const MAX_FILE_LINES: usize = 600;
const MAX_FAKE_FILE_LINES: usize = 800;
/// From the `fn` line to the closing brace.
const MAX_FUNCTION_LINES: usize = 80;
/// Not counting `self`: more is a named struct.
const MAX_PARAMETERS: usize = 5;

/// Known violations in `src/`, each (file, rule, item): none now. An entry is a debt with a
/// reason beside it, for a branch that lands in steps; an entry that no longer matches is
/// only printed, not failed, so that branches can land in any order.
const ALLOWED_IN_SRC: &[Allowed] = &[];

/// Known violations in `crates/fake-github`, as [`ALLOWED_IN_SRC`]: none now.
const ALLOWED_IN_FAKE: &[Allowed] = &[];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rule {
    LayerOrder,
    Cycle,
    TopLevelModules,
    FileLines,
    FunctionLines,
    Parameters,
}

/// A known violation: `item` is the function's name, or empty for the file's own rules.
#[derive(Debug)]
struct Allowed {
    file: &'static str,
    rule: Rule,
    item: &'static str,
}

impl Allowed {
    const fn new(file: &'static str, rule: Rule, item: &'static str) -> Self {
        Self { file, rule, item }
    }
}

/// One broken rule, with the message that names the offender.
#[derive(Debug)]
struct Violation {
    file: String,
    rule: Rule,
    item: String,
    message: String,
}

impl Violation {
    fn is_allowed_by(&self, allowed: &Allowed) -> bool {
        self.file == allowed.file && self.rule == allowed.rule && self.item == allowed.item
    }
}

/// Fails with every violation not in `allowed`, one line each; prints the entries of
/// `allowed` that matched nothing.
#[track_caller]
fn assert_none(violations: Vec<Violation>, allowed: &[Allowed]) {
    for entry in allowed {
        if !violations.iter().any(|v| v.is_allowed_by(entry)) {
            eprintln!("house: the allow-list entry {entry:?} matches nothing now: remove it");
        }
    }
    let left: Vec<String> = violations
        .into_iter()
        .filter(|v| !allowed.iter().any(|entry| v.is_allowed_by(entry)))
        .map(|v| v.message)
        .collect();
    assert!(
        left.is_empty(),
        "{} house rule(s) broken:\n{}",
        left.len(),
        left.join("\n")
    );
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `.rs` files under `folder`, sorted, as paths relative to the repository.
fn rust_files(folder: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![root().join(folder)];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder)
            .unwrap_or_else(|error| panic!("failed to read `{}`: {error}", folder.display()));
        for entry in entries {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                found.push(
                    path.strip_prefix(root())
                        .expect("under the root")
                        .to_owned(),
                );
            }
        }
    }
    found.sort();
    found
}

fn shown(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

fn parse(path: &Path) -> (String, syn::File) {
    let text = std::fs::read_to_string(root().join(path))
        .unwrap_or_else(|error| panic!("failed to read `{}`: {error}", path.display()));
    let file = syn::parse_file(&text)
        .unwrap_or_else(|error| panic!("failed to parse `{}`: {error}", path.display()));
    (text, file)
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && attr
                .parse_args::<syn::Ident>()
                .is_ok_and(|ident| ident == "test")
    })
}

// --- sizes ----------------------------------------------------------------------------

/// Each function's name, first line, length in lines and parameters but `self`.
struct Functions(Vec<(String, usize, usize, usize)>);

impl Functions {
    fn add(&mut self, sig: &syn::Signature, block: &syn::Block) {
        let first = sig.fn_token.span.start().line;
        let last = block.brace_token.span.close().end().line;
        let parameters = sig
            .inputs
            .iter()
            .filter(|input| matches!(input, syn::FnArg::Typed(_)))
            .count();
        self.0
            .push((sig.ident.to_string(), first, last + 1 - first, parameters));
    }
}

impl<'ast> Visit<'ast> for Functions {
    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        self.add(&item.sig, &item.block);
        syn::visit::visit_item_fn(self, item);
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        self.add(&item.sig, &item.block);
        syn::visit::visit_impl_item_fn(self, item);
    }

    fn visit_trait_item_fn(&mut self, item: &'ast syn::TraitItemFn) {
        if let Some(block) = &item.default {
            self.add(&item.sig, block);
        }
        syn::visit::visit_trait_item_fn(self, item);
    }
}

/// The size rules for every file under `folders`: at most `max_lines` lines a file, at most
/// [`MAX_FUNCTION_LINES`] lines and [`MAX_PARAMETERS`] parameters a function.
fn size_violations(folders: &[&str], max_lines: usize) -> Vec<Violation> {
    let mut violations = Vec::new();
    for path in folders
        .iter()
        .flat_map(|folder| rust_files(Path::new(folder)))
    {
        let (text, file) = parse(&path);
        let file_name = shown(&path);
        let lines = text.lines().count();
        if lines > max_lines {
            violations.push(Violation {
                file: file_name.clone(),
                rule: Rule::FileLines,
                item: String::new(),
                message: format!(
                    "{file_name}: {lines} lines, more than {max_lines}: split it into rooms"
                ),
            });
        }
        let mut functions = Functions(Vec::new());
        functions.visit_file(&file);
        for (name, line, length, parameters) in functions.0 {
            if length > MAX_FUNCTION_LINES {
                violations.push(Violation {
                    file: file_name.clone(),
                    rule: Rule::FunctionLines,
                    item: name.clone(),
                    message: format!(
                        "{file_name}:{line}: fn `{name}` is {length} lines, more than {MAX_FUNCTION_LINES}"
                    ),
                });
            }
            if parameters > MAX_PARAMETERS {
                violations.push(Violation {
                    file: file_name.clone(),
                    rule: Rule::Parameters,
                    item: name.clone(),
                    message: format!(
                        "{file_name}:{line}: fn `{name}` takes {parameters} parameters besides `self`, more than {MAX_PARAMETERS}: use a named struct"
                    ),
                });
            }
        }
    }
    violations
}

// --- arrows ---------------------------------------------------------------------------

/// A module of `src/` as its path from the crate root (`github::client::retry`), from its
/// file (`src/github/client/retry.rs`, `src/github/client/mod.rs` is `github::client`).
fn module_of(path: &Path) -> Vec<String> {
    let relative = path.strip_prefix("src").expect("under src/");
    let mut parts: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    parts
}

/// Every path a file names, with its line: `use` trees spelled out, paths in types and
/// expressions, and `crate::…` inside macro calls; items and modules under `#[cfg(test)]`
/// left out. Comments are not tokens, so they never count.
#[derive(Default)]
struct Paths {
    found: Vec<(Vec<String>, usize)>,
    /// `#[cfg(test)] mod name;`: files that are tests, not part of the build.
    test_modules: Vec<String>,
}

impl Paths {
    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                self.use_tree(prefix, &path.tree);
                prefix.pop();
            }
            syn::UseTree::Name(name) => self.push_use(prefix, &name.ident),
            syn::UseTree::Rename(rename) => self.push_use(prefix, &rename.ident),
            syn::UseTree::Glob(glob) => {
                let line = glob.star_token.spans[0].start().line;
                self.found.push((prefix.clone(), line));
            }
            syn::UseTree::Group(group) => {
                for tree in &group.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }

    fn push_use(&mut self, prefix: &[String], ident: &syn::Ident) {
        let mut path = prefix.to_vec();
        if ident != "self" {
            path.push(ident.to_string());
        }
        self.found.push((path, ident.span().start().line));
    }

    /// `crate :: a :: b` in a macro's tokens (`format!`, `matches!`, …).
    fn macro_tokens(&mut self, tokens: proc_macro2::TokenStream) {
        let tokens: Vec<proc_macro2::TokenTree> = tokens.into_iter().collect();
        for (at, token) in tokens.iter().enumerate() {
            match token {
                proc_macro2::TokenTree::Group(group) => self.macro_tokens(group.stream()),
                proc_macro2::TokenTree::Ident(ident) if ident == "crate" => {
                    let mut path = vec!["crate".to_owned()];
                    let mut next = at + 1;
                    while let (
                        Some(proc_macro2::TokenTree::Punct(first)),
                        Some(proc_macro2::TokenTree::Punct(second)),
                        Some(proc_macro2::TokenTree::Ident(segment)),
                    ) = (tokens.get(next), tokens.get(next + 1), tokens.get(next + 2))
                    {
                        if first.as_char() != ':' || second.as_char() != ':' {
                            break;
                        }
                        path.push(segment.to_string());
                        next += 3;
                    }
                    self.found.push((path, ident.span().start().line));
                }
                _ => {}
            }
        }
    }
}

impl<'ast> Visit<'ast> for Paths {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs = match item {
            syn::Item::Const(item) => &item.attrs,
            syn::Item::Enum(item) => &item.attrs,
            syn::Item::Fn(item) => &item.attrs,
            syn::Item::Impl(item) => &item.attrs,
            syn::Item::Macro(item) => &item.attrs,
            syn::Item::Mod(item) => &item.attrs,
            syn::Item::Static(item) => &item.attrs,
            syn::Item::Struct(item) => &item.attrs,
            syn::Item::Trait(item) => &item.attrs,
            syn::Item::Type(item) => &item.attrs,
            syn::Item::Use(item) => &item.attrs,
            _ => return syn::visit::visit_item(self, item),
        };
        if !is_cfg_test(attrs) {
            return syn::visit::visit_item(self, item);
        }
        if let syn::Item::Mod(module) = item
            && module.content.is_none()
        {
            self.test_modules.push(module.ident.to_string());
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &item.tree);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if let Some(first) = path.segments.first() {
            let segments = path
                .segments
                .iter()
                .map(|segment| segment.ident.to_string())
                .collect();
            self.found.push((segments, first.ident.span().start().line));
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.macro_tokens(mac.tokens.clone());
        syn::visit::visit_macro(self, mac);
    }
}

/// One file of `src/` as the arrows see it.
struct SourceFile {
    path: String,
    module: Vec<String>,
    /// Each path it names, resolved from the crate root, with its line.
    uses: Vec<(Vec<String>, usize)>,
}

/// The files of `src/` that are part of the build (not `#[cfg(test)] mod x;` files), each
/// with the paths it names, made absolute (`crate::`, `super::`, `self::`).
fn source_files() -> Vec<SourceFile> {
    let mut files = Vec::new();
    let mut test_files = BTreeSet::new();
    for path in rust_files(Path::new("src")) {
        let name = shown(&path);
        if name == "src/main.rs" || name == "src/lib.rs" {
            continue;
        }
        let (_, file) = parse(&path);
        let mut paths = Paths::default();
        paths.visit_file(&file);
        let module = module_of(&path);
        for test in &paths.test_modules {
            let mut child = module.clone();
            child.push(test.clone());
            test_files.insert(child);
        }
        let uses = paths
            .found
            .into_iter()
            .filter_map(|(path, line)| Some((absolute(&module, &name, &path)?, line)))
            .collect();
        files.push(SourceFile {
            path: name,
            module,
            uses,
        });
    }
    files.retain(|file| !test_files.iter().any(|test| file.module.starts_with(test)));
    files
}

/// `path` from the crate root, as named in module `module` (whose file is `file`): `None`
/// for paths that do not start at `crate`, `super` or `self` (a local name, std, a crate).
fn absolute(module: &[String], file: &str, path: &[String]) -> Option<Vec<String>> {
    let first = path.first()?;
    let mut base: Vec<String> = match first.as_str() {
        "crate" => Vec::new(),
        "self" => module.to_vec(),
        "super" => {
            let mut base = module.to_vec();
            base.pop();
            base
        }
        _ => return None,
    };
    let mut rest = &path[1..];
    while rest.first().is_some_and(|segment| segment == "super") {
        assert!(base.pop().is_some(), "{file}: `super` above the crate root");
        rest = &rest[1..];
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

fn layer_rank(name: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| *layer == name)
}

#[test]
fn layers_only_call_down() {
    let mut violations = Vec::new();
    for file in source_files() {
        let own = &file.module[0];
        let Some(own_rank) = layer_rank(own) else {
            violations.push(Violation {
                file: file.path.clone(),
                rule: Rule::LayerOrder,
                item: String::new(),
                message: format!(
                    "{}: `{own}` is in no layer of NOTES.md's table ({})",
                    file.path,
                    LAYERS.join(" → ")
                ),
            });
            continue;
        };
        for (used, line) in &file.uses {
            let Some(target) = used.first() else { continue };
            if let Some(rank) = layer_rank(target)
                && rank < own_rank
            {
                violations.push(Violation {
                    file: file.path.clone(),
                    rule: Rule::LayerOrder,
                    item: used.join("::"),
                    message: format!(
                        "{}:{line}: `crate::{}` is an arrow up: `{own}` is below `{target}` (layers top to bottom: {})",
                        file.path,
                        used.join("::"),
                        LAYERS.join(" → ")
                    ),
                });
            }
        }
    }
    assert_none(violations, &[]);
}

/// The longest prefix of `path` that is a module of `modules`.
fn module_named<'a>(modules: &'a BTreeSet<Vec<String>>, path: &[String]) -> Option<&'a [String]> {
    (1..=path.len())
        .rev()
        .find_map(|length| modules.get(&path[..length]).map(Vec::as_slice))
}

/// A cycle in `graph`, as its nodes in order, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|seen| seen == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_import_cycle_between_siblings() {
    let files = source_files();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|file| file.module.clone()).collect();
    // For each folder, the arrows between its children: a file's use of another module
    // is an arrow between the two children of their nearest common folder.
    let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut witness: BTreeMap<(Vec<String>, String, String), String> = BTreeMap::new();
    for file in &files {
        for (used, line) in &file.uses {
            let Some(target) = module_named(&modules, used) else {
                continue;
            };
            let common = file
                .module
                .iter()
                .zip(target)
                .take_while(|(a, b)| a == b)
                .count();
            let (Some(from), Some(to)) = (file.module.get(common), target.get(common)) else {
                continue; // a module and its own ancestor
            };
            let folder = file.module[..common].to_vec();
            graphs
                .entry(folder.clone())
                .or_default()
                .entry(from.clone())
                .or_default()
                .insert(to.clone());
            witness
                .entry((folder, from.clone(), to.clone()))
                .or_insert_with(|| {
                    format!("{}:{line} uses `crate::{}`", file.path, target.join("::"))
                });
        }
    }
    let mut violations = Vec::new();
    for (folder, graph) in &graphs {
        if let Some(cycle) = find_cycle(graph) {
            let shown_folder = if folder.is_empty() {
                "src".to_owned()
            } else {
                format!("src/{}", folder.join("/"))
            };
            let because: Vec<String> = cycle
                .windows(2)
                .map(|pair| witness[&(folder.clone(), pair[0].clone(), pair[1].clone())].clone())
                .collect();
            violations.push(Violation {
                file: shown_folder.clone(),
                rule: Rule::Cycle,
                item: cycle.join(" → "),
                message: format!(
                    "{shown_folder}: import cycle {} ({})",
                    cycle.join(" → "),
                    because.join("; ")
                ),
            });
        }
    }
    assert_none(violations, &[]);
}

#[test]
fn a_handful_of_top_level_modules() {
    let mut modules: Vec<String> = std::fs::read_dir(root().join("src"))
        .expect("src/ is readable")
        .map(|entry| {
            entry
                .expect("a folder entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name != "lib.rs" && name != "main.rs")
        .map(|name| name.trim_end_matches(".rs").to_owned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    modules.sort();
    let violations = if modules.len() > MAX_TOP_LEVEL_MODULES {
        vec![Violation {
            file: "src".to_owned(),
            rule: Rule::TopLevelModules,
            item: String::new(),
            message: format!(
                "src/ has {} top-level modules besides lib.rs and main.rs, more than {MAX_TOP_LEVEL_MODULES}: {}",
                modules.len(),
                modules.join(", ")
            ),
        }]
    } else {
        Vec::new()
    };
    assert_none(violations, &[]);
}

#[test]
fn small_files_and_functions_in_src() {
    assert_none(size_violations(&["src"], MAX_FILE_LINES), ALLOWED_IN_SRC);
}

#[test]
fn small_files_and_functions_in_the_fake() {
    assert_none(
        size_violations(
            &["crates/fake-github/src", "crates/fake-github/tests"],
            MAX_FAKE_FILE_LINES,
        ),
        ALLOWED_IN_FAKE,
    );
}

/// The checks above catch what they are written to catch.
#[test]
fn the_checks_see_what_they_look_for() {
    let module = vec!["github".to_owned(), "client".to_owned(), "retry".to_owned()];
    let path = |text: &str| text.split("::").map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        absolute(&module, "x", &path("super::error::X")),
        Some(path("github::client::error::X"))
    );
    assert_eq!(
        absolute(&module, "x", &path("crate::report::HookError")),
        Some(path("report::HookError"))
    );
    assert_eq!(absolute(&module, "x", &path("std::fmt")), None);

    let source = r#"
        // use crate::driver::Nothing;
        use crate::report::{self, HookError};
        fn f(a: u8, b: u8, c: u8, d: u8, e: u8, g: u8) { let _ = format!("{}", crate::run::X); }
        #[cfg(test)]
        mod tests { use crate::driver::Something; }
        #[cfg(test)]
        mod more;
    "#;
    let file = syn::parse_file(source).expect("parses");
    let mut paths = Paths::default();
    paths.visit_file(&file);
    let named: Vec<String> = paths
        .found
        .iter()
        .map(|(path, _)| path.join("::"))
        .collect();
    assert!(named.contains(&"crate::report".to_owned()), "{named:?}");
    assert!(
        named.contains(&"crate::report::HookError".to_owned()),
        "{named:?}"
    );
    assert!(named.contains(&"crate::run::X".to_owned()), "{named:?}");
    assert!(
        !named.iter().any(|path| path.contains("driver")),
        "{named:?}"
    );
    assert_eq!(paths.test_modules, ["more"]);

    let mut functions = Functions(Vec::new());
    functions.visit_file(&file);
    assert_eq!(functions.0, [("f".to_owned(), 4, 1, 6)]);

    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]
    .into();
    assert_eq!(find_cycle(&graph), Some(path("a::b::a")));
}

/// An allow-list entry lets through its own (file, rule, item) and nothing else: the lists
/// are empty now, and the mechanism stays for a branch that must land a debt in steps.
#[test]
fn an_allow_list_entry_lets_through_only_itself() {
    let violation = || Violation {
        file: "src/run/x.rs".to_owned(),
        rule: Rule::Parameters,
        item: "save".to_owned(),
        message: "src/run/x.rs:1: `save` takes 6 parameters".to_owned(),
    };
    let entry = Allowed::new("src/run/x.rs", Rule::Parameters, "save");
    assert!(violation().is_allowed_by(&entry));
    for other in [
        Allowed::new("src/run/y.rs", Rule::Parameters, "save"),
        Allowed::new("src/run/x.rs", Rule::FunctionLines, "save"),
        Allowed::new("src/run/x.rs", Rule::Parameters, "load"),
    ] {
        assert!(!violation().is_allowed_by(&other), "{other:?}");
    }
    assert_none(vec![violation()], &[entry]);
}
