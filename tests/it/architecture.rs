//! The layering of `src/` stays as documented in docs/architecture.md: the command line on top, then the
//! commands, the domain, and the base; no module below `cli` mentions it, clap's derive macros for argument
//! structs stay in `cli`, and no two top-level modules import each other (directly or through others).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers from the bottom: the base, the domain modules in their order, the commands, the command line. A
/// module may use its own layer (without cycles) and the layers below.
const LAYERS: &[&[&str]] = &[
    &["error", "io", "limits", "rng", "progress", "run_dir"],
    &["graph"],
    &["data"],
    &["config"],
    &["models"],
    &["train"],
    &["cam"],
    &["plot"],
    &["commands"],
    &["cli"],
];

fn layer_of(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|l| l.contains(&module))
        .unwrap_or_else(|| {
            panic!("src/{module} is in no layer: add it to LAYERS and docs/architecture.md")
        })
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The source without `//` comments (doc comments may name any module).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level items a file names through `crate::` paths, `use crate::{a, b::c}` groups included.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let (mut depth, mut start) = (0, 0);
            for (k, ch) in group.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        refs.insert(ident(&group[start..k]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        refs.insert(ident(&group[start..k]));
                        start = k + 1;
                    }
                    _ => {}
                }
            }
        } else {
            refs.insert(ident(rest));
        }
    }
    refs
}

/// Each top-level module with the other top-level modules it refers to, and every source file (relative to
/// `src/`) with its text less its `//` comments.
type ModuleGraph = (BTreeMap<String, BTreeSet<String>>, Vec<(PathBuf, String)>);

fn module_graph() -> ModuleGraph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|f| {
            let rel = f.strip_prefix(&src).unwrap();
            let first = rel
                .components()
                .next()?
                .as_os_str()
                .to_string_lossy()
                .into_owned();
            Some(first.trim_end_matches(".rs").to_string())
        })
        .filter(|m| m != "lib" && m != "main")
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut texts = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let c = code(&std::fs::read_to_string(f).unwrap());
        let deps = graph.entry(module.clone()).or_default();
        for r in crate_refs(&c) {
            let target = if r == "Error" || r == "Result" {
                "error".to_string()
            } else {
                r
            };
            if modules.contains(&target) && target != module {
                deps.insert(target);
            }
        }
        texts.push((rel.to_path_buf(), c));
    }
    (graph, texts)
}

#[test]
fn no_module_below_the_command_line_mentions_it_or_defines_arguments() {
    let (_, texts) = module_graph();
    for (path, code) in &texts {
        if path.starts_with("cli") {
            continue;
        }
        assert!(
            !code.contains("crate::cli"),
            "src/{} mentions crate::cli",
            path.display()
        );
        for derive in ["Parser", "Subcommand", "Args"] {
            for form in [format!("clap::{derive}"), format!("derive({derive}")] {
                assert!(
                    !code.contains(&form),
                    "src/{} uses clap's {derive}: argument structs belong in src/cli",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn top_level_modules_form_layers_without_cycles() {
    let (graph, _) = module_graph();
    for (module, deps) in &graph {
        for d in deps {
            assert!(
                layer_of(d) <= layer_of(module),
                "src/{module} uses src/{d}, a layer above it (docs/architecture.md)"
            );
        }
    }
    // Depth-first search for a cycle, reporting its path.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(i) = stack.iter().position(|s| s == m) {
            panic!("import cycle: {} -> {m}", stack[i..].join(" -> "));
        }
        stack.push(m.to_string());
        for d in graph.get(m).into_iter().flatten() {
            visit(d, graph, stack, done);
        }
        stack.pop();
        done.insert(m.to_string());
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn the_reference_parser_sees_grouped_and_nested_imports() {
    let refs = crate_refs(
        "use crate::{cam::core::x, data::{a, b}, Error};\nlet y = crate::plot::jet(1.0);",
    );
    let want: BTreeSet<String> = ["cam", "data", "Error", "plot"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(refs, want);
}
